//! Rprop, as `torch.optim.Rprop` (Riedmiller and Braun 1993, "A Direct Adaptive Method for
//! Faster Backpropagation Learning: The RPROP Algorithm"): every parameter has its own step
//! size, grown while its gradient keeps its sign and shrunk when the sign flips; the
//! parameter moves by that step size against the gradient's sign. The gradient's size is
//! not used.

use super::optimizer::{OptimizerConfig, StepContext};
use super::rule::{flags, layout, RuleLayout, UpdateRule};
use super::state::HyperparameterField;
use super::validate;
use crate::error::{Error, Result};

/// Rprop: with `s = sign(g · prev)`, `step_size ← clamp(step_size · η, min, max)` where
/// `η = etaplus` if `s > 0`, `etaminus` if `s < 0`, 1 if `s = 0`; where `s < 0` the
/// gradient is set to 0 for this step; `p ← p − sign(g) · step_size`; `prev ← g`. State
/// `prev` (initially 0) and `step_size` (initially `lr`).
///
/// Defaults (PyTorch's): lr 1e-2, etas (0.5, 1.2), step_sizes (1e-6, 50), maximize false.
/// As in PyTorch, `lr` is only the initial step size: changing it later (a schedule, a
/// `set_lr`) does not change the step sizes already in the state.
#[derive(Clone, Debug, PartialEq)]
pub struct Rprop {
    /// PyTorch's `lr` (default 1e-2): every element's initial `step_size`; finite, ≥ 0.
    pub lr: f32,
    /// PyTorch's `etas` (default (0.5, 1.2)): `(etaminus, etaplus)`, the factors that
    /// shrink and grow the step size; `0 < etaminus < 1 < etaplus`, finite.
    pub etas: (f32, f32),
    /// PyTorch's `step_sizes` (default (1e-6, 50)): the `(min, max)` every step size is
    /// clamped to; finite, `0 ≤ min ≤ max` (PyTorch checks neither).
    pub step_sizes: (f32, f32),
    /// PyTorch's `maximize` (default false): ascend, negating the gradient first.
    pub maximize: bool,
}

impl Default for Rprop {
    fn default() -> Self {
        Rprop::new(1e-2)
    }
}

impl Rprop {
    /// Rprop with initial step size `lr` and PyTorch's defaults for the rest. Ranges are
    /// checked when the optimizer is built.
    pub fn new(lr: f32) -> Self {
        Rprop {
            lr,
            etas: (0.5, 1.2),
            step_sizes: (1e-6, 50.0),
            maximize: false,
        }
    }
    /// Sets `etas` to `(etaminus, etaplus)` (default (0.5, 1.2);
    /// `0 < etaminus < 1 < etaplus`).
    pub fn etas(mut self, etaminus: f32, etaplus: f32) -> Self {
        self.etas = (etaminus, etaplus);
        self
    }
    /// Sets `step_sizes` to `(min, max)` (default (1e-6, 50); `0 ≤ min ≤ max`).
    pub fn step_sizes(mut self, min: f32, max: f32) -> Self {
        self.step_sizes = (min, max);
        self
    }
    /// Sets `maximize` (default false): ascend instead of descend.
    pub fn maximize(mut self, v: bool) -> Self {
        self.maximize = v;
        self
    }
}

fn invalid(name: &'static str, value: f32, reason: &'static str) -> Error {
    Error::Hyperparameter {
        name,
        value,
        reason,
    }
}

impl OptimizerConfig for Rprop {
    fn name(&self) -> &'static str {
        "Rprop"
    }
    fn validate(&self) -> Result<()> {
        validate::non_negative("lr", self.lr)?;
        // PyTorch: `if not 0.0 < etas[0] < 1.0 < etas[1]: raise ValueError("Invalid eta
        // values")`.
        let (minus, plus) = self.etas;
        if !(minus > 0.0 && minus < 1.0) {
            return Err(invalid("etaminus", minus, "must lie in (0, 1)"));
        }
        if !(plus > 1.0 && plus.is_finite()) {
            return Err(invalid("etaplus", plus, "must be a finite number > 1"));
        }
        let (min, max) = self.step_sizes;
        validate::non_negative("step_size_min", min)?;
        validate::non_negative("step_size_max", max)?;
        if max < min {
            return Err(invalid(
                "step_size_max",
                max,
                "must be >= step_size_min (step_sizes is (min, max))",
            ));
        }
        Ok(())
    }
    fn hyperparameter_fields(&mut self) -> Vec<(&'static str, HyperparameterField<'_>)> {
        vec![
            ("lr", (&mut self.lr).into()),
            ("etaminus", (&mut self.etas.0).into()),
            ("etaplus", (&mut self.etas.1).into()),
            ("step_size_min", (&mut self.step_sizes.0).into()),
            ("step_size_max", (&mut self.step_sizes.1).into()),
            ("maximize", (&mut self.maximize).into()),
        ]
    }
    fn lr(&self) -> f32 {
        self.lr
    }
    fn lr_mut(&mut self) -> &mut f32 {
        &mut self.lr
    }
    fn initial_state(&self) -> Vec<f32> {
        // `state["prev"] = zeros`, `state["step_size"] = full_like(grad, lr)`.
        vec![0.0, self.lr]
    }
    fn rule(&self, _ctx: &mut StepContext) -> Box<dyn UpdateRule> {
        Box::new(RpropRule {
            n4: 0,
            flags: flags::bit(self.maximize, RpropRule::MAXIMIZE),
            etaminus: self.etas.0,
            etaplus: self.etas.1,
            step_size_min: self.step_sizes.0,
            step_size_max: self.step_sizes.1,
            _pad0: 0,
            _pad1: 0,
        })
    }
}

/// One Rprop step: the uniform of `shaders/optim/rprop.wgsl`. State: `[prev, step_size]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct RpropRule {
    /// The length in vec4s (the GPU backend writes it).
    pub n4: u32,
    /// [`RpropRule::MAXIMIZE`].
    pub flags: u32,
    /// The factor (< 1) a step size shrinks by when the gradient's sign flips.
    pub etaminus: f32,
    /// The factor (> 1) a step size grows by while the sign stays.
    pub etaplus: f32,
    /// The smallest step size.
    pub step_size_min: f32,
    /// The largest step size.
    pub step_size_max: f32,
    /// Padding to the WGSL struct's 16-byte multiple.
    pub _pad0: u32,
    /// Padding.
    pub _pad1: u32,
}

impl RpropRule {
    /// Negate the gradient first (ascend).
    pub const MAXIMIZE: u32 = flags::MAXIMIZE;
    /// The kernel, uniform fields, flags and state bindings of this struct.
    pub const LAYOUT: RuleLayout = layout!(
        RpropRule,
        "rprop",
        fields { n4, flags, etaminus, etaplus, step_size_min, step_size_max, _pad0, _pad1 },
        flags { MAXIMIZE },
        state ["prev", "step_size"]
    );
}

/// `torch.sign`: ±1, a zero kept, NaN kept.
#[inline(always)]
fn sign(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x
    }
}

impl UpdateRule for RpropRule {
    fn layout(&self) -> &'static RuleLayout {
        &Self::LAYOUT
    }
    fn uniform(&self) -> &[u8] {
        bytemuck::bytes_of(self)
    }
    fn apply(&self, params: &mut [f32], grads: &[f32], state: &mut [&mut [f32]]) {
        let maximize = self.flags & Self::MAXIMIZE != 0;
        let (minus, plus) = (self.etaminus, self.etaplus);
        let (lo, hi) = (self.step_size_min, self.step_size_max);
        let [prev, step_size] = state else {
            panic!("Rprop keeps 2 state buffers");
        };
        for (((p, &g), prev), step) in params
            .iter_mut()
            .zip(grads)
            .zip(prev.iter_mut())
            .zip(step_size.iter_mut())
        {
            let g = if maximize { -g } else { g };
            // sign = grad.mul(prev).sign(); sign[sign > 0] = etaplus; sign[sign < 0] =
            // etaminus; sign[sign == 0] = 1 (a NaN stays NaN).
            let s = sign(g * *prev);
            let eta = if s > 0.0 {
                plus
            } else if s < 0.0 {
                minus
            } else if s == 0.0 {
                1.0
            } else {
                s
            };
            // step_size.mul_(sign).clamp_(min, max), a NaN kept as torch.clamp keeps it
            // (and no panic whatever the bounds).
            let grown = *step * eta;
            *step = if grown < lo {
                lo
            } else if grown > hi {
                hi
            } else {
                grown
            };
            // grad[sign.eq(etaminus)] = 0
            let g = if eta == minus { 0.0 } else { g };
            // param.addcmul_(grad.sign(), step_size, value=-1)
            *p += -sign(g) * *step;
            *prev = g;
        }
    }
}
