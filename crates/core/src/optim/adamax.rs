//! Adamax, as `torch.optim.Adamax`.

use super::flat::lerp;
use super::optimizer::{OptimizerConfig, StepContext};
use super::rule::{flags, layout, RuleLayout, UpdateRule};
use super::state::HyperparameterField;
use super::validate;
use crate::error::Result;
use crate::nan::maximum;

/// Adamax: Adam with the infinity norm in place of the squared-gradient average.
///
/// Defaults (PyTorch's): lr 2e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0,
/// maximize false.
#[derive(Clone, Debug, PartialEq)]
pub struct Adamax {
    /// PyTorch's `lr` (default 2e-3): the step size before bias correction; finite, ≥ 0.
    pub lr: f32,
    /// PyTorch's `betas` (default (0.9, 0.999)): β1, the decay of the gradient average
    /// `exp_avg`, and β2, of the infinity norm `exp_inf ← max(β2 · exp_inf, |g| + eps)`;
    /// each in `[0, 1)`.
    pub betas: (f32, f32),
    /// PyTorch's `eps` (default 1e-8): added to `|g|` before the maximum, so `exp_inf > 0`;
    /// finite, > 0 (PyTorch also allows 0).
    pub eps: f32,
    /// PyTorch's `weight_decay` (default 0): L2 penalty, `weight_decay · p` added to the
    /// gradient; finite, ≥ 0.
    pub weight_decay: f32,
    /// PyTorch's `maximize` (default false): ascend, negating the gradient first.
    pub maximize: bool,
}

impl Default for Adamax {
    fn default() -> Self {
        Adamax::new(2e-3)
    }
}

impl Adamax {
    /// Adamax with learning rate `lr` and PyTorch's defaults for the rest. Ranges are
    /// checked when the optimizer is built.
    pub fn new(lr: f32) -> Self {
        Adamax {
            lr,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            maximize: false,
        }
    }
    /// Sets `betas` to `(beta1, beta2)` (default (0.9, 0.999), each in `[0, 1)`).
    pub fn betas(mut self, beta1: f32, beta2: f32) -> Self {
        self.betas = (beta1, beta2);
        self
    }
    /// Sets `eps` (default 1e-8, > 0): added to `|g|` in the infinity norm.
    pub fn eps(mut self, v: f32) -> Self {
        self.eps = v;
        self
    }
    /// Sets `weight_decay` (default 0, ≥ 0): the L2 penalty added to the gradient.
    pub fn weight_decay(mut self, v: f32) -> Self {
        self.weight_decay = v;
        self
    }
    /// Sets `maximize` (default false): ascend instead of descend.
    pub fn maximize(mut self, v: bool) -> Self {
        self.maximize = v;
        self
    }
}

impl OptimizerConfig for Adamax {
    fn name(&self) -> &'static str {
        "Adamax"
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
        let bias_correction = 1.0 - (self.betas.0 as f64).powi(ctx.step as i32);
        Box::new(AdamaxRule {
            n4: 0,
            flags: flags::bit(self.maximize, AdamaxRule::MAXIMIZE),
            clr: (self.lr as f64 / bias_correction) as f32,
            beta1: self.betas.0,
            beta2: self.betas.1,
            eps: self.eps,
            weight_decay: self.weight_decay,
            _pad0: 0,
        })
    }
}

/// One Adamax step: the uniform of `shaders/optim/adamax.wgsl`. State: `[exp_avg, exp_inf]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AdamaxRule {
    /// The length in vec4s (the GPU backend writes it).
    pub n4: u32,
    /// [`AdamaxRule::MAXIMIZE`].
    pub flags: u32,
    /// `lr / (1 - β1^t)`: the rate with the first-moment bias correction.
    pub clr: f32,
    /// β1: decay of the gradient average `exp_avg`.
    pub beta1: f32,
    /// β2: decay of the infinity norm `exp_inf ← max(β2 · exp_inf, |g| + eps)`.
    pub beta2: f32,
    /// Added to `|g|` before the maximum, so `exp_inf > 0`.
    pub eps: f32,
    /// L2 penalty: `weight_decay · p` is added to the gradient.
    pub weight_decay: f32,
    /// Padding to the WGSL struct's 16-byte multiple.
    pub _pad0: u32,
}

impl AdamaxRule {
    /// Negate the gradient first (ascend).
    pub const MAXIMIZE: u32 = flags::MAXIMIZE;
    /// The kernel, uniform fields, flags and state bindings of this struct.
    pub const LAYOUT: RuleLayout = layout!(
        AdamaxRule,
        "adamax",
        fields { n4, flags, clr, beta1, beta2, eps, weight_decay, _pad0 },
        flags { MAXIMIZE },
        state ["exp_avg", "exp_inf"]
    );
}

impl UpdateRule for AdamaxRule {
    fn layout(&self) -> &'static RuleLayout {
        &Self::LAYOUT
    }
    fn uniform(&self) -> &[u8] {
        bytemuck::bytes_of(self)
    }
    fn apply(&self, params: &mut [f32], grads: &[f32], state: &mut [&mut [f32]]) {
        let maximize = self.flags & Self::MAXIMIZE != 0;
        let (clr, beta1, beta2, eps, weight_decay) = (
            self.clr,
            self.beta1,
            self.beta2,
            self.eps,
            self.weight_decay,
        );
        let (m, rest) = state.split_first_mut().expect("Adamax state");
        let u = &mut *rest[0];
        for i in 0..params.len() {
            let p = params[i];
            let mut g = if maximize { -grads[i] } else { grads[i] };
            if weight_decay != 0.0 {
                g += weight_decay * p;
            }
            m[i] = lerp(m[i], g, 1.0 - beta1);
            u[i] = maximum(u[i] * beta2, g.abs() + eps); // torch.maximum: NaN wins
            params[i] = p - clr * (m[i] / u[i]);
        }
    }
}
