//! Adagrad, as `torch.optim.Adagrad`.

use super::optimizer::{OptimizerConfig, StepContext};
use super::rule::UpdateRule;
use super::state::HyperparameterField;
use super::validate;
use crate::error::Result;

/// Adagrad: per-coordinate steps shrink with the sum of squared gradients.
///
/// Defaults (PyTorch's): lr 1e-2, lr_decay 0, weight_decay 0, initial_accumulator_value 0,
/// eps 1e-10, maximize false.
#[derive(Clone, Debug, PartialEq)]
pub struct Adagrad {
    pub lr: f32,
    pub lr_decay: f32,
    pub weight_decay: f32,
    pub initial_accumulator_value: f32,
    pub eps: f32,
    pub maximize: bool,
}

impl Default for Adagrad {
    fn default() -> Self {
        Adagrad::new(1e-2)
    }
}

impl Adagrad {
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
    pub fn lr_decay(mut self, v: f32) -> Self {
        self.lr_decay = v;
        self
    }
    pub fn weight_decay(mut self, v: f32) -> Self {
        self.weight_decay = v;
        self
    }
    pub fn initial_accumulator_value(mut self, v: f32) -> Self {
        self.initial_accumulator_value = v;
        self
    }
    pub fn eps(mut self, v: f32) -> Self {
        self.eps = v;
        self
    }
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
    fn rule(&self, ctx: &mut StepContext) -> UpdateRule {
        let decayed = 1.0 + (ctx.step as f64 - 1.0) * self.lr_decay as f64;
        UpdateRule::Adagrad {
            clr: (self.lr as f64 / decayed) as f32,
            weight_decay: self.weight_decay,
            eps: self.eps,
            maximize: self.maximize,
        }
    }
    fn initial_state(&self) -> Vec<f32> {
        vec![self.initial_accumulator_value]
    }
}
