//! The `Backend` trait: the contract every device (CPU reference, GPU) fulfils.
//!
//! Ops take and return [`Storage`] (a view of a device buffer) plus the sizes they need.
//! [`crate::Tensor`] checks shapes before it calls a backend, but backends are public
//! ([`crate::Device::backend`]), so every method of every backend first runs the function
//! of the same name in [`check`]: sizes that disagree with the storages, products that
//! overflow, bad perms or op parameters are typed errors, never a panic. Backends may
//! execute lazily (the GPU records commands and submits when the host needs a value), so
//! only `download` is guaranteed to wait.

use crate::error::Result;
use crate::optim::UpdateRule;
use crate::shape::Shape;
use std::any::Any;
use std::fmt;
use std::sync::Arc;

pub mod check;

/// A view of `len` elements starting at `offset` into a backend's buffer.
///
/// Parameters of a model are views into one flat buffer; every other tensor owns a
/// whole buffer (`offset == 0`).
#[derive(Clone)]
pub struct Storage {
    buffer: Arc<dyn Any + Send + Sync>,
    offset: usize,
    len: usize,
}

impl Storage {
    /// Wraps a whole backend buffer of `len` elements.
    pub fn new(buffer: Arc<dyn Any + Send + Sync>, len: usize) -> Self {
        Storage {
            buffer,
            offset: 0,
            len,
        }
    }

    /// A sub-view `[offset, offset + len)` of this view (offsets relative to it); a range
    /// past the end of this view is an error, so no view ever reaches outside its buffer.
    pub fn slice(&self, offset: usize, len: usize) -> Result<Storage> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(Storage {
                buffer: self.buffer.clone(),
                offset: self.offset + offset,
                len,
            }),
            _ => Err(crate::error::Error::shape(
                "slice",
                format!(
                    "elements {offset}..{} lie outside a view of {} elements",
                    offset as u128 + len as u128,
                    self.len
                ),
            )),
        }
    }

    /// Where the view starts in its buffer, in elements.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The number of elements in the view.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the view holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The backend's buffer object, for the backend to downcast.
    pub fn buffer(&self) -> &Arc<dyn Any + Send + Sync> {
        &self.buffer
    }

    /// Fails unless the view holds `len` elements (backends check the sizes they are told).
    pub fn expect_len(&self, op: &'static str, len: usize) -> crate::error::Result<()> {
        if self.len == len {
            Ok(())
        } else {
            Err(crate::error::Error::shape(
                op,
                format!("expected {len} elements, the storage holds {}", self.len),
            ))
        }
    }

    /// Whether two views share a buffer (so an in-place op must not alias them).
    pub fn same_buffer(&self, other: &Storage) -> bool {
        Arc::ptr_eq(&self.buffer, &other.buffer)
    }
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Storage[{}..{}]", self.offset, self.offset + self.len)
    }
}

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
/// its figure once per epoch ([`Backend::accumulate_stats`]).
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

/// CPU or GPU: lets user code and tests tell which backend a device runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// The CPU backend (`downhill-cpu`).
    Cpu,
    /// The GPU backend on wgpu (`downhill-gpu`).
    Gpu,
}

/// Counters a backend keeps since it was created, to judge a design by work done rather
/// than by time: kernel dispatches, queue submissions, new device buffers, bytes moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceStats {
    /// Kernel dispatches recorded.
    pub dispatches: u64,
    /// Command buffers submitted to the queue.
    pub submissions: u64,
    /// Device buffers created (a pooled buffer handed out again does not count).
    pub buffer_allocations: u64,
    /// Bytes copied from the host to the device.
    pub bytes_uploaded: u64,
    /// Bytes read back from the device to the host.
    pub bytes_downloaded: u64,
}

impl DeviceStats {
    /// The counts accumulated between `earlier` and `self`.
    pub fn since(&self, earlier: &DeviceStats) -> DeviceStats {
        DeviceStats {
            dispatches: self.dispatches - earlier.dispatches,
            submissions: self.submissions - earlier.submissions,
            buffer_allocations: self.buffer_allocations - earlier.buffer_allocations,
            bytes_uploaded: self.bytes_uploaded - earlier.bytes_uploaded,
            bytes_downloaded: self.bytes_downloaded - earlier.bytes_downloaded,
        }
    }
}

/// Everything training needs from a device, forward and backward.
///
/// Object safe: a [`crate::Device`] holds an `Arc<dyn Backend>`, so one program picks the
/// CPU or the GPU at run time without generic parameters.
///
/// An implementation calls [`check`]'s function of the same name at the top of each
/// method (and builds on what it returns, e.g. the result's element count), so that any
/// arguments, however inconsistent, give an error rather than an out-of-bounds index.
pub trait Backend: Send + Sync + fmt::Debug {
    /// A human-readable name, e.g. `cpu (ndarray, 2 threads)` or the adapter's name.
    fn name(&self) -> String;
    /// Which backend this is.
    fn kind(&self) -> BackendKind;
    /// The name plus what bounds the work (adapter type, limits); printed by examples.
    fn describe(&self) -> String {
        self.name()
    }
    /// The largest tensor this device can hold, in bytes (on a GPU, the binding limit).
    fn max_tensor_bytes(&self) -> u64 {
        isize::MAX as u64
    }
    /// Whether tensors live in host memory, so a large one is checked against the memory
    /// the operating system reports available before it is allocated.
    fn uses_host_memory(&self) -> bool {
        false
    }

    // ---- memory ----
    /// Copies host values into a new device buffer.
    fn upload(&self, data: &[f32]) -> Result<Storage>;
    /// Uploads row indices (for `gather_rows`).
    fn upload_indices(&self, data: &[u32]) -> Result<Storage>;
    /// Copies a view back to the host; waits for pending work.
    fn download(&self, x: &Storage) -> Result<Vec<f32>>;
    /// A new buffer of `len` elements, all `value`.
    fn full(&self, len: usize, value: f32) -> Result<Storage>;
    /// Sets every element of a view to `value`, in place.
    fn fill(&self, dst: &Storage, value: f32) -> Result<()>;
    /// Copies `src` into `dst` (same length), in place.
    fn copy(&self, src: &Storage, dst: &Storage) -> Result<()>;
    /// `acc += scale * x` in place (same length).
    fn accumulate(&self, acc: &Storage, x: &Storage, scale: f32) -> Result<()>;

    // ---- forward and backward ops ----
    /// `act(op(A)·op(B) + bias)`: the matrix product with a fused epilogue that adds a
    /// bias row (`[n]`, broadcast over the `m` rows) and applies a fusable activation
    /// (see [`UnaryOp::fusable`]).
    fn linear(
        &self,
        a: &Storage,
        b: &Storage,
        bias: Option<&Storage>,
        dims: MatmulDims,
        activation: Option<UnaryOp>,
    ) -> Result<Storage>;
    /// The backward of [`Backend::linear`]'s epilogue for `[rows, cols]` outputs `y`:
    /// `dz = act'(y)·dy` (computed from the output, as fusable activations allow) and the
    /// bias gradient `db = Σ_rows dz`. Backends may fuse the two passes into one.
    fn linear_epilogue_backward(
        &self,
        activation: Option<UnaryOp>,
        y: &Storage,
        dy: &Storage,
        rows: usize,
        cols: usize,
    ) -> Result<(Storage, Storage)> {
        check::linear_epilogue_backward(activation, y, dy, rows, cols)?;
        let dz = match activation {
            Some(act) => self.unary_backward(act, y, y, dy)?,
            None => dy.clone(),
        };
        let db = self.sum_to(&dz, &Shape::new([rows, cols]), &Shape::new([cols]))?;
        Ok((dz, db))
    }
    /// `op(A)·op(B)`
    fn matmul(&self, a: &Storage, b: &Storage, dims: MatmulDims) -> Result<Storage> {
        self.linear(a, b, None, dims, None)
    }
    /// `op(x)`, elementwise, into a new buffer.
    fn unary(&self, op: UnaryOp, x: &Storage) -> Result<Storage>;
    /// `dx` for `y = op(x)`; kernels use whichever of `x`, `y` is cheaper.
    fn unary_backward(
        &self,
        op: UnaryOp,
        x: &Storage,
        y: &Storage,
        dy: &Storage,
    ) -> Result<Storage>;
    /// `op(a, b)` broadcast to `out`, which must be the broadcast of the two shapes.
    fn binary(
        &self,
        op: BinaryOp,
        a: &Storage,
        a_shape: &Shape,
        b: &Storage,
        b_shape: &Shape,
        out: &Shape,
    ) -> Result<Storage>;
    /// Sums `x` of shape `from` down to the broadcast-compatible shape `to`
    /// (the backward of broadcasting).
    fn sum_to(&self, x: &Storage, from: &Shape, to: &Shape) -> Result<Storage>;
    /// Broadcasts `x` of shape `from` up to `to`.
    fn expand(&self, x: &Storage, from: &Shape, to: &Shape) -> Result<Storage>;
    /// Reduces the `len` axis of `x` viewed as `[outer, len, inner]`, giving `[outer, inner]`.
    fn reduce(&self, op: ReduceOp, x: &Storage, dims: ReduceDims) -> Result<Storage>;
    /// Backward of a max reduction: `dy` flows to the first position holding the maximum.
    fn max_backward(
        &self,
        x: &Storage,
        y: &Storage,
        dy: &Storage,
        dims: ReduceDims,
    ) -> Result<Storage>;
    /// Reorders axes: output axis `i` is input axis `perm[i]`.
    fn permute(&self, x: &Storage, shape: &Shape, perm: &[usize]) -> Result<Storage>;
    /// Softmax (or log-softmax) along the last axis of `[rows, cols]`.
    fn softmax(&self, x: &Storage, rows: usize, cols: usize, log: bool) -> Result<Storage>;
    /// The backward of [`Backend::softmax`]: `dx` from its output `y` and the upstream `dy`.
    fn softmax_backward(
        &self,
        y: &Storage,
        dy: &Storage,
        rows: usize,
        cols: usize,
        log: bool,
    ) -> Result<Storage>;
    /// The mean loss as a 1-element storage. `pred` is `[rows, cols]`; `target` has the same
    /// size except for `SoftmaxCrossEntropy`, where it holds `rows` labels.
    fn loss(
        &self,
        kind: LossKind,
        pred: &Storage,
        target: &Storage,
        rows: usize,
        cols: usize,
    ) -> Result<Storage>;
    /// `d loss / d pred`, scaled by the 1-element upstream gradient `dloss`.
    fn loss_backward(
        &self,
        kind: LossKind,
        pred: &Storage,
        target: &Storage,
        dloss: &Storage,
        rows: usize,
        cols: usize,
    ) -> Result<Storage>;
    /// Adds the number of correct predictions to the 1-element `acc`, in place (metrics
    /// accumulate on the device over an epoch; a row of several binary outputs counts the
    /// fraction of them that are right).
    fn accumulate_correct(
        &self,
        kind: AccuracyKind,
        pred: &Storage,
        target: &Storage,
        rows: usize,
        cols: usize,
        acc: &Storage,
    ) -> Result<()>;
    /// Adds the statistics `stats` of `[rows, cols]` predictions against `target` to
    /// `acc` (of [`MetricStats::len`] elements), in place: metrics beyond accuracy
    /// accumulate on the device over an epoch, read back with the loss. Labels outside
    /// `0..cols` are skipped (`fit` checks them on the host first).
    fn accumulate_stats(
        &self,
        stats: MetricStats,
        pred: &Storage,
        target: &Storage,
        rows: usize,
        cols: usize,
        acc: &Storage,
    ) -> Result<()>;
    /// `fit`'s per-step bookkeeping in one pass (one kernel on a GPU, so watching for
    /// divergence costs no extra dispatch and no read-back): `sums[0] += scale · loss[0]`,
    /// and `step` is recorded in `sums[1]` when the 1-element `loss` is NaN or ±inf and in
    /// `sums[2]` when any element of `grads` is, unless a step is already recorded there.
    /// Steps are stored as the bits of a `u32` (`f32::from_bits`); 0 means none yet.
    fn track_step(
        &self,
        sums: &Storage,
        loss: &Storage,
        scale: f32,
        grads: &Storage,
        step: u32,
    ) -> Result<()>;
    /// Rows `indices[start..start + count]` of the `[_, cols]` matrix `src`.
    fn gather_rows(
        &self,
        src: &Storage,
        cols: usize,
        indices: &Storage,
        start: usize,
        count: usize,
    ) -> Result<Storage>;

    // ---- optimizer ----
    /// One update of every parameter in the flat buffer: a single pass (one kernel).
    fn optimizer_step(
        &self,
        rule: &UpdateRule,
        params: &Storage,
        grads: &Storage,
        state: &[Storage],
    ) -> Result<()>;
    /// Clips a flat gradient buffer in place.
    fn clip_gradients(&self, grads: &Storage, clip: GradClip) -> Result<()>;

    // ---- execution ----
    /// Submits recorded work without waiting for it (the end of a training step). Backends
    /// that execute eagerly do nothing.
    fn flush(&self) -> Result<()> {
        Ok(())
    }
    /// Work counters since the backend was created (all zero where not tracked).
    fn stats(&self) -> DeviceStats {
        DeviceStats::default()
    }
}
