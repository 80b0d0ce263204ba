//! Reductions (over an axis, down to a broadcast shape) and the backward of max.

use super::elementwise::{pack, MAX_RANK};
use super::groups_for;
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
    let n_out: usize = keep_dims.iter().product();
    let count: usize = red_dims.iter().product();
    let out = rec.pool.storage(n_out)?;
    let params = Params {
        n_out: n_out as u32,
        op: match op {
            ReduceOp::Sum => 0,
            ReduceOp::Mean => 1,
            ReduceOp::Max => 2,
        },
        rank: axes.len() as u32,
        count: count as u32,
        keep_dims: pack("reduce", &keep_dims)?,
        keep_strides: pack("reduce", &keep_strides)?,
        red_dims: pack("reduce", &red_dims)?,
        red_strides: pack("reduce", &red_strides)?,
    };
    rec.dispatch(&kernels::REDUCE_STRIDED, &params, &[x, &out], n_out as u32)?;
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
    let params = MaxBackParams {
        outer: d.outer as u32,
        len: d.len as u32,
        inner: d.inner as u32,
        _pad: 0,
    };
    rec.dispatch(
        &kernels::MAX_BACKWARD,
        &params,
        &[x, y, dy, &dx],
        groups_for(d.outer * d.inner),
    )?;
    Ok(dx)
}
