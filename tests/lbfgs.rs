//! L-BFGS (`downhill::optim::Lbfgs`) against PyTorch's `torch.optim.LBFGS`, written again
//! in f64 from `torch/optim/lbfgs.py` in `lbfgs/reference.rs` (the two-loop recursion,
//! the first step `min(1, 1/‖g‖₁)·lr`, the `y·s > 1e-10` test, `_strong_wolfe` with
//! `_cubic_interpolate` and its zoom, the counters and the stopping tests in order), on
//! Rosenbrock in 2-D and 6-D and a least-squares fit (`lbfgs/problems.rs`).
//!
//! Tolerance (reference): L-BFGS is not a contraction, so no fixed bound covers every
//! trajectory. Each case measures how much its own trajectory amplifies rounding: the
//! reference runs again from the start perturbed by one f32 unit roundoff `u` (relative)
//! in each coordinate, both signs, and `amp_k` is the largest deviation after step `k`
//! over those runs, in units of `u·(1 + |x|)`. The library's f32 arithmetic perturbs every
//! evaluation and every vector op by a few `u` (the loss and gradient each carry at most
//! ~10 roundings here: the Rosenbrock terms, the sums, the matmul of 6 terms; the
//! direction, 2·history dot products of ≤ 6 terms), so it may deviate by
//! `64·u·(1 + |x|)·max(amp_k, 1)` plus 1e-6 absolute: a margin of ~6x over those 10
//! roundings. The cases are chosen where the trajectory is well conditioned: each
//! asserts its tolerance stays below 1e-2 relative, so a wrong branch (a wrong step, an
//! evaluation too many) stands out by orders of magnitude; and every case's counters
//! `n_iter` and `func_evals` must equal the reference's exactly after every step.

mod common;

#[path = "lbfgs/harness.rs"]
mod harness;
#[path = "lbfgs/line_search.rs"]
mod line_search;
#[path = "lbfgs/problems.rs"]
mod problems;
#[path = "lbfgs/reference.rs"]
mod reference;
#[path = "lbfgs/state_dict.rs"]
mod state_dict;

use downhill::prelude::*;
use downhill::Error;
use harness::*;
use problems::{flat, Problem};

#[test]
fn lbfgs_matches_pytorch_over_several_steps_with_and_without_strong_wolfe() {
    for (problem, ls, history, max_iter, lr, steps) in CASES {
        let config = config_of(ls, history, max_iter, lr);
        check_against_reference(problem, &config, steps, &Device::cpu());
    }
    // max_eval below max_iter·5/4: the evaluation budget ends the steps.
    let config = config_of(LineSearch::StrongWolfe, 3, 20, 1.0).max_eval(7);
    check_against_reference(Problem::Rosenbrock6, &config, 3, &Device::cpu());
}

#[test]
fn tolerance_grad_and_tolerance_change_stop_as_pytorch() {
    let cpu = Device::cpu();
    // (problem, config, the iterations a first step stops at in the reference).
    let cases = [
        // max|g| <= tolerance_grad after an evaluation.
        (Problem::LeastSquares, Lbfgs::new(1.0).tolerance_grad(1e-3)),
        (
            Problem::LeastSquares,
            Lbfgs::new(1.0)
                .tolerance_grad(1e-3)
                .line_search_fn(LineSearch::StrongWolfe),
        ),
        // The loss changes by less than tolerance_change, or the step is that small.
        (Problem::Rosenbrock6, Lbfgs::new(0.1).tolerance_change(1e-1)),
        (
            Problem::Rosenbrock6,
            Lbfgs::new(1.0)
                .tolerance_change(1e-1)
                .line_search_fn(LineSearch::StrongWolfe),
        ),
        // g·d > -tolerance_change: the direction no longer descends enough.
        (
            Problem::LeastSquares,
            Lbfgs::new(0.1).tolerance_change(0.05),
        ),
    ];
    for (problem, config) in cases {
        let want = run_reference(problem, &config, &start32(problem), 2);
        assert!(
            want[0].n_iter < config.max_iter as u64,
            "{problem:?} {config:?}: the reference should stop early, took {}",
            want[0].n_iter
        );
        let (got, _) = check_against_reference(problem, &config, 2, &cpu);
        assert!(got[0].n_iter < config.max_iter as u64);
    }
    // Already optimal at the start of a step: one evaluation, no iteration.
    let config = Lbfgs::new(1.0).tolerance_grad(1e-3);
    let (got, _) = check_against_reference(Problem::LeastSquares, &config, 2, &cpu);
    assert_eq!(got[1].n_iter, got[0].n_iter);
    assert_eq!(got[1].func_evals, got[0].func_evals + 1);
}

#[test]
fn rosenbrock_converges_from_minus_1_5_2_as_in_pytorch() {
    for device in common::devices() {
        let x = device.scalar(-1.5).unwrap().param();
        let y = device.scalar(2.0).unwrap().param();
        let config = Lbfgs::new(1.0).line_search_fn(LineSearch::StrongWolfe);
        let mut opt = config.build(&[&x, &y]).unwrap();
        let params = [x.clone(), y.clone()];
        for _ in 0..4 {
            opt.step(|| Problem::Rosenbrock2.loss(&params)).unwrap();
        }
        let (xv, yv) = (x.item().unwrap(), y.item().unwrap());
        assert!(
            (xv - 1.0).abs() < 1e-3 && (yv - 1.0).abs() < 1e-3,
            "{}: at ({xv}, {yv})",
            device.name()
        );
        // PyTorch's run (the reference here) needs 41 iterations and 53 evaluations to
        // reach a loss of 2e-7 (three steps); a fourth adds one iteration and evaluation.
        assert!(
            opt.n_iter() <= 50 && opt.func_evals() <= 60,
            "{}",
            opt.n_iter()
        );
    }
}

/// CPU and GPU each lie within the reference's tolerance `rel` (above), so within `2·rel`
/// of each other, and take the same branches: equal counters after every step.
#[test]
fn cpu_and_gpu_agree_step_for_step() {
    let Some(gpu) = common::gpu() else { return };
    for (problem, ls, history, max_iter, lr, steps) in CASES {
        let config = config_of(ls, history, max_iter, lr);
        let (cpu_runs, rels) = check_against_reference(problem, &config, steps, &Device::cpu());
        let (gpu_runs, _) = check_against_reference(problem, &config, steps, &gpu);
        for (k, ((c, g), rel)) in cpu_runs.iter().zip(&gpu_runs).zip(&rels).enumerate() {
            assert_eq!((c.n_iter, c.func_evals), (g.n_iter, g.func_evals));
            for (a, b) in c.x.iter().zip(&g.x) {
                assert!(
                    (a - b).abs() <= 2e-6 + 2.0 * rel * (1.0 + a.abs()),
                    "{problem:?} {config:?} step {k}: cpu {a}, gpu {b}"
                );
            }
        }
    }
}

/// NaN loss with finite gradients, and NaN everywhere: PyTorch's comparisons with NaN are
/// false, so it neither stops on `tolerance_grad` nor stores a pair, and runs on until
/// `max_iter` or `max_eval`; the library takes the same branches (equal counters), gives
/// NaN parameters where the gradient is NaN, and never panics.
#[test]
fn nan_losses_and_gradients_propagate_as_in_pytorch() {
    for device in common::devices() {
        for ls in [LineSearch::None, LineSearch::StrongWolfe] {
            for all_nan in [false, true] {
                let problem = Problem::Rosenbrock2;
                let config = Lbfgs::new(1.0)
                    .max_iter(6)
                    .history_size(3)
                    .line_search_fn(ls);
                let cfg = reference_config(&config);
                let mut state = reference::State::default();
                let mut xr = start32(problem);
                let mut obj = |x: &[f64]| {
                    let (_, g) = problem.eval(x);
                    let g = if all_nan { vec![f64::NAN; g.len()] } else { g };
                    (f64::NAN, g)
                };
                let params = problem.params(&device, &problem.start());
                let refs: Vec<&Tensor> = params.iter().collect();
                let mut opt = config.build(&refs).unwrap();
                let nan = device.scalar(f32::NAN).unwrap();
                for step in 0..2 {
                    reference::step(&cfg, &mut state, &mut xr, &mut obj);
                    let loss = opt
                        .step(|| {
                            let f = problem.loss(&params)?;
                            if all_nan {
                                (&f * &nan)?.sum() // NaN loss, NaN gradients
                            } else {
                                &f + &nan // NaN loss, the gradient of f
                            }
                        })
                        .unwrap();
                    assert!(loss.is_nan());
                    let what = format!("{} {ls:?} all_nan {all_nan} step {step}", device.name());
                    assert_eq!(
                        (opt.n_iter(), opt.func_evals()),
                        (state.n_iter, state.func_evals),
                        "{what}"
                    );
                    let x = flat(&params);
                    assert_eq!(opt.history_len(), state.old_dirs.len(), "{what}");
                    if all_nan {
                        assert!(x.iter().all(|v| v.is_nan()), "{what}: {x:?}");
                    } else {
                        assert!(xr.iter().all(|v| v.is_finite()));
                        for (a, b) in x.iter().zip(&xr) {
                            let b = *b;
                            assert!(
                                (f64::from(*a) - b).abs() <= 1e-3 * (1.0 + b.abs()),
                                "{what}: {a} vs {b}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn bad_lbfgs_hyperparameters_are_typed_errors() {
    let device = Device::cpu();
    let cases: [(&str, Lbfgs); 11] = [
        ("lr", Lbfgs::new(-1.0)),
        ("lr", Lbfgs::new(f64::NAN)),
        ("lr", Lbfgs::new(f64::INFINITY)),
        ("tolerance_grad", Lbfgs::new(1.0).tolerance_grad(-1e-7)),
        ("tolerance_grad", Lbfgs::new(1.0).tolerance_grad(f64::NAN)),
        ("tolerance_change", Lbfgs::new(1.0).tolerance_change(-1.0)),
        (
            "tolerance_change",
            Lbfgs::new(1.0).tolerance_change(f64::NAN),
        ),
        ("max_iter", Lbfgs::new(1.0).max_iter(0)),
        ("max_eval", Lbfgs::new(1.0).max_eval(0)),
        // max_iter 1: PyTorch's default max_eval is 1·5/4 = 1, valid.
        ("history_size", Lbfgs::new(1.0).max_iter(1).history_size(0)),
        ("history_size", Lbfgs::new(1.0).history_size(0)),
    ];
    for (name, config) in cases {
        let p = device.scalar(1.0).unwrap().param();
        match config.build(&[&p]) {
            Err(Error::Hyperparameter { name: n, .. }) => assert_eq!(n, name, "{config:?}"),
            other => panic!("{config:?}: {:?}", other.err()),
        }
    }
    assert_eq!(Lbfgs::new(1.0).max_iter(1).max_eval_or_default(), 1);
    assert_eq!(Lbfgs::default().max_eval_or_default(), 25);
    assert!(matches!(
        Lbfgs::default().build(&[]),
        Err(Error::EmptyData(_))
    ));
}

#[test]
fn pytorch_defaults() {
    let d = Lbfgs::default();
    assert_eq!(
        (
            d.lr,
            d.max_iter,
            d.max_eval,
            d.tolerance_grad,
            d.tolerance_change
        ),
        (1.0, 20, None, 1e-7, 1e-9)
    );
    assert_eq!((d.history_size, d.line_search_fn), (100, LineSearch::None));
}

#[test]
fn closure_errors_propagate_and_the_optimizer_stays_usable() {
    for device in common::devices() {
        for ls in [LineSearch::None, LineSearch::StrongWolfe] {
            let problem = Problem::Rosenbrock2;
            let params = problem.params(&device, &problem.start());
            let mut opt = config_of(ls, 3, 5, 1.0)
                .build(&params.iter().collect::<Vec<_>>())
                .unwrap();
            // The third evaluation fails (inside the line search with strong Wolfe).
            let mut calls = 0;
            let err = opt
                .step(|| {
                    calls += 1;
                    if calls == 3 {
                        return Err(Error::Config("boom".into()));
                    }
                    problem.loss(&params)
                })
                .unwrap_err();
            assert!(matches!(err, Error::Config(ref m) if m == "boom"), "{err}");
            assert_eq!(calls, 3);
            // A loss that depends on no parameter: backward's error.
            let stray = device.scalar(1.0).unwrap();
            let err = opt.step(|| stray.square()).unwrap_err();
            assert!(matches!(err, Error::Autodiff(_)), "{err}");
            // A loss of more than one element.
            let err = opt
                .step(|| params[0].square()?.broadcast_to([2]))
                .unwrap_err();
            assert!(matches!(err, Error::Autodiff(_)), "{err}");
            // Then a good closure steps as usual.
            opt.step(|| problem.loss(&params)).unwrap();
            assert!(flat(&params).iter().all(|v| v.is_finite()));
        }
    }
}

/// The downloads the module docs count: without a line search one per step plus 3 per
/// iteration, less one for the first iteration (no pair yet) and one for the last (no
/// re-evaluation); with strong Wolfe one per step, 2 per iteration (one on the first)
/// and one per line-search evaluation.
#[test]
fn downloads_per_iteration_are_as_documented() {
    let problem = Problem::Rosenbrock6;
    for device in common::devices() {
        let params = problem.params(&device, &problem.start());
        let mut opt = config_of(LineSearch::None, 3, 5, 0.1)
            .build(&params.iter().collect::<Vec<_>>())
            .unwrap();
        opt.step(|| problem.loss(&params)).unwrap();
        assert_eq!(opt.n_iter(), 5, "all 5 iterations run");
        assert_eq!(opt.downloads(), 1 + 3 * 5 - 2);
        let mut opt = config_of(LineSearch::StrongWolfe, 3, 5, 1.0)
            .build(&params.iter().collect::<Vec<_>>())
            .unwrap();
        opt.step(|| problem.loss(&params)).unwrap();
        let ls_evals = opt.func_evals() - 1;
        assert_eq!(opt.downloads(), 1 + (2 * opt.n_iter() - 1) + ls_evals);
    }
}

/// The PyTorch-style loop with a model: the closure is the forward pass and the loss.
/// Full-batch L-BFGS fits a small tanh network to a smooth curve far better than the
/// first loss (a regression here would stall at the start).
#[test]
fn lbfgs_fits_a_sequential_model_with_a_forward_closure() {
    for device in common::devices() {
        let model = Sequential::new(&device)
            .seed(7)
            .dense(1, 8, Activation::Tanh)
            .dense(8, 1, Activation::Linear);
        let xs: Vec<f32> = (0..16).map(|i| i as f32 / 8.0 - 1.0).collect();
        let ys: Vec<f32> = xs.iter().map(|x| (2.0 * x).sin()).collect();
        let x = device.tensor(xs, [16, 1]).unwrap();
        let y = device.tensor(ys, [16, 1]).unwrap();
        let params = model.parameters().unwrap();
        let mut lbfgs = Lbfgs::new(1.0)
            .line_search_fn(LineSearch::StrongWolfe)
            .build(&params.iter().collect::<Vec<_>>())
            .unwrap();
        let first = lbfgs.step(|| model.forward(&x)?.mse(&y)).unwrap();
        for _ in 0..4 {
            lbfgs.step(|| model.forward(&x)?.mse(&y)).unwrap();
        }
        let last = model.forward(&x).unwrap().mse(&y).unwrap().item().unwrap();
        assert!(last < first * 1e-2, "{}: {first} -> {last}", device.name());
    }
}
