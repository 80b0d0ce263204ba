//! Adafactor as `torch.optim.Adafactor` (PyTorch 2.5+) computes it, in
//! `_single_tensor_adafactor`'s order (Shazeer & Stern 2018, arXiv:1804.04235): factored
//! second moments (a row and a column mean of `g²`) for tensors of rank ≥ 2, a relative
//! step `ρ = min(lr, 1/√t)` scaled by the parameter's RMS, and the update clipped by its
//! own RMS. A tensorwise rule (see [`super::tensorwise`]): every norm and mean is taken on
//! the device, two dispatches per step; PyTorch's two `.item()` calls become per-tensor
//! numbers in a device buffer.

use super::flat::lerp;
use super::optimizer::{OptimizerConfig, StepContext};
use super::rule::{flags, layout, RuleLayout, UpdateRule};
use super::state::HyperparameterField;
use super::tensorwise::{SegmentRow, TensorwiseLayout, TensorwiseRule};
use super::validate;
use crate::error::{Error, Result};

/// Adafactor (`torch.optim.Adafactor`): per tensor, at step `t`, with `g` negated under
/// `maximize`:
///
/// ```text
/// β2ₜ = t^beta2_decay,  ρ = min(lr, 1/√t),  α = max(eps2, RMS(p)) · ρ
/// p ← p · (1 − lr·wd)
/// rank ≥ 2: row_var ← lerp(row_var, mean_cols(g²), β2ₜ); col_var ← lerp(col_var, mean_rows(g²), β2ₜ)
///           v̂ = row_var · col_var / max(mean_rows(row_var), eps1)
/// else:     variance ← lerp(variance, g², β2ₜ); v̂ = variance
/// u = g / √max(v̂, eps1²);   p ← p − α / max(1, RMS(u)/d) · u
/// ```
///
/// Defaults (PyTorch's): lr 1e-2, beta2_decay -0.8, eps (None, 1e-3) (eps1 None is f32's
/// machine epsilon, as `torch.finfo(float32).eps`), d 1.0, weight_decay 0, maximize
/// false. State (PyTorch's keys and shapes): `row_var` (the shape with the last axis 1)
/// and `col_var` (the second-to-last axis 1) for rank ≥ 2, `variance` (the parameter's
/// shape) below; `state_dict` holds exactly those values. On the device each is a buffer
/// of the flat layout (a factored tensor's `row_var` and `col_var` fill the start of its
/// segment, its `variance` range holds the row means of `row_var` during a step), so the
/// state takes 3× the parameters' memory, not PyTorch's `O(rows + cols)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Adafactor {
    /// `lr` (default 1e-2): the cap of the relative step `ρ`; finite, ≥ 0.
    pub lr: f32,
    /// `beta2_decay` (default -0.8): `1 − β2` at step t is `t^beta2_decay`; finite, ≤ 0.
    pub beta2_decay: f32,
    /// `eps[0]` (default None: f32's machine epsilon, 2^-23, stored as that value): the
    /// floor of the row means and, squared, of the variance estimate; finite, ≥ 0.
    pub eps1: f32,
    /// `eps[1]` (default 1e-3): the floor of the parameter's RMS in `α`; finite, ≥ 0.
    pub eps2: f32,
    /// `d` (default 1): the clipping threshold of the update's RMS; finite, ≥ 1.
    pub d: f32,
    /// `weight_decay` (default 0): `p ← p·(1 − lr·wd)` first; finite, ≥ 0.
    pub weight_decay: f32,
    /// `maximize` (default false): ascend, negating the gradient first.
    pub maximize: bool,
}

impl Default for Adafactor {
    fn default() -> Self {
        Adafactor::new(1e-2)
    }
}

impl Adafactor {
    /// Adafactor with learning rate `lr` and PyTorch's defaults for the rest. Ranges are
    /// checked when the optimizer is built.
    pub fn new(lr: f32) -> Self {
        Adafactor {
            lr,
            beta2_decay: -0.8,
            eps1: f32::EPSILON,
            eps2: 1e-3,
            d: 1.0,
            weight_decay: 0.0,
            maximize: false,
        }
    }
    /// Sets `beta2_decay` (default -0.8, ≤ 0).
    pub fn beta2_decay(mut self, v: f32) -> Self {
        self.beta2_decay = v;
        self
    }
    /// Sets `eps` = `(eps1, eps2)` (default (None, 1e-3)); `None` is f32's machine epsilon.
    pub fn eps(mut self, eps1: Option<f32>, eps2: f32) -> Self {
        self.eps1 = eps1.unwrap_or(f32::EPSILON);
        self.eps2 = eps2;
        self
    }
    /// Sets `d` (default 1, ≥ 1).
    pub fn d(mut self, v: f32) -> Self {
        self.d = v;
        self
    }
    /// Sets `weight_decay` (default 0, ≥ 0).
    pub fn weight_decay(mut self, v: f32) -> Self {
        self.weight_decay = v;
        self
    }
    /// Sets `maximize` (default false).
    pub fn maximize(mut self, v: bool) -> Self {
        self.maximize = v;
        self
    }
}

/// An error unless `ok`, naming the hyperparameter as PyTorch's message does.
fn require(ok: bool, name: &'static str, value: f32, reason: &'static str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::Hyperparameter {
            name,
            value,
            reason,
        })
    }
}

impl OptimizerConfig for Adafactor {
    fn name(&self) -> &'static str {
        "Adafactor"
    }
    fn validate(&self) -> Result<()> {
        validate::non_negative("lr", self.lr)?;
        let decay = self.beta2_decay;
        require(
            decay.is_finite() && decay <= 0.0,
            "beta2_decay",
            decay,
            "must be a finite number <= 0",
        )?;
        validate::non_negative("eps1", self.eps1)?;
        validate::non_negative("eps2", self.eps2)?;
        require(
            self.d.is_finite() && self.d >= 1.0,
            "d",
            self.d,
            "must be a finite number >= 1",
        )?;
        validate::non_negative("weight_decay", self.weight_decay)
    }
    fn hyperparameter_fields(&mut self) -> Vec<(&'static str, HyperparameterField<'_>)> {
        vec![
            ("lr", (&mut self.lr).into()),
            ("beta2_decay", (&mut self.beta2_decay).into()),
            ("eps1", (&mut self.eps1).into()),
            ("eps2", (&mut self.eps2).into()),
            ("d", (&mut self.d).into()),
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
    fn state_len(&self, name: &str, dims: &[usize]) -> usize {
        let n: usize = dims.iter().product();
        let r = dims.len();
        match (name, r >= 2) {
            _ if n == 0 => 0, // an empty tensor keeps no state
            ("row_var", true) => n / dims[r - 1],
            ("col_var", true) => n / dims[r - 2],
            ("variance", false) => n,
            _ => 0,
        }
    }
    fn rule(&self, ctx: &mut StepContext) -> Box<dyn UpdateRule> {
        // Python's floats are doubles, rounded to f32 where they meet the tensors.
        let t = ctx.step as f64;
        let (lr, wd, eps1) = (self.lr as f64, self.weight_decay as f64, self.eps1 as f64);
        let decay = self.weight_decay != 0.0;
        Box::new(AdafactorRule {
            n4: 0,
            flags: flags::bit(self.maximize, AdafactorRule::MAXIMIZE)
                | flags::bit(decay, AdafactorRule::DECAY),
            nseg: 0,
            rho: lr.min(1.0 / t.powf(0.5)) as f32,
            beta2_t: t.powf(self.beta2_decay as f64) as f32,
            eps1: self.eps1,
            eps1_sq: (eps1 * eps1) as f32,
            eps2: self.eps2,
            d: self.d,
            decay_factor: (1.0 - lr * wd) as f32,
            _pad0: 0,
            _pad1: 0,
        })
    }
}

/// One Adafactor step: the uniform of `shaders/optim/adafactor.wgsl`. State:
/// `[row_var, col_var, variance]`; one number per segment (`−α / denom`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AdafactorRule {
    /// The length in vec4s (the GPU backend writes it).
    pub n4: u32,
    /// [`AdafactorRule::MAXIMIZE`], [`AdafactorRule::DECAY`].
    pub flags: u32,
    /// The number of segments (the GPU backend writes it).
    pub nseg: u32,
    /// `ρₜ = min(lr, 1/√t)`.
    pub rho: f32,
    /// `1 − β2ₜ = t^beta2_decay`: the weight of the new mean in the `lerp`s.
    pub beta2_t: f32,
    /// The floor of the row means.
    pub eps1: f32,
    /// `eps1²`, the floor of the variance estimate.
    pub eps1_sq: f32,
    /// The floor of the parameter's RMS.
    pub eps2: f32,
    /// The clipping threshold.
    pub d: f32,
    /// `1 − lr·wd`.
    pub decay_factor: f32,
    /// Padding to the WGSL struct's 16-byte multiple.
    pub _pad0: u32,
    /// Padding.
    pub _pad1: u32,
}

/// Python's `max(a, x)`: `a` unless `x > a` (so a NaN `x` gives `a`).
#[inline(always)]
fn py_max(a: f32, x: f32) -> f32 {
    if x > a {
        x
    } else {
        a
    }
}

impl AdafactorRule {
    /// Negate the gradient first (ascend).
    pub const MAXIMIZE: u32 = flags::MAXIMIZE;
    /// Weight decay is on (`p ← p·decay_factor`).
    pub const DECAY: u32 = 4;
    /// The kernel, uniform fields, flags and state bindings of this struct.
    pub const LAYOUT: RuleLayout = layout!(
        AdafactorRule,
        "adafactor",
        fields {
            n4,
            flags,
            nseg,
            rho,
            beta2_t,
            eps1,
            eps1_sq,
            eps2,
            d,
            decay_factor,
            _pad0,
            _pad1
        },
        flags { MAXIMIZE, DECAY },
        state["row_var", "col_var", "variance"]
    );
    /// One number per segment: the step factor `−α / denom`.
    pub const TENSORWISE: TensorwiseLayout = TensorwiseLayout {
        kernel: "adafactor",
        scalars: 1,
    };

    fn grad(&self, g: f32) -> f32 {
        if self.flags & Self::MAXIMIZE != 0 {
            -g
        } else {
            g
        }
    }

    /// `g / √max(v̂, eps1²)` (`clamp_(min).rsqrt_().mul_(grad)`).
    #[inline(always)]
    fn update(&self, var_estimate: f32, g: f32) -> f32 {
        (1.0 / crate::nan::maximum(var_estimate, self.eps1_sq).sqrt()) * g
    }

    /// One tensor's step: the segments kernel's work, then the elementwise kernel's.
    fn step_segment(&self, p: &mut [f32], g: &[f32], state: &mut [&mut [f32]], seg: &SegmentRow) {
        let [row_var, col_var, variance] = state else {
            return;
        };
        let (b_n, r_n, c_n) = (seg.batches as usize, seg.rows as usize, seg.cols as usize);
        let n = p.len();
        if n == 0 {
            return; // an empty tensor: nothing to update (and no row_var to write)
        }
        let sq = |x: &[f32]| x.iter().map(|&v| (v * v) as f64).sum::<f64>() as f32;
        let alpha = py_max(self.eps2, sq(p).sqrt() / (n as f32).sqrt()) * self.rho;
        let factored = seg.rank >= 2;
        let mut u2 = 0.0f64;
        if factored {
            let g = |b: usize, r: usize, c: usize| self.grad(g[(b * r_n + r) * c_n + c]);
            for b in 0..b_n {
                for r in 0..r_n {
                    let s: f32 = (0..c_n).map(|c| g(b, r, c) * g(b, r, c)).sum();
                    let k = b * r_n + r;
                    row_var[k] = lerp(row_var[k], s.sqrt() * s.sqrt() / c_n as f32, self.beta2_t);
                }
                for c in 0..c_n {
                    let s: f32 = (0..r_n).map(|r| g(b, r, c) * g(b, r, c)).sum();
                    let k = b * c_n + c;
                    col_var[k] = lerp(col_var[k], s.sqrt() * s.sqrt() / r_n as f32, self.beta2_t);
                }
                let mean: f32 = row_var[b * r_n..(b + 1) * r_n].iter().sum::<f32>() / r_n as f32;
                variance[b] = crate::nan::maximum(mean, self.eps1);
                for r in 0..r_n {
                    for c in 0..c_n {
                        let v = row_var[b * r_n + r] * col_var[b * c_n + c] / variance[b];
                        let u = self.update(v, g(b, r, c));
                        u2 += (u * u) as f64;
                    }
                }
            }
        } else {
            for i in 0..n {
                let g = self.grad(g[i]);
                variance[i] = lerp(variance[i], g * g, self.beta2_t);
                let u = self.update(variance[i], g);
                u2 += (u * u) as f64;
            }
        }
        let denom = py_max(1.0, (u2 as f32).sqrt() / ((n as f32).sqrt() * self.d));
        let factor = -alpha / denom;
        for i in 0..n {
            let v = if factored {
                let (b, r, c) = (i / (r_n * c_n), i / c_n % r_n, i % c_n);
                row_var[b * r_n + r] * col_var[b * c_n + c] / variance[b]
            } else {
                variance[i]
            };
            let u = self.update(v, self.grad(g[i]));
            let q = if self.flags & Self::DECAY != 0 {
                p[i] * self.decay_factor
            } else {
                p[i]
            };
            p[i] = q + factor * u;
        }
    }
}

impl UpdateRule for AdafactorRule {
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

impl TensorwiseRule for AdafactorRule {
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
        for seg in segments {
            let r = seg.range();
            let mut views: Vec<&mut [f32]> = state.iter_mut().map(|s| &mut s[r.clone()]).collect();
            self.step_segment(&mut params[r.clone()], &grads[r], &mut views, seg);
        }
    }
}
