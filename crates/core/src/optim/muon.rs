//! Muon, from Keller Jordan 2024 (github.com/KellerJordan/Muon, `muon.py`): SGD momentum
//! with Nesterov for 2-D weights, the update orthogonalised by 5 Newton–Schulz iterations
//! (`zeropower_via_newtonschulz5`); every other parameter (biases, norms, vectors) by
//! AdamW, as the reference's `MuonWithAuxAdam` does with its `use_muon=False` groups.
//! Here the routing is by rank: a parameter of rank 2 is a Muon parameter, any other an
//! AdamW one, in the same optimizer. PyTorch has no Muon.
//!
//! A composed rule (see [`super::tensorwise::ComposedRule`]): each 2-D update is
//! orthogonalised with the backend's own matrix products (on the GPU the matmul kernels),
//! in f32 (the reference runs it in bfloat16), with no read-back.

use super::optimizer::{OptimizerConfig, StepContext};
use super::rule::{RuleLayout, UpdateRule};
use super::state::HyperparameterField;
use super::tensorwise::{ComposedRule, SegmentRow};
use super::{validate, AdamW};
use crate::backend::{Backend, BinaryOp, MatmulDims, ReduceDims, ReduceOp, Storage, UnaryOp};
use crate::error::Result;
use crate::shape::Shape;

/// The quintic's coefficients `(a, b, c)` of `zeropower_via_newtonschulz5`.
pub const NS_COEFFICIENTS: (f32, f32, f32) = (3.4445, -4.7750, 2.0315);

/// Muon with auxiliary AdamW (`MuonWithAuxAdam`), routed by rank. For a 2-D parameter
/// `[rows, cols]` with gradient `g` (state `momentum_buffer`, 0 at first):
///
/// ```text
/// m.lerp_(g, 1 − momentum);  u = g.lerp(m, momentum) (nesterov) or m
/// X = u (transposed if rows > cols);  X ← X / (‖X‖_F + 1e-7)
/// 5×: A = X·Xᵀ;  B = b·A + (c·A)·A;  X ← a·X + B·X     ((a, b, c) = NS_COEFFICIENTS)
/// p ← p·(1 − lr·wd) − lr · max(1, rows/cols)^½ · X (transposed back)
/// ```
///
/// and every other parameter by the reference's `adam_update` with decoupled decay
/// (`exp_avg`, `exp_avg_sq`; `torch.optim.AdamW`'s math, run by its kernel).
///
/// Defaults (the reference's): lr 0.02, momentum 0.95, nesterov true, weight_decay 0,
/// ns_steps 5; AdamW: adamw_lr 3e-4, adamw_betas (0.9, 0.95), adamw_eps 1e-10,
/// adamw_weight_decay 0. The reference also flattens 4-D conv filters into Muon
/// matrices; here only rank 2 is Muon's (a conv weight goes to AdamW).
#[derive(Clone, Debug, PartialEq)]
pub struct Muon {
    /// `lr` (default 0.02) of the Muon (2-D) parameters; finite, ≥ 0.
    pub lr: f32,
    /// `momentum` (default 0.95): the momentum buffer's decay; in `[0, 1]`.
    pub momentum: f32,
    /// `nesterov` (default true): orthogonalise `g.lerp(m, momentum)` instead of `m`.
    pub nesterov: bool,
    /// `weight_decay` (default 0) of the Muon parameters: `p ← p·(1 − lr·wd)`; ≥ 0.
    pub weight_decay: f32,
    /// `ns_steps` (default 5): Newton–Schulz iterations; 1 to 100.
    pub ns_steps: f32,
    /// The AdamW parameters' `lr` (default 3e-4); finite, ≥ 0.
    pub adamw_lr: f32,
    /// The AdamW parameters' `betas` (default (0.9, 0.95)); each in `[0, 1)`.
    pub adamw_betas: (f32, f32),
    /// The AdamW parameters' `eps` (default 1e-10); finite, > 0.
    pub adamw_eps: f32,
    /// The AdamW parameters' decoupled `weight_decay` (default 0); ≥ 0.
    pub adamw_weight_decay: f32,
}

impl Default for Muon {
    fn default() -> Self {
        Muon::new(0.02)
    }
}

impl Muon {
    /// Muon with learning rate `lr` and the reference's defaults for the rest (AdamW for
    /// the parameters that are not 2-D). Ranges are checked when the optimizer is built.
    pub fn new(lr: f32) -> Self {
        Muon {
            lr,
            momentum: 0.95,
            nesterov: true,
            weight_decay: 0.0,
            ns_steps: 5.0,
            adamw_lr: 3e-4,
            adamw_betas: (0.9, 0.95),
            adamw_eps: 1e-10,
            adamw_weight_decay: 0.0,
        }
    }
    /// Sets `momentum` (default 0.95).
    pub fn momentum(mut self, v: f32) -> Self {
        self.momentum = v;
        self
    }
    /// Sets `nesterov` (default true).
    pub fn nesterov(mut self, v: bool) -> Self {
        self.nesterov = v;
        self
    }
    /// Sets the Muon parameters' `weight_decay` (default 0).
    pub fn weight_decay(mut self, v: f32) -> Self {
        self.weight_decay = v;
        self
    }
    /// Sets `ns_steps` (default 5).
    pub fn ns_steps(mut self, v: u32) -> Self {
        self.ns_steps = v as f32;
        self
    }
    /// Sets the AdamW parameters' `lr` (default 3e-4).
    pub fn adamw_lr(mut self, v: f32) -> Self {
        self.adamw_lr = v;
        self
    }
    /// Sets the AdamW parameters' `betas` (default (0.9, 0.95)).
    pub fn adamw_betas(mut self, beta1: f32, beta2: f32) -> Self {
        self.adamw_betas = (beta1, beta2);
        self
    }
    /// Sets the AdamW parameters' `eps` (default 1e-10).
    pub fn adamw_eps(mut self, v: f32) -> Self {
        self.adamw_eps = v;
        self
    }
    /// Sets the AdamW parameters' `weight_decay` (default 0).
    pub fn adamw_weight_decay(mut self, v: f32) -> Self {
        self.adamw_weight_decay = v;
        self
    }

    fn adamw(&self) -> crate::optim::Adam {
        AdamW::new(self.adamw_lr)
            .betas(self.adamw_betas.0, self.adamw_betas.1)
            .eps(self.adamw_eps)
            .weight_decay(self.adamw_weight_decay)
    }
}

impl OptimizerConfig for Muon {
    fn name(&self) -> &'static str {
        "Muon"
    }
    fn validate(&self) -> Result<()> {
        validate::non_negative("lr", self.lr)?;
        validate::closed_unit_interval("momentum", self.momentum)?;
        validate::non_negative("weight_decay", self.weight_decay)?;
        let n = self.ns_steps;
        if !(n.fract() == 0.0 && (1.0..=100.0).contains(&n)) {
            return Err(crate::Error::Hyperparameter {
                name: "ns_steps",
                value: n,
                reason: "must be a whole number from 1 to 100",
            });
        }
        validate::non_negative("adamw_lr", self.adamw_lr)?;
        validate::unit_interval("adamw_beta1", self.adamw_betas.0)?;
        validate::unit_interval("adamw_beta2", self.adamw_betas.1)?;
        validate::positive("adamw_eps", self.adamw_eps)?;
        validate::non_negative("adamw_weight_decay", self.adamw_weight_decay)
    }
    fn hyperparameter_fields(&mut self) -> Vec<(&'static str, HyperparameterField<'_>)> {
        vec![
            ("lr", (&mut self.lr).into()),
            ("momentum", (&mut self.momentum).into()),
            ("nesterov", (&mut self.nesterov).into()),
            ("weight_decay", (&mut self.weight_decay).into()),
            ("ns_steps", (&mut self.ns_steps).into()),
            ("adamw_lr", (&mut self.adamw_lr).into()),
            ("adamw_beta1", (&mut self.adamw_betas.0).into()),
            ("adamw_beta2", (&mut self.adamw_betas.1).into()),
            ("adamw_eps", (&mut self.adamw_eps).into()),
            ("adamw_weight_decay", (&mut self.adamw_weight_decay).into()),
        ]
    }
    fn lr(&self) -> f32 {
        self.lr
    }
    fn lr_mut(&mut self) -> &mut f32 {
        &mut self.lr
    }
    fn state_len(&self, name: &str, dims: &[usize]) -> usize {
        let n = dims.iter().product();
        match (name, dims.len() == 2) {
            ("momentum_buffer", true) | ("exp_avg" | "exp_avg_sq", false) => n,
            _ => 0,
        }
    }
    fn rule(&self, ctx: &mut StepContext) -> Box<dyn UpdateRule> {
        Box::new(MuonRule {
            lr: self.lr,
            momentum: self.momentum,
            nesterov: self.nesterov,
            decay_factor: (1.0 - self.lr as f64 * self.weight_decay as f64) as f32,
            ns_steps: self.ns_steps as u32,
            adamw: self.adamw().rule(ctx),
        })
    }
}

/// One Muon step: the Muon parameters' scalars and the AdamW parameters' rule. State:
/// `[momentum_buffer, exp_avg, exp_avg_sq]` (each parameter uses its own kind's).
#[derive(Debug)]
pub struct MuonRule {
    /// The Muon parameters' step size.
    pub lr: f32,
    /// The momentum buffer's decay.
    pub momentum: f32,
    /// Orthogonalise the Nesterov look-ahead.
    pub nesterov: bool,
    /// `1 − lr·wd`.
    pub decay_factor: f32,
    /// Newton–Schulz iterations.
    pub ns_steps: u32,
    /// The AdamW step of the parameters that are not 2-D.
    pub adamw: Box<dyn UpdateRule>,
}

impl MuonRule {
    /// State names and no kernel (a composed rule's steps are backend ops).
    pub const LAYOUT: RuleLayout = RuleLayout {
        kernel: "muon",
        size: 0,
        fields: &[],
        flags: &[],
        state: &["momentum_buffer", "exp_avg", "exp_avg_sq"],
    };

    /// `m.lerp_(g, 1 − β)`, then the update (`g.lerp(m, β)` or `m`), over a range of
    /// Muon parameters: torch's lerp is `self + w·(end − self)` below w = ½ and
    /// `end − (end − self)·(1 − w)` from it.
    fn momentum_update(&self, b: &dyn Backend, g: &Storage, m: &Storage) -> Result<Storage> {
        let n = Shape::new([g.len()]);
        let lerp = |from: &Storage, to: &Storage, w: f32| -> Result<Storage> {
            // Returns from.lerp(to, w) in a new buffer.
            let out = b.full(from.len(), 0.0)?;
            if w < 0.5 {
                b.copy(from, &out)?;
                let d = b.binary(BinaryOp::Sub, to, &n, from, &n, &n)?;
                b.accumulate(&out, &d, w)?;
            } else {
                b.copy(to, &out)?;
                let d = b.binary(BinaryOp::Sub, to, &n, from, &n, &n)?;
                b.accumulate(&out, &d, -(1.0 - w))?;
            }
            Ok(out)
        };
        let w = (1.0 - self.momentum as f64) as f32;
        let new_m = lerp(m, g, w)?;
        b.copy(&new_m, m)?;
        if self.nesterov {
            lerp(g, m, self.momentum)
        } else {
            Ok(new_m)
        }
    }

    /// `zeropower_via_newtonschulz5` of the `[rows, cols]` matrix `u`, scaled by
    /// `max(1, rows/cols)^½`.
    fn orthogonalise(
        &self,
        b: &dyn Backend,
        u: &Storage,
        rows: usize,
        cols: usize,
    ) -> Result<Storage> {
        let one = Shape::new([1]);
        let scalar = |v: f32| b.upload(&[v]);
        let tall = rows > cols;
        let (r, c) = if tall { (cols, rows) } else { (rows, cols) };
        let shape = Shape::new([r, c]);
        let mut x = if tall {
            b.permute(u, &Shape::new([rows, cols]), &[1, 0])?
        } else {
            u.clone()
        };
        let sq = b.unary(UnaryOp::Square, &x)?;
        let dims = ReduceDims {
            outer: 1,
            len: r * c,
            inner: 1,
        };
        let norm = b.unary(UnaryOp::Sqrt, &b.reduce(ReduceOp::Sum, &sq, dims)?)?;
        let den = b.binary(BinaryOp::Add, &norm, &one, &scalar(1e-7)?, &one, &one)?;
        x = b.binary(BinaryOp::Div, &x, &shape, &den, &one, &shape)?;
        let (ca, cb, cc) = NS_COEFFICIENTS;
        let c_scalar = scalar(cc)?;
        let mm = |a: &Storage, bb: &Storage, m, k, n, trans_b| {
            b.matmul(
                a,
                bb,
                MatmulDims {
                    m,
                    k,
                    n,
                    trans_a: false,
                    trans_b,
                },
            )
        };
        let square = Shape::new([r, r]);
        for _ in 0..self.ns_steps {
            let a = mm(&x, &x, r, c, r, true)?; // X·Xᵀ
            let c_a = b.binary(BinaryOp::Mul, &a, &square, &c_scalar, &one, &square)?;
            let bm = mm(&c_a, &a, r, r, r, false)?; // (c·A)·A
            b.accumulate(&bm, &a, cb)?; // + b·A
            let next = mm(&bm, &x, r, r, c, false)?; // B·X
            b.accumulate(&next, &x, ca)?; // + a·X
            x = next;
        }
        if tall {
            x = b.permute(&x, &shape, &[1, 0])?;
            let scale = scalar(((rows as f64 / cols as f64).sqrt()) as f32)?;
            let flat = Shape::new([rows * cols]);
            x = b.binary(BinaryOp::Mul, &x, &flat, &scale, &one, &flat)?;
        }
        Ok(x)
    }
}

impl UpdateRule for MuonRule {
    fn layout(&self) -> &'static RuleLayout {
        &Self::LAYOUT
    }
    fn uniform(&self) -> &[u8] {
        &[]
    }
    fn apply(&self, _params: &mut [f32], _grads: &[f32], _state: &mut [&mut [f32]]) {
        // Not reached: optimizer_step refuses a composed rule before it applies it.
    }
    fn composed(&self) -> Option<&dyn ComposedRule> {
        Some(self)
    }
}

/// Maximal ranges of consecutive segments of one kind (2-D or not): `(is_2d, first, end)`.
fn kinds(segments: &[SegmentRow]) -> Vec<(bool, usize, usize)> {
    let mut out: Vec<(bool, usize, usize)> = Vec::new();
    for (i, s) in segments.iter().enumerate() {
        let kind = s.rank == 2;
        match out.last_mut() {
            Some((k, _, end)) if *k == kind => *end = i + 1,
            _ => out.push((kind, i, i + 1)),
        }
    }
    out
}

impl ComposedRule for MuonRule {
    fn step_run(
        &self,
        b: &dyn Backend,
        params: &Storage,
        grads: &Storage,
        state: &[Storage],
        segments: &[SegmentRow],
    ) -> Result<()> {
        let [momentum, exp_avg, exp_avg_sq] = state else {
            return Err(crate::Error::Config(format!(
                "Muon needs 3 state buffers, got {}",
                state.len()
            )));
        };
        super::tensorwise::check_rows("Muon step", segments, params.len())?;
        for (two_d, first, end) in kinds(segments) {
            // The range's elements, padding included (whole vec4s, zero gradients there).
            let from = segments[first].offset as usize;
            let last = &segments[end - 1];
            let to =
                (last.offset as usize + (last.len as usize).next_multiple_of(4)).min(params.len());
            let view = |s: &Storage| s.slice(from, to - from);
            if !two_d {
                let state = [view(exp_avg)?, view(exp_avg_sq)?];
                b.optimizer_step(self.adamw.as_ref(), &view(params)?, &view(grads)?, &state)?;
                continue;
            }
            let update = self.momentum_update(b, &view(grads)?, &view(momentum)?)?;
            for seg in &segments[first..end] {
                let (o, n) = (seg.offset as usize - from, seg.len as usize);
                if n == 0 {
                    continue;
                }
                let u = update.slice(o, n)?;
                let x = self.orthogonalise(b, &u, seg.rows as usize, seg.cols as usize)?;
                let p = params.slice(seg.offset as usize, n)?;
                if self.decay_factor != 1.0 {
                    let one = Shape::new([1]);
                    let flat = Shape::new([n]);
                    let f = b.upload(&[self.decay_factor])?;
                    let decayed = b.binary(BinaryOp::Mul, &p, &flat, &f, &one, &flat)?;
                    b.copy(&decayed, &p)?;
                }
                b.accumulate(&p, &x, -self.lr)?;
            }
        }
        Ok(())
    }
}
