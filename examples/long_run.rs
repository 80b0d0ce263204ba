//! Long-run memory check: trains a 16→64→1 MLP for many steps and reports the process's
//! resident set size (RSS) at the start, after a warm-up and at the end, so a leak per
//! step shows up as growth between the last two (issue 7).
//!
//! ```sh
//! cargo run --release --example long_run -- --backend gpu              # 20,000 steps
//! cargo run --release --example long_run -- --backend cpu              # 100,000 steps
//! cargo run --release --example long_run -- --backend gpu --steps 5000 --loss ce
//! ```
//!
//! Options: `--backend cpu|gpu`, `--steps N` (default 20,000 on the GPU, 100,000 on the
//! CPU), `--warmup N` (default 1,000), `--every N` (an RSS line every N steps, default
//! steps / 10), `--loss mse|bce|ce` (default mse; bce is binary cross-entropy of logits,
//! ce softmax cross-entropy over 4 classes, so a 16→64→4 MLP), `--batch N` (default 32),
//! `--fit`. "Start" is RSS just after the device opened.
//!
//! Each step is what `fit` does inside an epoch: forward, fused loss, backward, one
//! optimizer step (one submission on the GPU), no read-back. With `--fit` the steps are
//! `Sequential::fit_with` itself (1,024 random rows, so 32 steps an epoch at batch 32,
//! accuracy metric, one read-back an epoch), called once per report with whole epochs.
//! One JSON line per report (each after a read-back, so the work is done) goes to
//! stdout, then a readable summary. RSS is `VmRSS` from
//! `/proc/self/status` (Linux; reported as 0 elsewhere).

use downhill::prelude::*;
use downhill::random::SeededRng;
use ndarray::Array2;
use serde_json::json;
use std::time::Instant;

#[derive(Clone, Copy, PartialEq)]
enum LossChoice {
    Mse,
    Bce,
    Ce,
}

struct Args {
    gpu: bool,
    steps: Option<usize>,
    warmup: usize,
    every: Option<usize>,
    loss: LossChoice,
    batch: usize,
    fit: bool,
}

const USAGE: &str = "usage: long_run [--backend cpu|gpu] [--steps N] [--warmup N] [--every N] \
                     [--loss mse|bce|ce] [--batch N] [--fit]";

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        gpu: true,
        steps: None,
        warmup: 1000,
        every: None,
        loss: LossChoice::Mse,
        batch: 32,
        fit: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| anyhow::anyhow!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--backend" => {
                args.gpu = match value()?.as_str() {
                    "gpu" => true,
                    "cpu" => false,
                    other => anyhow::bail!("unknown backend {other:?}\n{USAGE}"),
                }
            }
            "--steps" => args.steps = Some(value()?.parse()?),
            "--warmup" => args.warmup = value()?.parse()?,
            "--every" => args.every = Some(value()?.parse()?),
            "--batch" => args.batch = value()?.parse()?,
            "--fit" => args.fit = true,
            "--loss" => {
                args.loss = match value()?.as_str() {
                    "mse" => LossChoice::Mse,
                    "bce" => LossChoice::Bce,
                    "ce" => LossChoice::Ce,
                    other => anyhow::bail!("unknown loss {other:?}\n{USAGE}"),
                }
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => anyhow::bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(args)
}

/// Resident set size of this process in KiB (`VmRSS`), 0 where /proc is missing.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let device = if args.gpu {
        Device::gpu()?
    } else {
        Device::cpu()
    };
    let backend = if args.gpu { "gpu" } else { "cpu" };
    let steps = args
        .steps
        .unwrap_or(if args.gpu { 20_000 } else { 100_000 });
    let every = args.every.unwrap_or((steps / 10).max(1));
    eprintln!("device: {}", device.describe());

    let start_rss = rss_kib();
    let (out, loss_name) = match args.loss {
        LossChoice::Mse => (1, "mse"),
        LossChoice::Bce => (1, "bce"),
        LossChoice::Ce => (4, "ce"),
    };
    let mut model = Sequential::new(&device)
        .seed(1)
        .dense(16, 64, Activation::Relu)
        .dense(64, out, Activation::Linear);
    let params = model.parameters()?;
    let refs: Vec<&Tensor> = params.iter().collect();
    let mut opt = Adam::new(1e-3).build(&refs)?;
    // `fit` draws batches from a dataset; the plain loop reuses one batch.
    let rows = if args.fit {
        32 * args.batch
    } else {
        args.batch
    };
    let mut rng = SeededRng::new(2);
    let xs = Array2::from_shape_fn((rows, 16), |_| rng.uniform(-1.0, 1.0));
    let ys = match args.loss {
        LossChoice::Ce => Array2::from_shape_fn((rows, 1), |(i, _)| (i % 4) as f32),
        _ => Array2::from_shape_fn((rows, 1), |_| rng.uniform(0.0, 1.0)),
    };
    let data = Dataset::new(xs.clone(), ys.clone())?;
    let x = device.tensor(xs.iter().copied().collect(), [rows, 16])?;
    let y = match args.loss {
        LossChoice::Ce => device.tensor(ys.iter().copied().collect(), [rows])?,
        _ => device.tensor(ys.iter().copied().collect(), [rows, 1])?,
    };
    let fit_loss = match args.loss {
        LossChoice::Mse => Loss::MeanSquaredError,
        LossChoice::Bce => Loss::BinaryCrossEntropyWithLogits,
        LossChoice::Ce => Loss::SparseCategoricalCrossEntropy,
    };
    let steps_per_epoch = rows.div_ceil(args.batch);
    // Runs at least `n` steps (whole epochs with --fit) and returns how many it ran.
    let mut run = |n: usize, opt: &mut Optimizer| -> anyhow::Result<usize> {
        if n == 0 {
            return Ok(0);
        }
        if args.fit {
            let epochs = n.div_ceil(steps_per_epoch);
            let config = FitConfig {
                epochs,
                batch_size: args.batch,
                metrics: vec![Metric::Accuracy],
                verbose: 0,
                ..Default::default()
            };
            model.fit_with(&data, fit_loss, opt, config)?;
            return Ok(epochs * steps_per_epoch);
        }
        for _ in 0..n {
            let pred = model.forward(&x)?;
            let loss = match args.loss {
                LossChoice::Mse => pred.mse(&y)?,
                LossChoice::Bce => pred.binary_cross_entropy_with_logits(&y)?,
                LossChoice::Ce => pred.cross_entropy(&y)?,
            };
            let grads = loss.backward()?;
            opt.step(&grads)?;
        }
        Ok(n)
    };
    let mode = if args.fit { "fit" } else { "loop" };
    let report = |phase: &str, step: usize, rss: u64, secs: f64| {
        println!(
            "{}",
            json!({
                "bench": "long_run", "backend": backend, "loss": loss_name, "mode": mode,
                "phase": phase, "step": step, "rss_kib": rss, "seconds": secs,
            })
        );
    };
    report("start", 0, start_rss, 0.0);
    let warmup = run(args.warmup, &mut opt)?;
    // A read-back waits for the device, so the work so far is done when RSS is read.
    let _ = params[0].to_vec()?;
    let warm_rss = rss_kib();
    report("warm", 0, warm_rss, 0.0);
    let stats_before = device.stats();
    let t0 = Instant::now();
    let mut done = 0;
    while done < steps {
        done += run(every.min(steps - done), &mut opt)?;
        let _ = params[0].to_vec()?;
        report("run", done, rss_kib(), t0.elapsed().as_secs_f64());
    }
    let end_rss = rss_kib();
    let secs = t0.elapsed().as_secs_f64();
    let delta = device.stats().since(&stats_before);
    let growth = end_rss as f64 - warm_rss as f64;
    let per_step = growth * 1024.0 / done as f64;
    println!(
        "{}",
        json!({
            "bench": "long_run", "backend": backend, "loss": loss_name, "mode": mode,
            "phase": "end", "steps": done, "warmup_steps": warmup, "rss_start_kib": start_rss,
            "rss_warm_kib": warm_rss, "rss_end_kib": end_rss, "growth_bytes_per_step": per_step,
            "seconds": secs, "buffer_allocations": delta.buffer_allocations,
            "submissions": delta.submissions,
        })
    );
    println!(
        "long_run {backend} {loss_name} ({mode}): {done} steps in {secs:.1} s; RSS start \
         {:.1} MiB, after {warmup} warm-up steps {:.1} MiB, end {:.1} MiB ({:+.1} MiB, \
         {per_step:+.0} B/step); {} new buffers, {} submissions",
        start_rss as f64 / 1024.0,
        warm_rss as f64 / 1024.0,
        end_rss as f64 / 1024.0,
        growth / 1024.0,
        delta.buffer_allocations,
        delta.submissions,
    );
    Ok(())
}
