//! Every adapter, opened one by one and checked: an adapter that cannot run compute
//! shaders, refuses a device or panics while opening is reported and the run goes on.

use super::harness::Group;
use super::measure::{measure, Measurements};
use super::{check_device, Options, Report};
use crate::gpu::{AdapterSummary, MatmulSelect};
use crate::{Device, DeviceExt};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

/// The parity checks and figures of one device.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeviceReport {
    /// The backend's name.
    pub name: String,
    /// The backend's description (adapter type, limits, matmul kernel and how it was chosen).
    pub describe: String,
    /// One group of checks per line of the report.
    pub groups: Vec<Group>,
    /// Backend methods no check reached (empty when the checks cover the trait).
    pub uncovered: Vec<&'static str>,
    /// Optimizer kernels that ran.
    pub kernels_run: usize,
    /// Optimizer kernels of the library that no check ran.
    pub kernels_missing: Vec<String>,
    /// The figures, or why they could not be measured (`None`: not asked for).
    pub measurements: Option<Result<Measurements, String>>,
    /// Wall time of the checks and measurements, in seconds.
    pub seconds: f64,
}

impl DeviceReport {
    /// Comparisons made, over every group.
    pub fn checks(&self) -> usize {
        self.groups.iter().map(|g| g.checks).sum()
    }

    /// Failed comparisons, over every group.
    pub fn failures(&self) -> usize {
        self.groups.iter().map(|g| g.failures.len()).sum()
    }
}

/// One adapter: what wgpu says about it, and what opening and checking it gave.
#[derive(Clone, Debug, PartialEq)]
pub struct AdapterReport {
    /// wgpu's description (name, backend, type, driver, limits).
    pub summary: AdapterSummary,
    /// Skipped by `--adapter`.
    pub skipped: bool,
    /// Milliseconds to open it (including the matmul kernel choice), or why it failed.
    pub opened: Result<f64, String>,
    /// The checks, when it opened.
    pub device: Option<DeviceReport>,
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic".to_string())
}

pub(super) fn run(options: &Options) -> Report {
    let started = Instant::now();
    let cpu = Device::cpu();
    let sizes = (!options.no_measure).then(|| options.mode.sizes());
    let mut adapters = Vec::new();
    for summary in crate::gpu::adapters() {
        let skipped = options
            .adapter
            .as_ref()
            .is_some_and(|want| !summary.name.to_lowercase().contains(&want.to_lowercase()));
        let mut report = AdapterReport {
            summary: summary.clone(),
            skipped,
            opened: Err("not opened".into()),
            device: None,
        };
        if skipped {
            adapters.push(report);
            continue;
        }
        if !summary.compute {
            report.opened = Err("cannot run compute shaders".into());
            adapters.push(report);
            continue;
        }
        let t = Instant::now();
        let opened =
            catch_unwind(|| crate::gpu::open_adapter(summary.index, MatmulSelect::FromEnv));
        match opened {
            Ok(Ok(backend)) => {
                report.opened = Ok(t.elapsed().as_secs_f64() * 1e3);
                let backend: Arc<dyn crate::Backend> = Arc::new(backend);
                let checked = catch_unwind(AssertUnwindSafe(|| {
                    check_device(
                        &cpu,
                        backend.clone(),
                        options.inject.as_deref(),
                        sizes.as_ref(),
                    )
                }));
                match checked {
                    Ok(d) => report.device = Some(d),
                    Err(p) => {
                        let mut g = Group::new("checks");
                        g.fail(format!("the checks panicked: {}", panic_message(p)));
                        report.device = Some(DeviceReport {
                            name: backend.name(),
                            describe: backend.describe(),
                            groups: vec![g],
                            ..DeviceReport::default()
                        });
                    }
                }
            }
            Ok(Err(e)) => report.opened = Err(e.to_string()),
            Err(p) => report.opened = Err(format!("panicked while opening: {}", panic_message(p))),
        }
        adapters.push(report);
    }
    let cpu_measurements = sizes
        .as_ref()
        .map(|s| measure(&cpu, s).map_err(|e| e.to_string()));
    Report {
        adapters,
        cpu_name: cpu.describe(),
        cpu_measurements,
        seconds: started.elapsed().as_secs_f64(),
    }
}
