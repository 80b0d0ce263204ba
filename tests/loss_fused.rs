//! A loss that backward starts from computes its gradient with the loss (one GPU dispatch
//! for batch-sized predictions). Checked against the separate backward kernels (the path
//! any other upstream gradient takes, which tests/parity.rs checks against the CPU) and
//! against the CPU, on awkward sizes on both sides of the fusion bounds (65,536 elements;
//! 64 classes) and with NaN and ±inf predictions.

mod common;

use common::tolerance::{assert_close, DIV, EPS, TRANSC};
use downhill::prelude::*;
use downhill::random::SeededRng;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Mse,
    Bce,
    BceLogits,
    CrossEntropy,
}

fn loss(kind: Kind, pred: &Tensor, target: &Tensor) -> Tensor {
    match kind {
        Kind::Mse => pred.mse(target),
        Kind::Bce => pred.binary_cross_entropy(target),
        Kind::BceLogits => pred.binary_cross_entropy_with_logits(target),
        Kind::CrossEntropy => pred.cross_entropy(target),
    }
    .unwrap()
}

/// Predictions and targets for `kind` of `rows × cols`, with a few non-finite predictions
/// where `nonfinite`.
fn data(kind: Kind, rows: usize, cols: usize, nonfinite: bool, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = SeededRng::new(seed);
    let n = rows * cols;
    let mut pred: Vec<f32> = match kind {
        Kind::Bce => (0..n).map(|_| rng.uniform(0.02, 0.98)).collect(),
        _ => (0..n).map(|_| rng.uniform(-3.0, 3.0)).collect(),
    };
    let target: Vec<f32> = match kind {
        Kind::CrossEntropy => (0..rows)
            .map(|_| (rng.uniform(0.0, cols as f32).floor()).min(cols as f32 - 1.0))
            .collect(),
        Kind::Mse => (0..n).map(|_| rng.uniform(-2.0, 2.0)).collect(),
        _ => (0..n).map(|_| rng.uniform(0.0, 1.0)).collect(),
    };
    if nonfinite {
        for (i, v) in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY]
            .into_iter()
            .enumerate()
        {
            let at = (i * 7919) % n;
            pred[at] = v;
        }
    }
    (pred, target)
}

/// (loss, gradient) on `dev`, backward started from the loss itself (`fused`) or from
/// `loss · 1` (the separate backward kernels).
fn run(
    dev: &Device,
    kind: Kind,
    rows: usize,
    cols: usize,
    data: &(Vec<f32>, Vec<f32>),
    fused: bool,
) -> (Vec<f32>, Vec<f32>) {
    let pred = Tensor::from_vec(dev, data.0.clone(), [rows, cols])
        .unwrap()
        .param();
    let target_shape: Vec<usize> = match kind {
        Kind::CrossEntropy => vec![rows],
        _ => vec![rows, cols],
    };
    let target = Tensor::from_vec(dev, data.1.clone(), target_shape).unwrap();
    let l = loss(kind, &pred, &target);
    let root = if fused {
        l.clone()
    } else {
        (&l * 1.0).unwrap()
    };
    let grads = root.backward().unwrap();
    (l.to_vec().unwrap(), grads.to_vec(&pred).unwrap().unwrap())
}

const SIZES: [(usize, usize); 6] = [(1, 1), (7, 3), (33, 10), (129, 64), (5, 65), (300, 300)];

/// Same formulas as the separate kernels: MSE and both BCEs bit for bit; cross-entropy
/// sums each row's exponentials in another order (one invocation instead of a workgroup
/// tree), within the rounding of `cols` positive terms and of exp: relative 1e-5 on the
/// softmax, absolute 1e-6 near 0, scaled by 1/rows.
#[test]
fn the_fused_gradient_is_the_separate_kernels_gradient() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    for kind in [Kind::Mse, Kind::Bce, Kind::BceLogits, Kind::CrossEntropy] {
        for (s, &(rows, cols)) in SIZES.iter().enumerate() {
            for nonfinite in [false, true] {
                let d = data(kind, rows, cols, nonfinite, 10 + s as u64);
                let (fl, fg) = run(&gpu, kind, rows, cols, &d, true);
                let (sl, sg) = run(&gpu, kind, rows, cols, &d, false);
                let what = format!("{kind:?} [{rows}, {cols}] nonfinite {nonfinite}");
                match kind {
                    Kind::CrossEntropy => {
                        let atol = (1e-6 + 1e-5) / rows as f64;
                        assert_close(&format!("{what} loss"), &sl, &fl, 1e-6, 1e-5);
                        assert_close(&format!("{what} grad"), &sg, &fg, atol, 1e-5);
                    }
                    _ => {
                        assert_eq!(bits(&fl), bits(&sl), "{what} loss");
                        assert_eq!(bits(&fg), bits(&sg), "{what} grad");
                    }
                }
            }
        }
    }
}

/// CPU vs GPU for the gradient from the loss itself. Tolerances as tests/parity.rs derives
/// them for an upstream gradient of at most 1.5 (here exactly 1): MSE one division and one
/// product; BCE of probabilities two divisions of magnitude ≤ 50 cancelling; BCE of logits
/// a sigmoid (TRANSC) over N; cross-entropy exp's error relative to the softmax over rows.
#[test]
fn the_fused_gradient_matches_the_cpu() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let cpu = common::cpu();
    for kind in [Kind::Mse, Kind::Bce, Kind::BceLogits, Kind::CrossEntropy] {
        for (s, &(rows, cols)) in SIZES.iter().enumerate() {
            for nonfinite in [false, true] {
                let d = data(kind, rows, cols, nonfinite, 40 + s as u64);
                let (_, cg) = run(&cpu, kind, rows, cols, &d, true);
                let (_, gg) = run(&gpu, kind, rows, cols, &d, true);
                let n = (rows * cols) as f64;
                let (atol, rtol) = match kind {
                    Kind::Mse => (0.0, DIV.rtol + EPS),
                    Kind::Bce => (3.0 * EPS * 50.0 / n, 4.0 * EPS),
                    Kind::BceLogits => ((TRANSC.atol + TRANSC.rtol) / n, 3.0 * EPS),
                    Kind::CrossEntropy => {
                        let ln = (cols as f64).ln();
                        (
                            (cols as f64 * 6e-8 + (30.0 + 2.0 * ln) * EPS) / rows as f64,
                            3.0 * EPS,
                        )
                    }
                };
                let what = format!("{kind:?} [{rows}, {cols}] nonfinite {nonfinite}");
                assert_close(&what, &cg, &gg, atol, rtol);
            }
        }
    }
}

/// One dispatch computes a batch-sized loss and its gradient; backward then dispatches
/// nothing for the loss.
#[test]
fn a_batch_sized_loss_and_its_gradient_are_one_dispatch() {
    let Some(gpu) = common::private_gpu() else {
        return;
    };
    for kind in [Kind::Mse, Kind::Bce, Kind::BceLogits, Kind::CrossEntropy] {
        let d = data(kind, 32, 10, false, 7);
        let pred = Tensor::from_vec(&gpu, d.0.clone(), [32, 10])
            .unwrap()
            .param();
        let shape: Vec<usize> = match kind {
            Kind::CrossEntropy => vec![32],
            _ => vec![32, 10],
        };
        let target = Tensor::from_vec(&gpu, d.1.clone(), shape).unwrap();
        // (The first backward on a device makes its seed, a 1-element 1.0: one fill.)
        loss(kind, &pred, &target).backward().unwrap();
        let before = gpu.stats();
        let l = loss(kind, &pred, &target);
        let grads = l.backward().unwrap();
        let delta = gpu.stats().since(&before);
        assert_eq!(delta.dispatches, 1, "{kind:?}: {delta:?}");
        assert!(grads.get(&pred).is_some());
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}
