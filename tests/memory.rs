//! Memory over long runs (issue 7): the process's resident set size (RSS) stays flat
//! while a small MLP trains, on both backends.
//!
//! The GPU bug this guards against: on Mesa's lavapipe (22.x) every dispatch of the loss
//! forward kernel, which then chose its whole body with a branch on the uniform `kind`,
//! compiled a new shader variant that was never freed: about 240 KB of RSS a training
//! step, 4.9 GB after 20,000 steps (`examples/long_run.rs`; docs/PERFORMANCE.md, "Memory
//! over long runs"). Thresholds, from those measurements:
//!
//! - GPU: 2,000 steps at batch 32 (500 of each loss kind, after a warm-up of every kind)
//!   may add at most 8 MiB, 4 KiB a step on average. Before the fix they added 467 MiB
//!   (245 KB a step, 58× the bound: the test failed); now 16–36 KiB (allocator noise).
//! - CPU: 20,000 steps may add at most 2 MiB (~100 B a step); measured: 0.
//!
//! Both together take about 5 s on lavapipe in release.
//!
//! The two tests take turns (RSS is the whole process's). Without `/proc/self/status`
//! (not Linux) they skip with a note.

mod common;

use common::rss_kib;

use downhill::prelude::*;
use downhill::DeviceStats;
use std::sync::Mutex;

/// One test measures at a time.
static RSS_LOCK: Mutex<()> = Mutex::new(());

const KINDS: [Loss; 4] = [
    Loss::MeanSquaredError,
    Loss::BinaryCrossEntropy,
    Loss::BinaryCrossEntropyWithLogits,
    Loss::SparseCategoricalCrossEntropy,
];

/// A 16→64→4 MLP, its Adam optimizer and one batch of 32 rows, with the targets each
/// loss kind needs.
struct Run {
    model: Sequential,
    opt: Optimizer,
    params: Vec<Tensor>,
    x: Tensor,
    values: Tensor,
    labels: Tensor,
}

impl Run {
    fn new(device: &Device) -> Run {
        let model = Sequential::new(device)
            .seed(1)
            .dense(16, 64, Activation::Relu)
            .dense(64, 4, Activation::Linear);
        let params = model.parameters().unwrap();
        let refs: Vec<&Tensor> = params.iter().collect();
        let opt = Adam::new(1e-3).build(&refs).unwrap();
        let labels: Vec<f32> = (0..32).map(|i| (i % 4) as f32).collect();
        Run {
            x: Tensor::rand_uniform(device, [32, 16], -1.0, 1.0, 2).unwrap(),
            values: Tensor::rand_uniform(device, [32, 4], 0.0, 1.0, 3).unwrap(),
            labels: device.tensor(labels, [32]).unwrap(),
            model,
            opt,
            params,
        }
    }

    /// One training step as `fit` takes it (one submission on the GPU, no read-back).
    fn step(&mut self, kind: Loss) {
        let pred = self.model.forward(&self.x).unwrap();
        let loss = match kind {
            Loss::BinaryCrossEntropy => kind.compute(&pred.sigmoid().unwrap(), &self.values),
            Loss::SparseCategoricalCrossEntropy => kind.compute(&pred, &self.labels),
            _ => kind.compute(&pred, &self.values),
        }
        .unwrap();
        let grads = loss.backward().unwrap();
        self.opt.step(&grads).unwrap();
    }

    /// `steps_per_kind` steps of each loss kind in turn.
    fn train(&mut self, steps_per_kind: usize) {
        for kind in KINDS {
            for _ in 0..steps_per_kind {
                self.step(kind);
            }
        }
        // A read-back waits for the device: the work is done when RSS is read.
        self.params[0].to_vec().unwrap();
    }
}

/// RSS growth in KiB over `steps_per_kind` steps of each kind, after a warm-up, and the
/// device's work counters over those steps.
fn measure(
    device: &Device,
    warmup_per_kind: usize,
    steps_per_kind: usize,
) -> Option<(u64, DeviceStats)> {
    let mut run = Run::new(device);
    run.train(warmup_per_kind);
    let before = rss_kib()?;
    let stats = device.stats();
    run.train(steps_per_kind);
    let after = rss_kib()?;
    Some((after.saturating_sub(before), device.stats().since(&stats)))
}

#[test]
fn gpu_training_keeps_rss_flat() {
    let _turn = RSS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let Some(gpu) = common::private_gpu() else {
        return;
    };
    let steps = 4 * 500;
    let Some((growth, delta)) = measure(&gpu, 100, steps / 4) else {
        eprintln!("SKIPPED (no /proc/self/status to read RSS from)");
        return;
    };
    let per_step = growth * 1024 / steps as u64;
    eprintln!("GPU: RSS +{growth} KiB over {steps} steps ({per_step} B/step); {delta:?}");
    assert_eq!(delta.buffer_allocations, 0, "{delta:?}");
    assert!(
        growth <= 8 * 1024,
        "RSS grew {growth} KiB over {steps} GPU steps ({per_step} B/step; the lavapipe bug \
         of issue 7 made ~240,000 B/step)"
    );
}

#[test]
fn cpu_training_keeps_rss_flat() {
    let _turn = RSS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let steps = 4 * 5000;
    let Some((growth, _)) = measure(&common::cpu(), 250, steps / 4) else {
        eprintln!("SKIPPED (no /proc/self/status to read RSS from)");
        return;
    };
    eprintln!("CPU: RSS +{growth} KiB over {steps} steps");
    assert!(
        growth <= 2 * 1024,
        "RSS grew {growth} KiB over {steps} CPU steps"
    );
}
