//! Shared by the GPU integration tests: getting a GPU device, or failing loudly.

#![allow(dead_code)]

use downhill::prelude::*;

pub mod fuzz;
pub mod gradcheck;
pub mod norm;
pub mod optim;
pub mod optim_checks;
pub mod runs;
pub mod tolerance;

/// The GPU device. Without an adapter: a test failure when `DOWNHILL_REQUIRE_GPU=1` (as
/// `scripts/test.sh` and CI set it), otherwise `None` with a message on stderr, so a
/// developer without Vulkan sees the skip instead of a silent pass.
pub fn gpu() -> Option<Device> {
    skip_matmul_tuner();
    match Device::gpu() {
        Ok(device) => Some(device),
        Err(e) if std::env::var("DOWNHILL_REQUIRE_GPU").as_deref() == Ok("1") => {
            panic!("DOWNHILL_REQUIRE_GPU=1 but no GPU adapter: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED (no GPU adapter; set DOWNHILL_REQUIRE_GPU=1 to fail instead): {e}");
            None
        }
    }
}

/// Timing is no test's concern: devices opened through [`gpu`] and [`private_gpu`] take the
/// adapter-type matmul kernel (`DOWNHILL_AUTOTUNE=0`) unless the environment already says
/// otherwise. Set once, before this process opens any device (every GPU test starts here).
/// `tests/autotune.rs` exercises the tuner with a cache of its own.
fn skip_matmul_tuner() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("DOWNHILL_AUTOTUNE").is_none() {
            std::env::set_var("DOWNHILL_AUTOTUNE", "0");
        }
    });
}

/// A GPU device of its own (its work counters see only this test's work), or `None` as
/// [`gpu`] decides.
pub fn private_gpu() -> Option<Device> {
    gpu()?;
    let backend = downhill::gpu::GpuBackend::new().expect("the shared GPU device opened");
    Some(Device::new(std::sync::Arc::new(backend)))
}

/// The CPU reference device.
pub fn cpu() -> Device {
    Device::cpu()
}

/// The CPU device and, where there is one, the GPU device (as [`gpu`] decides).
pub fn devices() -> Vec<Device> {
    let mut all = vec![cpu()];
    all.extend(gpu());
    all
}

/// This process's resident set size in KiB (`VmRSS` of `/proc/self/status`), `None` where
/// there is no such file.
pub fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
