//! `ReduceLROnPlateau`, as `torch.optim.lr_scheduler.ReduceLROnPlateau`.

use super::{check, LrScheduler, ScheduleConfig, ScheduleState, StepUnit};
use crate::error::{Error, Result};
use crate::optim::Optimizer;

/// Whether [`ReduceLROnPlateau`]'s metric should fall (a loss) or rise (an accuracy).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PlateauMode {
    /// A smaller metric is better (a loss); the default.
    #[default]
    Min,
    /// A larger metric is better (an accuracy).
    Max,
}

/// How [`ReduceLROnPlateau`] measures a significant improvement over the best value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ThresholdMode {
    /// Better than `best · (1 ∓ threshold)` (`−` in min mode, `+` in max mode).
    #[default]
    Rel,
    /// Better than `best ∓ threshold`.
    Abs,
}

/// Multiplies the learning rate by `factor` when a metric has not improved for more than
/// `patience` steps, then waits `cooldown` steps before counting again; never below
/// `min_lr`, and a change smaller than `eps` is skipped. Stepped once per epoch with the
/// monitored value: [`LrScheduler::step_with_metric`] (PyTorch's `scheduler.step(metric)`).
/// A NaN metric is never an improvement (as in PyTorch).
///
/// Defaults (PyTorch's): mode min, factor 0.1, patience 10, threshold 1e-4,
/// threshold_mode rel, cooldown 0, min_lr 0, eps 1e-8.
#[derive(Clone, Debug, PartialEq)]
pub struct ReduceLROnPlateau {
    /// Whether the metric should fall or rise (default [`PlateauMode::Min`]).
    pub mode: PlateauMode,
    /// In `[0, 1)`.
    pub factor: f64,
    /// Steps without improvement tolerated before a reduction.
    pub patience: usize,
    /// Finite and `>= 0`.
    pub threshold: f64,
    /// Whether `threshold` is relative or absolute (default [`ThresholdMode::Rel`]).
    pub threshold_mode: ThresholdMode,
    /// Steps after a reduction during which bad steps are not counted.
    pub cooldown: usize,
    /// Finite and `>= 0`.
    pub min_lr: f64,
    /// Finite and `>= 0`.
    pub eps: f64,
}

impl Default for ReduceLROnPlateau {
    fn default() -> Self {
        ReduceLROnPlateau {
            mode: PlateauMode::Min,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lr: 0.0,
            eps: 1e-8,
        }
    }
}

impl ReduceLROnPlateau {
    /// PyTorch's defaults: in min mode, the rate times 0.1 once more than 10 steps pass
    /// without a relative improvement of 1e-4.
    pub fn new() -> Self {
        Self::default()
    }
    /// Whether the metric should fall ([`PlateauMode::Min`], the default) or rise.
    pub fn mode(mut self, mode: PlateauMode) -> Self {
        self.mode = mode;
        self
    }
    /// The factor a reduction multiplies the rate by, in `[0, 1)` (default 0.1).
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = factor;
        self
    }
    /// Steps without improvement tolerated before a reduction (default 10).
    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }
    /// The smallest improvement that counts, finite and `>= 0` (default 1e-4).
    pub fn threshold(mut self, threshold: f64) -> Self {
        self.threshold = threshold;
        self
    }
    /// Whether `threshold` is relative to the best value ([`ThresholdMode::Rel`], the
    /// default) or absolute.
    pub fn threshold_mode(mut self, threshold_mode: ThresholdMode) -> Self {
        self.threshold_mode = threshold_mode;
        self
    }
    /// Steps after a reduction during which bad steps are not counted (default 0).
    pub fn cooldown(mut self, cooldown: usize) -> Self {
        self.cooldown = cooldown;
        self
    }
    /// The rate is never reduced below this, finite and `>= 0` (default 0).
    pub fn min_lr(mut self, min_lr: f64) -> Self {
        self.min_lr = min_lr;
        self
    }
    /// A reduction smaller than this is skipped, finite and `>= 0` (default 1e-8).
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// The worst value of the mode: where `best` starts.
    fn worst(&self) -> f64 {
        match self.mode {
            PlateauMode::Min => f64::INFINITY,
            PlateauMode::Max => f64::NEG_INFINITY,
        }
    }

    /// PyTorch's `_is_better`.
    fn is_better(&self, a: f64, best: f64) -> bool {
        match (self.mode, self.threshold_mode) {
            (PlateauMode::Min, ThresholdMode::Rel) => a < best * (1.0 - self.threshold),
            (PlateauMode::Min, ThresholdMode::Abs) => a < best - self.threshold,
            (PlateauMode::Max, ThresholdMode::Rel) => a > best * (self.threshold + 1.0),
            (PlateauMode::Max, ThresholdMode::Abs) => a > best + self.threshold,
        }
    }
}

impl ScheduleConfig for ReduceLROnPlateau {
    fn name(&self) -> &'static str {
        "ReduceLROnPlateau"
    }
    fn unit(&self) -> StepUnit {
        StepUnit::Epoch
    }
    fn validate(&self, _optimizer: &Optimizer) -> Result<()> {
        if !(0.0..1.0).contains(&self.factor) {
            return Err(Error::Hyperparameter {
                name: "factor",
                value: self.factor as f32,
                reason: "must lie in [0, 1)",
            });
        }
        check::non_negative("threshold", self.threshold)?;
        check::non_negative("min_lr", self.min_lr)?;
        check::non_negative("eps", self.eps)
    }
    fn build_for_group(&self, optimizer: &mut Optimizer) -> Result<Box<dyn LrScheduler>> {
        self.validate(optimizer)?;
        Ok(Box::new(Plateau {
            best: self.worst(),
            config: self.clone(),
            base_lr: optimizer.lr_f64(),
            last_epoch: 0,
            num_bad_epochs: 0,
            cooldown_counter: 0,
            last_lr: optimizer.lr_f64(),
        }))
    }
    fn monitors_metric(&self) -> bool {
        true
    }
}

#[derive(Debug)]
struct Plateau {
    config: ReduceLROnPlateau,
    /// The rate when building (reported in the state; the schedule does not use it).
    base_lr: f64,
    last_epoch: i64,
    best: f64,
    num_bad_epochs: u64,
    cooldown_counter: u64,
    last_lr: f64,
}

impl LrScheduler for Plateau {
    fn name(&self) -> &'static str {
        self.config.name()
    }
    fn unit(&self) -> StepUnit {
        StepUnit::Epoch
    }
    fn step(&mut self, _optimizer: &mut Optimizer) -> Result<()> {
        Err(Error::Config(
            "ReduceLROnPlateau steps on a metric: call step_with_metric(&mut optimizer, value)"
                .into(),
        ))
    }
    /// PyTorch's `step(metrics)`.
    fn step_with_metric(&mut self, optimizer: &mut Optimizer, metric: f32) -> Result<()> {
        let current = f64::from(metric);
        let (mut best, mut bad, mut cooldown) =
            (self.best, self.num_bad_epochs, self.cooldown_counter);
        if self.config.is_better(current, best) {
            best = current;
            bad = 0;
        } else {
            bad += 1;
        }
        if cooldown > 0 {
            cooldown -= 1;
            bad = 0; // bad epochs in cooldown are not counted
        }
        if bad > self.config.patience as u64 {
            let old_lr = optimizer.lr_f64();
            let new_lr = (old_lr * self.config.factor).max(self.config.min_lr);
            if old_lr - new_lr > self.config.eps {
                optimizer.set_lr_f64(new_lr)?;
            }
            cooldown = self.config.cooldown as u64;
            bad = 0;
        }
        (self.best, self.num_bad_epochs, self.cooldown_counter) = (best, bad, cooldown);
        self.last_epoch += 1;
        self.last_lr = optimizer.lr_f64();
        Ok(())
    }
    fn monitors_metric(&self) -> bool {
        true
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
            ("best".into(), self.best),
            ("num_bad_epochs".into(), self.num_bad_epochs as f64),
            ("cooldown_counter".into(), self.cooldown_counter as f64),
        ];
        state
    }
    fn load_state(&mut self, optimizer: &mut Optimizer, state: &ScheduleState) -> Result<()> {
        state.check_fits(&self.state())?;
        let best = state.counter("best")?;
        let (bad, cooldown) = (
            state.count("num_bad_epochs")?,
            state.count("cooldown_counter")?,
        );
        optimizer.set_lr_f64(state.last_lr)?;
        (self.base_lr, self.last_epoch, self.last_lr) =
            (state.base_lr, state.last_epoch, state.last_lr);
        (self.best, self.num_bad_epochs, self.cooldown_counter) = (best, bad, cooldown);
        Ok(())
    }
}
