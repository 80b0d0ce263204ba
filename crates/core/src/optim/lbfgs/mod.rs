//! L-BFGS, PyTorch's `torch.optim.LBFGS` step for step: the two-loop recursion over at
//! most `history_size` curvature pairs, the first step scaled by `min(1, 1/‖g‖₁)·lr`, a
//! pair stored only when `y·s > 1e-10`, optionally the strong-Wolfe line search with
//! cubic interpolation and its zoom phase, and PyTorch's counters (`func_evals`,
//! `n_iter`) and stopping tests in PyTorch's order.
//!
//! # The closure API, and why it is a type of its own
//!
//! One L-BFGS step evaluates the loss several times (up to `max_eval`), so it cannot be
//! given one gradient as [`Optimizer::step`](super::Optimizer::step) is: `Lbfgs` is not an
//! [`OptimizerConfig`](super::OptimizerConfig), and [`Lbfgs::build`] returns an
//! [`LbfgsOptimizer`] whose [`LbfgsOptimizer::step`] takes a closure that computes the
//! loss as a [`Tensor`] (the PyTorch-style forward pass, nothing else). The optimizer
//! runs `backward` on it itself and gathers the gradients of its own parameters: the
//! closure cannot forget a `zero_grad`, hand over gradients of other tensors, or disagree
//! with the loss it returns. Passing `Lbfgs` where a one-gradient optimizer is expected
//! (`Optimizer::new`, `fit`) is a compile-time error rather than a run-time one.
//!
//! ```
//! use downhill_core::{Device, Lbfgs, LineSearch, Result};
//!
//! /// Minimises Rosenbrock's `(1 − x)² + 100·(y − x²)²` from (-1.5, 2): at (1, 1)
//! /// after three steps (41 iterations, as PyTorch).
//! fn rosenbrock(device: &Device) -> Result<(f32, f32)> {
//!     let x = device.scalar(-1.5)?.param();
//!     let y = device.scalar(2.0)?.param();
//!     let mut lbfgs = Lbfgs::new(1.0)
//!         .line_search_fn(LineSearch::StrongWolfe)
//!         .build(&[&x, &y])?;
//!     for _ in 0..4 {
//!         // The closure is the forward pass; the optimizer runs backward itself.
//!         let loss = lbfgs.step(|| {
//!             let a = x.rsub_scalar(1.0)?.square()?;
//!             let b = (&y - &x.square()?)?.square()?.mul_scalar(100.0)?;
//!             (&a + &b)?.sum()
//!         })?;
//!         println!("loss {loss}, {} iterations so far", lbfgs.n_iter());
//!     }
//!     Ok((x.item()?, y.item()?))
//! }
//! ```
//!
//! # Where the work runs
//!
//! The parameters live in one flat buffer (a [`ParamSet`](super::ParamSet)), and so do the
//! gradient, the direction `d` and every stored pair `(s, y)`: dot products, axpys and the
//! two-loop recursion run on the parameters' backend (its coefficients stay on the
//! device). What the algorithm branches on comes to the host, as PyTorch's `.item()`s do,
//! batched into one download where PyTorch's order allows: per step one download
//! (`loss`, `max|g|`, on a first step `‖g‖₁`); per iteration one for `y·s` and `y·y`
//! (from the second iteration of the run on), one for `g·d` and `max|d|`, and one per
//! evaluation of the closure (`loss`, with strong Wolfe also `g·d` and `max|g|`; without
//! a line search `loss` and `max|g|`). Without a line search that is 3 downloads per
//! iteration; with strong Wolfe 2 plus one per evaluation.
//! [`LbfgsOptimizer::downloads`] counts them. (PyTorch also syncs on each two-loop
//! coefficient it passes as `alpha`, 2 per stored pair and iteration; here those stay
//! on the device.)
//!
//! PyTorch keeps some branch scalars as f32 0-dim tensors (`gtd`, `t` after a line
//! search); here they are f64 on the host, widened from the f32 the device computed:
//! the comparisons agree except at ties within f32 rounding.

mod flat_ops;
mod optimizer;
mod state;
mod strong_wolfe;
mod two_loop;
mod wire;

pub use optimizer::LbfgsOptimizer;
pub use state::LbfgsState;

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// The line search of [`Lbfgs`] (PyTorch's `line_search_fn`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LineSearch {
    /// `None` (the default): a fixed step `t` (`lr`, on the first iteration of a run
    /// `min(1, 1/‖g‖₁)·lr`), re-evaluating the loss after each step but the last.
    #[default]
    None,
    /// `"strong_wolfe"`: a step satisfying the strong Wolfe conditions (`c1` 1e-4, `c2`
    /// 0.9), bracketed and zoomed by cubic interpolation, at most 25 extra evaluations.
    StrongWolfe,
}

impl LineSearch {
    /// PyTorch's `_cubic_interpolate`: the minimiser of the cubic through `(x1, f1)` and
    /// `(x2, f2)` with derivatives `g1`, `g2`, clamped to `bounds` (default: between the
    /// points); the bounds' midpoint when the cubic has no real minimiser. Public for
    /// tests against hand-derived values.
    pub fn cubic_interpolate(
        p1: (f64, f64, f64),
        p2: (f64, f64, f64),
        bounds: Option<(f64, f64)>,
    ) -> f64 {
        strong_wolfe::cubic_interpolate(p1, p2, bounds)
    }
}

/// L-BFGS (PyTorch's `torch.optim.LBFGS`), built into an [`LbfgsOptimizer`] that is
/// stepped with a closure computing the loss.
///
/// Defaults (PyTorch's): lr 1, max_iter 20, max_eval `max_iter·5/4`, tolerance_grad
/// 1e-7, tolerance_change 1e-9, history_size 100, line_search_fn [`LineSearch::None`].
/// As PyTorch's, it has one parameter group (no [`ParamGroup`](super::ParamGroup)s) and
/// is meant for full-batch, deterministic losses.
#[derive(Clone, Debug, PartialEq)]
pub struct Lbfgs {
    /// `lr` (default 1): the step length (the line search's initial step); finite, ≥ 0.
    pub lr: f64,
    /// `max_iter` (default 20): iterations per [`LbfgsOptimizer::step`]; ≥ 1.
    pub max_iter: usize,
    /// `max_eval` (default `None`, meaning `max_iter * 5 / 4`): evaluations of the
    /// closure per step before it stops; ≥ 1.
    pub max_eval: Option<usize>,
    /// `tolerance_grad` (default 1e-7): stop when `max |g| ≤` it; finite, ≥ 0.
    pub tolerance_grad: f64,
    /// `tolerance_change` (default 1e-9): stop when the step, the directional derivative
    /// or the change of the loss falls below it; finite, ≥ 0. The line search's own
    /// bracket tolerance stays 1e-9, as PyTorch's `step` passes it no value.
    pub tolerance_change: f64,
    /// `history_size` (default 100): the curvature pairs kept; ≥ 1.
    pub history_size: usize,
    /// `line_search_fn` (default [`LineSearch::None`]).
    pub line_search_fn: LineSearch,
}

impl Default for Lbfgs {
    fn default() -> Self {
        Lbfgs::new(1.0)
    }
}

impl Lbfgs {
    /// L-BFGS with learning rate `lr` and PyTorch's defaults for the rest. Ranges are
    /// checked when the optimizer is built.
    pub fn new(lr: f64) -> Self {
        Lbfgs {
            lr,
            max_iter: 20,
            max_eval: None,
            tolerance_grad: 1e-7,
            tolerance_change: 1e-9,
            history_size: 100,
            line_search_fn: LineSearch::None,
        }
    }
    /// Sets `max_iter` (default 20, ≥ 1).
    pub fn max_iter(mut self, v: usize) -> Self {
        self.max_iter = v;
        self
    }
    /// Sets `max_eval` (default `max_iter * 5 / 4`, ≥ 1).
    pub fn max_eval(mut self, v: usize) -> Self {
        self.max_eval = Some(v);
        self
    }
    /// Sets `tolerance_grad` (default 1e-7, ≥ 0).
    pub fn tolerance_grad(mut self, v: f64) -> Self {
        self.tolerance_grad = v;
        self
    }
    /// Sets `tolerance_change` (default 1e-9, ≥ 0).
    pub fn tolerance_change(mut self, v: f64) -> Self {
        self.tolerance_change = v;
        self
    }
    /// Sets `history_size` (default 100, ≥ 1).
    pub fn history_size(mut self, v: usize) -> Self {
        self.history_size = v;
        self
    }
    /// Sets `line_search_fn` (default [`LineSearch::None`]).
    pub fn line_search_fn(mut self, v: LineSearch) -> Self {
        self.line_search_fn = v;
        self
    }

    /// `max_eval` in force: as set, else PyTorch's `max_iter * 5 // 4`.
    pub fn max_eval_or_default(&self) -> usize {
        self.max_eval.unwrap_or(self.max_iter * 5 / 4)
    }

    /// Checks every hyperparameter's range: an [`Error::Hyperparameter`] naming the first
    /// one out of range.
    pub fn validate(&self) -> Result<()> {
        let bad = |name, value: f64, reason| {
            Err(Error::Hyperparameter {
                name,
                value: value as f32,
                reason,
            })
        };
        let reals = [
            ("lr", self.lr),
            ("tolerance_grad", self.tolerance_grad),
            ("tolerance_change", self.tolerance_change),
        ];
        for (name, v) in reals {
            if !(v.is_finite() && v >= 0.0) {
                return bad(name, v, "must be a finite number >= 0");
            }
        }
        let counts = [
            ("max_iter", self.max_iter),
            ("max_eval", self.max_eval_or_default()),
            ("history_size", self.history_size),
        ];
        for (name, v) in counts {
            if v == 0 {
                return bad(name, 0.0, "must be at least 1");
            }
        }
        Ok(())
    }

    /// Validates the configuration and moves `params` into one flat buffer (as
    /// [`OptimizerConfig::build`](super::OptimizerConfig::build) does).
    pub fn build(&self, params: &[&Tensor]) -> Result<LbfgsOptimizer> {
        LbfgsOptimizer::new(self.clone(), params)
    }
}
