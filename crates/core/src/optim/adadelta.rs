//! Adadelta, as `torch.optim.Adadelta`.

use super::optimizer::{OptimizerConfig, StepContext};
use super::rule::{flags, layout, RuleLayout, UpdateRule};
use super::state::HyperparameterField;
use super::validate;
use crate::error::Result;

/// Adadelta: steps scaled by the ratio of running RMS of updates to running RMS of
/// gradients, so the learning rate matters little.
///
/// Defaults (PyTorch's): lr 1.0, rho 0.9, eps 1e-6, weight_decay 0, maximize false.
#[derive(Clone, Debug, PartialEq)]
pub struct Adadelta {
    /// PyTorch's `lr` (default 1.0): scales the computed update `delta`; finite, ≥ 0.
    pub lr: f32,
    /// PyTorch's `rho` (default 0.9): the decay of both running averages, of `g²`
    /// (`square_avg`) and of `delta²` (`acc_delta`); in `[0, 1]`.
    pub rho: f32,
    /// PyTorch's `eps` (default 1e-6): added inside both square roots of
    /// `delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) · g`; finite, > 0 (PyTorch
    /// also allows 0).
    pub eps: f32,
    /// PyTorch's `weight_decay` (default 0): L2 penalty, `weight_decay · p` added to the
    /// gradient; finite, ≥ 0.
    pub weight_decay: f32,
    /// PyTorch's `maximize` (default false): ascend, negating the gradient first.
    pub maximize: bool,
}

impl Default for Adadelta {
    fn default() -> Self {
        Adadelta::new(1.0)
    }
}

impl Adadelta {
    /// Adadelta with learning rate `lr` and PyTorch's defaults for the rest. Ranges are
    /// checked when the optimizer is built.
    pub fn new(lr: f32) -> Self {
        Adadelta {
            lr,
            rho: 0.9,
            eps: 1e-6,
            weight_decay: 0.0,
            maximize: false,
        }
    }
    /// Sets `rho` (default 0.9, in `[0, 1]`): the decay of both running averages.
    pub fn rho(mut self, v: f32) -> Self {
        self.rho = v;
        self
    }
    /// Sets `eps` (default 1e-6, > 0): added inside both square roots.
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

impl OptimizerConfig for Adadelta {
    fn name(&self) -> &'static str {
        "Adadelta"
    }
    fn validate(&self) -> Result<()> {
        validate::non_negative("lr", self.lr)?;
        validate::closed_unit_interval("rho", self.rho)?;
        validate::positive("eps", self.eps)?;
        validate::non_negative("weight_decay", self.weight_decay)
    }
    fn hyperparameter_fields(&mut self) -> Vec<(&'static str, HyperparameterField<'_>)> {
        vec![
            ("lr", (&mut self.lr).into()),
            ("rho", (&mut self.rho).into()),
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
    fn rule(&self, _ctx: &mut StepContext) -> Box<dyn UpdateRule> {
        Box::new(AdadeltaRule {
            n4: 0,
            flags: flags::bit(self.maximize, AdadeltaRule::MAXIMIZE),
            lr: self.lr,
            rho: self.rho,
            eps: self.eps,
            weight_decay: self.weight_decay,
            _pad0: 0,
            _pad1: 0,
        })
    }
}

/// One Adadelta step: the uniform of `shaders/optim/adadelta.wgsl`. State:
/// `[square_avg, acc_delta]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AdadeltaRule {
    /// The length in vec4s (the GPU backend writes it).
    pub n4: u32,
    /// [`AdadeltaRule::MAXIMIZE`].
    pub flags: u32,
    /// Scales the update `delta` (the group's rate, after any schedule).
    pub lr: f32,
    /// Decay of both running averages, of `g²` (`square_avg`) and `delta²` (`acc_delta`).
    pub rho: f32,
    /// Added inside both square roots:
    /// `delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) · g`.
    pub eps: f32,
    /// L2 penalty: `weight_decay · p` is added to the gradient.
    pub weight_decay: f32,
    /// Padding to the WGSL struct's 16-byte multiple.
    pub _pad0: u32,
    /// Padding.
    pub _pad1: u32,
}

impl AdadeltaRule {
    /// Negate the gradient first (ascend).
    pub const MAXIMIZE: u32 = flags::MAXIMIZE;
    /// The kernel, uniform fields, flags and state bindings of this struct.
    pub const LAYOUT: RuleLayout = layout!(
        AdadeltaRule,
        "adadelta",
        fields { n4, flags, lr, rho, eps, weight_decay, _pad0, _pad1 },
        flags { MAXIMIZE },
        state ["square_avg", "acc_delta"]
    );
}

impl UpdateRule for AdadeltaRule {
    fn layout(&self) -> &'static RuleLayout {
        &Self::LAYOUT
    }
    fn uniform(&self) -> &[u8] {
        bytemuck::bytes_of(self)
    }
    fn apply(&self, params: &mut [f32], grads: &[f32], state: &mut [&mut [f32]]) {
        let maximize = self.flags & Self::MAXIMIZE != 0;
        let (lr, rho, eps, weight_decay) = (self.lr, self.rho, self.eps, self.weight_decay);
        let (sq, rest) = state.split_first_mut().expect("Adadelta state");
        let acc = &mut *rest[0];
        for i in 0..params.len() {
            let p = params[i];
            let mut g = if maximize { -grads[i] } else { grads[i] };
            if weight_decay != 0.0 {
                g += weight_decay * p;
            }
            sq[i] = sq[i] * rho + (1.0 - rho) * g * g;
            let std = (sq[i] + eps).sqrt();
            let delta = (acc[i] + eps).sqrt() / std * g;
            acc[i] = acc[i] * rho + (1.0 - rho) * delta * delta;
            params[i] = p - lr * delta;
        }
    }
}
