//! `downhill-doctor`: what a user with a new GPU or driver runs first.
//!
//! [`run`] lists every adapter wgpu sees, opens each (one that fails to open is reported,
//! not a crash), checks every op of the [`Backend`](crate::Backend) trait and every
//! optimizer against the CPU backend with the test suite's tolerances ([`tolerance`]),
//! measures dispatch latency, matmul GFLOP/s and Adam-step GB/s on each device and on the
//! CPU, and recommends a device per model size. The binary (`cargo run --release --bin
//! downhill-doctor`) is [`main`]; its exit status is [`Report::exit_code`]:
//!
//! - `0`: every parity check passed on every GPU device that opened;
//! - `1`: a parity check failed (the report names the op, the worst element, both values
//!   and the tolerance);
//! - `2`: no GPU device could run the checks (none found, or none opened);
//! - `3`: bad command-line arguments.
//!
//! The checks report which backend methods they reached (through a counting [`Probe`]
//! around the device) and which optimizer kernels ran, so a gap shows in the report.

mod adapters;
mod direct;
mod harness;
mod measure;
mod ops;
mod ops_layers;
mod ops_matmul;
mod optimizers;
mod probe;
mod report;
pub mod tolerance;

pub use adapters::{AdapterReport, DeviceReport};
pub use harness::Group;
pub use measure::{measure, step_cost, MeasureSizes, Measurements, ADAM_BYTES_PER_PARAM};
pub use probe::Probe;
pub use report::{recommend, Report};

use crate::Device;
use std::sync::Arc;
use std::time::Instant;

/// How much the doctor does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// Parity checks and small measurements (a few seconds on lavapipe).
    Quick,
    /// Parity checks and the measurements of the README (matmul 256³ and 1024³, Adam over
    /// 4M parameters).
    #[default]
    Standard,
    /// Larger measurements (matmul up to 2048³, Adam over 16M parameters, as the benchmark;
    /// about a minute on a loaded lavapipe).
    Full,
}

impl Mode {
    /// The measurement sizes of this mode.
    pub fn sizes(&self) -> MeasureSizes {
        match self {
            Mode::Quick => MeasureSizes {
                dispatches: 100,
                matmul: vec![256],
                adam_params: 1 << 20,
            },
            Mode::Standard => MeasureSizes {
                dispatches: 200,
                matmul: vec![256, 1024],
                adam_params: 1 << 22,
            },
            Mode::Full => MeasureSizes {
                dispatches: 500,
                matmul: vec![256, 1024, 2048],
                adam_params: 1 << 24,
            },
        }
    }
}

/// What to run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Options {
    /// How much to measure.
    pub mode: Mode,
    /// Print JSON instead of text.
    pub json: bool,
    /// Only adapters whose name contains this (case-insensitive).
    pub adapter: Option<String>,
    /// Skip the measurements (parity only).
    pub no_measure: bool,
    /// Self-test: make this backend method (a name of [`Probe::methods`]) return a wrong
    /// result on every GPU device, to see the checks catch it.
    pub inject: Option<String>,
}

/// The usage text of the binary.
pub const USAGE: &str = "usage: downhill-doctor [--quick | --full] [--json] [--no-measure] \
[--adapter <name>] [--inject <backend method>]
  --quick       small measurements (parity checks unchanged)
  --full        larger measurements (matmul up to 2048^3, Adam over 16M parameters)
  --json        machine-readable report on stdout
  --no-measure  parity checks only
  --adapter     only adapters whose name contains <name>
  --inject      self-test: make one backend method wrong on every GPU device
exit status: 0 all parity checks passed, 1 a check failed, 2 no GPU device could run,
3 bad arguments";

impl Options {
    /// Parses the binary's arguments (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> crate::Result<Options> {
        let mut o = Options::default();
        let mut args = args.into_iter();
        while let Some(a) = args.next() {
            let mut value = |flag: &str| {
                args.next()
                    .ok_or_else(|| crate::Error::Config(format!("{flag} needs a value")))
            };
            match a.as_str() {
                "--quick" => o.mode = Mode::Quick,
                "--full" => o.mode = Mode::Full,
                "--json" => o.json = true,
                "--no-measure" => o.no_measure = true,
                "--adapter" => o.adapter = Some(value("--adapter")?),
                "--inject" => {
                    let m = value("--inject")?;
                    if !Probe::methods().contains(&m.as_str()) {
                        return Err(crate::Error::Config(format!(
                            "--inject {m:?}: not a backend method; one of {:?}",
                            Probe::methods()
                        )));
                    }
                    o.inject = Some(m);
                }
                other => return Err(crate::Error::Config(format!("unknown argument {other:?}"))),
            }
        }
        Ok(o)
    }
}

/// Runs the parity checks of every op and optimizer on `gpu` against `cpu`, through a
/// counting [`Probe`] (perturbing `inject`, if given), and measures `gpu` unless
/// `sizes` is `None`.
pub fn check_device(
    cpu: &Device,
    gpu: Arc<dyn crate::Backend>,
    inject: Option<&str>,
    sizes: Option<&MeasureSizes>,
) -> DeviceReport {
    let started = Instant::now();
    let probe = Arc::new(match inject {
        Some(m) => Probe::perturbing(gpu.clone(), m),
        None => Probe::new(gpu.clone()),
    });
    let device = Device::new(probe.clone());
    let mut groups = Vec::new();
    let timed = |f: &mut dyn FnMut() -> Group| {
        let t = Instant::now();
        let mut g = f();
        g.ms = t.elapsed().as_secs_f64() * 1e3;
        g
    };
    for (name, cases) in ops::tables() {
        groups.push(timed(&mut || {
            let mut g = Group::new(name);
            g.run_cases(cpu, &device, &cases);
            g
        }));
    }
    groups.push(timed(&mut || direct::check(cpu, &device)));
    groups.push(timed(&mut || optimizers::check(cpu, &device)));
    let calls = probe.calls();
    let uncovered = Probe::methods()
        .into_iter()
        .filter(|m| !calls.contains_key(m))
        .collect();
    let kernels = probe.kernels();
    let kernels_missing = optimizer_kernels()
        .into_iter()
        .filter(|k| !kernels.contains_key(k))
        .collect();
    let raw = Device::new(gpu.clone());
    let measurements = sizes.map(|s| measure(&raw, s).map_err(|e| e.to_string()));
    DeviceReport {
        name: gpu.name(),
        describe: gpu.describe(),
        groups,
        uncovered,
        kernels_run: kernels.len(),
        kernels_missing,
        measurements,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// Every optimizer kernel of the library: the elementwise rules' and the tensorwise ones'
/// (`crates/core/src/optim/mod.rs`'s tables). Muon composes other ops and L-BFGS steps
/// with a closure; the doctor checks both by name.
pub fn optimizer_kernels() -> Vec<String> {
    let mut k: Vec<String> = crate::optim::RULE_LAYOUTS
        .iter()
        .map(|l| l.kernel.to_string())
        .collect();
    k.extend(
        crate::optim::TENSORWISE_LAYOUTS
            .iter()
            .map(|(l, _)| l.kernel.to_string()),
    );
    k
}

/// The names of the optimizers the doctor steps (its table, and L-BFGS).
pub fn optimizer_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = optimizers::table().into_iter().map(|(n, _, _)| n).collect();
    names.push("L-BFGS");
    names
}

/// Lists the adapters, checks and measures each GPU device and the CPU, and recommends.
pub fn run(options: &Options) -> Report {
    adapters::run(options)
}

/// The binary: parses `args` (without the program name), runs, prints the report (text or
/// JSON) on stdout, and returns the exit status.
pub fn main(args: impl IntoIterator<Item = String>) -> i32 {
    let options = match Options::parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("downhill-doctor: {e}\n{USAGE}");
            return 3;
        }
    };
    let report = run(&options);
    if options.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report.to_json()).unwrap_or_default()
        );
    } else {
        print!("{}", report.to_text());
    }
    report.exit_code()
}
