//! `CosineAnnealingLR`, as `torch.optim.lr_scheduler.CosineAnnealingLR`.

use super::recursive::Recurrence;
use super::{check, StepUnit};
use crate::error::Result;
use std::f64::consts::PI;

/// Anneals the learning rate from the base to `eta_min` along half a cosine in `t_max`
/// steps: `lr_t = eta_min + (base − eta_min) · (1 + cos(π t / t_max)) / 2`. Past
/// `t_max` it rises again along the same cosine (no restart: see
/// [`CosineAnnealingWarmRestarts`](super::CosineAnnealingWarmRestarts)).
///
/// Computed with PyTorch's recursive form,
/// `lr_t = eta_min + (lr_{t−1} − eta_min) · (1 + cos(π t / t_max)) / (1 + cos(π (t−1) / t_max))`,
/// with its special step where the denominator vanishes; it differs from the closed form
/// by f64 rounding only.
///
/// Defaults (PyTorch's): eta_min 0; stepped per epoch. PyTorch's `T_max` is `t_max`.
#[derive(Clone, Debug, PartialEq)]
pub struct CosineAnnealingLR {
    /// Steps of half a period; at least 1.
    pub t_max: usize,
    /// The lowest rate, finite and `>= 0`.
    pub eta_min: f64,
    /// What one step stands for: [`StepUnit::Epoch`] by default, as PyTorch steps it.
    pub unit: StepUnit,
}

impl CosineAnnealingLR {
    /// Half a cosine from the base rate down to 0 in `t_max` steps (PyTorch's `T_max`).
    pub fn new(t_max: usize) -> Self {
        CosineAnnealingLR {
            t_max,
            eta_min: 0.0,
            unit: StepUnit::Epoch,
        }
    }
    /// The rate at the bottom of the cosine, finite and `>= 0` (default 0).
    pub fn eta_min(mut self, eta_min: f64) -> Self {
        self.eta_min = eta_min;
        self
    }
    /// Steps the schedule once per epoch ([`StepUnit::Epoch`], the default) or after every
    /// optimizer step ([`StepUnit::Batch`]), which counts its step numbers in batches.
    pub fn stepped_per(mut self, unit: StepUnit) -> Self {
        self.unit = unit;
        self
    }
}

impl Recurrence for CosineAnnealingLR {
    const NAME: &'static str = "CosineAnnealingLR";
    fn unit(&self) -> StepUnit {
        self.unit
    }
    fn check(&self) -> Result<()> {
        check::at_least_one(Self::NAME, "t_max", self.t_max)?;
        check::non_negative("eta_min", self.eta_min)
    }
    fn next_lr(&self, lr: f64, base_lr: f64, last_epoch: i64, initial: bool) -> f64 {
        let (t_max, eta_min) = (self.t_max as i64, self.eta_min);
        let t = last_epoch as f64;
        if initial {
            lr
        } else if (last_epoch - 1 - t_max).rem_euclid(2 * t_max) == 0 {
            lr + (base_lr - eta_min) * (1.0 - (PI / t_max as f64).cos()) / 2.0
        } else {
            (1.0 + (PI * t / t_max as f64).cos()) / (1.0 + (PI * (t - 1.0) / t_max as f64).cos())
                * (lr - eta_min)
                + eta_min
        }
    }
    fn closed_form(&self, base_lr: f64, last_epoch: i64) -> f64 {
        let angle = PI * last_epoch as f64 / self.t_max as f64;
        self.eta_min + (base_lr - self.eta_min) * (1.0 + angle.cos()) / 2.0
    }
}
