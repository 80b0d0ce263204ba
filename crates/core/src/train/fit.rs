//! The training loop. The data is uploaded once; every batch is gathered on the device
//! from the epoch's shuffled index buffer; loss and metrics accumulate on the device and
//! are read back once per epoch, so a GPU step needs no host round trip.

use super::accumulators::{Accumulators, DeviceData};
use super::callback::{BatchInfo, Callback, OnDivergence, TrainContext};
use super::config::FitConfig;
use super::diagnosis;
use super::divergence::{self, Place};
use super::evaluate::{Evaluation, INFERENCE_BATCH};
use super::history::{EpochRecord, History};
use super::progress::Progress;
use super::telemetry::Telemetry;
use crate::backend::BackendKind;
use crate::checkpoint::Checkpoint;
use crate::data::{BatchPlan, Dataset};
use crate::error::{Divergence, Error, Result};
use crate::loss::Loss;
use crate::nn::Sequential;
use crate::optim::schedule::{LrScheduler, ScheduleConfig, ScheduleState, StepUnit};
use crate::optim::{Grouping, Optimizer, OptimizerConfig};
use crate::tensor::Tensor;
use std::time::Instant;

/// A schedule kept on the model between `fit` calls, with what it was built for: the
/// configuration, the optimizer (its first parameter) and the optimizer's step count when
/// the last `fit` ended. A later `fit` continues it only when all three still hold.
pub(crate) struct KeptSchedule {
    key: String,
    steps: u64,
    schedule: Box<dyn LrScheduler>,
}

fn schedule_key(config: &dyn ScheduleConfig, opt: &Optimizer) -> String {
    let first = opt.param_set().params().first().map(|p| p.id());
    format!("{config:?} on {first:?}")
}

/// The callbacks of one `fit` call and what they may touch.
struct Hooks {
    callbacks: Vec<Box<dyn Callback>>,
    stop: Option<String>,
    shuffle_seed: u64,
}

impl Hooks {
    /// Runs `f` on every callback with a fresh context.
    fn run(
        &mut self,
        model: &Sequential,
        optimizer: &mut Optimizer,
        history: &History,
        schedule: Option<&dyn LrScheduler>,
        mut f: impl FnMut(&mut dyn Callback, &mut TrainContext) -> Result<()>,
    ) -> Result<()> {
        for cb in &mut self.callbacks {
            let mut ctx = TrainContext {
                model,
                optimizer,
                history,
                shuffle_seed: self.shuffle_seed,
                schedule,
                stop: &mut self.stop,
            };
            f(cb.as_mut(), &mut ctx)?;
        }
        Ok(())
    }

    /// Whether a callback turns a divergence into a quiet stop.
    fn stops_on_divergence(&mut self, reason: &str) -> bool {
        let mut stop = false;
        for cb in &mut self.callbacks {
            stop |= cb.on_divergence(reason) == OnDivergence::Stop;
        }
        stop
    }
}

impl Sequential {
    /// Trains the model, Keras style: runs `config.epochs` passes over `data`, prints as
    /// `config.verbose` says, and returns the per-epoch history.
    ///
    /// As a Keras model keeps its compiled optimizer, the model keeps the optimizer this
    /// builds: calling `fit` again with an equal configuration (same optimizer, same
    /// hyperparameters, same clip) continues its state and step counts, and the epoch
    /// numbering and shuffle continue from the model's [`Sequential::epochs_trained`].
    /// Another configuration starts a fresh optimizer.
    ///
    /// Errors include, before the first step: data whose features or target columns do
    /// not match the model ([`Error::Shape`]); a loss that does not fit the model's last
    /// activation (a logits loss after a softmax or sigmoid) or an invalid configuration
    /// ([`Error::Config`], [`Error::Hyperparameter`]); and, during training,
    /// [`Error::Diverged`] when a loss or gradient turns NaN or infinite. Runnable
    /// examples are in the `downhill` crate's `guide::models` and `guide::schedules`.
    pub fn fit(
        &mut self,
        data: &Dataset,
        loss: Loss,
        optimizer: impl OptimizerConfig,
        config: FitConfig,
    ) -> Result<History> {
        let grouping = match config.param_groups.as_slice() {
            [] => None,
            groups => Some(Grouping::of_named(&self.named_parameters()?, groups)?),
        };
        let key = format!("{optimizer:?} clip {:?} groups {grouping:?}", config.clip);
        let mut opt = self.fit_optimizer(&key, &optimizer, &config, grouping)?;
        let result = self.fit_with(data, loss, &mut opt, config);
        self.fit_optimizer = Some((key, opt));
        result
    }

    /// The optimizer the last `fit` left when it was built from the same configuration
    /// (`key`), else a new one (over `grouping`'s parameter groups, if any).
    fn fit_optimizer(
        &mut self,
        key: &str,
        optimizer: &dyn OptimizerConfig,
        config: &FitConfig,
        grouping: Option<Grouping>,
    ) -> Result<Optimizer> {
        // Keyed on the configuration as given, not the live one: a schedule changes the
        // live learning rate (and OneCycleLR the momentum).
        if let Some((kept, opt)) = self.fit_optimizer.take() {
            if kept == key && self.check_optimizer(&opt).is_ok() {
                return Ok(opt);
            }
        }
        let mut opt = match grouping {
            None => {
                let params = self.parameters()?;
                let refs: Vec<&Tensor> = params.iter().collect();
                Optimizer::new(optimizer.boxed_clone(), &refs)?
            }
            Some(grouping) => {
                let named = self.named_parameters()?;
                Optimizer::with_grouping(optimizer.boxed_clone(), &named, grouping)?
            }
        };
        if let Some(clip) = config.clip {
            opt = opt.with_clip(clip)?;
        }
        Ok(opt)
    }

    /// Like [`Sequential::fit`] with an optimizer the caller keeps (its state carries over
    /// between calls). `config.clip` and `config.param_groups` are ignored here: set them
    /// on the optimizer (`with_clip`, [`Optimizer::with_named_groups`]).
    ///
    /// Training steps run in training mode and validation in evaluation mode (dropout and
    /// batch norm behave as in Keras' `fit`); the model's mode before the call is restored
    /// when it returns.
    ///
    /// An optimizer with an evaluation point (`AdamWScheduleFree`, `SgdScheduleFree`) is
    /// moved to it for validation ([`Optimizer::eval`]) and back before the next step
    /// ([`Optimizer::train`]), and `fit` returns (also on an error) with the parameters at
    /// the evaluation point `x`: `evaluate`, `predict` and `save_weights` then see the
    /// average, and the next `fit` moves them back to `y` before its first step. A
    /// checkpoint saved during the run records the mode with the parameters, so resuming
    /// continues exactly; a second `fit` continues exactly as one longer `fit` whenever the
    /// first one validated after its last epoch (otherwise the eval/train round trip at
    /// the end of the first rounds `y` by a few ulps, as the reference's does). Call
    /// [`Optimizer::train`] before stepping such an optimizer by hand after `fit_with`.
    pub fn fit_with(
        &mut self,
        data: &Dataset,
        loss: Loss,
        opt: &mut Optimizer,
        config: FitConfig,
    ) -> Result<History> {
        let previous = self.set_training(true);
        let result = self.fit_in_training_mode(data, loss, opt, config);
        self.set_training(previous);
        // Leave the model at the evaluation point, for evaluate, predict and saving.
        let swapped = opt.eval();
        let history = result?;
        swapped.map(|()| history)
    }

    fn fit_in_training_mode(
        &mut self,
        data: &Dataset,
        loss: Loss,
        opt: &mut Optimizer,
        mut config: FitConfig,
    ) -> Result<History> {
        if config.epochs == 0 {
            return Err(Error::Config("epochs must be at least 1".into()));
        }
        if config.batch_size == 0 {
            return Err(Error::Config("batch size must be at least 1".into()));
        }
        self.check_optimizer(opt)?;
        // Resuming: the model, the optimizer, the epoch count, the shuffle and the
        // schedule continue from the checkpoint (checked whole before anything changes).
        let resumed = match &config.resume_from {
            None => None,
            Some(path) => {
                let ckpt = Checkpoint::load(path)?;
                ckpt.restore(self, opt)?;
                self.epochs_trained = ckpt.training.epoch;
                config.initial_epoch = Some(ckpt.training.epoch);
                config.seed = Some(ckpt.training.shuffle_seed);
                Some(ckpt.training)
            }
        };
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
        let first_epoch = config.initial_epoch.unwrap_or(self.epochs_trained);
        let last_epoch = first_epoch.checked_add(config.epochs).ok_or_else(|| {
            Error::Config(format!(
                "initial_epoch {first_epoch} + epochs {} overflows",
                config.epochs
            ))
        })?;

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
        let mut progress = Progress::new(config.verbose, last_epoch);
        let mut hooks = Hooks {
            callbacks: std::mem::take(&mut config.callbacks),
            stop: None,
            shuffle_seed: seed,
        };
        let mut schedule = match &config.schedule {
            None => None,
            Some(cfg) => {
                let key = schedule_key(cfg.as_ref(), opt);
                let mut built = match self.fit_schedule.take() {
                    Some(kept) if kept.key == key && kept.steps == opt.steps() => kept.schedule,
                    _ => cfg.build(opt)?,
                };
                if let Some(state) = resumed.as_ref().and_then(|t| t.schedule.clone()) {
                    let state: ScheduleState =
                        serde_json::from_value(state).map_err(|e| Error::Mismatch {
                            what: "checkpoint schedule".into(),
                            detail: format!("the saved schedule state does not read: {e}"),
                        })?;
                    built.load_state(opt, &state)?;
                }
                Some(built)
            }
        };
        let monitor = config.schedule_monitor.clone().unwrap_or_else(|| {
            if validation.is_some() {
                "val_loss"
            } else {
                "loss"
            }
            .to_string()
        });
        let mut telemetry = match config.telemetry {
            false => None,
            true => {
                let sample = Tensor::from_array(&device, train.select(&[0])?.x())?;
                Some(Telemetry::new(self, opt, &sample)?)
            }
        };
        hooks.run(self, opt, &history, schedule.as_deref(), |cb, ctx| {
            cb.on_train_begin(ctx)
        })?;

        for epoch in first_epoch..last_epoch {
            let number = epoch + 1; // what records and messages call it
            let started = Instant::now();
            hooks.run(self, opt, &history, schedule.as_deref(), |cb, ctx| {
                cb.on_epoch_begin(number, ctx)
            })?;
            let plan = BatchPlan::new(
                train.len(),
                batch_size,
                config.shuffle,
                seed,
                epoch,
                config.drop_last,
            )?;
            let batches = plan.batches.len();
            let order = backend.upload_indices(&plan.order)?;
            let planned: usize = plan.batches.iter().map(|&(_, count)| count).sum();
            let mut acc = Accumulators::new(
                backend,
                loss,
                &config.metrics,
                (planned, self.out_features()),
            )?;
            let steps_before = opt.steps();
            let epoch_lr = opt.lr(); // the rate of the epoch's first step
            if let Some(t) = telemetry.as_mut() {
                t.begin_epoch(opt, batches, planned)?;
            }
            progress.start_epoch(number, batches);
            for (b, &(start, count)) in plan.batches.iter().enumerate() {
                let info = BatchInfo {
                    epoch: number,
                    batch: b + 1,
                    batches,
                    step: opt.steps() + 1,
                };
                hooks.run(self, opt, &history, schedule.as_deref(), |cb, ctx| {
                    cb.on_batch_begin(&info, ctx)
                })?;
                // Steps run at the training point (a no-op but after a validation or a
                // previous fit of a schedule-free optimizer).
                opt.train()?;
                let (x, y) = train_dev.batch(&order, start, count)?;
                let pred = match telemetry.as_mut() {
                    Some(t) => t.forward(self, &x)?,
                    None => self.forward(&x)?,
                };
                let batch_loss = loss.compute(&pred, &y)?;
                let grads = batch_loss.backward()?;
                if let Some(t) = telemetry.as_mut() {
                    t.before_step(opt)?;
                }
                opt.step(&grads)?;
                if let Some(t) = telemetry.as_mut() {
                    t.after_step(opt)?;
                }
                if let Some(s) = schedule.as_mut().filter(|s| s.unit() == StepUnit::Batch) {
                    s.step(opt)?;
                }
                let step = (opt.flat_gradients(), opt.steps());
                acc.add(backend, (&batch_loss, &pred, &y), Some(step))?;
                hooks.run(self, opt, &history, schedule.as_deref(), |cb, ctx| {
                    cb.on_batch_end(&info, ctx)
                })?;
                let figures = if progress.wants_figures() {
                    Some(acc.running(backend)?)
                } else {
                    None
                };
                progress.step(b + 1, figures);
                let last = b + 1 == batches;
                if !last && (b + 1) % check_every == 0 && acc.flags(backend)?.first().is_some() {
                    break; // the epoch's figures so far are read and reported below
                }
                if hooks.stop.is_some() {
                    break;
                }
            }
            let (train_eval, flags) = acc.finish(backend)?;
            // A mean can still turn non-finite without a recorded step (a sum of huge
            // finite losses): count it as the loss of the epoch's last step.
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
                        .map(|m| (m.name(), f32::NAN))
                        .collect(),
                }),
                (None, Some(v)) => Some(
                    // At the evaluation point; the next step moves back.
                    opt.eval()
                        .and_then(|()| self.evaluate_on(v, loss, &config.metrics, INFERENCE_BATCH))
                        .map_err(|e| e.context("validation data"))?,
                ),
            };
            let record = EpochRecord {
                epoch: number,
                loss: train_eval.loss,
                metrics: train_eval.metrics,
                val_loss: val_eval.as_ref().map(|e| e.loss),
                val_metrics: val_eval.map(|e| e.metrics).unwrap_or_default(),
                lr: epoch_lr,
            };
            let health = telemetry
                .as_ref()
                .map(|t| t.finish(opt, number))
                .transpose()?;
            let seconds = started.elapsed().as_secs_f64();
            progress.end_epoch(&record, batches, seconds);
            if let Some(health) = health {
                progress.notes(diagnosis::record(health, &mut history));
            }
            self.epochs_trained = number;
            let val_bad = record
                .val_loss
                .filter(|v| first_bad.is_none() && !v.is_finite());
            let loss_value = record.loss;
            history.records.push(record.clone());
            history.seconds.push(seconds);
            let diverged = match (first_bad, val_bad) {
                (Some((step, cause)), _) => Some((step, cause, loss_value)),
                (None, Some(v)) => Some((opt.steps(), Divergence::ValidationLoss, v)),
                (None, None) => None,
            };
            if let Some((step, cause, value)) = diverged {
                let place = Place {
                    epoch: number,
                    batch: step.saturating_sub(steps_before).max(1) as usize,
                    batches,
                    step,
                    lr: opt.lr(),
                    before_any_update: step == 1,
                    data: match cause {
                        Divergence::ValidationLoss => validation.as_ref().unwrap_or(&train),
                        _ => &train,
                    },
                };
                let reason = divergence::reason(cause, &place, value);
                if hooks.stops_on_divergence(&reason) {
                    history.stop_reason = Some(reason);
                    hooks.run(self, opt, &history, schedule.as_deref(), |cb, ctx| {
                        cb.on_train_end(ctx)
                    })?;
                    return Ok(history);
                }
                return Err(Error::Diverged {
                    epoch: number,
                    step,
                    cause,
                    loss: loss_value,
                    reason,
                    history: Box::new(history),
                });
            }
            if let Some(s) = schedule.as_mut().filter(|s| s.unit() == StepUnit::Epoch) {
                if s.monitors_metric() {
                    let value = record.get(&monitor).ok_or_else(|| {
                        Error::Config(format!(
                            "the schedule monitors {monitor:?}, which the epoch's figures \
                             do not hold"
                        ))
                    })?;
                    s.step_with_metric(opt, value)?;
                } else {
                    s.step(opt)?;
                }
            }
            hooks.run(self, opt, &history, schedule.as_deref(), |cb, ctx| {
                cb.on_epoch_end(&record, ctx)
            })?;
            if hooks.stop.is_some() {
                break;
            }
        }
        history.stop_reason = hooks.stop.take();
        hooks.run(self, opt, &history, schedule.as_deref(), |cb, ctx| {
            cb.on_train_end(ctx)
        })?;
        if let (Some(cfg), Some(schedule)) = (&config.schedule, schedule) {
            self.fit_schedule = Some(KeptSchedule {
                key: schedule_key(cfg.as_ref(), opt),
                steps: opt.steps(),
                schedule,
            });
        }
        // The last update is checked by no later loss or gradient: check what it wrote.
        if let Some((name, v)) = self.first_non_finite_parameter(opt)? {
            let place = Place {
                epoch: self.epochs_trained,
                batch: 0,
                batches: 0,
                step: opt.steps(),
                lr: opt.lr(),
                before_any_update: false,
                data: &train,
            };
            return Err(Error::Diverged {
                epoch: place.epoch,
                step: opt.steps(),
                cause: Divergence::Parameter,
                loss: history.records.last().map_or(f32::NAN, |r| r.loss),
                reason: divergence::parameter_reason(&name, v, &place),
                history: Box::new(history),
            });
        }
        Ok(history)
    }
}
