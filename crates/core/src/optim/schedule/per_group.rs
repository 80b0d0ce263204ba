//! A schedule on an optimizer with several parameter groups: one copy of the schedule per
//! group, each stepped with the optimizer addressing that group alone, so every group
//! follows the schedule from its own learning rate (PyTorch's schedulers loop over
//! `optimizer.param_groups` the same way). The schedules themselves are written for one
//! group and know nothing of this.

use super::{LrScheduler, ScheduleConfig, ScheduleState, StepUnit};
use crate::error::Result;
use crate::optim::Optimizer;

/// Builds `config` once per group of `optimizer`; on an error the optimizer is as it was.
pub(super) fn build<S: ScheduleConfig + ?Sized>(
    config: &S,
    optimizer: &mut Optimizer,
) -> Result<Box<dyn LrScheduler>> {
    let snapshot = optimizer.schedule_snapshot();
    let mut schedules = Vec::with_capacity(optimizer.groups().len());
    for group in 0..optimizer.groups().len() {
        match in_group(optimizer, group, |o| config.build_for_group(o)) {
            Ok(schedule) => schedules.push(schedule),
            Err(e) => {
                optimizer.restore_schedule_snapshot(snapshot)?;
                return Err(e);
            }
        }
    }
    Ok(Box::new(PerGroup { schedules }))
}

/// Runs `f` with the optimizer's learning-rate and momentum methods addressing `group`.
fn in_group<T>(
    optimizer: &mut Optimizer,
    group: usize,
    f: impl FnOnce(&mut Optimizer) -> Result<T>,
) -> Result<T> {
    optimizer.schedule_group(Some(group));
    let result = f(optimizer);
    optimizer.schedule_group(None);
    result
}

/// `schedules[g]` drives group `g`.
#[derive(Debug)]
struct PerGroup {
    schedules: Vec<Box<dyn LrScheduler>>,
}

impl PerGroup {
    /// Runs `f` on every group's schedule in turn; if one fails, the ones before it and
    /// the optimizer are put back as they were (the failing one changed nothing).
    fn each(
        &mut self,
        optimizer: &mut Optimizer,
        mut f: impl FnMut(usize, &mut dyn LrScheduler, &mut Optimizer) -> Result<()>,
    ) -> Result<()> {
        let before: Vec<ScheduleState> = self.schedules.iter().map(|s| s.state()).collect();
        let snapshot = optimizer.schedule_snapshot();
        for group in 0..self.schedules.len() {
            let schedule = self.schedules[group].as_mut();
            if let Err(e) = in_group(optimizer, group, |o| f(group, schedule, o)) {
                for (k, saved) in before.iter().enumerate().take(group) {
                    let schedule = self.schedules[k].as_mut();
                    in_group(optimizer, k, |o| schedule.load_state(o, saved))?;
                }
                optimizer.restore_schedule_snapshot(snapshot)?;
                return Err(e);
            }
        }
        Ok(())
    }
}

impl LrScheduler for PerGroup {
    fn name(&self) -> &'static str {
        self.schedules[0].name()
    }
    fn unit(&self) -> StepUnit {
        self.schedules[0].unit()
    }
    fn step(&mut self, optimizer: &mut Optimizer) -> Result<()> {
        self.each(optimizer, |_, s, o| s.step(o))
    }
    fn step_with_metric(&mut self, optimizer: &mut Optimizer, metric: f32) -> Result<()> {
        self.each(optimizer, |_, s, o| s.step_with_metric(o, metric))
    }
    fn monitors_metric(&self) -> bool {
        self.schedules[0].monitors_metric()
    }
    fn last_lr(&self) -> f64 {
        self.schedules[0].last_lr()
    }
    fn last_lrs(&self) -> Vec<f64> {
        self.schedules.iter().map(|s| s.last_lr()).collect()
    }
    fn last_epoch(&self) -> i64 {
        self.schedules[0].last_epoch()
    }
    /// Group 0's progress at the top, every group's state as a child, and the number of
    /// groups as the counter `param_groups`.
    fn state(&self) -> ScheduleState {
        let first = self.schedules[0].state();
        let mut state =
            ScheduleState::leaf(&first.name, first.last_epoch, first.base_lr, first.last_lr);
        state.counters = vec![("param_groups".into(), self.schedules.len() as f64)];
        state.children = self.schedules.iter().map(|s| s.state()).collect();
        state
    }
    fn load_state(&mut self, optimizer: &mut Optimizer, state: &ScheduleState) -> Result<()> {
        state.check_fits(&self.state())?;
        self.each(optimizer, |group, s, o| {
            s.load_state(o, &state.children[group])
        })
    }
}
