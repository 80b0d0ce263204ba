//! Matrix products: the workgroup-tiled kernel on GPUs, the register-blocked one on CPU
//! adapters (lavapipe), chosen by adapter type.

use crate::kernels;
use crate::recorder::Recorder;
use bytemuck::{Pod, Zeroable};
use downhill_core::{MatmulDims, Result, Storage};

/// Mirrors `Dims` in matmul.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    m: u32,
    k: u32,
    n: u32,
    flags: u32,
    tiles_n: u32,
    _pad: [u32; 3],
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

pub fn matmul(
    rec: &Recorder,
    a: &Storage,
    b: &Storage,
    d: MatmulDims,
    variant: Variant,
) -> Result<Storage> {
    let out = rec.pool.storage(d.m * d.n)?;
    if d.m * d.n == 0 {
        return Ok(out);
    }
    if d.k == 0 {
        rec.clear(&out)?;
        return Ok(out);
    }
    let flags = u32::from(d.trans_a) | (u32::from(d.trans_b) << 1);
    if variant == Variant::Register {
        let blocks_n = d.n.div_ceil(4);
        let blocks = d.m.div_ceil(4) * blocks_n;
        let params = Params {
            m: d.m as u32,
            k: d.k as u32,
            n: d.n as u32,
            flags,
            tiles_n: blocks_n as u32,
            _pad: [0; 3],
        };
        rec.dispatch(
            &kernels::MATMUL_REGISTER,
            &params,
            &[a, b, &out],
            blocks.div_ceil(64) as u32,
        )?;
    } else {
        let tiles_n = d.n.div_ceil(64);
        let tiles = d.m.div_ceil(64) * tiles_n;
        let params = Params {
            m: d.m as u32,
            k: d.k as u32,
            n: d.n as u32,
            flags,
            tiles_n: tiles_n as u32,
            _pad: [0; 3],
        };
        rec.dispatch(&kernels::MATMUL_TILED, &params, &[a, b, &out], tiles as u32)?;
    }
    Ok(out)
}
