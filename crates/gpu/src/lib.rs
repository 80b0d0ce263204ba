//! downhill-gpu: the GPU backend on wgpu. Every op and its backward is a WGSL compute
//! kernel (`shaders/`); ops are recorded into one command encoder and submitted once per
//! training step; buffers come from a pool; the optimizer step is one dispatch over the
//! flat parameter buffer. Runs on Vulkan, Metal and DX12, and on Mesa's lavapipe where
//! no GPU exists.

mod context;
pub mod kernels;
mod ops;
mod pool;
mod recorder;
mod stats;

use context::GpuContext;
use downhill_core::{
    AccuracyKind, Backend, BackendKind, BinaryOp, Device, DeviceStats, Error, GradClip, LossKind,
    MatmulDims, ReduceDims, ReduceOp, Result, Shape, Storage, UnaryOp, UpdateRule,
};
pub use ops::matmul::Variant as MatmulKernel;
use ops::matmul::Variant;
use recorder::Recorder;
use std::sync::{Arc, OnceLock};

/// The GPU backend: one wgpu device and everything recorded on it.
pub struct GpuBackend {
    rec: Recorder,
    /// Bound where a kernel's optional state buffer is not in use.
    dummy: Storage,
    matmul: Variant,
}

impl std::fmt::Debug for GpuBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GpuBackend({})", self.rec.ctx.describe())
    }
}

impl GpuBackend {
    /// Opens the preferred adapter (`DOWNHILL_ADAPTER=<substring>` picks one by name).
    pub fn new() -> Result<GpuBackend> {
        let wanted = std::env::var("DOWNHILL_ADAPTER").ok();
        Self::open(wanted.as_deref(), None)
    }

    /// Opens the first adapter whose name contains `adapter` (any, if `None`), running
    /// `matmul` (or the kernel the adapter type suggests). Tests use this to run both
    /// matmul kernels on one machine.
    pub fn open(adapter: Option<&str>, matmul: Option<MatmulKernel>) -> Result<GpuBackend> {
        let ctx = GpuContext::open(adapter)?;
        let matmul = matmul.unwrap_or_else(|| Variant::choose(ctx.is_cpu()));
        let rec = Recorder::new(ctx);
        rec.warm_up()?;
        let dummy = rec.pool.storage(64)?;
        Ok(GpuBackend { rec, dummy, matmul })
    }

    /// Adapter name, backend, type and the limits that bound tensor sizes.
    fn description(&self) -> String {
        let l = &self.rec.ctx.limits;
        format!(
            "{}; max buffer {} MiB, max storage binding {} MiB, {} workgroups per dimension, matmul kernel {:?}",
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

fn to_f32(bytes: Vec<u8>) -> Vec<f32> {
    bytemuck::pod_collect_to_vec(&bytes)
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
        // The mapped bytes and the f32 copy are both on the host.
        downhill_core::memory::check_host("gpu download", x.len().saturating_mul(2))?;
        Ok(to_f32(self.rec.download(x)?))
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
        src.expect_len("copy", dst.len())?;
        self.rec.copy(src, dst)
    }

    fn accumulate(&self, acc: &Storage, x: &Storage, scale: f32) -> Result<()> {
        x.expect_len("accumulate", acc.len())?;
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
        a.expect_len("linear", d.m * d.k)?;
        b.expect_len("linear", d.k * d.n)?;
        if let Some(bias) = bias {
            bias.expect_len("linear", d.n)?;
        }
        let epilogue = ops::matmul::Epilogue { bias, activation };
        ops::matmul::linear(&self.rec, a, b, d, epilogue, self.matmul, &self.dummy)
    }

    fn linear_epilogue_backward(
        &self,
        activation: Option<UnaryOp>,
        y: &Storage,
        dy: &Storage,
        rows: usize,
        cols: usize,
    ) -> Result<(Storage, Storage)> {
        y.expect_len("linear_epilogue_backward", rows * cols)?;
        dy.expect_len("linear_epilogue_backward", rows * cols)?;
        ops::matmul::epilogue_backward(&self.rec, activation, y, dy, rows, cols)
    }

    fn unary(&self, op: UnaryOp, x: &Storage) -> Result<Storage> {
        ops::elementwise::unary(&self.rec, op, x)
    }

    fn unary_backward(
        &self,
        op: UnaryOp,
        x: &Storage,
        y: &Storage,
        dy: &Storage,
    ) -> Result<Storage> {
        y.expect_len("unary_backward", x.len())?;
        dy.expect_len("unary_backward", x.len())?;
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
        a.expect_len("binary", a_shape.numel())?;
        b.expect_len("binary", b_shape.numel())?;
        ops::elementwise::binary(&self.rec, op, a, a_shape, b, b_shape, out)
    }

    fn sum_to(&self, x: &Storage, from: &Shape, to: &Shape) -> Result<Storage> {
        x.expect_len("sum_to", from.numel())?;
        ops::reduce::sum_to(&self.rec, x, from, to)
    }

    fn expand(&self, x: &Storage, from: &Shape, to: &Shape) -> Result<Storage> {
        x.expect_len("expand", from.numel())?;
        ops::elementwise::expand(&self.rec, x, from, to)
    }

    fn reduce(&self, op: ReduceOp, x: &Storage, dims: ReduceDims) -> Result<Storage> {
        x.expect_len("reduce", dims.outer * dims.len * dims.inner)?;
        ops::reduce::reduce(&self.rec, op, x, dims)
    }

    fn max_backward(
        &self,
        x: &Storage,
        y: &Storage,
        dy: &Storage,
        dims: ReduceDims,
    ) -> Result<Storage> {
        x.expect_len("max_backward", dims.outer * dims.len * dims.inner)?;
        y.expect_len("max_backward", dims.outer * dims.inner)?;
        dy.expect_len("max_backward", dims.outer * dims.inner)?;
        ops::reduce::max_backward(&self.rec, x, y, dy, dims)
    }

    fn permute(&self, x: &Storage, shape: &Shape, perm: &[usize]) -> Result<Storage> {
        x.expect_len("permute", shape.numel())?;
        ops::elementwise::permute(&self.rec, x, shape, perm)
    }

    fn softmax(&self, x: &Storage, rows: usize, cols: usize, log: bool) -> Result<Storage> {
        x.expect_len("softmax", rows * cols)?;
        ops::rows::softmax(&self.rec, x, rows, cols, log)
    }

    fn softmax_backward(
        &self,
        y: &Storage,
        dy: &Storage,
        rows: usize,
        cols: usize,
        log: bool,
    ) -> Result<Storage> {
        y.expect_len("softmax_backward", rows * cols)?;
        dy.expect_len("softmax_backward", rows * cols)?;
        ops::rows::softmax_backward(&self.rec, y, dy, rows, cols, log)
    }

    fn loss(
        &self,
        kind: LossKind,
        pred: &Storage,
        target: &Storage,
        rows: usize,
        cols: usize,
    ) -> Result<Storage> {
        pred.expect_len("loss", rows * cols)?;
        target.expect_len("loss", kind.target_len(rows, cols))?;
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
        dloss.expect_len("loss_backward", 1)?;
        pred.expect_len("loss_backward", rows * cols)?;
        target.expect_len("loss_backward", kind.target_len(rows, cols))?;
        ops::rows::loss_backward(&self.rec, kind, pred, target, dloss, rows, cols)
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
        pred.expect_len("accumulate_correct", rows * cols)?;
        target.expect_len("accumulate_correct", kind.target_len(rows, cols))?;
        acc.expect_len("accumulate_correct", 1)?;
        ops::rows::accumulate_correct(&self.rec, kind, pred, target, (rows, cols), acc)
    }

    fn track_step(
        &self,
        sums: &Storage,
        loss: &Storage,
        scale: f32,
        grads: &Storage,
        step: u32,
    ) -> Result<()> {
        loss.expect_len("track_step", 1)?;
        if sums.len() < 3 {
            return Err(Error::shape(
                "track_step",
                format!("the sums need 3 elements, got {}", sums.len()),
            ));
        }
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
        if start.saturating_add(count) > indices.len() {
            return Err(Error::shape(
                "gather_rows",
                format!(
                    "rows {start}..{} of {} indices",
                    start as u128 + count as u128,
                    indices.len()
                ),
            ));
        }
        ops::rows::gather_rows(&self.rec, src, cols, indices, start, count)
    }

    fn optimizer_step(
        &self,
        rule: &UpdateRule,
        params: &Storage,
        grads: &Storage,
        state: &[Storage],
    ) -> Result<()> {
        grads.expect_len("optimizer_step", params.len())?;
        for s in state {
            s.expect_len("optimizer_step", params.len())?;
        }
        ops::optim::step(&self.rec, rule, params, grads, state, &self.dummy)
    }

    fn clip_gradients(&self, grads: &Storage, clip: GradClip) -> Result<()> {
        ops::optim::clip(&self.rec, grads, clip)
    }

    fn flush(&self) -> Result<()> {
        self.rec.flush()
    }

    fn stats(&self) -> DeviceStats {
        self.rec.stats.snapshot()
    }
}
