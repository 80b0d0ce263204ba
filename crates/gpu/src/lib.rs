//! downhill-gpu: the GPU backend on wgpu. Every op and its backward is a WGSL compute
//! kernel (`shaders/`); ops are recorded into one command encoder and submitted once per
//! training step; buffers come from a pool; the optimizer step is one dispatch over the
//! flat parameter buffer. Runs on Vulkan, Metal and DX12, and on Mesa's lavapipe where
//! no GPU exists.

#![warn(missing_docs)]

pub mod adapters;
pub mod autotune;
mod bind_cache;
mod context;
pub mod kernels;
mod ops;
mod pool;
mod recorder;
mod stats;

pub use adapters::{adapters, open_adapter, AdapterSummary};
pub use autotune::{ChosenBy, MatmulChoice, MatmulSelect};
use context::GpuContext;
use downhill_core::backend::check;
use downhill_core::{
    AccuracyKind, Backend, BackendKind, BinaryOp, Device, DeviceStats, GradClip, LossKind,
    MatmulDims, MetricStats, ReduceDims, ReduceOp, Result, Shape, Storage, UnaryOp, UpdateRule,
};
pub use ops::matmul::Variant as MatmulKernel;
use recorder::Recorder;
use std::sync::{Arc, OnceLock};

/// The GPU backend: one wgpu device and everything recorded on it.
pub struct GpuBackend {
    rec: Recorder,
    /// Bound where a kernel's optional state buffer is not in use.
    dummy: Storage,
    /// A 1-element 1.0: the upstream gradient of a loss computed with its gradient.
    one: Storage,
    matmul: MatmulChoice,
}

impl std::fmt::Debug for GpuBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GpuBackend({})", self.rec.ctx.describe())
    }
}

impl GpuBackend {
    /// Opens the preferred adapter (`DOWNHILL_ADAPTER=<substring>` picks one by name), with
    /// the matmul kernel the environment asks for or the tuner measures fastest (see
    /// [`autotune`]).
    pub fn new() -> Result<GpuBackend> {
        let wanted = std::env::var("DOWNHILL_ADAPTER").ok();
        Self::open(wanted.as_deref(), None)
    }

    /// Opens the first adapter whose name contains `adapter` (any, if `None`), running
    /// `matmul`, or if `None` the kernel chosen as [`MatmulSelect::FromEnv`] says. Tests use
    /// this to run every matmul kernel on one machine.
    pub fn open(adapter: Option<&str>, matmul: Option<MatmulKernel>) -> Result<GpuBackend> {
        let select = matmul.map_or(MatmulSelect::FromEnv, MatmulSelect::Fixed);
        Self::open_with(adapter, select)
    }

    /// Opens the first adapter whose name contains `adapter` (any, if `None`) and picks its
    /// matmul kernel as `select` says. Fails only where the adapter does, or for an unknown
    /// `DOWNHILL_MATMUL` under [`MatmulSelect::FromEnv`]; a cache that cannot be read or
    /// written never fails it.
    pub fn open_with(adapter: Option<&str>, select: MatmulSelect) -> Result<GpuBackend> {
        Self::from_context(GpuContext::open(adapter)?, select)
    }

    /// The backend on an opened context (see [`GpuBackend::open_with`]).
    pub(crate) fn from_context(ctx: GpuContext, select: MatmulSelect) -> Result<GpuBackend> {
        let rec = Recorder::new(ctx);
        rec.warm_up()?;
        let dummy = rec.pool.storage(64)?;
        let matmul = autotune::choose(&rec, &dummy, select)?;
        let one = rec.upload(bytemuck::cast_slice(&[1.0f32]), 1)?;
        Ok(GpuBackend {
            rec,
            dummy,
            one,
            matmul,
        })
    }

    /// The matmul kernel this device runs and how it was chosen.
    pub fn matmul_choice(&self) -> &MatmulChoice {
        &self.matmul
    }

    /// Adapter name, backend, type and the limits that bound tensor sizes.
    fn description(&self) -> String {
        let l = &self.rec.ctx.limits;
        format!(
            "{}; max buffer {} MiB, max storage binding {} MiB, {} workgroups per dimension, matmul kernel {}",
            self.rec.ctx.describe(),
            l.max_buffer_size >> 20,
            l.max_storage_buffer_binding_size >> 20,
            l.max_compute_workgroups_per_dimension,
            self.matmul
        )
    }
}

/// Names of the adapters that are real GPUs (not a CPU driver such as lavapipe or WARP)
/// and can run compute shaders; none opened.
pub fn hardware_adapters() -> Vec<String> {
    context::compute_adapters()
        .into_iter()
        .filter(|(_, cpu)| !cpu)
        .map(|(name, _)| name)
        .collect()
}

/// The process-wide GPU device, opened on first use (the same one for every call).
pub fn device() -> Result<Device> {
    static SHARED: OnceLock<Result<Device>> = OnceLock::new();
    SHARED
        .get_or_init(|| GpuBackend::new().map(|b| Device::new(Arc::new(b))))
        .clone()
}

impl Backend for GpuBackend {
    fn name(&self) -> String {
        self.rec.ctx.describe()
    }

    fn kind(&self) -> BackendKind {
        BackendKind::Gpu
    }

    fn describe(&self) -> String {
        self.description()
    }

    fn max_tensor_bytes(&self) -> u64 {
        self.rec.pool.max_bytes()
    }

    fn upload(&self, data: &[f32]) -> Result<Storage> {
        self.rec.upload(bytemuck::cast_slice(data), data.len())
    }

    fn upload_indices(&self, data: &[u32]) -> Result<Storage> {
        self.rec.upload(bytemuck::cast_slice(data), data.len())
    }

    fn download(&self, x: &Storage) -> Result<Vec<f32>> {
        // Checked before the staging buffer is made; the copy is allocated fallibly too.
        downhill_core::memory::check_host("gpu download", x.len())?;
        self.rec.download(x)
    }

    fn full(&self, len: usize, value: f32) -> Result<Storage> {
        let out = self.rec.pool.storage(len)?;
        ops::elementwise::fill(&self.rec, &out, value)?;
        Ok(out)
    }

    fn fill(&self, dst: &Storage, value: f32) -> Result<()> {
        ops::elementwise::fill(&self.rec, dst, value)
    }

    fn copy(&self, src: &Storage, dst: &Storage) -> Result<()> {
        check::copy(src, dst)?;
        if src.same_buffer(dst) {
            // A copy within one buffer goes through another (wgpu refuses it directly).
            let staged = self.rec.pool.storage(src.len())?;
            self.rec.copy(src, &staged)?;
            return self.rec.copy(&staged, dst);
        }
        self.rec.copy(src, dst)
    }

    fn accumulate(&self, acc: &Storage, x: &Storage, scale: f32) -> Result<()> {
        check::accumulate(acc, x)?;
        ops::elementwise::accumulate(&self.rec, acc, x, scale)
    }

    fn linear(
        &self,
        a: &Storage,
        b: &Storage,
        bias: Option<&Storage>,
        d: MatmulDims,
        activation: Option<UnaryOp>,
    ) -> Result<Storage> {
        check::linear(a, b, bias, d, activation)?;
        let epilogue = ops::matmul::Epilogue { bias, activation };
        ops::matmul::linear(
            &self.rec,
            a,
            b,
            d,
            epilogue,
            self.matmul.variant,
            &self.dummy,
        )
    }

    fn linear_epilogue_backward(
        &self,
        activation: Option<UnaryOp>,
        y: &Storage,
        dy: &Storage,
        rows: usize,
        cols: usize,
    ) -> Result<(Storage, Storage)> {
        let n = check::linear_epilogue_backward(activation, y, dy, rows, cols)?;
        ops::matmul::epilogue_backward(&self.rec, activation, y, dy, (rows, cols, n))
    }

    fn unary(&self, op: UnaryOp, x: &Storage) -> Result<Storage> {
        check::unary(op, x)?;
        ops::elementwise::unary(&self.rec, op, x)
    }

    fn unary_backward(
        &self,
        op: UnaryOp,
        x: &Storage,
        y: &Storage,
        dy: &Storage,
    ) -> Result<Storage> {
        check::unary_backward(op, x, y, dy)?;
        ops::elementwise::unary_backward(&self.rec, op, x, y, dy)
    }

    fn binary(
        &self,
        op: BinaryOp,
        a: &Storage,
        a_shape: &Shape,
        b: &Storage,
        b_shape: &Shape,
        out: &Shape,
    ) -> Result<Storage> {
        let n = check::binary(a, a_shape, b, b_shape, out)?;
        ops::elementwise::binary(&self.rec, op, a, a_shape, b, b_shape, out, n)
    }

    fn sum_to(&self, x: &Storage, from: &Shape, to: &Shape) -> Result<Storage> {
        check::sum_to(x, from, to)?;
        ops::reduce::sum_to(&self.rec, x, from, to)
    }

    fn expand(&self, x: &Storage, from: &Shape, to: &Shape) -> Result<Storage> {
        let n = check::expand(x, from, to)?;
        ops::elementwise::expand(&self.rec, x, from, to, n)
    }

    fn reduce(&self, op: ReduceOp, x: &Storage, dims: ReduceDims) -> Result<Storage> {
        check::reduce(op, x, dims)?;
        ops::reduce::reduce(&self.rec, op, x, dims)
    }

    fn max_backward(
        &self,
        x: &Storage,
        y: &Storage,
        dy: &Storage,
        dims: ReduceDims,
    ) -> Result<Storage> {
        check::max_backward(x, y, dy, dims)?;
        ops::reduce::max_backward(&self.rec, x, y, dy, dims)
    }

    fn permute(&self, x: &Storage, shape: &Shape, perm: &[usize]) -> Result<Storage> {
        check::permute(x, shape, perm)?;
        ops::elementwise::permute(&self.rec, x, shape, perm)
    }

    fn softmax(&self, x: &Storage, rows: usize, cols: usize, log: bool) -> Result<Storage> {
        let n = check::softmax(x, rows, cols)?;
        ops::rows::softmax(&self.rec, x, (rows, cols, n), log)
    }

    fn softmax_backward(
        &self,
        y: &Storage,
        dy: &Storage,
        rows: usize,
        cols: usize,
        log: bool,
    ) -> Result<Storage> {
        let n = check::softmax_backward(y, dy, rows, cols)?;
        ops::rows::softmax_backward(&self.rec, y, dy, (rows, cols, n), log)
    }

    fn loss(
        &self,
        kind: LossKind,
        pred: &Storage,
        target: &Storage,
        rows: usize,
        cols: usize,
    ) -> Result<Storage> {
        check::loss(kind, pred, target, rows, cols)?;
        ops::rows::loss(&self.rec, kind, pred, target, rows, cols)
    }

    fn loss_backward(
        &self,
        kind: LossKind,
        pred: &Storage,
        target: &Storage,
        dloss: &Storage,
        rows: usize,
        cols: usize,
    ) -> Result<Storage> {
        let n = check::loss_backward(kind, pred, target, dloss, rows, cols)?;
        ops::rows::loss_backward(&self.rec, kind, (pred, target, dloss), (rows, cols, n))
    }

    fn loss_with_gradient(
        &self,
        kind: LossKind,
        pred: &Storage,
        target: &Storage,
        rows: usize,
        cols: usize,
    ) -> Result<(Storage, Storage)> {
        let n = check::loss(kind, pred, target, rows, cols)?;
        let sizes = (rows, cols, n);
        ops::rows::loss_with_gradient(&self.rec, kind, (pred, target), sizes, &self.one)
    }

    fn accumulate_correct(
        &self,
        kind: AccuracyKind,
        pred: &Storage,
        target: &Storage,
        rows: usize,
        cols: usize,
        acc: &Storage,
    ) -> Result<()> {
        let n = check::accumulate_correct(kind, pred, target, rows, cols, acc)?;
        ops::rows::accumulate_correct(&self.rec, kind, pred, target, (rows, cols, n), acc)
    }

    fn accumulate_stats(
        &self,
        stats: MetricStats,
        pred: &Storage,
        target: &Storage,
        rows: usize,
        cols: usize,
        acc: &Storage,
    ) -> Result<()> {
        if check::accumulate_stats(stats, pred, target, rows, cols, acc)? == 0 {
            return Ok(());
        }
        ops::metrics::accumulate(&self.rec, stats, pred, target, (rows, cols), acc)
    }

    fn track_step(
        &self,
        sums: &Storage,
        loss: &Storage,
        scale: f32,
        grads: &Storage,
        step: u32,
    ) -> Result<()> {
        check::track_step(sums, loss, grads)?;
        ops::rows::track_step(&self.rec, sums, loss, scale, grads, step)
    }

    fn gather_rows(
        &self,
        src: &Storage,
        cols: usize,
        indices: &Storage,
        start: usize,
        count: usize,
    ) -> Result<Storage> {
        let n = check::gather_rows(src, cols, indices, start, count)?;
        ops::rows::gather_rows(&self.rec, (src, cols), indices, (start, count, n))
    }

    fn gather_rows_pair(
        &self,
        (a, cols_a): (&Storage, usize),
        (b, cols_b): (&Storage, usize),
        indices: &Storage,
        start: usize,
        count: usize,
    ) -> Result<(Storage, Storage)> {
        let n_a = check::gather_rows(a, cols_a, indices, start, count)?;
        let n_b = check::gather_rows(b, cols_b, indices, start, count)?;
        let (first, second) = ((a, cols_a, n_a), (b, cols_b, n_b));
        ops::rows::gather_rows_pair(&self.rec, first, second, indices, (start, count))
    }

    fn optimizer_step(
        &self,
        rule: &dyn UpdateRule,
        params: &Storage,
        grads: &Storage,
        state: &[Storage],
    ) -> Result<()> {
        check::optimizer_step(rule, params, grads, state)?;
        ops::optim::step(&self.rec, rule, params, grads, state, &self.dummy)
    }

    fn clip_gradients(&self, grads: &Storage, clip: GradClip) -> Result<()> {
        check::clip_gradients(grads, clip)?;
        ops::optim::clip(&self.rec, grads, clip)
    }

    fn flush(&self) -> Result<()> {
        self.rec.flush()
    }

    fn stats(&self) -> DeviceStats {
        self.rec.stats.snapshot()
    }
}
