//! The report: one line per check group and device, the figures, the recommendation and
//! a summary, as text or JSON, and the exit status.

use super::adapters::{AdapterReport, DeviceReport};
use super::measure::{step_cost, Measurements, MODEL_BATCH};
use serde_json::{json, Value};
use std::fmt::Write;

/// Everything the doctor found.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Every adapter wgpu sees, in its order.
    pub adapters: Vec<AdapterReport>,
    /// The CPU backend's description.
    pub cpu_name: String,
    /// The CPU backend's figures (`None`: not measured).
    pub cpu_measurements: Option<Result<Measurements, String>>,
    /// Wall time of the whole run, in seconds.
    pub seconds: f64,
}

impl Report {
    /// The GPU devices that ran the checks.
    pub fn devices(&self) -> impl Iterator<Item = &DeviceReport> {
        self.adapters.iter().filter_map(|a| a.device.as_ref())
    }

    /// Whether every check on every device passed (and at least one device ran).
    pub fn passed(&self) -> bool {
        self.devices().count() > 0 && self.devices().all(|d| d.failures() == 0)
    }

    /// 0 when every parity check passed, 1 when one failed, 2 when no GPU device ran.
    pub fn exit_code(&self) -> i32 {
        match self.devices().count() {
            0 => 2,
            _ if self.passed() => 0,
            _ => 1,
        }
    }

    /// The report as printed.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "downhill doctor {}", env!("CARGO_PKG_VERSION"));
        let _ = writeln!(s, "adapters wgpu sees: {}", self.adapters.len());
        for a in &self.adapters {
            let m = &a.summary;
            let _ = writeln!(
                s,
                "  [{}] {} ({}, {}), driver {:?}; max buffer {} MiB, storage binding {} MiB, \
                 {} workgroups/dim, {} invocations/workgroup, {} KiB workgroup memory{}",
                m.index,
                m.name,
                m.backend,
                m.device_type,
                m.driver,
                m.max_buffer_size >> 20,
                m.max_storage_binding >> 20,
                m.max_workgroups_per_dimension,
                m.max_invocations_per_workgroup,
                m.max_workgroup_storage >> 10,
                if a.skipped {
                    " (skipped: --adapter)"
                } else {
                    ""
                }
            );
        }
        let _ = writeln!(s, "  cpu: {}", self.cpu_name);
        for a in self.adapters.iter().filter(|a| !a.skipped) {
            let _ = writeln!(s);
            match (&a.opened, &a.device) {
                (Ok(ms), Some(d)) => {
                    let _ = writeln!(
                        s,
                        "[{}] {}: opened in {ms:.0} ms",
                        a.summary.index, d.describe
                    );
                    device_text(&mut s, d);
                }
                (Err(e), _) => {
                    let _ = writeln!(
                        s,
                        "[{}] {}: NOT OPENED: {e}",
                        a.summary.index, a.summary.name
                    );
                }
                (Ok(_), None) => {}
            }
        }
        let _ = writeln!(s);
        if let Some(m) = &self.cpu_measurements {
            let _ = writeln!(s, "cpu: {}", figures_text(m));
        }
        let _ = writeln!(s, "recommendation:");
        for line in recommend(self) {
            let _ = writeln!(s, "  {line}");
        }
        let (groups, checks, failed) = self.devices().fold((0, 0, 0), |(g, c, f), d| {
            (g + d.groups.len(), c + d.checks(), f + d.failures())
        });
        let _ = writeln!(
            s,
            "summary: {} GPU device(s) checked, {groups} check groups, {checks} comparisons, \
             {failed} failed; exit status {} ({:.1} s)",
            self.devices().count(),
            self.exit_code(),
            self.seconds
        );
        s
    }

    /// The report as JSON (every figure and every failure).
    pub fn to_json(&self) -> Value {
        let adapters: Vec<Value> = self
            .adapters
            .iter()
            .map(|a| {
                let m = &a.summary;
                json!({
                    "index": m.index, "name": m.name, "backend": m.backend,
                    "device_type": m.device_type, "driver": m.driver, "compute": m.compute,
                    "max_buffer_size": m.max_buffer_size,
                    "max_storage_binding": m.max_storage_binding,
                    "max_workgroups_per_dimension": m.max_workgroups_per_dimension,
                    "max_invocations_per_workgroup": m.max_invocations_per_workgroup,
                    "max_workgroup_storage": m.max_workgroup_storage,
                    "skipped": a.skipped,
                    "open_ms": a.opened.as_ref().ok(),
                    "open_error": a.opened.as_ref().err(),
                    "device": a.device.as_ref().map(device_json),
                })
            })
            .collect();
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "adapters": adapters,
            "cpu": { "name": self.cpu_name, "measurements": self.cpu_measurements.as_ref().map(figures_json) },
            "recommendation": recommend(self),
            "passed": self.passed(),
            "exit_code": self.exit_code(),
            "seconds": self.seconds,
        })
    }
}

fn device_text(s: &mut String, d: &DeviceReport) {
    let _ = writeln!(s, "  parity against the CPU backend:");
    for g in &d.groups {
        let status = if g.failures.is_empty() {
            "ok  "
        } else {
            "FAIL"
        };
        let _ = writeln!(
            s,
            "    {status} {:<36} {:>4} checks, {} failed, worst passing {:.2} x allowed, {:.0} ms",
            g.name,
            g.checks,
            g.failures.len(),
            g.worst.0.max(0.0),
            g.ms
        );
        for f in &g.failures {
            let _ = writeln!(s, "         {f}");
        }
    }
    let total = super::Probe::methods().len();
    let _ = writeln!(
        s,
        "  coverage: {}/{total} backend methods{}, {} optimizer kernels{} (+ Muon, L-BFGS)",
        total - d.uncovered.len(),
        if d.uncovered.is_empty() {
            String::new()
        } else {
            format!(" (not reached: {:?})", d.uncovered)
        },
        d.kernels_run,
        if d.kernels_missing.is_empty() {
            String::new()
        } else {
            format!(" (not run: {:?})", d.kernels_missing)
        },
    );
    if let Some(m) = &d.measurements {
        let _ = writeln!(s, "  figures: {}", figures_text(m));
    }
}

fn figures_text(m: &Result<Measurements, String>) -> String {
    match m {
        Err(e) => format!("not measured: {e}"),
        Ok(m) => {
            let mm: Vec<String> = m
                .matmul_gflops
                .iter()
                .map(|(n, g)| format!("{n}^3 {g:.1}"))
                .collect();
            // The CPU backend counts no dispatches: say so rather than print zeros.
            let stats = match m.dispatch_stats.dispatches {
                0 => String::new(),
                d => format!(
                    " ({d} dispatches in {} submission(s))",
                    m.dispatch_stats.submissions
                ),
            };
            format!(
                "dispatch {:.1} us{stats}, round trip {:.1} us; \
                 matmul GFLOP/s {}; Adam step over {} parameters {:.2} ms, {:.1} GB/s",
                m.dispatch_us,
                m.round_trip_us,
                mm.join(", "),
                m.adam_params,
                m.adam_ms,
                m.adam_gbs
            )
        }
    }
}

fn figures_json(m: &Result<Measurements, String>) -> Value {
    match m {
        Err(e) => json!({ "error": e }),
        Ok(m) => json!({
            "dispatch_us": m.dispatch_us,
            "round_trip_us": m.round_trip_us,
            "dispatch_stats": {
                "dispatches": m.dispatch_stats.dispatches,
                "submissions": m.dispatch_stats.submissions,
                "buffer_allocations": m.dispatch_stats.buffer_allocations,
                "bytes_downloaded": m.dispatch_stats.bytes_downloaded,
            },
            "matmul_gflops": m.matmul_gflops.iter().map(|(n, g)| json!({"n": n, "gflops": g})).collect::<Vec<_>>(),
            "adam_params": m.adam_params,
            "adam_ms_per_step": m.adam_ms,
            "adam_gb_per_s": m.adam_gbs,
        }),
    }
}

fn device_json(d: &DeviceReport) -> Value {
    json!({
        "name": d.name,
        "describe": d.describe,
        "groups": d.groups.iter().map(|g| json!({
            "name": g.name, "checks": g.checks, "failures": g.failures,
            "worst_ratio": g.worst.0.max(0.0), "worst_check": g.worst.1, "ms": g.ms,
        })).collect::<Vec<_>>(),
        "uncovered_methods": d.uncovered,
        "optimizer_kernels_run": d.kernels_run,
        "optimizer_kernels_missing": d.kernels_missing,
        "measurements": d.measurements.as_ref().map(figures_json),
        "seconds": d.seconds,
    })
}

/// Which device to use for which model size, from each device's step-cost model
/// ([`step_cost`]): a step of `P` parameters costs `fixed + per_param·P`, so a GPU beats
/// the CPU above `P* = (fixed_gpu − fixed_cpu) / (per_param_cpu − per_param_gpu)` when it
/// is cheaper per parameter, and never when it is not. Devices that failed a check are
/// not recommended.
pub fn recommend(report: &Report) -> Vec<String> {
    let Some(Ok(cpu)) = &report.cpu_measurements else {
        return vec!["not measured (--no-measure): no recommendation".into()];
    };
    let (cpu_fixed, cpu_per) = step_cost(cpu);
    let mut lines = Vec::new();
    let mut any = false;
    for d in report.devices() {
        let Some(Ok(m)) = &d.measurements else {
            continue;
        };
        any = true;
        if d.failures() > 0 {
            lines.push(format!(
                "{}: do not use: it failed {} parity check(s)",
                d.name,
                d.failures()
            ));
            continue;
        }
        let (fixed, per) = step_cost(m);
        let ratio = cpu_per / per;
        if per >= cpu_per {
            lines.push(format!(
                "{}: the CPU backend is faster at every model size ({ratio:.2}x the CPU's \
                 throughput per parameter, {:.0} us more fixed cost per step): use Device::cpu()",
                d.name,
                (fixed - cpu_fixed) * 1e6
            ));
        } else {
            let crossover = ((fixed - cpu_fixed) / (cpu_per - per)).max(0.0);
            lines.push(format!(
                "{}: below ~{} parameters (batch {MODEL_BATCH}) the CPU wins; above, this \
                 device ({ratio:.1}x the CPU's throughput per parameter, {:.0} us fixed cost per step)",
                d.name,
                human(crossover),
                fixed * 1e6
            ));
        }
    }
    if !any {
        lines.push("no GPU device ran: use the CPU backend (Device::cpu())".into());
    }
    lines
}

fn human(n: f64) -> String {
    match n {
        n if n >= 1e9 => format!("{:.1}G", n / 1e9),
        n if n >= 1e6 => format!("{:.1}M", n / 1e6),
        n if n >= 1e3 => format!("{:.0}k", n / 1e3),
        n => format!("{n:.0}"),
    }
}
