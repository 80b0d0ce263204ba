//! `CosineAnnealingWarmRestarts`, as `torch.optim.lr_scheduler.CosineAnnealingWarmRestarts`
//! (SGDR).

use super::{check, LrScheduler, ScheduleConfig, ScheduleState, StepUnit};
use crate::error::Result;
use crate::optim::Optimizer;
use std::f64::consts::PI;

/// Cosine annealing from the base rate to `eta_min` over `t_i` steps, then a restart at
/// the base with `t_i` multiplied by `t_mult` (`t_0`, `t_0·t_mult`, `t_0·t_mult²`, ...):
/// `lr = eta_min + (base − eta_min) · (1 + cos(π · t_cur / t_i)) / 2`, with `t_cur` the
/// steps since the last restart. Not recursive (as in PyTorch): the rate follows from the
/// counters alone.
///
/// PyTorch steps it per batch with fractional epochs (`step(epoch + i / iters)`); here the
/// same schedule is `t_0` counted in batches with `.stepped_per(StepUnit::Batch)`.
///
/// Defaults (PyTorch's): t_mult 1, eta_min 0; stepped per epoch. PyTorch's `T_0`, `T_mult`
/// are `t_0`, `t_mult`.
#[derive(Clone, Debug, PartialEq)]
pub struct CosineAnnealingWarmRestarts {
    /// Steps until the first restart; at least 1.
    pub t_0: usize,
    /// Growth of the period at each restart; at least 1.
    pub t_mult: usize,
    /// The lowest rate, finite and `>= 0`.
    pub eta_min: f64,
    /// What one step stands for: [`StepUnit::Epoch`] by default, as PyTorch steps it.
    pub unit: StepUnit,
}

impl CosineAnnealingWarmRestarts {
    /// Cosines of `t_0` steps (PyTorch's `T_0`, at least 1) from the base rate to 0, each
    /// restarting at the base.
    pub fn new(t_0: usize) -> Self {
        CosineAnnealingWarmRestarts {
            t_0,
            t_mult: 1,
            eta_min: 0.0,
            unit: StepUnit::Epoch,
        }
    }
    /// The factor each restart multiplies the period by, at least 1 (default 1: equal periods).
    pub fn t_mult(mut self, t_mult: usize) -> Self {
        self.t_mult = t_mult;
        self
    }
    /// The rate at the bottom of each cosine, finite and `>= 0` (default 0).
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

impl ScheduleConfig for CosineAnnealingWarmRestarts {
    fn name(&self) -> &'static str {
        "CosineAnnealingWarmRestarts"
    }
    fn unit(&self) -> StepUnit {
        self.unit
    }
    fn validate(&self, _optimizer: &Optimizer) -> Result<()> {
        check::at_least_one(self.name(), "t_0", self.t_0)?;
        check::at_least_one(self.name(), "t_mult", self.t_mult)?;
        check::non_negative("eta_min", self.eta_min)
    }
    fn build_for_group(&self, optimizer: &mut Optimizer) -> Result<Box<dyn LrScheduler>> {
        self.validate(optimizer)?;
        let base_lr = optimizer.initial_lr().unwrap_or(optimizer.lr_f64());
        let mut schedule = WarmRestarts {
            config: self.clone(),
            base_lr,
            last_epoch: -1,
            t_cur: 0,
            t_i: self.t_0 as u64,
            last_lr: optimizer.lr_f64(),
        };
        schedule.restart(optimizer)?;
        optimizer.record_initial_lr(base_lr);
        Ok(Box::new(schedule))
    }
    fn sequenceable(&self) -> bool {
        true
    }
}

#[derive(Debug)]
struct WarmRestarts {
    config: CosineAnnealingWarmRestarts,
    base_lr: f64,
    last_epoch: i64,
    /// Steps since the last restart (PyTorch's `T_cur`).
    t_cur: u64,
    /// Steps of the current period (PyTorch's `T_i`).
    t_i: u64,
    last_lr: f64,
}

impl WarmRestarts {
    fn lr(&self, t_cur: u64, t_i: u64) -> f64 {
        let eta_min = self.config.eta_min;
        eta_min + (self.base_lr - eta_min) * (1.0 + (PI * t_cur as f64 / t_i as f64).cos()) / 2.0
    }

    /// Sets the rate of `(t_cur, t_i)` and, if the optimizer took it, records the step.
    fn apply(
        &mut self,
        optimizer: &mut Optimizer,
        last_epoch: i64,
        t_cur: u64,
        t_i: u64,
    ) -> Result<()> {
        let lr = self.lr(t_cur, t_i);
        optimizer.set_lr_f64(lr)?;
        (self.last_epoch, self.t_cur, self.t_i, self.last_lr) = (last_epoch, t_cur, t_i, lr);
        Ok(())
    }
}

impl LrScheduler for WarmRestarts {
    fn name(&self) -> &'static str {
        self.config.name()
    }
    fn unit(&self) -> StepUnit {
        self.config.unit
    }
    fn step(&mut self, optimizer: &mut Optimizer) -> Result<()> {
        if self.last_epoch < 0 {
            return self.restart(optimizer);
        }
        let (mut t_cur, mut t_i) = (self.t_cur + 1, self.t_i);
        if t_cur >= t_i {
            t_cur %= t_i;
            t_i = t_i.saturating_mul(self.config.t_mult as u64);
        }
        self.apply(optimizer, self.last_epoch + 1, t_cur, t_i)
    }
    fn last_lr(&self) -> f64 {
        self.last_lr
    }
    fn last_epoch(&self) -> i64 {
        self.last_epoch
    }
    fn state(&self) -> ScheduleState {
        let mut state =
            ScheduleState::leaf(self.name(), self.last_epoch, self.base_lr, self.last_lr);
        state.counters = vec![
            ("t_cur".into(), self.t_cur as f64),
            ("t_i".into(), self.t_i as f64),
        ];
        state
    }
    fn load_state(&mut self, optimizer: &mut Optimizer, state: &ScheduleState) -> Result<()> {
        state.check_fits(&self.state())?;
        let (t_cur, t_i) = (state.count("t_cur")?, state.count("t_i")?);
        if t_i == 0 {
            return Err(crate::error::Error::Config(format!(
                "{} state: t_i must be at least 1",
                self.name()
            )));
        }
        optimizer.set_lr_f64(state.last_lr)?;
        self.base_lr = state.base_lr;
        (self.last_epoch, self.t_cur, self.t_i, self.last_lr) =
            (state.last_epoch, t_cur, t_i, state.last_lr);
        Ok(())
    }
    fn rewind(&mut self) {
        self.last_epoch -= 1;
    }
    /// PyTorch's first step: `T_i = T_0`, `T_cur = 0`.
    fn restart(&mut self, optimizer: &mut Optimizer) -> Result<()> {
        self.apply(optimizer, 0, 0, self.config.t_0 as u64)
    }
    /// PyTorch's `_update_lr(0)`: the rate of the current counters, not reset.
    fn start_at_milestone(&mut self, optimizer: &mut Optimizer) -> Result<()> {
        self.apply(optimizer, 0, self.t_cur, self.t_i)
    }
}
