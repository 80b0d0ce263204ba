//! RMSprop, as `torch.optim.RMSprop`.

use super::flat::lerp;
use super::optimizer::{OptimizerConfig, StepContext};
use super::rule::{flags, layout, RuleLayout, UpdateRule};
use super::state::HyperparameterField;
use super::validate;
use crate::error::Result;

/// RMSprop: steps divided by a running RMS of gradients; optionally centered (divides by
/// an estimate of the variance instead) and with momentum.
///
/// Defaults (PyTorch's): lr 1e-2, alpha 0.99, eps 1e-8, weight_decay 0, momentum 0,
/// centered false, maximize false.
#[derive(Clone, Debug, PartialEq)]
pub struct RmsProp {
    /// PyTorch's `lr` (default 1e-2): the step size; finite, ≥ 0.
    pub lr: f32,
    /// PyTorch's `alpha` (default 0.99): the smoothing constant of
    /// `square_avg ← alpha · square_avg + (1 - alpha) · g²`; in `[0, 1]`.
    pub alpha: f32,
    /// PyTorch's `eps` (default 1e-8): added to the RMS (after the square root) in the
    /// denominator; finite, > 0 (PyTorch also allows 0).
    pub eps: f32,
    /// PyTorch's `weight_decay` (default 0): L2 penalty, `weight_decay · p` added to the
    /// gradient; finite, ≥ 0.
    pub weight_decay: f32,
    /// PyTorch's `momentum` (default 0): the factor of the buffer
    /// `b ← momentum · b + g / rms`, stepped as `lr · b`; finite, ≥ 0; 0 keeps no buffer.
    pub momentum: f32,
    /// PyTorch's `centered` (default false): divide by `sqrt(square_avg - grad_avg²)`, with
    /// `grad_avg` a running mean of the gradient (an estimate of its standard deviation),
    /// instead of the RMS.
    pub centered: bool,
    /// PyTorch's `maximize` (default false): ascend, negating the gradient first.
    pub maximize: bool,
}

impl Default for RmsProp {
    fn default() -> Self {
        RmsProp::new(1e-2)
    }
}

impl RmsProp {
    /// RMSprop with learning rate `lr` and PyTorch's defaults for the rest. Ranges are
    /// checked when the optimizer is built.
    pub fn new(lr: f32) -> Self {
        RmsProp {
            lr,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
            maximize: false,
        }
    }
    /// Sets `alpha` (default 0.99, in `[0, 1]`): the smoothing constant of `square_avg`.
    pub fn alpha(mut self, v: f32) -> Self {
        self.alpha = v;
        self
    }
    /// Sets `eps` (default 1e-8, > 0): added to the RMS in the denominator.
    pub fn eps(mut self, v: f32) -> Self {
        self.eps = v;
        self
    }
    /// Sets `weight_decay` (default 0, ≥ 0): the L2 penalty added to the gradient.
    pub fn weight_decay(mut self, v: f32) -> Self {
        self.weight_decay = v;
        self
    }
    /// Sets `momentum` (default 0, ≥ 0): the factor of the momentum buffer.
    pub fn momentum(mut self, v: f32) -> Self {
        self.momentum = v;
        self
    }
    /// Sets `centered` (default false): divide by an estimate of the gradient's standard
    /// deviation instead of its RMS.
    pub fn centered(mut self, v: bool) -> Self {
        self.centered = v;
        self
    }
    /// Sets `maximize` (default false): ascend instead of descend.
    pub fn maximize(mut self, v: bool) -> Self {
        self.maximize = v;
        self
    }
}

impl OptimizerConfig for RmsProp {
    fn name(&self) -> &'static str {
        "RMSprop"
    }
    fn validate(&self) -> Result<()> {
        validate::non_negative("lr", self.lr)?;
        validate::closed_unit_interval("alpha", self.alpha)?;
        validate::positive("eps", self.eps)?;
        validate::non_negative("weight_decay", self.weight_decay)?;
        validate::non_negative("momentum", self.momentum)
    }
    fn hyperparameter_fields(&mut self) -> Vec<(&'static str, HyperparameterField<'_>)> {
        vec![
            ("lr", (&mut self.lr).into()),
            ("alpha", (&mut self.alpha).into()),
            ("eps", (&mut self.eps).into()),
            ("weight_decay", (&mut self.weight_decay).into()),
            ("momentum", (&mut self.momentum).into()),
            ("centered", (&mut self.centered).into()),
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
        Some(self.momentum)
    }
    fn momentum_mut(&mut self) -> Option<&mut f32> {
        Some(&mut self.momentum)
    }
    fn rule(&self, _ctx: &mut StepContext) -> Box<dyn UpdateRule> {
        Box::new(RmsPropRule {
            n4: 0,
            flags: flags::bit(self.centered, RmsPropRule::CENTERED)
                | flags::bit(self.maximize, RmsPropRule::MAXIMIZE)
                | flags::bit(self.momentum > 0.0, RmsPropRule::HAS_MOMENTUM),
            lr: self.lr,
            alpha: self.alpha,
            eps: self.eps,
            weight_decay: self.weight_decay,
            momentum: self.momentum,
            _pad0: 0,
        })
    }
}

/// One RMSprop step: the uniform of `shaders/optim/rmsprop.wgsl`. State: `[square_avg]`,
/// then `grad_avg` if centered, then `momentum_buffer` if momentum > 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct RmsPropRule {
    /// The length in vec4s (the GPU backend writes it).
    pub n4: u32,
    /// [`RmsPropRule::CENTERED`], [`RmsPropRule::MAXIMIZE`], [`RmsPropRule::HAS_MOMENTUM`].
    pub flags: u32,
    /// The learning rate of this step (the group's, after any schedule).
    pub lr: f32,
    /// Smoothing constant: `square_avg ← alpha · square_avg + (1 - alpha) · g²`.
    pub alpha: f32,
    /// Added to the RMS (after the square root) in the denominator.
    pub eps: f32,
    /// L2 penalty: `weight_decay · p` is added to the gradient.
    pub weight_decay: f32,
    /// Factor of the buffer `b ← momentum · b + g / rms`, stepped as `lr · b`.
    pub momentum: f32,
    /// Padding to the WGSL struct's 16-byte multiple.
    pub _pad0: u32,
}

impl RmsPropRule {
    /// Divide by `sqrt(square_avg - grad_avg²)` (`grad_avg`: running mean of `g`).
    pub const CENTERED: u32 = 1;
    /// Negate the gradient first (ascend).
    pub const MAXIMIZE: u32 = flags::MAXIMIZE;
    /// Momentum is on: the kernel keeps `momentum_buffer`.
    pub const HAS_MOMENTUM: u32 = 8;
    /// The kernel, uniform fields, flags and state bindings of this struct.
    pub const LAYOUT: RuleLayout = layout!(
        RmsPropRule,
        "rmsprop",
        fields { n4, flags, lr, alpha, eps, weight_decay, momentum, _pad0 },
        flags { CENTERED, MAXIMIZE, HAS_MOMENTUM },
        state ["square_avg", "grad_avg", "momentum_buffer"]
    );
}

impl UpdateRule for RmsPropRule {
    fn layout(&self) -> &'static RuleLayout {
        &Self::LAYOUT
    }
    fn uniform(&self) -> &[u8] {
        bytemuck::bytes_of(self)
    }
    fn uses_state(&self, slot: usize) -> bool {
        match slot {
            1 => self.flags & Self::CENTERED != 0,
            2 => self.flags & Self::HAS_MOMENTUM != 0,
            _ => true,
        }
    }
    fn apply(&self, params: &mut [f32], grads: &[f32], state: &mut [&mut [f32]]) {
        let on = |bit: u32| self.flags & bit != 0;
        let (maximize, centered) = (on(Self::MAXIMIZE), on(Self::CENTERED));
        let (lr, alpha, eps, weight_decay, momentum) = (
            self.lr,
            self.alpha,
            self.eps,
            self.weight_decay,
            self.momentum,
        );
        let (square_avg, rest) = state.split_first_mut().expect("RMSprop state");
        let (grad_avg, rest) = if centered {
            let (g, r) = rest.split_first_mut().expect("centered state");
            (Some(&mut **g), r)
        } else {
            (None, rest)
        };
        let mut buf = rest.first_mut().map(|b| &mut **b);
        let mut grad_avg = grad_avg;
        for i in 0..params.len() {
            let p = params[i];
            let mut g = if maximize { -grads[i] } else { grads[i] };
            if weight_decay != 0.0 {
                g += weight_decay * p;
            }
            let sq = square_avg[i] * alpha + (1.0 - alpha) * g * g;
            square_avg[i] = sq;
            let avg = match grad_avg.as_deref_mut() {
                Some(ga) => {
                    let m = lerp(ga[i], g, 1.0 - alpha);
                    ga[i] = m;
                    (sq - m * m).sqrt() + eps
                }
                None => sq.sqrt() + eps,
            };
            params[i] = match buf.as_deref_mut() {
                Some(b) => {
                    let v = b[i] * momentum + g / avg;
                    b[i] = v;
                    p - lr * v
                }
                None => p - lr * (g / avg),
            };
        }
    }
}
