//! Learning-rate schedules, as `torch.optim.lr_scheduler`: the same names, defaults,
//! formulas and stepping semantics.
//!
//! | schedule | one step means | the learning rate |
//! |---|---|---|
//! | [`StepLR`] | an epoch | `× gamma` every `step_size` steps |
//! | [`MultiStepLR`] | an epoch | `× gamma` at each milestone |
//! | [`ConstantLR`] | an epoch | `× factor` until `total_iters`, then the base again |
//! | [`LinearLR`] | an epoch | from `base · start_factor` to `base · end_factor` in `total_iters` steps (warm-up) |
//! | [`ExponentialLR`] | an epoch | `× gamma` every step |
//! | [`CosineAnnealingLR`] | an epoch | half a cosine from the base to `eta_min` in `t_max` steps |
//! | [`CosineAnnealingWarmRestarts`] | an epoch | cosines of `t_0`, `t_0·t_mult`, ... steps, each restarting at the base |
//! | [`OneCycleLR`] | a batch | up from `max_lr / div_factor` to `max_lr`, then down to `initial / final_div_factor`; momentum the other way |
//! | [`ReduceLROnPlateau`] | an epoch, with a metric | `× factor` when the metric stops improving for `patience` steps |
//! | [`SequentialLR`] | its schedules' | one schedule after another, switching at milestones |
//! | [`ChainedScheduler`] | its schedules' | all schedules every step, their factors multiplied |
//!
//! # Use
//!
//! A schedule is a configuration (its hyperparameters, with PyTorch's defaults, checked
//! by [`ScheduleConfig::build`]) and, once built on an [`Optimizer`], an
//! [`LrScheduler`] that owns the progress. Building applies the value of step 0 at once,
//! as PyTorch's constructors do (`LinearLR` starts at `base · start_factor`). Then, as in
//! PyTorch, step the optimizer first and the schedule after it:
//!
//! ```
//! use downhill_core::{CosineAnnealingLR, Device, LinearLR, LrScheduler, OptimizerConfig,
//!     Result, ScheduleConfig, SequentialLR, Sgd};
//!
//! /// Five epochs of linear warm-up from a tenth of the rate, then a cosine over 95.
//! fn train(device: &Device) -> Result<()> {
//!     let theta = device.scalar(0.0)?.param();
//!     let mut optimizer = Sgd::new(0.1).momentum(0.5).build(&[&theta])?;
//!     let mut schedule = SequentialLR::new(
//!         vec![
//!             Box::new(LinearLR::new().start_factor(0.1)),
//!             Box::new(CosineAnnealingLR::new(95)),
//!         ],
//!         vec![5],
//!     )
//!     .build(&mut optimizer)?;
//!     assert_eq!(optimizer.lr(), 0.01); // step 0 is applied when building
//!     for _epoch in 0..100 {
//!         let loss = (&theta - 3.0)?.square()?.mean()?;
//!         optimizer.step(&loss.backward()?)?;
//!         schedule.step(&mut optimizer)?;
//!     }
//!     Ok(())
//! }
//! ```
//!
//! (`downhill-core` has no backend, so this example is compiled here and run in the
//! `downhill` crate's documentation, on the CPU backend.)
//!
//! # Driving a schedule from a training loop (what `fit` calls)
//!
//! 1. After the optimizer exists and before its first step:
//!    `let mut schedule = config.build(&mut optimizer)?;` (applies step 0).
//! 2. When [`LrScheduler::unit`] is [`StepUnit::Batch`]: after every `optimizer.step(..)`,
//!    `schedule.step(&mut optimizer)?`.
//! 3. When it is [`StepUnit::Epoch`]: once at the end of every epoch, after validation:
//!    `schedule.step_with_metric(&mut optimizer, monitored)?` when
//!    [`LrScheduler::monitors_metric`] (ReduceLROnPlateau; `monitored` is e.g. the
//!    validation loss), else `schedule.step(&mut optimizer)?`.
//! 4. The learning rate an epoch trained with is `optimizer.lr()` read before its first
//!    update (for an epoch schedule, every update of the epoch used it; for a batch
//!    schedule, the first one did).
//!
//! A step that fails (a rate that overflowed f32, `OneCycleLR` stepped past
//! `total_steps`) leaves the schedule and the optimizer as they were.
//!
//! # Checkpoints
//!
//! [`LrScheduler::state`] exports the progress as a [`ScheduleState`] (plain data,
//! serde-serialisable; NaN and infinities survive JSON). To resume: restore the optimizer,
//! build the schedule from the same configuration on it, then
//! [`LrScheduler::load_state`]: the schedule continues exactly where the saved one was,
//! and the optimizer's learning rate (f64) and cycled momentum are set back to their
//! values at the save. Hyperparameters are not in the state: they come from the
//! configuration.
//!
//! # Numerics
//!
//! Schedules compute in f64, as PyTorch does (its learning rates are Python floats), and
//! write the result with [`Optimizer::set_lr_f64`]: the optimizer keeps that f64 for the
//! next schedule step and updates with it rounded to f32. Where PyTorch's `get_lr` is
//! recursive (chainable: the new rate from the optimizer's current one), so is ours, so
//! composition through the optimizer works as in PyTorch; the recursive and closed forms
//! differ only by f64 rounding (`tests/schedules.rs` bounds it). The optimizer's own
//! learning rate is an f32 (`Sgd::new(0.1)` holds 0.1f32), so a base rate differs from
//! PyTorch's decimal by up to half an f32 ulp; [`Optimizer::set_lr_f64`] before building
//! removes even that.
//!
//! Where downhill differs from PyTorch, and why:
//! - arguments PyTorch accepts but cannot use are refused when building
//!   ([`Error::Hyperparameter`] for a number out of range, [`Error::Config`] otherwise):
//!   `step_size`, `t_max` or `LinearLR`'s `total_iters` of 0 (PyTorch divides by zero),
//!   `ConstantLR`'s `total_iters` of 0 (its recursive and closed forms disagree) or
//!   factor 0 (PyTorch multiplies by `1/0`), a negative `eta_min`, `min_lr`,
//!   `threshold` or plateau `factor`, unsorted milestones; a `OneCycleLR` phase of no
//!   steps is an [`Error::Config`] where PyTorch raises `ZeroDivisionError`;
//! - PyTorch's `last_epoch` constructor argument and deprecated `step(epoch)` are not
//!   offered: resuming goes through [`LrScheduler::load_state`], and stepping
//!   `CosineAnnealingWarmRestarts` per batch (PyTorch's `step(epoch + i / iters)`) is
//!   the same schedule with `t_0` counted in batches and [`StepUnit::Batch`];
//! - `OneCycleLR` with `anneal_strategy` linear holds `min_lr` at its one step past the end
//!   (`last_epoch == total_steps`, a rate no update uses when the schedule is stepped
//!   after each of `total_steps` updates); PyTorch extrapolates there, to a negative rate
//!   for the defaults, which downhill's optimizers refuse;
//! - `OneCycleLR`'s momentum cycling on SGD or RMSprop built with momentum 0 lays out the
//!   momentum buffer when the schedule is built, before the first step (as PyTorch's
//!   lazily created buffer); after the first step that is refused, as is a cycle through
//!   momentum 0 (`base_momentum` 0), which would drop and re-create the buffer;
//! - a `SequentialLR` holds no `SequentialLR` or `ChainedScheduler` (PyTorch fails on one
//!   at a milestone and restarts one oddly at step 0); the other nesting works;
//! - `ChainedScheduler` counts its steps in [`LrScheduler::last_epoch`] (PyTorch's keeps
//!   none);
//!
//! # Parameter groups
//!
//! On an optimizer with several [`ParamGroup`](crate::optim::ParamGroup)s, as in PyTorch,
//! every group follows the schedule from its own learning rate: each group has its own
//! base rate (`initial_lr`), its own rate (`group["lr"]`, which recursive schedules
//! multiply) and, for `OneCycleLR`, its own momentum, so `StepLR` with groups at 0.1 and
//! 0.01 gives 0.01 and 0.001 after one decay, and `CosineAnnealingLR` anneals each group
//! from its rate to `eta_min`. [`ScheduleConfig::build`] attaches one copy of the
//! schedule per group (their steps are the same, their rates each group's own);
//! [`LrScheduler::last_lr`] and [`Optimizer::lr`] report group 0,
//! [`LrScheduler::last_lrs`] every group. A schedule's hyperparameters are shared by the
//! groups: `OneCycleLR`'s `max_lr`, `ReduceLROnPlateau`'s `min_lr` and `eta_min` are one
//! number for all (PyTorch also takes one per group). The state of such a schedule holds
//! one child state per group and a counter `param_groups`.

mod chained;
mod constant_lr;
mod cosine_annealing_lr;
mod exponential_lr;
mod linear_lr;
mod multi_step_lr;
mod one_cycle_lr;
mod per_group;
mod plateau;
mod recursive;
mod sequential_lr;
mod state;
mod step_lr;
mod warm_restarts;

pub use chained::ChainedScheduler;
pub use constant_lr::ConstantLR;
pub use cosine_annealing_lr::CosineAnnealingLR;
pub use exponential_lr::ExponentialLR;
pub use linear_lr::LinearLR;
pub use multi_step_lr::MultiStepLR;
pub use one_cycle_lr::{AnnealStrategy, OneCycleLR};
pub use plateau::{PlateauMode, ReduceLROnPlateau, ThresholdMode};
pub use sequential_lr::SequentialLR;
pub use state::ScheduleState;
pub use step_lr::StepLR;
pub use warm_restarts::CosineAnnealingWarmRestarts;

use super::Optimizer;
use crate::error::{Error, Result};
use std::fmt::Debug;

/// What one [`LrScheduler::step`] stands for, chosen in the schedule's configuration
/// (`.stepped_per(..)`); a training loop steps the schedule after every batch or after every
/// epoch accordingly. PyTorch's usage is the default: `Batch` for [`OneCycleLR`], `Epoch`
/// for the others.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StepUnit {
    /// Once per epoch, after validation.
    #[default]
    Epoch,
    /// After every optimizer step.
    Batch,
}

/// The hyperparameters of a schedule. [`ScheduleConfig::build`] checks them, attaches the
/// schedule to an optimizer and applies the value of step 0; `fit` keeps a configuration
/// (it builds the optimizer itself) and builds it when training starts.
pub trait ScheduleConfig: ScheduleClone + Debug + Send + Sync {
    /// PyTorch's class name, e.g. `StepLR`.
    fn name(&self) -> &'static str;

    /// What one step of the built schedule stands for.
    fn unit(&self) -> StepUnit;

    /// Checks every hyperparameter, and that `optimizer` can follow the schedule
    /// (`OneCycleLR`'s momentum), changing nothing.
    fn validate(&self, optimizer: &Optimizer) -> Result<()>;

    /// Validates, attaches to `optimizer` (recording its base learning rate) and applies
    /// the value of step 0. On an error the optimizer is unchanged.
    ///
    /// On an optimizer with several parameter groups the schedule runs in every group, from
    /// that group's own learning rate (see "Parameter groups" in the module documentation).
    fn build(&self, optimizer: &mut Optimizer) -> Result<Box<dyn LrScheduler>> {
        if optimizer.groups().len() > 1 && optimizer.scheduled_group().is_none() {
            per_group::build(self, optimizer)
        } else {
            self.build_for_group(optimizer)
        }
    }

    /// What [`ScheduleConfig::build`] does for one parameter group (the optimizer's only
    /// one, or the one `build` is attaching the schedule to): the schedule's own work. Call
    /// `build`, which calls this once per group.
    fn build_for_group(&self, optimizer: &mut Optimizer) -> Result<Box<dyn LrScheduler>>;

    /// Whether the schedule steps on a metric ([`ReduceLROnPlateau`]).
    fn monitors_metric(&self) -> bool {
        false
    }

    /// Whether the schedule can be a part of a [`SequentialLR`]: it implements the
    /// restart hooks of [`LrScheduler`] (every schedule here but `ReduceLROnPlateau`,
    /// `SequentialLR` and `ChainedScheduler`).
    fn sequenceable(&self) -> bool {
        false
    }
}

/// Cloning a configuration behind `dyn ScheduleConfig` (any `Clone` configuration has it).
pub trait ScheduleClone {
    /// A boxed copy of this configuration.
    fn clone_schedule(&self) -> Box<dyn ScheduleConfig>;
}

impl<T: ScheduleConfig + Clone + 'static> ScheduleClone for T {
    fn clone_schedule(&self) -> Box<dyn ScheduleConfig> {
        Box::new(self.clone())
    }
}

impl Clone for Box<dyn ScheduleConfig> {
    fn clone(&self) -> Self {
        self.clone_schedule()
    }
}

/// A schedule attached to an optimizer: PyTorch's `LRScheduler`. The optimizer is passed
/// to every call instead of being held, so a training loop keeps owning it.
pub trait LrScheduler: Debug + Send + Sync {
    /// PyTorch's class name, e.g. `StepLR`.
    fn name(&self) -> &'static str;

    /// What one step stands for: when a training loop calls [`LrScheduler::step`].
    fn unit(&self) -> StepUnit;

    /// PyTorch's `scheduler.step()`: advances one step and sets the optimizer's learning
    /// rate. Call it after `optimizer.step(..)`. [`ReduceLROnPlateau`] needs a metric and
    /// refuses this call with [`Error::Config`].
    fn step(&mut self, optimizer: &mut Optimizer) -> Result<()>;

    /// PyTorch's `scheduler.step(metric)` for [`ReduceLROnPlateau`]; a schedule that does
    /// not monitor a metric ignores it and takes a plain [`LrScheduler::step`], so a
    /// training loop may call this for every epoch schedule.
    fn step_with_metric(&mut self, optimizer: &mut Optimizer, metric: f32) -> Result<()> {
        let _ = metric;
        self.step(optimizer)
    }

    /// Whether [`LrScheduler::step_with_metric`] needs a real metric.
    fn monitors_metric(&self) -> bool {
        false
    }

    /// PyTorch's `get_last_lr()[0]`: the learning rate the schedule last set (f64; the
    /// optimizer updates with it rounded to f32), in parameter group 0.
    fn last_lr(&self) -> f64;

    /// PyTorch's `get_last_lr()`: the learning rate the schedule last set in each
    /// parameter group.
    fn last_lrs(&self) -> Vec<f64> {
        vec![self.last_lr()]
    }

    /// PyTorch's `last_epoch`: steps taken since building (0 right after it).
    fn last_epoch(&self) -> i64;

    /// The progress, for a checkpoint (see the module documentation).
    fn state(&self) -> ScheduleState;

    /// Continues from `state`, exported by a schedule of the same configuration: restores
    /// the progress and sets the optimizer's learning rate (and `OneCycleLR`'s momentum)
    /// back to their values at the export. A state of another schedule, or one that does
    /// not fit this schedule's structure, is refused with [`Error::Config`] and nothing
    /// changes.
    fn load_state(&mut self, optimizer: &mut Optimizer, state: &ScheduleState) -> Result<()>;

    /// Hook of [`SequentialLR`] (PyTorch's `recursive_undo`): takes back the step count of
    /// building, so a later [`LrScheduler::restart`] or
    /// [`LrScheduler::start_at_milestone`] counts from the start.
    fn rewind(&mut self) {}

    /// Hook of [`SequentialLR`] (PyTorch's `_initial_step`): applies step 0 again, on the
    /// optimizer's current learning rate.
    fn restart(&mut self, optimizer: &mut Optimizer) -> Result<()> {
        let _ = optimizer;
        Err(not_sequenceable(self.name()))
    }

    /// Hook of [`SequentialLR`] at this schedule's milestone (PyTorch's `_update_lr(0)`):
    /// sets the step count to 0 and applies the closed form of step 0 where the schedule
    /// has one (from its base learning rate), else its `get_lr`.
    fn start_at_milestone(&mut self, optimizer: &mut Optimizer) -> Result<()> {
        let _ = optimizer;
        Err(not_sequenceable(self.name()))
    }
}

fn not_sequenceable(name: &str) -> Error {
    Error::Config(format!("{name} cannot be a part of a SequentialLR"))
}

/// Checks of schedule hyperparameters (f64, as PyTorch's are Python floats; the error
/// shows the value as f32).
pub(crate) mod check {
    use crate::error::{Error, Result};

    fn invalid(name: &'static str, value: f64, reason: &'static str) -> Error {
        Error::Hyperparameter {
            name,
            value: value as f32,
            reason,
        }
    }

    /// Finite and `> 0`.
    pub fn positive(name: &'static str, value: f64) -> Result<()> {
        if value.is_finite() && value > 0.0 {
            Ok(())
        } else {
            Err(invalid(name, value, "must be a finite number > 0"))
        }
    }

    /// Finite and `>= 0`.
    pub fn non_negative(name: &'static str, value: f64) -> Result<()> {
        if value.is_finite() && value >= 0.0 {
            Ok(())
        } else {
            Err(invalid(name, value, "must be a finite number >= 0"))
        }
    }

    /// In `[0, 1]`.
    pub fn closed_unit(name: &'static str, value: f64) -> Result<()> {
        if (0.0..=1.0).contains(&value) {
            Ok(())
        } else {
            Err(invalid(name, value, "must lie in [0, 1]"))
        }
    }

    /// In `(0, 1]`.
    pub fn half_open_unit(name: &'static str, value: f64) -> Result<()> {
        if value > 0.0 && value <= 1.0 {
            Ok(())
        } else {
            Err(invalid(name, value, "must lie in (0, 1]"))
        }
    }

    /// A count of steps that must be at least 1.
    pub fn at_least_one(schedule: &str, name: &str, value: usize) -> Result<()> {
        if value >= 1 {
            Ok(())
        } else {
            Err(Error::Config(format!(
                "{schedule}: {name} must be at least 1"
            )))
        }
    }

    /// Milestones in non-decreasing order (a repeated milestone counts twice, as in
    /// PyTorch).
    pub fn sorted(schedule: &str, milestones: &[usize]) -> Result<()> {
        match milestones.windows(2).find(|w| w[0] > w[1]) {
            None => Ok(()),
            Some(w) => Err(Error::Config(format!(
                "{schedule}: milestones must be increasing, got {} before {} in {milestones:?}",
                w[0], w[1]
            ))),
        }
    }
}
