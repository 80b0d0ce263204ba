//! The comparison with the reference: running both, the amplification that sets each
//! step's tolerance (see the docs of `tests/lbfgs.rs`), and the cases.

use crate::common::tolerance::U;
use crate::problems::{flat, Problem};
use crate::reference;
use downhill::prelude::*;

pub fn reference_config(c: &Lbfgs) -> reference::Config {
    reference::Config {
        lr: c.lr,
        max_iter: c.max_iter,
        max_eval: c.max_eval_or_default(),
        tolerance_grad: c.tolerance_grad,
        tolerance_change: c.tolerance_change,
        history_size: c.history_size,
        strong_wolfe: c.line_search_fn == LineSearch::StrongWolfe,
    }
}

/// One step's record: `orig_loss`, the parameters after it, `n_iter`, `func_evals`.
#[derive(Clone, Debug)]
pub struct Record {
    pub loss: f64,
    pub x: Vec<f64>,
    pub n_iter: u64,
    pub func_evals: u64,
}

pub fn run_reference(problem: Problem, config: &Lbfgs, start: &[f64], steps: usize) -> Vec<Record> {
    run_reference_with(problem, config, start, steps, false)
}

/// The reference; with `round`, every evaluation sees the point rounded to f32 and
/// returns its loss and gradient rounded to f32 (the library's parameters and results).
pub fn run_reference_with(
    problem: Problem,
    config: &Lbfgs,
    start: &[f64],
    steps: usize,
    round: bool,
) -> Vec<Record> {
    let cfg = reference_config(config);
    let mut state = reference::State::default();
    let mut x = start.to_vec();
    let r = |v: f64| if round { v as f32 as f64 } else { v };
    let mut obj = |x: &[f64]| {
        let (f, g) = problem.eval(&x.iter().map(|&v| r(v)).collect::<Vec<_>>());
        (r(f), g.into_iter().map(r).collect())
    };
    (0..steps)
        .map(|_| {
            let loss = reference::step(&cfg, &mut state, &mut x, &mut obj);
            Record {
                loss,
                x: x.clone(),
                n_iter: state.n_iter,
                func_evals: state.func_evals,
            }
        })
        .collect()
}

pub fn run_library(problem: Problem, config: &Lbfgs, steps: usize, device: &Device) -> Vec<Record> {
    let params = problem.params(device, &problem.start());
    let refs: Vec<&Tensor> = params.iter().collect();
    let mut opt = config.build(&refs).unwrap();
    (0..steps)
        .map(|_| {
            let loss = opt.step(|| problem.loss(&params)).unwrap();
            Record {
                loss: loss.into(),
                x: flat(&params).into_iter().map(f64::from).collect(),
                n_iter: opt.n_iter(),
                func_evals: opt.func_evals(),
            }
        })
        .collect()
}

/// The f32-rounded start (what the library starts from).
pub fn start32(problem: Problem) -> Vec<f64> {
    problem.start().iter().map(|&v| v as f32 as f64).collect()
}

/// `amp_k` of the module docs for each step.
pub fn amplification(problem: Problem, config: &Lbfgs, want: &[Record]) -> Vec<f64> {
    let start = start32(problem);
    let mut amp = vec![1.0f64; want.len()];
    let mut runs = vec![run_reference_with(
        problem,
        config,
        &start,
        want.len(),
        true,
    )];
    for i in 0..start.len() {
        for sign in [-1.0, 1.0] {
            let mut x = start.clone();
            x[i] += sign * U * (1.0 + x[i].abs());
            runs.push(run_reference(problem, config, &x, want.len()));
        }
    }
    {
        for run in runs {
            for (k, (a, b)) in run.iter().zip(want).enumerate() {
                for (p, q) in a.x.iter().zip(&b.x) {
                    let dev = (p - q).abs() / (U * (1.0 + q.abs()));
                    amp[k] = amp[k].max(if dev.is_nan() { f64::INFINITY } else { dev });
                }
            }
        }
    }
    // A deviation at step k stays possible at every later step.
    for k in 1..amp.len() {
        amp[k] = amp[k].max(amp[k - 1]);
    }
    amp
}

/// Runs the library on `device` and checks it against the reference; returns its
/// records and each step's relative tolerance.
pub fn check_against_reference(
    problem: Problem,
    config: &Lbfgs,
    steps: usize,
    device: &Device,
) -> (Vec<Record>, Vec<f64>) {
    let want = run_reference(problem, config, &start32(problem), steps);
    let amp = amplification(problem, config, &want);
    let got = run_library(problem, config, steps, device);
    let what = format!("{problem:?} {config:?} on {}", device.name());
    for (k, ((w, g), amp)) in want.iter().zip(&got).zip(&amp).enumerate() {
        let rel = 64.0 * U * amp;
        assert!(
            rel < 1e-2,
            "{what}: step {k} is ill-conditioned (amp {amp:.1e})"
        );
        assert_eq!(
            (g.n_iter, g.func_evals),
            (w.n_iter, w.func_evals),
            "{what}: step {k}: (n_iter, func_evals)"
        );
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 + rel * (1.0 + b.abs());
        assert!(
            close(g.loss, w.loss),
            "{what}: step {k}: orig_loss {} vs {}",
            g.loss,
            w.loss
        );
        for (j, (a, b)) in g.x.iter().zip(&w.x).enumerate() {
            assert!(
                close(*a, *b),
                "{what}: step {k}: x[{j}] = {a}, reference {b} (rel tol {rel:.1e})"
            );
        }
    }
    let rels = amp.iter().map(|a| 64.0 * U * a).collect();
    (got, rels)
}

/// (problem, line search, history_size, max_iter, lr, steps): every option, a history
/// of 3 that wraps (5 iterations a step), and the default 20 iterations with 100 pairs.
pub const CASES: [(Problem, LineSearch, usize, usize, f64, usize); 12] = [
    (Problem::Rosenbrock2, LineSearch::None, 3, 5, 0.1, 4),
    (Problem::Rosenbrock2, LineSearch::StrongWolfe, 3, 5, 1.0, 2),
    (
        Problem::Rosenbrock2,
        LineSearch::StrongWolfe,
        100,
        12,
        1.0,
        1,
    ),
    (Problem::Rosenbrock6, LineSearch::None, 3, 5, 0.1, 6),
    (Problem::Rosenbrock6, LineSearch::None, 3, 5, 1.0, 5),
    (Problem::Rosenbrock6, LineSearch::StrongWolfe, 3, 5, 1.0, 5),
    (Problem::Rosenbrock6, LineSearch::StrongWolfe, 3, 5, 0.1, 6),
    (
        Problem::Rosenbrock6,
        LineSearch::StrongWolfe,
        100,
        12,
        1.0,
        1,
    ),
    (Problem::LeastSquares, LineSearch::None, 3, 5, 0.1, 6),
    (Problem::LeastSquares, LineSearch::None, 3, 5, 1.0, 1),
    (Problem::LeastSquares, LineSearch::StrongWolfe, 3, 5, 1.0, 1),
    (Problem::LeastSquares, LineSearch::StrongWolfe, 3, 5, 0.1, 1),
];

pub fn config_of(ls: LineSearch, history: usize, max_iter: usize, lr: f64) -> Lbfgs {
    Lbfgs::new(lr)
        .history_size(history)
        .max_iter(max_iter)
        .line_search_fn(ls)
}
