//! The descriptions of the ops a backend runs: elementwise ops, reductions and matrix
//! products with their sizes, the fused losses, metric statistics and gradient clipping.

use super::check;
use crate::error::Result;

/// Elementwise ops of one input. Backward kernels exist for each (`unary_backward`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `x²`
    Square,
    /// `√x` (NaN for `x < 0`)
    Sqrt,
    /// `eˣ`
    Exp,
    /// The natural logarithm `ln x` (NaN for `x < 0`, `-inf` at 0).
    Log,
    /// `x^p` for a constant exponent.
    Powf(f32),
    /// `x + c`
    AddScalar(f32),
    /// `x · c`
    MulScalar(f32),
    /// `c - x`
    RsubScalar(f32),
    /// `c / x`
    RdivScalar(f32),
    /// `max(x, 0)` (NaN stays NaN).
    Relu,
    /// `x` for `x > 0`, else `alpha · x` (PyTorch's `negative_slope`).
    LeakyRelu(f32),
    /// The logistic function `1 / (1 + e⁻ˣ)`.
    Sigmoid,
    /// The hyperbolic tangent.
    Tanh,
    /// Exact GELU, `x·Φ(x)` with the normal CDF (PyTorch's and Keras' default).
    Gelu,
    /// Clamp into `[lo, hi]` (gradient passes inside the range only).
    Clamp(f32, f32),
}

impl UnaryOp {
    /// Whether a matmul epilogue may apply this activation: its derivative must follow
    /// from its output alone, since the fused op keeps only the output for backward.
    pub fn fusable(&self) -> bool {
        match *self {
            UnaryOp::Relu | UnaryOp::Sigmoid | UnaryOp::Tanh => true,
            UnaryOp::LeakyRelu(alpha) => alpha > 0.0,
            _ => false,
        }
    }
}

/// Elementwise ops of two inputs with NumPy broadcasting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a · b`
    Mul,
    /// `a / b`
    Div,
    /// `a^b`
    Pow,
    /// `∂(a^b)/∂a = b·a^(b−1)`, and 0 where `b = 0` (PyTorch's convention, so `0^0` has a
    /// zero gradient rather than `0·∞`). A backward kernel.
    PowGradBase,
    /// `∂(a^b)/∂b = a^b·ln a`, and 0 where `a = 0` and `b ≥ 0` (PyTorch's convention). A
    /// backward kernel.
    PowGradExponent,
    /// `a == b` as 1.0 or 0.0 (`torch.eq`; NaN equals nothing). No gradient.
    Eq,
    /// `a != b` as 1.0 or 0.0 (`torch.ne`; true where either is NaN, as IEEE). No gradient.
    Ne,
    /// `a < b` as 1.0 or 0.0 (`torch.lt`; false where either is NaN). No gradient.
    Lt,
    /// `a <= b` as 1.0 or 0.0 (`torch.le`; false where either is NaN). No gradient.
    Le,
    /// `a > b` as 1.0 or 0.0 (`torch.gt`; false where either is NaN). No gradient.
    Gt,
    /// `a >= b` as 1.0 or 0.0 (`torch.ge`; false where either is NaN). No gradient.
    Ge,
}

impl BinaryOp {
    /// Whether the op is a comparison (1.0/0.0 results, no gradient).
    pub fn is_comparison(&self) -> bool {
        matches!(
            self,
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge
        )
    }
}

/// Reductions along one axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    /// The sum of the reduced elements.
    Sum,
    /// The mean of the reduced elements.
    Mean,
    /// The maximum of the reduced elements (NaN if any is NaN, as `torch.max`).
    Max,
}

/// The sizes of a reduction along one axis of a row-major tensor viewed as
/// `[outer, len, inner]`; the result has `outer * inner` elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReduceDims {
    /// The product of the sizes of the axes before the reduced one.
    pub outer: usize,
    /// The size of the reduced axis.
    pub len: usize,
    /// The product of the sizes of the axes after it.
    pub inner: usize,
}

impl ReduceDims {
    /// `outer · len · inner`, the input's element count, or [`crate::Error::TooLarge`]
    /// when the product (of the nonzero sizes) overflows.
    pub fn elements(&self) -> Result<usize> {
        check::elements(
            "reduce",
            "[outer, len, inner]",
            &[self.outer, self.len, self.inner],
        )
    }

    /// `outer · inner`, the result's element count, or [`crate::Error::TooLarge`].
    pub fn kept(&self) -> Result<usize> {
        check::elements("reduce", "[outer, inner]", &[self.outer, self.inner])
    }
}

/// `C[m, n] = op(A) · op(B)` where `op` optionally transposes a row-major operand.
/// Stored shapes: `A` is `[m, k]` (or `[k, m]` if `trans_a`), `B` is `[k, n]` (or `[n, k]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatmulDims {
    /// Rows of the result (and of `op(A)`).
    pub m: usize,
    /// The contracted size: columns of `op(A)`, rows of `op(B)`.
    pub k: usize,
    /// Columns of the result (and of `op(B)`).
    pub n: usize,
    /// `A` is stored transposed, as `[k, m]`.
    pub trans_a: bool,
    /// `B` is stored transposed, as `[n, k]`.
    pub trans_b: bool,
}

impl MatmulDims {
    /// Checks the operands' lengths (and the bias's, `n`) against the dims and returns
    /// the result's element count `m · n`; a product that overflows is
    /// [`crate::Error::TooLarge`], a length that differs [`crate::Error::Shape`].
    pub fn check(&self, a_len: usize, b_len: usize, bias_len: Option<usize>) -> Result<usize> {
        const OP: &str = "linear";
        let (m, k, n) = (self.m, self.k, self.n);
        let a = check::elements(OP, "A [m, k]", &[m, k])?;
        let b = check::elements(OP, "B [k, n]", &[k, n])?;
        let out = check::elements(OP, "the result [m, n]", &[m, n])?;
        let operand = |name: &str, expected: usize, got: usize, stored: [usize; 2]| {
            crate::error::Error::shape(
                OP,
                format!(
                    "{name} is stored as {stored:?}: {expected} elements, the storage holds {got}"
                ),
            )
        };
        if a_len != a {
            let stored = if self.trans_a { [k, m] } else { [m, k] };
            return Err(operand("A", a, a_len, stored));
        }
        if b_len != b {
            let stored = if self.trans_b { [n, k] } else { [k, n] };
            return Err(operand("B", b, b_len, stored));
        }
        match bias_len {
            Some(len) if len != n => Err(crate::error::Error::shape(
                OP,
                format!("the bias should hold {n} elements, the storage holds {len}"),
            )),
            _ => Ok(out),
        }
    }
}

/// The fused losses. Each returns the mean over elements (or rows) as a 1-element storage.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LossKind {
    /// Mean squared error.
    Mse,
    /// Binary cross-entropy from probabilities, clamped to `[eps, 1 - eps]` as Keras does.
    BceProbs {
        /// The clamp margin: probabilities are clamped to `[eps, 1 - eps]` before the log.
        eps: f32,
    },
    /// Binary cross-entropy from logits, `max(x,0) - x·y + ln(1 + e^-|x|)`.
    BceLogits,
    /// Softmax cross-entropy of logits `[rows, cols]` against integer labels `[rows]`.
    SoftmaxCrossEntropy,
}

impl LossKind {
    /// Elements of the target for `[rows, cols]` predictions: one label per row for
    /// cross-entropy, one value per prediction otherwise.
    pub fn target_len(&self, rows: usize, cols: usize) -> usize {
        match self {
            LossKind::SoftmaxCrossEntropy => rows,
            // Saturates like `Shape::numel`: an overflowing count equals no real length.
            _ => rows.saturating_mul(cols),
        }
    }
}

/// How a prediction counts as correct.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AccuracyKind {
    /// `pred > threshold` equals `target > 0.5` (0.5 on probabilities, 0 on logits).
    Binary {
        /// The decision threshold on the prediction.
        threshold: f32,
    },
    /// `argmax(pred row) == label`.
    Categorical,
}

impl AccuracyKind {
    /// Elements of the target for `[rows, cols]` predictions: one label per row when
    /// categorical, one value per prediction when binary.
    pub fn target_len(&self, rows: usize, cols: usize) -> usize {
        match self {
            AccuracyKind::Categorical => rows,
            AccuracyKind::Binary { .. } => rows.saturating_mul(cols),
        }
    }
}

/// Statistics a metric accumulates over an epoch on the device, from which `fit` computes
/// its figure once per epoch ([`Backend::accumulate_stats`](super::Backend::accumulate_stats)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MetricStats {
    /// The confusion matrix as `u32` counters (stored as the bits of the f32 slots):
    /// `counts[true · classes + predicted]`. Categorical: one per row, `classes = cols`,
    /// the prediction the row's argmax (the first NaN counts as the maximum). Binary: one
    /// per element, two classes, `pred > threshold` against `target > 0.5`.
    Confusion(AccuracyKind),
    /// Rows whose label scores among the `k` highest of their row (ties at the boundary
    /// inside, a row with a non-finite score a miss), as one `u32` counter.
    TopK(u32),
    /// Per output column `c`, five f32 sums at `5c..5c + 5`: the rows seen, the targets'
    /// running mean and sum of squared deviations (merged batch by batch with Chan's
    /// formula, stable where the mean is large against the spread), `Σ|pred − target|` and
    /// `Σ(pred − target)²` (for MAE and R²).
    Errors,
}

impl MetricStats {
    /// The elements of the accumulator for `[_, cols]` predictions.
    pub fn len(&self, cols: usize) -> usize {
        match self {
            MetricStats::Confusion(AccuracyKind::Categorical) => cols.saturating_mul(cols),
            MetricStats::Confusion(AccuracyKind::Binary { .. }) => 4,
            MetricStats::TopK(_) => 1,
            MetricStats::Errors => cols.saturating_mul(5),
        }
    }

    /// Elements of the target for `[rows, cols]` predictions.
    pub fn target_len(&self, rows: usize, cols: usize) -> usize {
        match self {
            MetricStats::Confusion(kind) => kind.target_len(rows, cols),
            MetricStats::TopK(_) => rows,
            MetricStats::Errors => rows.saturating_mul(cols),
        }
    }
}

/// Gradient clipping applied to a flat gradient buffer before the update.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GradClip {
    /// Scale all gradients so their global L2 norm is at most this (PyTorch's
    /// `clip_grad_norm_`: factor `max / (norm + 1e-6)`, capped at 1). The norm does not
    /// overflow for finite gradients (it is `+inf` only past `f32::MAX`); as in PyTorch, a
    /// NaN gradient makes every gradient NaN, and an infinite one makes the factor 0 (finite
    /// gradients become 0, infinite ones NaN).
    Norm(f32),
    /// Clamp every gradient component into `[-v, v]` (a NaN stays NaN).
    Value(f32),
}
