//! Schedule-free AdamW, from Defazio et al. 2024, "The Road Less Scheduled"
//! (arXiv:2405.15682), as its reference code computes it (`AdamWScheduleFree` in
//! `schedulefree/adamw_schedulefree.py` of facebookresearch/schedule_free): no learning-rate
//! schedule, an average of the iterates instead. PyTorch has no schedule-free optimizers.
//!
//! The parameters hold `y` while training; `Optimizer::eval` moves them to the average `x`
//! and `Optimizer::train` back (see [`super::schedule_free`]).

use super::optimizer::{OptimizerConfig, StepContext};
use super::rule::{flags, layout, RuleLayout, UpdateRule};
use super::schedule_free::{self, averaging, lerp};
use super::state::HyperparameterField;
use super::validate;
use crate::error::{Error, Result};

/// Schedule-free AdamW. With `k` the 0-based step, `sched` the linear warmup
/// (`(k + 1)/warmup_steps` while `k < warmup_steps`, else 1), `lr_k = lr · sched`,
/// `lr_max` the largest `lr_k` so far, `weight = (k + 1)^r · lr_max^weight_lr_power` and
/// `ckp1 = weight / Σ weight`:
///
/// ```text
/// v ← β2·v + (1 − β2)·g²;  d = sqrt(v / (1 − β2^(k+1))) + eps
/// u = g / d   (inner_momentum μ ≠ 0: m ← μ·m + (1 − μ)·g, u = (m / (1 − μ^(k+1))) / d)
/// u ← u + weight_decay·y                       (decay at y)
/// y ← lerp(y, z, ckp1);  y ← y + lr_k·(β1·(1 − ckp1) − 1)·u;  z ← z − lr_k·u
/// ```
///
/// State `z` (the parameter at its first step), `exp_avg_sq` (0) and, with
/// inner_momentum, `exp_avg` (0). The evaluation point is `x = lerp(y, z, 1 − 1/β1)`.
///
/// Defaults (the reference's): lr 0.0025, betas (0.9, 0.999), eps 1e-8, weight_decay 0,
/// warmup_steps 0, r 0, weight_lr_power 2, inner_momentum 0. The step count `k`,
/// `lr_max` and the weight sum are kept per parameter (as PyTorch keeps `state['step']`),
/// the reference keeps them per group: the two agree unless a parameter misses a
/// gradient at some step. A schedule may change `lr` between steps (`lr_k` scales it).
#[derive(Clone, Debug, PartialEq)]
pub struct AdamWScheduleFree {
    /// `lr` (default 0.0025): finite, ≥ 0.
    pub lr: f32,
    /// `betas` (default (0.9, 0.999)): β1 the interpolation momentum (in (0, 1): the
    /// evaluation swap divides by it), β2 the decay of `exp_avg_sq` (in [0, 1)).
    pub betas: (f32, f32),
    /// `eps` (default 1e-8): added to the denominator outside the root; finite, ≥ 0.
    pub eps: f32,
    /// `weight_decay` (default 0): `weight_decay · y` added to the normalised gradient;
    /// finite, ≥ 0.
    pub weight_decay: f32,
    /// `warmup_steps` (default 0): the linear warmup's length, a whole number of steps.
    pub warmup_steps: f32,
    /// `r` (default 0): the power of `k + 1` in the averaging weights; finite.
    pub r: f32,
    /// `weight_lr_power` (default 2): the power of `lr_max` in the averaging weights (0: no
    /// weighting by the warmed-up rate); finite, ≥ 0.
    pub weight_lr_power: f32,
    /// `inner_momentum` (default 0, off, no `exp_avg`): an average of the gradient
    /// inside the update, bias corrected; in [0, 1).
    pub inner_momentum: f32,
}

impl Default for AdamWScheduleFree {
    fn default() -> Self {
        AdamWScheduleFree::new(0.0025)
    }
}

impl AdamWScheduleFree {
    /// Schedule-free AdamW with learning rate `lr` and the reference's defaults for the
    /// rest. Ranges are checked when the optimizer is built.
    pub fn new(lr: f32) -> Self {
        AdamWScheduleFree {
            lr,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            warmup_steps: 0.0,
            r: 0.0,
            weight_lr_power: 2.0,
            inner_momentum: 0.0,
        }
    }
    /// Sets `betas` (default (0.9, 0.999); β1 in (0, 1), β2 in [0, 1)).
    pub fn betas(mut self, beta1: f32, beta2: f32) -> Self {
        self.betas = (beta1, beta2);
        self
    }
    /// Sets `eps` (default 1e-8, ≥ 0).
    pub fn eps(mut self, v: f32) -> Self {
        self.eps = v;
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
    /// Sets `inner_momentum` (default 0, in [0, 1)); nonzero keeps `exp_avg`.
    pub fn inner_momentum(mut self, v: f32) -> Self {
        self.inner_momentum = v;
        self
    }
}

/// `warmup_steps` as the reference's `int`: a whole number ≥ 0 (as an f32, so that
/// checkpoints and parameter groups treat it as every other number).
pub(crate) fn whole_steps(value: f32) -> Result<()> {
    if value.is_finite() && value >= 0.0 && value.fract() == 0.0 {
        Ok(())
    } else {
        Err(Error::Hyperparameter {
            name: "warmup_steps",
            value,
            reason: "must be a whole number >= 0",
        })
    }
}

impl OptimizerConfig for AdamWScheduleFree {
    fn name(&self) -> &'static str {
        "AdamWScheduleFree"
    }
    fn validate(&self) -> Result<()> {
        validate::non_negative("lr", self.lr)?;
        schedule_free::open_unit_interval("beta1", self.betas.0)?;
        validate::unit_interval("beta2", self.betas.1)?;
        validate::non_negative("eps", self.eps)?;
        validate::non_negative("weight_decay", self.weight_decay)?;
        whole_steps(self.warmup_steps)?;
        schedule_free::finite("r", self.r)?;
        validate::non_negative("weight_lr_power", self.weight_lr_power)?;
        validate::unit_interval("inner_momentum", self.inner_momentum)
    }
    fn hyperparameter_fields(&mut self) -> Vec<(&'static str, HyperparameterField<'_>)> {
        vec![
            ("lr", (&mut self.lr).into()),
            ("beta1", (&mut self.betas.0).into()),
            ("beta2", (&mut self.betas.1).into()),
            ("eps", (&mut self.eps).into()),
            ("weight_decay", (&mut self.weight_decay).into()),
            ("warmup_steps", (&mut self.warmup_steps).into()),
            ("r", (&mut self.r).into()),
            ("weight_lr_power", (&mut self.weight_lr_power).into()),
            ("inner_momentum", (&mut self.inner_momentum).into()),
        ]
    }
    fn lr(&self) -> f32 {
        self.lr
    }
    fn lr_mut(&mut self) -> &mut f32 {
        &mut self.lr
    }
    // No `momentum`: a cycled β1 would break the eval/train swap's inverse.
    fn rule(&self, ctx: &mut StepContext) -> Box<dyn UpdateRule> {
        let avg = averaging(
            ctx,
            self.lr,
            self.warmup_steps,
            self.r,
            self.weight_lr_power,
        );
        let t = ctx.step as f64; // k + 1
        let beta1 = f64::from(self.betas.0);
        let mu = f64::from(self.inner_momentum);
        Box::new(AdamWScheduleFreeRule {
            n4: 0,
            flags: flags::bit(ctx.step == 1, AdamWScheduleFreeRule::INIT_Z)
                | flags::bit(mu != 0.0, AdamWScheduleFreeRule::INNER_MOMENTUM),
            beta2: self.betas.1,
            eps: self.eps,
            weight_decay: self.weight_decay,
            bias_correction2: (1.0 - f64::from(self.betas.1).powf(t)) as f32,
            ckp1: avg.ckp1 as f32,
            y_lr: (avg.lr * (beta1 * (1.0 - avg.ckp1) - 1.0)) as f32,
            lr: avg.lr as f32,
            inner_momentum: self.inner_momentum,
            bias_correction1: if mu != 0.0 {
                (1.0 - mu.powf(t)) as f32
            } else {
                1.0
            },
            _pad0: 0,
        })
    }
    fn evaluation_swap(&self, to_eval: bool) -> Option<Box<dyn UpdateRule>> {
        Some(schedule_free::swap_rule(self.betas.0, to_eval))
    }
}

/// One schedule-free AdamW step: the uniform of `shaders/optim/adamw_schedule_free.wgsl`.
/// State: `[z, exp_avg_sq]`, then `exp_avg` with inner momentum.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AdamWScheduleFreeRule {
    /// The length in vec4s (the GPU backend writes it).
    pub n4: u32,
    /// [`AdamWScheduleFreeRule::INIT_Z`], [`AdamWScheduleFreeRule::INNER_MOMENTUM`].
    pub flags: u32,
    /// β2: decay of `exp_avg_sq`.
    pub beta2: f32,
    /// Added to the denominator.
    pub eps: f32,
    /// Weight decay at `y`, added to the normalised gradient.
    pub weight_decay: f32,
    /// `1 − β2^(k+1)`.
    pub bias_correction2: f32,
    /// The new point's weight in the average: `y ← lerp(y, z, ckp1)`.
    pub ckp1: f32,
    /// `lr_k · (β1·(1 − ckp1) − 1)`: the rate of `y`'s step.
    pub y_lr: f32,
    /// `lr_k`: the rate of `z`'s step.
    pub lr: f32,
    /// μ, the decay of `exp_avg` (with [`AdamWScheduleFreeRule::INNER_MOMENTUM`]).
    pub inner_momentum: f32,
    /// `1 − μ^(k+1)` (1 without inner momentum).
    pub bias_correction1: f32,
    /// Padding to the WGSL struct's 16-byte multiple.
    pub _pad0: u32,
}

impl AdamWScheduleFreeRule {
    /// The run's first step: `z ← y` first (the reference's `state['z'] = clone(p)`).
    pub const INIT_Z: u32 = 1;
    /// Keep `exp_avg` and normalise it instead of the gradient.
    pub const INNER_MOMENTUM: u32 = 4;
    /// The kernel, uniform fields, flags and state bindings of this struct.
    pub const LAYOUT: RuleLayout = layout!(
        AdamWScheduleFreeRule,
        "adamw_schedule_free",
        fields {
            n4, flags, beta2, eps, weight_decay, bias_correction2, ckp1, y_lr, lr,
            inner_momentum, bias_correction1, _pad0
        },
        flags { INIT_Z, INNER_MOMENTUM },
        state ["z", "exp_avg_sq", "exp_avg"]
    );
}

impl UpdateRule for AdamWScheduleFreeRule {
    fn layout(&self) -> &'static RuleLayout {
        &Self::LAYOUT
    }
    fn uniform(&self) -> &[u8] {
        bytemuck::bytes_of(self)
    }
    fn uses_state(&self, slot: usize) -> bool {
        slot < 2 || self.flags & Self::INNER_MOMENTUM != 0
    }
    fn apply(&self, params: &mut [f32], grads: &[f32], state: &mut [&mut [f32]]) {
        let init_z = self.flags & Self::INIT_Z != 0;
        let inner = self.flags & Self::INNER_MOMENTUM != 0;
        let s = *self;
        let (z, rest) = state.split_first_mut().expect("z");
        let (v, rest) = rest.split_first_mut().expect("exp_avg_sq");
        let mut m = rest.first_mut().filter(|_| inner);
        for i in 0..params.len() {
            let y = params[i];
            if init_z {
                z[i] = y;
            }
            let g = grads[i];
            // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1-beta2)
            v[i] = v[i] * s.beta2 + (1.0 - s.beta2) * g * g;
            // exp_avg_sq.div(bias_correction2).sqrt_().add_(eps)
            let denom = (v[i] / s.bias_correction2).sqrt() + s.eps;
            let mut u = match m.as_deref_mut() {
                Some(m) => {
                    m[i] = m[i] * s.inner_momentum + (1.0 - s.inner_momentum) * g;
                    m[i] / s.bias_correction1 / denom
                }
                None => g / denom,
            };
            if s.weight_decay != 0.0 {
                u += s.weight_decay * y;
            }
            params[i] = lerp(y, z[i], s.ckp1) + s.y_lr * u;
            z[i] -= s.lr * u;
        }
    }
}
