//! `ScheduleState`: a schedule's progress as plain data, for checkpoints.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The progress of a schedule (PyTorch's `state_dict()` less the hyperparameters): what
/// [`LrScheduler::state`](super::LrScheduler::state) exports and
/// [`LrScheduler::load_state`](super::LrScheduler::load_state) continues from.
/// Serialisable with serde; floats are f64 and round-trip exactly through JSON, NaN and
/// infinities included (written `"NaN"`, `"Infinity"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduleState {
    /// PyTorch's class name, e.g. `StepLR`; loading checks it.
    pub name: String,
    /// PyTorch's `last_epoch`: steps taken.
    pub last_epoch: i64,
    /// The base learning rate (PyTorch's `base_lrs[0]`).
    #[serde(with = "crate::io::json_float::double")]
    pub base_lr: f64,
    /// The learning rate the schedule last set (PyTorch's `_last_lr[0]`).
    #[serde(with = "crate::io::json_float::double")]
    pub last_lr: f64,
    /// Further counters by name: `ReduceLROnPlateau`'s `best`, `num_bad_epochs` and
    /// `cooldown_counter`, `CosineAnnealingWarmRestarts`' `t_cur` and `t_i`; empty for
    /// the others.
    #[serde(with = "crate::io::json_float::named_double")]
    pub counters: Vec<(String, f64)>,
    /// The states of a `SequentialLR`'s or `ChainedScheduler`'s schedules, in order.
    pub children: Vec<ScheduleState>,
}

impl ScheduleState {
    /// A state without counters or children.
    pub(crate) fn leaf(name: &str, last_epoch: i64, base_lr: f64, last_lr: f64) -> Self {
        ScheduleState {
            name: name.to_string(),
            last_epoch,
            base_lr,
            last_lr,
            counters: Vec::new(),
            children: Vec::new(),
        }
    }

    /// Counter `name`.
    pub(crate) fn counter(&self, name: &str) -> Result<f64> {
        self.counters
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, v)| v)
            .ok_or_else(|| Error::Config(format!("{} state: counter {name} is missing", self.name)))
    }

    /// A counter that must hold a whole number `>= 0`.
    pub(crate) fn count(&self, name: &str) -> Result<u64> {
        let v = self.counter(name)?;
        if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= u64::MAX as f64 {
            Ok(v as u64)
        } else {
            Err(Error::Config(format!(
                "{} state: counter {name} = {v} is not a whole number >= 0",
                self.name
            )))
        }
    }

    /// Fails unless `self` (a state just loaded) has the structure of `current` (the
    /// schedule's own state): the same names, counters and children, all the way down,
    /// with learning rates an optimizer accepts.
    pub(crate) fn check_fits(&self, current: &ScheduleState) -> Result<()> {
        let wrong = |what: String| {
            Error::Config(format!(
                "cannot load a {} state into a {}: {what}",
                self.name, current.name
            ))
        };
        if self.name != current.name {
            return Err(wrong("another schedule".into()));
        }
        for (what, v) in [("base_lr", self.base_lr), ("last_lr", self.last_lr)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(wrong(format!("{what} = {v} is not a learning rate")));
            }
        }
        let names = |s: &ScheduleState| s.counters.iter().map(|(n, _)| n.clone()).collect();
        let (mine, theirs): (Vec<String>, Vec<String>) = (names(self), names(current));
        if mine != theirs {
            return Err(wrong(format!("counters {mine:?}, expected {theirs:?}")));
        }
        if self.children.len() != current.children.len() {
            return Err(wrong(format!(
                "{} schedules, expected {}",
                self.children.len(),
                current.children.len()
            )));
        }
        self.children
            .iter()
            .zip(&current.children)
            .try_for_each(|(a, b)| a.check_fits(b))
    }
}
