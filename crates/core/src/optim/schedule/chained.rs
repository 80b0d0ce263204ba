//! `ChainedScheduler`, as `torch.optim.lr_scheduler.ChainedScheduler`.

use super::sequential_lr::{check_parts, common_unit};
use super::{LrScheduler, ScheduleConfig, ScheduleState, StepUnit};
use crate::error::Result;
use crate::optim::Optimizer;

/// Several schedules stepped together: each step steps every schedule in order, each on
/// the rate the previous one left, so recursive schedules multiply their factors (a
/// [`ConstantLR`](super::ConstantLR) warm-up times an
/// [`ExponentialLR`](super::ExponentialLR) decay). Building builds them in order, each
/// applying its step 0 on the rate the previous one left, as PyTorch's constructors do.
/// [`ReduceLROnPlateau`](super::ReduceLROnPlateau) cannot be a part (as in PyTorch).
///
/// The unit is the schedules' common one unless set with `.stepped_per(..)`.
#[derive(Clone, Debug)]
pub struct ChainedScheduler {
    /// The schedules, stepped in this order at every step.
    pub schedules: Vec<Box<dyn ScheduleConfig>>,
    /// What one step stands for; `None`: the schedules' common unit (an error when they differ).
    pub unit: Option<StepUnit>,
}

impl ChainedScheduler {
    /// All of `schedules` stepped together (PyTorch's `ChainedScheduler(schedulers)`).
    pub fn new(schedules: Vec<Box<dyn ScheduleConfig>>) -> Self {
        ChainedScheduler {
            schedules,
            unit: None,
        }
    }
    /// Sets what one step stands for, overriding the schedules' own units.
    pub fn stepped_per(mut self, unit: StepUnit) -> Self {
        self.unit = Some(unit);
        self
    }
}

impl ScheduleConfig for ChainedScheduler {
    fn name(&self) -> &'static str {
        "ChainedScheduler"
    }
    fn unit(&self) -> StepUnit {
        common_unit(self.name(), self.unit, &self.schedules).unwrap_or_default()
    }
    fn validate(&self, optimizer: &Optimizer) -> Result<()> {
        check_parts(self.name(), &self.schedules, optimizer)?;
        common_unit(self.name(), self.unit, &self.schedules).map(|_| ())
    }
    fn build_for_group(&self, optimizer: &mut Optimizer) -> Result<Box<dyn LrScheduler>> {
        self.validate(optimizer)?;
        let mut schedules = Vec::with_capacity(self.schedules.len());
        for config in &self.schedules {
            schedules.push(config.build(optimizer)?);
        }
        Ok(Box::new(Chained {
            schedules,
            unit: self.unit(),
            base_lr: optimizer.initial_lr().unwrap_or(optimizer.lr_f64()),
            last_epoch: 0,
            last_lr: optimizer.lr_f64(),
        }))
    }
}

#[derive(Debug)]
struct Chained {
    schedules: Vec<Box<dyn LrScheduler>>,
    unit: StepUnit,
    base_lr: f64,
    /// Steps taken (PyTorch's ChainedScheduler keeps none; reported for uniformity).
    last_epoch: i64,
    last_lr: f64,
}

impl LrScheduler for Chained {
    fn name(&self) -> &'static str {
        "ChainedScheduler"
    }
    fn unit(&self) -> StepUnit {
        self.unit
    }
    fn step(&mut self, optimizer: &mut Optimizer) -> Result<()> {
        let before = self.state();
        for i in 0..self.schedules.len() {
            if let Err(e) = self.schedules[i].step(optimizer) {
                // Undo the parts that stepped: a refused step changes nothing.
                self.load_state(optimizer, &before)?;
                return Err(e);
            }
        }
        self.last_epoch += 1;
        self.last_lr = optimizer.lr_f64();
        Ok(())
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
        state.children = self.schedules.iter().map(|s| s.state()).collect();
        state
    }
    fn load_state(&mut self, optimizer: &mut Optimizer, state: &ScheduleState) -> Result<()> {
        state.check_fits(&self.state())?;
        for (schedule, saved) in self.schedules.iter_mut().zip(&state.children) {
            schedule.load_state(optimizer, saved)?;
        }
        optimizer.set_lr_f64(state.last_lr)?;
        (self.base_lr, self.last_epoch, self.last_lr) =
            (state.base_lr, state.last_epoch, state.last_lr);
        Ok(())
    }
}
