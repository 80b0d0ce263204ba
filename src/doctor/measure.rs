//! What a device costs: the latency of a tiny dispatch (and of a submit + read-back), matmul
//! GFLOP/s at a few sizes, and the GB/s of an Adam step over a few million parameters,
//! counted as benches/throughput.rs counts them (W3: 28 bytes per parameter, reads p, g,
//! m, v and writes p, m, v; W4: `2·n³` flops per product).

use crate::prelude::*;
use crate::{DeviceStats, MatmulDims};
use std::time::Instant;

/// Bytes an Adam update moves per parameter (benches/throughput.rs's W3).
pub const ADAM_BYTES_PER_PARAM: f64 = 28.0;

/// A device's figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Measurements {
    /// Microseconds per tiny dispatch (a 4-element `accumulate`), recorded back to back
    /// and submitted together (the best of 3 batches): the cost of one more kernel in a
    /// step.
    pub dispatch_us: f64,
    /// Microseconds for one tiny op and a 1-element read-back: a host round trip (the best
    /// of 3 batches of 10).
    pub round_trip_us: f64,
    /// The device's counters over the best dispatch batch (dispatches, submissions, ...).
    pub dispatch_stats: DeviceStats,
    /// `(n, GFLOP/s)` of `n×n×n` products (best of a few).
    pub matmul_gflops: Vec<(usize, f64)>,
    /// Parameters of the Adam measurement.
    pub adam_params: usize,
    /// Milliseconds per Adam step (median of runs).
    pub adam_ms: f64,
    /// `ADAM_BYTES_PER_PARAM · adam_params / step time`, in GB/s.
    pub adam_gbs: f64,
}

/// How much to measure.
#[derive(Clone, Debug, PartialEq)]
pub struct MeasureSizes {
    /// Tiny dispatches timed.
    pub dispatches: usize,
    /// Matmul sizes `n` (`n×n×n`).
    pub matmul: Vec<usize>,
    /// Adam parameters.
    pub adam_params: usize,
}

fn sync(device: &Device, s: &crate::Storage) -> Result<()> {
    device.backend().download(&s.slice(0, 1.min(s.len()))?)?;
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Measures `device`.
pub fn measure(device: &Device, sizes: &MeasureSizes) -> Result<Measurements> {
    let b = device.backend();
    let mut m = Measurements::default();
    // Dispatch latency: one warm-up, then batches of back-to-back tiny dispatches and one
    // wait each; the best batch (the load of other processes only ever adds time).
    let (acc, x) = (b.full(4, 0.0)?, b.full(4, 1.0)?);
    b.accumulate(&acc, &x, 1.0)?;
    sync(device, &acc)?;
    m.dispatch_us = f64::INFINITY;
    for _ in 0..3 {
        let before = device.stats();
        let started = Instant::now();
        for _ in 0..sizes.dispatches {
            b.accumulate(&acc, &x, 1.0)?;
        }
        sync(device, &acc)?;
        let us = started.elapsed().as_secs_f64() * 1e6 / sizes.dispatches.max(1) as f64;
        if us < m.dispatch_us {
            (m.dispatch_us, m.dispatch_stats) = (us, device.stats().since(&before));
        }
    }
    // Round trips: the best of 3 batches of 10.
    m.round_trip_us = f64::INFINITY;
    for _ in 0..3 {
        let started = Instant::now();
        for _ in 0..10 {
            b.accumulate(&acc, &x, 1.0)?;
            sync(device, &acc)?;
        }
        m.round_trip_us = m
            .round_trip_us
            .min(started.elapsed().as_secs_f64() * 1e6 / 10.0);
    }

    for &n in &sizes.matmul {
        let data: Vec<f32> = (0..n * n)
            .map(|i| ((i * 7919) % 13) as f32 / 13.0 - 0.5)
            .collect();
        let (a, w) = (b.upload(&data)?, b.upload(&data)?);
        let dims = MatmulDims {
            m: n,
            k: n,
            n,
            trans_a: false,
            trans_b: false,
        };
        sync(device, &b.matmul(&a, &w, dims)?)?;
        // At least 3 products and 0.2 s (a 1024³ product takes ~0.2 s on lavapipe), but
        // no more products after 2 s (a 2048³ one takes ~2–10 s there).
        let (mut best, mut spent, mut reps) = (f64::INFINITY, 0.0, 0);
        while reps == 0 || (reps < 3 && spent < 2.0) || (spent < 0.2 && reps < 20) {
            let started = Instant::now();
            sync(device, &b.matmul(&a, &w, dims)?)?;
            let s = started.elapsed().as_secs_f64();
            (best, spent, reps) = (best.min(s), spent + s, reps + 1);
        }
        m.matmul_gflops
            .push((n, 2.0 * (n as f64).powi(3) / best / 1e9));
    }

    // Adam as benches/throughput.rs's W3: a constant gradient, computed once.
    let n = sizes.adam_params;
    let p = Tensor::full(device, [n], 0.5)?.param();
    let mut opt = Adam::new(1e-3).build(&[&p])?;
    let grads = (&p * 2.0)?.sum()?.backward()?;
    for _ in 0..2 {
        opt.step(&grads)?;
    }
    sync(device, &p.storage())?;
    let mut runs = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        for _ in 0..2 {
            opt.step(&grads)?;
        }
        sync(device, &p.storage())?;
        runs.push(started.elapsed().as_secs_f64() * 1e3 / 2.0);
    }
    m.adam_params = n;
    m.adam_ms = median(&mut runs);
    m.adam_gbs = ADAM_BYTES_PER_PARAM * n as f64 / (m.adam_ms / 1e3) / 1e9;
    Ok(m)
}

/// The batch size and kernels per step of the step-time model of [`step_cost`].
pub const MODEL_BATCH: f64 = 128.0;
/// Kernels in one training step of a small MLP (forward, loss, backward, optimizer, the
/// step's bookkeeping): what each step pays in dispatch latency whatever its size.
pub const MODEL_DISPATCHES: f64 = 30.0;

/// A step of a model with `P` parameters costs about `fixed + per_param·P` seconds:
/// `MODEL_DISPATCHES` dispatches, then `6·P·MODEL_BATCH` flops (forward 2, backward 4 per
/// parameter and sample) at the largest measured matmul rate, and the optimizer's
/// `ADAM_BYTES_PER_PARAM` bytes per parameter. Returns `(fixed, per_param)`.
pub fn step_cost(m: &Measurements) -> (f64, f64) {
    let gflops = m
        .matmul_gflops
        .iter()
        .map(|&(_, g)| g)
        .fold(0.0, f64::max)
        .max(1e-9);
    let fixed = MODEL_DISPATCHES * m.dispatch_us * 1e-6;
    let per_param =
        6.0 * MODEL_BATCH / (gflops * 1e9) + ADAM_BYTES_PER_PARAM / (m.adam_gbs.max(1e-9) * 1e9);
    (fixed, per_param)
}
