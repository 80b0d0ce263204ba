//! Lion, from Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"
//! (arXiv:2302.06675, Program 1), as its reference code `lion_pytorch` computes it: the
//! step is the sign of an interpolation of the momentum and the gradient, so every
//! parameter moves by exactly `lr` (or not at all); the momentum then tracks the gradient
//! with a second, slower rate. PyTorch has no Lion.

use super::optimizer::{OptimizerConfig, StepContext};
use super::rule::{flags, layout, RuleLayout, UpdateRule};
use super::state::HyperparameterField;
use super::validate;
use crate::error::Result;

/// Lion: `update = sign(β1·m + (1 − β1)·g)`, `p ← p·(1 − lr·wd) − lr·update`,
/// `m ← β2·m + (1 − β2)·g` (state `exp_avg`, initially 0).
///
/// Defaults (the paper's and `lion_pytorch`'s): lr 1e-4, betas (0.9, 0.99),
/// weight_decay 0 (decoupled), maximize false. The paper suggests an lr 3–10x smaller than
/// AdamW's and a weight decay 3–10x larger, since the sign makes every step of norm `lr`.
#[derive(Clone, Debug, PartialEq)]
pub struct Lion {
    /// `lr` (default 1e-4): the size of every parameter's step; finite, ≥ 0.
    pub lr: f32,
    /// `betas` (default (0.9, 0.99)): β1 interpolates momentum and gradient for the
    /// update's sign, β2 is the decay of the momentum `exp_avg`; each in `[0, 1]`. β1 is
    /// the momentum a `OneCycleLR` cycles.
    pub betas: (f32, f32),
    /// `weight_decay` (default 0): decoupled, the parameter is multiplied by
    /// `1 - lr · weight_decay` first; finite, ≥ 0.
    pub weight_decay: f32,
    /// `maximize` (default false, as PyTorch's optimizers have it): ascend, negating the
    /// gradient first.
    pub maximize: bool,
}

impl Default for Lion {
    fn default() -> Self {
        Lion::new(1e-4)
    }
}

impl Lion {
    /// Lion with learning rate `lr` and the paper's defaults for the rest. Ranges are
    /// checked when the optimizer is built.
    pub fn new(lr: f32) -> Self {
        Lion {
            lr,
            betas: (0.9, 0.99),
            weight_decay: 0.0,
            maximize: false,
        }
    }
    /// Sets `betas` to `(beta1, beta2)` (default (0.9, 0.99), each in `[0, 1]`).
    pub fn betas(mut self, beta1: f32, beta2: f32) -> Self {
        self.betas = (beta1, beta2);
        self
    }
    /// Sets `weight_decay` (default 0, ≥ 0): decoupled decay `p ← p·(1 − lr·wd)`.
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

impl OptimizerConfig for Lion {
    fn name(&self) -> &'static str {
        "Lion"
    }
    fn validate(&self) -> Result<()> {
        validate::non_negative("lr", self.lr)?;
        validate::closed_unit_interval("beta1", self.betas.0)?;
        validate::closed_unit_interval("beta2", self.betas.1)?;
        validate::non_negative("weight_decay", self.weight_decay)
    }
    fn hyperparameter_fields(&mut self) -> Vec<(&'static str, HyperparameterField<'_>)> {
        vec![
            ("lr", (&mut self.lr).into()),
            ("beta1", (&mut self.betas.0).into()),
            ("beta2", (&mut self.betas.1).into()),
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
    fn rule(&self, _ctx: &mut StepContext) -> Box<dyn UpdateRule> {
        // `p.data.mul_(1 - lr * wd)`: the factor in double, as Python computes it.
        let decay_factor = (1.0 - self.lr as f64 * self.weight_decay as f64) as f32;
        Box::new(LionRule {
            n4: 0,
            flags: flags::bit(self.maximize, LionRule::MAXIMIZE),
            lr: self.lr,
            beta1: self.betas.0,
            beta2: self.betas.1,
            decay_factor,
            _pad0: 0,
            _pad1: 0,
        })
    }
}

/// One Lion step: the uniform of `shaders/optim/lion.wgsl`. State: `[exp_avg]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LionRule {
    /// The length in vec4s (the GPU backend writes it).
    pub n4: u32,
    /// [`LionRule::MAXIMIZE`].
    pub flags: u32,
    /// The step size (the group's rate, after any schedule).
    pub lr: f32,
    /// β1: the momentum's weight in the interpolation whose sign is the update.
    pub beta1: f32,
    /// β2: decay of the momentum `exp_avg`.
    pub beta2: f32,
    /// `1 - lr · wd`: the decoupled decay applied to the parameter first.
    pub decay_factor: f32,
    /// Padding to the WGSL struct's 16-byte multiple.
    pub _pad0: u32,
    /// Padding.
    pub _pad1: u32,
}

impl LionRule {
    /// Negate the gradient first (ascend).
    pub const MAXIMIZE: u32 = flags::MAXIMIZE;
    /// The kernel, uniform fields, flags and state bindings of this struct.
    pub const LAYOUT: RuleLayout = layout!(
        LionRule,
        "lion",
        fields {
            n4,
            flags,
            lr,
            beta1,
            beta2,
            decay_factor,
            _pad0,
            _pad1
        },
        flags { MAXIMIZE },
        state["exp_avg"]
    );
}

/// `torch.sign`: ±1, a zero kept (0 stays 0), NaN kept (`f32::signum` would make 0 → 1).
#[inline(always)]
fn sign(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x
    }
}

impl UpdateRule for LionRule {
    fn layout(&self) -> &'static RuleLayout {
        &Self::LAYOUT
    }
    fn uniform(&self) -> &[u8] {
        bytemuck::bytes_of(self)
    }
    fn apply(&self, params: &mut [f32], grads: &[f32], state: &mut [&mut [f32]]) {
        let maximize = self.flags & Self::MAXIMIZE != 0;
        let (lr, beta1, beta2, decay_factor) = (self.lr, self.beta1, self.beta2, self.decay_factor);
        let m = &mut *state[0];
        for i in 0..params.len() {
            let g = if maximize { -grads[i] } else { grads[i] };
            // exp_avg.clone().mul_(beta1).add(grad, alpha=1 - beta1).sign_()
            let update = sign(m[i] * beta1 + (1.0 - beta1) * g);
            params[i] = params[i] * decay_factor - lr * update;
            // exp_avg.mul_(beta2).add_(grad, alpha=1 - beta2)
            m[i] = m[i] * beta2 + (1.0 - beta2) * g;
        }
    }
}
