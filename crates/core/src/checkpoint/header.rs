//! The JSON document downhill keeps in a file's `__metadata__` (key `downhill`): what
//! the file is, the model's layers and parameter names, and for a training checkpoint the
//! optimizer's host values and the training loop's position.

use super::training::TrainingState;
use crate::backend::GradClip;
use crate::error::{Error, Result};
use crate::io::json_float::JsonFloat;
use crate::optim::{GroupState, HyperparameterValue, StepContext};
use crate::train::History;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The version of the layout described in [`crate::checkpoint`]; a file of a later
/// version is refused with [`Error::Mismatch`] rather than misread.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A model's parameters (`Sequential::save_weights`).
    Weights,
    /// Parameters, optimizer state and the training loop's position (`Checkpoint::save`).
    Checkpoint,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Header {
    pub format_version: u32,
    pub kind: Kind,
    /// `Layer::describe` of each layer, e.g. `Dense(20 -> 64, relu)`.
    pub layers: Vec<String>,
    /// The model's parameter names in its order (`0.dense.weight`, ...).
    pub parameters: Vec<String>,
    /// The model's buffer names in its order (`1.running_mean`, ...): state saved with the
    /// model but not trained. Absent when the model has none (and in files written before
    /// layers had buffers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buffers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimizer: Option<OptimizerSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<TrainingSection>,
}

/// The optimizer's host values; its buffers are tensors `optimizer.<buffer>.<parameter>`.
#[derive(Debug, Serialize, Deserialize)]
pub struct OptimizerSection {
    pub name: String,
    pub hyperparameters: BTreeMap<String, HyperparameterValue>,
    /// Calls to `step`.
    pub steps: u64,
    pub clip: Option<ClipSection>,
    /// The state buffers' names, in the rule's order.
    pub buffers: Vec<String>,
    /// One per parameter, in `Header::parameters`' order.
    pub contexts: Vec<ContextSection>,
    /// The parameter groups (PyTorch's `param_groups`); absent in files written before
    /// groups existed, which hold one group with `hyperparameters`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub param_groups: Vec<GroupSection>,
    /// Whether the parameters hold the training point (`Optimizer::is_training`); absent
    /// when they do (always, for optimizers without an evaluation point).
    #[serde(
        default = "train_mode_start",
        skip_serializing_if = "is_train_mode_start"
    )]
    pub train_mode: bool,
}

/// One parameter group: its parameters (indices into `Header::parameters`), every
/// hyperparameter in force and the learning rate as schedules keep it.
#[derive(Debug, Serialize, Deserialize)]
pub struct GroupSection {
    pub params: Vec<usize>,
    #[serde(with = "crate::io::json_float::double")]
    pub lr: f64,
    pub hyperparameters: BTreeMap<String, HyperparameterValue>,
}

impl From<&GroupState> for GroupSection {
    fn from(g: &GroupState) -> Self {
        GroupSection {
            params: g.params.clone(),
            lr: g.lr,
            hyperparameters: g.hyperparameters.iter().cloned().collect(),
        }
    }
}

impl From<GroupSection> for GroupState {
    fn from(g: GroupSection) -> Self {
        GroupState {
            params: g.params,
            hyperparameters: g.hyperparameters.into_iter().collect(),
            lr: g.lr,
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClipSection {
    Norm(#[serde(with = "crate::io::json_float")] f32),
    Value(#[serde(with = "crate::io::json_float")] f32),
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ContextSection {
    pub step: u64,
    pub mu_product: JsonFloat,
    /// The schedule-free optimizers' carried values; absent (their start values) for every
    /// other optimizer and in files written before them.
    #[serde(default = "lr_max_start", skip_serializing_if = "is_lr_max_start")]
    pub lr_max: JsonFloat,
    #[serde(
        default = "weight_sum_start",
        skip_serializing_if = "is_weight_sum_start"
    )]
    pub weight_sum: JsonFloat,
}

fn lr_max_start() -> JsonFloat {
    JsonFloat(StepContext::default().lr_max)
}
fn is_lr_max_start(v: &JsonFloat) -> bool {
    v.0.to_bits() == lr_max_start().0.to_bits()
}
fn weight_sum_start() -> JsonFloat {
    JsonFloat(StepContext::default().weight_sum)
}
fn is_weight_sum_start(v: &JsonFloat) -> bool {
    v.0.to_bits() == weight_sum_start().0.to_bits()
}

/// `true`: what an absent `train_mode` means.
fn train_mode_start() -> bool {
    true
}
fn is_train_mode_start(v: &bool) -> bool {
    *v
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TrainingSection {
    pub epoch: usize,
    pub shuffle_seed: u64,
    #[serde(default)]
    pub schedule: Option<serde_json::Value>,
    pub history: History,
    #[serde(default)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl From<GradClip> for ClipSection {
    fn from(clip: GradClip) -> Self {
        match clip {
            GradClip::Norm(v) => ClipSection::Norm(v),
            GradClip::Value(v) => ClipSection::Value(v),
        }
    }
}

impl From<ClipSection> for GradClip {
    fn from(clip: ClipSection) -> Self {
        match clip {
            ClipSection::Norm(v) => GradClip::Norm(v),
            ClipSection::Value(v) => GradClip::Value(v),
        }
    }
}

impl From<&StepContext> for ContextSection {
    fn from(c: &StepContext) -> Self {
        ContextSection {
            step: c.step,
            mu_product: JsonFloat(c.mu_product),
            lr_max: JsonFloat(c.lr_max),
            weight_sum: JsonFloat(c.weight_sum),
        }
    }
}

impl From<&ContextSection> for StepContext {
    fn from(c: &ContextSection) -> Self {
        StepContext {
            step: c.step,
            mu_product: c.mu_product.0,
            lr_max: c.lr_max.0,
            weight_sum: c.weight_sum.0,
        }
    }
}

impl TrainingSection {
    pub fn new(state: &TrainingState) -> Self {
        TrainingSection {
            epoch: state.epoch,
            shuffle_seed: state.shuffle_seed,
            schedule: state.schedule.clone(),
            history: state.history.clone(),
            extra: state.extra.clone(),
        }
    }

    /// The training state, its history checked as `History::from_json` checks one.
    pub fn into_state(self, path: &str) -> Result<TrainingState> {
        let text = self.history.to_json()?;
        let history = History::from_json(&text).map_err(|e| Error::Corrupt {
            path: path.to_string(),
            detail: format!("its training history is inconsistent: {e}"),
        })?;
        Ok(TrainingState {
            epoch: self.epoch,
            shuffle_seed: self.shuffle_seed,
            schedule: self.schedule,
            history,
            extra: self.extra,
        })
    }
}

impl Header {
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::Config(format!("checkpoint header: {e}")))
    }

    /// Parses the `downhill` metadata of the file at `path`: [`Error::Corrupt`] when it is
    /// not the JSON of a header, [`Error::Mismatch`] when a later version wrote it.
    pub fn parse(text: &str, path: &str) -> Result<Header> {
        let corrupt = |detail: String| Error::Corrupt {
            path: path.to_string(),
            detail,
        };
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| corrupt(format!("its downhill metadata is not JSON: {e}")))?;
        match value.get("format_version").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(FORMAT_VERSION) => {}
            Some(v) => {
                return Err(Error::mismatch(
                    format!("file {path}"),
                    &[format!(
                        "it has format version {v}; this downhill reads version {FORMAT_VERSION}"
                    )],
                ))
            }
            None => {
                return Err(corrupt(
                    "its downhill metadata has no format_version".into(),
                ))
            }
        }
        serde_json::from_value(value)
            .map_err(|e| corrupt(format!("its downhill metadata is incomplete: {e}")))
    }
}
