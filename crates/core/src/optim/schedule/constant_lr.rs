//! `ConstantLR`, as `torch.optim.lr_scheduler.ConstantLR`.

use super::recursive::Recurrence;
use super::{check, StepUnit};
use crate::error::Result;

/// Multiplies the learning rate by `factor` for the first `total_iters` steps, then
/// restores it: `lr_t = base · factor` for `t < total_iters`, `base` after. Recursive as
/// in PyTorch (it divides by `factor` at step `total_iters`).
///
/// Defaults (PyTorch's): factor 1/3, total_iters 5; stepped per epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct ConstantLR {
    /// In `(0, 1]` (PyTorch also accepts 0, then divides by it at `total_iters`).
    pub factor: f64,
    /// At least 1.
    pub total_iters: usize,
    /// What one step stands for: [`StepUnit::Epoch`] by default, as PyTorch steps it.
    pub unit: StepUnit,
}

impl Default for ConstantLR {
    fn default() -> Self {
        ConstantLR {
            factor: 1.0 / 3.0,
            total_iters: 5,
            unit: StepUnit::Epoch,
        }
    }
}

impl ConstantLR {
    /// PyTorch's defaults: the rate times 1/3 for the first 5 steps.
    pub fn new() -> Self {
        Self::default()
    }
    /// The factor the rate is multiplied by until `total_iters`, in `(0, 1]` (default 1/3).
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = factor;
        self
    }
    /// Steps during which the factor applies, at least 1 (default 5).
    pub fn total_iters(mut self, total_iters: usize) -> Self {
        self.total_iters = total_iters;
        self
    }
    /// Steps the schedule once per epoch ([`StepUnit::Epoch`], the default) or after every
    /// optimizer step ([`StepUnit::Batch`]), which counts its step numbers in batches.
    pub fn stepped_per(mut self, unit: StepUnit) -> Self {
        self.unit = unit;
        self
    }
}

impl Recurrence for ConstantLR {
    const NAME: &'static str = "ConstantLR";
    fn unit(&self) -> StepUnit {
        self.unit
    }
    fn check(&self) -> Result<()> {
        check::half_open_unit("factor", self.factor)?;
        check::at_least_one(Self::NAME, "total_iters", self.total_iters)
    }
    fn next_lr(&self, lr: f64, _base_lr: f64, last_epoch: i64, _initial: bool) -> f64 {
        if last_epoch == 0 {
            lr * self.factor
        } else if last_epoch != self.total_iters as i64 {
            lr
        } else {
            lr * (1.0 / self.factor)
        }
    }
    fn closed_form(&self, base_lr: f64, last_epoch: i64) -> f64 {
        let done = f64::from(u8::from(last_epoch >= self.total_iters as i64));
        base_lr * (self.factor + done * (1.0 - self.factor))
    }
}
