//! `OneCycleLR`, as `torch.optim.lr_scheduler.OneCycleLR` (the 1cycle policy).

use super::{check, LrScheduler, ScheduleConfig, ScheduleState, StepUnit};
use crate::error::{Error, Result};
use crate::optim::Optimizer;
use std::f64::consts::PI;

/// How [`OneCycleLR`] moves between two values within a phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AnnealStrategy {
    /// `end + (start − end) / 2 · (1 + cos(π · pct))` (PyTorch's `"cos"`).
    #[default]
    Cos,
    /// `start + (end − start) · pct` (PyTorch's `"linear"`).
    Linear,
}

/// The 1cycle policy: the rate rises from `initial = max_lr / div_factor` (set when
/// building) to `max_lr` over the first `pct_start` of the cycle, then falls to
/// `min_lr = initial / final_div_factor`; with `three_phase` it first falls back to
/// `initial` (mirroring the rise) and only then to `min_lr`. With `cycle_momentum` the
/// optimizer's momentum (SGD's and RMSprop's `momentum`, the Adam family's `beta1`) moves
/// the opposite way, between `max_momentum` and `base_momentum`. Not recursive (as in
/// PyTorch): each step's values follow from the step number.
///
/// The cycle has `total_steps` steps, or `epochs · steps_per_epoch` when `total_steps` is
/// not given (PyTorch's precedence). The schedule may be stepped `total_steps` times after
/// building; one more is an [`Error::Config`], as in PyTorch.
///
/// Defaults (PyTorch's): pct_start 0.3, anneal_strategy cos, cycle_momentum true,
/// base_momentum 0.85, max_momentum 0.95, div_factor 25, final_div_factor 1e4,
/// three_phase false; stepped per batch.
#[derive(Clone, Debug, PartialEq)]
pub struct OneCycleLR {
    /// The peak rate, finite and `>= 0`.
    pub max_lr: f64,
    /// Steps in the cycle; takes precedence over `epochs · steps_per_epoch`.
    pub total_steps: Option<usize>,
    /// Epochs in the cycle, with `steps_per_epoch` (used when `total_steps` is not given).
    pub epochs: Option<usize>,
    /// Steps per epoch (batches), with `epochs`.
    pub steps_per_epoch: Option<usize>,
    /// The fraction of the cycle spent rising, in `[0, 1]`.
    pub pct_start: f64,
    /// How values move within a phase (default [`AnnealStrategy::Cos`]).
    pub anneal_strategy: AnnealStrategy,
    /// Whether the optimizer's momentum (or `beta1`) cycles against the rate (default true).
    pub cycle_momentum: bool,
    /// The momentum at the peak rate, `>= 0` (default 0.85).
    pub base_momentum: f64,
    /// The momentum at the lowest rates, `>= 0` (default 0.95).
    pub max_momentum: f64,
    /// `initial = max_lr / div_factor`; finite and `> 0`.
    pub div_factor: f64,
    /// `min_lr = initial / final_div_factor`; finite and `> 0`.
    pub final_div_factor: f64,
    /// Fall back to `initial` before annealing to `min_lr`, mirroring the rise (default false).
    pub three_phase: bool,
    /// What one step stands for: [`StepUnit::Batch`] by default, as PyTorch steps it.
    pub unit: StepUnit,
}

impl OneCycleLR {
    /// A cycle peaking at `max_lr`; give its length with `.total_steps(n)` or
    /// `.epochs(e).steps_per_epoch(k)`.
    pub fn new(max_lr: f64) -> Self {
        OneCycleLR {
            max_lr,
            total_steps: None,
            epochs: None,
            steps_per_epoch: None,
            pct_start: 0.3,
            anneal_strategy: AnnealStrategy::Cos,
            cycle_momentum: true,
            base_momentum: 0.85,
            max_momentum: 0.95,
            div_factor: 25.0,
            final_div_factor: 1e4,
            three_phase: false,
            unit: StepUnit::Batch,
        }
    }
    /// Sets the cycle's length in steps (at least 1).
    pub fn total_steps(mut self, total_steps: usize) -> Self {
        self.total_steps = Some(total_steps);
        self
    }
    /// Sets the cycle's length in epochs, with [`OneCycleLR::steps_per_epoch`].
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.epochs = Some(epochs);
        self
    }
    /// Sets the steps (batches) per epoch, with [`OneCycleLR::epochs`].
    pub fn steps_per_epoch(mut self, steps_per_epoch: usize) -> Self {
        self.steps_per_epoch = Some(steps_per_epoch);
        self
    }
    /// The fraction of the cycle spent rising, in `[0, 1]` (default 0.3).
    pub fn pct_start(mut self, pct_start: f64) -> Self {
        self.pct_start = pct_start;
        self
    }
    /// Cosine (the default) or linear interpolation within each phase.
    pub fn anneal_strategy(mut self, anneal_strategy: AnnealStrategy) -> Self {
        self.anneal_strategy = anneal_strategy;
        self
    }
    /// With `false`, the momentum is left alone (required for optimizers without momentum or
    /// `beta1`, such as Adagrad).
    pub fn cycle_momentum(mut self, cycle_momentum: bool) -> Self {
        self.cycle_momentum = cycle_momentum;
        self
    }
    /// The momentum at the peak rate (default 0.85).
    pub fn base_momentum(mut self, base_momentum: f64) -> Self {
        self.base_momentum = base_momentum;
        self
    }
    /// The momentum at the start and end of the cycle (default 0.95).
    pub fn max_momentum(mut self, max_momentum: f64) -> Self {
        self.max_momentum = max_momentum;
        self
    }
    /// `initial = max_lr / div_factor`, finite and `> 0` (default 25).
    pub fn div_factor(mut self, div_factor: f64) -> Self {
        self.div_factor = div_factor;
        self
    }
    /// `min_lr = initial / final_div_factor`, finite and `> 0` (default 1e4).
    pub fn final_div_factor(mut self, final_div_factor: f64) -> Self {
        self.final_div_factor = final_div_factor;
        self
    }
    /// With `true`, the rate falls back to `initial` before annealing to `min_lr`.
    pub fn three_phase(mut self, three_phase: bool) -> Self {
        self.three_phase = three_phase;
        self
    }
    /// Steps the schedule after every optimizer step ([`StepUnit::Batch`], the default) or
    /// once per epoch ([`StepUnit::Epoch`]), which counts the cycle in epochs.
    pub fn stepped_per(mut self, unit: StepUnit) -> Self {
        self.unit = unit;
        self
    }

    /// The cycle's length, by PyTorch's precedence.
    fn cycle_length(&self) -> Result<usize> {
        let name = self.name();
        match (self.total_steps, self.epochs, self.steps_per_epoch) {
            (Some(total), _, _) => {
                check::at_least_one(name, "total_steps", total)?;
                Ok(total)
            }
            (None, Some(epochs), Some(per_epoch)) => {
                check::at_least_one(name, "epochs", epochs)?;
                check::at_least_one(name, "steps_per_epoch", per_epoch)?;
                epochs.checked_mul(per_epoch).ok_or_else(|| {
                    Error::Config(format!(
                        "{name}: epochs {epochs} × steps_per_epoch {per_epoch} overflows"
                    ))
                })
            }
            _ => Err(Error::Config(format!(
                "{name}: give either total_steps or both epochs and steps_per_epoch"
            ))),
        }
    }

    /// The phases of a cycle of `total` steps (PyTorch's `_schedule_phases`).
    fn phases(&self, total: usize) -> Vec<Phase> {
        let total = total as f64;
        let initial = self.max_lr / self.div_factor;
        let min_lr = initial / self.final_div_factor;
        let (low_m, high_m) = (self.base_momentum, self.max_momentum);
        let rise = Phase {
            end_step: self.pct_start * total - 1.0,
            lr: (initial, self.max_lr),
            momentum: (high_m, low_m),
        };
        if self.three_phase {
            vec![
                rise,
                Phase {
                    end_step: 2.0 * self.pct_start * total - 2.0,
                    lr: (self.max_lr, initial),
                    momentum: (low_m, high_m),
                },
                Phase {
                    end_step: total - 1.0,
                    lr: (initial, min_lr),
                    momentum: (high_m, high_m),
                },
            ]
        } else {
            vec![
                rise,
                Phase {
                    end_step: total - 1.0,
                    lr: (self.max_lr, min_lr),
                    momentum: (low_m, high_m),
                },
            ]
        }
    }
}

/// One phase of the cycle: up to step `end_step`, from `.0` to `.1`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Phase {
    end_step: f64,
    lr: (f64, f64),
    momentum: (f64, f64),
}

impl ScheduleConfig for OneCycleLR {
    fn name(&self) -> &'static str {
        "OneCycleLR"
    }
    fn unit(&self) -> StepUnit {
        self.unit
    }
    fn validate(&self, optimizer: &Optimizer) -> Result<()> {
        let total = self.cycle_length()?;
        check::closed_unit("pct_start", self.pct_start)?;
        check::non_negative("max_lr", self.max_lr)?;
        check::positive("div_factor", self.div_factor)?;
        check::positive("final_div_factor", self.final_div_factor)?;
        if self.cycle_momentum {
            check::non_negative("base_momentum", self.base_momentum)?;
            check::non_negative("max_momentum", self.max_momentum)?;
            if optimizer.momentum().is_none() {
                return Err(Error::Config(format!(
                    "{}: {} has no momentum or beta1 to cycle; set cycle_momentum(false)",
                    self.name(),
                    optimizer.name()
                )));
            }
            // Every momentum of the cycle lies between the two (cos stays between its
            // ends; linear is held at the end of the last phase), so checking the ends
            // checks them all.
            let low = optimizer.state_buffers_with_momentum(self.base_momentum as f32)?;
            let high = optimizer.state_buffers_with_momentum(self.max_momentum as f32)?;
            if low != high {
                return Err(Error::Config(format!(
                    "{}: {} keeps a momentum buffer only while momentum is not 0, so it \
                     cannot cycle between {} and {}",
                    self.name(),
                    optimizer.name(),
                    self.base_momentum,
                    self.max_momentum
                )));
            }
        }
        OneCycle::at(self, &self.phases(total), total, 0).map(|_| ())
    }
    fn build_for_group(&self, optimizer: &mut Optimizer) -> Result<Box<dyn LrScheduler>> {
        self.validate(optimizer)?;
        let total_steps = self.cycle_length()?;
        let initial = self.max_lr / self.div_factor;
        let mut schedule = OneCycle {
            phases: self.phases(total_steps),
            config: self.clone(),
            total_steps,
            initial_lr: initial,
            last_epoch: -1,
            last_lr: optimizer.lr_f64(),
        };
        schedule.restart(optimizer)?;
        optimizer.set_initial_lr(initial);
        Ok(Box::new(schedule))
    }
    fn sequenceable(&self) -> bool {
        true
    }
}

#[derive(Debug)]
struct OneCycle {
    config: OneCycleLR,
    phases: Vec<Phase>,
    total_steps: usize,
    initial_lr: f64,
    last_epoch: i64,
    last_lr: f64,
}

impl OneCycle {
    /// The rate and momentum of step `step` (PyTorch's `get_lr`).
    fn at(config: &OneCycleLR, phases: &[Phase], total: usize, step: i64) -> Result<(f64, f64)> {
        if step > total as i64 {
            return Err(Error::Config(format!(
                "{}: tried to step {step} times; the cycle has total_steps = {total}",
                config.name()
            )));
        }
        let step_num = step as f64;
        let mut start_step = 0.0;
        for (i, phase) in phases.iter().enumerate() {
            let end_step = phase.end_step;
            if step_num <= end_step || i == phases.len() - 1 {
                if end_step == start_step {
                    return Err(Error::Config(format!(
                        "{}: a phase of the cycle has no steps (pct_start {} of {total} \
                         steps); PyTorch divides by zero here",
                        config.name(),
                        config.pct_start
                    )));
                }
                let mut pct = (step_num - start_step) / (end_step - start_step);
                if config.anneal_strategy == AnnealStrategy::Linear {
                    pct = pct.min(1.0);
                }
                let anneal = |(from, to): (f64, f64)| match config.anneal_strategy {
                    AnnealStrategy::Cos => to + (from - to) / 2.0 * ((PI * pct).cos() + 1.0),
                    AnnealStrategy::Linear => (to - from) * pct + from,
                };
                return Ok((anneal(phase.lr), anneal(phase.momentum)));
            }
            start_step = phase.end_step;
        }
        unreachable!("the last phase always matches")
    }

    /// Sets the values of step `step` and, if the optimizer took them, records it.
    fn apply(&mut self, optimizer: &mut Optimizer, step: i64) -> Result<()> {
        let (lr, momentum) = Self::at(&self.config, &self.phases, self.total_steps, step)?;
        if self.config.cycle_momentum {
            let before = optimizer.momentum();
            optimizer.set_momentum(momentum as f32)?;
            if let Err(e) = optimizer.set_lr_f64(lr) {
                if let Some(m) = before {
                    optimizer.set_momentum(m)?;
                }
                return Err(e);
            }
        } else {
            optimizer.set_lr_f64(lr)?;
        }
        self.last_epoch = step;
        self.last_lr = lr;
        Ok(())
    }
}

impl LrScheduler for OneCycle {
    fn name(&self) -> &'static str {
        self.config.name()
    }
    fn unit(&self) -> StepUnit {
        self.config.unit
    }
    fn step(&mut self, optimizer: &mut Optimizer) -> Result<()> {
        self.apply(optimizer, self.last_epoch + 1)
    }
    fn last_lr(&self) -> f64 {
        self.last_lr
    }
    fn last_epoch(&self) -> i64 {
        self.last_epoch
    }
    fn state(&self) -> ScheduleState {
        ScheduleState::leaf(self.name(), self.last_epoch, self.initial_lr, self.last_lr)
    }
    fn load_state(&mut self, optimizer: &mut Optimizer, state: &ScheduleState) -> Result<()> {
        state.check_fits(&self.state())?;
        let (_, momentum) = Self::at(
            &self.config,
            &self.phases,
            self.total_steps,
            state.last_epoch.max(0),
        )?;
        if self.config.cycle_momentum {
            optimizer.set_momentum(momentum as f32)?;
        }
        optimizer.set_lr_f64(state.last_lr)?;
        self.last_epoch = state.last_epoch;
        self.last_lr = state.last_lr;
        Ok(())
    }
    fn rewind(&mut self) {
        self.last_epoch -= 1;
    }
    fn restart(&mut self, optimizer: &mut Optimizer) -> Result<()> {
        self.apply(optimizer, self.last_epoch + 1)
    }
    fn start_at_milestone(&mut self, optimizer: &mut Optimizer) -> Result<()> {
        self.apply(optimizer, 0)
    }
}
