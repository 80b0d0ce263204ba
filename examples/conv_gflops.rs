//! GFLOP/s of conv2d forward + backward (input and weight gradients, bias included) at the
//! two convolutions of a small digits CNN, batch 64: `[64, 1, 8, 8]` → 3×3 pad 1 → 16
//! channels, and `[64, 16, 4, 4]` → 3×3 pad 1 → 32 channels. Each pass is
//! `2·N·C_out·OH·OW·C_in·KH·KW` flops; forward + backward counts three passes.
//!
//! `cargo run --release --example conv_gflops` (the GPU runs on lavapipe where no GPU is
//! present: `XDG_RUNTIME_DIR=/tmp`).

use downhill::prelude::*;
use downhill::{Conv2dDims, Storage};
use std::time::Instant;

fn dims(c_in: usize, side: usize, c_out: usize) -> Conv2dDims {
    Conv2dDims {
        batch: 64,
        in_channels: c_in,
        in_size: (side, side),
        out_channels: c_out,
        kernel: (3, 3),
        stride: (1, 1),
        pad_h: (1, 1),
        pad_w: (1, 1),
        dilation: (1, 1),
        groups: 1,
    }
}

/// Which part of the step to time.
#[derive(Clone, Copy, PartialEq)]
enum Part {
    Forward,
    InputGradient,
    WeightGradient,
    All,
}

/// Seconds per call of `part`, the median of `rounds` timings of `reps` calls each.
fn time(device: &Device, d: &Conv2dDims, part: Part, reps: usize, rounds: usize) -> Result<f64> {
    let be = device.backend();
    let (h, w) = d.in_size;
    let x = be.full(d.batch * d.in_channels * h * w, 0.5)?;
    let wt = be.full(d.out_channels * d.in_channels * 9, 0.1)?;
    let b = be.full(d.out_channels, 0.0)?;
    let dy = be.full(d.batch * d.out_channels * h * w, 1.0)?;
    let step = || -> Result<Storage> {
        let mut last = None;
        if matches!(part, Part::Forward | Part::All) {
            last = Some(be.conv2d(&x, &wt, Some(&b), d)?);
        }
        if matches!(part, Part::InputGradient | Part::All) {
            last = Some(be.conv2d_backward_input(&dy, &wt, d)?);
        }
        if matches!(part, Part::WeightGradient | Part::All) {
            last = Some(be.conv2d_backward_weight(&x, &dy, d, true)?.0);
        }
        Ok(last.expect("a part ran"))
    };
    be.download(&step()?)?; // warm-up: pipelines, buffers in the pool
    let mut times = Vec::new();
    for _ in 0..rounds {
        let start = Instant::now();
        let mut last = None;
        for _ in 0..reps {
            last = Some(step()?);
        }
        if let Some(last) = last {
            be.download(&last.slice(0, 1)?)?; // waits for the GPU's queue
        }
        times.push(start.elapsed().as_secs_f64() / reps as f64);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[rounds / 2])
}

fn main() -> Result<()> {
    let mut devices = vec![Device::cpu()];
    match Device::gpu() {
        Ok(gpu) => devices.push(gpu),
        Err(e) => eprintln!("no GPU: {e}"),
    }
    let shapes = [
        ("[64,1,8,8] -> 16", dims(1, 8, 16)),
        ("[64,16,4,4] -> 32", dims(16, 4, 32)),
    ];
    for device in &devices {
        println!("{}", device.describe());
        for (name, d) in &shapes {
            let (h, w) = d.in_size;
            let flops = 3.0 * 2.0 * (d.batch * d.out_channels * h * w * d.in_channels * 9) as f64;
            let seconds = time(device, d, Part::All, 30, 7)?;
            let parts = [Part::Forward, Part::InputGradient, Part::WeightGradient]
                .map(|p| time(device, d, p, 30, 5).map(|s| s * 1e6));
            let [fwd, dx, dw] = parts;
            println!(
                "  conv2d {name}: forward + backward {:.1} µs, {:.2} GFLOP/s \
                 (forward {:.0} µs, input gradient {:.0} µs, weight + bias gradient {:.0} µs)",
                seconds * 1e6,
                flops / seconds / 1e9,
                fwd?,
                dx?,
                dw?
            );
        }
    }
    Ok(())
}
