//! `ModelCheckpoint`: save the model (or the whole training run) after epochs.

use crate::checkpoint::{Checkpoint, TrainingState};
use crate::error::{Error, Result};
use crate::train::callback::{Callback, TrainContext};
use crate::train::callbacks::Mode;
use crate::train::history::EpochRecord;
use std::path::PathBuf;

/// Keras' `ModelCheckpoint`: after each epoch (or only when `monitor` improved, with
/// `save_best_only`), writes a training checkpoint to `path`, atomically. `{epoch}` in
/// the path is replaced by the epoch number (`run-{epoch}.safetensors`).
///
/// By default the file is a whole [`Checkpoint`]: parameters, optimizer state and step
/// counts, schedule state, epoch, shuffle seed and history, which `FitConfig::resume_from`
/// continues bit for bit. With `save_weights_only` it holds the parameters alone
/// (`Sequential::load_weights` reads it).
#[derive(Clone, Debug)]
pub struct ModelCheckpoint {
    path: String,
    monitor: String,
    mode: Mode,
    save_best_only: bool,
    save_weights_only: bool,
    best: Option<f32>,
}

impl ModelCheckpoint {
    /// Saves to `path` after every epoch (`{epoch}` in it becomes the epoch number): a whole
    /// checkpoint, monitoring `val_loss` in [`Mode::Auto`] when `save_best_only` is set.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ModelCheckpoint {
            path: path.into().to_string_lossy().into_owned(),
            monitor: "val_loss".into(),
            mode: Mode::Auto,
            save_best_only: false,
            save_weights_only: false,
            best: None,
        }
    }
    /// The figure `save_best_only` compares (default `val_loss`).
    pub fn monitor(mut self, name: impl Into<String>) -> Self {
        self.monitor = name.into();
        self
    }
    /// Whether smaller or larger values of the monitored figure are better ([`Mode::Auto`]
    /// by default: larger for names with `acc`).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }
    /// Save only epochs whose monitored figure beats every earlier one.
    pub fn save_best_only(mut self, yes: bool) -> Self {
        self.save_best_only = yes;
        self
    }
    /// Save the parameters only (a weights file), not the training state.
    pub fn save_weights_only(mut self, yes: bool) -> Self {
        self.save_weights_only = yes;
        self
    }

    fn maximizing(&self) -> bool {
        match self.mode {
            Mode::Max => true,
            Mode::Min => false,
            Mode::Auto => self.monitor.contains("acc"),
        }
    }
}

impl Callback for ModelCheckpoint {
    fn on_train_begin(&mut self, _ctx: &mut TrainContext) -> Result<()> {
        self.best = None;
        Ok(())
    }

    fn on_epoch_end(&mut self, record: &EpochRecord, ctx: &mut TrainContext) -> Result<()> {
        if self.save_best_only {
            let Some(value) = record.get(&self.monitor) else {
                return Err(Error::Config(format!(
                    "ModelCheckpoint monitors {:?}, which the epoch's figures do not hold",
                    self.monitor
                )));
            };
            let better = match self.best {
                None => !value.is_nan(),
                Some(best) if self.maximizing() => value > best,
                Some(best) => value < best,
            };
            if !better {
                return Ok(());
            }
            self.best = Some(value);
        }
        let path = self.path.replace("{epoch}", &record.epoch.to_string());
        if self.save_weights_only {
            return ctx.model.save_weights(&path);
        }
        let schedule = ctx
            .schedule
            .map(|s| serde_json::to_value(s.state()))
            .transpose()
            .map_err(|e| Error::Config(format!("the schedule state does not serialise: {e}")))?;
        let training = TrainingState {
            epoch: record.epoch,
            shuffle_seed: ctx.shuffle_seed,
            schedule,
            history: ctx.history.clone(),
            extra: Default::default(),
        };
        Checkpoint::capture(ctx.model, ctx.optimizer, training)?.save(&path)
    }
}
