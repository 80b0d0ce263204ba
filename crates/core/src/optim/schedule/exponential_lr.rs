//! `ExponentialLR`, as `torch.optim.lr_scheduler.ExponentialLR`.

use super::recursive::Recurrence;
use super::{check, StepUnit};
use crate::error::Result;

/// Multiplies the learning rate by `gamma` every step: `lr_t = base · gamma^t`, computed
/// recursively as PyTorch does.
///
/// Defaults: none for gamma (PyTorch requires it too); stepped per epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct ExponentialLR {
    /// Multiplicative factor, finite and `> 0`.
    pub gamma: f64,
    /// What one step stands for: [`StepUnit::Epoch`] by default, as PyTorch steps it.
    pub unit: StepUnit,
}

impl ExponentialLR {
    /// The rate times `gamma` at every step (`gamma` finite and `> 0`; below 1 it decays).
    pub fn new(gamma: f64) -> Self {
        ExponentialLR {
            gamma,
            unit: StepUnit::Epoch,
        }
    }
    /// Steps the schedule once per epoch ([`StepUnit::Epoch`], the default) or after every
    /// optimizer step ([`StepUnit::Batch`]), which counts its step numbers in batches.
    pub fn stepped_per(mut self, unit: StepUnit) -> Self {
        self.unit = unit;
        self
    }
}

impl Recurrence for ExponentialLR {
    const NAME: &'static str = "ExponentialLR";
    fn unit(&self) -> StepUnit {
        self.unit
    }
    fn check(&self) -> Result<()> {
        check::positive("gamma", self.gamma)
    }
    fn next_lr(&self, lr: f64, _base_lr: f64, _last_epoch: i64, initial: bool) -> f64 {
        if initial {
            lr
        } else {
            lr * self.gamma
        }
    }
    fn closed_form(&self, base_lr: f64, last_epoch: i64) -> f64 {
        base_lr * self.gamma.powf(last_epoch as f64)
    }
}
