//! `EarlyStopping`: stop when a monitored figure has stopped improving.

use crate::error::{Error, Result};
use crate::train::callback::{Callback, TrainContext};
use crate::train::history::EpochRecord;

/// Whether smaller or larger values of the monitored figure are better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Smaller is better unless the name says accuracy (Keras' "auto").
    Auto,
    /// Smaller is better (losses, errors).
    Min,
    /// Larger is better (accuracy, F1, R²).
    Max,
}

/// Keras' `EarlyStopping`, with its defaults and rules: monitor `val_loss`, `min_delta`
/// 0, `patience` 0, mode auto, no baseline, `restore_best_weights` false,
/// `start_from_epoch` 0.
///
/// After each epoch (from `start_from_epoch` on) the monitored figure counts as an
/// improvement when it beats the best so far by more than `min_delta`; `patience` epochs
/// without one stop training. With a `baseline`, the wait restarts only on values that
/// also beat the baseline. With `restore_best_weights`, the model ends training with the
/// weights of its best epoch (Keras 3 restores them whether or not training stopped
/// early; so does this).
#[derive(Clone, Debug)]
pub struct EarlyStopping {
    monitor: String,
    min_delta: f32,
    patience: usize,
    mode: Mode,
    baseline: Option<f32>,
    restore_best_weights: bool,
    start_from_epoch: usize,
    // state
    wait: usize,
    best: f32,
    best_epoch: usize,
    best_weights: Option<Vec<Vec<f32>>>,
    stopped_epoch: Option<usize>,
}

impl EarlyStopping {
    /// Watches `monitor`, a name [`EpochRecord::get`] knows (`val_loss`, `loss`,
    /// `val_accuracy`...).
    pub fn new(monitor: impl Into<String>) -> Self {
        EarlyStopping {
            monitor: monitor.into(),
            min_delta: 0.0,
            patience: 0,
            mode: Mode::Auto,
            baseline: None,
            restore_best_weights: false,
            start_from_epoch: 0,
            wait: 0,
            best: f32::NAN,
            best_epoch: 0,
            best_weights: None,
            stopped_epoch: None,
        }
    }
    /// The smallest change that counts as an improvement (its magnitude is used, as in Keras).
    pub fn min_delta(mut self, v: f32) -> Self {
        self.min_delta = v.abs(); // Keras takes the magnitude
        self
    }
    /// Epochs without improvement before training stops (0: stop at the first one).
    pub fn patience(mut self, epochs: usize) -> Self {
        self.patience = epochs;
        self
    }
    /// Whether smaller or larger values are better ([`Mode::Auto`] by default).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }
    /// A value the monitored figure must beat: the wait restarts only on values that beat it.
    pub fn baseline(mut self, v: f32) -> Self {
        self.baseline = Some(v);
        self
    }
    /// With `true`, the model ends training with the weights of its best epoch.
    pub fn restore_best_weights(mut self, restore: bool) -> Self {
        self.restore_best_weights = restore;
        self
    }
    /// Epochs (counted from the start of this `fit`) before improvements are watched.
    pub fn start_from_epoch(mut self, epochs: usize) -> Self {
        self.start_from_epoch = epochs;
        self
    }

    /// The epoch (1-based) in which it stopped training, if it did.
    pub fn stopped_epoch(&self) -> Option<usize> {
        self.stopped_epoch
    }

    fn maximizing(&self) -> bool {
        match self.mode {
            Mode::Max => true,
            Mode::Min => false,
            Mode::Auto => self.monitor.contains("acc") || self.monitor.starts_with("fmeasure"),
        }
    }

    /// `value` beats `reference` by more than `min_delta` in the mode's direction.
    fn improves(&self, value: f32, reference: f32) -> bool {
        if reference.is_nan() {
            return !value.is_nan(); // the first figure is the first best
        }
        if self.maximizing() {
            value - self.min_delta > reference
        } else {
            value + self.min_delta < reference
        }
    }
}

impl Callback for EarlyStopping {
    fn on_train_begin(&mut self, _ctx: &mut TrainContext) -> Result<()> {
        self.wait = 0;
        self.best = f32::NAN;
        self.best_epoch = 0;
        self.best_weights = None;
        self.stopped_epoch = None;
        Ok(())
    }

    fn on_epoch_end(&mut self, record: &EpochRecord, ctx: &mut TrainContext) -> Result<()> {
        let Some(current) = record.get(&self.monitor) else {
            return Err(Error::Config(format!(
                "EarlyStopping monitors {:?}, which the epoch's figures do not hold (loss, \
                 val_loss, lr and the metrics given to fit are)",
                self.monitor
            )));
        };
        let epoch_in_fit = ctx.history.records.len(); // this epoch included
        if epoch_in_fit <= self.start_from_epoch {
            return Ok(());
        }
        if self.restore_best_weights && self.best_weights.is_none() {
            self.best_weights = Some(ctx.model.get_weights()?);
            self.best_epoch = record.epoch;
        }
        self.wait += 1;
        if self.improves(current, self.best) {
            self.best = current;
            self.best_epoch = record.epoch;
            if self.restore_best_weights {
                self.best_weights = Some(ctx.model.get_weights()?);
            }
            if self.baseline.is_none_or(|b| self.improves(current, b)) {
                self.wait = 0;
            }
            return Ok(());
        }
        if self.wait >= self.patience && epoch_in_fit > 1 {
            self.stopped_epoch = Some(record.epoch);
            ctx.stop_training(format!(
                "EarlyStopping: {} did not improve for {} epochs (best {} in epoch {})",
                self.monitor, self.wait, self.best, self.best_epoch
            ));
        }
        Ok(())
    }

    fn on_train_end(&mut self, ctx: &mut TrainContext) -> Result<()> {
        if let Some(weights) = self.best_weights.take() {
            ctx.model.set_weights(&weights)?;
        }
        Ok(())
    }
}
