//! Opening the GPU: instance → adapter (by preference or `DOWNHILL_ADAPTER`) → device with
//! the adapter's own limits, and an error sink so wgpu never panics on our behalf.

use downhill_core::{Error, Result};
use std::sync::{Arc, Mutex};

/// The device, its queue and what we learned about the adapter.
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    /// Errors wgpu reported outside any scope; drained and returned by the next call.
    errors: Arc<Mutex<Vec<String>>>,
}

/// What to tell a user who has no adapter.
const NO_ADAPTER_HELP: &str = "install a Vulkan, Metal or DX12 driver for your GPU, or on \
     Debian/Ubuntu the software one: `sudo apt-get install mesa-vulkan-drivers` (lavapipe); \
     set DOWNHILL_DEVICE=cpu to use the CPU backend";

/// Ranks adapters: real GPUs first, then software ones.
fn preference(info: &wgpu::AdapterInfo) -> u8 {
    match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    }
}

/// The adapters that can run compute shaders, as (name, is a CPU pretending to be a GPU).
pub fn compute_adapters() -> Vec<(String, bool)> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
        .into_iter()
        .filter(|a| {
            a.get_downlevel_capabilities()
                .flags
                .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS)
        })
        .map(|a| {
            let info = a.get_info();
            (info.name, info.device_type == wgpu::DeviceType::Cpu)
        })
        .collect()
}

impl GpuContext {
    /// Opens the preferred adapter, or the first whose name contains `wanted`.
    pub fn open(wanted: Option<&str>) -> Result<GpuContext> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let mut adapters: Vec<wgpu::Adapter> =
            pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
                .into_iter()
                .filter(|a| {
                    a.get_downlevel_capabilities()
                        .flags
                        .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS)
                })
                .collect();
        let names: Vec<String> = adapters
            .iter()
            .map(|a| format!("{} ({:?})", a.get_info().name, a.get_info().backend))
            .collect();
        if let Some(wanted) = wanted {
            let wanted_lower = wanted.to_lowercase();
            adapters.retain(|a| a.get_info().name.to_lowercase().contains(&wanted_lower));
            if adapters.is_empty() {
                return Err(Error::NoAdapter(format!(
                    "no adapter name contains {wanted:?} (DOWNHILL_ADAPTER); found: {names:?}"
                )));
            }
        }
        adapters.sort_by_key(|a| preference(&a.get_info()));
        let adapter = adapters.into_iter().next().ok_or_else(|| {
            Error::NoAdapter(format!(
                "no adapter with compute shaders; {NO_ADAPTER_HELP}"
            ))
        })?;
        Self::from_adapter(adapter)
    }

    /// Opens a device on `adapter` with the adapter's own limits.
    pub fn from_adapter(adapter: wgpu::Adapter) -> Result<GpuContext> {
        let info = adapter.get_info();
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("downhill"),
            required_features: wgpu::Features::empty(),
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| Error::NoAdapter(format!("{} refused a device: {e}", info.name)))?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut list) = sink.lock() {
                list.push(e.to_string());
            }
        }));
        // A lost device (driver reset, GPU removed) becomes an error of the next call too.
        let sink = errors.clone();
        device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut list) = sink.lock() {
                list.push(format!("device lost ({reason:?}): {message}"));
            }
        });
        Ok(GpuContext {
            device,
            queue,
            info,
            limits,
            errors,
        })
    }

    /// Returns the first error wgpu reported since the last check, as a typed error.
    pub fn check_errors(&self) -> Result<()> {
        let mut list = self
            .errors
            .lock()
            .map_err(|_| Error::backend(&self.info.name, "error sink poisoned"))?;
        if list.is_empty() {
            return Ok(());
        }
        let all = std::mem::take(&mut *list);
        let first = &all[0];
        if first.to_lowercase().contains("out of memory") {
            return Err(Error::TooLarge(format!("{}: {first}", self.info.name)));
        }
        Err(Error::backend(
            &self.info.name,
            format!("{first} ({} error(s) in all)", all.len()),
        ))
    }

    /// `name (backend, type)`, e.g. `llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan, Cpu)`.
    pub fn describe(&self) -> String {
        format!(
            "{} ({:?}, {:?})",
            self.info.name, self.info.backend, self.info.device_type
        )
    }

    /// Whether the adapter is a CPU (lavapipe, WARP): favours fewer, fatter dispatches.
    pub fn is_cpu(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }
}
