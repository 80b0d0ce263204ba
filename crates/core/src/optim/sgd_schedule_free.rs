//! Schedule-free SGD, from Defazio et al. 2024, "The Road Less Scheduled"
//! (arXiv:2405.15682), as its reference code computes it (`SGDScheduleFree` in
//! `schedulefree/sgd_schedulefree.py` of facebookresearch/schedule_free). PyTorch has no
//! schedule-free optimizers.
//!
//! The parameters hold `y` while training; `Optimizer::eval` moves them to the average `x`
//! and `Optimizer::train` back (see [`super::schedule_free`]).

use super::adamw_schedule_free::whole_steps;
use super::optimizer::{OptimizerConfig, StepContext};
use super::rule::{flags, layout, RuleLayout, UpdateRule};
use super::schedule_free::{self, averaging, lerp};
use super::state::HyperparameterField;
use super::validate;
use crate::error::Result;

/// Schedule-free SGD. With `k`, `lr_k` and `ckp1` as for
/// [`AdamWScheduleFree`](super::AdamWScheduleFree) and β the momentum:
///
/// ```text
/// g ← g + weight_decay·y
/// y ← lerp(y, z, ckp1);  y ← y + lr_k·(β·(1 − ckp1) − 1)·g;  z ← z − lr_k·g
/// ```
///
/// State `z` (the parameter at its first step). The evaluation point is
/// `x = lerp(y, z, 1 − 1/β)`.
///
/// Defaults (the reference's): momentum 0.9, weight_decay 0, warmup_steps 0, r 0,
/// weight_lr_power 2; `lr` is given (the reference's default is 1.0). Step counts and the
/// carried weights are per parameter, as for `AdamWScheduleFree`.
#[derive(Clone, Debug, PartialEq)]
pub struct SgdScheduleFree {
    /// `lr`: finite, ≥ 0.
    pub lr: f32,
    /// `momentum` (default 0.9): the interpolation between `z` and the average; in (0, 1),
    /// as the reference requires.
    pub momentum: f32,
    /// `weight_decay` (default 0): `weight_decay · y` added to the gradient; finite, ≥ 0.
    pub weight_decay: f32,
    /// `warmup_steps` (default 0): the linear warmup's length, a whole number of steps.
    pub warmup_steps: f32,
    /// `r` (default 0): the power of `k + 1` in the averaging weights; finite.
    pub r: f32,
    /// `weight_lr_power` (default 2): the power of `lr_max` in the averaging weights;
    /// finite, ≥ 0.
    pub weight_lr_power: f32,
}

impl SgdScheduleFree {
    /// Schedule-free SGD with learning rate `lr` and the reference's defaults for the rest.
    /// Ranges are checked when the optimizer is built.
    pub fn new(lr: f32) -> Self {
        SgdScheduleFree {
            lr,
            momentum: 0.9,
            weight_decay: 0.0,
            warmup_steps: 0.0,
            r: 0.0,
            weight_lr_power: 2.0,
        }
    }
    /// Sets `momentum` (default 0.9, in (0, 1)).
    pub fn momentum(mut self, v: f32) -> Self {
        self.momentum = v;
        self
    }
    /// Sets `weight_decay` (default 0, ≥ 0), applied at `y`.
    pub fn weight_decay(mut self, v: f32) -> Self {
        self.weight_decay = v;
        self
    }
    /// Sets `warmup_steps` (default 0): the rate rises linearly over that many steps.
    pub fn warmup_steps(mut self, steps: u32) -> Self {
        self.warmup_steps = steps as f32;
        self
    }
    /// Sets `r` (default 0): polynomial weighting `(k + 1)^r` of the average.
    pub fn r(mut self, v: f32) -> Self {
        self.r = v;
        self
    }
    /// Sets `weight_lr_power` (default 2, ≥ 0).
    pub fn weight_lr_power(mut self, v: f32) -> Self {
        self.weight_lr_power = v;
        self
    }
}

impl OptimizerConfig for SgdScheduleFree {
    fn name(&self) -> &'static str {
        "SgdScheduleFree"
    }
    fn validate(&self) -> Result<()> {
        validate::non_negative("lr", self.lr)?;
        schedule_free::open_unit_interval("momentum", self.momentum)?;
        validate::non_negative("weight_decay", self.weight_decay)?;
        whole_steps(self.warmup_steps)?;
        schedule_free::finite("r", self.r)?;
        validate::non_negative("weight_lr_power", self.weight_lr_power)
    }
    fn hyperparameter_fields(&mut self) -> Vec<(&'static str, HyperparameterField<'_>)> {
        vec![
            ("lr", (&mut self.lr).into()),
            ("momentum", (&mut self.momentum).into()),
            ("weight_decay", (&mut self.weight_decay).into()),
            ("warmup_steps", (&mut self.warmup_steps).into()),
            ("r", (&mut self.r).into()),
            ("weight_lr_power", (&mut self.weight_lr_power).into()),
        ]
    }
    fn lr(&self) -> f32 {
        self.lr
    }
    fn lr_mut(&mut self) -> &mut f32 {
        &mut self.lr
    }
    // No `momentum()`: a cycled momentum would break the eval/train swap's inverse.
    fn rule(&self, ctx: &mut StepContext) -> Box<dyn UpdateRule> {
        let avg = averaging(
            ctx,
            self.lr,
            self.warmup_steps,
            self.r,
            self.weight_lr_power,
        );
        let momentum = f64::from(self.momentum);
        Box::new(SgdScheduleFreeRule {
            n4: 0,
            flags: flags::bit(ctx.step == 1, SgdScheduleFreeRule::INIT_Z),
            weight_decay: self.weight_decay,
            ckp1: avg.ckp1 as f32,
            y_lr: (avg.lr * (momentum * (1.0 - avg.ckp1) - 1.0)) as f32,
            lr: avg.lr as f32,
            _pad0: 0,
            _pad1: 0,
        })
    }
    fn evaluation_swap(&self, to_eval: bool) -> Option<Box<dyn UpdateRule>> {
        Some(schedule_free::swap_rule(self.momentum, to_eval))
    }
}

/// One schedule-free SGD step: the uniform of `shaders/optim/sgd_schedule_free.wgsl`.
/// State: `[z]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SgdScheduleFreeRule {
    /// The length in vec4s (the GPU backend writes it).
    pub n4: u32,
    /// [`SgdScheduleFreeRule::INIT_Z`].
    pub flags: u32,
    /// Weight decay at `y`, added to the gradient.
    pub weight_decay: f32,
    /// The new point's weight in the average: `y ← lerp(y, z, ckp1)`.
    pub ckp1: f32,
    /// `lr_k · (β·(1 − ckp1) − 1)`: the rate of `y`'s step.
    pub y_lr: f32,
    /// `lr_k`: the rate of `z`'s step.
    pub lr: f32,
    /// Padding to the WGSL struct's 16-byte multiple.
    pub _pad0: u32,
    /// Padding.
    pub _pad1: u32,
}

impl SgdScheduleFreeRule {
    /// The run's first step: `z ← y` first (the reference's `state['z'] = clone(p)`).
    pub const INIT_Z: u32 = 1;
    /// The kernel, uniform fields, flags and state bindings of this struct.
    pub const LAYOUT: RuleLayout = layout!(
        SgdScheduleFreeRule,
        "sgd_schedule_free",
        fields {
            n4,
            flags,
            weight_decay,
            ckp1,
            y_lr,
            lr,
            _pad0,
            _pad1
        },
        flags { INIT_Z },
        state["z"]
    );
}

impl UpdateRule for SgdScheduleFreeRule {
    fn layout(&self) -> &'static RuleLayout {
        &Self::LAYOUT
    }
    fn uniform(&self) -> &[u8] {
        bytemuck::bytes_of(self)
    }
    fn apply(&self, params: &mut [f32], grads: &[f32], state: &mut [&mut [f32]]) {
        let init_z = self.flags & Self::INIT_Z != 0;
        let s = *self;
        let z = &mut *state[0];
        for i in 0..params.len() {
            let y = params[i];
            if init_z {
                z[i] = y;
            }
            let mut g = grads[i];
            if s.weight_decay != 0.0 {
                g += s.weight_decay * y;
            }
            params[i] = lerp(y, z[i], s.ckp1) + s.y_lr * g;
            z[i] -= s.lr * g;
        }
    }
}
