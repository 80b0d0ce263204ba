//! Optimizers: configurations (hyperparameters with PyTorch's defaults and validation),
//! one flat state layout, and the [`Optimizer`] that steps them.
//!
//! In order of increasing complexity: SGD (momentum, dampening, Nesterov, weight decay),
//! Adagrad, RMSprop, Adadelta, Adam/AdamW (amsgrad), Adamax, NAdam.

mod adadelta;
mod adagrad;
mod adam;
mod adamax;
pub mod flat;
mod nadam;
mod optimizer;
mod params;
mod rmsprop;
mod rule;
mod sgd;
mod state;
mod validate;

pub use adadelta::Adadelta;
pub use adagrad::Adagrad;
pub use adam::{Adam, AdamW};
pub use adamax::Adamax;
pub use nadam::NAdam;
pub use optimizer::{BoxedClone, Optimizer, OptimizerConfig, StepContext};
pub use params::{ParamSet, Segment, SEGMENT_ALIGN};
pub use rmsprop::RmsProp;
pub use rule::UpdateRule;
pub use sgd::{Gd, Sgd};
pub use state::{HyperparameterValue, OptimizerState, StateBuffer};
