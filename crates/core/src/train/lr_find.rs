//! `lr_find`: Leslie Smith's learning-rate range test, as fastai's `lr_find` and the
//! `torch-lr-finder` package run it. The rate grows exponentially from `start_lr` to
//! `end_lr`, one mini-batch per step, on a copy of the model's parameters and buffers with
//! a fresh optimizer; the curve, why the sweep stopped and the suggested rates come back in
//! an [`LrFinding`] (see `lr_finding.rs`), and the model is as it was.

use super::accumulators::DeviceData;
use super::lr_finding::{LrFindStop, LrFinding, LrPoint};
use crate::backend::GradClip;
use crate::data::{BatchPlan, Dataset};
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::nn::Sequential;
use crate::optim::{Grouping, Optimizer, OptimizerConfig, ParamGroup};
use crate::tensor::Tensor;

/// How [`Sequential::lr_find`] sweeps; the defaults are fastai's (`start_lr` 1e-7,
/// `end_lr` 10, 100 steps, smoothing 0.98, stop at 4 × the best smoothed loss).
#[derive(Clone, Debug)]
pub struct LrFindConfig {
    /// The rate of the first step (default 1e-7); finite and `> 0`.
    pub start_lr: f64,
    /// The rate of the last step (default 10); finite and `> start_lr`.
    pub end_lr: f64,
    /// Steps (one mini-batch each) from `start_lr` to `end_lr` (default 100); at least 2.
    /// Step `i` of `n` runs at `start_lr · (end_lr / start_lr)^(i / (n − 1))`.
    pub num_steps: usize,
    /// Rows per step (default 32); the data is reshuffled and gone through again when a
    /// sweep needs more batches than one pass holds. Batches smaller than this (the end of
    /// a pass) are skipped unless the data has fewer rows.
    pub batch_size: usize,
    /// The loss is smoothed by an exponential moving average with bias correction
    /// (fastai's): `avg ← β·avg + (1 − β)·loss`, `smoothed = avg / (1 − β^t)` at step `t`
    /// (1-based). Default β = 0.98; in `[0, 1)` (0: no smoothing).
    pub smoothing: f64,
    /// Stop when the smoothed loss exceeds this many times the best smoothed loss so far
    /// (default 4, fastai's); finite and `> 1`. A non-finite loss stops the sweep too.
    pub diverge_factor: f64,
    /// Seed of the batches' shuffle; `None`: the model's initialisation seed.
    pub seed: Option<u64>,
    /// Clip gradients before each step, as `FitConfig::clip` does.
    pub clip: Option<GradClip>,
    /// Parameter groups, as `FitConfig::param_groups`. Every group's rate is scaled by the
    /// same factor: the curve's rate is group 0's, and group `g` runs at that rate times
    /// its configured rate over group 0's ([`Optimizer::set_lr_f64`]).
    pub param_groups: Vec<ParamGroup>,
}

impl Default for LrFindConfig {
    fn default() -> Self {
        LrFindConfig {
            start_lr: 1e-7,
            end_lr: 10.0,
            num_steps: 100,
            batch_size: 32,
            smoothing: 0.98,
            diverge_factor: 4.0,
            seed: None,
            clip: None,
            param_groups: Vec::new(),
        }
    }
}

impl LrFindConfig {
    /// Checks every field's range: a bad value is [`Error::Config`] naming it.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::Config(format!("lr_find: {what}")));
        if !(self.start_lr.is_finite() && self.start_lr > 0.0) {
            return bad(format!("start_lr {} must be finite and > 0", self.start_lr));
        }
        if !self.end_lr.is_finite() || self.end_lr <= self.start_lr {
            return bad(format!(
                "end_lr {} must be finite and > start_lr {}",
                self.end_lr, self.start_lr
            ));
        }
        if self.num_steps < 2 {
            return bad(format!(
                "num_steps {} must be at least 2 (a curve needs two points)",
                self.num_steps
            ));
        }
        if self.batch_size == 0 {
            return bad("batch_size must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.smoothing) {
            return bad(format!("smoothing {} must be in [0, 1)", self.smoothing));
        }
        if !(self.diverge_factor.is_finite() && self.diverge_factor > 1.0) {
            return bad(format!(
                "diverge_factor {} must be finite and > 1",
                self.diverge_factor
            ));
        }
        Ok(())
    }

    /// The rate of step `i` (0-based): `start_lr · (end_lr / start_lr)^(i / (n − 1))`,
    /// exactly `start_lr` at 0 and `end_lr` at `n − 1`.
    pub fn lr_at(&self, i: usize) -> f64 {
        let last = self.num_steps.saturating_sub(1).max(1);
        if i >= last {
            return self.end_lr;
        }
        self.start_lr * (self.end_lr / self.start_lr).powf(i as f64 / last as f64)
    }
}

/// What the sweep changes in the model, to put back bit for bit: where each parameter's
/// values live (the sweep's optimizer copies them into a flat buffer of its own and steps
/// that copy, so the original storage is never written), a copy of every buffer (batch
/// norm's running statistics, updated in place in training mode) and the mode.
struct Snapshot {
    params: Vec<(Tensor, crate::tensor::Binding)>,
    buffers: Vec<(Tensor, Tensor)>,
    training: bool,
}

impl Snapshot {
    fn take(model: &Sequential) -> Result<Snapshot> {
        let params = model
            .parameters()?
            .into_iter()
            .map(|p| {
                let binding = p.binding();
                (p, binding)
            })
            .collect();
        let buffers = model
            .buffers()?
            .into_iter()
            .map(|(_, b)| {
                let copy = b.device().zeros(b.dims())?;
                copy.copy_from(&b)?;
                Ok((b, copy))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Snapshot {
            params,
            buffers,
            training: model.is_training(),
        })
    }

    fn restore(self, model: &Sequential) -> Result<()> {
        for (p, binding) in self.params {
            p.restore_binding(binding);
        }
        model.set_training(self.training);
        for (buffer, copy) in &self.buffers {
            buffer.copy_from(copy)?;
        }
        Ok(())
    }
}

impl Sequential {
    /// The learning-rate range test (Smith 2017, "Cyclical Learning Rates for Training
    /// Neural Networks", §3.3; fastai's `lr_find`): `config.num_steps` steps of
    /// `optimizer`, one mini-batch of `data` each, at rates growing exponentially from
    /// `config.start_lr` to `config.end_lr`, recording the loss of every batch (before its
    /// step) raw and smoothed. The sweep stops early when the smoothed loss exceeds
    /// `config.diverge_factor` × its best, or a loss is NaN or infinite.
    ///
    /// It runs in training mode on a copy of the parameters with a fresh optimizer, and
    /// puts back the parameters (their storage, which is never written, so bit for bit),
    /// the buffers (copied back) and the mode; an optimizer `fit` kept on the model still
    /// holds the parameters afterwards. Not restored: a `Dropout` layer's mask counter,
    /// which the sweep's forward passes advance (later masks differ from those of a run
    /// without `lr_find`), and the parameters' version counters (a graph recorded before
    /// `lr_find` refuses `backward`, as after any step).
    ///
    /// Each step reads its loss back to the host (the sweep needs it to decide whether to
    /// go on): on a GPU that is one round trip per step, unlike `fit`.
    ///
    /// Errors, before any step: a bad `config` ([`Error::Config`]), empty data
    /// ([`Error::EmptyData`]), data or loss that do not fit the model, as `fit` checks
    /// them, an invalid optimizer configuration, non-finite parameters
    /// ([`Error::NonFinite`]).
    pub fn lr_find(
        &self,
        data: &Dataset,
        loss: Loss,
        optimizer: impl OptimizerConfig,
        config: LrFindConfig,
    ) -> Result<LrFinding> {
        config.validate()?;
        if data.is_empty() {
            return Err(Error::EmptyData("lr_find: the data has no rows".into()));
        }
        self.check_data(data, loss)?;
        let snapshot = Snapshot::take(self)?;
        self.set_training(true);
        let result = self.sweep(data, loss, &optimizer, &config);
        let restored = snapshot.restore(self);
        let finding = result?;
        restored.map(|()| finding)
    }

    /// The sweep itself, on the model's parameters moved into a fresh optimizer.
    fn sweep(
        &self,
        data: &Dataset,
        loss: Loss,
        optimizer: &dyn OptimizerConfig,
        config: &LrFindConfig,
    ) -> Result<LrFinding> {
        let named = self.named_parameters()?;
        let grouping = match config.param_groups.as_slice() {
            [] => Grouping::single(named.len()),
            groups => Grouping::of_named(&named, groups)?,
        };
        let mut opt = Optimizer::with_grouping(optimizer.boxed_clone(), &named, grouping)?;
        if let Some(clip) = config.clip {
            opt = opt.with_clip(clip)?;
        }
        self.check_parameters_finite(&opt)?;
        let device = self.device().clone();
        let backend = device.backend();
        let rows = DeviceData::upload(&device, data)?;
        let seed = config.seed.unwrap_or(self.init_seed());
        let batch_size = config.batch_size.min(data.len());
        let mut points = Vec::with_capacity(config.num_steps);
        let (mut avg, mut best) = (0.0f64, f64::INFINITY);
        let mut stop = LrFindStop::Completed;
        // Passes over the data, reshuffled each; drop_last keeps every batch full (a
        // batch of min(batch_size, rows) always exists).
        let plan_pass = |pass| BatchPlan::new(data.len(), batch_size, true, seed, pass, true);
        let (mut pass, mut next) = (0, 0);
        let mut plan = plan_pass(pass)?;
        let mut order = backend.upload_indices(&plan.order)?;
        for step in 0..config.num_steps {
            let lr = config.lr_at(step);
            opt.set_lr_f64(lr)?;
            opt.train()?;
            if next == plan.batches.len() {
                (pass, next) = (pass + 1, 0);
                plan = plan_pass(pass)?;
                order = backend.upload_indices(&plan.order)?;
            }
            let (start, count) = plan.batches.get(next).copied().ok_or_else(|| {
                Error::EmptyData("lr_find: a pass over the data planned no batch".into())
            })?;
            next += 1;
            let (x, y) = rows.batch(&order, start, count)?;
            let batch_loss = loss.compute(&self.forward(&x)?, &y)?;
            let grads = batch_loss.backward()?;
            let raw = f64::from(batch_loss.item()?); // the step's one read-back
            if !raw.is_finite() {
                stop = LrFindStop::NonFinite { step, lr };
                break;
            }
            avg = config.smoothing * avg + (1.0 - config.smoothing) * raw;
            let smoothed = avg / (1.0 - config.smoothing.powi(step as i32 + 1));
            best = best.min(smoothed);
            points.push(LrPoint {
                lr,
                loss: raw,
                smoothed,
            });
            if smoothed > config.diverge_factor * best {
                stop = LrFindStop::Diverged {
                    step,
                    lr,
                    smoothed,
                    best,
                };
                break;
            }
            opt.step(&grads)?;
        }
        Ok(LrFinding::new(points, stop))
    }
}
