//! RAdam, as `torch.optim.RAdam` (Liu et al. 2020, "On the Variance of the Adaptive
//! Learning Rate and Beyond", arXiv:1908.03265): Adam whose adaptive step is switched on,
//! and scaled by a rectification term, only once the length of the approximated simple
//! moving average `ρ_t` exceeds 5; before that the step is bias-corrected momentum SGD.

use super::flat::lerp;
use super::optimizer::{OptimizerConfig, StepContext};
use super::rule::{flags, layout, RuleLayout, UpdateRule};
use super::state::HyperparameterField;
use super::validate;
use crate::error::Result;

/// RAdam: `m ← lerp(m, g, 1 − β1)`, `v ← β2·v + (1 − β2)·g²`, then with
/// `ρ_∞ = 2/(1 − β2) − 1`, `ρ_t = ρ_∞ − 2t·β2^t/(1 − β2^t)`:
/// `p ← p − m/(1 − β1^t)·lr·(√(1 − β2^t)/(√v + eps))·r_t` when `ρ_t > 5` (the rectification
/// `r_t = √((ρ_t − 4)(ρ_t − 2)ρ_∞ / ((ρ_∞ − 4)(ρ_∞ − 2)ρ_t))`), else
/// `p ← p − m/(1 − β1^t)·lr`. State `exp_avg`, `exp_avg_sq` (initially 0).
///
/// Defaults (PyTorch's): lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0 (added to
/// the gradient, L2), decoupled_weight_decay false, maximize false.
#[derive(Clone, Debug, PartialEq)]
pub struct RAdam {
    /// PyTorch's `lr` (default 1e-3); finite, ≥ 0.
    pub lr: f32,
    /// PyTorch's `betas` (default (0.9, 0.999)): the decays of `exp_avg` and `exp_avg_sq`;
    /// each in `[0, 1)`. β1 is the momentum a `OneCycleLR` cycles.
    pub betas: (f32, f32),
    /// PyTorch's `eps` (default 1e-8): added to `sqrt(exp_avg_sq)` in the rectified step's
    /// denominator; finite, > 0 (PyTorch also allows 0).
    pub eps: f32,
    /// PyTorch's `weight_decay` (default 0): an L2 penalty `weight_decay · p` added to the
    /// gradient, or with `decoupled_weight_decay` the parameter multiplied by
    /// `1 − lr · weight_decay` first; finite, ≥ 0.
    pub weight_decay: f32,
    /// PyTorch's `decoupled_weight_decay` (default false): decay the parameter (as AdamW)
    /// instead of adding the penalty to the gradient.
    pub decoupled_weight_decay: bool,
    /// PyTorch's `maximize` (default false): ascend, negating the gradient first.
    pub maximize: bool,
}

impl Default for RAdam {
    fn default() -> Self {
        RAdam::new(1e-3)
    }
}

impl RAdam {
    /// RAdam with learning rate `lr` and PyTorch's defaults for the rest. Ranges are
    /// checked when the optimizer is built.
    pub fn new(lr: f32) -> Self {
        RAdam {
            lr,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled_weight_decay: false,
            maximize: false,
        }
    }
    /// Sets `betas` to `(beta1, beta2)` (default (0.9, 0.999), each in `[0, 1)`).
    pub fn betas(mut self, beta1: f32, beta2: f32) -> Self {
        self.betas = (beta1, beta2);
        self
    }
    /// Sets `eps` (default 1e-8, > 0).
    pub fn eps(mut self, v: f32) -> Self {
        self.eps = v;
        self
    }
    /// Sets `weight_decay` (default 0, ≥ 0): L2, or decoupled with
    /// `decoupled_weight_decay`.
    pub fn weight_decay(mut self, v: f32) -> Self {
        self.weight_decay = v;
        self
    }
    /// Sets `decoupled_weight_decay` (default false): multiply the parameter by
    /// `1 − lr · weight_decay` instead of adding `weight_decay · p` to the gradient.
    pub fn decoupled_weight_decay(mut self, v: bool) -> Self {
        self.decoupled_weight_decay = v;
        self
    }
    /// Sets `maximize` (default false): ascend instead of descend.
    pub fn maximize(mut self, v: bool) -> Self {
        self.maximize = v;
        self
    }
}

impl OptimizerConfig for RAdam {
    fn name(&self) -> &'static str {
        "RAdam"
    }
    fn validate(&self) -> Result<()> {
        validate::non_negative("lr", self.lr)?;
        validate::unit_interval("beta1", self.betas.0)?;
        validate::unit_interval("beta2", self.betas.1)?;
        validate::positive("eps", self.eps)?;
        validate::non_negative("weight_decay", self.weight_decay)
    }
    fn hyperparameter_fields(&mut self) -> Vec<(&'static str, HyperparameterField<'_>)> {
        vec![
            ("lr", (&mut self.lr).into()),
            ("beta1", (&mut self.betas.0).into()),
            ("beta2", (&mut self.betas.1).into()),
            ("eps", (&mut self.eps).into()),
            ("weight_decay", (&mut self.weight_decay).into()),
            (
                "decoupled_weight_decay",
                (&mut self.decoupled_weight_decay).into(),
            ),
            ("maximize", (&mut self.maximize).into()),
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
        // Every scalar in f64 as Python computes it (`beta ** step` with a float step).
        let t = ctx.step as f64;
        let (b1, b2) = (self.betas.0 as f64, self.betas.1 as f64);
        let (lr, wd) = (self.lr as f64, self.weight_decay as f64);
        let bias_correction1 = 1.0 - b1.powf(t);
        let bias_correction2 = 1.0 - b2.powf(t);
        let rho_inf = 2.0 / (1.0 - b2) - 1.0;
        let rho_t = rho_inf - 2.0 * t * b2.powf(t) / bias_correction2;
        let rectified = rho_t > 5.0;
        let rect = if rectified {
            ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
                .sqrt()
        } else {
            1.0
        };
        // PyTorch only touches the parameter or the gradient when weight_decay != 0.
        let (l2, decay_factor) = match (self.weight_decay != 0.0, self.decoupled_weight_decay) {
            (true, true) => (0.0, (1.0 - lr * wd) as f32),
            (true, false) => (self.weight_decay, 1.0),
            (false, _) => (0.0, 1.0),
        };
        Box::new(RAdamRule {
            n4: 0,
            flags: flags::bit(rectified, RAdamRule::RECTIFIED)
                | flags::bit(self.maximize, RAdamRule::MAXIMIZE),
            beta1: self.betas.0,
            beta2: self.betas.1,
            eps: self.eps,
            weight_decay: l2,
            decay_factor,
            lr: self.lr,
            bias_correction1: bias_correction1 as f32,
            bias_correction2_sqrt: bias_correction2.sqrt() as f32,
            rect: rect as f32,
            _pad0: 0,
        })
    }
}

/// One RAdam step: the uniform of `shaders/optim/radam.wgsl`. State:
/// `[exp_avg, exp_avg_sq]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct RAdamRule {
    /// The length in vec4s (the GPU backend writes it).
    pub n4: u32,
    /// [`RAdamRule::RECTIFIED`], [`RAdamRule::MAXIMIZE`].
    pub flags: u32,
    /// β1: decay of `exp_avg`.
    pub beta1: f32,
    /// β2: decay of `exp_avg_sq`.
    pub beta2: f32,
    /// Added to `sqrt(exp_avg_sq)` in the rectified step.
    pub eps: f32,
    /// L2 penalty added to the gradient; 0 when decoupled.
    pub weight_decay: f32,
    /// Decoupled decay factor `1 − lr · wd` applied to the parameter first; 1 otherwise.
    pub decay_factor: f32,
    /// The learning rate.
    pub lr: f32,
    /// `1 − β1^t`: `exp_avg` is divided by it.
    pub bias_correction1: f32,
    /// `sqrt(1 − β2^t)`: the numerator of the adaptive rate.
    pub bias_correction2_sqrt: f32,
    /// The rectification term `r_t` (used when [`RAdamRule::RECTIFIED`]).
    pub rect: f32,
    /// Padding to the WGSL struct's 16-byte multiple.
    pub _pad0: u32,
}

impl RAdamRule {
    /// `ρ_t > 5`: take the adaptive, rectified step (else bias-corrected momentum alone).
    pub const RECTIFIED: u32 = 1;
    /// Negate the gradient first (ascend).
    pub const MAXIMIZE: u32 = flags::MAXIMIZE;
    /// The kernel, uniform fields, flags and state bindings of this struct.
    pub const LAYOUT: RuleLayout = layout!(
        RAdamRule,
        "radam",
        fields {
            n4, flags, beta1, beta2, eps, weight_decay, decay_factor, lr, bias_correction1,
            bias_correction2_sqrt, rect, _pad0
        },
        flags { RECTIFIED, MAXIMIZE },
        state ["exp_avg", "exp_avg_sq"]
    );
}

impl UpdateRule for RAdamRule {
    fn layout(&self) -> &'static RuleLayout {
        &Self::LAYOUT
    }
    fn uniform(&self) -> &[u8] {
        bytemuck::bytes_of(self)
    }
    fn apply(&self, params: &mut [f32], grads: &[f32], state: &mut [&mut [f32]]) {
        let maximize = self.flags & Self::MAXIMIZE != 0;
        let rectified = self.flags & Self::RECTIFIED != 0;
        let RAdamRule {
            beta1,
            beta2,
            eps,
            weight_decay,
            decay_factor,
            lr,
            bias_correction1,
            bias_correction2_sqrt,
            rect,
            ..
        } = *self;
        let [m, v] = state else {
            panic!("RAdam keeps 2 state buffers");
        };
        for (((p, &g), m), v) in params
            .iter_mut()
            .zip(grads)
            .zip(m.iter_mut())
            .zip(v.iter_mut())
        {
            let mut g = if maximize { -g } else { g };
            if weight_decay != 0.0 {
                g += weight_decay * *p; // grad.add(param, alpha=weight_decay)
            }
            let decayed = *p * decay_factor; // param.mul_(1 - lr * weight_decay)
            *m = lerp(*m, g, 1.0 - beta1);
            *v = *v * beta2 + (1.0 - beta2) * g * g;
            // bias_corrected_exp_avg * lr [* adaptive_lr * rect], in PyTorch's order.
            let mut update = *m / bias_correction1 * lr;
            if rectified {
                update = update * (bias_correction2_sqrt / (v.sqrt() + eps)) * rect;
            }
            *p = decayed - update;
        }
    }
}
