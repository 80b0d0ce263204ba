//! Adam and AdamW, as `torch.optim.Adam` / `torch.optim.AdamW`.

use super::flat::lerp;
use super::optimizer::{OptimizerConfig, StepContext};
use super::rule::{flags, layout, RuleLayout, UpdateRule};
use super::state::HyperparameterField;
use super::validate;
use crate::error::Result;
use crate::nan::maximum;

/// Adam: bias-corrected running averages of the gradient and its square.
///
/// Defaults (PyTorch's): lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0 (added to
/// the gradient, L2), amsgrad false, maximize false. With `decoupled_weight_decay` the
/// decay multiplies the parameter by `1 - lr·wd` instead: that is AdamW.
#[derive(Clone, Debug, PartialEq)]
pub struct Adam {
    /// PyTorch's `lr` (default 1e-3): the step size before bias correction; finite, ≥ 0.
    pub lr: f32,
    /// PyTorch's `betas` (default (0.9, 0.999)): β1 and β2, the decays of the running
    /// averages of the gradient (`exp_avg`) and of its square (`exp_avg_sq`); each in
    /// `[0, 1)`. β1 is the momentum a `OneCycleLR` cycles.
    pub betas: (f32, f32),
    /// PyTorch's `eps` (default 1e-8): added to the bias-corrected `sqrt(exp_avg_sq)` in the
    /// denominator; finite, > 0 (PyTorch also allows 0).
    pub eps: f32,
    /// PyTorch's `weight_decay` (default 0; AdamW's 1e-2): an L2 penalty
    /// `weight_decay · p` added to the gradient, or with `decoupled_weight_decay` the
    /// parameter multiplied by `1 - lr · weight_decay` first; finite, ≥ 0.
    pub weight_decay: f32,
    /// PyTorch's `amsgrad` (default false): divide by the running maximum of `exp_avg_sq`
    /// (state `max_exp_avg_sq`) instead of `exp_avg_sq`.
    pub amsgrad: bool,
    /// PyTorch's `maximize` (default false): ascend, negating the gradient first.
    pub maximize: bool,
    /// PyTorch's `decoupled_weight_decay` (default false; true for AdamW): decay the
    /// parameter instead of adding the penalty to the gradient; the name is then `AdamW`.
    pub decoupled_weight_decay: bool,
}

/// AdamW: Adam with decoupled weight decay. Defaults (PyTorch's): lr 1e-3,
/// betas (0.9, 0.999), eps 1e-8, weight_decay 1e-2, amsgrad false.
#[derive(Clone, Copy, Debug)]
pub struct AdamW;

impl AdamW {
    /// An [`Adam`] as `torch.optim.AdamW(lr)`: learning rate `lr`, decoupled weight decay
    /// of 1e-2 and Adam's defaults for the rest.
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
    /// Adam with learning rate `lr` and PyTorch's defaults for the rest (L2 weight decay
    /// 0). Ranges are checked when the optimizer is built.
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
    /// Sets `betas` to `(beta1, beta2)` (default (0.9, 0.999), each in `[0, 1)`).
    pub fn betas(mut self, beta1: f32, beta2: f32) -> Self {
        self.betas = (beta1, beta2);
        self
    }
    /// Sets `eps` (default 1e-8, > 0): added to the denominator.
    pub fn eps(mut self, v: f32) -> Self {
        self.eps = v;
        self
    }
    /// Sets `weight_decay` (default 0, AdamW's 1e-2; ≥ 0): L2, or decoupled with
    /// `decoupled_weight_decay`.
    pub fn weight_decay(mut self, v: f32) -> Self {
        self.weight_decay = v;
        self
    }
    /// Sets `amsgrad` (default false): divide by the running maximum of `exp_avg_sq`.
    pub fn amsgrad(mut self, v: bool) -> Self {
        self.amsgrad = v;
        self
    }
    /// Sets `maximize` (default false): ascend instead of descend.
    pub fn maximize(mut self, v: bool) -> Self {
        self.maximize = v;
        self
    }
    /// Sets `decoupled_weight_decay` (default false): true makes this AdamW.
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
    fn rule(&self, ctx: &mut StepContext) -> Box<dyn UpdateRule> {
        let t = ctx.step as i32;
        let (b1, b2) = (self.betas.0 as f64, self.betas.1 as f64);
        let lr = self.lr as f64;
        let (l2, decay_factor) = if self.decoupled_weight_decay {
            (0.0, (1.0 - lr * self.weight_decay as f64) as f32)
        } else {
            (self.weight_decay, 1.0)
        };
        Box::new(AdamRule {
            n4: 0,
            flags: flags::bit(self.amsgrad, AdamRule::AMSGRAD)
                | flags::bit(self.maximize, AdamRule::MAXIMIZE),
            beta1: self.betas.0,
            beta2: self.betas.1,
            eps: self.eps,
            weight_decay: l2,
            decay_factor,
            step_size: (lr / (1.0 - b1.powi(t))) as f32,
            bias_correction2_sqrt: (1.0 - b2.powi(t)).sqrt() as f32,
            _pad0: 0,
            _pad1: 0,
            _pad2: 0,
        })
    }
}

/// One Adam or AdamW step: the uniform of `shaders/optim/adam.wgsl`. State:
/// `[exp_avg, exp_avg_sq]`, then `max_exp_avg_sq` if amsgrad.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AdamRule {
    /// The length in vec4s (the GPU backend writes it).
    pub n4: u32,
    /// [`AdamRule::AMSGRAD`], [`AdamRule::MAXIMIZE`].
    pub flags: u32,
    /// β1: decay of the gradient average `exp_avg`.
    pub beta1: f32,
    /// β2: decay of the squared-gradient average `exp_avg_sq`.
    pub beta2: f32,
    /// Added to `sqrt(exp_avg_sq) / sqrt(1 - β2^t)` in the denominator.
    pub eps: f32,
    /// L2 penalty added to the gradient (Adam); 0 for AdamW.
    pub weight_decay: f32,
    /// Decoupled decay factor `1 - lr · wd` applied to the parameter first (AdamW); 1 for
    /// Adam.
    pub decay_factor: f32,
    /// `lr / (1 - β1^t)`, PyTorch's `step_size`: the rate with the first-moment bias
    /// correction.
    pub step_size: f32,
    /// `sqrt(1 - β2^t)`: the second-moment bias correction of the denominator.
    pub bias_correction2_sqrt: f32,
    /// Padding to the WGSL struct's 16-byte multiple.
    pub _pad0: u32,
    /// Padding.
    pub _pad1: u32,
    /// Padding.
    pub _pad2: u32,
}

impl AdamRule {
    /// Use the running maximum `max_exp_avg_sq` of `exp_avg_sq` in the denominator.
    pub const AMSGRAD: u32 = 1;
    /// Negate the gradient first (ascend).
    pub const MAXIMIZE: u32 = flags::MAXIMIZE;
    /// The kernel, uniform fields, flags and state bindings of this struct.
    pub const LAYOUT: RuleLayout = layout!(
        AdamRule,
        "adam",
        fields {
            n4, flags, beta1, beta2, eps, weight_decay, decay_factor, step_size,
            bias_correction2_sqrt, _pad0, _pad1, _pad2
        },
        flags { AMSGRAD, MAXIMIZE },
        state ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]
    );
}

impl UpdateRule for AdamRule {
    fn layout(&self) -> &'static RuleLayout {
        &Self::LAYOUT
    }
    fn uniform(&self) -> &[u8] {
        bytemuck::bytes_of(self)
    }
    fn uses_state(&self, slot: usize) -> bool {
        slot < 2 || self.flags & Self::AMSGRAD != 0
    }
    fn apply(&self, params: &mut [f32], grads: &[f32], state: &mut [&mut [f32]]) {
        let (maximize, amsgrad) = (
            self.flags & Self::MAXIMIZE != 0,
            self.flags & Self::AMSGRAD != 0,
        );
        let AdamRule {
            beta1,
            beta2,
            eps,
            weight_decay,
            decay_factor,
            step_size,
            bias_correction2_sqrt,
            ..
        } = *self;
        let (m, rest) = state.split_first_mut().expect("Adam state");
        let (v, rest) = rest.split_first_mut().expect("Adam state");
        // One element of the update; the loops below are written as zips over slices
        // without per-element branches on options, so the compiler can vectorise them.
        let update = |p: &mut f32, g: f32, m: &mut f32, v: &mut f32, vmax: Option<&mut f32>| {
            let decayed = *p * decay_factor;
            let mut g = if maximize { -g } else { g };
            if weight_decay != 0.0 {
                g += weight_decay * decayed;
            }
            *m = lerp(*m, g, 1.0 - beta1);
            *v = *v * beta2 + (1.0 - beta2) * g * g;
            let second = match vmax {
                Some(vm) => {
                    *vm = maximum(*vm, *v); // torch.maximum: NaN wins
                    *vm
                }
                None => *v,
            };
            let denom = second.sqrt() / bias_correction2_sqrt + eps;
            *p = decayed - step_size * (*m / denom);
        };
        let elements = params
            .iter_mut()
            .zip(grads)
            .zip(m.iter_mut())
            .zip(v.iter_mut());
        match rest.first_mut().filter(|_| amsgrad) {
            Some(vmax) => {
                for ((((p, &g), m), v), vm) in elements.zip(vmax.iter_mut()) {
                    update(p, g, m, v, Some(vm));
                }
            }
            None => {
                for (((p, &g), m), v) in elements {
                    update(p, g, m, v, None);
                }
            }
        }
    }
}
