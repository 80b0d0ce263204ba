//! What `fit` and `evaluate` keep on the device during a pass: the data set, gathered batch
//! by batch, and the running sums of loss, metrics and the divergence record, read back
//! once per epoch.

use super::divergence::Flags;
use super::evaluate::Evaluation;
use crate::backend::{Backend, Storage};
use crate::data::Dataset;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::metric::{Metric, MetricPlan};
use crate::tensor::Tensor;

/// A data set resident on the device.
pub(super) struct DeviceData {
    x: Tensor,
    y: Tensor,
    pub rows: usize,
}

impl DeviceData {
    pub fn upload(device: &Device, data: &Dataset) -> Result<Self> {
        Ok(DeviceData {
            x: Tensor::from_array(device, data.x())?,
            y: Tensor::from_array(device, data.y())?,
            rows: data.len(),
        })
    }

    /// Rows `order[start..start + count]` of inputs and targets, gathered on the device.
    pub fn batch(&self, order: &Storage, start: usize, count: usize) -> Result<(Tensor, Tensor)> {
        let (cols_x, cols_y) = (self.x.dims()[1], self.y.dims()[1]);
        let device = self.x.device();
        let (x, y) = device.backend().gather_rows_pair(
            (&self.x.storage(), cols_x),
            (&self.y.storage(), cols_y),
            order,
            start,
            count,
        )?;
        Ok((
            device.tensor_from_storage(x, [count, cols_x])?,
            device.tensor_from_storage(y, [count, cols_y])?,
        ))
    }
}

/// Per-epoch running sums on the device, in one buffer so one read-back fetches them all:
/// slot 0 holds the loss (each batch's weighted by its share of the epoch's rows, so the
/// sum is the mean and cannot overflow where every batch's loss is finite) and, in its
/// next two elements, the divergence record of
/// `Backend::track_step`; slot 1 + i the correct predictions of metric i. Slots sit 64
/// elements (256 bytes) apart, the alignment a GPU needs to bind each on its own.
pub(super) struct Accumulators {
    sums: Storage,
    metrics: Vec<Tracked>,
    /// Output columns of the model (what the metrics' accumulators are sized for), where
    /// a metric needs it.
    cols: Option<usize>,
    /// Rows added so far, and the rows the whole pass will add.
    rows: usize,
    planned_rows: usize,
}

/// A metric, what it accumulates, and where in the sums.
struct Tracked {
    metric: Metric,
    plan: MetricPlan,
    offset: usize,
    len: usize,
}

const SLOT: usize = crate::optim::SEGMENT_ALIGN;

impl Accumulators {
    /// Sums for `loss` and `metrics` over `planned_rows` rows of `[_, cols]` outputs.
    pub fn new(
        backend: &dyn Backend,
        loss: Loss,
        metrics: &[Metric],
        (planned_rows, cols): (usize, Option<usize>),
    ) -> Result<Self> {
        let mut offset = SLOT; // slot 0: the loss and the divergence record
        let mut tracked = Vec::with_capacity(metrics.len());
        for &metric in metrics {
            let plan = metric.plan(loss)?;
            let len = match (plan, cols) {
                (MetricPlan::Correct(_), _) => 1,
                (_, Some(c)) => plan.len(c),
                (_, None) => {
                    return Err(Error::Config(format!(
                        "{} needs to know how many outputs the model has, and its last \
                         layer does not say",
                        metric.name()
                    )))
                }
            };
            tracked.push(Tracked {
                metric,
                plan,
                offset,
                len,
            });
            offset += len.max(1).div_ceil(SLOT) * SLOT;
        }
        Ok(Accumulators {
            sums: backend.full(offset, 0.0)?,
            metrics: tracked,
            cols,
            rows: 0,
            planned_rows: planned_rows.max(1),
        })
    }

    fn slot(&self, offset: usize, len: usize) -> Result<Storage> {
        self.sums.slice(offset, len)
    }

    /// Adds a batch: its loss (and, for a training step, watches the loss and the
    /// gradients for NaN or ±inf in the same dispatch) and its metrics.
    pub fn add(
        &mut self,
        backend: &dyn Backend,
        batch: (&Tensor, &Tensor, &Tensor),
        step: Option<(&Storage, u64)>,
    ) -> Result<()> {
        let (loss, pred, target) = batch;
        let (rows, cols) = pred.shape().as_matrix("model output")?;
        let share = (rows as f64 / self.planned_rows as f64) as f32;
        match step {
            Some((grads, step)) => {
                // Saturates: past 2^32 - 1 steps the record names the last countable one.
                let step = u32::try_from(step).unwrap_or(u32::MAX);
                let sums = self.sums.slice(0, 3)?;
                backend.track_step(&sums, &loss.storage(), share, grads, step)?
            }
            None => backend.accumulate(&self.slot(0, 1)?, &loss.storage(), share)?,
        }
        if let Some(sized) = self.cols.filter(|&c| c != cols) {
            return Err(Error::shape(
                "metrics",
                format!("the model output has {cols} columns, the metrics were sized for {sized}"),
            ));
        }
        for t in &self.metrics {
            let slot = self.slot(t.offset, t.len)?;
            let (p, y) = (pred.storage(), target.storage());
            match t.plan {
                MetricPlan::Correct(kind) => {
                    backend.accumulate_correct(kind, &p, &y, rows, cols, &slot)?
                }
                MetricPlan::Stats(stats) => {
                    backend.accumulate_stats(stats, &p, &y, rows, cols, &slot)?
                }
            }
        }
        self.rows += rows;
        Ok(())
    }

    /// Reads only the divergence record (a read-back of three values).
    pub fn flags(&self, backend: &dyn Backend) -> Result<Flags> {
        Ok(Flags::from_sums(
            &backend.download(&self.sums.slice(0, 3)?)?,
        ))
    }

    /// Reads the sums back (the only host round trip of an epoch) as means, with the
    /// divergence record.
    pub fn finish(&self, backend: &dyn Backend) -> Result<(Evaluation, Flags)> {
        // The loss sum covers `rows` of the planned rows (fewer when a run stopped early).
        let loss_scale = (self.planned_rows as f64 / self.rows.max(1) as f64) as f32;
        let sums = backend.download(&self.sums)?;
        let metrics = self
            .metrics
            .iter()
            .map(|t| {
                let raw = &sums[t.offset..t.offset + t.len];
                let value = t
                    .metric
                    .value(t.plan, raw, self.rows, self.cols.unwrap_or(1))?;
                Ok((t.metric.name(), value))
            })
            .collect::<Result<_>>()?;
        let evaluation = Evaluation {
            loss: sums[0] * loss_scale,
            metrics,
        };
        Ok((evaluation, Flags::from_sums(&sums)))
    }
}

impl Accumulators {
    /// The figures so far, without the divergence record (for a progress bar).
    pub fn running(&self, backend: &dyn Backend) -> Result<Evaluation> {
        Ok(self.finish(backend)?.0)
    }
}
