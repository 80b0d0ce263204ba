//! NAdam, as `torch.optim.NAdam`.

use super::flat::lerp;
use super::optimizer::{OptimizerConfig, StepContext};
use super::rule::{flags, layout, RuleLayout, UpdateRule};
use super::state::HyperparameterField;
use super::validate;
use crate::error::Result;

/// NAdam: Adam with Nesterov momentum and a momentum-decay schedule.
///
/// Defaults (PyTorch's): lr 2e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0,
/// momentum_decay 4e-3, decoupled_weight_decay false, maximize false.
#[derive(Clone, Debug, PartialEq)]
pub struct NAdam {
    /// PyTorch's `lr` (default 2e-3): the step size; finite, ≥ 0.
    pub lr: f32,
    /// PyTorch's `betas` (default (0.9, 0.999)): β1, the decay of the gradient average
    /// `exp_avg` and the base of the momentum schedule μ_t, and β2, the decay of the
    /// squared-gradient average `exp_avg_sq`; each in `[0, 1)`.
    pub betas: (f32, f32),
    /// PyTorch's `eps` (default 1e-8): added to `sqrt(exp_avg_sq / (1 - β2^t))` in the
    /// denominator; finite, > 0 (PyTorch also allows 0).
    pub eps: f32,
    /// PyTorch's `weight_decay` (default 0): an L2 penalty `weight_decay · p` added to the
    /// gradient, or with `decoupled_weight_decay` the parameter multiplied by
    /// `1 - lr · weight_decay` first; finite, ≥ 0.
    pub weight_decay: f32,
    /// PyTorch's `momentum_decay` (default 4e-3): ψ in the momentum schedule
    /// `μ_t = β1 · (1 - ½ · 0.96^(t · ψ))`; finite, ≥ 0.
    pub momentum_decay: f32,
    /// PyTorch's `decoupled_weight_decay` (default false): decay the parameter instead of
    /// adding the penalty to the gradient (NAdamW).
    pub decoupled_weight_decay: bool,
    /// PyTorch's `maximize` (default false): ascend, negating the gradient first.
    pub maximize: bool,
}

impl Default for NAdam {
    fn default() -> Self {
        NAdam::new(2e-3)
    }
}

impl NAdam {
    /// NAdam with learning rate `lr` and PyTorch's defaults for the rest. Ranges are
    /// checked when the optimizer is built.
    pub fn new(lr: f32) -> Self {
        NAdam {
            lr,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            momentum_decay: 4e-3,
            decoupled_weight_decay: false,
            maximize: false,
        }
    }
    /// Sets `betas` to `(beta1, beta2)` (default (0.9, 0.999), each in `[0, 1)`).
    pub fn betas(mut self, beta1: f32, beta2: f32) -> Self {
        self.betas = (beta1, beta2);
        self
    }
    /// Sets `eps` (default 1e-8, > 0): added to the denominator.
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
    /// Sets `momentum_decay` (default 4e-3, ≥ 0): ψ in `μ_t = β1 · (1 - ½ · 0.96^(t · ψ))`.
    pub fn momentum_decay(mut self, v: f32) -> Self {
        self.momentum_decay = v;
        self
    }
    /// Sets `decoupled_weight_decay` (default false): decay the parameter, not the gradient.
    pub fn decoupled_weight_decay(mut self, v: bool) -> Self {
        self.decoupled_weight_decay = v;
        self
    }
    /// Sets `maximize` (default false): ascend instead of descend.
    pub fn maximize(mut self, v: bool) -> Self {
        self.maximize = v;
        self
    }

    /// `μ_t = β1 · (1 - ½ · 0.96^(t · momentum_decay))`
    fn mu(&self, t: u64) -> f64 {
        self.betas.0 as f64 * (1.0 - 0.5 * 0.96f64.powf(t as f64 * self.momentum_decay as f64))
    }
}

impl OptimizerConfig for NAdam {
    fn name(&self) -> &'static str {
        "NAdam"
    }
    fn validate(&self) -> Result<()> {
        validate::non_negative("lr", self.lr)?;
        validate::unit_interval("beta1", self.betas.0)?;
        validate::unit_interval("beta2", self.betas.1)?;
        validate::positive("eps", self.eps)?;
        validate::non_negative("weight_decay", self.weight_decay)?;
        validate::non_negative("momentum_decay", self.momentum_decay)
    }
    fn hyperparameter_fields(&mut self) -> Vec<(&'static str, HyperparameterField<'_>)> {
        vec![
            ("lr", (&mut self.lr).into()),
            ("beta1", (&mut self.betas.0).into()),
            ("beta2", (&mut self.betas.1).into()),
            ("eps", (&mut self.eps).into()),
            ("weight_decay", (&mut self.weight_decay).into()),
            ("momentum_decay", (&mut self.momentum_decay).into()),
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
        let t = ctx.step;
        let lr = self.lr as f64;
        let (mu, mu_next) = (self.mu(t), self.mu(t + 1));
        ctx.mu_product *= mu;
        let (l2, decay_factor) = if self.decoupled_weight_decay {
            (0.0, (1.0 - lr * self.weight_decay as f64) as f32)
        } else {
            (self.weight_decay, 1.0)
        };
        Box::new(NAdamRule {
            n4: 0,
            flags: flags::bit(self.maximize, NAdamRule::MAXIMIZE),
            beta1: self.betas.0,
            beta2: self.betas.1,
            eps: self.eps,
            weight_decay: l2,
            decay_factor,
            bias_correction2: (1.0 - (self.betas.1 as f64).powi(t as i32)) as f32,
            grad_coef: (lr * (1.0 - mu) / (1.0 - ctx.mu_product)) as f32,
            avg_coef: (lr * mu_next / (1.0 - ctx.mu_product * mu_next)) as f32,
            _pad0: 0,
            _pad1: 0,
        })
    }
}

/// One NAdam step: the uniform of `shaders/optim/nadam.wgsl`. State: `[exp_avg, exp_avg_sq]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct NAdamRule {
    /// The length in vec4s (the GPU backend writes it).
    pub n4: u32,
    /// [`NAdamRule::MAXIMIZE`].
    pub flags: u32,
    /// β1: decay of the gradient average `exp_avg` (the μ_t below derive from it).
    pub beta1: f32,
    /// β2: decay of the squared-gradient average `exp_avg_sq`.
    pub beta2: f32,
    /// Added to `sqrt(exp_avg_sq / (1 - β2^t))` in the denominator.
    pub eps: f32,
    /// L2 penalty added to the gradient; 0 with decoupled weight decay.
    pub weight_decay: f32,
    /// `1 - lr · wd` applied to the parameter first with decoupled weight decay; else 1.
    pub decay_factor: f32,
    /// `1 - β2^t`
    pub bias_correction2: f32,
    /// `lr · (1 - μ_t) / (1 - Πμ_t)`: the coefficient of `g / denom` (Π over steps 1..=t).
    pub grad_coef: f32,
    /// `lr · μ_{t+1} / (1 - Πμ_t · μ_{t+1})`: the coefficient of `exp_avg / denom`.
    pub avg_coef: f32,
    /// Padding to the WGSL struct's 16-byte multiple.
    pub _pad0: u32,
    /// Padding.
    pub _pad1: u32,
}

impl NAdamRule {
    /// Negate the gradient first (ascend).
    pub const MAXIMIZE: u32 = flags::MAXIMIZE;
    /// The kernel, uniform fields, flags and state bindings of this struct.
    pub const LAYOUT: RuleLayout = layout!(
        NAdamRule,
        "nadam",
        fields {
            n4, flags, beta1, beta2, eps, weight_decay, decay_factor, bias_correction2,
            grad_coef, avg_coef, _pad0, _pad1
        },
        flags { MAXIMIZE },
        state ["exp_avg", "exp_avg_sq"]
    );
}

impl UpdateRule for NAdamRule {
    fn layout(&self) -> &'static RuleLayout {
        &Self::LAYOUT
    }
    fn uniform(&self) -> &[u8] {
        bytemuck::bytes_of(self)
    }
    fn apply(&self, params: &mut [f32], grads: &[f32], state: &mut [&mut [f32]]) {
        let maximize = self.flags & Self::MAXIMIZE != 0;
        let NAdamRule {
            beta1,
            beta2,
            eps,
            weight_decay,
            decay_factor,
            bias_correction2,
            grad_coef,
            avg_coef,
            ..
        } = *self;
        let (m, rest) = state.split_first_mut().expect("NAdam state");
        let v = &mut *rest[0];
        for i in 0..params.len() {
            let p = params[i] * decay_factor;
            let mut g = if maximize { -grads[i] } else { grads[i] };
            if weight_decay != 0.0 {
                g += weight_decay * p;
            }
            m[i] = lerp(m[i], g, 1.0 - beta1);
            v[i] = v[i] * beta2 + (1.0 - beta2) * g * g;
            let denom = (v[i] / bias_correction2).sqrt() + eps;
            params[i] = p - grad_coef * (g / denom) - avg_coef * (m[i] / denom);
        }
    }
}
