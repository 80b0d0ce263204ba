//! ASGD, as `torch.optim.ASGD` (averaged SGD, Polyak and Juditsky 1992; the decaying
//! rate of Bottou 2012, "Stochastic Gradient Descent Tricks"): SGD with a rate that decays
//! with the step count and a running average `ax` of the parameters, which starts
//! averaging after `t0` steps.
//!
//! PyTorch keeps `eta`, `mu` and `step` per parameter as f32 scalars; they depend only on
//! the step count and the hyperparameters, so the rule recomputes them on the host from
//! the parameter's step count (no device state, no round trip). Step `t` uses the values
//! PyTorch's step `t − 1` stored (its update runs before it refreshes them):
//! `eta = lr / (1 + lambd·lr·(t − 1))^alpha` and `mu = 1 / max(1, t − 1 − t0)`, each
//! computed in f64 and rounded to f32 as PyTorch stores them. One difference: PyTorch
//! computes the `eta` of step `t` with the learning rate in force at step `t − 1`; this
//! rule uses the one in force at step `t` (the same unless a schedule changes `lr`).

use super::optimizer::{OptimizerConfig, StepContext};
use super::rule::{flags, layout, RuleLayout, UpdateRule};
use super::state::HyperparameterField;
use super::validate;
use crate::error::{Error, Result};

/// ASGD: `g ← g + wd·p`, `p ← p·(1 − lambd·eta)`, `p ← p − eta·g`, then
/// `ax ← p` while `mu = 1`, else `ax ← ax + (p − ax)·mu` (state `ax`, the averaged
/// parameters, initially 0), with `eta` and `mu` as the module docs say.
///
/// Defaults (PyTorch's): lr 1e-2, lambd 1e-4, alpha 0.75, t0 1e6, weight_decay 0,
/// maximize false.
#[derive(Clone, Debug, PartialEq)]
pub struct Asgd {
    /// PyTorch's `lr` (default 1e-2): the initial rate `eta`; finite, ≥ 0.
    pub lr: f32,
    /// PyTorch's `lambd` (default 1e-4): the decay term, both of the rate and of the
    /// parameter (`p ← p·(1 − lambd·eta)`); finite, ≥ 0 (PyTorch does not check it).
    pub lambd: f32,
    /// PyTorch's `alpha` (default 0.75): the power of the rate's decay; finite, ≥ 0
    /// (PyTorch does not check it).
    pub alpha: f32,
    /// PyTorch's `t0` (default 1e6): the step after which averaging starts; finite
    /// (PyTorch does not check it).
    pub t0: f32,
    /// PyTorch's `weight_decay` (default 0): an L2 penalty `weight_decay · p` added to the
    /// gradient; finite, ≥ 0.
    pub weight_decay: f32,
    /// PyTorch's `maximize` (default false): ascend, negating the gradient first.
    pub maximize: bool,
}

impl Default for Asgd {
    fn default() -> Self {
        Asgd::new(1e-2)
    }
}

impl Asgd {
    /// ASGD with learning rate `lr` and PyTorch's defaults for the rest. Ranges are
    /// checked when the optimizer is built.
    pub fn new(lr: f32) -> Self {
        Asgd {
            lr,
            lambd: 1e-4,
            alpha: 0.75,
            t0: 1e6,
            weight_decay: 0.0,
            maximize: false,
        }
    }
    /// Sets `lambd` (default 1e-4, ≥ 0).
    pub fn lambd(mut self, v: f32) -> Self {
        self.lambd = v;
        self
    }
    /// Sets `alpha` (default 0.75, ≥ 0).
    pub fn alpha(mut self, v: f32) -> Self {
        self.alpha = v;
        self
    }
    /// Sets `t0` (default 1e6): averaging starts after step `t0 + 1`.
    pub fn t0(mut self, v: f32) -> Self {
        self.t0 = v;
        self
    }
    /// Sets `weight_decay` (default 0, ≥ 0): L2.
    pub fn weight_decay(mut self, v: f32) -> Self {
        self.weight_decay = v;
        self
    }
    /// Sets `maximize` (default false): ascend instead of descend.
    pub fn maximize(mut self, v: bool) -> Self {
        self.maximize = v;
        self
    }

    /// `(eta, mu)` as PyTorch's state holds them when step `step` (1-based) begins.
    pub fn eta_mu(&self, step: u64) -> (f32, f32) {
        // PyTorch's `step` is an f32 tensor; its `.item()` is exact below 2^24.
        let done = (step.saturating_sub(1) as f32) as f64;
        let (lr, lambd, alpha) = (self.lr as f64, self.lambd as f64, self.alpha as f64);
        let eta = lr / (1.0 + lambd * lr * done).powf(alpha);
        let mu = 1.0 / f64::max(1.0, done - self.t0 as f64);
        (eta as f32, mu as f32)
    }
}

impl OptimizerConfig for Asgd {
    fn name(&self) -> &'static str {
        "ASGD"
    }
    fn validate(&self) -> Result<()> {
        validate::non_negative("lr", self.lr)?;
        validate::non_negative("lambd", self.lambd)?;
        validate::non_negative("alpha", self.alpha)?;
        if !self.t0.is_finite() {
            return Err(Error::Hyperparameter {
                name: "t0",
                value: self.t0,
                reason: "must be a finite number",
            });
        }
        validate::non_negative("weight_decay", self.weight_decay)
    }
    fn hyperparameter_fields(&mut self) -> Vec<(&'static str, HyperparameterField<'_>)> {
        vec![
            ("lr", (&mut self.lr).into()),
            ("lambd", (&mut self.lambd).into()),
            ("alpha", (&mut self.alpha).into()),
            ("t0", (&mut self.t0).into()),
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
    fn rule(&self, ctx: &mut StepContext) -> Box<dyn UpdateRule> {
        let (eta, mu) = self.eta_mu(ctx.step);
        // `param.mul_(1 - lambd * eta_value)` with `eta_value = eta.item()`, in f64.
        let decay_factor = (1.0 - self.lambd as f64 * eta as f64) as f32;
        Box::new(AsgdRule {
            n4: 0,
            flags: flags::bit(mu != 1.0, AsgdRule::AVERAGE)
                | flags::bit(self.maximize, AsgdRule::MAXIMIZE),
            weight_decay: self.weight_decay,
            eta,
            decay_factor,
            mu,
            _pad0: 0,
            _pad1: 0,
        })
    }
}

/// One ASGD step: the uniform of `shaders/optim/asgd.wgsl`. State: `[ax]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AsgdRule {
    /// The length in vec4s (the GPU backend writes it).
    pub n4: u32,
    /// [`AsgdRule::AVERAGE`], [`AsgdRule::MAXIMIZE`].
    pub flags: u32,
    /// L2 penalty added to the gradient.
    pub weight_decay: f32,
    /// The step's rate (PyTorch's state `eta`).
    pub eta: f32,
    /// `1 − lambd · eta`: the parameter's decay.
    pub decay_factor: f32,
    /// The averaging weight (PyTorch's state `mu`), used when [`AsgdRule::AVERAGE`].
    pub mu: f32,
    /// Padding to the WGSL struct's 16-byte multiple.
    pub _pad0: u32,
    /// Padding.
    pub _pad1: u32,
}

impl AsgdRule {
    /// `mu ≠ 1`: `ax ← ax + (p − ax)·mu` (else PyTorch copies: `ax ← p`).
    pub const AVERAGE: u32 = 1;
    /// Negate the gradient first (ascend).
    pub const MAXIMIZE: u32 = flags::MAXIMIZE;
    /// The kernel, uniform fields, flags and state bindings of this struct.
    pub const LAYOUT: RuleLayout = layout!(
        AsgdRule,
        "asgd",
        fields {
            n4,
            flags,
            weight_decay,
            eta,
            decay_factor,
            mu,
            _pad0,
            _pad1
        },
        flags { AVERAGE, MAXIMIZE },
        state["ax"]
    );
}

impl UpdateRule for AsgdRule {
    fn layout(&self) -> &'static RuleLayout {
        &Self::LAYOUT
    }
    fn uniform(&self) -> &[u8] {
        bytemuck::bytes_of(self)
    }
    fn apply(&self, params: &mut [f32], grads: &[f32], state: &mut [&mut [f32]]) {
        let maximize = self.flags & Self::MAXIMIZE != 0;
        let average = self.flags & Self::AVERAGE != 0;
        let AsgdRule {
            weight_decay,
            eta,
            decay_factor,
            mu,
            ..
        } = *self;
        let [ax] = state else {
            panic!("ASGD keeps 1 state buffer");
        };
        for ((p, &g), ax) in params.iter_mut().zip(grads).zip(ax.iter_mut()) {
            let mut g = if maximize { -g } else { g };
            if weight_decay != 0.0 {
                g += weight_decay * *p; // grad.add(param, alpha=weight_decay)
            }
            // param.mul_(1 - lambd * eta); param.add_(grad, alpha=-eta)
            *p = *p * decay_factor + -eta * g;
            *ax = if average { *ax + (*p - *ax) * mu } else { *p };
        }
    }
}
