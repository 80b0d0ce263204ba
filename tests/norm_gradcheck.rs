//! Central finite-difference gradient checks of batch norm (training and evaluation mode,
//! with and without the affine map), layer norm and dropout on the CPU device, by the method
//! of tests/gradcheck.rs (its harness copied here): the objective `F = sum(y·R)` with fixed
//! random weights `R`, autodiff against `(F(x + h) − F(x − h)) / (2h)` with h = 1e-2,
//! accepted within `1e-3 + 1e-2·|numeric|`, element by element of every input.
//!
//! Step and tolerance for these ops: the normalisations are smooth (rational functions of
//! `x` with `var + eps` bounded away from 0: every channel holds at least 3 values drawn
//! from [-2, 2]), their third derivatives scale with `rstd³·|R|`, so the truncation error
//! `h²/6·|F'''|` stays near 1e-4; the f32 rounding of the perturbed channel's outputs is
//! `EPS·Σ|y·R|/h`, about 1e-4 for the at most 24 outputs of |y| <= 2 a channel has here.
//! Dropout is linear in `x` for a fixed `(seed, offset)`, so its differences are exact up
//! to rounding. `checker_detects_a_wrong_gradient` shows that a wrong gradient fails.

#![allow(dead_code)]

use downhill::prelude::*;
use downhill::random::SeededRng;
use downhill::{BatchNormConfig, RunningStats};

/// Finite-difference step.
const H: f32 = 1e-2;
/// Absolute tolerance (see the module comment).
const ATOL: f64 = 1e-3;
/// Relative tolerance (see the module comment).
const RTOL: f64 = 1e-2;
/// Inputs stay at least this far from kinks and ties (more than 2h).
const MARGIN: f32 = 3.0 * H;

/// One input of a checked function: row-major host data and its shape.
#[derive(Clone, Debug)]
struct Input {
    data: Vec<f32>,
    shape: Vec<usize>,
}

/// Seeded input generator.
struct Gen(SeededRng);

impl Gen {
    fn new(seed: u64) -> Self {
        Gen(SeededRng::new(seed))
    }

    fn numel(shape: &[usize]) -> usize {
        shape.iter().product()
    }

    fn input(shape: &[usize], data: Vec<f32>) -> Input {
        assert_eq!(data.len(), Self::numel(shape), "test bug: data/shape");
        Input {
            data,
            shape: shape.to_vec(),
        }
    }

    /// Uniform in `[lo, hi)`.
    fn uniform(&mut self, shape: &[usize], lo: f32, hi: f32) -> Input {
        let data = (0..Self::numel(shape))
            .map(|_| self.0.uniform(lo, hi))
            .collect();
        Self::input(shape, data)
    }

    /// Random sign, magnitude in `[lo, hi)`: bounded away from zero.
    fn signed(&mut self, shape: &[usize], lo: f32, hi: f32) -> Input {
        let data = (0..Self::numel(shape))
            .map(|_| {
                let m = self.0.uniform(lo, hi);
                if self.0.uniform(0.0, 1.0) < 0.5 {
                    -m
                } else {
                    m
                }
            })
            .collect();
        Self::input(shape, data)
    }

    /// Uniform in `[lo, hi)`, redrawn until at least `MARGIN` away from every kink.
    fn avoiding(&mut self, shape: &[usize], lo: f32, hi: f32, kinks: &[f32]) -> Input {
        let data = (0..Self::numel(shape))
            .map(|_| loop {
                let v = self.0.uniform(lo, hi);
                if kinks.iter().all(|k| (v - k).abs() >= MARGIN) {
                    break v;
                }
            })
            .collect();
        Self::input(shape, data)
    }

    /// Pairwise distinct values (a shuffled grid with spacing 0.1 > 2h, centred on 0, plus
    /// a small jitter), so every maximum is unique by a margin of more than 2h.
    fn distinct(&mut self, shape: &[usize]) -> Input {
        let n = Self::numel(shape);
        let data = self
            .0
            .permutation(n)
            .into_iter()
            .map(|k| (k as f32 - n as f32 / 2.0) * 0.1 + self.0.uniform(0.0, 0.02))
            .collect();
        Self::input(shape, data)
    }

    /// Class labels in `0..classes` as f32.
    fn labels(&mut self, rows: usize, classes: usize) -> Vec<f32> {
        (0..rows)
            .map(|_| ((self.0.uniform(0.0, 1.0) * classes as f32) as usize).min(classes - 1) as f32)
            .collect()
    }

    /// Hard 0/1 targets.
    fn binary(&mut self, shape: &[usize]) -> Input {
        let data = (0..Self::numel(shape))
            .map(|_| {
                if self.0.uniform(0.0, 1.0) < 0.5 {
                    0.0
                } else {
                    1.0
                }
            })
            .collect();
        Self::input(shape, data)
    }
}

type OpFn = Box<dyn Fn(&[Tensor]) -> downhill::Result<Tensor>>;

/// A named function of some inputs, to check.
struct Case {
    name: String,
    inputs: Vec<Input>,
    f: OpFn,
}

fn case(
    name: impl Into<String>,
    inputs: Vec<Input>,
    f: impl Fn(&[Tensor]) -> downhill::Result<Tensor> + 'static,
) -> Case {
    Case {
        name: name.into(),
        inputs,
        f: Box::new(f),
    }
}

/// The outcome of one check: failure messages (empty when it passed) and the worst
/// `|auto - numeric| / tolerance` seen (diagnostics only).
struct Outcome {
    failures: Vec<String>,
    worst: f64,
}

/// Compares the autodiff gradient of `sum(f(inputs) * R)` with central differences, for
/// every element of every input.
fn gradcheck(device: &Device, case: &Case, weight_seed: u64) -> downhill::Result<Outcome> {
    let name = &case.name;
    let f = &case.f;
    let mut failures = Vec::new();
    let mut worst = 0.0f64;

    // Autodiff side.
    let params = case
        .inputs
        .iter()
        .map(|i| Ok(device.tensor(i.data.clone(), i.shape.clone())?.param()))
        .collect::<downhill::Result<Vec<Tensor>>>()?;
    let y = f(&params)?;
    let out_shape = y.dims().to_vec();
    let weights = Gen::new(weight_seed).signed(&out_shape, 0.5, 1.5).data;
    let r = device.tensor(weights.clone(), out_shape.clone())?;
    let grads = y.mul(&r)?.sum()?.backward()?;

    // Numeric side: F from host vectors, through non-trainable tensors, reduced in f64.
    let objective = |inputs: &[Input]| -> downhill::Result<f64> {
        let consts = inputs
            .iter()
            .map(|i| device.tensor(i.data.clone(), i.shape.clone()))
            .collect::<downhill::Result<Vec<Tensor>>>()?;
        let y = f(&consts)?;
        assert_eq!(y.dims(), &out_shape[..], "{name}: output shape changed");
        Ok(y.to_vec()?
            .iter()
            .zip(&weights)
            .map(|(&v, &w)| v as f64 * w as f64)
            .sum())
    };

    for (k, (input, param)) in case.inputs.iter().zip(&params).enumerate() {
        let Some(grad) = grads.get(param) else {
            failures.push(format!("{name}: input {k} got no gradient"));
            continue;
        };
        if grad.dims() != &input.shape[..] {
            failures.push(format!(
                "{name}: input {k} has shape {:?} but its gradient {:?}",
                input.shape,
                grad.dims()
            ));
            continue;
        }
        let auto = grad.to_vec()?;
        let mut largest = 0.0f64;
        for (j, (&x, &a)) in input.data.iter().zip(&auto).enumerate() {
            let (xp, xm) = (x + H, x - H);
            let mut moved = case.inputs.to_vec();
            moved[k].data[j] = xp;
            let fp = objective(&moved)?;
            moved[k].data[j] = xm;
            let fm = objective(&moved)?;
            let numeric = (fp - fm) / (xp as f64 - xm as f64);
            let a = a as f64;
            let tol = ATOL + RTOL * numeric.abs();
            let diff = (a - numeric).abs();
            largest = largest.max(numeric.abs());
            if !a.is_finite() || !numeric.is_finite() || diff > tol {
                failures.push(format!(
                    "{name}: input {k} {:?} element {j} (x = {x}): autodiff {a:.6} vs numeric \
                     {numeric:.6} (|diff| {diff:.2e} > tol {tol:.2e})",
                    input.shape
                ));
            }
            worst = worst.max(diff / tol);
        }
        // Every case is built so that its gradient is not identically zero: a check that
        // compares only zeros would prove nothing.
        if largest < 1e-3 {
            failures.push(format!(
                "{name}: input {k} has an all-zero numeric gradient (degenerate case)"
            ));
        }
    }
    Ok(Outcome { failures, worst })
}

/// Checks every case and fails listing each mismatch (op name, input, element, both values).
/// Constants captured by the cases must live on `device` (each `Device::cpu()` is a
/// distinct backend instance, and ops refuse to mix instances).
fn run_cases(device: &Device, cases: Vec<Case>) {
    let mut failures = Vec::new();
    let mut worst = (0.0f64, String::new());
    for (i, case) in cases.iter().enumerate() {
        match gradcheck(device, case, 7_000 + i as u64) {
            Ok(outcome) => {
                failures.extend(outcome.failures);
                if outcome.worst > worst.0 {
                    worst = (outcome.worst, case.name.clone());
                }
            }
            Err(e) => failures.push(format!("{}: error {e}", case.name)),
        }
    }
    eprintln!(
        "{} cases; worst |diff| / tol = {:.3} ({})",
        cases.len(),
        worst.0,
        worst.1
    );
    assert!(
        failures.is_empty(),
        "{} gradient mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

const EPS: f32 = 1e-5;

fn train() -> BatchNormConfig {
    BatchNormConfig::default()
}

#[test]
fn batch_norm_training_mode() {
    let mut g = Gen::new(21);
    let mut cases = Vec::new();
    for shape in [vec![5usize, 3], vec![3, 2, 4], vec![2, 3, 2, 2]] {
        let c = shape[1];
        cases.push(case(
            format!("batch_norm {shape:?} affine"),
            vec![
                g.uniform(&shape, -2.0, 2.0),
                g.signed(&[c], 0.5, 1.5),
                g.uniform(&[c], -1.0, 1.0),
            ],
            |t| t[0].batch_norm(None, Some(&t[1]), Some(&t[2]), train()),
        ));
        cases.push(case(
            format!("batch_norm {shape:?}"),
            vec![g.uniform(&shape, -2.0, 2.0)],
            |t| t[0].batch_norm(None, None, None, train()),
        ));
    }
    // γ alone (β a constant zero).
    cases.push(case(
        "batch_norm [4, 3] weight only",
        vec![g.uniform(&[4, 3], -2.0, 2.0), g.signed(&[3], 0.5, 1.5)],
        |t| t[0].batch_norm(None, Some(&t[1]), None, train()),
    ));
    run_cases(&Device::cpu(), cases);
}

#[test]
fn batch_norm_evaluation_mode() {
    let device = Device::cpu();
    let mean = device.tensor(vec![0.5, -1.0, 0.2], [3]).unwrap();
    let var = device.tensor(vec![0.8, 2.0, 0.5], [3]).unwrap();
    let tracked = device.zeros([]).unwrap();
    let mut g = Gen::new(22);
    let eval = BatchNormConfig {
        training: false,
        ..Default::default()
    };
    let cases = vec![case(
        "batch_norm eval [4, 3, 2] affine",
        vec![
            g.uniform(&[4, 3, 2], -2.0, 2.0),
            g.signed(&[3], 0.5, 1.5),
            g.uniform(&[3], -1.0, 1.0),
        ],
        move |t| {
            let running = RunningStats {
                mean: &mean,
                var: &var,
                num_batches_tracked: &tracked,
            };
            t[0].batch_norm(Some(running), Some(&t[1]), Some(&t[2]), eval)
        },
    )];
    run_cases(&device, cases);
}

#[test]
fn layer_norm() {
    let mut g = Gen::new(23);
    let mut cases = Vec::new();
    for (shape, normalized) in [
        (vec![4usize, 5], vec![5usize]),
        (vec![2, 3, 4], vec![3, 4]),
        (vec![3], vec![3]),
    ] {
        let affine = normalized.clone();
        cases.push(case(
            format!("layer_norm {shape:?} over {normalized:?} affine"),
            vec![
                g.uniform(&shape, -2.0, 2.0),
                g.signed(&normalized, 0.5, 1.5),
                g.uniform(&normalized, -1.0, 1.0),
            ],
            move |t| t[0].layer_norm(&affine, Some(&t[1]), Some(&t[2]), EPS),
        ));
        cases.push(case(
            format!("layer_norm {shape:?} over {normalized:?}"),
            vec![g.uniform(&shape, -2.0, 2.0)],
            move |t| t[0].layer_norm(&normalized, None, None, EPS),
        ));
    }
    run_cases(&Device::cpu(), cases);
}

#[test]
fn dropout() {
    let mut g = Gen::new(24);
    let cases = vec![
        case("dropout(0.3)", vec![g.uniform(&[5, 7], -2.0, 2.0)], |t| {
            t[0].dropout(0.3, 99, 4)
        }),
        case("dropout(0)", vec![g.uniform(&[9], -2.0, 2.0)], |t| {
            t[0].dropout(0.0, 1, 0)
        }),
        // Through a layer norm: the mask scales the gradient reaching the normalisation.
        case(
            "layer_norm then dropout(0.5)",
            vec![g.uniform(&[3, 6], -2.0, 2.0)],
            |t| t[0].layer_norm(&[6], None, None, EPS)?.dropout(0.5, 7, 1),
        ),
    ];
    run_cases(&Device::cpu(), cases);
}

#[test]
fn checker_detects_a_wrong_gradient() {
    // Batch norm's gradient taken as if the statistics were constants (the gradient of
    // (x − c)·s for fixed c, s): wrong by the terms through the mean and variance.
    let device = Device::cpu();
    let mut g = Gen::new(25);
    let wrong = case(
        "batch_norm with frozen statistics",
        vec![g.uniform(&[5, 2], -2.0, 2.0)],
        |t| {
            if t[0].requires_grad() {
                let y = t[0].batch_norm(None, None, None, train())?.detach();
                // y + (x − x.detach()): the value of y with the gradient of the identity.
                let shift = t[0].sub(&t[0].detach())?;
                y.add(&shift)
            } else {
                t[0].batch_norm(None, None, None, train())
            }
        },
    );
    let outcome = gradcheck(&device, &wrong, 1).unwrap();
    assert!(!outcome.failures.is_empty(), "a wrong gradient passed");
}
