//! LAMB, from You et al. 2020, "Large Batch Optimization for Deep Learning: Training BERT
//! in 76 minutes" (arXiv:1904.00962, Algorithm 2), as timm's `Lamb`
//! (`timm/optim/lamb.py`) computes it: Adam's bias-corrected update plus coupled weight
//! decay, scaled per parameter tensor by the trust ratio `‖p‖ / ‖update‖` (1 where either
//! norm is 0). PyTorch has no LAMB. A tensorwise rule (see [`super::tensorwise`]): the
//! norms of each tensor are reduced on the device, two dispatches per step.

use super::optimizer::{OptimizerConfig, StepContext};
use super::rule::{flags, layout, RuleLayout, UpdateRule};
use super::state::HyperparameterField;
use super::tensorwise::{SegmentRow, TensorwiseLayout, TensorwiseRule};
use super::validate;
use crate::error::Result;

/// LAMB (timm's `Lamb`): per tensor, with `m`, `v` (states `exp_avg`, `exp_avg_sq`, 0 at
/// first) and step `t`:
///
/// ```text
/// m ← β1·m + β3·g            (β3 = 1 − β1 with grad_averaging, else 1)
/// v ← β2·v + (1 − β2)·g²
/// u = (m / bc1) / (√v / √bc2 + eps)      (bc = 1 − βᵗ with bias_correction, else 1)
/// wd ≠ 0: u ← u + wd·p, or with decoupled_decay p ← p − lr·wd·p
/// wd ≠ 0 or always_adapt: u ← u · r,  r = ‖p‖ / ‖u‖ (1 if either is 0; min(r, 1)
///                                      with trust_clip)
/// p ← p − lr·u
/// ```
///
/// Defaults (timm's): lr 1e-3, betas (0.9, 0.999), eps 1e-6, weight_decay 0.01,
/// bias_correction true, grad_averaging true, trust_clip false, always_adapt false,
/// decoupled_decay false. timm's `max_grad_norm` (a global gradient-norm clip, default
/// 1.0 there) is not part of this rule: clip with `Optimizer::with_clip` (PyTorch's
/// `clip_grad_norm_`, whose coefficient `max/(norm + 1e-6)` differs from timm's
/// `1/max(norm/max, 1)` by that 1e-6); timm's `caution` is not offered.
#[derive(Clone, Debug, PartialEq)]
pub struct Lamb {
    /// `lr` (default 1e-3); finite, ≥ 0.
    pub lr: f32,
    /// `betas` (default (0.9, 0.999)): decays of `exp_avg` and `exp_avg_sq`, each in
    /// `[0, 1)`. β1 is the momentum a `OneCycleLR` cycles.
    pub betas: (f32, f32),
    /// `eps` (default 1e-6): added to the bias-corrected `√v`; finite, ≥ 0.
    pub eps: f32,
    /// `weight_decay` (default 0.01): added to the update (`u + wd·p`, before the trust
    /// ratio) unless `decoupled_decay`; finite, ≥ 0. 0 turns the trust ratio off unless
    /// `always_adapt`.
    pub weight_decay: f32,
    /// `bias_correction` (default true): divide the moments by `1 − βᵗ`.
    pub bias_correction: bool,
    /// `grad_averaging` (default true): `m ← β1·m + (1 − β1)·g`; false: `m ← β1·m + g`.
    pub grad_averaging: bool,
    /// `trust_clip` (default false): LAMBC, the trust ratio capped at 1.
    pub trust_clip: bool,
    /// `always_adapt` (default false): apply the trust ratio also where weight_decay is 0.
    pub always_adapt: bool,
    /// `decoupled_decay` (default false): decay the parameter (`p ← p − lr·wd·p`, before
    /// its norm is taken) instead of adding `wd·p` to the update.
    pub decoupled_decay: bool,
}

impl Default for Lamb {
    fn default() -> Self {
        Lamb::new(1e-3)
    }
}

impl Lamb {
    /// LAMB with learning rate `lr` and timm's defaults for the rest. Ranges are checked
    /// when the optimizer is built.
    pub fn new(lr: f32) -> Self {
        Lamb {
            lr,
            betas: (0.9, 0.999),
            eps: 1e-6,
            weight_decay: 0.01,
            bias_correction: true,
            grad_averaging: true,
            trust_clip: false,
            always_adapt: false,
            decoupled_decay: false,
        }
    }
    /// Sets `betas` (default (0.9, 0.999), each in `[0, 1)`).
    pub fn betas(mut self, beta1: f32, beta2: f32) -> Self {
        self.betas = (beta1, beta2);
        self
    }
    /// Sets `eps` (default 1e-6, ≥ 0).
    pub fn eps(mut self, v: f32) -> Self {
        self.eps = v;
        self
    }
    /// Sets `weight_decay` (default 0.01, ≥ 0).
    pub fn weight_decay(mut self, v: f32) -> Self {
        self.weight_decay = v;
        self
    }
    /// Sets `bias_correction` (default true).
    pub fn bias_correction(mut self, v: bool) -> Self {
        self.bias_correction = v;
        self
    }
    /// Sets `grad_averaging` (default true).
    pub fn grad_averaging(mut self, v: bool) -> Self {
        self.grad_averaging = v;
        self
    }
    /// Sets `trust_clip` (default false).
    pub fn trust_clip(mut self, v: bool) -> Self {
        self.trust_clip = v;
        self
    }
    /// Sets `always_adapt` (default false).
    pub fn always_adapt(mut self, v: bool) -> Self {
        self.always_adapt = v;
        self
    }
    /// Sets `decoupled_decay` (default false).
    pub fn decoupled_decay(mut self, v: bool) -> Self {
        self.decoupled_decay = v;
        self
    }
}

impl OptimizerConfig for Lamb {
    fn name(&self) -> &'static str {
        "Lamb"
    }
    fn validate(&self) -> Result<()> {
        validate::non_negative("lr", self.lr)?;
        validate::unit_interval("beta1", self.betas.0)?;
        validate::unit_interval("beta2", self.betas.1)?;
        validate::non_negative("eps", self.eps)?;
        validate::non_negative("weight_decay", self.weight_decay)
    }
    fn hyperparameter_fields(&mut self) -> Vec<(&'static str, HyperparameterField<'_>)> {
        vec![
            ("lr", (&mut self.lr).into()),
            ("beta1", (&mut self.betas.0).into()),
            ("beta2", (&mut self.betas.1).into()),
            ("eps", (&mut self.eps).into()),
            ("weight_decay", (&mut self.weight_decay).into()),
            ("bias_correction", (&mut self.bias_correction).into()),
            ("grad_averaging", (&mut self.grad_averaging).into()),
            ("trust_clip", (&mut self.trust_clip).into()),
            ("always_adapt", (&mut self.always_adapt).into()),
            ("decoupled_decay", (&mut self.decoupled_decay).into()),
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
        // Python's scalars are doubles, rounded to f32 where they meet the tensors.
        let (b1, b2) = (self.betas.0 as f64, self.betas.1 as f64);
        let t = ctx.step as i32;
        let (bc1, bc2) = if self.bias_correction {
            (1.0 - b1.powi(t), 1.0 - b2.powi(t))
        } else {
            (1.0, 1.0)
        };
        let (lr, wd) = (self.lr as f64, self.weight_decay as f64);
        let decay = self.weight_decay != 0.0;
        let flags = flags::bit(decay || self.always_adapt, LambRule::ADAPT)
            | flags::bit(self.trust_clip, LambRule::TRUST_CLIP)
            | flags::bit(decay && !self.decoupled_decay, LambRule::COUPLED)
            | flags::bit(decay && self.decoupled_decay, LambRule::DECOUPLED);
        Box::new(LambRule {
            n4: 0,
            flags,
            nseg: 0,
            lr: self.lr,
            beta1: self.betas.0,
            one_minus_beta2: (1.0 - b2) as f32,
            beta3: if self.grad_averaging {
                (1.0 - b1) as f32
            } else {
                1.0
            },
            eps: self.eps,
            weight_decay: self.weight_decay,
            bias_correction1: bc1 as f32,
            bias_correction2_sqrt: bc2.sqrt() as f32,
            neg_lr_wd: (-lr * wd) as f32,
            beta2: self.betas.1,
            _pad0: 0,
            _pad1: 0,
            _pad2: 0,
        })
    }
}

/// One LAMB step: the uniform of `shaders/optim/lamb.wgsl`. State:
/// `[exp_avg, exp_avg_sq]`; one number per segment (the trust ratio).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LambRule {
    /// The length in vec4s (the GPU backend writes it).
    pub n4: u32,
    /// [`LambRule::ADAPT`], [`LambRule::TRUST_CLIP`], [`LambRule::COUPLED`],
    /// [`LambRule::DECOUPLED`].
    pub flags: u32,
    /// The number of segments (the GPU backend writes it).
    pub nseg: u32,
    /// The step size.
    pub lr: f32,
    /// β1: decay of `exp_avg`.
    pub beta1: f32,
    /// `1 − β2`, rounded from the double.
    pub one_minus_beta2: f32,
    /// The gradient's weight in `exp_avg`: `1 − β1` or 1.
    pub beta3: f32,
    /// Added to the bias-corrected `√v`.
    pub eps: f32,
    /// Coupled weight decay's factor on `p` in the update.
    pub weight_decay: f32,
    /// `1 − β1ᵗ` (or 1).
    pub bias_correction1: f32,
    /// `√(1 − β2ᵗ)` (or 1).
    pub bias_correction2_sqrt: f32,
    /// `−lr·wd`: decoupled decay's factor, `p ← p + (−lr·wd)·p`.
    pub neg_lr_wd: f32,
    /// β2: decay of `exp_avg_sq`.
    pub beta2: f32,
    /// Padding to the WGSL struct's 16-byte multiple.
    pub _pad0: u32,
    /// Padding.
    pub _pad1: u32,
    /// Padding.
    pub _pad2: u32,
}

impl LambRule {
    /// Scale the update by the trust ratio (weight_decay ≠ 0 or always_adapt).
    pub const ADAPT: u32 = 1;
    /// Cap the trust ratio at 1.
    pub const TRUST_CLIP: u32 = 4;
    /// Add `wd·p` to the update.
    pub const COUPLED: u32 = 8;
    /// Decay the parameter first.
    pub const DECOUPLED: u32 = 16;
    /// The kernel, uniform fields, flags and state bindings of this struct.
    pub const LAYOUT: RuleLayout = layout!(
        LambRule,
        "lamb",
        fields {
            n4,
            flags,
            nseg,
            lr,
            beta1,
            one_minus_beta2,
            beta3,
            eps,
            weight_decay,
            bias_correction1,
            bias_correction2_sqrt,
            neg_lr_wd,
            beta2,
            _pad0,
            _pad1,
            _pad2
        },
        flags { ADAPT, TRUST_CLIP, COUPLED, DECOUPLED },
        state["exp_avg", "exp_avg_sq"]
    );
    /// One number per segment: its trust ratio.
    pub const TENSORWISE: TensorwiseLayout = TensorwiseLayout {
        kernel: "lamb",
        scalars: 1,
    };

    fn has(&self, bit: u32) -> bool {
        self.flags & bit != 0
    }

    /// The parameter after decoupled decay and the update before the trust ratio, from
    /// the new moments (both kernels compute it so, in this order).
    #[inline(always)]
    fn update(&self, p: f32, m: f32, v: f32) -> (f32, f32) {
        let denom = v.sqrt() / self.bias_correction2_sqrt + self.eps;
        let mut u = (m / self.bias_correction1) / denom;
        let mut p = p;
        if self.has(Self::COUPLED) {
            u += self.weight_decay * p;
        }
        if self.has(Self::DECOUPLED) {
            p += self.neg_lr_wd * p;
        }
        (p, u)
    }

    /// `torch.where(w > 0, torch.where(g > 0, w / g, 1), 1)`, capped at 1 with trust_clip
    /// (NaN norms compare false: ratio 1, as in torch).
    pub fn trust_ratio(&self, w_norm: f32, u_norm: f32) -> f32 {
        if !self.has(Self::ADAPT) {
            return 1.0;
        }
        let r = if w_norm > 0.0 && u_norm > 0.0 {
            w_norm / u_norm
        } else {
            1.0
        };
        if self.has(Self::TRUST_CLIP) {
            crate::nan::minimum(r, 1.0)
        } else {
            r
        }
    }
}

impl UpdateRule for LambRule {
    fn layout(&self) -> &'static RuleLayout {
        &Self::LAYOUT
    }
    fn uniform(&self) -> &[u8] {
        bytemuck::bytes_of(self)
    }
    fn apply(&self, params: &mut [f32], grads: &[f32], state: &mut [&mut [f32]]) {
        // Not reached through a backend (optimizer_step refuses tensorwise rules): the
        // whole buffer as one vector.
        let n = params.len() as u32;
        let row = SegmentRow {
            len: n,
            rank: 1,
            batches: 1,
            rows: 1,
            cols: n,
            ..Default::default()
        };
        self.apply_segments(params, grads, state, &[row]);
    }
    fn tensorwise(&self) -> Option<&dyn TensorwiseRule> {
        Some(self)
    }
}

impl TensorwiseRule for LambRule {
    fn tensorwise_layout(&self) -> &'static TensorwiseLayout {
        &Self::TENSORWISE
    }
    fn apply_segments(
        &self,
        params: &mut [f32],
        grads: &[f32],
        state: &mut [&mut [f32]],
        segments: &[SegmentRow],
    ) {
        let [m, v] = state else { return };
        for seg in segments {
            let r = seg.range();
            // The segments kernel: new moments, then the two sums of squares (in f64,
            // rounded once: the reference; a GPU's tree sums are within a few ulp).
            let (mut pp, mut uu) = (0.0f64, 0.0f64);
            for i in r.clone() {
                let g = grads[i];
                m[i] = m[i] * self.beta1 + self.beta3 * g;
                v[i] = v[i] * self.beta2 + self.one_minus_beta2 * g * g;
                let (p, u) = self.update(params[i], m[i], v[i]);
                pp += (p * p) as f64;
                uu += (u * u) as f64;
            }
            let trust = self.trust_ratio((pp as f32).sqrt(), (uu as f32).sqrt());
            // The elementwise kernel.
            for i in r {
                let (p, u) = self.update(params[i], m[i], v[i]);
                params[i] = p + -self.lr * (u * trust);
            }
        }
    }
}
