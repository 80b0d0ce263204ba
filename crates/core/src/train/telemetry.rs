//! `FitConfig::telemetry`: per-layer gradient health measured on the device during `fit`.
//!
//! Every step adds, in one dispatch, each parameter's squared gradient norm (scaled by
//! 1 / the epoch's batches, so the epoch's sum is the mean) and, one dispatch per ReLU,
//! sigmoid or tanh layer, each unit's count of alive or saturated rows. Before the epoch's
//! first step the parameters are copied once, so after it one dispatch measures `‖Δw‖²`;
//! at the epoch's end one measures `‖w‖²` and one the kept copy's. The sums live in one
//! buffer of their own, read back once at the epoch's end: no host round trip during the
//! epoch.

use super::health::{EpochHealth, LayerHealth};
use crate::backend::telemetry_ops::UnitProbe;
use crate::backend::Storage;
use crate::error::Result;
use crate::nn::{Activation, Sequential};
use crate::optim::{Optimizer, SegmentRow, SegmentTable, SEGMENT_ALIGN};
use crate::tensor::Tensor;

/// One reported layer: where its figures lie in the sums.
struct Watched {
    index: usize,
    describe: String,
    /// Indices of its parameters' segments in the table (empty: no parameters).
    segments: Vec<usize>,
    /// The probe of its activation, where its units' offset and width in the sums.
    units: Option<(UnitProbe, usize, usize)>,
}

/// The telemetry of one `fit` call.
pub(super) struct Telemetry {
    layers: Vec<Watched>,
    /// Every parameter of the optimizer's set (`None` when it has none).
    table: Option<SegmentTable>,
    /// Offsets in `sums` of the four per-segment regions (gradient, update, weight at the
    /// end, weight before the update).
    grad_at: usize,
    update_at: usize,
    weight_at: usize,
    before_at: usize,
    sums: Storage,
    /// The parameters before the epoch's first step.
    previous: Storage,
    /// Per epoch: the scales of a step's gradient and a row's counts, the steps and rows
    /// seen, and whether the last step's update was measured.
    step_scale: f32,
    row_scale: f32,
    steps: usize,
    rows: usize,
    update_measured: bool,
}

fn probe_of(activation: Option<Activation>) -> Option<UnitProbe> {
    match activation? {
        Activation::Relu => Some(UnitProbe::Positive),
        Activation::Sigmoid => Some(UnitProbe::SigmoidSaturated),
        Activation::Tanh => Some(UnitProbe::TanhSaturated),
        _ => None,
    }
}

/// `[rows, numel / rows]`: a unit is a column (for a conv output, a channel at a position).
fn as_units(y: &Tensor) -> (usize, usize) {
    let rows = y.dims().first().copied().unwrap_or(1);
    (rows, y.numel().checked_div(rows).unwrap_or(0))
}

fn aligned(len: usize) -> usize {
    len.max(1).div_ceil(SEGMENT_ALIGN) * SEGMENT_ALIGN
}

impl Telemetry {
    /// Plans the sums for `model` trained by `opt`. The width of each activation comes from
    /// one forward pass over `sample` (a row of the data) in evaluation mode, which changes
    /// no state.
    pub fn new(model: &Sequential, opt: &Optimizer, sample: &Tensor) -> Result<Telemetry> {
        let device = model.device();
        let backend = device.backend();
        let set = opt.param_set();
        let rows = set
            .params()
            .iter()
            .zip(set.segments())
            .map(|(p, seg)| SegmentRow::of(seg.offset, &[seg.len]).map(|r| (p.id(), r)))
            .collect::<Result<Vec<_>>>()?;
        let probes = model.layer_activations().into_iter().map(probe_of);
        let mut widths = vec![None; model.layers()?.len()];
        let training = model.set_training(false);
        let observed = model.forward_observed(sample, |i, y| {
            widths[i] = Some(as_units(y).1);
            Ok(())
        });
        model.set_training(training);
        observed?;

        let nseg = rows.len();
        let mut offset = 4 * aligned(nseg);
        let mut layers = Vec::new();
        for ((i, layer), probe) in model.layers()?.iter().enumerate().zip(probes) {
            let ids: Vec<_> = layer.parameters().iter().map(Tensor::id).collect();
            let segments: Vec<usize> = (0..nseg).filter(|&s| ids.contains(&rows[s].0)).collect();
            let units = match (probe, widths[i]) {
                (Some(p), Some(w)) if w > 0 => {
                    let at = offset;
                    offset += aligned(w);
                    Some((p, at, w))
                }
                _ => None,
            };
            if !segments.is_empty() || units.is_some() {
                layers.push(Watched {
                    index: i,
                    describe: layer.describe(),
                    segments,
                    units,
                });
            }
        }
        let table = match nseg {
            0 => None,
            _ => Some(SegmentTable::new(
                backend,
                rows.into_iter().map(|(_, r)| r).collect(),
            )?),
        };
        Ok(Telemetry {
            layers,
            table,
            grad_at: 0,
            update_at: aligned(nseg),
            weight_at: 2 * aligned(nseg),
            before_at: 3 * aligned(nseg),
            sums: backend.full(offset, 0.0)?,
            previous: backend.full(set.flat_len().max(1), 0.0)?,
            step_scale: 0.0,
            row_scale: 0.0,
            steps: 0,
            rows: 0,
            update_measured: false,
        })
    }

    /// Zeroes the sums for an epoch of `batches` steps over `rows` rows.
    pub fn begin_epoch(&mut self, opt: &Optimizer, batches: usize, rows: usize) -> Result<()> {
        opt.param_set().device().backend().fill(&self.sums, 0.0)?;
        self.step_scale = 1.0 / batches.max(1) as f32;
        self.row_scale = 1.0 / rows.max(1) as f32;
        (self.steps, self.rows, self.update_measured) = (0, 0, false);
        Ok(())
    }

    /// The forward pass, counting the units of every watched activation.
    pub fn forward(&mut self, model: &Sequential, x: &Tensor) -> Result<Tensor> {
        let backend = model.device().backend();
        let scale = self.row_scale;
        let (layers, sums) = (&self.layers, &self.sums);
        let mut next = 0;
        let y = model.forward_observed(x, |i, y| {
            while next < layers.len() && layers[next].index < i {
                next += 1;
            }
            let Some((probe, at, width)) = layers
                .get(next)
                .filter(|l| l.index == i)
                .and_then(|l| l.units)
            else {
                return Ok(());
            };
            let (rows, cols) = as_units(y);
            if cols != width {
                return Ok(()); // a layer whose width depends on the input: not counted
            }
            let acc = sums.slice(at, width)?;
            backend.accumulate_column_counts(probe, &y.storage(), (rows, cols), &acc, scale)
        })?;
        self.rows += x.dims().first().copied().unwrap_or(0);
        Ok(y)
    }

    /// Before a step: on the epoch's first one, keeps the parameters to measure its update.
    pub fn before_step(&mut self, opt: &Optimizer) -> Result<()> {
        if self.steps == 0 && self.table.is_some() {
            let set = opt.param_set();
            set.device().backend().copy(set.flat(), &self.previous)?;
        }
        Ok(())
    }

    /// After a step: adds its gradients' squared norms and, after the epoch's first step,
    /// its update's (the parameters minus those kept before it).
    pub fn after_step(&mut self, opt: &Optimizer) -> Result<()> {
        let first = self.steps == 0;
        self.steps += 1;
        let Some(table) = &self.table else {
            return Ok(());
        };
        let set = opt.param_set();
        let backend = set.device().backend();
        let region = |at: usize| self.sums.slice(at, table.rows.len());
        let grads = opt.flat_gradients();
        let scale = self.step_scale;
        backend.accumulate_segment_squares(grads, None, table, &region(self.grad_at)?, scale)?;
        if first {
            let (p, before) = (set.flat(), Some(&self.previous));
            backend.accumulate_segment_squares(p, before, table, &region(self.update_at)?, 1.0)?;
            self.update_measured = true;
        }
        Ok(())
    }

    /// Measures the parameters' norms and reads the sums back (the one read-back) as the
    /// epoch's health.
    pub fn finish(&self, opt: &Optimizer, epoch: usize) -> Result<EpochHealth> {
        let set = opt.param_set();
        let backend = set.device().backend();
        if let Some(table) = &self.table {
            let region = |at: usize| self.sums.slice(at, table.rows.len());
            let weights = region(self.weight_at)?;
            backend.accumulate_segment_squares(set.flat(), None, table, &weights, 1.0)?;
            if self.update_measured {
                let before = region(self.before_at)?;
                backend.accumulate_segment_squares(&self.previous, None, table, &before, 1.0)?;
            }
        }
        let sums = backend.download(&self.sums)?;
        // Fewer steps or rows than planned (a stop within the epoch): means of those seen.
        let planned_steps = (1.0 / self.step_scale as f64).round();
        let step_fix = planned_steps / self.steps.max(1) as f64;
        let row_fix = (1.0 / self.row_scale as f64) / self.rows.max(1) as f64;
        let total =
            |at: usize, segs: &[usize]| -> f64 { segs.iter().map(|&s| sums[at + s] as f64).sum() };
        let layers = self
            .layers
            .iter()
            .map(|l| {
                let params = !l.segments.is_empty();
                let weight = total(self.weight_at, &l.segments).sqrt();
                let grad = (total(self.grad_at, &l.segments) * step_fix).sqrt();
                let update = total(self.update_at, &l.segments).sqrt();
                let before = total(self.before_at, &l.segments).sqrt();
                let units = l.units.map(|(probe, at, width)| {
                    let counts = &sums[at..at + width];
                    match probe {
                        UnitProbe::Positive => {
                            counts.iter().filter(|&&c| c == 0.0).count() as f64 / width as f64
                        }
                        _ => counts.iter().map(|&c| c as f64).sum::<f64>() * row_fix / width as f64,
                    }
                });
                let measured = params && self.update_measured && before > 0.0;
                LayerHealth {
                    index: l.index,
                    layer: l.describe.clone(),
                    grad_norm: (params && self.steps > 0).then_some(grad as f32),
                    weight_norm: params.then_some(weight as f32),
                    update_ratio: measured.then_some((update / before) as f32),
                    dead_fraction: l
                        .units
                        .filter(|u| u.0 == UnitProbe::Positive)
                        .and(units.map(|v| v as f32)),
                    saturated_fraction: l
                        .units
                        .filter(|u| u.0 != UnitProbe::Positive)
                        .and(units.map(|v| v as f32)),
                }
            })
            .collect();
        Ok(EpochHealth { epoch, layers })
    }
}
