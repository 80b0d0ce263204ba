//! Adan, from Xie et al. 2022, "Adan: Adaptive Nesterov Momentum Algorithm for Faster
//! Optimizing Deep Models" (arXiv:2208.06677, Algorithm 1), as its reference code computes
//! it (github.com/sail-sg/Adan, `adan.py`, `_single_tensor_adan`): Adam-like moments of the
//! gradient, of the gradient's change between steps and of the square of a Nesterov
//! estimate `g + β2·(g − g_prev)`, with decoupled weight decay applied as a proximal step
//! (dividing by `1 + lr·wd` after the update) or, with `no_prox`, multiplicatively first.
//! PyTorch has no Adan.
//!
//! Two differences from the reference, both where it has no single answer for downhill:
//! the step count behind the bias corrections is each parameter's own (the reference
//! counts per group, also when a parameter has no gradient), and its `max_grad_norm`
//! is left to [`Optimizer::with_clip`](super::Optimizer::with_clip) (`GradClip::Norm`),
//! which clips the same way before any optimizer's step.

use super::optimizer::{OptimizerConfig, StepContext};
use super::rule::{flags, layout, RuleLayout, UpdateRule};
use super::state::HyperparameterField;
use super::validate;
use crate::error::Result;

/// Adan: with `d = g − g_prev` (0 at the first step, where `g_prev = g`):
/// `m ← β1·m + (1 − β1)·g`, `diff ← β2·diff + (1 − β2)·d`, `u = g + β2·d`,
/// `n ← β3·n + (1 − β3)·u²`, `denom = √n/√(1 − β3^t) + eps`, then
/// `p ← p − lr/(1 − β1^t)·m/denom − lr·β2/(1 − β2^t)·diff/denom` and
/// `p ← p/(1 + lr·wd)` (or, with `no_prox`, `p ← p·(1 − lr·wd)` before the update).
/// State (the reference's names): `exp_avg` (m), `exp_avg_sq` (n), `exp_avg_diff`
/// (diff), `neg_pre_grad` (`−g_prev`), all initially 0.
///
/// Defaults (the reference code's): lr 1e-3, betas (0.98, 0.92, 0.99), eps 1e-8,
/// weight_decay 0, no_prox false. The betas are decays, as in Adam (the paper writes
/// `1 − β`).
#[derive(Clone, Debug, PartialEq)]
pub struct Adan {
    /// `lr` (default 1e-3); finite, ≥ 0.
    pub lr: f32,
    /// `betas` (default (0.98, 0.92, 0.99)): the decays of `exp_avg`, `exp_avg_diff`
    /// and `exp_avg_sq`; each in `[0, 1)`. β1 is the momentum a `OneCycleLR` cycles.
    pub betas: (f32, f32, f32),
    /// `eps` (default 1e-8): added to the denominator; finite, > 0 (the reference also
    /// allows 0).
    pub eps: f32,
    /// `weight_decay` (default 0): decoupled, as `no_prox` says; finite, ≥ 0.
    pub weight_decay: f32,
    /// `no_prox` (default false): decay by multiplying with `1 − lr·wd` before the update
    /// instead of the proximal division by `1 + lr·wd` after it.
    pub no_prox: bool,
}

impl Default for Adan {
    fn default() -> Self {
        Adan::new(1e-3)
    }
}

impl Adan {
    /// Adan with learning rate `lr` and the reference code's defaults for the rest.
    /// Ranges are checked when the optimizer is built.
    pub fn new(lr: f32) -> Self {
        Adan {
            lr,
            betas: (0.98, 0.92, 0.99),
            eps: 1e-8,
            weight_decay: 0.0,
            no_prox: false,
        }
    }
    /// Sets `betas` to `(beta1, beta2, beta3)` (default (0.98, 0.92, 0.99), each in
    /// `[0, 1)`).
    pub fn betas(mut self, beta1: f32, beta2: f32, beta3: f32) -> Self {
        self.betas = (beta1, beta2, beta3);
        self
    }
    /// Sets `eps` (default 1e-8, > 0).
    pub fn eps(mut self, v: f32) -> Self {
        self.eps = v;
        self
    }
    /// Sets `weight_decay` (default 0, ≥ 0): decoupled.
    pub fn weight_decay(mut self, v: f32) -> Self {
        self.weight_decay = v;
        self
    }
    /// Sets `no_prox` (default false): multiplicative decay before the update instead of
    /// the proximal division after it.
    pub fn no_prox(mut self, v: bool) -> Self {
        self.no_prox = v;
        self
    }
}

impl OptimizerConfig for Adan {
    fn name(&self) -> &'static str {
        "Adan"
    }
    fn validate(&self) -> Result<()> {
        validate::non_negative("lr", self.lr)?;
        validate::unit_interval("beta1", self.betas.0)?;
        validate::unit_interval("beta2", self.betas.1)?;
        validate::unit_interval("beta3", self.betas.2)?;
        validate::positive("eps", self.eps)?;
        validate::non_negative("weight_decay", self.weight_decay)
    }
    fn hyperparameter_fields(&mut self) -> Vec<(&'static str, HyperparameterField<'_>)> {
        vec![
            ("lr", (&mut self.lr).into()),
            ("beta1", (&mut self.betas.0).into()),
            ("beta2", (&mut self.betas.1).into()),
            ("beta3", (&mut self.betas.2).into()),
            ("eps", (&mut self.eps).into()),
            ("weight_decay", (&mut self.weight_decay).into()),
            ("no_prox", (&mut self.no_prox).into()),
        ]
    }
    fn lr(&self) -> f32 {
        self.lr
    }
    fn lr_mut(&mut self) -> &mut f32 {
        &mut self.lr
    }
    fn momentum(&self) -> Option<f32> {
        Some(self.betas.0)
    }
    fn momentum_mut(&mut self) -> Option<&mut f32> {
        Some(&mut self.betas.0)
    }
    fn rule(&self, ctx: &mut StepContext) -> Box<dyn UpdateRule> {
        // The reference's scalars, in Python's f64 (`beta ** step`: C's pow).
        let t = ctx.step as f64;
        let (b1, b2, b3) = (
            self.betas.0 as f64,
            self.betas.1 as f64,
            self.betas.2 as f64,
        );
        let (lr, wd) = (self.lr as f64, self.weight_decay as f64);
        let bias_correction1 = 1.0 - b1.powf(t);
        let bias_correction2 = 1.0 - b2.powf(t);
        let bias_correction3 = 1.0 - b3.powf(t);
        Box::new(AdanRule {
            n4: 0,
            flags: flags::bit(self.no_prox, AdanRule::NO_PROX)
                | flags::bit(ctx.step == 1, AdanRule::FIRST_STEP),
            beta1: self.betas.0,
            beta2: self.betas.1,
            beta3: self.betas.2,
            eps: self.eps,
            step_size: (lr / bias_correction1) as f32,
            step_size_diff: (lr * b2 / bias_correction2) as f32,
            bias_correction3_sqrt: bias_correction3.sqrt() as f32,
            decay_factor: (1.0 - lr * wd) as f32,
            prox_divisor: (1.0 + lr * wd) as f32,
            _pad0: 0,
        })
    }
}

/// One Adan step: the uniform of `shaders/optim/adan.wgsl`. State:
/// `[exp_avg, exp_avg_sq, exp_avg_diff, neg_pre_grad]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AdanRule {
    /// The length in vec4s (the GPU backend writes it).
    pub n4: u32,
    /// [`AdanRule::NO_PROX`], [`AdanRule::FIRST_STEP`].
    pub flags: u32,
    /// β1: decay of `exp_avg`.
    pub beta1: f32,
    /// β2: decay of `exp_avg_diff`, and the weight of the change in the Nesterov estimate.
    pub beta2: f32,
    /// β3: decay of `exp_avg_sq`.
    pub beta3: f32,
    /// Added to the bias-corrected `sqrt(exp_avg_sq)`.
    pub eps: f32,
    /// `lr / (1 − β1^t)`.
    pub step_size: f32,
    /// `lr · β2 / (1 − β2^t)`.
    pub step_size_diff: f32,
    /// `sqrt(1 − β3^t)`.
    pub bias_correction3_sqrt: f32,
    /// `1 − lr · wd`, applied first with [`AdanRule::NO_PROX`].
    pub decay_factor: f32,
    /// `1 + lr · wd`, the proximal divisor applied last without [`AdanRule::NO_PROX`].
    pub prox_divisor: f32,
    /// Padding to the WGSL struct's 16-byte multiple.
    pub _pad0: u32,
}

impl AdanRule {
    /// Multiplicative decay before the update instead of the proximal division after it.
    pub const NO_PROX: u32 = 1;
    /// The parameter's first step: the previous gradient is this one (`neg_pre_grad = −g`).
    pub const FIRST_STEP: u32 = 4;
    /// The kernel, uniform fields, flags and state bindings of this struct.
    pub const LAYOUT: RuleLayout = layout!(
        AdanRule,
        "adan",
        fields {
            n4, flags, beta1, beta2, beta3, eps, step_size, step_size_diff,
            bias_correction3_sqrt, decay_factor, prox_divisor, _pad0
        },
        flags { NO_PROX, FIRST_STEP },
        state ["exp_avg", "exp_avg_sq", "exp_avg_diff", "neg_pre_grad"]
    );
}

impl UpdateRule for AdanRule {
    fn layout(&self) -> &'static RuleLayout {
        &Self::LAYOUT
    }
    fn uniform(&self) -> &[u8] {
        bytemuck::bytes_of(self)
    }
    fn apply(&self, params: &mut [f32], grads: &[f32], state: &mut [&mut [f32]]) {
        let no_prox = self.flags & Self::NO_PROX != 0;
        let first = self.flags & Self::FIRST_STEP != 0;
        let AdanRule {
            beta1,
            beta2,
            beta3,
            eps,
            step_size,
            step_size_diff,
            bias_correction3_sqrt,
            decay_factor,
            prox_divisor,
            ..
        } = *self;
        let [m, n, diff, neg_pre] = state else {
            panic!("Adan keeps 4 state buffers");
        };
        let elements = params
            .iter_mut()
            .zip(grads)
            .zip(m.iter_mut())
            .zip(n.iter_mut())
            .zip(diff.iter_mut())
            .zip(neg_pre.iter_mut());
        // Zips over slices (no bounds checks), so the compiler can vectorise the loop.
        for (((((p, &g), m), n), diff), neg_pre) in elements {
            // `state['neg_pre_grad'] = p.grad.clone().mul_(-1)` at the first step.
            let neg = if first { -g } else { *neg_pre };
            let d = neg + g; // neg_grad_or_diff.add_(grad)
            *m = *m * beta1 + (1.0 - beta1) * g;
            *diff = *diff * beta2 + (1.0 - beta2) * d;
            let u = d * beta2 + g; // neg_grad_or_diff.mul_(beta2).add_(grad)
            *n = *n * beta3 + (1.0 - beta3) * u * u;
            let denom = n.sqrt() / bias_correction3_sqrt + eps;
            let mut q = *p;
            if no_prox {
                q *= decay_factor;
            }
            // param.addcdiv_(exp_avg, denom, value=-step_size), then exp_avg_diff's.
            q += -step_size * (*m / denom);
            q += -step_size_diff * (*diff / denom);
            if !no_prox {
                q /= prox_divisor;
            }
            *p = q;
            *neg_pre = -g; // neg_grad_or_diff.zero_().add_(grad, alpha=-1.0)
        }
    }
}
