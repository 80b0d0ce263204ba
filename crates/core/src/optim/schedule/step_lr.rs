//! `StepLR`, as `torch.optim.lr_scheduler.StepLR`.

use super::recursive::Recurrence;
use super::{check, StepUnit};
use crate::error::Result;

/// Multiplies the learning rate by `gamma` every `step_size` steps:
/// `lr_t = base · gamma^⌊t / step_size⌋`, computed recursively as PyTorch does (the rate
/// is multiplied at each multiple of `step_size`, so another schedule may change it in
/// between).
///
/// Defaults (PyTorch's): gamma 0.1; stepped per epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct StepLR {
    /// Period of the decay in steps (PyTorch's `step_size`); at least 1.
    pub step_size: usize,
    /// Multiplicative factor, finite and `> 0`.
    pub gamma: f64,
    /// What one step stands for: [`StepUnit::Epoch`] by default, as PyTorch steps it.
    pub unit: StepUnit,
}

impl StepLR {
    /// The rate times 0.1 every `step_size` steps (at least 1).
    pub fn new(step_size: usize) -> Self {
        StepLR {
            step_size,
            gamma: 0.1,
            unit: StepUnit::Epoch,
        }
    }
    /// The factor every `step_size` steps, finite and `> 0` (default 0.1).
    pub fn gamma(mut self, gamma: f64) -> Self {
        self.gamma = gamma;
        self
    }
    /// Steps the schedule once per epoch ([`StepUnit::Epoch`], the default) or after every
    /// optimizer step ([`StepUnit::Batch`]), which counts its step numbers in batches.
    pub fn stepped_per(mut self, unit: StepUnit) -> Self {
        self.unit = unit;
        self
    }
}

impl Recurrence for StepLR {
    const NAME: &'static str = "StepLR";
    fn unit(&self) -> StepUnit {
        self.unit
    }
    fn check(&self) -> Result<()> {
        check::at_least_one(Self::NAME, "step_size", self.step_size)?;
        check::positive("gamma", self.gamma)
    }
    fn next_lr(&self, lr: f64, _base_lr: f64, last_epoch: i64, _initial: bool) -> f64 {
        if last_epoch == 0 || last_epoch % self.step_size as i64 != 0 {
            lr
        } else {
            lr * self.gamma
        }
    }
    fn closed_form(&self, base_lr: f64, last_epoch: i64) -> f64 {
        base_lr * self.gamma.powf((last_epoch / self.step_size as i64) as f64)
    }
}
