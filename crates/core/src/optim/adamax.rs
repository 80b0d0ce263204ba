//! Adamax, as `torch.optim.Adamax`.

use super::optimizer::{OptimizerConfig, StepContext};
use super::rule::UpdateRule;
use super::state::HyperparameterField;
use super::validate;
use crate::error::Result;

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
    fn rule(&self, ctx: &mut StepContext) -> UpdateRule {
        let bias_correction = 1.0 - (self.betas.0 as f64).powi(ctx.step as i32);
        UpdateRule::Adamax {
            clr: (self.lr as f64 / bias_correction) as f32,
            beta1: self.betas.0,
            beta2: self.betas.1,
            eps: self.eps,
            weight_decay: self.weight_decay,
            maximize: self.maximize,
        }
    }
}
