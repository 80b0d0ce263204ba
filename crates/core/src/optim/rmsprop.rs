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
    pub lr: f32,
    pub alpha: f32,
    pub eps: f32,
    pub weight_decay: f32,
    pub momentum: f32,
    pub centered: bool,
    pub maximize: bool,
}

impl Default for RmsProp {
    fn default() -> Self {
        RmsProp::new(1e-2)
    }
}

impl RmsProp {
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
    pub fn alpha(mut self, v: f32) -> Self {
        self.alpha = v;
        self
    }
    pub fn eps(mut self, v: f32) -> Self {
        self.eps = v;
        self
    }
    pub fn weight_decay(mut self, v: f32) -> Self {
        self.weight_decay = v;
        self
    }
    pub fn momentum(mut self, v: f32) -> Self {
        self.momentum = v;
        self
    }
    pub fn centered(mut self, v: bool) -> Self {
        self.centered = v;
        self
    }
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
