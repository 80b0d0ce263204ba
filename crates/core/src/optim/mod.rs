//! Optimizers: configurations (hyperparameters with PyTorch's defaults and validation),
//! one flat state layout, and the [`Optimizer`] that steps them.
//!
//! In order of increasing complexity: SGD (momentum, dampening, Nesterov, weight decay),
//! Adagrad, RMSprop, Adadelta, Adam/AdamW (amsgrad), Adamax, NAdam. Learning-rate
//! schedules, which change an optimizer's rate between steps, are in [`schedule`];
//! parameter groups (PyTorch's `param_groups`: per-group learning rates, no weight decay on
//! biases) are [`ParamGroup`]s.

mod adadelta;
mod adagrad;
mod adam;
mod adamax;
pub mod flat;
mod groups;
mod nadam;
mod optimizer;
mod params;
mod rmsprop;
mod rule;
pub mod schedule;
mod sgd;
mod state;
mod validate;

pub use adadelta::Adadelta;
pub use adagrad::Adagrad;
pub use adam::{Adam, AdamW};
pub use adamax::Adamax;
pub(crate) use groups::Grouping;
pub use groups::{OptimizerGroup, ParamGroup};
pub use nadam::NAdam;
pub use optimizer::{BoxedClone, Optimizer, OptimizerConfig, StepContext};
pub use params::{ParamSet, Segment, SEGMENT_ALIGN};
pub use rmsprop::RmsProp;
pub use rule::UpdateRule;
pub use schedule::{
    AnnealStrategy, ChainedScheduler, ConstantLR, CosineAnnealingLR, CosineAnnealingWarmRestarts,
    ExponentialLR, LinearLR, LrScheduler, MultiStepLR, OneCycleLR, PlateauMode, ReduceLROnPlateau,
    ScheduleConfig, ScheduleState, SequentialLR, StepLR, StepUnit, ThresholdMode,
};
pub use sgd::{Gd, Sgd};
pub use state::{
    GroupState, HyperparameterField, HyperparameterValue, OptimizerState, StateBuffer,
};
