//! Adagrad, as `torch.optim.Adagrad`.

use super::optimizer::{OptimizerConfig, StepContext};
use super::rule::{flags, layout, RuleLayout, UpdateRule};
use super::state::HyperparameterField;
use super::validate;
use crate::error::Result;

/// Adagrad: per-coordinate steps shrink with the sum of squared gradients.
///
/// Defaults (PyTorch's): lr 1e-2, lr_decay 0, weight_decay 0, initial_accumulator_value 0,
/// eps 1e-10, maximize false.
#[derive(Clone, Debug, PartialEq)]
pub struct Adagrad {
    /// PyTorch's `lr` (default 1e-2): the step size before `lr_decay`; finite, ≥ 0.
    pub lr: f32,
    /// PyTorch's `lr_decay` (default 0): step `t` uses `lr / (1 + (t - 1) · lr_decay)`;
    /// finite, ≥ 0.
    pub lr_decay: f32,
    /// PyTorch's `weight_decay` (default 0): L2 penalty, `weight_decay · p` added to the
    /// gradient; finite, ≥ 0.
    pub weight_decay: f32,
    /// PyTorch's `initial_accumulator_value` (default 0): the starting value of every
    /// element of `sum`, the accumulated squared gradients; finite, ≥ 0.
    pub initial_accumulator_value: f32,
    /// PyTorch's `eps` (default 1e-10): added to `sqrt(sum)` in the denominator;
    /// finite, > 0 (PyTorch also allows 0).
    pub eps: f32,
    /// PyTorch's `maximize` (default false): ascend, negating the gradient first.
    pub maximize: bool,
}

impl Default for Adagrad {
    fn default() -> Self {
        Adagrad::new(1e-2)
    }
}

impl Adagrad {
    /// Adagrad with learning rate `lr` and PyTorch's defaults for the rest. Ranges are
    /// checked when the optimizer is built.
    pub fn new(lr: f32) -> Self {
        Adagrad {
            lr,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
            maximize: false,
        }
    }
    /// Sets `lr_decay` (default 0, ≥ 0): step `t` uses `lr / (1 + (t - 1) · lr_decay)`.
    pub fn lr_decay(mut self, v: f32) -> Self {
        self.lr_decay = v;
        self
    }
    /// Sets `weight_decay` (default 0, ≥ 0): the L2 penalty added to the gradient.
    pub fn weight_decay(mut self, v: f32) -> Self {
        self.weight_decay = v;
        self
    }
    /// Sets `initial_accumulator_value` (default 0, ≥ 0): the starting `sum`.
    pub fn initial_accumulator_value(mut self, v: f32) -> Self {
        self.initial_accumulator_value = v;
        self
    }
    /// Sets `eps` (default 1e-10, > 0): added to `sqrt(sum)` in the denominator.
    pub fn eps(mut self, v: f32) -> Self {
        self.eps = v;
        self
    }
    /// Sets `maximize` (default false): ascend instead of descend.
    pub fn maximize(mut self, v: bool) -> Self {
        self.maximize = v;
        self
    }
}

impl OptimizerConfig for Adagrad {
    fn name(&self) -> &'static str {
        "Adagrad"
    }
    fn validate(&self) -> Result<()> {
        validate::non_negative("lr", self.lr)?;
        validate::non_negative("lr_decay", self.lr_decay)?;
        validate::non_negative("weight_decay", self.weight_decay)?;
        validate::non_negative("initial_accumulator_value", self.initial_accumulator_value)?;
        validate::positive("eps", self.eps)
    }
    fn hyperparameter_fields(&mut self) -> Vec<(&'static str, HyperparameterField<'_>)> {
        vec![
            ("lr", (&mut self.lr).into()),
            ("lr_decay", (&mut self.lr_decay).into()),
            ("weight_decay", (&mut self.weight_decay).into()),
            (
                "initial_accumulator_value",
                (&mut self.initial_accumulator_value).into(),
            ),
            ("eps", (&mut self.eps).into()),
            ("maximize", (&mut self.maximize).into()),
        ]
    }
    fn lr(&self) -> f32 {
        self.lr
    }
    fn lr_mut(&mut self) -> &mut f32 {
        &mut self.lr
    }
    fn rule(&self, ctx: &mut StepContext) -> Box<dyn UpdateRule> {
        let decayed = 1.0 + (ctx.step as f64 - 1.0) * self.lr_decay as f64;
        Box::new(AdagradRule {
            n4: 0,
            flags: flags::bit(self.maximize, AdagradRule::MAXIMIZE),
            clr: (self.lr as f64 / decayed) as f32,
            weight_decay: self.weight_decay,
            eps: self.eps,
            _pad0: 0,
            _pad1: 0,
            _pad2: 0,
        })
    }
    fn initial_state(&self) -> Vec<f32> {
        vec![self.initial_accumulator_value]
    }
}

/// One Adagrad step: the uniform of `shaders/optim/adagrad.wgsl`. State: `[sum]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AdagradRule {
    /// The length in vec4s (the GPU backend writes it).
    pub n4: u32,
    /// [`AdagradRule::MAXIMIZE`].
    pub flags: u32,
    /// `lr / (1 + (t - 1) · lr_decay)`: the decayed learning rate of step `t`.
    pub clr: f32,
    /// L2 penalty: `weight_decay · p` is added to the gradient.
    pub weight_decay: f32,
    /// Added to `sqrt(sum)` in the denominator.
    pub eps: f32,
    /// Padding to the WGSL struct's 16-byte multiple.
    pub _pad0: u32,
    /// Padding.
    pub _pad1: u32,
    /// Padding.
    pub _pad2: u32,
}

impl AdagradRule {
    /// Negate the gradient first (ascend).
    pub const MAXIMIZE: u32 = flags::MAXIMIZE;
    /// The kernel, uniform fields, flags and state bindings of this struct.
    pub const LAYOUT: RuleLayout = layout!(
        AdagradRule,
        "adagrad",
        fields {
            n4,
            flags,
            clr,
            weight_decay,
            eps,
            _pad0,
            _pad1,
            _pad2
        },
        flags { MAXIMIZE },
        state["sum"]
    );
}

impl UpdateRule for AdagradRule {
    fn layout(&self) -> &'static RuleLayout {
        &Self::LAYOUT
    }
    fn uniform(&self) -> &[u8] {
        bytemuck::bytes_of(self)
    }
    fn apply(&self, params: &mut [f32], grads: &[f32], state: &mut [&mut [f32]]) {
        let maximize = self.flags & Self::MAXIMIZE != 0;
        let (clr, weight_decay, eps) = (self.clr, self.weight_decay, self.eps);
        let sum = &mut *state[0];
        for i in 0..params.len() {
            let p = params[i];
            let mut g = if maximize { -grads[i] } else { grads[i] };
            if weight_decay != 0.0 {
                g += weight_decay * p;
            }
            sum[i] += g * g;
            params[i] = p - clr * (g / (sum[i].sqrt() + eps));
        }
    }
}
