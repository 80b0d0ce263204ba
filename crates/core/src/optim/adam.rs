//! Adam and AdamW, as `torch.optim.Adam` / `torch.optim.AdamW`.

use super::optimizer::{OptimizerConfig, StepContext};
use super::rule::UpdateRule;
use super::state::HyperparameterField;
use super::validate;
use crate::error::Result;

/// Adam: bias-corrected running averages of the gradient and its square.
///
/// Defaults (PyTorch's): lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0 (added to
/// the gradient, L2), amsgrad false, maximize false. With `decoupled_weight_decay` the
/// decay multiplies the parameter by `1 - lr·wd` instead: that is AdamW.
#[derive(Clone, Debug, PartialEq)]
pub struct Adam {
    pub lr: f32,
    pub betas: (f32, f32),
    pub eps: f32,
    pub weight_decay: f32,
    pub amsgrad: bool,
    pub maximize: bool,
    pub decoupled_weight_decay: bool,
}

/// AdamW: Adam with decoupled weight decay. Defaults (PyTorch's): lr 1e-3,
/// betas (0.9, 0.999), eps 1e-8, weight_decay 1e-2, amsgrad false.
#[derive(Clone, Copy, Debug)]
pub struct AdamW;

impl AdamW {
    #[allow(clippy::new_ret_no_self)]
    pub fn new(lr: f32) -> Adam {
        Adam {
            weight_decay: 1e-2,
            decoupled_weight_decay: true,
            ..Adam::new(lr)
        }
    }
}

impl Default for Adam {
    fn default() -> Self {
        Adam::new(1e-3)
    }
}

impl Adam {
    pub fn new(lr: f32) -> Self {
        Adam {
            lr,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
            maximize: false,
            decoupled_weight_decay: false,
        }
    }
    pub fn betas(mut self, beta1: f32, beta2: f32) -> Self {
        self.betas = (beta1, beta2);
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
    pub fn amsgrad(mut self, v: bool) -> Self {
        self.amsgrad = v;
        self
    }
    pub fn maximize(mut self, v: bool) -> Self {
        self.maximize = v;
        self
    }
    pub fn decoupled_weight_decay(mut self, v: bool) -> Self {
        self.decoupled_weight_decay = v;
        self
    }
}

impl OptimizerConfig for Adam {
    fn name(&self) -> &'static str {
        if self.decoupled_weight_decay {
            "AdamW"
        } else {
            "Adam"
        }
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
            ("amsgrad", (&mut self.amsgrad).into()),
            ("maximize", (&mut self.maximize).into()),
            (
                "decoupled_weight_decay",
                (&mut self.decoupled_weight_decay).into(),
            ),
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
        let t = ctx.step as i32;
        let (b1, b2) = (self.betas.0 as f64, self.betas.1 as f64);
        let lr = self.lr as f64;
        let (l2, decay_factor) = if self.decoupled_weight_decay {
            (0.0, (1.0 - lr * self.weight_decay as f64) as f32)
        } else {
            (self.weight_decay, 1.0)
        };
        UpdateRule::Adam {
            beta1: self.betas.0,
            beta2: self.betas.1,
            eps: self.eps,
            weight_decay: l2,
            decay_factor,
            step_size: (lr / (1.0 - b1.powi(t))) as f32,
            bias_correction2_sqrt: (1.0 - b2.powi(t)).sqrt() as f32,
            amsgrad: self.amsgrad,
            maximize: self.maximize,
        }
    }
}
