//! RMSprop, as `torch.optim.RMSprop`.

use super::optimizer::{OptimizerConfig, StepContext};
use super::rule::UpdateRule;
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
    fn rule(&self, _ctx: &mut StepContext) -> UpdateRule {
        UpdateRule::RmsProp {
            lr: self.lr,
            alpha: self.alpha,
            eps: self.eps,
            weight_decay: self.weight_decay,
            momentum: self.momentum,
            centered: self.centered,
            maximize: self.maximize,
        }
    }
}
