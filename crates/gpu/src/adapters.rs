//! Every adapter wgpu sees, described without opening it, and opening a chosen one: what
//! `downhill-doctor` lists and checks one by one. [`crate::GpuBackend::new`] picks the
//! preferred adapter instead.

use crate::autotune::MatmulSelect;
use crate::context::GpuContext;
use crate::GpuBackend;
use downhill_core::{Error, Result};

/// One adapter as wgpu reports it, before any device is opened on it.
#[derive(Clone, Debug, PartialEq)]
pub struct AdapterSummary {
    /// Its position in [`adapters`]' list: what [`open_adapter`] takes.
    pub index: usize,
    /// The adapter's name, e.g. `llvmpipe (LLVM 19.1.7, 256 bits)`.
    pub name: String,
    /// The graphics API wgpu reaches it through (`Vulkan`, `Metal`, `Dx12`, `Gl`).
    pub backend: String,
    /// `DiscreteGpu`, `IntegratedGpu`, `VirtualGpu`, `Cpu` (a software driver) or `Other`.
    pub device_type: String,
    /// Whether it is a CPU driver (lavapipe, WARP) rather than a GPU.
    pub is_cpu: bool,
    /// The driver's name and version information (either may be empty).
    pub driver: String,
    /// Whether it can run compute shaders (downhill needs them; one that cannot is
    /// listed but not opened).
    pub compute: bool,
    /// The largest buffer, in bytes.
    pub max_buffer_size: u64,
    /// The largest storage-buffer binding, in bytes: the largest tensor.
    pub max_storage_binding: u64,
    /// Workgroups per dispatch dimension.
    pub max_workgroups_per_dimension: u32,
    /// Invocations per workgroup.
    pub max_invocations_per_workgroup: u32,
    /// Workgroup (shared) memory, in bytes.
    pub max_workgroup_storage: u32,
}

fn enumerate() -> Vec<wgpu::Adapter> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
}

/// Every adapter wgpu finds (in its order), whether or not it can run downhill; none is
/// opened.
pub fn adapters() -> Vec<AdapterSummary> {
    enumerate()
        .iter()
        .enumerate()
        .map(|(index, a)| {
            let info = a.get_info();
            let limits = a.limits();
            let driver = [info.driver.as_str(), info.driver_info.as_str()]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ");
            AdapterSummary {
                index,
                name: info.name.clone(),
                backend: format!("{:?}", info.backend),
                device_type: format!("{:?}", info.device_type),
                is_cpu: info.device_type == wgpu::DeviceType::Cpu,
                driver,
                compute: a
                    .get_downlevel_capabilities()
                    .flags
                    .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS),
                max_buffer_size: limits.max_buffer_size,
                max_storage_binding: limits.max_storage_buffer_binding_size,
                max_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
                max_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
                max_workgroup_storage: limits.max_compute_workgroup_storage_size,
            }
        })
        .collect()
}

/// Opens the adapter at `index` of [`adapters`]' list (the enumeration is repeated, so an
/// adapter that went away in between is an [`Error::NoAdapter`]), picking the matmul
/// kernel as `select` says. An adapter without compute shaders, or one whose device
/// request fails, is an error, never a panic.
pub fn open_adapter(index: usize, select: MatmulSelect) -> Result<GpuBackend> {
    let adapter = enumerate()
        .into_iter()
        .nth(index)
        .ok_or_else(|| Error::NoAdapter(format!("adapter {index} is no longer listed by wgpu")))?;
    let compute = adapter
        .get_downlevel_capabilities()
        .flags
        .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS);
    if !compute {
        return Err(Error::NoAdapter(format!(
            "{} cannot run compute shaders",
            adapter.get_info().name
        )));
    }
    GpuBackend::from_context(GpuContext::from_adapter(adapter)?, select)
}
