//! Matrix products: the workgroup-tiled kernel and the register-blocked ones; which one a
//! device runs is chosen when it opens (`crate::autotune`).

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

/// Which matmul kernel to run. The register variants differ in the block of outputs each
/// invocation keeps in registers; where B cannot be read as vec4 (transposed and small, or
/// `n` not a multiple of 8) every register variant runs the scalar 4×4 kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Workgroup-memory tiles (64×64 per workgroup): real GPUs.
    Tiled,
    /// Register blocks of 4×8 with vec4 loads of B, no workgroup memory: CPU adapters.
    Register,
    /// Register blocks of 4×16 (`n` a multiple of 16; else the 4×8 kernel).
    Register4x16,
}

impl Variant {
    /// Every variant, in the order the tuner tries them.
    pub const ALL: [Variant; 3] = [Variant::Tiled, Variant::Register, Variant::Register4x16];

    /// The name `DOWNHILL_MATMUL` and the tuner's cache use.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Tiled => "tiled",
            Variant::Register => "register",
            Variant::Register4x16 => "register_4x16",
        }
    }

    /// The variant of that [`name`](Self::name), if any.
    pub fn from_name(name: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.name() == name)
    }

    /// The choice by adapter type alone: tiled on GPUs, register on CPU adapters.
    pub fn default_for(cpu_adapter: bool) -> Variant {
        if cpu_adapter {
            Variant::Register
        } else {
            Variant::Tiled
        }
    }

    /// Whether this is one of the register-blocked kernels (no workgroup memory).
    pub fn is_register(self) -> bool {
        self != Variant::Tiled
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
    let (b, d) =
        if variant.is_register() && d.trans_b && d.n.is_multiple_of(8) && d.k * d.n >= 1 << 14 {
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
        Variant::Tiled => (&kernels::MATMUL_TILED, 1, 64, 64),
        _ if !vec4_b => (&kernels::MATMUL_REGISTER, 64, 4, 4),
        Variant::Register4x16 if d.n % 16 == 0 => (&kernels::MATMUL_REGISTER_VEC4_4X16, 64, 4, 16),
        _ => (&kernels::MATMUL_REGISTER_VEC4, 64, 4, 8),
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
