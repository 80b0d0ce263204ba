//! Optimizers: configurations (hyperparameters with PyTorch's defaults and validation),
//! one flat state layout, and the [`Optimizer`] that steps them.
//!
//! In order of increasing complexity: SGD (momentum, dampening, Nesterov, weight decay),
//! Adagrad, RMSprop, Adadelta, Adam/AdamW (amsgrad), Adamax, NAdam; beyond `torch.optim`,
//! Lion (Chen et al. 2023), LAMB (You et al. 2020, as timm's `Lamb`: a tensorwise rule,
//! below), Adafactor (`torch.optim.Adafactor`, factored moments: tensorwise too), Muon
//! (Keller Jordan 2024, Newton–Schulz orthogonalised momentum for 2-D weights, AdamW for
//! the rest: a composed rule, below), and the schedule-free [`AdamWScheduleFree`] and
//! [`SgdScheduleFree`] (Defazio et al. 2024). L-BFGS ([`Lbfgs`], PyTorch's `LBFGS` with
//! its strong-Wolfe line search) evaluates the loss several times per step, so it is
//! stepped with a closure on an [`LbfgsOptimizer`] of its own rather than with one
//! gradient. Learning-rate schedules, which change an
//! optimizer's rate between steps, are in [`schedule`]; parameter groups (PyTorch's
//! `param_groups`: per-group learning rates, no weight decay on biases) are
//! [`ParamGroup`]s.
//!
//! # Evaluation points
//!
//! A schedule-free optimizer trains at one point (`y`, the gradient's) and should be
//! evaluated at another (`x`, the average). Its configuration says how to move between
//! them ([`OptimizerConfig::evaluation_swap`], a small elementwise rule of its own
//! kernel); [`Optimizer::eval`] moves the parameters to `x`, [`Optimizer::train`] back to
//! `y`, as the reference's `optimizer.eval()` and `optimizer.train()`, and `step` is
//! refused in between. For every other optimizer both do nothing. `fit` calls them:
//! validation sees `x`, steps see `y`, and `fit` returns with the parameters at `x`
//! (what `evaluate`, `predict` and `save_weights` then see); the next `fit` moves them
//! back before its first step. A checkpoint records the mode with the parameters.
//!
//! More elementwise rules, each in its own module:
//!
//! - [`RAdam`]: rectified Adam, as `torch.optim.RAdam`.
//! - [`Rprop`]: sign-based per-element step sizes, as `torch.optim.Rprop`.
//! - [`Asgd`]: averaged SGD with a decaying rate, as `torch.optim.ASGD`.
//! - [`Adan`]: adaptive Nesterov momentum (Xie et al. 2022; not in `torch.optim`).
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
//!
//! # Tensorwise rules: steps that need a number per parameter tensor
//!
//! LAMB's trust ratio `‖p‖/‖u‖` and Adafactor's factored moments and RMS clipping need
//! reductions over each parameter tensor, which an elementwise pass cannot give. Such a
//! rule is still a `#[repr(C)]` uniform struct with a [`RuleLayout`] (its state by
//! PyTorch's names), and also a [`TensorwiseRule`] ([`tensorwise`]): its
//! [`UpdateRule::tensorwise`] returns itself, and [`Optimizer::step`] then steps each run
//! with `OptimOps::tensorwise_step` (a supertrait of the `Backend`, in
//! `backend/optim_ops.rs`) over the run's [`SegmentTable`] (offset, length and
//! `[batches, rows, cols]` of every tensor, built from the [`ParamSet`]'s segments and
//! uploaded once per run, then cached). The backends still know no optimizer: the CPU runs
//! [`TensorwiseRule::apply_segments`]; the GPU dispatches the rule's `<kernel>_segments`
//! (ONE dispatch, one workgroup per tensor, which reduces and writes
//! [`TensorwiseLayout::scalars`] numbers per tensor to a pooled device buffer) and then
//! its elementwise `<kernel>` (ONE dispatch, each `vec4` finding its tensor by binary
//! search in the table and reading its numbers): two dispatches per run and step, and no
//! read-back. To add one, `Foo` (five files):
//!
//! 1. `optim/foo.rs`: the config and `FooRule` as above, its fields starting `n4`,
//!    `flags`, `nseg` (the GPU writes the vec4 length and the segment count), a
//!    `TENSORWISE: TensorwiseLayout` const, `impl UpdateRule` with `tensorwise` returning
//!    `Some(self)` and `impl TensorwiseRule` (`apply_segments`, the CPU loop).
//! 2. `optim/mod.rs`: `mod foo;`, `pub use`, and `(&FooRule::LAYOUT, &FooRule::TENSORWISE)`
//!    in [`TENSORWISE_LAYOUTS`] (not [`RULE_LAYOUTS`]).
//! 3. `shaders/optim/foo.wgsl`: entry points `foo_segments` (`@workgroup_size(256)`, the
//!    workgroup index is the segment) and `foo`; bindings: the uniform, `params`, `grads`,
//!    the state, then `segments` (`array<Segment>`, read) and `scalars` (read-write).
//! 4. `crates/gpu/src/kernels.rs`: `tensorwise!("foo", <state bindings>)` in `TENSORWISE`.
//! 5. `tests/foo.rs`. `crates/gpu/tests/tensorwise_uniforms.rs` checks the WGSL against
//!    the layouts.
//!
//! State of another shape than the parameter's (Adafactor's `row_var` `[.., rows, 1]` and
//! `col_var` `[.., 1, cols]`) lives at the start of the parameter's segment of a flat
//! buffer; the config's [`OptimizerConfig::state_len`] says how many values that is, so
//! `state_dict` and checkpoints hold exactly PyTorch's shapes and check them on load.
//!
//! # Composed rules: steps built from backend ops
//!
//! Muon orthogonalises each 2-D update by Newton–Schulz iterations, i.e. matrix
//! products, which no kernel pair expresses. Its rule is a
//! [`ComposedRule`] ([`UpdateRule::composed`] returns it): its
//! `step_run` receives the backend and the run's views and segments, and composes the
//! backend's own ops (`matmul`, `binary`, `reduce`, `accumulate`, another rule's
//! `optimizer_step` for the AdamW parameters) on them. The same code runs on every
//! backend (on the GPU through the matmul kernels), nothing is read back, and no backend
//! or kernel table changes: such a rule is one module (plus its test).
//!
//! A tensor is reduced by one workgroup: fine for the parameter sizes of one layer up to
//! a few million elements; beyond that a two-level reduction would spread it.

mod adadelta;
mod adafactor;
mod adagrad;
mod adam;
mod adamax;
mod adamw_schedule_free;
mod adan;
mod asgd;
mod config;
pub mod flat;
mod groups;
mod lamb;
mod lbfgs;
mod lion;
mod muon;
mod nadam;
mod optimizer;
mod params;
mod radam;
mod rmsprop;
mod rprop;
mod rule;
pub mod schedule;
mod schedule_free;
mod sgd;
mod sgd_schedule_free;
mod state;
pub mod tensorwise;
mod validate;

pub use adadelta::{Adadelta, AdadeltaRule};
pub use adafactor::{Adafactor, AdafactorRule};
pub use adagrad::{Adagrad, AdagradRule};
pub use adam::{Adam, AdamRule, AdamW};
pub use adamax::{Adamax, AdamaxRule};
pub use adamw_schedule_free::{AdamWScheduleFree, AdamWScheduleFreeRule};
pub use adan::{Adan, AdanRule};
pub use asgd::{Asgd, AsgdRule};
pub(crate) use groups::Grouping;
pub use groups::{OptimizerGroup, ParamGroup};
pub use lamb::{Lamb, LambRule};
pub use lbfgs::{Lbfgs, LbfgsOptimizer, LbfgsState, LineSearch};
pub use lion::{Lion, LionRule};
pub use muon::{Muon, MuonRule, NS_COEFFICIENTS};
pub use nadam::{NAdam, NAdamRule};
pub use optimizer::{BoxedClone, Optimizer, OptimizerConfig, StepContext};
pub use params::{ParamSet, Segment, SEGMENT_ALIGN};
pub use radam::{RAdam, RAdamRule};
pub use rmsprop::{RmsProp, RmsPropRule};
pub use rprop::{Rprop, RpropRule};
pub use rule::{flags, RuleLayout, UpdateRule};
pub use schedule::{
    AnnealStrategy, ChainedScheduler, ConstantLR, CosineAnnealingLR, CosineAnnealingWarmRestarts,
    ExponentialLR, LinearLR, LrScheduler, MultiStepLR, OneCycleLR, PlateauMode, ReduceLROnPlateau,
    ScheduleConfig, ScheduleState, SequentialLR, StepLR, StepUnit, ThresholdMode,
};
pub use schedule_free::ScheduleFreeSwapRule;
pub use sgd::{Gd, Sgd, SgdRule};
pub use sgd_schedule_free::{SgdScheduleFree, SgdScheduleFreeRule};
pub use state::{
    GroupState, HyperparameterField, HyperparameterValue, OptimizerState, StateBuffer,
};
pub use tensorwise::{ComposedRule, SegmentRow, SegmentTable, TensorwiseLayout, TensorwiseRule};

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
    &AdamWScheduleFreeRule::LAYOUT,
    &SgdScheduleFreeRule::LAYOUT,
    &ScheduleFreeSwapRule::LAYOUT,
    &RAdamRule::LAYOUT,
    &RpropRule::LAYOUT,
    &AsgdRule::LAYOUT,
    &AdanRule::LAYOUT,
];

/// Every tensorwise rule's layouts (see [`tensorwise`]), one line each: what the gpu
/// crate's tests check against the WGSL files and its tensorwise kernel table.
pub const TENSORWISE_LAYOUTS: &[(&RuleLayout, &TensorwiseLayout)] = &[
    (&LambRule::LAYOUT, &LambRule::TENSORWISE),
    (&AdafactorRule::LAYOUT, &AdafactorRule::TENSORWISE),
];
