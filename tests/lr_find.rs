//! `lr_find`, the learning-rate range test: the model is untouched, the rates are the
//! documented exponential, the sweep stops on divergence, the suggestion lands in the
//! known stable range of a linear regression, the CPU and the GPU agree, and bad
//! configurations are typed errors.

mod common;

use common::tolerance::{depth, U};

use downhill::prelude::*;
use downhill::BatchNorm1d;
use ndarray::Array2;

/// `rows × d` inputs with column `j` scaled by `1 + j` (so the Hessian's eigenvalues
/// spread), targets `x·w + 0.5 + noise`: a linear regression.
fn regression(rows: usize, d: usize, seed: u64) -> Dataset {
    let mut s = seed;
    let mut next = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    let x = Array2::from_shape_fn((rows, d), |(_, j)| next() * (1.0 + j as f32));
    let y = Array2::from_shape_fn((rows, 1), |(r, _)| {
        let dot: f32 = (0..d).map(|j| x[[r, j]] * (0.5 - 0.1 * j as f32)).sum();
        dot + 0.5 + 0.1 * next()
    });
    Dataset::new(x, y).unwrap()
}

fn linear(device: &Device, d: usize) -> Sequential {
    Sequential::new(device)
        .seed(7)
        .dense(d, 1, Activation::Linear)
}

fn bits(v: &[Vec<f32>]) -> Vec<Vec<u32>> {
    v.iter()
        .map(|t| t.iter().map(|x| x.to_bits()).collect())
        .collect()
}

fn buffers(model: &Sequential) -> Vec<Vec<u32>> {
    let values: Vec<Vec<f32>> = model
        .buffers()
        .unwrap()
        .iter()
        .map(|(_, t)| t.to_vec().unwrap())
        .collect();
    bits(&values)
}

fn quiet(epochs: usize) -> FitConfig {
    FitConfig {
        epochs,
        verbose: 0,
        ..Default::default()
    }
}

#[test]
fn the_model_is_untouched() {
    let device = Device::cpu();
    let data = regression(256, 4, 1);
    let build = || {
        Sequential::new(&device)
            .seed(3)
            .dense(4, 16, Activation::Relu)
            .layer(BatchNorm1d::new(16))
            .dense(16, 1, Activation::Linear)
    };
    // Two equal models with a kept optimizer (Adam: its state would show a stale step).
    let (mut a, mut b) = (build(), build());
    a.fit(&data, Loss::MeanSquaredError, Adam::new(1e-2), quiet(1))
        .unwrap();
    b.fit(&data, Loss::MeanSquaredError, Adam::new(1e-2), quiet(1))
        .unwrap();
    a.eval();
    let (weights, bufs) = (bits(&a.get_weights().unwrap()), buffers(&a));
    let finding = a
        .lr_find(
            &data,
            Loss::MeanSquaredError,
            Adam::new(1e-3),
            LrFindConfig::default(),
        )
        .unwrap();
    assert!(finding.points.len() > 10, "{finding:?}");
    assert!(finding
        .points
        .iter()
        .any(|p| p.loss != finding.points[0].loss));
    assert_eq!(bits(&a.get_weights().unwrap()), weights);
    assert_eq!(buffers(&a), bufs, "batch norm's running statistics");
    assert!(!a.is_training(), "the mode the model was in");
    // The kept optimizer still owns the parameters: training continues exactly as on
    // the model that never ran lr_find.
    a.train();
    let ha = a
        .fit(&data, Loss::MeanSquaredError, Adam::new(1e-2), quiet(2))
        .unwrap();
    let hb = b
        .fit(&data, Loss::MeanSquaredError, Adam::new(1e-2), quiet(2))
        .unwrap();
    assert_eq!(ha.records, hb.records);
    assert_eq!(
        bits(&a.get_weights().unwrap()),
        bits(&b.get_weights().unwrap())
    );
}

#[test]
fn the_rates_are_exactly_exponential() {
    let data = regression(128, 3, 2);
    let model = linear(&Device::cpu(), 3);
    let config = LrFindConfig {
        start_lr: 1e-6,
        end_lr: 1e-2,
        num_steps: 41,
        ..Default::default()
    };
    let f = model
        .lr_find(&data, Loss::MeanSquaredError, Sgd::new(0.1), config.clone())
        .unwrap();
    assert_eq!(f.stop, LrFindStop::Completed);
    assert_eq!(f.points.len(), 41);
    assert_eq!(f.points[0].lr, 1e-6);
    assert_eq!(f.points[40].lr, 1e-2);
    let step = (1e-2f64 / 1e-6).ln() / 40.0; // a tenth of a decade
    for (i, w) in f.points.windows(2).enumerate() {
        assert_eq!(w[0].lr, config.lr_at(i));
        let ratio = (w[1].lr / w[0].lr).ln();
        assert!(
            (ratio - step).abs() < 1e-12,
            "step {i}: ln ratio {ratio} vs {step}"
        );
    }
}

/// The rate of step 0 is what the optimizer ran: the sweep's second loss equals that of
/// `fit`'s second epoch after one full-batch SGD step at `start_lr` (the same shuffle),
/// also with parameter groups, whose rates keep their ratio to group 0's.
#[test]
fn the_first_step_runs_at_start_lr_in_every_group() {
    let data = regression(64, 3, 3);
    let groups = || vec![ParamGroup::matching(|n| n.ends_with(".bias")).lr(0.5)];
    for grouped in [false, true] {
        let (start, base) = (0.03, 0.25);
        let sweep = linear(&Device::cpu(), 3);
        let config = LrFindConfig {
            start_lr: start,
            end_lr: 0.3,
            num_steps: 2,
            batch_size: 64,
            smoothing: 0.0,
            param_groups: if grouped { groups() } else { vec![] },
            ..Default::default()
        };
        let f = sweep
            .lr_find(&data, Loss::MeanSquaredError, Sgd::new(base), config)
            .unwrap();
        // fit at group 0's rate `start`; the bias group at `start · 0.5 / base`.
        let mut fitted = linear(&Device::cpu(), 3);
        let mut fit_config = FitConfig {
            batch_size: 64,
            ..quiet(2)
        };
        if grouped {
            fit_config.param_groups = vec![ParamGroup::matching(|n| n.ends_with(".bias"))
                .lr((f64::from(start as f32) * 0.5 / base as f64) as f32)];
        }
        let h = fitted
            .fit(
                &data,
                Loss::MeanSquaredError,
                Sgd::new(start as f32),
                fit_config,
            )
            .unwrap();
        let want = f64::from(h.records[1].loss);
        let got = f.points[1].loss;
        assert!(
            (got - want).abs() <= 1e-6 * want,
            "grouped {grouped}: sweep {got}, fit {want}"
        );
        assert!(f.points[1].loss < f.points[0].loss);
    }
}

#[test]
fn a_huge_end_lr_stops_on_divergence() {
    let data = regression(256, 4, 4);
    let model = linear(&Device::cpu(), 4);
    let config = LrFindConfig {
        end_lr: 1e6,
        ..Default::default()
    };
    let f = model
        .lr_find(&data, Loss::MeanSquaredError, Sgd::new(0.1), config)
        .unwrap();
    assert!(f.points.len() < 100, "{} steps", f.points.len());
    match f.stop {
        LrFindStop::Diverged {
            step,
            smoothed,
            best,
            lr,
        } => {
            assert_eq!(step + 1, f.points.len());
            assert!(smoothed > 4.0 * best);
            assert_eq!(f.points[step].lr, lr);
            let before = &f.points[..step];
            assert!(before.iter().all(|p| p.smoothed <= 4.0 * best));
        }
        LrFindStop::NonFinite { step, .. } => assert_eq!(step, f.points.len()),
        LrFindStop::Completed => panic!("no divergence up to lr 1e6"),
    }
    assert!(matches!(f.verdict(1e5), LrVerdict::TooHigh { .. }));
}

/// Full-batch gradient descent on `mean((x·w + b − y)²)` diverges above `2/λmax` of the
/// Hessian `(2/N)·X̃ᵀX̃` (`X̃` = inputs with a column of ones): the suggestion must be
/// below that bound and above a hundredth of it.
#[test]
fn the_suggestion_lies_in_the_stable_range_of_a_linear_regression() {
    let (rows, d) = (512, 4);
    let data = regression(rows, d, 5);
    let mut h = vec![vec![0.0f64; d + 1]; d + 1];
    for r in 0..rows {
        let xr: Vec<f64> = (0..d)
            .map(|j| f64::from(data.x()[[r, j]]))
            .chain([1.0])
            .collect();
        for i in 0..=d {
            for j in 0..=d {
                h[i][j] += 2.0 * xr[i] * xr[j] / rows as f64;
            }
        }
    }
    let mut v = vec![1.0f64; d + 1];
    let mut lambda = 0.0;
    for _ in 0..500 {
        let hv: Vec<f64> = h
            .iter()
            .map(|row| row.iter().zip(&v).map(|(a, b)| a * b).sum())
            .collect();
        lambda = hv.iter().map(|x| x * x).sum::<f64>().sqrt();
        v = hv.iter().map(|x| x / lambda).collect();
    }
    let bound = 2.0 / lambda;
    let model = linear(&Device::cpu(), d);
    let config = LrFindConfig {
        batch_size: rows,
        ..Default::default()
    };
    let f = model
        .lr_find(&data, Loss::MeanSquaredError, Sgd::new(0.1), config)
        .unwrap();
    let s = f.suggestion.expect("a suggestion");
    eprintln!("λmax {lambda:.4}, bound {bound:.4e}\n{}", f.summary(12));
    assert!(
        s.steepest < bound && s.steepest > bound / 100.0,
        "{s:?}, bound {bound}"
    );
    assert!(s.min_over_10 < bound, "{s:?}, bound {bound}");
    assert!(matches!(
        f.stop,
        LrFindStop::Diverged { .. } | LrFindStop::NonFinite { .. }
    ));
    assert!(matches!(f.verdict(2.0 * bound), LrVerdict::TooHigh { .. }));
    assert!(matches!(
        f.verdict(s.steepest),
        LrVerdict::Reasonable { .. }
    ));
    assert!(matches!(f.verdict(bound / 1e4), LrVerdict::TooLow { .. }));
}

/// The same sweep on both backends for 6 SGD steps at rates ≤ 1e-4. Each loss is the mean
/// of `N = 64` squared residuals `r = x·w + b − y` with `|x_j| ≤ 1 + j ≤ 4`, `|w| ≤ 1.1`
/// (Glorot for 4 → 1) and `|y| ≤ 3.6`, so `Σ|x||w| + |b| + |y| ≤ 18` and `|r| ≤ 18`.
/// Each side computes `r` within `(k + 2)·U·18` (a dot of `k = 4` terms, the bias, the
/// subtraction): `2·6·U·18` between them. Each SGD update rounds `w − lr·g` on each side
/// (0.5 ulp, U relative) and the gradients differ by rounding times `lr ≤ 1e-4`
/// (negligible): after 6 steps the weights differ by `≤ 6·2·U·|w|`, moving `r` by
/// `≤ 12·U·18`. So `|Δr| ≤ 24·18·U`, `|Δ(r²)| ≤ 2·18·|Δr| + |Δr|²`, and the means' sums
/// add `2·depth(64)·U·loss`. The smoothed loss is a weighted mean of the losses (weights
/// summing to 1, in f64): the same bound.
#[test]
fn cpu_and_gpu_curves_agree() {
    let Some(gpu) = common::gpu() else { return };
    let data = regression(64, 4, 6);
    let config = LrFindConfig {
        start_lr: 1e-6,
        end_lr: 1e-4,
        num_steps: 6,
        batch_size: 32,
        ..Default::default()
    };
    let dr = 24.0 * 18.0 * U;
    let atol = 2.0 * 18.0 * dr + dr * dr;
    let rtol = 2.0 * depth(64) * U;
    let run = |device: &Device| {
        linear(device, 4)
            .lr_find(&data, Loss::MeanSquaredError, Sgd::new(0.1), config.clone())
            .unwrap()
    };
    let (c, g) = (run(&Device::cpu()), run(&gpu));
    assert_eq!(c.points.len(), 6);
    assert_eq!(g.points.len(), 6);
    let mut worst = 0.0f64;
    for (i, (a, b)) in c.points.iter().zip(&g.points).enumerate() {
        assert_eq!(a.lr, b.lr);
        for (x, y) in [(a.loss, b.loss), (a.smoothed, b.smoothed)] {
            let tol = atol + rtol * x.abs();
            worst = worst.max((x - y).abs() / tol);
            assert!(
                (x - y).abs() <= tol,
                "step {i}: cpu {x}, gpu {y}, tolerance {tol:e}"
            );
        }
    }
    eprintln!("worst |cpu − gpu| / tolerance: {worst:.3e}");
}

#[test]
fn bad_configurations_are_typed_errors() {
    let data = regression(32, 3, 7);
    let model = linear(&Device::cpu(), 3);
    let weights = bits(&model.get_weights().unwrap());
    let run = |c: LrFindConfig| model.lr_find(&data, Loss::MeanSquaredError, Sgd::new(0.1), c);
    let d = LrFindConfig::default;
    let bad = [
        LrFindConfig {
            start_lr: 1.0,
            end_lr: 1.0,
            ..d()
        },
        LrFindConfig {
            start_lr: 2.0,
            end_lr: 1.0,
            ..d()
        },
        LrFindConfig {
            start_lr: 0.0,
            ..d()
        },
        LrFindConfig {
            start_lr: -1e-3,
            ..d()
        },
        LrFindConfig {
            start_lr: f64::NAN,
            ..d()
        },
        LrFindConfig {
            end_lr: f64::INFINITY,
            ..d()
        },
        LrFindConfig {
            end_lr: f64::NAN,
            ..d()
        },
        LrFindConfig {
            num_steps: 0,
            ..d()
        },
        LrFindConfig {
            num_steps: 1,
            ..d()
        },
        LrFindConfig {
            batch_size: 0,
            ..d()
        },
        LrFindConfig {
            smoothing: 1.0,
            ..d()
        },
        LrFindConfig {
            smoothing: -0.1,
            ..d()
        },
        LrFindConfig {
            smoothing: f64::NAN,
            ..d()
        },
        LrFindConfig {
            diverge_factor: 1.0,
            ..d()
        },
        LrFindConfig {
            diverge_factor: f64::NAN,
            ..d()
        },
        LrFindConfig {
            diverge_factor: f64::INFINITY,
            ..d()
        },
    ];
    for c in bad {
        let shown = format!("{c:?}");
        assert!(matches!(run(c), Err(Error::Config(_))), "{shown}");
    }
    // Data that does not fit the model, an invalid optimizer, a group with rate 0 for
    // group 0 (the sweep scales every group from group 0's rate).
    let wide = regression(32, 5, 8);
    let e = model.lr_find(&wide, Loss::MeanSquaredError, Sgd::new(0.1), d());
    assert!(matches!(e, Err(Error::Shape { .. })), "{e:?}");
    let e = model.lr_find(&data, Loss::MeanSquaredError, Sgd::new(-1.0), d());
    assert!(matches!(e, Err(Error::Hyperparameter { .. })), "{e:?}");
    let zero = LrFindConfig {
        param_groups: vec![ParamGroup::matching(|n| n.ends_with(".bias")).lr(0.1)],
        ..d()
    };
    let e = model.lr_find(&data, Loss::MeanSquaredError, Sgd::new(0.0), zero);
    assert!(matches!(e, Err(Error::Config(_))), "{e:?}");
    assert_eq!(bits(&model.get_weights().unwrap()), weights);
}
