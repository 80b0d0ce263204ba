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

use buffer::{new_storage, read, write};
use downhill_core::optim::flat;
use downhill_core::{
    AccuracyKind, Backend, BackendKind, BinaryOp, Device, Error, GradClip, LossKind, MatmulDims,
    ReduceDims, ReduceOp, Result, Shape, Storage, UnaryOp, UpdateRule,
};
use std::sync::{Arc, OnceLock};

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

    fn upload(&self, data: &[f32]) -> Result<Storage> {
        Ok(new_storage(data.to_vec()))
    }

    fn upload_indices(&self, data: &[u32]) -> Result<Storage> {
        Ok(buffer::index_storage(data.to_vec()))
    }

    fn download(&self, x: &Storage) -> Result<Vec<f32>> {
        Ok(read(x)?.to_vec())
    }

    fn full(&self, len: usize, value: f32) -> Result<Storage> {
        Ok(new_storage(vec![value; len]))
    }

    fn fill(&self, dst: &Storage, value: f32) -> Result<()> {
        write(dst)?.fill(value);
        Ok(())
    }

    fn copy(&self, src: &Storage, dst: &Storage) -> Result<()> {
        src.expect_len("copy", dst.len())?;
        if src.same_buffer(dst) {
            let data = read(src)?.to_vec();
            write(dst)?.copy_from_slice(&data);
        } else {
            write(dst)?.copy_from_slice(&read(src)?);
        }
        Ok(())
    }

    fn accumulate(&self, acc: &Storage, x: &Storage, scale: f32) -> Result<()> {
        x.expect_len("accumulate", acc.len())?;
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
        let result = broadcast::binary(op, &read(a)?, a_shape, &read(b)?, b_shape, out);
        Ok(new_storage(result))
    }

    fn sum_to(&self, x: &Storage, from: &Shape, to: &Shape) -> Result<Storage> {
        x.expect_len("sum_to", from.numel())?;
        Ok(new_storage(broadcast::sum_to(&read(x)?, from, to)))
    }

    fn expand(&self, x: &Storage, from: &Shape, to: &Shape) -> Result<Storage> {
        x.expect_len("expand", from.numel())?;
        Ok(new_storage(broadcast::expand(&read(x)?, from, to)))
    }

    fn reduce(&self, op: ReduceOp, x: &Storage, dims: ReduceDims) -> Result<Storage> {
        x.expect_len("reduce", dims.outer * dims.len * dims.inner)?;
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
        Ok(new_storage(reduce::max_backward(
            &read(x)?,
            &read(y)?,
            &read(dy)?,
            dims,
        )))
    }

    fn permute(&self, x: &Storage, shape: &Shape, perm: &[usize]) -> Result<Storage> {
        x.expect_len("permute", shape.numel())?;
        Ok(new_storage(broadcast::permute(&read(x)?, shape, perm)))
    }

    fn softmax(&self, x: &Storage, rows: usize, cols: usize, log: bool) -> Result<Storage> {
        x.expect_len("softmax", rows * cols)?;
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

    fn gather_rows(
        &self,
        src: &Storage,
        cols: usize,
        indices: &Storage,
        start: usize,
        count: usize,
    ) -> Result<Storage> {
        let idx = buffer::indices(indices)?;
        let picked = idx.get(start..start + count).ok_or_else(|| {
            Error::shape(
                "gather_rows",
                format!("rows {start}..{} of {} indices", start + count, idx.len()),
            )
        })?;
        let src = read(src)?;
        let rows = src.len().checked_div(cols).unwrap_or(0);
        let mut out = Vec::with_capacity(count * cols);
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
