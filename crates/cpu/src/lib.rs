//! downhill-cpu: the CPU backend on ndarray. It is the reference every GPU result is
//! checked against, and what users without a GPU train with: GEMM through matrixmultiply,
//! plain loops elsewhere, and the optimizer step as one pass over flat buffers.

#![warn(missing_docs)]

mod broadcast;
mod buffer;
mod conv;
mod index;
mod loss;
mod matmul;
mod norm;
mod optim_ops;
mod parallel;
mod reduce;
mod stats;
mod strided;
mod telemetry;
mod unary;

pub use unary::sigmoid;

use buffer::{new_storage, read, write};
use downhill_core::backend::check;
use downhill_core::optim::flat;
use downhill_core::{
    memory, AccuracyKind, Backend, BackendKind, BinaryOp, Device, Error, GradClip, LossKind,
    MatmulDims, MetricStats, ReduceDims, ReduceOp, Result, Shape, Storage, UnaryOp, UpdateRule,
};
use std::sync::{Arc, OnceLock};

/// Whether any value is NaN or ±inf: `0 · x` is 0 for every finite `x` and NaN otherwise,
/// summed in 16 lanes so the scan vectorises (an early-exit search would not).
fn any_non_finite(values: &[f32]) -> bool {
    let mut lanes = [0.0f32; 16];
    let chunks = values.chunks_exact(16);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, v) in lanes.iter_mut().zip(chunk) {
            *lane += v * 0.0;
        }
    }
    lanes.iter().chain(rest).any(|v| !v.is_finite())
}

/// A copy of a storage's elements, allocated fallibly (for ops whose input may share the
/// buffer they write).
fn owned(op: &str, x: &Storage) -> Result<Vec<f32>> {
    let x = read(x)?;
    let mut v = buffer::alloc(op, x.len())?;
    v.extend_from_slice(&x);
    Ok(v)
}

/// The CPU backend. Stateless: every op reads its inputs and returns a new buffer, except
/// the in-place ops (`fill`, `copy`, `accumulate`, the optimizer step, clipping).
#[derive(Debug, Default)]
pub struct CpuBackend;

impl CpuBackend {
    /// A CPU backend; wrap it with `Device::new(Arc::new(..))`, or take the shared device from
    /// [`CpuBackend::device`].
    pub fn new() -> Self {
        CpuBackend
    }

    /// The process-wide CPU device: every call returns the same one, so tensors made
    /// through separate calls can be mixed.
    pub fn device() -> Device {
        static SHARED: OnceLock<Device> = OnceLock::new();
        SHARED
            .get_or_init(|| Device::new(Arc::new(CpuBackend)))
            .clone()
    }
}

impl Backend for CpuBackend {
    fn name(&self) -> String {
        format!("cpu (ndarray, {} threads)", parallel::cores())
    }

    fn kind(&self) -> BackendKind {
        BackendKind::Cpu
    }

    fn uses_host_memory(&self) -> bool {
        true
    }

    fn upload(&self, data: &[f32]) -> Result<Storage> {
        let mut v = memory::host_vec("cpu upload", data.len())?;
        v.extend_from_slice(data);
        Ok(new_storage(v))
    }

    fn upload_indices(&self, data: &[u32]) -> Result<Storage> {
        let mut v = memory::host_vec("cpu upload", data.len())?;
        v.extend_from_slice(data);
        Ok(buffer::index_storage(v))
    }

    fn download(&self, x: &Storage) -> Result<Vec<f32>> {
        let x = read(x)?;
        let mut v = memory::host_vec("cpu download", x.len())?;
        v.extend_from_slice(&x);
        Ok(v)
    }

    fn full(&self, len: usize, value: f32) -> Result<Storage> {
        let mut v = memory::host_vec("cpu full", len)?;
        v.resize(len, value);
        Ok(new_storage(v))
    }

    fn fill(&self, dst: &Storage, value: f32) -> Result<()> {
        write(dst)?.fill(value);
        Ok(())
    }

    fn copy(&self, src: &Storage, dst: &Storage) -> Result<()> {
        check::copy(src, dst)?;
        if src.same_buffer(dst) {
            let data = owned("copy", src)?;
            write(dst)?.copy_from_slice(&data);
        } else {
            write(dst)?.copy_from_slice(&read(src)?);
        }
        Ok(())
    }

    fn accumulate(&self, acc: &Storage, x: &Storage, scale: f32) -> Result<()> {
        check::accumulate(acc, x)?;
        let x = owned("accumulate", x)?; // owned: `x` may share `acc`'s buffer
        for (a, v) in write(acc)?.iter_mut().zip(x) {
            *a += scale * v;
        }
        Ok(())
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
        let mut c = matmul::matmul(&read(a)?, &read(b)?, d)?;
        if let Some(bias) = bias {
            let bias = read(bias)?;
            for row in c.chunks_mut(d.n.max(1)) {
                row.iter_mut().zip(bias.iter()).for_each(|(v, b)| *v += b);
            }
        }
        if let Some(op) = activation {
            unary::forward_in_place(op, &mut c);
        }
        Ok(new_storage(c))
    }

    fn unary(&self, op: UnaryOp, x: &Storage) -> Result<Storage> {
        check::unary(op, x)?;
        let x = read(x)?;
        let mut y = buffer::alloc("unary", x.len())?;
        unary::forward_into(op, &x, &mut y);
        Ok(new_storage(y))
    }

    fn unary_backward(
        &self,
        op: UnaryOp,
        x: &Storage,
        y: &Storage,
        dy: &Storage,
    ) -> Result<Storage> {
        check::unary_backward(op, x, y, dy)?;
        let (x, y, dy) = (read(x)?, read(y)?, read(dy)?);
        let mut dx = buffer::alloc("unary_backward", x.len())?;
        unary::backward_into(op, &x, &y, &dy, &mut dx);
        Ok(new_storage(dx))
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
        let result = broadcast::binary(op, &read(a)?, a_shape, &read(b)?, b_shape, out, n)?;
        Ok(new_storage(result))
    }

    fn sum_to(&self, x: &Storage, from: &Shape, to: &Shape) -> Result<Storage> {
        let n = check::sum_to(x, from, to)?;
        Ok(new_storage(broadcast::sum_to(&read(x)?, from, to, n)?))
    }

    fn expand(&self, x: &Storage, from: &Shape, to: &Shape) -> Result<Storage> {
        let n = check::expand(x, from, to)?;
        Ok(new_storage(broadcast::expand(&read(x)?, from, to, n)?))
    }

    fn reduce(&self, op: ReduceOp, x: &Storage, dims: ReduceDims) -> Result<Storage> {
        check::reduce(op, x, dims)?;
        Ok(new_storage(reduce::reduce(op, &read(x)?, dims)?))
    }

    fn max_backward(
        &self,
        x: &Storage,
        y: &Storage,
        dy: &Storage,
        dims: ReduceDims,
    ) -> Result<Storage> {
        check::max_backward(x, y, dy, dims)?;
        Ok(new_storage(reduce::max_backward(
            &read(x)?,
            &read(y)?,
            &read(dy)?,
            dims,
        )?))
    }

    fn permute(&self, x: &Storage, shape: &Shape, perm: &[usize]) -> Result<Storage> {
        check::permute(x, shape, perm)?;
        Ok(new_storage(broadcast::permute(&read(x)?, shape, perm)?))
    }

    fn softmax(&self, x: &Storage, rows: usize, cols: usize, log: bool) -> Result<Storage> {
        check::softmax(x, rows, cols)?;
        Ok(new_storage(reduce::softmax(&read(x)?, cols, log)?))
    }

    fn softmax_backward(
        &self,
        y: &Storage,
        dy: &Storage,
        rows: usize,
        cols: usize,
        log: bool,
    ) -> Result<Storage> {
        check::softmax_backward(y, dy, rows, cols)?;
        Ok(new_storage(reduce::softmax_backward(
            &read(y)?,
            &read(dy)?,
            cols,
            log,
        )?))
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
        let value = loss::loss(kind, &read(pred)?, &read(target)?, rows, cols)?;
        Ok(new_storage(vec![value]))
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
        if check::loss_backward(kind, pred, target, dloss, rows, cols)? == 0 {
            return Ok(new_storage(Vec::new())); // no predictions, no gradient
        }
        let dl = read(dloss)?[0];
        let grad = loss::loss_backward(kind, &read(pred)?, &read(target)?, dl, rows, cols)?;
        Ok(new_storage(grad))
    }

    fn loss_with_gradient(
        &self,
        kind: LossKind,
        pred: &Storage,
        target: &Storage,
        rows: usize,
        cols: usize,
    ) -> Result<(Storage, Storage)> {
        check::loss(kind, pred, target, rows, cols)?;
        let (pred, target) = (read(pred)?, read(target)?);
        let value = loss::loss(kind, &pred, &target, rows, cols)?;
        // The upstream gradient is 1: no 1-element buffer to make and read each step.
        let grad = loss::loss_backward(kind, &pred, &target, 1.0, rows, cols)?;
        Ok((new_storage(vec![value]), new_storage(grad)))
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
        if check::accumulate_correct(kind, pred, target, rows, cols, acc)? == 0 {
            return Ok(()); // no predictions, nothing correct
        }
        let count = loss::correct_count(kind, &read(pred)?, &read(target)?, cols);
        write(acc)?[0] += count;
        Ok(())
    }

    fn accumulate_stats(
        &self,
        kind: MetricStats,
        pred: &Storage,
        target: &Storage,
        rows: usize,
        cols: usize,
        acc: &Storage,
    ) -> Result<()> {
        if check::accumulate_stats(kind, pred, target, rows, cols, acc)? == 0 {
            return Ok(());
        }
        stats::accumulate(kind, &read(pred)?, &read(target)?, cols, &mut write(acc)?);
        Ok(())
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
        let l = read(loss)?[0];
        let bad_gradient = any_non_finite(&read(grads)?);
        let mut s = write(sums)?;
        s[0] += scale * l;
        for (slot, bad) in [(1, !l.is_finite()), (2, bad_gradient)] {
            if bad && s[slot].to_bits() == 0 {
                s[slot] = f32::from_bits(step);
            }
        }
        Ok(())
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
        if n == 0 {
            return Ok(new_storage(Vec::new()));
        }
        let idx = buffer::indices(indices)?;
        let src = read(src)?;
        let rows = src.len() / cols; // cols > 0: the result is not empty
        let mut out = buffer::alloc("gather_rows", n)?;
        for &r in &idx[start..start + count] {
            let r = r as usize;
            if r >= rows {
                return Err(Error::shape("gather_rows", format!("row {r} of {rows}")));
            }
            out.extend_from_slice(&src[r * cols..(r + 1) * cols]);
        }
        Ok(new_storage(out))
    }

    fn optimizer_step(
        &self,
        rule: &dyn UpdateRule,
        params: &Storage,
        grads: &Storage,
        state: &[Storage],
    ) -> Result<()> {
        check::optimizer_step(rule, params, grads, state)?;
        let grads = read(grads)?;
        let mut p = write(params)?;
        let mut guards = state.iter().map(write).collect::<Result<Vec<_>>>()?;
        let slices: Vec<&mut [f32]> = guards.iter_mut().map(|g| &mut **g).collect();
        parallel::optimizer_step(rule, &mut p, &grads, slices)?;
        Ok(())
    }

    fn clip_gradients(&self, grads: &Storage, clip: GradClip) -> Result<()> {
        check::clip_gradients(grads, clip)?;
        flat::clip(&mut write(grads)?, clip);
        Ok(())
    }
}
