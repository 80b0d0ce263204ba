//! fill, accumulate, unary ops, broadcasting binary ops, expand and permute.

use super::{groups_for, u32_of};
use crate::kernels;
use crate::recorder::Recorder;
use bytemuck::{Pod, Zeroable};
use downhill_core::{BinaryOp, Error, Result, Shape, Storage, UnaryOp};

/// Mirrors `Scalar` in elementwise.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ScalarParams {
    n: u32,
    value: f32,
    _pad: [u32; 2],
}

/// Mirrors `Unary` in elementwise.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct UnaryParams {
    n: u32,
    op: u32,
    a: f32,
    b: f32,
}

/// Most axes a broadcasting kernel handles.
pub const MAX_RANK: usize = 8;

/// Mirrors `Strided` in elementwise.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct StridedParams {
    n: u32,
    op: u32,
    rank: u32,
    mode: u32,
    out_dims: [u32; MAX_RANK],
    a_strides: [u32; MAX_RANK],
    b_strides: [u32; MAX_RANK],
}

/// The op code and its constants, numbered as in elementwise.wgsl.
fn unary_code(op: UnaryOp) -> (u32, f32, f32) {
    match op {
        UnaryOp::Neg => (0, 0.0, 0.0),
        UnaryOp::Square => (1, 0.0, 0.0),
        UnaryOp::Sqrt => (2, 0.0, 0.0),
        UnaryOp::Exp => (3, 0.0, 0.0),
        UnaryOp::Log => (4, 0.0, 0.0),
        UnaryOp::Powf(p) => (5, p, 0.0),
        UnaryOp::AddScalar(c) => (6, c, 0.0),
        UnaryOp::MulScalar(c) => (7, c, 0.0),
        UnaryOp::RsubScalar(c) => (8, c, 0.0),
        UnaryOp::RdivScalar(c) => (9, c, 0.0),
        UnaryOp::Relu => (10, 0.0, 0.0),
        UnaryOp::LeakyRelu(a) => (11, a, 0.0),
        UnaryOp::Sigmoid => (12, 0.0, 0.0),
        UnaryOp::Tanh => (13, 0.0, 0.0),
        UnaryOp::Gelu => (14, 0.0, 0.0),
        UnaryOp::Clamp(lo, hi) => (15, lo, hi),
    }
}

fn binary_code(op: BinaryOp) -> u32 {
    match op {
        BinaryOp::Add => 0,
        BinaryOp::Sub => 1,
        BinaryOp::Mul => 2,
        BinaryOp::Div => 3,
        BinaryOp::Pow => 4,
        BinaryOp::PowGradBase => 5,
        BinaryOp::PowGradExponent => 6,
        BinaryOp::Eq => 7,
        BinaryOp::Ne => 8,
        BinaryOp::Lt => 9,
        BinaryOp::Le => 10,
        BinaryOp::Gt => 11,
        BinaryOp::Ge => 12,
    }
}

/// Packs per-axis values into the fixed-size uniform array.
pub fn pack(op: &'static str, values: &[usize]) -> Result<[u32; MAX_RANK]> {
    if values.len() > MAX_RANK {
        return Err(Error::shape(
            op,
            format!(
                "the GPU backend handles up to {MAX_RANK} axes, got {}",
                values.len()
            ),
        ));
    }
    let mut out = [0u32; MAX_RANK];
    for (slot, &v) in out.iter_mut().zip(values) {
        *slot = u32::try_from(v).map_err(|_| Error::TooLarge(format!("{op}: {v} elements")))?;
    }
    Ok(out)
}

pub fn fill(rec: &Recorder, dst: &Storage, value: f32) -> Result<()> {
    if value == 0.0 {
        return rec.clear(dst);
    }
    let n = u32_of("fill", "the length", dst.len())?;
    let params = ScalarParams {
        n,
        value,
        _pad: [0; 2],
    };
    rec.dispatch(&kernels::FILL, &params, &[dst], groups_for(n))
}

/// `acc += scale · x`; an `x` sharing `acc`'s buffer is read from a copy (one dispatch may
/// not bind a buffer both read-only and writable).
pub fn accumulate(rec: &Recorder, acc: &Storage, x: &Storage, scale: f32) -> Result<()> {
    let n = u32_of("accumulate", "the length", acc.len())?;
    let staged;
    let x = if x.same_buffer(acc) {
        staged = rec.pool.storage(x.len())?;
        rec.copy(x, &staged)?;
        &staged
    } else {
        x
    };
    let params = ScalarParams {
        n,
        value: scale,
        _pad: [0; 2],
    };
    rec.dispatch(&kernels::ACCUMULATE, &params, &[acc, x], groups_for(n))
}

pub fn unary(rec: &Recorder, op: UnaryOp, x: &Storage) -> Result<Storage> {
    let n = u32_of("unary", "the length", x.len())?;
    let out = rec.pool.storage(x.len())?;
    let (code, a, b) = unary_code(op);
    let params = UnaryParams { n, op: code, a, b };
    rec.dispatch(&kernels::UNARY, &params, &[x, &out], groups_for(n))?;
    Ok(out)
}

pub fn unary_backward(
    rec: &Recorder,
    op: UnaryOp,
    x: &Storage,
    y: &Storage,
    dy: &Storage,
) -> Result<Storage> {
    let n = u32_of("unary_backward", "the length", x.len())?;
    let out = rec.pool.storage(x.len())?;
    let (code, a, b) = unary_code(op);
    let params = UnaryParams { n, op: code, a, b };
    rec.dispatch(
        &kernels::UNARY_BACKWARD,
        &params,
        &[x, y, dy, &out],
        groups_for(n),
    )?;
    Ok(out)
}

/// `op(a, b)` broadcast to `out_shape` of `n` elements (as checked by core).
#[allow(clippy::too_many_arguments)]
pub fn binary(
    rec: &Recorder,
    op: BinaryOp,
    a: &Storage,
    a_shape: &Shape,
    b: &Storage,
    b_shape: &Shape,
    out_shape: &Shape,
    n: usize,
) -> Result<Storage> {
    if n == 0 {
        return rec.pool.storage(0); // nothing to compute (whatever the other axes hold)
    }
    let count = u32_of("binary", "the result", n)?;
    let out_dims = pack("binary", out_shape.dims())?;
    let a_strides = pack("binary", &a_shape.broadcast_strides(out_shape))?;
    let b_strides = pack("binary", &b_shape.broadcast_strides(out_shape))?;
    let out = rec.pool.storage(n)?;
    let same = a_shape == out_shape && b_shape == out_shape;
    let params = StridedParams {
        n: count,
        op: binary_code(op),
        rank: out_shape.rank() as u32, // at most MAX_RANK: `pack` checked
        mode: u32::from(!same),
        out_dims,
        a_strides,
        b_strides,
    };
    rec.dispatch(&kernels::BINARY, &params, &[a, b, &out], groups_for(count))?;
    Ok(out)
}

/// `out[i] = x[Σ coordᵢ · strides]` over `out_dims` (`n` elements): the kernel behind
/// expand and permute.
fn strided_copy(
    rec: &Recorder,
    x: &Storage,
    out_dims: &[usize],
    strides: &[usize],
    n: usize,
) -> Result<Storage> {
    if n == 0 {
        return rec.pool.storage(0);
    }
    let count = u32_of("strided_copy", "the result", n)?;
    let dims = pack("strided_copy", out_dims)?;
    let a_strides = pack("strided_copy", strides)?;
    let out = rec.pool.storage(n)?;
    let params = StridedParams {
        n: count,
        op: 0,
        rank: out_dims.len() as u32, // at most MAX_RANK: `pack` checked
        mode: 1,
        out_dims: dims,
        a_strides,
        b_strides: [0; MAX_RANK],
    };
    rec.dispatch(
        &kernels::STRIDED_COPY,
        &params,
        &[x, &out],
        groups_for(count),
    )?;
    Ok(out)
}

/// Broadcasts `x` of `from` to `to` (`n` elements).
pub fn expand(rec: &Recorder, x: &Storage, from: &Shape, to: &Shape, n: usize) -> Result<Storage> {
    strided_copy(rec, x, to.dims(), &from.broadcast_strides(to), n)
}

pub fn permute(rec: &Recorder, x: &Storage, shape: &Shape, perm: &[usize]) -> Result<Storage> {
    let strides = shape.strides();
    let out_dims: Vec<usize> = perm.iter().map(|&p| shape.dims()[p]).collect();
    let in_strides: Vec<usize> = perm.iter().map(|&p| strides[p]).collect();
    strided_copy(rec, x, &out_dims, &in_strides, x.len())
}
