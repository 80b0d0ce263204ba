//! What `fit` and `evaluate` keep on the device during a pass: the data set, gathered batch
//! by batch, and the running sums of loss, metrics and the divergence record, read back
//! once per epoch.

use super::divergence::Flags;
use super::evaluate::Evaluation;
use crate::backend::{AccuracyKind, Backend, Storage};
use crate::data::Dataset;
use crate::device::Device;
use crate::error::Result;
use crate::loss::Loss;
use crate::metric::Metric;
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
        Ok((
            gather(&self.x, order, start, count)?,
            gather(&self.y, order, start, count)?,
        ))
    }
}

fn gather(t: &Tensor, order: &Storage, start: usize, count: usize) -> Result<Tensor> {
    let cols = t.dims()[1];
    let rows = t
        .device()
        .backend()
        .gather_rows(&t.storage(), cols, order, start, count)?;
    t.device().tensor_from_storage(rows, [count, cols])
}

/// Per-epoch running sums on the device, in one buffer so one read-back fetches them all:
/// slot 0 holds the loss (each batch's weighted by its share of the epoch's rows, so the
/// sum is the mean and cannot overflow where every batch's loss is finite) and, in its
/// next two elements, the divergence record of
/// `Backend::track_step`; slot 1 + i the correct predictions of metric i. Slots sit 64
/// elements (256 bytes) apart, the alignment a GPU needs to bind each on its own.
pub(super) struct Accumulators {
    sums: Storage,
    metrics: Vec<(String, AccuracyKind)>,
    /// Rows added so far, and the rows the whole pass will add.
    rows: usize,
    planned_rows: usize,
}

const SLOT: usize = crate::optim::SEGMENT_ALIGN;

impl Accumulators {
    pub fn new(
        backend: &dyn Backend,
        loss: Loss,
        metrics: &[Metric],
        planned_rows: usize,
    ) -> Result<Self> {
        let metrics: Vec<(String, AccuracyKind)> = metrics
            .iter()
            .map(|m| (m.name().to_string(), m.accuracy_kind(loss)))
            .collect();
        Ok(Accumulators {
            sums: backend.full(SLOT * (1 + metrics.len()), 0.0)?,
            metrics,
            rows: 0,
            planned_rows: planned_rows.max(1),
        })
    }

    fn slot(&self, i: usize) -> Result<Storage> {
        self.sums.slice(SLOT * i, 1)
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
            None => backend.accumulate(&self.slot(0)?, &loss.storage(), share)?,
        }
        for (i, (_, kind)) in self.metrics.iter().enumerate() {
            let slot = self.slot(1 + i)?;
            backend.accumulate_correct(
                *kind,
                &pred.storage(),
                &target.storage(),
                rows,
                cols,
                &slot,
            )?;
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
        let n = self.rows.max(1) as f32;
        // The loss sum covers `rows` of the planned rows (fewer when a run stopped early).
        let loss_scale = (self.planned_rows as f64 / self.rows.max(1) as f64) as f32;
        let sums = backend.download(&self.sums)?;
        let metrics = self
            .metrics
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (name.clone(), sums[SLOT * (1 + i)] / n))
            .collect();
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
