//! Matrix products: the workgroup-tiled kernel on GPUs, the register-blocked one on CPU
//! adapters (lavapipe), chosen by adapter type.

use super::elementwise::permute;
use super::u32_of;
use crate::kernels;
use crate::recorder::Recorder;
use bytemuck::{Pod, Zeroable};
use downhill_core::{Error, MatmulDims, Result, Shape, Storage, UnaryOp};

/// Mirrors `Dims` in matmul.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    m: u32,
    k: u32,
    n: u32,
    flags: u32,
    tiles_n: u32,
    has_bias: u32,
    act: u32,
    alpha: f32,
}

/// Mirrors `Epilogue` in reduce.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct EpilogueBackParams {
    rows: u32,
    cols: u32,
    act: u32,
    alpha: f32,
}

/// `dz = act'(y)·dy` and `db = Σ_rows dz` in one dispatch (one workgroup per column), for
/// `[rows, cols]` outputs of `n` elements (as checked by core).
pub fn epilogue_backward(
    rec: &Recorder,
    activation: Option<UnaryOp>,
    y: &Storage,
    dy: &Storage,
    (rows, cols, n): (usize, usize, usize),
) -> Result<(Storage, Storage)> {
    const OP: &str = "linear_epilogue_backward";
    let (act, alpha) = activation_code(activation)?;
    let dz = rec.pool.storage(n)?;
    let db = rec.pool.storage(cols)?;
    if n == 0 {
        rec.clear(&db)?; // a sum over no rows
        return Ok((dz, db));
    }
    let params = EpilogueBackParams {
        rows: u32_of(OP, "rows", rows)?,
        cols: u32_of(OP, "cols", cols)?,
        act,
        alpha,
    };
    rec.dispatch(
        &kernels::LINEAR_EPILOGUE_BACKWARD,
        &params,
        &[y, dy, &dz, &db],
        params.cols,
    )?;
    Ok((dz, db))
}

/// The epilogue's activation code (elementwise.wgsl's numbering) and slope.
fn activation_code(activation: Option<UnaryOp>) -> Result<(u32, f32)> {
    match activation {
        None => Ok((0, 0.0)),
        Some(UnaryOp::Relu) => Ok((10, 0.0)),
        Some(UnaryOp::LeakyRelu(alpha)) => Ok((11, alpha)),
        Some(UnaryOp::Sigmoid) => Ok((12, 0.0)),
        Some(UnaryOp::Tanh) => Ok((13, 0.0)),
        Some(other) => Err(Error::Config(format!(
            "{other:?} cannot be fused into a matmul"
        ))),
    }
}

/// Which matmul kernel to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// Workgroup-memory tiles: real GPUs.
    Tiled,
    /// Register blocks without workgroup memory: CPU adapters.
    Register,
}

impl Variant {
    /// `DOWNHILL_MATMUL=tiled|register` overrides the choice by adapter type.
    pub fn choose(cpu_adapter: bool) -> Variant {
        match std::env::var("DOWNHILL_MATMUL").as_deref() {
            Ok("tiled") => Variant::Tiled,
            Ok("register") => Variant::Register,
            _ if cpu_adapter => Variant::Register,
            _ => Variant::Tiled,
        }
    }
}

/// What the matmul does to each result before storing it.
pub struct Epilogue<'a> {
    pub bias: Option<&'a Storage>,
    pub activation: Option<UnaryOp>,
}

/// `act(op(A)·op(B) + bias)` of `d.m · d.n` elements (as checked by core); `dummy` stands
/// in for a missing bias binding.
pub fn linear(
    rec: &Recorder,
    a: &Storage,
    b: &Storage,
    d: MatmulDims,
    epilogue: Epilogue<'_>,
    variant: Variant,
    dummy: &Storage,
) -> Result<Storage> {
    let Epilogue { bias, activation } = epilogue;
    let out = rec.pool.storage(d.m * d.n)?;
    if d.m * d.n == 0 {
        return Ok(out);
    }
    let (act, alpha) = activation_code(activation)?;
    // On CPU adapters a transposed B of a large product is worth one copy into row-major
    // order: the vec4 kernel then reads it contiguously.
    let transposed_b;
    let (b, d) = if variant == Variant::Register
        && d.trans_b
        && d.n.is_multiple_of(8)
        && d.k * d.n >= 1 << 14
    {
        let shape = Shape::new([d.n, d.k]);
        transposed_b = permute(rec, b, &shape, &[1, 0])?;
        (
            &transposed_b,
            MatmulDims {
                trans_b: false,
                ..d
            },
        )
    } else {
        (b, d)
    };
    let flags = u32::from(d.trans_a) | (u32::from(d.trans_b) << 1);
    // (k = 0 leaves B empty: too small to bind as vec4, and nothing to load anyway.)
    let vec4_b = !d.trans_b && d.n % 8 == 0 && d.k > 0;
    // (kernel, invocations per workgroup, output rows per invocation block, columns)
    let (kernel, per_group, rows, cols) = match variant {
        Variant::Register if vec4_b => (&kernels::MATMUL_REGISTER_VEC4, 64, 4, 8),
        Variant::Register => (&kernels::MATMUL_REGISTER, 64, 4, 4),
        Variant::Tiled => (&kernels::MATMUL_TILED, 1, 64, 64),
    };
    let tiles_n = d.n.div_ceil(cols);
    let tiles = d.m.div_ceil(rows) * tiles_n;
    const OP: &str = "linear";
    let params = Params {
        m: u32_of(OP, "m", d.m)?,
        k: u32_of(OP, "k", d.k)?,
        n: u32_of(OP, "n", d.n)?,
        flags,
        tiles_n: u32_of(OP, "the column tiles", tiles_n)?,
        has_bias: u32::from(bias.is_some()),
        act,
        alpha,
    };
    let groups = u32_of(OP, "the workgroups", tiles.div_ceil(per_group))?;
    let bias = bias.unwrap_or(dummy);
    rec.dispatch(kernel, &params, &[a, b, bias, &out], groups)?;
    Ok(out)
}
