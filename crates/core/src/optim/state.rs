//! An optimizer's state as plain host values: what [`Optimizer::state_dict`] exports, what
//! [`Optimizer::load_state_dict`] checks and imports, and what a checkpoint saves.
//!
//! [`Optimizer::state_dict`]: super::Optimizer::state_dict
//! [`Optimizer::load_state_dict`]: super::Optimizer::load_state_dict

use super::optimizer::StepContext;
use crate::backend::GradClip;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The value of one hyperparameter: a number (kept as the `f32` the configuration holds)
/// or a flag. In JSON, a number or `true`/`false`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HyperparameterValue {
    /// A flag (`nesterov`, `amsgrad`, `maximize`, ...).
    Flag(bool),
    /// A number (`lr`, `beta1`, `eps`, ...); in JSON as [`crate::io::json_float`] writes it
    /// (NaN and infinities as strings).
    Number(#[serde(with = "crate::io::json_float")] f32),
}

impl fmt::Display for HyperparameterValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HyperparameterValue::Flag(b) => write!(f, "{b}"),
            HyperparameterValue::Number(x) => write!(f, "{x}"),
        }
    }
}

impl From<f32> for HyperparameterValue {
    fn from(x: f32) -> Self {
        HyperparameterValue::Number(x)
    }
}

impl From<bool> for HyperparameterValue {
    fn from(b: bool) -> Self {
        HyperparameterValue::Flag(b)
    }
}

/// A hyperparameter as a field of a configuration, to read or to write: what
/// [`OptimizerConfig::hyperparameter_fields`](super::OptimizerConfig::hyperparameter_fields)
/// lists, so that checkpoints, checks and [`ParamGroup`](super::ParamGroup) overrides reach
/// every hyperparameter of every family by name, without a case per optimizer.
#[derive(Debug)]
pub enum HyperparameterField<'a> {
    /// A number field (`lr`, `beta1`, `eps`, ...).
    Number(&'a mut f32),
    /// A flag field (`nesterov`, `amsgrad`, `maximize`, ...).
    Flag(&'a mut bool),
}

impl HyperparameterField<'_> {
    /// The value the field holds.
    pub fn get(&self) -> HyperparameterValue {
        match self {
            HyperparameterField::Number(x) => HyperparameterValue::Number(**x),
            HyperparameterField::Flag(b) => HyperparameterValue::Flag(**b),
        }
    }

    /// Writes `value` if it is of the field's kind (a number for a number, a flag for a
    /// flag); returns whether it was. The range is not checked here: the configuration's
    /// `validate` checks it.
    pub fn set(&mut self, value: HyperparameterValue) -> bool {
        match (self, value) {
            (HyperparameterField::Number(x), HyperparameterValue::Number(v)) => **x = v,
            (HyperparameterField::Flag(b), HyperparameterValue::Flag(v)) => **b = v,
            _ => return false,
        }
        true
    }
}

impl<'a> From<&'a mut f32> for HyperparameterField<'a> {
    fn from(x: &'a mut f32) -> Self {
        HyperparameterField::Number(x)
    }
}

impl<'a> From<&'a mut bool> for HyperparameterField<'a> {
    fn from(b: &'a mut bool) -> Self {
        HyperparameterField::Flag(b)
    }
}

/// One parameter group as [`Optimizer::state_dict`](super::Optimizer::state_dict) records it:
/// PyTorch's `state_dict()["param_groups"][i]`.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupState {
    /// The group's parameters, as indices into the optimizer's parameters (PyTorch's
    /// `params`), ascending.
    pub params: Vec<usize>,
    /// Every hyperparameter of the group in force (the optimizer's values with the group's
    /// overrides applied; `lr` as [`GroupState::lr`] rounded to f32).
    pub hyperparameters: Vec<(String, HyperparameterValue)>,
    /// The group's learning rate as schedules keep it (f64, PyTorch's `group["lr"]`).
    pub lr: f64,
}

/// One state buffer (e.g. Adam's `exp_avg`), cut into the parameters' segments.
#[derive(Clone, Debug, PartialEq)]
pub struct StateBuffer {
    /// PyTorch's key for it in `optimizer.state[p]` (see [`super::UpdateRule::state_names`]).
    pub name: String,
    /// `values[i]` belongs to parameter `i` of the optimizer's set: as many values as the
    /// parameter has elements, row-major in its shape (the padding between segments of the
    /// flat buffer is not part of the state).
    pub values: Vec<Vec<f32>>,
}

/// Everything an [`Optimizer`](super::Optimizer) carries between steps, on the host.
///
/// Loading it into an optimizer over parameters of the same shapes continues the run
/// exactly where it was: the next step computes the same bits as the next step of the
/// optimizer it was taken from.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerState {
    /// The configuration's name, e.g. `Adam` or `AdamW`.
    pub name: String,
    /// Every hyperparameter of group 0 by name, e.g. `("beta2", 0.999)`,
    /// `("amsgrad", false)`; `lr` is the learning rate in force (a schedule may have changed
    /// it). With one group (no [`ParamGroup`](super::ParamGroup)s) these are the optimizer's.
    pub hyperparameters: Vec<(String, HyperparameterValue)>,
    /// The parameter groups, in order; every parameter is in exactly one. Empty means one
    /// group over every parameter with [`OptimizerState::hyperparameters`] (what a state
    /// saved before groups existed holds).
    pub groups: Vec<GroupState>,
    /// Calls to `step`.
    pub steps: u64,
    /// Gradient clipping before each step.
    pub clip: Option<GradClip>,
    /// The shape of each parameter, in the set's order.
    pub shapes: Vec<Vec<usize>>,
    /// Each parameter's step count (and NAdam's momentum product), in the same order.
    pub contexts: Vec<StepContext>,
    /// Every state buffer, in the rule's order (with groups whose rules keep different
    /// buffers, e.g. momentum 0 in one and 0.9 in another: every buffer any group keeps,
    /// in the order the groups first name them; a parameter whose group does not use a
    /// buffer holds its initial value there).
    pub buffers: Vec<StateBuffer>,
    /// Whether the parameters held the training point when the state was taken (the
    /// reference's `train_mode`; see [`Optimizer::is_training`](super::Optimizer::is_training)):
    /// `false` after `eval()` of a schedule-free optimizer, else `true`.
    pub train_mode: bool,
}

impl OptimizerState {
    /// The value of hyperparameter `name`, if the state has one.
    pub fn hyperparameter(&self, name: &str) -> Option<HyperparameterValue> {
        self.hyperparameters
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }

    /// The learning rate in force when the state was taken (group 0's).
    pub fn lr(&self) -> Option<f32> {
        match self.hyperparameter("lr") {
            Some(HyperparameterValue::Number(lr)) => Some(lr),
            _ => None,
        }
    }

    /// [`OptimizerState::groups`], or the one group an empty list stands for: every
    /// parameter, with the top-level hyperparameters and learning rate.
    pub fn param_groups(&self) -> Vec<GroupState> {
        if !self.groups.is_empty() {
            return self.groups.clone();
        }
        vec![GroupState {
            params: (0..self.shapes.len()).collect(),
            hyperparameters: self.hyperparameters.clone(),
            lr: self.lr().map_or(f64::NAN, f64::from),
        }]
    }
}
