//! Region copies, indexing, arg-reductions and `where` (`shaders/index.wgsl`), and the
//! GPU's [`IndexOps`]. One region-copy kernel does pad, narrow (a crop), both backwards
//! and every part of a concat.

use super::elementwise::{pack, MAX_RANK};
use super::{groups_for, u32_of};
use crate::kernels;
use crate::recorder::Recorder;
use crate::GpuBackend;
use bytemuck::{Pod, Zeroable};
use downhill_core::backend::index::{self as check, ArgReduceOp, IndexOps};
use downhill_core::{ReduceDims, Result, Shape, Storage};

/// Mirrors `Region` in index.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct RegionParams {
    n: u32,
    rank: u32,
    dst_base: u32,
    value: f32,
    dims: [u32; MAX_RANK],
    src_dims: [u32; MAX_RANK],
    shift: [u32; MAX_RANK],
    src_strides: [u32; MAX_RANK],
    dst_strides: [u32; MAX_RANK],
}

/// Mirrors `Index` in index.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct IndexParams {
    outer: u32,
    len: u32,
    inner: u32,
    k: u32,
    idx_outer: u32,
    idx_k: u32,
    idx_inner: u32,
    skip: u32,
}

/// Mirrors `Arg` in index.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ArgParams {
    outer: u32,
    len: u32,
    inner: u32,
    _pad: u32,
}

/// Mirrors `Select` in index.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct SelectParams {
    n: u32,
    rank: u32,
    _pad: [u32; 2],
    out_dims: [u32; MAX_RANK],
    cond_strides: [u32; MAX_RANK],
    a_strides: [u32; MAX_RANK],
    b_strides: [u32; MAX_RANK],
}

/// The kernel's "no row": no valid index reaches it (a row index is below the length,
/// itself at most `u32::MAX`).
const INVALID: u32 = u32::MAX;

/// A region copy over `dims` from `src` (read at coordinate + `shift`, inside `src_dims`,
/// else `value`) into `dst` at `dst_base` + coordinate · `dst_strides`.
struct Region<'a> {
    dims: &'a [usize],
    src_dims: &'a [usize],
    shift: Vec<u32>,
    src_strides: &'a [usize],
    dst_strides: &'a [usize],
    dst_base: usize,
    value: f32,
}

fn region_copy(rec: &Recorder, src: &Storage, dst: &Storage, r: &Region) -> Result<()> {
    const OP: &str = "region_copy";
    let n: usize = r.dims.iter().product();
    if n == 0 {
        return Ok(());
    }
    let dims = pack(OP, r.dims)?; // first: it refuses more than MAX_RANK axes
    let mut shift = [0u32; MAX_RANK];
    shift[..r.shift.len()].copy_from_slice(&r.shift);
    let params = RegionParams {
        n: u32_of(OP, "the region", n)?,
        rank: r.dims.len() as u32,
        dst_base: u32_of(OP, "the destination offset", r.dst_base)?,
        value: r.value,
        dims,
        src_dims: pack(OP, r.src_dims)?,
        shift,
        src_strides: pack(OP, r.src_strides)?,
        dst_strides: pack(OP, r.dst_strides)?,
    };
    rec.dispatch(
        &kernels::REGION_COPY,
        &params,
        &[src, dst],
        groups_for(params.n),
    )
}

/// Sizes of an index kernel; `strides` place the index of `(o, j, i)`.
fn index_params(
    op: &str,
    dims: ReduceDims,
    k: usize,
    strides: [usize; 3],
    skip: Option<usize>,
) -> Result<IndexParams> {
    Ok(IndexParams {
        outer: u32_of(op, "outer", dims.outer)?,
        len: u32_of(op, "len", dims.len)?,
        inner: u32_of(op, "inner", dims.inner)?,
        k: u32_of(op, "the indices", k)?,
        idx_outer: u32_of(op, "an index stride", strides[0])?,
        idx_k: u32_of(op, "an index stride", strides[1])?,
        idx_inner: u32_of(op, "an index stride", strides[2])?,
        // A skip past u32 can never match a row the kernel sees.
        skip: skip.map_or(INVALID, |s| u32::try_from(s).unwrap_or(INVALID)),
    })
}

fn index_forward(
    rec: &Recorder,
    x: &Storage,
    index: &Storage,
    params: &IndexParams,
    n: usize,
) -> Result<Storage> {
    let out = rec.pool.storage(n)?;
    if n > 0 {
        let groups = groups_for(u32_of("index_gather", "the result", n)?);
        rec.dispatch(&kernels::INDEX_GATHER, params, &[x, index, &out], groups)?;
    }
    Ok(out)
}

fn index_backward(
    rec: &Recorder,
    dy: &Storage,
    index: &Storage,
    params: &IndexParams,
    n: usize,
) -> Result<Storage> {
    let dx = rec.pool.storage(n)?;
    rec.clear(&dx)?;
    let columns = params.outer as usize * params.inner as usize; // both fit: checked
    if n > 0 && params.k > 0 {
        let groups = groups_for(u32_of("index_scatter_add", "the columns", columns)?);
        rec.dispatch(
            &kernels::INDEX_SCATTER_ADD,
            params,
            &[dy, index, &dx],
            groups,
        )?;
    }
    Ok(dx)
}

impl IndexOps for GpuBackend {
    fn pad(
        &self,
        x: &Storage,
        shape: &Shape,
        padding: &[(i64, i64)],
        value: f32,
    ) -> Result<Storage> {
        let out_shape = check::check_pad(x, shape, padding)?;
        let out = self.rec.pool.storage(out_shape.numel())?;
        // Output coordinate c reads c − before: the shift wraps like the kernel's u32.
        let shift = padding
            .iter()
            .map(|&(before, _)| before.wrapping_neg() as u32);
        let region = Region {
            dims: out_shape.dims(),
            src_dims: shape.dims(),
            shift: shift.collect(),
            src_strides: &shape.strides(),
            dst_strides: &out_shape.strides(),
            dst_base: 0,
            value,
        };
        region_copy(&self.rec, x, &out, &region)?;
        Ok(out)
    }

    fn concat(
        &self,
        parts: &[&Storage],
        outer: usize,
        lens: &[usize],
        inner: usize,
    ) -> Result<Storage> {
        let n = check::check_concat(parts, outer, lens, inner)?;
        let out = self.rec.pool.storage(n)?;
        let total: usize = lens.iter().sum();
        let dst_strides = [total * inner, inner, 1];
        let mut start = 0;
        // One dispatch per part, each writing its own columns of the result.
        for (part, &len) in parts.iter().zip(lens) {
            let dims = [outer, len, inner];
            let region = Region {
                dims: &dims,
                src_dims: &dims,
                shift: vec![0; 3],
                src_strides: &[len * inner, inner, 1],
                dst_strides: &dst_strides,
                dst_base: start * inner,
                value: 0.0,
            };
            region_copy(&self.rec, part, &out, &region)?;
            start += len;
        }
        Ok(out)
    }

    fn index_select(&self, x: &Storage, dims: ReduceDims, indices: &Storage) -> Result<Storage> {
        let n = check::check_index_select(x, dims, indices)?;
        let params = index_params("index_select", dims, indices.len(), [0, 1, 0], None)?;
        index_forward(&self.rec, x, indices, &params, n)
    }

    fn index_select_backward(
        &self,
        dy: &Storage,
        dims: ReduceDims,
        indices: &Storage,
        skip: Option<usize>,
    ) -> Result<Storage> {
        let n = check::check_index_select_backward(dy, dims, indices)?;
        let op = "index_select_backward";
        let params = index_params(op, dims, indices.len(), [0, 1, 0], skip)?;
        index_backward(&self.rec, dy, indices, &params, n)
    }

    fn gather(&self, x: &Storage, dims: ReduceDims, index: &Storage, k: usize) -> Result<Storage> {
        let n = check::check_gather(x, dims, index, k)?;
        let strides = [k * dims.inner, dims.inner, 1];
        let params = index_params("gather", dims, k, strides, None)?;
        index_forward(&self.rec, x, index, &params, n)
    }

    fn gather_backward(
        &self,
        dy: &Storage,
        dims: ReduceDims,
        index: &Storage,
        k: usize,
    ) -> Result<Storage> {
        let n = check::check_gather_backward(dy, dims, index, k)?;
        let strides = [k * dims.inner, dims.inner, 1];
        let params = index_params("gather_backward", dims, k, strides, None)?;
        index_backward(&self.rec, dy, index, &params, n)
    }

    fn arg_reduce(&self, op: ArgReduceOp, x: &Storage, dims: ReduceDims) -> Result<Storage> {
        let n = check::check_arg_reduce(x, dims)?;
        let out = self.rec.pool.storage(n)?;
        if n == 0 {
            return Ok(out);
        }
        const OP: &str = "arg_reduce";
        let params = ArgParams {
            outer: u32_of(OP, "outer", dims.outer)?,
            len: u32_of(OP, "len", dims.len)?,
            inner: u32_of(OP, "inner", dims.inner)?,
            _pad: 0,
        };
        let kernel = match op {
            ArgReduceOp::Max => &kernels::ARGMAX,
            ArgReduceOp::Min => &kernels::ARGMIN,
        };
        let groups = groups_for(u32_of(OP, "the result", n)?);
        self.rec.dispatch(kernel, &params, &[x, &out], groups)?;
        Ok(out)
    }

    fn where_cond(
        &self,
        cond: &Storage,
        cond_shape: &Shape,
        a: &Storage,
        a_shape: &Shape,
        b: &Storage,
        b_shape: &Shape,
        out: &Shape,
    ) -> Result<Storage> {
        let (n, [cond_strides, a_strides, b_strides]) =
            check::check_where((cond, cond_shape), (a, a_shape), (b, b_shape), out)?;
        let result = self.rec.pool.storage(n)?;
        if n == 0 {
            return Ok(result);
        }
        const OP: &str = "where";
        let params = SelectParams {
            n: u32_of(OP, "the result", n)?,
            rank: out.rank() as u32, // at most MAX_RANK: `pack` checks
            _pad: [0; 2],
            out_dims: pack(OP, out.dims())?,
            cond_strides: pack(OP, &cond_strides)?,
            a_strides: pack(OP, &a_strides)?,
            b_strides: pack(OP, &b_strides)?,
        };
        self.rec.dispatch(
            &kernels::WHERE_COND,
            &params,
            &[cond, a, b, &result],
            groups_for(params.n),
        )?;
        Ok(result)
    }
}
