//! Stochastic gradient descent, as `torch.optim.SGD`.

use super::optimizer::{OptimizerConfig, StepContext};
use super::rule::UpdateRule;
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
    fn rule(&self, ctx: &mut StepContext) -> UpdateRule {
        UpdateRule::Sgd {
            lr: self.lr,
            momentum: self.momentum,
            dampening: self.dampening,
            nesterov: self.nesterov,
            weight_decay: self.weight_decay,
            maximize: self.maximize,
            first_step: ctx.step == 1,
        }
    }
}
