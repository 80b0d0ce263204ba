//! Launchers: one function per kernel, each building the kernel's uniform struct (a
//! `#[repr(C)]` mirror of the WGSL struct, field for field) and recording the dispatch.
//!
//! Sizes reach a launcher after `downhill_core::backend::check` (lengths match, products
//! fit a `usize`). Kernels index with `u32`, so every size goes into a uniform through
//! [`u32_of`]: a GPU tensor cannot hold more than `u32::MAX` elements (no binding is that
//! large), so a larger size can only come from a direct call's lie, and it is refused
//! rather than truncated into a different, valid-looking size.

pub mod conv;
pub mod elementwise;
pub mod index;
pub mod matmul;
pub mod metrics;
pub mod norm;
pub mod optim;
pub mod optim_ops;
pub mod reduce;
pub mod rows;
pub mod telemetry;

use downhill_core::{Error, Result};

/// `v` as a kernel's `u32`, or [`Error::TooLarge`] naming `op` and `what`.
pub fn u32_of(op: &str, what: &str, v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| {
        Error::TooLarge(format!(
            "{op}: {what} of {v} exceeds the GPU's 32-bit sizes (at most {})",
            u32::MAX
        ))
    })
}

/// Workgroups for `n` invocations at 256 per workgroup.
pub fn groups_for(n: u32) -> u32 {
    n.div_ceil(256)
}
