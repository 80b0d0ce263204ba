//! `LinearLR`, as `torch.optim.lr_scheduler.LinearLR`: the usual warm-up.

use super::recursive::Recurrence;
use super::{check, StepUnit};
use crate::error::Result;

/// Changes the learning rate linearly from `base · start_factor` (applied when building)
/// to `base · end_factor` at step `total_iters`, then holds it:
/// `lr_t = base · (start + (end − start) · min(t, total_iters) / total_iters)`.
/// Recursive as in PyTorch (each step multiplies by the ratio of consecutive factors).
///
/// Defaults (PyTorch's): start_factor 1/3, end_factor 1.0, total_iters 5; stepped per
/// epoch (set `.stepped_per(StepUnit::Batch)` to warm up over batches).
#[derive(Clone, Debug, PartialEq)]
pub struct LinearLR {
    /// In `(0, 1]`.
    pub start_factor: f64,
    /// In `[0, 1]`.
    pub end_factor: f64,
    /// At least 1.
    pub total_iters: usize,
    /// What one step stands for: [`StepUnit::Epoch`] by default, as PyTorch steps it.
    pub unit: StepUnit,
}

impl Default for LinearLR {
    fn default() -> Self {
        LinearLR {
            start_factor: 1.0 / 3.0,
            end_factor: 1.0,
            total_iters: 5,
            unit: StepUnit::Epoch,
        }
    }
}

impl LinearLR {
    /// PyTorch's defaults: from a third of the base rate up to the base in 5 steps.
    pub fn new() -> Self {
        Self::default()
    }
    /// The factor at step 0, in `(0, 1]` (default 1/3).
    pub fn start_factor(mut self, start_factor: f64) -> Self {
        self.start_factor = start_factor;
        self
    }
    /// The factor from step `total_iters` on, in `[0, 1]` (default 1).
    pub fn end_factor(mut self, end_factor: f64) -> Self {
        self.end_factor = end_factor;
        self
    }
    /// Steps from the start factor to the end factor, at least 1 (default 5).
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

impl Recurrence for LinearLR {
    const NAME: &'static str = "LinearLR";
    fn unit(&self) -> StepUnit {
        self.unit
    }
    fn check(&self) -> Result<()> {
        check::half_open_unit("start_factor", self.start_factor)?;
        check::closed_unit("end_factor", self.end_factor)?;
        check::at_least_one(Self::NAME, "total_iters", self.total_iters)
    }
    fn next_lr(&self, lr: f64, _base_lr: f64, last_epoch: i64, initial: bool) -> f64 {
        let (start, end) = (self.start_factor, self.end_factor);
        let total = self.total_iters as i64;
        if last_epoch == 0 {
            lr * start
        } else if initial || last_epoch > total {
            lr
        } else {
            lr * (1.0
                + (end - start) / (total as f64 * start + (last_epoch - 1) as f64 * (end - start)))
        }
    }
    fn closed_form(&self, base_lr: f64, last_epoch: i64) -> f64 {
        let (start, end) = (self.start_factor, self.end_factor);
        let total = self.total_iters as i64;
        base_lr * (start + (end - start) * total.min(last_epoch) as f64 / total as f64)
    }
}
