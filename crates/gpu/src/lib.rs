//! downhill-gpu: the GPU backend on wgpu. Not built yet: the GPU issue (WGSL kernels for
//! every op, the fused optimizer step, one submission per training step) fills this crate.
//! Until then `device()` reports that no GPU backend is available, as a typed error.

use downhill_core::{Device, Error, Result};

/// The GPU device. Today: always [`Error::NoAdapter`], saying why.
pub fn device() -> Result<Device> {
    Err(Error::NoAdapter(
        "this build of downhill has no GPU backend yet (crates/gpu is a placeholder); \
         the CPU backend runs every program unchanged"
            .into(),
    ))
}
