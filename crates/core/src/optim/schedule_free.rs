//! What the schedule-free optimizers share (Defazio et al. 2024, "The Road Less
//! Scheduled", arXiv:2405.15682; reference code: `schedulefree` of
//! facebookresearch/schedule_free): the per-step averaging scalars computed on the host,
//! the evaluation-point swap (its rule and kernel `shaders/optim/schedule_free_swap.wgsl`),
//! PyTorch's `lerp` and the range checks.
//!
//! The parameters hold `y`, the point the gradient is taken at; the state `z` holds the
//! base iterate and `x`, the average to evaluate, is `x = (y − (1 − β)·z) / β` (β the
//! momentum, β1 for AdamW), recovered by [`Optimizer::eval`](super::Optimizer::eval).

use super::optimizer::StepContext;
use super::rule::{layout, RuleLayout, UpdateRule};
use crate::error::{Error, Result};

/// The averaging scalars of one step, as the reference computes them per group:
/// the warmed-up rate and `ckp1`, the weight of the new point in the average `x`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Averaging {
    /// `lr · sched`, `sched = (k + 1) / warmup_steps` while `k < warmup_steps`, else 1.
    pub lr: f64,
    /// `weight / weight_sum`, `weight = (k + 1)^r · lr_max^weight_lr_power` (0 when the
    /// sum is 0, as the reference catches the `ZeroDivisionError`).
    pub ckp1: f64,
}

/// Step `ctx.step` (`k = step − 1`) of the reference's averaging: updates the carried
/// `lr_max` and `weight_sum` in `ctx` and returns the step's scalars. In f64, as Python.
pub(crate) fn averaging(
    ctx: &mut StepContext,
    lr: f32,
    warmup_steps: f32,
    r: f32,
    weight_lr_power: f32,
) -> Averaging {
    let k = ctx.step.saturating_sub(1) as f64;
    let warmup = f64::from(warmup_steps);
    let sched = if k < warmup { (k + 1.0) / warmup } else { 1.0 };
    let lr = f64::from(lr) * sched;
    // Python's max(lr, lr_max): lr_max unless lr is larger.
    if lr > ctx.lr_max {
        ctx.lr_max = lr;
    }
    let weight = (k + 1.0).powf(f64::from(r)) * ctx.lr_max.powf(f64::from(weight_lr_power));
    ctx.weight_sum += weight;
    let ckp1 = if ctx.weight_sum == 0.0 {
        0.0
    } else {
        weight / ctx.weight_sum
    };
    Averaging { lr, ckp1 }
}

/// `torch.lerp(a, b, w)` as PyTorch's scalar kernel computes it: `a + w·(b − a)` for
/// `|w| < 0.5`, else `b − (b − a)·(1 − w)` (the eval weight `1 − 1/β` is negative).
#[inline(always)]
pub(crate) fn lerp(a: f32, b: f32, w: f32) -> f32 {
    if w.abs() < 0.5 {
        a + w * (b - a)
    } else {
        b - (b - a) * (1.0 - w)
    }
}

/// A momentum the swap divides by: in the open interval (0, 1), as the reference's SGD
/// requires (`x = lerp(y, z, 1 − 1/β)` needs β > 0).
pub(crate) fn open_unit_interval(name: &'static str, value: f32) -> Result<()> {
    if value > 0.0 && value < 1.0 {
        Ok(())
    } else {
        Err(Error::Hyperparameter {
            name,
            value,
            reason: "must lie in (0, 1)",
        })
    }
}

/// Any finite number (`r`, the power of the step count in the weights).
pub(crate) fn finite(name: &'static str, value: f32) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(Error::Hyperparameter {
            name,
            value,
            reason: "must be a finite number",
        })
    }
}

/// The swap `p ← lerp(p, z, weight)` in each direction for momentum `beta` (f32 widened,
/// the weights computed in f64 as Python does and rounded as torch rounds the scalar).
pub(crate) fn swap_rule(beta: f32, to_eval: bool) -> Box<dyn UpdateRule> {
    let beta = f64::from(beta);
    let weight = if to_eval {
        1.0 - 1.0 / beta
    } else {
        1.0 - beta
    };
    Box::new(ScheduleFreeSwapRule {
        n4: 0,
        flags: 0,
        weight: weight as f32,
        _pad0: 0,
    })
}

/// The evaluation-point swap of the schedule-free optimizers: `p ← lerp(p, z, weight)`
/// with `weight = 1 − 1/β` (to `x`, `eval`) or `1 − β` (back to `y`, `train`). The
/// uniform of `shaders/optim/schedule_free_swap.wgsl`; state `[z]`, gradients unused.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ScheduleFreeSwapRule {
    /// The length in vec4s (the GPU backend writes it).
    pub n4: u32,
    /// No flags (0).
    pub flags: u32,
    /// The interpolation weight towards `z`.
    pub weight: f32,
    /// Padding to the WGSL struct's 16-byte multiple.
    pub _pad0: u32,
}

impl ScheduleFreeSwapRule {
    /// The kernel, uniform fields, flags and state bindings of this struct.
    pub const LAYOUT: RuleLayout = layout!(
        ScheduleFreeSwapRule,
        "schedule_free_swap",
        fields {
            n4,
            flags,
            weight,
            _pad0
        },
        flags {},
        state["z"]
    );
}

impl UpdateRule for ScheduleFreeSwapRule {
    fn layout(&self) -> &'static RuleLayout {
        &Self::LAYOUT
    }
    fn uniform(&self) -> &[u8] {
        bytemuck::bytes_of(self)
    }
    fn apply(&self, params: &mut [f32], _grads: &[f32], state: &mut [&mut [f32]]) {
        let w = self.weight;
        for (p, &z) in params.iter_mut().zip(state[0].iter()) {
            *p = lerp(*p, z, w);
        }
    }
}
