//! The training loop. The data is uploaded once; every batch is gathered on the device
//! from the epoch's shuffled index buffer; loss and metrics accumulate on the device and
//! are read back once per epoch, so a GPU step needs no host round trip.

use super::config::FitConfig;
use super::divergence::{self, Flags, Place};
use super::history::{EpochRecord, History};
use super::progress::epoch_line;
use crate::autodiff::no_grad;
use crate::backend::{AccuracyKind, Backend, BackendKind, Storage};
use crate::data::{BatchPlan, Dataset};
use crate::device::Device;
use crate::error::{Divergence, Error, Result};
use crate::loss::Loss;
use crate::metric::Metric;
use crate::nn::Sequential;
use crate::optim::{Optimizer, OptimizerConfig};
use crate::tensor::Tensor;
use ndarray::Array2;
use std::time::Instant;

/// Rows per forward pass in `evaluate` and `predict` when no batch size is given.
const INFERENCE_BATCH: usize = 1024;

/// The loss and metrics of a model on a data set.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub loss: f32,
    pub metrics: Vec<(String, f32)>,
}

/// A data set resident on the device.
struct DeviceData {
    x: Tensor,
    y: Tensor,
    rows: usize,
}

impl DeviceData {
    fn upload(device: &Device, data: &Dataset) -> Result<Self> {
        Ok(DeviceData {
            x: Tensor::from_array(device, data.x())?,
            y: Tensor::from_array(device, data.y())?,
            rows: data.len(),
        })
    }

    /// Rows `order[start..start + count]` of inputs and targets, gathered on the device.
    fn batch(&self, order: &Storage, start: usize, count: usize) -> Result<(Tensor, Tensor)> {
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
struct Accumulators {
    sums: Storage,
    metrics: Vec<(String, AccuracyKind)>,
    /// Rows added so far, and the rows the whole pass will add.
    rows: usize,
    planned_rows: usize,
}

const SLOT: usize = crate::optim::SEGMENT_ALIGN;

impl Accumulators {
    fn new(
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
    fn add(
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
    fn flags(&self, backend: &dyn Backend) -> Result<Flags> {
        Ok(Flags::from_sums(
            &backend.download(&self.sums.slice(0, 3)?)?,
        ))
    }

    /// Reads the sums back (the only host round trip of an epoch) as means, with the
    /// divergence record.
    fn finish(&self, backend: &dyn Backend) -> Result<(Evaluation, Flags)> {
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

impl Sequential {
    /// Trains the model, Keras style: builds `optimizer` for the model's parameters, runs
    /// `config.epochs` passes over `data`, prints a line per epoch (unless
    /// `config.verbose` is false) and returns the per-epoch history.
    pub fn fit(
        &mut self,
        data: &Dataset,
        loss: Loss,
        optimizer: impl OptimizerConfig,
        config: FitConfig,
    ) -> Result<History> {
        let params = self.parameters()?;
        let refs: Vec<&Tensor> = params.iter().collect();
        let mut opt = Optimizer::new(optimizer.boxed_clone(), &refs)?;
        if let Some(clip) = config.clip {
            opt = opt.with_clip(clip)?;
        }
        self.fit_with(data, loss, &mut opt, config)
    }

    /// Like [`Sequential::fit`] with an optimizer the caller keeps (its state carries over
    /// between calls). `config.clip` is ignored here: set it on the optimizer.
    pub fn fit_with(
        &mut self,
        data: &Dataset,
        loss: Loss,
        opt: &mut Optimizer,
        config: FitConfig,
    ) -> Result<History> {
        if config.epochs == 0 {
            return Err(Error::Config("epochs must be at least 1".into()));
        }
        if config.batch_size == 0 {
            return Err(Error::Config("batch size must be at least 1".into()));
        }
        self.check_optimizer(opt)?;
        let (train, validation) = match (&config.validation_data, config.validation_split) {
            (Some(v), _) => (data.clone(), Some(v.clone())),
            (None, f) if f > 0.0 => {
                let (t, v) = data.split_tail(f)?;
                (t, Some(v))
            }
            (None, 0.0) => (data.clone(), None),
            (None, f) => {
                return Err(Error::Config(format!(
                    "validation_split {f} must be in [0, 1)"
                )))
            }
        };
        self.check_data(&train, loss)?;
        self.check_metrics(&train, loss, &config.metrics)?;
        if let Some(v) = &validation {
            self.check_data(v, loss)
                .and_then(|()| self.check_metrics(v, loss, &config.metrics))
                .map_err(|e| e.context("validation data"))?;
        }
        self.check_parameters_finite(opt)?;
        let check_every = match config.check_every {
            Some(0) => return Err(Error::Config("check_every must be at least 1".into())),
            Some(k) => k,
            None if self.device().kind() == BackendKind::Cpu => 1,
            None => usize::MAX,
        };

        let device = self.device().clone();
        let backend = device.backend();
        let train_dev = DeviceData::upload(&device, &train)?;
        let val_dev = validation
            .as_ref()
            .map(|v| DeviceData::upload(&device, v))
            .transpose()?;
        let seed = config.seed.unwrap_or(self.init_seed());
        let batch_size = config.batch_size.min(train.len());
        let mut history = History::default();

        for epoch in 0..config.epochs {
            let started = Instant::now();
            let plan = BatchPlan::new(
                train.len(),
                batch_size,
                config.shuffle,
                seed,
                epoch,
                config.drop_last,
            )?;
            let order = backend.upload_indices(&plan.order)?;
            let planned: usize = plan.batches.iter().map(|&(_, count)| count).sum();
            let mut acc = Accumulators::new(backend, loss, &config.metrics, planned)?;
            let steps_before = opt.steps();
            for (b, &(start, count)) in plan.batches.iter().enumerate() {
                let (x, y) = train_dev.batch(&order, start, count)?;
                let pred = self.forward(&x)?;
                let batch_loss = loss.compute(&pred, &y)?;
                let grads = batch_loss.backward()?;
                opt.step(&grads)?;
                let step = (opt.flat_gradients(), opt.steps());
                acc.add(backend, (&batch_loss, &pred, &y), Some(step))?;
                let last = b + 1 == plan.batches.len();
                if !last && (b + 1) % check_every == 0 && acc.flags(backend)?.first().is_some() {
                    break; // the epoch's figures so far are read and reported below
                }
            }
            let (train_eval, flags) = acc.finish(backend)?;
            // A sum can overflow even when every batch's loss is finite.
            let first_bad = flags.first().or_else(|| {
                (!train_eval.loss.is_finite()).then_some((opt.steps(), Divergence::Loss))
            });
            let val_eval = match (first_bad, &val_dev) {
                (_, None) => None,
                // A model that has diverged is not validated; its record keeps the
                // validation columns (NaN) so the history stays one table.
                (Some(_), Some(_)) => Some(Evaluation {
                    loss: f32::NAN,
                    metrics: config
                        .metrics
                        .iter()
                        .map(|m| (m.name().to_string(), f32::NAN))
                        .collect(),
                }),
                (None, Some(v)) => Some(
                    self.evaluate_on(v, loss, &config.metrics, INFERENCE_BATCH)
                        .map_err(|e| e.context("validation data"))?,
                ),
            };
            let record = EpochRecord {
                epoch: epoch + 1,
                loss: train_eval.loss,
                metrics: train_eval.metrics,
                val_loss: val_eval.as_ref().map(|e| e.loss),
                val_metrics: val_eval.map(|e| e.metrics).unwrap_or_default(),
            };
            let seconds = started.elapsed().as_secs_f64();
            if config.verbose {
                println!(
                    "{}",
                    epoch_line(&record, config.epochs, plan.batches.len(), seconds)
                );
            }
            let val_bad = record
                .val_loss
                .filter(|v| first_bad.is_none() && !v.is_finite());
            let loss_value = record.loss;
            history.records.push(record);
            history.seconds.push(seconds);
            let (step, cause, value) = match (first_bad, val_bad) {
                (Some((step, cause)), _) => (step, cause, loss_value),
                (None, Some(v)) => (opt.steps(), Divergence::ValidationLoss, v),
                (None, None) => continue,
            };
            let batch = step.saturating_sub(steps_before).max(1) as usize;
            let place = Place {
                epoch: epoch + 1,
                batch,
                batches: plan.batches.len(),
                step,
                lr: opt.lr(),
                before_any_update: step == 1,
                data: match cause {
                    Divergence::ValidationLoss => validation.as_ref().unwrap_or(&train),
                    _ => &train,
                },
            };
            return Err(Error::Diverged {
                epoch: epoch + 1,
                step,
                cause,
                loss: loss_value,
                reason: divergence::reason(cause, &place, value),
                history: Box::new(history),
            });
        }
        // The last update is checked by no later loss or gradient: check what it wrote.
        if let Some((name, v)) = self.first_non_finite_parameter(opt)? {
            let epoch = history.records.len();
            let place = Place {
                epoch,
                batch: 0,
                batches: 0,
                step: opt.steps(),
                lr: opt.lr(),
                before_any_update: false,
                data: &train,
            };
            return Err(Error::Diverged {
                epoch,
                step: opt.steps(),
                cause: Divergence::Parameter,
                loss: history.records.last().map_or(f32::NAN, |r| r.loss),
                reason: divergence::parameter_reason(&name, v, &place),
                history: Box::new(history),
            });
        }
        Ok(history)
    }

    /// Fails if a parameter is NaN or infinite before training starts (a user-set value, or
    /// a model left broken by an earlier run): no step could recover from it, and a later
    /// divergence report would blame the wrong thing.
    fn check_parameters_finite(&self, opt: &Optimizer) -> Result<()> {
        match self.first_non_finite_parameter(opt)? {
            None => Ok(()),
            Some((name, v)) => Err(Error::NonFinite(format!(
                "parameter {name} holds {v} before training (a value set by hand, or a \
                 model an earlier run left diverged): re-initialise it"
            ))),
        }
    }

    /// The first non-finite parameter value, named as `0.dense.weight[i] of Dense(..)`:
    /// one read-back of the optimizer's flat buffer.
    fn first_non_finite_parameter(&self, opt: &Optimizer) -> Result<Option<(String, f32)>> {
        let set = opt.param_set();
        let flat = self.device().backend().download(set.flat())?;
        let named = self.layers()?.iter().enumerate().flat_map(|(li, layer)| {
            layer
                .parameter_names()
                .into_iter()
                .map(move |name| (format!("{li}.{name}"), layer.describe()))
        });
        for (seg, (name, layer)) in set.segments().iter().zip(named) {
            let values = flat.get(seg.offset..seg.offset + seg.len).unwrap_or(&[]);
            if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Ok(Some((format!("{name}[{i}] of {layer}"), *v)));
            }
        }
        Ok(None)
    }

    /// Loss and metrics over `data`, without recording gradients.
    pub fn evaluate(&self, data: &Dataset, loss: Loss, metrics: &[Metric]) -> Result<Evaluation> {
        self.check_data(data, loss)?;
        self.check_metrics(data, loss, metrics)?;
        let data_dev = DeviceData::upload(self.device(), data)?;
        self.evaluate_on(&data_dev, loss, metrics, INFERENCE_BATCH)
    }

    fn evaluate_on(
        &self,
        data: &DeviceData,
        loss: Loss,
        metrics: &[Metric],
        batch_size: usize,
    ) -> Result<Evaluation> {
        no_grad(|| {
            let backend = self.device().backend();
            let plan = BatchPlan::new(data.rows, batch_size, false, 0, 0, false)?;
            let order = backend.upload_indices(&plan.order)?;
            let mut acc = Accumulators::new(backend, loss, metrics, data.rows)?;
            for &(start, count) in &plan.batches {
                let (x, y) = data.batch(&order, start, count)?;
                let pred = self.forward(&x)?;
                acc.add(backend, (&loss.compute(&pred, &y)?, &pred, &y), None)?;
            }
            Ok(acc.finish(backend)?.0)
        })
    }

    /// The model's outputs for inputs `x: [rows, features]`.
    pub fn predict(&self, x: &Array2<f32>) -> Result<Array2<f32>> {
        if x.nrows() == 0 {
            return Err(Error::EmptyData("predict: no input rows".into()));
        }
        no_grad(|| {
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

    fn check_optimizer(&self, opt: &Optimizer) -> Result<()> {
        let params = self.parameters()?;
        let same = opt.param_set().params().len() == params.len()
            && opt
                .param_set()
                .params()
                .iter()
                .zip(&params)
                .all(|(a, b)| a.id() == b.id());
        if same {
            opt.param_set().check_owned()
        } else {
            Err(Error::Config(
                "the optimizer was built for other parameters than this model's".into(),
            ))
        }
    }

    /// Checks that every metric can read the targets: categorical accuracy needs one class
    /// label per row, binary accuracy one target per output.
    fn check_metrics(&self, data: &Dataset, loss: Loss, metrics: &[Metric]) -> Result<()> {
        let Some(outputs) = self.out_features() else {
            return Ok(());
        };
        for metric in metrics {
            match metric.accuracy_kind(loss) {
                AccuracyKind::Categorical => data.check_labels(outputs)?,
                AccuracyKind::Binary { .. } if data.target_cols() != outputs => {
                    return Err(Error::shape(
                        "fit",
                        format!(
                            "{} compares each of the model's {outputs} outputs with a target, \
                             but the data has {} target columns",
                            metric.name(),
                            data.target_cols()
                        ),
                    ))
                }
                AccuracyKind::Binary { .. } => {}
            }
        }
        Ok(())
    }

    /// Checks a data set against the model's input size and the loss's target format.
    fn check_data(&self, data: &Dataset, loss: Loss) -> Result<()> {
        if let Some(features) = self.in_features() {
            if data.features() != features {
                return Err(Error::shape(
                    "fit",
                    format!(
                        "the data has {} features per row, the model's first layer expects {features}",
                        data.features()
                    ),
                ));
            }
        }
        let Some(outputs) = self.out_features() else {
            return Ok(());
        };
        if loss.takes_labels() {
            return data.check_labels(outputs);
        }
        if data.target_cols() != outputs {
            return Err(Error::shape(
                "fit",
                format!(
                    "the data has {} target columns, the model outputs {outputs}",
                    data.target_cols()
                ),
            ));
        }
        match loss {
            Loss::BinaryCrossEntropy | Loss::BinaryCrossEntropyWithLogits => {
                data.check_probabilities()
            }
            _ => Ok(()),
        }
    }
}
