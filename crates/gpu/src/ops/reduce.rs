//! Reductions (over an axis, down to a broadcast shape) and the backward of max.

use super::elementwise::{pack, MAX_RANK};
use super::{groups_for, u32_of};
use crate::kernels;
use crate::recorder::Recorder;
use bytemuck::{Pod, Zeroable};
use downhill_core::{ReduceDims, ReduceOp, Result, Shape, Storage};

/// Mirrors `Reduce` in reduce.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n_out: u32,
    op: u32,
    rank: u32,
    count: u32,
    keep_dims: [u32; MAX_RANK],
    keep_strides: [u32; MAX_RANK],
    red_dims: [u32; MAX_RANK],
    red_strides: [u32; MAX_RANK],
}

/// Mirrors `MaxBack` in reduce.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct MaxBackParams {
    outer: u32,
    len: u32,
    inner: u32,
    _pad: u32,
}

/// One axis of the input: kept (it indexes outputs) or reduced (it folds into them).
struct Axis {
    size: usize,
    stride: usize,
    reduced: bool,
}

fn launch(rec: &Recorder, op: ReduceOp, x: &Storage, axes: &[Axis]) -> Result<Storage> {
    let (mut keep_dims, mut keep_strides, mut red_dims, mut red_strides) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for a in axes {
        let (kd, ks, rd, rs) = if a.reduced {
            (1, 0, a.size, a.stride)
        } else {
            (a.size, a.stride, 1, 0)
        };
        keep_dims.push(kd);
        keep_strides.push(ks);
        red_dims.push(rd);
        red_strides.push(rs);
    }
    // Products of checked sizes: they fit (core refuses any whose nonzero factors overflow).
    let n_out: usize = keep_dims.iter().product();
    let count: usize = red_dims.iter().product();
    if n_out == 0 {
        return rec.pool.storage(0);
    }
    let params = Params {
        n_out: u32_of("reduce", "the result", n_out)?,
        op: match op {
            ReduceOp::Sum => 0,
            ReduceOp::Mean => 1,
            ReduceOp::Max => 2,
        },
        rank: u32_of("reduce", "the rank", axes.len())?,
        count: u32_of("reduce", "the reduced count", count)?,
        keep_dims: pack("reduce", &keep_dims)?,
        keep_strides: pack("reduce", &keep_strides)?,
        red_dims: pack("reduce", &red_dims)?,
        red_strides: pack("reduce", &red_strides)?,
    };
    let out = rec.pool.storage(n_out)?;
    rec.dispatch(&kernels::REDUCE_STRIDED, &params, &[x, &out], params.n_out)?;
    Ok(out)
}

/// Reduces the middle axis of `[outer, len, inner]`.
pub fn reduce(rec: &Recorder, op: ReduceOp, x: &Storage, d: ReduceDims) -> Result<Storage> {
    let axes = [
        Axis {
            size: d.outer,
            stride: d.len * d.inner,
            reduced: false,
        },
        Axis {
            size: d.len,
            stride: d.inner,
            reduced: true,
        },
        Axis {
            size: d.inner,
            stride: 1,
            reduced: false,
        },
    ];
    launch(rec, op, x, &axes)
}

/// Sums `from` down to the broadcast-compatible `to`.
pub fn sum_to(rec: &Recorder, x: &Storage, from: &Shape, to: &Shape) -> Result<Storage> {
    let strides = from.strides();
    let lead = from.rank() - to.rank();
    let axes: Vec<Axis> = (0..from.rank())
        .map(|i| {
            let target = if i < lead { 1 } else { to.dims()[i - lead] };
            Axis {
                size: from.dims()[i],
                stride: strides[i],
                reduced: target == 1 && from.dims()[i] != 1,
            }
        })
        .collect();
    launch(rec, ReduceOp::Sum, x, &axes)
}

pub fn max_backward(
    rec: &Recorder,
    x: &Storage,
    y: &Storage,
    dy: &Storage,
    d: ReduceDims,
) -> Result<Storage> {
    let dx = rec.pool.storage(x.len())?;
    rec.clear(&dx)?;
    if x.is_empty() {
        return Ok(dx); // (else every size is at least 1 and at most x's length)
    }
    const OP: &str = "max_backward";
    let params = MaxBackParams {
        outer: u32_of(OP, "outer", d.outer)?,
        len: u32_of(OP, "len", d.len)?,
        inner: u32_of(OP, "inner", d.inner)?,
        _pad: 0,
    };
    let kept = u32_of(OP, "the result", d.outer * d.inner)?;
    rec.dispatch(
        &kernels::MAX_BACKWARD,
        &params,
        &[x, y, dy, &dx],
        groups_for(kept),
    )?;
    Ok(dx)
}
