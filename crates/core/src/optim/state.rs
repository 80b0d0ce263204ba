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
    Flag(bool),
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
    /// Every hyperparameter by name, e.g. `("beta2", 0.999)`, `("amsgrad", false)`;
    /// `lr` is the learning rate in force (a schedule may have changed it).
    pub hyperparameters: Vec<(String, HyperparameterValue)>,
    /// Calls to `step`.
    pub steps: u64,
    /// Gradient clipping before each step.
    pub clip: Option<GradClip>,
    /// The shape of each parameter, in the set's order.
    pub shapes: Vec<Vec<usize>>,
    /// Each parameter's step count (and NAdam's momentum product), in the same order.
    pub contexts: Vec<StepContext>,
    /// Every state buffer, in the rule's order.
    pub buffers: Vec<StateBuffer>,
}

impl OptimizerState {
    /// The value of hyperparameter `name`, if the state has one.
    pub fn hyperparameter(&self, name: &str) -> Option<HyperparameterValue> {
        self.hyperparameters
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }

    /// The learning rate in force when the state was taken.
    pub fn lr(&self) -> Option<f32> {
        match self.hyperparameter("lr") {
            Some(HyperparameterValue::Number(lr)) => Some(lr),
            _ => None,
        }
    }
}
