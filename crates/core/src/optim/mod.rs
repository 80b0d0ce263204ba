//! Optimizers: configurations (hyperparameters with PyTorch's defaults and validation),
//! one flat state layout, and the [`Optimizer`] that steps them.
//!
//! In order of increasing complexity: SGD (momentum, dampening, Nesterov, weight decay),
//! Adagrad, RMSprop, Adadelta, Adam/AdamW (amsgrad), Adamax, NAdam; beyond `torch.optim`,
//! Lion (Chen et al. 2023). L-BFGS ([`Lbfgs`], PyTorch's `LBFGS` with its strong-Wolfe
//! line search) evaluates the loss several times per step, so it is stepped with a closure
//! on an [`LbfgsOptimizer`] of its own rather than with one gradient. Learning-rate
//! schedules, which change an optimizer's rate between steps, are in [`schedule`];
//! parameter groups (PyTorch's `param_groups`: per-group learning rates, no weight decay
//! on biases) are [`ParamGroup`]s.
//!
//! # One module and one kernel per optimizer
//!
//! Each optimizer's module holds its configuration (an [`OptimizerConfig`]: PyTorch's
//! names and defaults, validation, the hyperparameter list checkpoints record) and its
//! rule: a `#[repr(C)]` plain-data struct (`bytemuck::Pod`) that is, byte for byte, the
//! uniform of its WGSL kernel, with every per-step scalar computed on the host, and its
//! [`UpdateRule`] impl, whose `apply` is the CPU loop. The backends know no optimizer: the
//! CPU calls `apply` (split over threads for large buffers), the GPU looks the kernel up by
//! name in its kernel table and dispatches it once over the whole flat buffer.
//!
//! To add an optimizer `Foo` (four files, nothing else):
//!
//! 1. `crates/core/src/optim/foo.rs`: the config `Foo` (builder, `validate`,
//!    `hyperparameter_fields`, `rule` returning `Box::new(FooRule { .. })`), and
//!    `FooRule`: `#[repr(C)]`, `#[derive(Clone, Copy, Debug, Default, PartialEq,
//!    bytemuck::Pod, bytemuck::Zeroable)]`, fields `n4: u32` (the GPU writes the length in
//!    vec4s there), `flags: u32`, then the scalars, padded with `_pad0`, ... to a multiple
//!    of 16 bytes; its flag bits as associated consts (`MAXIMIZE` is [`flags::MAXIMIZE`]);
//!    `pub const LAYOUT: RuleLayout = layout!(FooRule, "foo", fields { .. }, flags { .. },
//!    state ["exp_avg", ..])` (state bindings by PyTorch's names); and `impl UpdateRule`
//!    (`layout`, `uniform` = `bytemuck::bytes_of(self)`, `uses_state` if an option drops
//!    a buffer, `apply`). A non-zero initial state goes in `OptimizerConfig::initial_state`.
//! 2. `optim/mod.rs`: `mod foo;`, `pub use foo::{Foo, FooRule};` and `&FooRule::LAYOUT`
//!    in [`RULE_LAYOUTS`].
//! 3. `shaders/optim/foo.wgsl`: entry point `foo`, the uniform struct at `@binding(0)`
//!    with the Rust struct's fields in order, `const` flag bits of the same names,
//!    `params` (read-write) at 1, `grads` (read) at 2, the state buffers by the same
//!    names from 3; four elements (a `vec4`) per invocation.
//! 4. `crates/gpu/src/kernels.rs`: `optimizer!("foo", <number of state bindings>)` in
//!    `OPTIMIZERS`.
//!
//! `crates/gpu/tests/optimizer_uniforms.rs` then checks the WGSL struct's size and every
//! field offset, the flag values and the binding names against `LAYOUT`; the behaviour is
//! pinned by a reference test written from the optimizer's source (PyTorch's code or the
//! paper) and a CPU-vs-GPU parity test, as `tests/optimizers.rs` and `tests/parity.rs` do.

mod adadelta;
mod adagrad;
mod adam;
mod adamax;
pub mod flat;
mod groups;
mod lbfgs;
mod lion;
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
pub use lbfgs::{Lbfgs, LbfgsOptimizer, LbfgsState, LineSearch};
pub use lion::{Lion, LionRule};
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
    &LionRule::LAYOUT,
];
