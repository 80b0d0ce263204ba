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
use std::fmt;

pub mod check;
pub mod conv;
pub mod index;
pub mod norm;
pub mod optim_ops;
pub mod telemetry_ops;

mod ops;
mod storage;

pub use ops::{
    AccuracyKind, BinaryOp, GradClip, LossKind, MatmulDims, MetricStats, ReduceDims, ReduceOp,
    UnaryOp,
};
pub use storage::Storage;
pub(crate) use storage::WeakStorage;

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
    /// Bind groups created (a dispatch that binds what an earlier one bound reuses its
    /// bind group and does not count).
    pub bind_groups_created: u64,
    /// Bytes copied from one device buffer to another.
    pub bytes_copied: u64,
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
            bind_groups_created: self.bind_groups_created - earlier.bind_groups_created,
            bytes_copied: self.bytes_copied - earlier.bytes_copied,
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
pub trait Backend:
    Send
    + Sync
    + fmt::Debug
    + index::IndexOps
    + conv::ConvOps
    + norm::NormOps
    + optim_ops::OptimOps
    + telemetry_ops::TelemetryOps
{
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
    /// The loss and `d loss / d pred` for an upstream gradient of 1, computed together
    /// when the loss is what backward will start from (a GPU does both in one dispatch
    /// for batch-sized predictions). Same arguments as [`Backend::loss`].
    fn loss_with_gradient(
        &self,
        kind: LossKind,
        pred: &Storage,
        target: &Storage,
        rows: usize,
        cols: usize,
    ) -> Result<(Storage, Storage)> {
        let loss = self.loss(kind, pred, target, rows, cols)?;
        let one = self.full(1, 1.0)?;
        let dpred = self.loss_backward(kind, pred, target, &one, rows, cols)?;
        Ok((loss, dpred))
    }
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
    /// [`Backend::gather_rows`] of two matrices by the same rows (a mini-batch's inputs
    /// and targets), which a GPU does in one dispatch.
    fn gather_rows_pair(
        &self,
        (a, cols_a): (&Storage, usize),
        (b, cols_b): (&Storage, usize),
        indices: &Storage,
        start: usize,
        count: usize,
    ) -> Result<(Storage, Storage)> {
        Ok((
            self.gather_rows(a, cols_a, indices, start, count)?,
            self.gather_rows(b, cols_b, indices, start, count)?,
        ))
    }

    // ---- optimizer ----
    /// One update of every parameter in the flat buffer: a single pass (one kernel).
    /// `rule` is any optimizer's step: a CPU backend runs [`UpdateRule::apply`], a GPU
    /// backend the kernel named by [`UpdateRule::layout`] with [`UpdateRule::uniform`] as
    /// its uniform; `state` holds the buffers of [`UpdateRule::state_names`], in order.
    fn optimizer_step(
        &self,
        rule: &dyn UpdateRule,
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
