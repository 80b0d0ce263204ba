//! downhill-cpu: the CPU backend on ndarray. It is the reference every GPU result is
//! checked against, and what users without a GPU train with: GEMM through matrixmultiply,
//! plain loops elsewhere, and the optimizer step as one pass over flat buffers.

mod broadcast;
mod buffer;
mod loss;
mod matmul;
mod parallel;
mod reduce;
mod strided;
mod unary;

pub use unary::sigmoid;

use buffer::{new_storage, read, room, write};
use downhill_core::optim::flat;
use downhill_core::{
    memory, AccuracyKind, Backend, BackendKind, BinaryOp, Device, Error, GradClip, LossKind,
    MatmulDims, ReduceDims, ReduceOp, Result, Shape, Storage, UnaryOp, UpdateRule,
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

/// The CPU backend. Stateless: every op reads its inputs and returns a new buffer, except
/// the in-place ops (`fill`, `copy`, `accumulate`, the optimizer step, clipping).
#[derive(Debug, Default)]
pub struct CpuBackend;

impl CpuBackend {
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
        let mut v = memory::host_vec("cpu download", x.len())?;
        v.extend_from_slice(&read(x)?);
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
        src.expect_len("copy", dst.len())?;
        if src.same_buffer(dst) {
            room("copy", src.len())?;
            let data = read(src)?.to_vec();
            write(dst)?.copy_from_slice(&data);
        } else {
            write(dst)?.copy_from_slice(&read(src)?);
        }
        Ok(())
    }

    fn accumulate(&self, acc: &Storage, x: &Storage, scale: f32) -> Result<()> {
        x.expect_len("accumulate", acc.len())?;
        room("accumulate", x.len())?;
        let x = read(x)?.to_vec(); // owned: `x` may share `acc`'s buffer
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
        a.expect_len("linear", d.m * d.k)?;
        b.expect_len("linear", d.k * d.n)?;
        room("linear", d.m * d.n)?;
        let mut c = matmul::matmul(&read(a)?, &read(b)?, d);
        if let Some(bias) = bias {
            bias.expect_len("linear", d.n)?;
            let bias = read(bias)?;
            for row in c.chunks_mut(d.n.max(1)) {
                row.iter_mut().zip(bias.iter()).for_each(|(v, b)| *v += b);
            }
        }
        if let Some(op) = activation {
            c.iter_mut().for_each(|v| *v = unary::forward(op, *v));
        }
        Ok(new_storage(c))
    }

    fn unary(&self, op: UnaryOp, x: &Storage) -> Result<Storage> {
        room("unary", x.len())?;
        Ok(new_storage(
            read(x)?.iter().map(|&v| unary::forward(op, v)).collect(),
        ))
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
        room("unary_backward", x.len())?;
        let (x, y, dy) = (read(x)?, read(y)?, read(dy)?);
        let dx = (0..x.len())
            .map(|i| unary::backward(op, x[i], y[i], dy[i]))
            .collect();
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
        a.expect_len("binary", a_shape.numel())?;
        b.expect_len("binary", b_shape.numel())?;
        room("binary", out.numel())?;
        let result = broadcast::binary(op, &read(a)?, a_shape, &read(b)?, b_shape, out);
        Ok(new_storage(result))
    }

    fn sum_to(&self, x: &Storage, from: &Shape, to: &Shape) -> Result<Storage> {
        x.expect_len("sum_to", from.numel())?;
        room("sum_to", to.numel().saturating_mul(3))?; // the f64 sums and the result
        Ok(new_storage(broadcast::sum_to(&read(x)?, from, to)))
    }

    fn expand(&self, x: &Storage, from: &Shape, to: &Shape) -> Result<Storage> {
        x.expect_len("expand", from.numel())?;
        room("expand", to.numel())?;
        Ok(new_storage(broadcast::expand(&read(x)?, from, to)))
    }

    fn reduce(&self, op: ReduceOp, x: &Storage, dims: ReduceDims) -> Result<Storage> {
        x.expect_len("reduce", dims.outer * dims.len * dims.inner)?;
        room("reduce", dims.outer * dims.inner * 3)?; // the f64 sums and the result
        Ok(new_storage(reduce::reduce(op, &read(x)?, dims)))
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
        room("max_backward", x.len())?;
        Ok(new_storage(reduce::max_backward(
            &read(x)?,
            &read(y)?,
            &read(dy)?,
            dims,
        )))
    }

    fn permute(&self, x: &Storage, shape: &Shape, perm: &[usize]) -> Result<Storage> {
        x.expect_len("permute", shape.numel())?;
        room("permute", x.len())?;
        Ok(new_storage(broadcast::permute(&read(x)?, shape, perm)))
    }

    fn softmax(&self, x: &Storage, rows: usize, cols: usize, log: bool) -> Result<Storage> {
        x.expect_len("softmax", rows * cols)?;
        room("softmax", x.len())?;
        Ok(new_storage(reduce::softmax(&read(x)?, cols, log)))
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
        room("softmax_backward", y.len())?;
        Ok(new_storage(reduce::softmax_backward(
            &read(y)?,
            &read(dy)?,
            cols,
            log,
        )))
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
        dloss.expect_len("loss_backward", 1)?;
        pred.expect_len("loss_backward", rows * cols)?;
        target.expect_len("loss_backward", kind.target_len(rows, cols))?;
        room("loss_backward", pred.len())?;
        let dl = read(dloss)?[0];
        let grad = loss::loss_backward(kind, &read(pred)?, &read(target)?, dl, rows, cols)?;
        Ok(new_storage(grad))
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
        if rows * cols == 0 {
            return Ok(()); // no predictions, nothing correct
        }
        let count = loss::correct_count(kind, &read(pred)?, &read(target)?, cols);
        write(acc)?[0] += count;
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
        loss.expect_len("track_step", 1)?;
        if sums.len() < 3 {
            return Err(Error::shape(
                "track_step",
                format!("the sums need 3 elements, got {}", sums.len()),
            ));
        }
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
        let idx = buffer::indices(indices)?;
        let picked = idx.get(start..start.saturating_add(count)).ok_or_else(|| {
            Error::shape(
                "gather_rows",
                format!(
                    "rows {start}..{} of {} indices",
                    start as u128 + count as u128,
                    idx.len()
                ),
            )
        })?;
        let src = read(src)?;
        let rows = src.len().checked_div(cols).unwrap_or(0);
        let mut out = memory::host_vec("cpu gather_rows", count.saturating_mul(cols))?;
        for &r in picked {
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
        rule: &UpdateRule,
        params: &Storage,
        grads: &Storage,
        state: &[Storage],
    ) -> Result<()> {
        if state.len() != rule.state_buffers() {
            return Err(Error::backend(
                "cpu",
                format!(
                    "{rule:?} needs {} state buffers, got {}",
                    rule.state_buffers(),
                    state.len()
                ),
            ));
        }
        grads.expect_len("optimizer_step", params.len())?;
        for s in state {
            s.expect_len("optimizer_step", params.len())?;
        }
        let grads = read(grads)?;
        let mut p = write(params)?;
        let mut guards = state.iter().map(write).collect::<Result<Vec<_>>>()?;
        let slices: Vec<&mut [f32]> = guards.iter_mut().map(|g| &mut **g).collect();
        parallel::optimizer_step(rule, &mut p, &grads, slices)?;
        Ok(())
    }

    fn clip_gradients(&self, grads: &Storage, clip: GradClip) -> Result<()> {
        flat::clip(&mut write(grads)?, clip);
        Ok(())
    }
}
