//! `evaluate` and `predict`: passes over data without recording gradients.

use super::accumulators::{Accumulators, DeviceData};
use crate::autodiff::no_grad;
use crate::data::{BatchPlan, Dataset};
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::metric::Metric;
use crate::nn::Sequential;
use crate::tensor::Tensor;
use ndarray::Array2;

/// Rows per forward pass in `evaluate` and `predict` when no batch size is given.
pub(super) const INFERENCE_BATCH: usize = 1024;

/// The loss and metrics of a model on a data set.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// The mean loss over every row of the data.
    pub loss: f32,
    /// `(name, value)` for each metric asked for, in order (e.g. `("accuracy", 0.97)`).
    pub metrics: Vec<(String, f32)>,
}

impl Sequential {
    /// Loss and metrics over `data`, without recording gradients, in evaluation mode
    /// (dropout off, batch norm's running statistics; the model's mode is restored after).
    pub fn evaluate(&self, data: &Dataset, loss: Loss, metrics: &[Metric]) -> Result<Evaluation> {
        self.check_data(data, loss)?;
        self.check_metrics(data, loss, metrics)?;
        let data_dev = DeviceData::upload(self.device(), data)?;
        self.evaluate_on(&data_dev, loss, metrics, INFERENCE_BATCH)
    }

    pub(super) fn evaluate_on(
        &self,
        data: &DeviceData,
        loss: Loss,
        metrics: &[Metric],
        batch_size: usize,
    ) -> Result<Evaluation> {
        self.in_eval_mode(|| {
            let backend = self.device().backend();
            let plan = BatchPlan::new(data.rows, batch_size, false, 0, 0, false)?;
            let order = backend.upload_indices(&plan.order)?;
            let mut acc =
                Accumulators::new(backend, loss, metrics, (data.rows, self.out_features()))?;
            for &(start, count) in &plan.batches {
                let (x, y) = data.batch(&order, start, count)?;
                let pred = self.forward(&x)?;
                acc.add(backend, (&loss.compute(&pred, &y)?, &pred, &y), None)?;
            }
            Ok(acc.finish(backend)?.0)
        })
    }

    /// Runs `f` without recording gradients and in evaluation mode, then restores the mode.
    fn in_eval_mode<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let previous = self.set_training(false);
        let result = no_grad(f);
        self.set_training(previous);
        result
    }

    /// The model's outputs for inputs `x: [rows, features]`, in evaluation mode (see
    /// [`Sequential::evaluate`]).
    pub fn predict(&self, x: &Array2<f32>) -> Result<Array2<f32>> {
        if x.nrows() == 0 {
            return Err(Error::EmptyData("predict: no input rows".into()));
        }
        self.in_eval_mode(|| {
            let mut outputs = Vec::new();
            let mut cols = 0;
            for chunk in x.axis_chunks_iter(ndarray::Axis(0), INFERENCE_BATCH) {
                let pred = self.forward(&Tensor::from_array(self.device(), &chunk)?)?;
                cols = pred.shape().as_matrix("predict")?.1;
                outputs.extend(pred.to_vec()?);
            }
            Array2::from_shape_vec((x.nrows(), cols), outputs)
                .map_err(|e| Error::shape("predict", e.to_string()))
        })
    }
}
