//! Launchers: one function per kernel, each building the kernel's uniform struct (a
//! `#[repr(C)]` mirror of the WGSL struct, field for field) and recording the dispatch.

pub mod elementwise;
pub mod matmul;
pub mod optim;
pub mod reduce;
pub mod rows;

/// Workgroups for `n` invocations at 256 per workgroup.
pub fn groups_for(n: usize) -> u32 {
    n.div_ceil(256) as u32
}
