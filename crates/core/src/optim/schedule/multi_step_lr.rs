//! `MultiStepLR`, as `torch.optim.lr_scheduler.MultiStepLR`.

use super::recursive::Recurrence;
use super::{check, StepUnit};
use crate::error::Result;

/// Multiplies the learning rate by `gamma` at each milestone:
/// `lr_t = base · gamma^(number of milestones <= t)`, computed recursively as PyTorch
/// does. A milestone listed twice multiplies by `gamma²` (PyTorch counts them).
///
/// Defaults (PyTorch's): gamma 0.1; stepped per epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct MultiStepLR {
    /// Step numbers, in non-decreasing order.
    pub milestones: Vec<usize>,
    /// Multiplicative factor, finite and `> 0`.
    pub gamma: f64,
    /// What one step stands for: [`StepUnit::Epoch`] by default, as PyTorch steps it.
    pub unit: StepUnit,
}

impl MultiStepLR {
    /// The rate times 0.1 at each of `milestones` (step numbers, in non-decreasing order).
    pub fn new(milestones: impl Into<Vec<usize>>) -> Self {
        MultiStepLR {
            milestones: milestones.into(),
            gamma: 0.1,
            unit: StepUnit::Epoch,
        }
    }
    /// The factor at each milestone, finite and `> 0` (default 0.1).
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

impl Recurrence for MultiStepLR {
    const NAME: &'static str = "MultiStepLR";
    fn unit(&self) -> StepUnit {
        self.unit
    }
    fn check(&self) -> Result<()> {
        check::sorted(Self::NAME, &self.milestones)?;
        check::positive("gamma", self.gamma)
    }
    fn next_lr(&self, lr: f64, _base_lr: f64, last_epoch: i64, _initial: bool) -> f64 {
        let hits = self
            .milestones
            .iter()
            .filter(|&&m| m as i64 == last_epoch)
            .count();
        if hits == 0 {
            lr
        } else {
            lr * self.gamma.powf(hits as f64)
        }
    }
    fn closed_form(&self, base_lr: f64, last_epoch: i64) -> f64 {
        let passed = self.milestones.partition_point(|&m| m as i64 <= last_epoch);
        base_lr * self.gamma.powf(passed as f64)
    }
}
