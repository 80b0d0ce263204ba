//! The central finite-difference gradient checker shared by the `*gradcheck.rs` tests (CPU
//! device); each test file holds only its cases and the reasoning specific to its ops.
//!
//! Method: for a function `f(inputs) -> y`, the checked objective is the scalar
//! `F = sum(y * R)` with a fixed random weight tensor `R` (magnitudes in [0.5, 1.5], random
//! signs), so every output element matters, each with a different weight (a plain `sum`
//! would hide errors that cancel, e.g. in softmax whose rows sum to 1). Autodiff gives
//! `dF/dx` for every input element; the reference is the central difference
//! `(F(x + h) - F(x - h)) / (2h)`, with `F` evaluated from host vectors rebuilt into fresh,
//! non-trainable tensors and the weighted sum accumulated on the host in f64.
//!
//! Step and tolerance (everything on the device is f32):
//! * truncation error of the central difference is `h^2 / 6 * |F'''|`: with h = 1e-2 that is
//!   about 1.7e-5 * |F'''|, e.g. ~2e-4 for `exp` on [-2, 2] (F''' <= e^2 * 1.5); it is 0 for
//!   an op that is (piecewise) linear in the checked input;
//! * rounding error is about `eps_f32 * |F| / h` = 1.2e-7 * |F| / 1e-2 = 1.2e-5 * |F|, and
//!   only the output elements that depend on the perturbed input contribute (the others are
//!   computed bit-identically on both sides and cancel), so it stays around 1e-4;
//! * the step actually taken is `(x + h) - (x - h)` evaluated in f32 (not exactly `2h`),
//!   which is what we divide by.
//!
//! So a correct gradient is within a few 1e-4 of the numeric one; we accept
//! `|auto - numeric| <= ATOL + RTOL * |numeric|` with ATOL = 1e-3, RTOL = 1e-2, while a
//! gradient off by 5% already fails (each file's wrong-gradient test, built with
//! [`two_faced`] and checked by [`assert_detects`]). Inputs are kept where `F'''` is
//! moderate and at least [`MARGIN`] = 3h away from every kink or tie ([`Gen::avoiding`],
//! [`Gen::distinct`]), so neither `x + h` nor `x - h` crosses one.

use downhill::prelude::*;
use downhill::random::SeededRng;

/// Finite-difference step.
pub const H: f32 = 1e-2;
/// Absolute tolerance (see the module comment).
pub const ATOL: f64 = 1e-3;
/// Relative tolerance (see the module comment).
pub const RTOL: f64 = 1e-2;
/// Inputs stay at least this far from kinks and ties (more than 2h).
pub const MARGIN: f32 = 3.0 * H;
/// The weight seed of a case's `R` in [`run_cases`] is this plus the case's index.
pub const FIRST_WEIGHT_SEED: u64 = 7_000;

/// One input of a checked function: row-major host data and its shape.
#[derive(Clone, Debug)]
pub struct Input {
    /// Row-major values.
    pub data: Vec<f32>,
    /// Its shape.
    pub shape: Vec<usize>,
}

/// Seeded input generator.
pub struct Gen(pub SeededRng);

impl Gen {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Gen(SeededRng::new(seed))
    }

    /// The number of elements of `shape`.
    pub fn numel(shape: &[usize]) -> usize {
        shape.iter().product()
    }

    /// An input from its values (their count must match the shape).
    pub fn input(shape: &[usize], data: Vec<f32>) -> Input {
        assert_eq!(data.len(), Self::numel(shape), "test bug: data/shape");
        Input {
            data,
            shape: shape.to_vec(),
        }
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, shape: &[usize], lo: f32, hi: f32) -> Input {
        let data = (0..Self::numel(shape))
            .map(|_| self.0.uniform(lo, hi))
            .collect();
        Self::input(shape, data)
    }

    /// Random sign, magnitude in `[lo, hi)`: bounded away from zero.
    pub fn signed(&mut self, shape: &[usize], lo: f32, hi: f32) -> Input {
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
    pub fn avoiding(&mut self, shape: &[usize], lo: f32, hi: f32, kinks: &[f32]) -> Input {
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
    pub fn distinct(&mut self, shape: &[usize]) -> Input {
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
    pub fn labels(&mut self, rows: usize, classes: usize) -> Vec<f32> {
        (0..rows)
            .map(|_| ((self.0.uniform(0.0, 1.0) * classes as f32) as usize).min(classes - 1) as f32)
            .collect()
    }

    /// Hard 0/1 targets.
    pub fn binary(&mut self, shape: &[usize]) -> Input {
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

/// A checked function of the case's inputs.
pub type OpFn = Box<dyn Fn(&[Tensor]) -> downhill::Result<Tensor>>;

/// A named function of some inputs, to check.
pub struct Case {
    /// Named in every failure message.
    pub name: String,
    /// The differentiated inputs.
    pub inputs: Vec<Input>,
    /// The function.
    pub f: OpFn,
}

/// A [`Case`].
pub fn case(
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
pub struct Outcome {
    /// One message per failing element (or per input without a usable gradient).
    pub failures: Vec<String>,
    /// The largest `|auto - numeric| / tolerance`.
    pub worst: f64,
}

/// Compares the autodiff gradient of `sum(f(inputs) * R)` with central differences, for
/// every element of every input; `R` is drawn from `weight_seed`.
pub fn gradcheck(device: &Device, case: &Case, weight_seed: u64) -> downhill::Result<Outcome> {
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

/// [`run_cases_seeded`] from [`FIRST_WEIGHT_SEED`].
pub fn run_cases(device: &Device, cases: Vec<Case>) {
    run_cases_seeded(device, cases, FIRST_WEIGHT_SEED);
}

/// Checks every case (case `i` weighted by `R` from seed `first_weight_seed + i`) and fails
/// listing each mismatch (op name, input, element, both values). Constants captured by the
/// cases must live on `device` (each `Device::cpu()` is a distinct backend instance, and
/// ops refuse to mix instances).
pub fn run_cases_seeded(device: &Device, cases: Vec<Case>, first_weight_seed: u64) {
    let mut failures = Vec::new();
    let mut worst = (0.0f64, String::new());
    for (i, case) in cases.iter().enumerate() {
        match gradcheck(device, case, first_weight_seed + i as u64) {
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

/// A function with a deliberately wrong gradient: autodiff differentiates `seen_by_autodiff`
/// (called when the first input is trainable), the finite differences see
/// `seen_by_differences` (called on the constant copies). Where their slopes differ, the
/// checker must report the case.
pub fn two_faced(
    seen_by_autodiff: impl Fn(&[Tensor]) -> downhill::Result<Tensor> + 'static,
    seen_by_differences: impl Fn(&[Tensor]) -> downhill::Result<Tensor> + 'static,
) -> impl Fn(&[Tensor]) -> downhill::Result<Tensor> + 'static {
    move |t| {
        if t[0].requires_grad() {
            seen_by_autodiff(t)
        } else {
            seen_by_differences(t)
        }
    }
}

/// Checks a case built to have a wrong gradient and fails the test unless the checker
/// reports it; returns the failure messages.
pub fn assert_detects(
    device: &Device,
    wrong: &Case,
    weight_seed: u64,
) -> downhill::Result<Vec<String>> {
    let outcome = gradcheck(device, wrong, weight_seed)?;
    assert!(
        !outcome.failures.is_empty(),
        "{}: the checker passed a wrong gradient",
        wrong.name
    );
    Ok(outcome.failures)
}
