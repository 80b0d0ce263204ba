//! The machinery shared by the schedules whose PyTorch `get_lr` is recursive (chainable):
//! each step computes the new rate from the optimizer's current one, so two schedules on
//! one optimizer compose, and each also has PyTorch's closed form, used when a
//! [`SequentialLR`](super::SequentialLR) starts it at a milestone.

use super::{LrScheduler, ScheduleConfig, ScheduleState, StepUnit};
use crate::error::Result;
use crate::optim::Optimizer;
use std::fmt::Debug;

/// One recursive schedule's rule: its configuration type implements this, and
/// [`ScheduleConfig`] follows.
pub(crate) trait Recurrence: Clone + Debug + Send + Sync + 'static {
    /// PyTorch's class name.
    const NAME: &'static str;
    fn unit(&self) -> StepUnit;
    /// Checks the hyperparameters.
    fn check(&self) -> Result<()>;
    /// PyTorch's `get_lr`: the rate of step `last_epoch` from the current rate `lr`;
    /// `initial` while building (PyTorch's `_is_initial`).
    fn next_lr(&self, lr: f64, base_lr: f64, last_epoch: i64, initial: bool) -> f64;
    /// PyTorch's `_get_closed_form_lr`.
    fn closed_form(&self, base_lr: f64, last_epoch: i64) -> f64;
}

impl<R: Recurrence> ScheduleConfig for R {
    fn name(&self) -> &'static str {
        R::NAME
    }
    fn unit(&self) -> StepUnit {
        Recurrence::unit(self)
    }
    fn validate(&self, _optimizer: &Optimizer) -> Result<()> {
        self.check()
    }
    fn build_for_group(&self, optimizer: &mut Optimizer) -> Result<Box<dyn LrScheduler>> {
        self.check()?;
        let base_lr = optimizer.initial_lr().unwrap_or(optimizer.lr_f64());
        let mut schedule = Recursive {
            rule: self.clone(),
            base_lr,
            last_epoch: -1,
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

/// A recursive schedule attached to an optimizer.
#[derive(Debug)]
pub(crate) struct Recursive<R> {
    rule: R,
    base_lr: f64,
    last_epoch: i64,
    last_lr: f64,
}

impl<R: Recurrence> Recursive<R> {
    /// Sets `lr` on the optimizer and, if it took it, records step `last_epoch`.
    fn apply(&mut self, optimizer: &mut Optimizer, last_epoch: i64, lr: f64) -> Result<()> {
        optimizer.set_lr_f64(lr)?;
        self.last_epoch = last_epoch;
        self.last_lr = lr;
        Ok(())
    }
}

impl<R: Recurrence> LrScheduler for Recursive<R> {
    fn name(&self) -> &'static str {
        R::NAME
    }
    fn unit(&self) -> StepUnit {
        self.rule.unit()
    }
    fn step(&mut self, optimizer: &mut Optimizer) -> Result<()> {
        let epoch = self.last_epoch + 1;
        let lr = self
            .rule
            .next_lr(optimizer.lr_f64(), self.base_lr, epoch, false);
        self.apply(optimizer, epoch, lr)
    }
    fn last_lr(&self) -> f64 {
        self.last_lr
    }
    fn last_epoch(&self) -> i64 {
        self.last_epoch
    }
    fn state(&self) -> ScheduleState {
        ScheduleState::leaf(R::NAME, self.last_epoch, self.base_lr, self.last_lr)
    }
    fn load_state(&mut self, optimizer: &mut Optimizer, state: &ScheduleState) -> Result<()> {
        state.check_fits(&self.state())?;
        optimizer.set_lr_f64(state.last_lr)?;
        self.base_lr = state.base_lr;
        self.last_epoch = state.last_epoch;
        self.last_lr = state.last_lr;
        Ok(())
    }
    fn rewind(&mut self) {
        self.last_epoch -= 1;
    }
    fn restart(&mut self, optimizer: &mut Optimizer) -> Result<()> {
        let epoch = self.last_epoch + 1;
        let lr = self
            .rule
            .next_lr(optimizer.lr_f64(), self.base_lr, epoch, true);
        self.apply(optimizer, epoch, lr)
    }
    fn start_at_milestone(&mut self, optimizer: &mut Optimizer) -> Result<()> {
        let lr = self.rule.closed_form(self.base_lr, 0);
        self.apply(optimizer, 0, lr)
    }
}
