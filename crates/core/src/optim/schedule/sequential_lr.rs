//! `SequentialLR`, as `torch.optim.lr_scheduler.SequentialLR`.

use super::{check, LrScheduler, ScheduleConfig, ScheduleState, StepUnit};
use crate::error::{Error, Result};
use crate::optim::Optimizer;

/// Schedules one after another: schedule `i` runs from milestone `i − 1` (step 0 for the
/// first) until milestone `i`. At its milestone a schedule starts over from its base
/// learning rate (PyTorch's closed form at step 0); in between it steps as usual.
///
/// As in PyTorch: building builds every schedule in order (each applies its step 0), sets
/// the rate back to the optimizer's initial one and applies the first schedule's step 0
/// again. [`ReduceLROnPlateau`](super::ReduceLROnPlateau) cannot be a part (PyTorch
/// refuses it too), nor can a `SequentialLR` or a `ChainedScheduler` (PyTorch fails on
/// them at a milestone); put a `SequentialLR` inside a
/// [`ChainedScheduler`](super::ChainedScheduler) instead.
///
/// The unit is the schedules' common one unless set with `.stepped_per(..)`.
#[derive(Clone, Debug)]
pub struct SequentialLR {
    /// The schedules, run one after another.
    pub schedules: Vec<Box<dyn ScheduleConfig>>,
    /// `schedules.len() − 1` step numbers, non-decreasing.
    pub milestones: Vec<usize>,
    /// What one step stands for; `None`: the schedules' common unit (an error when they differ).
    pub unit: Option<StepUnit>,
}

impl SequentialLR {
    /// `schedules` one after another, switching at `milestones` (one fewer than the
    /// schedules; PyTorch's `SequentialLR(optimizer, schedulers, milestones)`).
    pub fn new(schedules: Vec<Box<dyn ScheduleConfig>>, milestones: impl Into<Vec<usize>>) -> Self {
        SequentialLR {
            schedules,
            milestones: milestones.into(),
            unit: None,
        }
    }
    /// Sets what one step stands for, overriding the schedules' own units.
    pub fn stepped_per(mut self, unit: StepUnit) -> Self {
        self.unit = Some(unit);
        self
    }
}

/// The unit of a composite: `unit` if set, else the schedules' common one.
pub(super) fn common_unit(
    name: &str,
    unit: Option<StepUnit>,
    schedules: &[Box<dyn ScheduleConfig>],
) -> Result<StepUnit> {
    if let Some(unit) = unit {
        return Ok(unit);
    }
    let first = schedules.first().map_or(StepUnit::Epoch, |s| s.unit());
    match schedules.iter().find(|s| s.unit() != first) {
        None => Ok(first),
        Some(other) => Err(Error::Config(format!(
            "{name}: its schedules step per {first:?} and per {:?} ({}); set the unit with \
             .stepped_per(..)",
            other.unit(),
            other.name()
        ))),
    }
}

/// Checks shared by the composites: at least one schedule, none on a metric, each valid.
pub(super) fn check_parts(
    name: &str,
    schedules: &[Box<dyn ScheduleConfig>],
    optimizer: &Optimizer,
) -> Result<()> {
    if schedules.is_empty() {
        return Err(Error::Config(format!("{name} needs at least one schedule")));
    }
    for (i, s) in schedules.iter().enumerate() {
        if s.monitors_metric() {
            return Err(Error::Config(format!(
                "{name} cannot hold {} (schedule {i}): it steps on a metric",
                s.name()
            )));
        }
        s.validate(optimizer)?;
    }
    Ok(())
}

impl ScheduleConfig for SequentialLR {
    fn name(&self) -> &'static str {
        "SequentialLR"
    }
    fn unit(&self) -> StepUnit {
        common_unit(self.name(), self.unit, &self.schedules).unwrap_or_default()
    }
    fn validate(&self, optimizer: &Optimizer) -> Result<()> {
        check_parts(self.name(), &self.schedules, optimizer)?;
        if let Some((i, s)) = self
            .schedules
            .iter()
            .enumerate()
            .find(|(_, s)| !s.sequenceable())
        {
            return Err(Error::Config(format!(
                "SequentialLR cannot hold {} (schedule {i}); put the SequentialLR inside a \
                 ChainedScheduler instead",
                s.name()
            )));
        }
        if self.milestones.len() + 1 != self.schedules.len() {
            return Err(Error::Config(format!(
                "SequentialLR: {} schedules need {} milestones, got {}",
                self.schedules.len(),
                self.schedules.len() - 1,
                self.milestones.len()
            )));
        }
        check::sorted(self.name(), &self.milestones)?;
        common_unit(self.name(), self.unit, &self.schedules).map(|_| ())
    }
    fn build_for_group(&self, optimizer: &mut Optimizer) -> Result<Box<dyn LrScheduler>> {
        self.validate(optimizer)?;
        let mut schedules = Vec::with_capacity(self.schedules.len());
        for config in &self.schedules {
            schedules.push(config.build(optimizer)?);
        }
        let initial_lr = optimizer.initial_lr().unwrap_or(optimizer.lr_f64());
        optimizer.set_lr_f64(initial_lr)?;
        schedules.iter_mut().for_each(|s| s.rewind());
        schedules[0].restart(optimizer)?;
        Ok(Box::new(Sequential {
            last_lr: schedules[0].last_lr(),
            unit: self.unit(),
            milestones: self.milestones.clone(),
            schedules,
            base_lr: initial_lr,
            last_epoch: 0,
        }))
    }
}

#[derive(Debug)]
struct Sequential {
    schedules: Vec<Box<dyn LrScheduler>>,
    milestones: Vec<usize>,
    unit: StepUnit,
    base_lr: f64,
    last_epoch: i64,
    last_lr: f64,
}

impl LrScheduler for Sequential {
    fn name(&self) -> &'static str {
        "SequentialLR"
    }
    fn unit(&self) -> StepUnit {
        self.unit
    }
    fn step(&mut self, optimizer: &mut Optimizer) -> Result<()> {
        let epoch = self.last_epoch + 1;
        let index = self.milestones.partition_point(|&m| m as i64 <= epoch);
        let schedule = &mut self.schedules[index];
        if index > 0 && self.milestones[index - 1] as i64 == epoch {
            schedule.start_at_milestone(optimizer)?;
        } else {
            schedule.step(optimizer)?;
        }
        self.last_lr = schedule.last_lr();
        self.last_epoch = epoch;
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
