//! The learning rate and momentum of an optimizer and of its groups: what schedules and
//! callbacks change between steps.

use super::{groups, Optimizer, OptimizerConfig, ScheduleSnapshot};
use crate::error::{Error, Result};

impl Optimizer {
    /// The group the learning-rate and momentum methods address: the one a schedule is
    /// being applied to, else group 0.
    fn target(&self) -> usize {
        self.scheduled_group.unwrap_or(0)
    }

    /// The learning rate the next update uses (group 0's).
    pub fn lr(&self) -> f32 {
        self.groups[self.target()].config.lr()
    }

    /// Sets the learning rate (validated: finite and `>= 0`); with several groups, group 0
    /// gets `lr` and every other group `lr` times its own built rate over group 0's (see
    /// [`Optimizer::set_lr_f64`]).
    pub fn set_lr(&mut self, lr: f32) -> Result<()> {
        self.set_lr_f64(f64::from(lr))
    }

    /// The learning rate as schedules read and write it: the f64 a schedule last set
    /// ([`Optimizer::set_lr_f64`]), or the f32 one widened (group 0's). Schedules that
    /// chain (each step multiplies the current rate) go through this value, so their
    /// rounding to f32 happens once per write and does not accumulate over steps.
    pub fn lr_f64(&self) -> f64 {
        self.groups[self.target()].lr
    }

    /// Sets the learning rate from an f64 (as PyTorch's schedules set `group["lr"]`): it
    /// is kept as given for [`Optimizer::lr_f64`], and the update uses it rounded to f32.
    /// Validated: finite and `>= 0`, also once rounded.
    ///
    /// With several groups, group 0 gets `lr` and group `g` gets
    /// `base_g · (lr / base_0)`, `base` being each group's rate when the optimizer was
    /// built: every group follows a manual schedule from its own rate, as PyTorch code
    /// scales each `group["lr"]` (an [`Error::Config`] if group 0 was built with rate 0;
    /// set each group with [`Optimizer::set_group_lr`] then). Schedules
    /// ([`crate::optim::schedule`]) do not go through this: they run in each group.
    pub fn set_lr_f64(&mut self, lr: f64) -> Result<()> {
        groups::check_lr(lr)?;
        if self.groups.len() == 1 || self.scheduled_group.is_some() {
            let target = self.target();
            return self.groups[target].set_lr(lr);
        }
        let base = self.groups[0].base_lr;
        if base == 0.0 {
            return Err(Error::Config(format!(
                "{}: set_lr scales every parameter group by the new rate over group 0's \
                 built rate, which is 0; set each group's rate with set_group_lr",
                self.name()
            )));
        }
        let rates: Vec<f64> = self
            .groups
            .iter()
            .enumerate()
            .map(|(g, group)| {
                if g == 0 {
                    lr
                } else {
                    group.base_lr * (lr / base)
                }
            })
            .collect();
        rates.iter().try_for_each(|&r| groups::check_lr(r))?;
        for (group, rate) in self.groups.iter_mut().zip(rates) {
            group.set_lr(rate)?;
        }
        Ok(())
    }

    /// Sets the learning rate of group `group` alone (PyTorch's
    /// `optimizer.param_groups[group]["lr"] = lr`); validated as [`Optimizer::set_lr_f64`].
    pub fn set_group_lr(&mut self, group: usize, lr: f64) -> Result<()> {
        let count = self.groups.len();
        self.groups
            .get_mut(group)
            .ok_or_else(|| {
                Error::Config(format!("there is no parameter group {group} of {count}"))
            })?
            .set_lr(lr)
    }

    /// PyTorch's `group["initial_lr"]`: the learning rate when the first schedule was
    /// attached (`OneCycleLR` sets it to `max_lr / div_factor`); `None` before any
    /// (group 0's; [`OptimizerGroup::initial_lr`](crate::optim::OptimizerGroup::initial_lr) for each group).
    pub fn initial_lr(&self) -> Option<f64> {
        self.groups[self.target()].initial_lr
    }

    pub(crate) fn set_initial_lr(&mut self, lr: f64) {
        let target = self.target();
        self.groups[target].initial_lr = Some(lr);
    }

    /// Records `lr` as the initial learning rate unless one is recorded (PyTorch's
    /// `group.setdefault("initial_lr", lr)`).
    pub(crate) fn record_initial_lr(&mut self, lr: f64) {
        let target = self.target();
        self.groups[target].initial_lr.get_or_insert(lr);
    }

    /// The group a schedule is being applied to (see `schedule::per_group`).
    pub(crate) fn scheduled_group(&self) -> Option<usize> {
        self.scheduled_group
    }

    /// Makes the learning-rate and momentum methods address `group` alone (`None`: back
    /// to the optimizer as a whole).
    pub(crate) fn schedule_group(&mut self, group: Option<usize>) {
        self.scheduled_group = group;
    }

    /// Every group's configuration, learning rate and initial rate.
    pub(crate) fn schedule_snapshot(&self) -> ScheduleSnapshot {
        ScheduleSnapshot {
            groups: self
                .groups
                .iter()
                .map(|g| (g.config.boxed_clone(), g.lr, g.initial_lr))
                .collect(),
        }
    }

    /// Puts back what [`Optimizer::schedule_snapshot`] took (and the state's layout, which
    /// a momentum change can alter only before the first step).
    pub(crate) fn restore_schedule_snapshot(&mut self, snapshot: ScheduleSnapshot) -> Result<()> {
        let names_before: Vec<Vec<&'static str>> = self
            .groups
            .iter()
            .map(|g| groups::state_names(g.config.as_ref()))
            .collect();
        for (group, (config, lr, initial_lr)) in self.groups.iter_mut().zip(snapshot.groups) {
            (group.config, group.lr, group.initial_lr) = (config, lr, initial_lr);
        }
        let changed = self
            .groups
            .iter()
            .zip(&names_before)
            .any(|(g, before)| groups::state_names(g.config.as_ref()) != *before);
        if changed && self.steps == 0 {
            self.lay_out_state()?;
        }
        Ok(())
    }

    /// The momentum a schedule may cycle: `momentum` of SGD and RMSprop, `betas.0` of
    /// Adam, AdamW, Adamax and NAdam; `None` for optimizers without one (group 0's).
    pub fn momentum(&self) -> Option<f32> {
        self.groups[self.target()].config.momentum()
    }

    /// Sets [`Optimizer::momentum`] in every group, validated like the constructor's value
    /// (SGD with Nesterov needs it `> 0`, a beta lies in `[0, 1)`).
    ///
    /// SGD and RMSprop keep a momentum buffer only while momentum is not 0. Before the
    /// first step the state is laid out again to match (PyTorch creates its buffers at
    /// the first step, so the result is the same); after it, a change that would add or
    /// drop that buffer is refused with [`Error::Config`].
    pub fn set_momentum(&mut self, momentum: f32) -> Result<()> {
        let targets = self.momentum_targets();
        let configs = targets
            .clone()
            .map(|g| self.config_with_momentum(g, momentum))
            .collect::<Result<Vec<_>>>()?;
        let mut changed = false;
        for (g, config) in targets.clone().zip(&configs) {
            let before = groups::state_names(self.groups[g].config.as_ref());
            let after = groups::state_names(config.as_ref());
            if before != after {
                if self.steps > 0 {
                    return Err(Error::Config(format!(
                        "{}: momentum {momentum} needs {} state buffers, but the optimizer \
                         has stepped with {}; a momentum crossing 0 after the first step is \
                         not supported",
                        config.name(),
                        after.len(),
                        before.len()
                    )));
                }
                changed = true;
            }
        }
        for (g, config) in targets.zip(configs) {
            self.groups[g].config = config;
        }
        if changed {
            self.lay_out_state()?;
        }
        Ok(())
    }

    /// The groups [`Optimizer::set_momentum`] changes: the scheduled one, else all.
    fn momentum_targets(&self) -> std::ops::Range<usize> {
        match self.scheduled_group {
            Some(g) => g..g + 1,
            None => 0..self.groups.len(),
        }
    }

    /// The number of state buffers the optimizer would keep with `momentum` (in the
    /// scheduled group, else in all), checked as [`Optimizer::set_momentum`] checks it;
    /// nothing changes.
    pub(crate) fn state_buffers_with_momentum(&self, momentum: f32) -> Result<usize> {
        let mut names: Vec<&'static str> = Vec::new();
        for g in self.momentum_targets() {
            for name in groups::state_names(self.config_with_momentum(g, momentum)?.as_ref()) {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        Ok(names.len())
    }

    /// A validated copy of group `group`'s configuration with `momentum` set.
    fn config_with_momentum(
        &self,
        group: usize,
        momentum: f32,
    ) -> Result<Box<dyn OptimizerConfig>> {
        let mut config = self.groups[group].config.boxed_clone();
        let Some(field) = config.momentum_mut() else {
            return Err(Error::Config(format!(
                "{} has no momentum or beta1 to set",
                self.name()
            )));
        };
        *field = momentum;
        config.validate()?;
        Ok(config)
    }
}
