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

pub use adadelta::{Adadelta, AdadeltaRule};
pub use adagrad::{Adagrad, AdagradRule};
pub use adam::{Adam, AdamRule, AdamW};
pub use adamax::{Adamax, AdamaxRule};
pub(crate) use groups::Grouping;
pub use groups::{OptimizerGroup, ParamGroup};
pub use nadam::{NAdam, NAdamRule};
pub use optimizer::{BoxedClone, Optimizer, OptimizerConfig, StepContext};
pub use params::{ParamSet, Segment, SEGMENT_ALIGN};
pub use rmsprop::{RmsProp, RmsPropRule};
pub use rule::{flags, RuleLayout, UpdateRule};
pub use schedule::{
    AnnealStrategy, ChainedScheduler, ConstantLR, CosineAnnealingLR, CosineAnnealingWarmRestarts,
    ExponentialLR, LinearLR, LrScheduler, MultiStepLR, OneCycleLR, PlateauMode, ReduceLROnPlateau,
    ScheduleConfig, ScheduleState, SequentialLR, StepLR, StepUnit, ThresholdMode,
};
pub use sgd::{Gd, Sgd, SgdRule};
pub use state::{
    GroupState, HyperparameterField, HyperparameterValue, OptimizerState, StateBuffer,
};

/// Every optimizer's rule layout, one line each: what the gpu crate's tests check against
/// the WGSL files (uniform size and field offsets, flag bits, state bindings) and the
/// kernel table.
pub const RULE_LAYOUTS: &[&RuleLayout] = &[
    &SgdRule::LAYOUT,
    &AdagradRule::LAYOUT,
    &RmsPropRule::LAYOUT,
    &AdamRule::LAYOUT,
    &AdamaxRule::LAYOUT,
    &NAdamRule::LAYOUT,
    &AdadeltaRule::LAYOUT,
];
