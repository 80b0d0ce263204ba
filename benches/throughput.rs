//! Throughput benchmarks W1–W5 on the CPU and the GPU backend, in one process.
//!
//! ```sh
//! cargo bench --bench throughput                    # every workload, both backends
//! cargo bench --bench throughput -- w3              # workloads whose name contains "w3"
//! cargo bench --bench throughput -- --backend gpu   # one backend (cpu or gpu)
//! ```
//!
//! | id | workload | figure |
//! |---|---|---|
//! | W1 `seed_mlp` | the `keras_mlp` example: 1000×20, Dense 64 relu → 1 sigmoid, BCE, SGD 0.01, batch 32, 50 epochs | seconds for the whole fit (better of two) |
//! | W2 `mlp_wide` | 784-512-512-10 relu MLP, softmax cross-entropy on logits, Adam 1e-3, batch 128 | training samples per second |
//! | W3 `adam_step` | one Adam step over 16,777,216 parameters | ms per step, GB/s at 28 bytes per parameter |
//! | W4 `matmul` | 1024×1024 · 1024×1024, f32 | GFLOP/s (2·n³ flops per product) |
//! | W5 `cnn` | the `cnn_digits` example's CNN on the 8×8 digits, Adam, batch 32 | training images per second; conv2d's share of a step and its GFLOP/s |
//!
//! Each result is one JSON line on stdout (`{"workload":...,"backend":...,"value":...}`);
//! a readable table follows at the end, then the GPU's per-step work counters for W1.
//! Progress and notes go to stderr. Timings synchronise with a one-element read-back, so
//! GPU work that was only recorded is counted. The GPU is skipped, with a note, when
//! `Device::gpu()` fails.

use downhill::prelude::*;
use downhill::random::SeededRng;
use downhill::{BackendKind, DeviceStats};
use ndarray::{s, Array2};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[path = "../examples/models/digits.rs"]
mod digits;
#[path = "workloads/telemetry_cost.rs"]
mod telemetry_cost;
#[path = "workloads/w5_cnn.rs"]
mod w5_cnn;

type Res<T> = anyhow::Result<T>;

// ---------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------

struct Args {
    /// Substrings a workload's name must contain (any of them); empty: every workload.
    filters: Vec<String>,
    cpu: bool,
    gpu: bool,
}

const USAGE: &str = "usage: cargo bench --bench throughput [-- [FILTER...] [--backend cpu|gpu]]
  FILTER     run only workloads whose name contains it (w1_seed_mlp, w2_mlp_wide,
             w3_adam_step, w4_matmul, w5_cnn; e.g. `w3` or `matmul`)
  --backend  cpu, gpu or both (default both)";

fn parse_args() -> Res<Args> {
    let mut args = Args {
        filters: Vec::new(),
        cpu: true,
        gpu: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let backend = if arg == "--backend" {
            Some(
                it.next()
                    .ok_or_else(|| anyhow::anyhow!("--backend needs a value\n{USAGE}"))?,
            )
        } else {
            arg.strip_prefix("--backend=").map(str::to_string)
        };
        if let Some(b) = backend {
            (args.cpu, args.gpu) = match b.to_ascii_lowercase().as_str() {
                "cpu" => (true, false),
                "gpu" => (false, true),
                "both" | "all" => (true, true),
                other => anyhow::bail!("unknown backend {other:?}\n{USAGE}"),
            };
        } else if arg == "-h" || arg == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        } else if arg.starts_with('-') {
            // `cargo bench` passes `--bench`; other libtest flags are accepted and ignored.
        } else {
            args.filters.push(arg.to_ascii_lowercase());
        }
    }
    Ok(args)
}

// ---------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------

struct Record {
    workload: &'static str,
    backend: &'static str,
    adapter: String,
    value: f64,
    unit: &'static str,
    /// The issue's target, as text.
    target: String,
    meets_target: bool,
    extra: Value,
}

impl Record {
    /// One JSON object, keys in a fixed order (workload first).
    fn json_line(&self) -> String {
        let fields = [
            ("workload", json!(self.workload)),
            ("backend", json!(self.backend)),
            ("adapter", json!(self.adapter)),
            ("value", json!(round(self.value, 4))),
            ("unit", json!(self.unit)),
            ("target", json!(self.target)),
            ("meets_target", json!(self.meets_target)),
            ("extra", self.extra.clone()),
        ];
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{}:{v}", json!(k)))
            .collect();
        format!("{{{}}}", body.join(","))
    }
}

/// Rounds to `digits` significant digits (keeps the JSON readable).
fn round(v: f64, digits: i32) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let scale = 10f64.powi(digits - 1 - v.abs().log10().floor() as i32);
    (v * scale).round() / scale
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn backend_label(device: &Device) -> &'static str {
    match device.kind() {
        BackendKind::Cpu => "cpu",
        BackendKind::Gpu => "gpu",
    }
}

/// Waits for every recorded op by reading back one element of `t`.
fn sync(t: &Tensor) -> Res<()> {
    t.device().backend().download(&t.storage().slice(0, 1)?)?;
    Ok(())
}

/// Work counters per step as JSON (all zero on the CPU, which does not track them).
fn counters_per(d: &DeviceStats, steps: usize) -> Value {
    let per = |v: u64| round(v as f64 / steps as f64, 4);
    json!({
        "steps": steps,
        "dispatches": per(d.dispatches),
        "submissions": per(d.submissions),
        "buffer_allocations": per(d.buffer_allocations),
        "bytes_uploaded": per(d.bytes_uploaded),
        "bytes_downloaded": per(d.bytes_downloaded),
        "bind_groups_created": per(d.bind_groups_created),
        "bytes_copied": per(d.bytes_copied),
    })
}

/// `a - b` field by field, signed (a first fit may allocate more than a second).
fn stats_diff(a: &DeviceStats, b: &DeviceStats) -> [i64; 7] {
    [
        a.dispatches as i64 - b.dispatches as i64,
        a.submissions as i64 - b.submissions as i64,
        a.buffer_allocations as i64 - b.buffer_allocations as i64,
        a.bytes_uploaded as i64 - b.bytes_uploaded as i64,
        a.bytes_downloaded as i64 - b.bytes_downloaded as i64,
        a.bind_groups_created as i64 - b.bind_groups_created as i64,
        a.bytes_copied as i64 - b.bytes_copied as i64,
    ]
}

// ---------------------------------------------------------------------------------------
// W1 seed_mlp
// ---------------------------------------------------------------------------------------

const W1_ROWS: usize = 1000;
const W1_BATCH: usize = 32;
const W1_EPOCHS: usize = 50;

/// The `keras_mlp` example's data (same seed, same draws).
fn seed_data() -> Res<Dataset> {
    let mut rng = SeededRng::new(0);
    let x = Array2::from_shape_simple_fn((W1_ROWS, 20), || rng.uniform(0.0, 1.0));
    let y =
        Array2::from_shape_simple_fn((W1_ROWS, 1), || (rng.uniform(0.0, 1.0) < 0.5) as u8 as f32);
    Ok(Dataset::new(x, y)?)
}

fn seed_model(device: &Device) -> Sequential {
    Sequential::new(device)
        .dense(20, 64, Activation::Relu)
        .dense(64, 1, Activation::Sigmoid)
}

fn seed_config(epochs: usize) -> FitConfig {
    FitConfig {
        epochs,
        batch_size: W1_BATCH,
        metrics: vec![Metric::Accuracy],
        verbose: 0,
        ..Default::default()
    }
}

/// Per-step counters of W1 on the GPU, kept for the summary at the end.
struct StepCounters {
    per_step: [f64; 7],
    per_fit_overhead: [i64; 7],
    steps_per_epoch: usize,
}

fn w1_seed_mlp(device: &Device, counters: &mut Option<StepCounters>) -> Res<Record> {
    let data = seed_data()?;

    // The fit as the example runs it: the first training in this process on this device
    // (on a GPU it includes compiling the pipelines it needs).
    let mut model = seed_model(device);
    let cold_before = device.stats();
    let started = Instant::now();
    let history = model.fit(
        &data,
        Loss::BinaryCrossEntropy,
        Sgd::new(0.01),
        seed_config(W1_EPOCHS),
    )?;
    let cold = started.elapsed().as_secs_f64();
    let cold_counters = device.stats().since(&cold_before);
    let first_epoch = history.seconds[0];
    let median_epoch = median(&history.seconds);

    // The same fit again, everything warm.
    let mut model = seed_model(device);
    let started = Instant::now();
    let history_warm = model.fit(
        &data,
        Loss::BinaryCrossEntropy,
        Sgd::new(0.01),
        seed_config(W1_EPOCHS),
    )?;
    let warm = started.elapsed().as_secs_f64();

    // The same fit with the progress bar of verbose 1 running (its bookkeeping and its
    // read-backs of the running figures, up to 5 a second; the terminal drawing itself is
    // not counted where stdout is no terminal).
    std::env::set_var("DOWNHILL_PROGRESS", "bar");
    let mut model = seed_model(device);
    let started = Instant::now();
    let bar_history = model.fit(
        &data,
        Loss::BinaryCrossEntropy,
        Sgd::new(0.01),
        FitConfig {
            verbose: 1,
            ..seed_config(W1_EPOCHS)
        },
    )?;
    let with_bar = started.elapsed().as_secs_f64();
    std::env::remove_var("DOWNHILL_PROGRESS");
    if bar_history.records != history_warm.records {
        anyhow::bail!("W1 with the progress bar trained differently");
    }

    // Work of one steady epoch: fit(2 epochs) minus fit(1 epoch) with a kept optimizer,
    // which leaves out what every fit does once (uploading the data set).
    let steps = W1_ROWS.div_ceil(W1_BATCH);
    let params = model.parameters()?;
    let refs: Vec<&Tensor> = params.iter().collect();
    let mut opt = Sgd::new(0.01).build(&refs)?;
    model.fit_with(&data, Loss::BinaryCrossEntropy, &mut opt, seed_config(1))?; // warm-up
    let s0 = device.stats();
    model.fit_with(&data, Loss::BinaryCrossEntropy, &mut opt, seed_config(1))?;
    let s1 = device.stats();
    model.fit_with(&data, Loss::BinaryCrossEntropy, &mut opt, seed_config(2))?;
    let s2 = device.stats();
    let one = stats_diff(&s1, &s0);
    let two = stats_diff(&s2, &s1);
    let epoch: [i64; 7] = std::array::from_fn(|i| two[i] - one[i]);
    let per_step: [f64; 7] = epoch.map(|v| v as f64 / steps as f64);
    let overhead: [i64; 7] = std::array::from_fn(|i| one[i] - epoch[i]);

    let gpu = device.kind() == BackendKind::Gpu;
    let mut extra = json!({
        "fit_seconds_first_in_process": round(cold, 4),
        "fit_seconds_warm": round(warm, 4),
        "fit_seconds_verbose1_bar": round(with_bar, 4),
        "bar_to_silent_ratio": round(with_bar / warm, 3),
        "fit_seconds_outside_epochs": round(cold - history.seconds.iter().sum::<f64>(), 4),
        "epoch1_seconds": round(first_epoch, 4),
        "median_epoch_seconds": round(median_epoch, 4),
        "first_to_steady_epoch_ratio": round(first_epoch / median_epoch, 3),
        "warm_median_epoch_seconds": round(median(&history_warm.seconds), 4),
        "steps_per_epoch": steps,
        "final_loss": round(history.records.last().map_or(f64::NAN, |r| r.loss as f64), 4),
    });
    if gpu {
        let names = [
            "dispatches",
            "submissions",
            "buffer_allocations",
            "bytes_uploaded",
            "bytes_downloaded",
            "bind_groups_created",
            "bytes_copied",
        ];
        let mut step = serde_json::Map::new();
        let mut fit = serde_json::Map::new();
        for (i, name) in names.iter().enumerate() {
            step.insert(name.to_string(), json!(round(per_step[i], 4)));
            fit.insert(name.to_string(), json!(overhead[i]));
        }
        extra["per_steady_step"] = Value::Object(step);
        extra["per_fit_once"] = Value::Object(fit);
        extra["first_fit_totals"] = json!({
            "dispatches": cold_counters.dispatches,
            "submissions": cold_counters.submissions,
            "buffer_allocations": cold_counters.buffer_allocations,
            "bytes_uploaded": cold_counters.bytes_uploaded,
            "bytes_downloaded": cold_counters.bytes_downloaded,
            "bind_groups_created": cold_counters.bind_groups_created,
            "bytes_copied": cold_counters.bytes_copied,
        });
        *counters = Some(StepCounters {
            per_step,
            per_fit_overhead: overhead,
            steps_per_epoch: steps,
        });
    }
    extra["telemetry"] = telemetry_cost::telemetry_cost(3, |telemetry| {
        let mut model = seed_model(device);
        let started = Instant::now();
        let config = FitConfig {
            telemetry,
            ..seed_config(W1_EPOCHS)
        };
        model.fit(&data, Loss::BinaryCrossEntropy, Sgd::new(0.01), config)?;
        Ok(started.elapsed().as_secs_f64())
    })?;
    // The better of the two fits: noise on a shared machine only ever adds time.
    let best = cold.min(warm);
    let limit = if gpu { 3.0 } else { 0.3 };
    Ok(Record {
        workload: "w1_seed_mlp",
        backend: backend_label(device),
        adapter: device.name(),
        value: best,
        unit: "s/fit",
        target: format!("<= {limit} s"),
        meets_target: best <= limit,
        extra,
    })
}

// ---------------------------------------------------------------------------------------
// W2 mlp_wide
// ---------------------------------------------------------------------------------------

const W2_SAMPLES: usize = 8192;
const W2_WARMUP_SAMPLES: usize = 1024;
const W2_BATCH: usize = 128;
/// The timed epoch is cut (in whole batches, down to the warm-up's size) so that it takes
/// about this long at the rate the warm-up showed.
const W2_BUDGET: Duration = Duration::from_secs(5);

fn w2_data() -> (Array2<f32>, Array2<f32>) {
    let mut rng = SeededRng::new(2);
    let x = Array2::from_shape_simple_fn((W2_SAMPLES, 784), || rng.uniform(0.0, 1.0));
    let y = Array2::from_shape_simple_fn((W2_SAMPLES, 1), || {
        ((rng.uniform(0.0, 10.0) as usize).min(9)) as f32
    });
    (x, y)
}

fn w2_mlp_wide(device: &Device, data: &(Array2<f32>, Array2<f32>)) -> Res<Record> {
    let subset = |n: usize| -> Res<Dataset> {
        Ok(Dataset::new(
            data.0.slice(s![..n, ..]).to_owned(),
            data.1.slice(s![..n, ..]).to_owned(),
        )?)
    };
    let mut model = Sequential::new(device)
        .dense(784, 512, Activation::Relu)
        .dense(512, 512, Activation::Relu)
        .dense(512, 10, Activation::Linear);
    let params = model.parameters()?;
    let refs: Vec<&Tensor> = params.iter().collect();
    let mut opt = Adam::new(1e-3).build(&refs)?;
    let config = || FitConfig {
        epochs: 1,
        batch_size: W2_BATCH,
        verbose: 0,
        ..Default::default()
    };
    let loss = Loss::SparseCategoricalCrossEntropy;

    // Warm-up epoch (pipelines, pools, allocator), not counted.
    let warm_data = subset(W2_WARMUP_SAMPLES)?;
    let started = Instant::now();
    model.fit_with(&warm_data, loss, &mut opt, config())?;
    let warm_rate = W2_WARMUP_SAMPLES as f64 / started.elapsed().as_secs_f64();
    let affordable = (warm_rate * W2_BUDGET.as_secs_f64()) as usize / W2_BATCH * W2_BATCH;
    let samples = affordable.clamp(W2_WARMUP_SAMPLES, W2_SAMPLES);
    let timed_data = if samples == W2_SAMPLES {
        Dataset::new(data.0.clone(), data.1.clone())?
    } else {
        eprintln!(
            "  note: w2 on {}: warm-up ran {warm_rate:.0} samples/s, so the timed epoch uses \
             {samples} of the {W2_SAMPLES} samples",
            backend_label(device)
        );
        subset(samples)?
    };

    let before = device.stats();
    let started = Instant::now();
    let history = model.fit_with(&timed_data, loss, &mut opt, config())?;
    let seconds = started.elapsed().as_secs_f64();
    let delta = device.stats().since(&before);
    let rate = samples as f64 / seconds;
    let steps = samples.div_ceil(W2_BATCH);
    let gpu = device.kind() == BackendKind::Gpu;
    let mut extra = json!({
        "samples_timed": samples,
        "epoch_seconds": round(seconds, 4),
        "steps": steps,
        "ms_per_step": round(seconds * 1e3 / steps as f64, 4),
        "warmup_samples_per_s": round(warm_rate, 4),
        "gflop_per_s": round(w2_flops_per_sample() * rate / 1e9, 4),
        "loss": round(history.records[0].loss as f64, 4),
    });
    if samples < W2_SAMPLES {
        extra["note"] = json!(format!(
            "timed on {samples} of {W2_SAMPLES} samples to keep the run short"
        ));
    }
    if gpu {
        extra["per_step"] = counters_per(&delta, steps);
        extra["per_step"]["note"] = json!(
            "the timed fit_with uploads the data set once (samples x 784 floats, 2 buffers), \
             included here"
        );
    }
    // Epochs over the timed data, with and without telemetry (the optimizer goes on).
    let rounds = if gpu { 1 } else { 2 };
    extra["telemetry"] = telemetry_cost::telemetry_cost(rounds, |telemetry| {
        let started = Instant::now();
        let config = FitConfig {
            telemetry,
            ..config()
        };
        model.fit_with(&timed_data, loss, &mut opt, config)?;
        Ok(started.elapsed().as_secs_f64())
    })?;
    let limit = if gpu { 500.0 } else { 8000.0 };
    Ok(Record {
        workload: "w2_mlp_wide",
        backend: backend_label(device),
        adapter: device.name(),
        value: rate,
        unit: "samples/s",
        target: format!(">= {limit} samples/s"),
        meets_target: rate >= limit,
        extra,
    })
}

/// Forward + backward flops of the three matmuls per training sample (backward: the
/// gradients of inputs and weights, except the first layer's input).
fn w2_flops_per_sample() -> f64 {
    let layers = [(784.0, 512.0), (512.0, 512.0), (512.0, 10.0)];
    layers
        .iter()
        .enumerate()
        .map(|(i, (a, b))| {
            let mm = 2.0 * a * b;
            if i == 0 {
                2.0 * mm
            } else {
                3.0 * mm
            }
        })
        .sum()
}

// ---------------------------------------------------------------------------------------
// W3 adam_step
// ---------------------------------------------------------------------------------------

const W3_PARAMS: usize = 1 << 24;
/// Bytes an Adam update moves per parameter: reads p, g, m, v; writes p, m, v.
const W3_BYTES_PER_PARAM: f64 = 28.0;
const W3_RUNS: usize = 5;
const W3_STEPS_PER_RUN: usize = 4;

fn w3_adam_step(device: &Device) -> Res<Record> {
    let p = Tensor::full(device, [W3_PARAMS], 0.5)?.param();
    let mut opt = Adam::new(1e-3).build(&[&p])?;
    // d/dp sum(2p) = 2 everywhere: computed once, reused for every step.
    let grads = (&p * 2.0)?.sum()?.backward()?;
    sync(&p)?;
    let in_place = opt.param_set().flat_grads().same_view(
        &grads
            .get(&p)
            .ok_or_else(|| anyhow::anyhow!("no gradient for the parameter"))?
            .storage(),
    );

    for _ in 0..2 {
        opt.step(&grads)?;
    }
    sync(&p)?;

    let before = device.stats();
    let mut runs = Vec::with_capacity(W3_RUNS);
    for _ in 0..W3_RUNS {
        let started = Instant::now();
        for _ in 0..W3_STEPS_PER_RUN {
            opt.step(&grads)?;
        }
        sync(&p)?;
        runs.push(started.elapsed().as_secs_f64() * 1e3 / W3_STEPS_PER_RUN as f64);
    }
    let delta = device.stats().since(&before);
    let ms = median(&runs);

    let gbs = W3_BYTES_PER_PARAM * W3_PARAMS as f64 / (ms / 1e3) / 1e9;
    let gpu = device.kind() == BackendKind::Gpu;
    let mut extra = json!({
        "params": W3_PARAMS,
        "gb_per_s": round(gbs, 4),
        "bytes_per_param": W3_BYTES_PER_PARAM,
        "runs_ms_per_step": runs.iter().map(|&v| round(v, 4)).collect::<Vec<_>>(),
        "steps_per_run": W3_STEPS_PER_RUN,
        "gradient_in_place": in_place,
        "note": "backward wrote the gradient into the optimizer's flat gradient buffer, \
                 so a step reads it in place (no copy: bytes_copied per step on the GPU)",
    });
    if gpu {
        extra["per_step"] = counters_per(&delta, W3_RUNS * W3_STEPS_PER_RUN);
    }
    let (min_gbs, max_ms) = if gpu {
        (6.0, 80.0)
    } else {
        (15.0, W3_BYTES_PER_PARAM * W3_PARAMS as f64 / 15e9 * 1e3)
    };
    Ok(Record {
        workload: "w3_adam_step",
        backend: backend_label(device),
        adapter: device.name(),
        value: ms,
        unit: "ms/step",
        target: format!(">= {min_gbs} GB/s (<= {max_ms:.0} ms/step)"),
        meets_target: gbs >= min_gbs,
        extra,
    })
}

// ---------------------------------------------------------------------------------------
// W4 matmul
// ---------------------------------------------------------------------------------------

const W4_N: usize = 1024;
const W4_MIN_REPS: usize = 3;
const W4_MAX_REPS: usize = 50;
const W4_BUDGET: Duration = Duration::from_secs(3);

fn w4_matmul(device: &Device) -> Res<Record> {
    let a = Tensor::rand_uniform(device, [W4_N, W4_N], -1.0, 1.0, 1)?;
    let b = Tensor::rand_uniform(device, [W4_N, W4_N], -1.0, 1.0, 2)?;
    sync(&a.matmul(&b)?)?; // warm-up

    let before = device.stats();
    let mut reps = Vec::new();
    let started = Instant::now();
    while reps.len() < W4_MIN_REPS || (reps.len() < W4_MAX_REPS && started.elapsed() < W4_BUDGET) {
        let t = Instant::now();
        sync(&a.matmul(&b)?)?;
        reps.push(t.elapsed().as_secs_f64());
    }
    let delta = device.stats().since(&before);
    let seconds = median(&reps);
    let flops = 2.0 * (W4_N as f64).powi(3);
    let gflops = flops / seconds / 1e9;
    let gpu = device.kind() == BackendKind::Gpu;
    let mut extra = json!({
        "n": W4_N,
        "ms_per_matmul": round(seconds * 1e3, 4),
        "reps": reps.len(),
        "best_gflop_per_s": round(flops / reps.iter().copied().fold(f64::INFINITY, f64::min) / 1e9, 4),
    });
    if gpu {
        extra["per_matmul"] = counters_per(&delta, reps.len());
        // The kernel and how it was chosen (measured at open, cached, DOWNHILL_MATMUL, default).
        let description = device.describe();
        if let Some((_, kernel)) = description.split_once("matmul kernel ") {
            extra["matmul_kernel"] = json!(kernel);
        }
    }
    let limit = if gpu { 2.5 } else { 40.0 };
    Ok(Record {
        workload: "w4_matmul",
        backend: backend_label(device),
        adapter: device.name(),
        value: gflops,
        unit: "GFLOP/s",
        target: format!(">= {limit} GFLOP/s"),
        meets_target: gflops >= limit,
        extra,
    })
}

// ---------------------------------------------------------------------------------------
// Driver
// ---------------------------------------------------------------------------------------

const WORKLOADS: [&str; 5] = [
    "w1_seed_mlp",
    "w2_mlp_wide",
    "w3_adam_step",
    "w4_matmul",
    "w5_cnn",
];

fn main() -> Res<()> {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let selected: Vec<&str> = WORKLOADS
        .iter()
        .copied()
        .filter(|w| args.filters.is_empty() || args.filters.iter().any(|f| w.contains(f)))
        .collect();
    if selected.is_empty() {
        eprintln!("no workload matches {:?}\n{USAGE}", args.filters);
        std::process::exit(2);
    }

    let mut devices = Vec::new();
    if args.cpu {
        devices.push(Device::cpu());
    }
    let mut notes = Vec::new();
    if args.gpu {
        match Device::gpu() {
            Ok(d) => devices.push(d),
            Err(e) => {
                let note = format!("GPU skipped: {e}");
                eprintln!("{note}");
                notes.push(note);
            }
        }
    }
    for d in &devices {
        eprintln!("device: {}", d.describe());
    }

    let w2_data = selected.contains(&"w2_mlp_wide").then(w2_data);
    let mut records = Vec::new();
    let mut counters = None;
    let total = Instant::now();
    for &workload in &selected {
        for device in &devices {
            eprintln!("running {workload} on {}...", backend_label(device));
            let started = Instant::now();
            let result = match workload {
                "w1_seed_mlp" => w1_seed_mlp(device, &mut counters),
                "w2_mlp_wide" => w2_mlp_wide(device, w2_data.as_ref().expect("w2 data")),
                "w3_adam_step" => w3_adam_step(device),
                "w4_matmul" => w4_matmul(device),
                "w5_cnn" => w5_cnn::w5_cnn(device),
                _ => unreachable!(),
            };
            match result {
                Ok(record) => {
                    println!("{}", record.json_line());
                    records.push(record);
                }
                Err(e) => {
                    let note = format!("{workload} on {} failed: {e}", backend_label(device));
                    eprintln!("{note}");
                    notes.push(note);
                }
            }
            eprintln!("  ({:.1} s)", started.elapsed().as_secs_f64());
        }
    }

    print_table(&records);
    if let Some(c) = &counters {
        print_counters(c);
    }
    for note in &notes {
        println!("note: {note}");
    }
    println!("total run time {:.1} s", total.elapsed().as_secs_f64());
    Ok(())
}

fn print_table(records: &[Record]) {
    println!();
    println!(
        "{:<14} {:<4} {:>12} {:<10} {:<30} {:<4} detail",
        "workload", "dev", "value", "unit", "target", "met"
    );
    println!("{}", "-".repeat(100));
    for r in records {
        let detail = match r.workload {
            "w1_seed_mlp" => format!(
                "fits {:.3} s (first) / {:.3} s, epoch1/median {:.1}x",
                r.extra["fit_seconds_first_in_process"]
                    .as_f64()
                    .unwrap_or(f64::NAN),
                r.extra["fit_seconds_warm"].as_f64().unwrap_or(f64::NAN),
                r.extra["first_to_steady_epoch_ratio"]
                    .as_f64()
                    .unwrap_or(f64::NAN)
            ),
            "w2_mlp_wide" => format!(
                "{} samples timed, {:.1} GFLOP/s",
                r.extra["samples_timed"],
                r.extra["gflop_per_s"].as_f64().unwrap_or(f64::NAN)
            ),
            "w3_adam_step" => format!(
                "{:.2} GB/s; of a step, grad copy {:.1} ms",
                r.extra["gb_per_s"].as_f64().unwrap_or(f64::NAN),
                r.extra["grad_copy_ms"].as_f64().unwrap_or(f64::NAN)
            ),
            "w4_matmul" => format!(
                "{:.1} ms per product",
                r.extra["ms_per_matmul"].as_f64().unwrap_or(f64::NAN)
            ),
            "w5_cnn" => format!(
                "step {:.2} ms, conv2d {:.0} % of it at {:.2} GFLOP/s",
                r.extra["step_ms"].as_f64().unwrap_or(f64::NAN),
                100.0 * r.extra["conv2d_share"].as_f64().unwrap_or(f64::NAN),
                r.extra["conv2d_gflop_per_s"].as_f64().unwrap_or(f64::NAN)
            ),
            _ => String::new(),
        };
        println!(
            "{:<14} {:<4} {:>12} {:<10} {:<30} {:<4} {}",
            r.workload,
            r.backend,
            format!("{}", round(r.value, 4)),
            r.unit,
            r.target,
            if r.meets_target { "yes" } else { "NO" },
            detail
        );
    }
    let mut adapters: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r.backend, r.adapter.as_str()))
        .collect();
    adapters.sort();
    adapters.dedup();
    for (backend, adapter) in adapters {
        println!("{backend}: {adapter}");
    }
}

fn print_counters(c: &StepCounters) {
    let [d, s, a, up, down, bg, cp] = c.per_step;
    println!();
    println!(
        "W1 on the GPU, per steady training step (one steady epoch of {} steps, divided):",
        c.steps_per_epoch
    );
    println!(
        "  dispatches {d:.2}, submissions {s:.2}, buffer allocations {a:.2}, \
         bytes uploaded {up:.1}, bytes downloaded {down:.1}, bind groups created {bg:.2}, bytes copied {cp:.1}"
    );
    let [d, s, a, up, down, bg, cp] = c.per_fit_overhead;
    println!(
        "  once per fit besides: dispatches {d}, submissions {s}, buffer allocations {a}, \
         bytes uploaded {up}, bytes downloaded {down}, bind groups created {bg}, bytes copied {cp}"
    );
}
