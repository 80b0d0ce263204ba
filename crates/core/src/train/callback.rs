//! Callbacks: code `fit` runs at the start and end of training, of each epoch and of each
//! batch, as Keras' `callbacks=[...]` does. A callback reads the logs, the model and the
//! optimizer, may change the learning rate, and may stop training.
//!
//! Batch hooks get the batch's position but no loss: reading a loss back each step would
//! cost a GPU a host round trip per step; the epoch's figures come with `on_epoch_end`.

use super::history::{EpochRecord, History};
use crate::error::Result;
use crate::nn::Sequential;
use crate::optim::schedule::LrScheduler;
use crate::optim::Optimizer;
use std::fmt::Debug;

/// Where a batch is: its epoch (1-based), its index in the epoch (1-based) of `batches`,
/// and the optimizer step it takes (or took), counting every step the optimizer made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchInfo {
    /// The epoch, 1-based, counting the model's earlier `fit` calls (or from
    /// `FitConfig::initial_epoch`).
    pub epoch: usize,
    /// The batch's index in the epoch, 1-based.
    pub batch: usize,
    /// The number of batches in the epoch.
    pub batches: usize,
    /// The optimizer step this batch takes, 1-based, counting every step the optimizer made.
    pub step: u64,
}

/// What a callback sees and may change.
pub struct TrainContext<'a> {
    /// The model being trained.
    pub model: &'a Sequential,
    /// The optimizer `fit` steps (its learning rate may be changed, see
    /// [`TrainContext::set_lr`]).
    pub optimizer: &'a mut Optimizer,
    /// The epochs recorded so far in this `fit` call (in `on_epoch_end`, the current one
    /// included, with its time).
    pub history: &'a History,
    /// The seed this `fit` shuffles from (a checkpoint records it to resume the shuffle).
    pub shuffle_seed: u64,
    /// The learning-rate schedule `fit` steps, if any (a checkpoint records its state).
    pub schedule: Option<&'a dyn LrScheduler>,
    pub(super) stop: &'a mut Option<String>,
}

impl TrainContext<'_> {
    /// Ends training after the current batch, recording `reason` in
    /// `History::stop_reason` (Keras' `model.stop_training = True`).
    pub fn stop_training(&mut self, reason: impl Into<String>) {
        if self.stop.is_none() {
            *self.stop = Some(reason.into());
        }
    }

    /// Whether a callback has asked to stop.
    pub fn stopping(&self) -> bool {
        self.stop.is_some()
    }

    /// The optimizer's current learning rate.
    pub fn lr(&self) -> f32 {
        self.optimizer.lr()
    }

    /// Sets the learning rate from the next step on (validated like the optimizer's own).
    pub fn set_lr(&mut self, lr: f32) -> Result<()> {
        self.optimizer.set_lr(lr)
    }
}

/// What `fit` does when a step's loss or gradient turns non-finite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnDivergence {
    /// Return `Error::Diverged` (the default).
    Fail,
    /// End training and return the history so far, as Keras' `TerminateOnNaN` does.
    Stop,
}

/// A hook into `fit`. Every method does nothing by default; implement the ones you need.
pub trait Callback: CallbackClone + Debug + Send {
    /// Once, before the first epoch of a `fit` call (reset per-run state here).
    fn on_train_begin(&mut self, _ctx: &mut TrainContext) -> Result<()> {
        Ok(())
    }
    /// Before epoch `epoch` (1-based) starts.
    fn on_epoch_begin(&mut self, _epoch: usize, _ctx: &mut TrainContext) -> Result<()> {
        Ok(())
    }
    /// Before the batch's forward pass.
    fn on_batch_begin(&mut self, _batch: &BatchInfo, _ctx: &mut TrainContext) -> Result<()> {
        Ok(())
    }
    /// After the batch's optimizer step.
    fn on_batch_end(&mut self, _batch: &BatchInfo, _ctx: &mut TrainContext) -> Result<()> {
        Ok(())
    }
    /// After the epoch, with its figures (validation included).
    fn on_epoch_end(&mut self, _record: &EpochRecord, _ctx: &mut TrainContext) -> Result<()> {
        Ok(())
    }
    /// Once at the end of training: after the last epoch, after a callback stopped it, or
    /// after a divergence a callback turned into a stop ([`OnDivergence::Stop`]); not when
    /// `fit` returns an error.
    fn on_train_end(&mut self, _ctx: &mut TrainContext) -> Result<()> {
        Ok(())
    }
    /// Asked when training diverges; `Stop` from any callback ends training quietly.
    fn on_divergence(&mut self, _reason: &str) -> OnDivergence {
        OnDivergence::Fail
    }
}

/// Cloning a callback behind `dyn Callback` (any `Clone` callback has it), so a
/// `FitConfig` holding callbacks stays `Clone`.
pub trait CallbackClone {
    /// A boxed copy of this callback.
    fn clone_box(&self) -> Box<dyn Callback>;
}

impl<T: Callback + Clone + 'static> CallbackClone for T {
    fn clone_box(&self) -> Box<dyn Callback> {
        Box::new(self.clone())
    }
}

impl Clone for Box<dyn Callback> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}
