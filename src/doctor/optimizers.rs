//! Every optimizer, a few steps on both devices from the same parameters and gradients
//! (the linear problem of tests/parity.rs: `loss = Σ sum(p ⊙ c_t)` with fresh `c_t` each
//! step, so the gradient is `c_t`), compared with tests/parity.rs's bound
//! ([`optimizer_atol`]). A NaN and an infinite gradient component ride along in one
//! tensor, as tests/parity_nonfinite.rs does: they must give the same class on both sides.

use super::harness::{Draw, Group};
use super::tolerance::{optimizer_atol, Tol};
use crate::prelude::*;

/// Steps per optimizer: enough for every state buffer and bias correction to matter.
const STEPS: usize = 4;
/// Parameter shapes: one element, a prime, a 2-D matrix (Muon's, LAMB's and Adafactor's
/// per-tensor paths), and a tensor with a NaN and an infinite gradient component.
const SHAPES: [&[usize]; 4] = [&[1], &[7], &[13, 37], &[5]];

/// `(name, config, per-step roundings of its bound)`: every optimizer of
/// `crates/core/src/optim` with its defaults, and the options that change its kernel's
/// path. Elementwise rules get tests/parity.rs's 20 roundings per step; rules that reduce
/// over a tensor (LAMB, Adafactor) or compose matrix products (Muon) 130, the largest of
/// their own suites' per-step budgets (tests/adafactor.rs).
pub(crate) fn table() -> Vec<(&'static str, Box<dyn OptimizerConfig>, f64)> {
    vec![
        ("SGD", Box::new(Sgd::new(0.05)), 20.0),
        (
            "SGD momentum nesterov",
            Box::new(Sgd::new(0.05).momentum(0.9).nesterov(true)),
            20.0,
        ),
        ("Adagrad", Box::new(Adagrad::new(0.1)), 20.0),
        (
            "RMSprop centered momentum",
            Box::new(RmsProp::new(0.01).centered(true).momentum(0.9)),
            20.0,
        ),
        ("Adadelta", Box::new(Adadelta::new(1.0)), 20.0),
        ("Adam", Box::new(Adam::new(0.01)), 20.0),
        (
            "Adam amsgrad",
            Box::new(Adam::new(0.01).amsgrad(true)),
            20.0,
        ),
        ("AdamW", Box::new(AdamW::new(0.01)), 20.0),
        ("Adamax", Box::new(Adamax::new(0.02)), 20.0),
        ("NAdam", Box::new(NAdam::new(0.02)), 20.0),
        ("RAdam", Box::new(RAdam::new(0.01)), 20.0),
        ("Rprop", Box::new(Rprop::new(0.01)), 20.0),
        ("ASGD", Box::new(Asgd::new(0.01)), 20.0),
        ("Adan", Box::new(Adan::new(0.01)), 20.0),
        ("Lion", Box::new(Lion::new(0.001)), 20.0),
        (
            "AdamWScheduleFree",
            Box::new(AdamWScheduleFree::new(0.01)),
            20.0,
        ),
        (
            "SgdScheduleFree",
            Box::new(SgdScheduleFree::new(0.05)),
            20.0,
        ),
        ("LAMB", Box::new(Lamb::new(0.01)), 130.0),
        ("Adafactor", Box::new(Adafactor::new(0.01)), 130.0),
        ("Muon", Box::new(Muon::new(0.02)), 130.0),
    ]
}

struct Run {
    params: Vec<Vec<f32>>,
    /// Σ over steps of the largest finite |Δp|.
    path: f64,
    max_abs: f64,
}

fn finite_max(v: impl Iterator<Item = f64>) -> f64 {
    v.filter(|x| x.is_finite()).fold(0.0, f64::max)
}

fn optimize(
    device: &Device,
    config: &dyn OptimizerConfig,
    init: &[Vec<f32>],
    pushes: &[Vec<Vec<f32>>],
) -> Result<Run> {
    let params = init
        .iter()
        .zip(SHAPES)
        .map(|(v, s)| Ok(device.tensor(v.clone(), s.to_vec())?.param()))
        .collect::<Result<Vec<Tensor>>>()?;
    let refs: Vec<&Tensor> = params.iter().collect();
    let mut opt = Optimizer::new(config.boxed_clone(), &refs)?;
    let host = |ps: &[Tensor]| ps.iter().map(Tensor::to_vec).collect::<Result<Vec<_>>>();
    let mut previous = host(&params)?;
    let mut max_abs = finite_max(previous.iter().flatten().map(|&v| (v as f64).abs()));
    let mut path = 0.0;
    for push in pushes {
        let mut loss: Option<Tensor> = None;
        for ((p, c), s) in params.iter().zip(push).zip(SHAPES) {
            let term = p.mul(&device.tensor(c.clone(), s.to_vec())?)?.sum()?;
            loss = Some(match loss {
                None => term,
                Some(l) => l.add(&term)?,
            });
        }
        let grads = loss.expect("parameters").backward()?;
        opt.step(&grads)?;
        let now = host(&params)?;
        let diffs = now.iter().flatten().zip(previous.iter().flatten());
        path += finite_max(diffs.map(|(&a, &b)| (a as f64 - b as f64).abs()));
        max_abs = max_abs.max(finite_max(now.iter().flatten().map(|&v| (v as f64).abs())));
        previous = now;
    }
    // Schedule-free rules evaluate at another point: their swap kernel runs here (and is
    // a no-op for the rest).
    opt.eval()?;
    Ok(Run {
        params: host(&params)?,
        path,
        max_abs,
    })
}

/// Every optimizer of [`table`] and L-BFGS, CPU against `gpu`.
pub(crate) fn check(cpu: &Device, gpu: &Device) -> Group {
    let mut group = Group::new("optimizers");
    let mut d = Draw(0x0971);
    let init: Vec<Vec<f32>> = SHAPES
        .iter()
        .map(|s| d.uniform(s, -1.0, 1.0).data)
        .collect();
    let pushes: Vec<Vec<Vec<f32>>> = (0..STEPS)
        .map(|_| {
            let mut push: Vec<Vec<f32>> = SHAPES
                .iter()
                .map(|s| d.uniform(s, -1.0, 1.0).data)
                .collect();
            // The last tensor's gradient holds a NaN and an infinity (its parameters turn
            // NaN on both sides; the other tensors must stay unaffected and agree).
            let last = push.len() - 1;
            push[last][1] = f32::NAN;
            push[last][3] = f32::INFINITY;
            push
        })
        .collect();
    for (name, config, roundings) in table() {
        let reference = match optimize(cpu, config.as_ref(), &init, &pushes) {
            Ok(r) => r,
            Err(e) => {
                group.fail(format!("{name}: the CPU reference failed: {e}"));
                continue;
            }
        };
        let tol = Tol::abs(optimizer_atol(
            STEPS,
            reference.max_abs,
            reference.path,
            roundings,
        ));
        match optimize(gpu, config.as_ref(), &init, &pushes) {
            Ok(run) => {
                for (i, (c, g)) in reference.params.iter().zip(&run.params).enumerate() {
                    let what = format!("{name}: parameter {i} {:?} after {STEPS} steps", SHAPES[i]);
                    group.close(&what, c, g, tol);
                }
            }
            Err(e) => group.fail(format!("{name}: {e}")),
        }
    }
    lbfgs(cpu, gpu, &mut group);
    group
}

/// L-BFGS steps (one iteration each, so every step is one update as for the others).
const LBFGS_STEPS: usize = 4;

/// L-BFGS (a closure evaluated several times per step, with PyTorch's strong-Wolfe line
/// search) on the quadratic `Σ (p − t)²·w`, one iteration per step: bounded as the
/// tensorwise rules are (its direction is two-loop dot products over the history), with
/// the reference's path.
fn lbfgs(cpu: &Device, gpu: &Device, group: &mut Group) {
    let mut d = Draw(0x1BF6);
    let (p0, t, w) = (
        d.uniform(&[19], -1.0, 1.0).data,
        d.uniform(&[19], -1.0, 1.0).data,
        d.uniform(&[19], 0.5, 1.5).data,
    );
    let run = |device: &Device| -> Result<Run> {
        let p = device.tensor(p0.clone(), [19])?.param();
        let (tt, wt) = (
            device.tensor(t.clone(), [19])?,
            device.tensor(w.clone(), [19])?,
        );
        let mut opt = Lbfgs::new(0.5)
            .max_iter(1)
            .line_search_fn(LineSearch::StrongWolfe)
            .build(&[&p])?;
        let (mut previous, mut path) = (p0.clone(), 0.0);
        let mut max_abs = finite_max(p0.iter().map(|&v| (v as f64).abs()));
        for _ in 0..LBFGS_STEPS {
            opt.step(|| p.sub(&tt)?.square()?.mul(&wt)?.sum())?;
            let now = p.to_vec()?;
            path += finite_max(
                now.iter()
                    .zip(&previous)
                    .map(|(&a, &b)| (a as f64 - b as f64).abs()),
            );
            max_abs = max_abs.max(finite_max(now.iter().map(|&v| (v as f64).abs())));
            previous = now;
        }
        Ok(Run {
            params: vec![previous],
            path,
            max_abs,
        })
    };
    match (run(cpu), run(gpu)) {
        (Ok(c), Ok(g)) => {
            let tol = Tol::abs(optimizer_atol(LBFGS_STEPS, c.max_abs, c.path, 130.0));
            let what = format!("L-BFGS strong Wolfe: parameters after {LBFGS_STEPS} steps");
            group.close(&what, &c.params[0], &g.params[0], tol);
        }
        (Err(e), _) => group.fail(format!("L-BFGS: the CPU reference failed: {e}")),
        (_, Err(e)) => group.fail(format!("L-BFGS: {e}")),
    }
}
