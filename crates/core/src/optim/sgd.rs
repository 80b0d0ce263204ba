//! Stochastic gradient descent, as `torch.optim.SGD`.

use super::optimizer::{OptimizerConfig, StepContext};
use super::rule::{flags, layout, RuleLayout, UpdateRule};
use super::state::HyperparameterField;
use super::validate;
use crate::error::{Error, Result};

/// SGD with optional momentum, dampening, Nesterov momentum and L2 weight decay.
///
/// Defaults (PyTorch's): momentum 0, dampening 0, nesterov false, weight_decay 0,
/// maximize false. With the whole data set as one batch this is batch gradient descent,
/// with batches of one it is stochastic gradient descent.
#[derive(Clone, Debug, PartialEq)]
pub struct Sgd {
    /// PyTorch's `lr` (given to `new`): the step size; finite, ≥ 0.
    pub lr: f32,
    /// PyTorch's `momentum` (default 0): the factor of the velocity buffer
    /// `b ← momentum · b + (1 - dampening) · g`; finite, ≥ 0; 0 keeps no buffer.
    pub momentum: f32,
    /// PyTorch's `dampening` (default 0): the gradient enters the velocity scaled by
    /// `1 - dampening` (from step 2; step 1 sets `b = g`); in `[0, 1]`.
    pub dampening: f32,
    /// PyTorch's `nesterov` (default false): step along `g + momentum · b` instead of `b`;
    /// needs momentum > 0 and dampening 0.
    pub nesterov: bool,
    /// PyTorch's `weight_decay` (default 0): L2 penalty, `weight_decay · p` added to the
    /// gradient; finite, ≥ 0.
    pub weight_decay: f32,
    /// PyTorch's `maximize` (default false): ascend, negating the gradient first.
    pub maximize: bool,
}

/// Plain gradient descent is SGD without momentum: the name the lessons use.
pub type Gd = Sgd;

impl Sgd {
    /// SGD with learning rate `lr` and PyTorch's defaults for the rest. Ranges are checked
    /// when the optimizer is built.
    pub fn new(lr: f32) -> Self {
        Sgd {
            lr,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            maximize: false,
        }
    }
    /// Sets `momentum` (default 0, ≥ 0): the velocity factor.
    pub fn momentum(mut self, momentum: f32) -> Self {
        self.momentum = momentum;
        self
    }
    /// Sets `dampening` (default 0, in `[0, 1]`): the gradient enters the velocity scaled by
    /// `1 - dampening`.
    pub fn dampening(mut self, dampening: f32) -> Self {
        self.dampening = dampening;
        self
    }
    /// Sets `nesterov` (default false): Nesterov momentum; needs momentum > 0, dampening 0.
    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }
    /// Sets `weight_decay` (default 0, ≥ 0): the L2 penalty added to the gradient.
    pub fn weight_decay(mut self, weight_decay: f32) -> Self {
        self.weight_decay = weight_decay;
        self
    }
    /// Sets `maximize` (default false): ascend instead of descend.
    pub fn maximize(mut self, maximize: bool) -> Self {
        self.maximize = maximize;
        self
    }
}

impl OptimizerConfig for Sgd {
    fn name(&self) -> &'static str {
        "SGD"
    }
    fn validate(&self) -> Result<()> {
        validate::non_negative("lr", self.lr)?;
        validate::non_negative("momentum", self.momentum)?;
        validate::closed_unit_interval("dampening", self.dampening)?;
        validate::non_negative("weight_decay", self.weight_decay)?;
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(Error::Hyperparameter {
                name: "nesterov",
                value: 1.0,
                reason: "Nesterov momentum requires momentum > 0 and dampening = 0",
            });
        }
        Ok(())
    }
    fn hyperparameter_fields(&mut self) -> Vec<(&'static str, HyperparameterField<'_>)> {
        vec![
            ("lr", (&mut self.lr).into()),
            ("momentum", (&mut self.momentum).into()),
            ("dampening", (&mut self.dampening).into()),
            ("nesterov", (&mut self.nesterov).into()),
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
        Some(self.momentum)
    }
    fn momentum_mut(&mut self) -> Option<&mut f32> {
        Some(&mut self.momentum)
    }
    fn rule(&self, ctx: &mut StepContext) -> Box<dyn UpdateRule> {
        Box::new(SgdRule {
            n4: 0,
            flags: flags::bit(self.nesterov, SgdRule::NESTEROV)
                | flags::bit(self.maximize, SgdRule::MAXIMIZE)
                | flags::bit(ctx.step == 1, SgdRule::FIRST_STEP)
                | flags::bit(self.momentum != 0.0, SgdRule::HAS_MOMENTUM),
            lr: self.lr,
            momentum: self.momentum,
            dampening: self.dampening,
            weight_decay: self.weight_decay,
            _pad0: 0,
            _pad1: 0,
        })
    }
}

/// One SGD step: the uniform of `shaders/optim/sgd.wgsl`. State: `[momentum_buffer]` when
/// momentum is on.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SgdRule {
    /// The length in vec4s (the GPU backend writes it).
    pub n4: u32,
    /// [`SgdRule::NESTEROV`], [`SgdRule::MAXIMIZE`], [`SgdRule::FIRST_STEP`],
    /// [`SgdRule::HAS_MOMENTUM`].
    pub flags: u32,
    /// The learning rate of this step (the group's, after any schedule).
    pub lr: f32,
    /// Factor of the velocity `b ← momentum · b + (1 - dampening) · g`.
    pub momentum: f32,
    /// The gradient enters the velocity scaled by `1 - dampening` (after step 1).
    pub dampening: f32,
    /// L2 penalty: `weight_decay · p` is added to the gradient.
    pub weight_decay: f32,
    /// Padding to the WGSL struct's 16-byte multiple.
    pub _pad0: u32,
    /// Padding.
    pub _pad1: u32,
}

impl SgdRule {
    /// Step along `g + momentum · b` instead of `b`.
    pub const NESTEROV: u32 = 1;
    /// Negate the gradient first (ascend).
    pub const MAXIMIZE: u32 = flags::MAXIMIZE;
    /// The first step: the momentum buffer is set to the gradient (PyTorch).
    pub const FIRST_STEP: u32 = 4;
    /// Momentum is on: the kernel keeps `momentum_buffer`.
    pub const HAS_MOMENTUM: u32 = 8;
    /// The kernel, uniform fields, flags and state bindings of this struct.
    pub const LAYOUT: RuleLayout = layout!(
        SgdRule,
        "sgd",
        fields {
            n4,
            flags,
            lr,
            momentum,
            dampening,
            weight_decay,
            _pad0,
            _pad1
        },
        flags {
            NESTEROV,
            MAXIMIZE,
            FIRST_STEP,
            HAS_MOMENTUM
        },
        state["momentum_buffer"]
    );
}

impl UpdateRule for SgdRule {
    fn layout(&self) -> &'static RuleLayout {
        &Self::LAYOUT
    }
    fn uniform(&self) -> &[u8] {
        bytemuck::bytes_of(self)
    }
    fn uses_state(&self, _slot: usize) -> bool {
        self.flags & Self::HAS_MOMENTUM != 0
    }
    fn apply(&self, params: &mut [f32], grads: &[f32], state: &mut [&mut [f32]]) {
        let on = |bit: u32| self.flags & bit != 0;
        let (maximize, nesterov, first_step) =
            (on(Self::MAXIMIZE), on(Self::NESTEROV), on(Self::FIRST_STEP));
        let (lr, momentum, dampening, weight_decay) =
            (self.lr, self.momentum, self.dampening, self.weight_decay);
        let mut buf = state.first_mut().map(|b| &mut **b);
        for i in 0..params.len() {
            let p = params[i];
            let mut g = if maximize { -grads[i] } else { grads[i] };
            if weight_decay != 0.0 {
                g += weight_decay * p;
            }
            if let Some(buf) = buf.as_deref_mut() {
                let b = if first_step {
                    g
                } else {
                    buf[i] * momentum + (1.0 - dampening) * g
                };
                buf[i] = b;
                g = if nesterov { g + momentum * b } else { b };
            }
            params[i] = p - lr * g;
        }
    }
}
