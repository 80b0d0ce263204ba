//! NaN and ±inf through every op, loss, reduction, metric, gradient clip and optimizer, on
//! both backends, with PyTorch's semantics.
//!
//! Two kinds of test:
//! * `pytorch_*` run on the CPU alone and assert the values PyTorch defines (`relu(NaN)` is
//!   NaN, the max of `[1, NaN, 3]` is NaN, a NaN gradient makes `clip_grad_norm_` NaN, ...),
//!   so the suite fails even if both backends were wrong the same way.
//! * the others run the same inputs on the CPU (the reference) and the GPU and compare them
//!   element by element, forward and backward: a non-finite value must meet the same class
//!   on the other side (NaN for NaN, the same infinity), a finite one must be within the
//!   tolerance written next to the case. The tolerances are those of `tests/parity.rs`
//!   (derived there, shared through `tests/common/tolerance.rs`), for the finite values
//!   these inputs contain.
//!
//! Inputs mix NaN, ±inf, signed zeros, ordinary values and finite values large enough to
//! overflow a square or an exponential (±1e30). Subnormal inputs are left out: a GPU may
//! flush them to zero (Vulkan allows it), which is precision, not NaN semantics.
//!
//! Conventions followed (and asserted in the `pytorch_*` tests):
//! * `relu(NaN)` is NaN and its gradient passes `dy` (PyTorch's `threshold_backward` zeroes
//!   only where `x <= 0`); `clamp`, `maximum`, `minimum` and reductions by max propagate NaN;
//!   the gradient of a max goes to the first position holding it (the first NaN).
//! * `x^y` follows C's `pow` (Rust's `powf`): `x^0 = 1` and `1^y = 1` even for NaN.
//! * Binary cross-entropy of logits is PyTorch's `(1 − t)·x − log_sigmoid(x)`: at `x = +inf`
//!   it is `+inf` for `t = 0` and NaN for `t = 1` (`0·inf`), at `x = −inf` NaN.
//! * Categorical accuracy takes `argmax` as `torch.argmax` does: a NaN is the maximum.
//! * Clipping by norm is `clip_grad_norm_`: factor `min(1, max / (‖g‖ + 1e-6))`, so a NaN
//!   gradient makes every gradient NaN and an infinite one makes the finite ones 0 and the
//!   infinite ones NaN; the norm of finite gradients does not overflow f32 below f32::MAX.

mod common;

use common::tolerance::*;
use downhill::gpu::{GpuBackend, MatmulKernel};
use downhill::prelude::*;
use downhill::random::SeededRng;
use downhill::{AccuracyKind, UnaryOp};
use ndarray::Array2;
use std::sync::Arc;

const NAN: f32 = f32::NAN;
const INF: f32 = f32::INFINITY;

/// Non-finite values, signed zeros, ordinary values of both signs, and finite values whose
/// square or exponential overflows.
const SPECIAL: [f32; 12] = [
    NAN, INF, -INF, 0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e30, -1e30,
];

/// `x^y` on Vulkan is inherited from `exp2(y·log2 x)`: exp2 within `3 + 2·|y·log2 x|` ulp,
/// log2 within 3 ulp (the product then off by `3.5·|y·log2 x|` ulp, i.e. a relative
/// `ln 2·3.5·|y·log2 x|` ulp of the result). A normal finite result has
/// `|y·log2 x| < 128`: `(3 + 2·128 + 2.5·128)·EPS` plus the CPU's ulp, 580 ulp relative;
/// atol as TRANSC.
const POW: Tol = Tol::new(1e-6, 580.0 * EPS);

// ---------------------------------------------------------------- harness

/// One input: row-major host data, its shape, and whether a gradient is taken.
#[derive(Clone, Debug)]
struct Input {
    data: Vec<f32>,
    shape: Vec<usize>,
    grad: bool,
}

fn param(shape: &[usize], data: Vec<f32>) -> Input {
    assert_eq!(data.len(), shape.iter().product::<usize>(), "test bug");
    Input {
        data,
        shape: shape.to_vec(),
        grad: true,
    }
}

fn constant(shape: &[usize], data: Vec<f32>) -> Input {
    Input {
        grad: false,
        ..param(shape, data)
    }
}

/// The upstream weights `R` of an output of `n` elements: finite, magnitudes in [0.5, 1.5],
/// random signs (the gradient checked is that of `sum(y · R)`).
fn weights(n: usize) -> Vec<f32> {
    let mut rng = SeededRng::new(0x5EED);
    (0..n)
        .map(|_| {
            let u = rng.uniform(-1.0, 1.0);
            (0.5 + u.abs()).copysign(u)
        })
        .collect()
}

/// `n` values in `[lo, hi)` from `seed`, rounded to a grid of 1/8: sums and products of a
/// few of them are exact in f32, so both backends see the same values and kinks.
fn grid(n: usize, lo: f32, hi: f32, seed: u64) -> Vec<f32> {
    let mut rng = SeededRng::new(seed);
    (0..n)
        .map(|_| (rng.uniform(lo, hi) * 8.0).round() / 8.0)
        .collect()
}

/// The largest finite magnitude in `v` (0 if none).
fn max_finite(v: &[f32]) -> f64 {
    v.iter()
        .filter(|x| x.is_finite())
        .fold(0.0f64, |m, &x| m.max((x as f64).abs()))
}

type OpFn = Box<dyn Fn(&[Tensor]) -> downhill::Result<Tensor>>;

/// A named function of some inputs with its forward tolerance and one tolerance per input
/// gradient (or one for all).
struct Case {
    name: String,
    inputs: Vec<Input>,
    f: OpFn,
    fwd: Tol,
    bwd: Vec<Tol>,
}

fn case(
    name: impl Into<String>,
    inputs: Vec<Input>,
    f: impl Fn(&[Tensor]) -> downhill::Result<Tensor> + 'static,
) -> Case {
    let name = name.into();
    assert!(
        inputs.iter().any(|i| i.data.iter().any(|v| !v.is_finite())),
        "test bug: {name} has no non-finite input"
    );
    Case {
        name,
        inputs,
        f: Box::new(f),
        fwd: EXACT,
        bwd: vec![EXACT],
    }
}

impl Case {
    fn fwd(mut self, tol: Tol) -> Case {
        self.fwd = tol;
        self
    }
    fn bwd(mut self, tol: Tol) -> Case {
        self.bwd = vec![tol];
        self
    }
    fn bwd_each(mut self, tols: Vec<Tol>) -> Case {
        self.bwd = tols;
        self
    }
}

/// A case's forward output and input gradients on one device.
struct Outcome {
    y: Vec<f32>,
    grads: Vec<Option<Vec<f32>>>,
}

fn run(device: &Device, case: &Case) -> downhill::Result<Outcome> {
    let tensors = case
        .inputs
        .iter()
        .map(|i| {
            let t = device.tensor(i.data.clone(), i.shape.clone())?;
            Ok(if i.grad { t.param() } else { t })
        })
        .collect::<downhill::Result<Vec<Tensor>>>()?;
    let y = (case.f)(&tensors)?;
    let r = device.tensor(weights(y.shape().numel()), y.dims().to_vec())?;
    let grads = y.mul(&r)?.sum()?.backward()?;
    let grads = case
        .inputs
        .iter()
        .zip(&tensors)
        .map(|(i, t)| if i.grad { grads.to_vec(t) } else { Ok(None) })
        .collect::<downhill::Result<Vec<_>>>()?;
    Ok(Outcome {
        y: y.to_vec()?,
        grads,
    })
}

fn compare(checks: &mut Checks, device: &str, case: &Case, cpu: &Outcome, gpu: &Outcome) {
    let label = format!("{} [{device}]", case.name);
    checks.close(&format!("{label} forward"), &cpu.y, &gpu.y, case.fwd);
    for (i, (c, g)) in cpu.grads.iter().zip(&gpu.grads).enumerate() {
        let tol = case.bwd[if case.bwd.len() == 1 { 0 } else { i }];
        match (c, g) {
            (Some(c), Some(g)) => checks.close(&format!("{label} d/d input {i}"), c, g, tol),
            (None, None) => {}
            _ => checks.fail(format!(
                "{label}: input {i} has a gradient on one side only"
            )),
        }
    }
}

/// Runs every case on the CPU and on each GPU device and compares.
fn run_cases(what: &str, devices: &[(String, Device)], cases: &[Case]) {
    let cpu = common::cpu();
    let mut checks = Checks::default();
    for case in cases {
        let reference = run(&cpu, case)
            .unwrap_or_else(|e| panic!("{}: the CPU reference failed: {e}", case.name));
        for (name, device) in devices {
            match run(device, case) {
                Ok(out) => compare(&mut checks, name, case, &reference, &out),
                Err(e) => checks.fail(format!("{} [{name}]: {e}", case.name)),
            }
        }
    }
    checks.finish(what);
}

fn shared(gpu: &Device) -> Vec<(String, Device)> {
    vec![("gpu".to_string(), gpu.clone())]
}

/// The shared GPU device plus one backend per matmul kernel on the same adapter.
fn matmul_devices(gpu: &Device) -> Vec<(String, Device)> {
    let adapter = std::env::var("DOWNHILL_ADAPTER").ok();
    let mut devices = shared(gpu);
    for kernel in MatmulKernel::ALL {
        let name = kernel.name();
        let backend = GpuBackend::open(adapter.as_deref(), Some(kernel))
            .unwrap_or_else(|e| panic!("opening a GPU backend with the {name} kernel: {e}"));
        devices.push((format!("gpu {name} matmul"), Device::new(Arc::new(backend))));
    }
    devices
}

/// SPECIAL three times: as is, scaled by 0.75 (the same classes, other finite values) and
/// reversed.
fn specials() -> Vec<f32> {
    let mut v = SPECIAL.to_vec();
    v.extend(SPECIAL.iter().map(|x| x * 0.75));
    v.extend(SPECIAL.iter().rev());
    v
}

// ---------------------------------------------------------------- elementwise

type UnaryFn = fn(&Tensor) -> downhill::Result<Tensor>;

#[test]
fn unary_and_scalar_ops_of_nan_and_infinities() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let pow_bwd = Tol::new(3.0 * POW.atol, POW.rtol + 4.0 * EPS);
    // (name, op, forward tolerance, backward tolerance): tests/parity.rs's, per op.
    let table: Vec<(&str, UnaryFn, Tol, Tol)> = vec![
        ("neg", |x| x.neg(), EXACT, EXACT),
        ("square", |x| x.square(), EXACT, EXACT),
        ("add_scalar", |x| x.add_scalar(0.75), EXACT, EXACT),
        ("add_scalar inf", |x| x.add_scalar(INF), EXACT, EXACT),
        ("mul_scalar", |x| x.mul_scalar(-1.5), EXACT, EXACT),
        ("mul_scalar -inf", |x| x.mul_scalar(-INF), EXACT, EXACT),
        ("div_scalar", |x| x.div_scalar(3.0), EXACT, EXACT),
        ("rsub_scalar", |x| x.rsub_scalar(2.0), EXACT, EXACT),
        ("relu", |x| x.relu(), EXACT, EXACT),
        ("leaky_relu", |x| x.leaky_relu(0.1), EXACT, EXACT),
        ("clamp", |x| x.clamp(-0.5, 0.5), EXACT, EXACT),
        ("clamp to [0, inf]", |x| x.clamp(0.0, INF), EXACT, EXACT),
        (
            "rdiv_scalar",
            |x| x.rdiv_scalar(2.0),
            DIV,
            Tol::rel(9.0 * EPS),
        ),
        (
            "rdiv_scalar inf",
            |x| x.rdiv_scalar(INF),
            DIV,
            Tol::rel(9.0 * EPS),
        ),
        ("sqrt", |x| x.sqrt(), TRANSC, TRANSC_BWD),
        ("exp", |x| x.exp(), TRANSC, TRANSC_BWD),
        ("log", |x| x.log(), TRANSC, DIV),
        ("powf 2.5", |x| x.powf(2.5), POW, pow_bwd),
        ("powf 3", |x| x.powf(3.0), POW, pow_bwd),
        ("powf 0.5", |x| x.powf(0.5), POW, pow_bwd),
        ("powf -1", |x| x.powf(-1.0), POW, pow_bwd),
        ("powf -2", |x| x.powf(-2.0), POW, pow_bwd),
        ("powf 0", |x| x.powf(0.0), POW, pow_bwd),
        ("powf nan", |x| x.powf(NAN), POW, pow_bwd),
        ("powf inf", |x| x.powf(INF), POW, pow_bwd),
        ("powf -inf", |x| x.powf(-INF), POW, pow_bwd),
        ("sigmoid", |x| x.sigmoid(), TRANSC, TRANSC_BWD),
        ("tanh", |x| x.tanh(), TRANSC, TRANSC_BWD),
        ("gelu", |x| x.gelu(), TRANSC, TRANSC_BWD),
    ];
    let x = specials();
    let n = x.len();
    let cases: Vec<Case> = table
        .into_iter()
        .map(|(name, op, fwd, bwd)| {
            case(name, vec![param(&[n], x.clone())], move |t| op(&t[0]))
                .fwd(fwd)
                .bwd(bwd)
        })
        .collect();
    run_cases("unary ops of NaN and ±inf", &shared(&gpu), &cases);
}

#[test]
fn binary_ops_of_every_pair_of_special_values() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    type BinaryFn = fn(&Tensor, &Tensor) -> downhill::Result<Tensor>;
    // (name, op, forward tolerance, elementwise tolerance of d/da and of d/db)
    let pow_bwd = Tol::new(3.0 * POW.atol, POW.rtol + 3.0 * EPS);
    let table: Vec<(&str, BinaryFn, Tol, Tol, Tol)> = vec![
        ("add", |a, b| a.add(b), EXACT, EXACT, EXACT),
        ("sub", |a, b| a.sub(b), EXACT, EXACT, EXACT),
        ("mul", |a, b| a.mul(b), EXACT, EXACT, EXACT),
        ("div", |a, b| a.div(b), DIV, DIV, Tol::rel(9.0 * EPS)),
        // d/db = a^b·ln a: pow's error plus log's (3 ulp, or 2^-21 absolute near 1).
        (
            "pow",
            |a, b| a.pow(b),
            POW,
            pow_bwd,
            Tol::new(6.0 * LOG_ABS, POW.rtol + 6.0 * EPS),
        ),
    ];
    let k = SPECIAL.len();
    // Every (a, b) pair of SPECIAL: a down the rows, b along the columns.
    let a_full: Vec<f32> = (0..k * k).map(|e| SPECIAL[e / k]).collect();
    let b_full: Vec<f32> = (0..k * k).map(|e| SPECIAL[e % k]).collect();
    let cpu = common::cpu();
    let mut cases = Vec::new();
    for (name, f, fwd, ga, gb) in table {
        // Same shapes: one term per gradient element.
        let same = case(
            format!("{name} [{}] with [{}]", k * k, k * k),
            vec![
                param(&[k * k], a_full.clone()),
                param(&[k * k], b_full.clone()),
            ],
            move |t| f(&t[0], &t[1]),
        )
        .fwd(fwd)
        .bwd_each(vec![ga, gb]);
        // Broadcast [k, 1] against [k]: the same k² terms (the same R), each gradient a sum
        // of k of them. Their largest finite magnitude comes from the same-shape CPU run.
        let terms = run(&cpu, &same).unwrap();
        let term_a = max_finite(terms.grads[0].as_ref().unwrap());
        let term_b = max_finite(terms.grads[1].as_ref().unwrap());
        cases.push(same);
        cases.push(
            case(
                format!("{name} [{k}, 1] with [{k}]"),
                vec![
                    param(&[k, 1], SPECIAL.to_vec()),
                    param(&[k], SPECIAL.to_vec()),
                ],
                move |t| f(&t[0], &t[1]),
            )
            .fwd(fwd)
            .bwd_each(vec![summed(k, term_a, ga), summed(k, term_b, gb)]),
        );
    }
    run_cases("binary ops of NaN and ±inf", &shared(&gpu), &cases);
}

// ---------------------------------------------------------------- reductions, rows, shapes

/// Rows of 7 with a NaN, ±inf, both infinities, two NaN, only −inf, ties and ±1e30.
fn reduction_rows() -> Vec<f32> {
    let rows: [[f32; 7]; 9] = [
        [1.0, NAN, 3.0, 0.5, -2.0, 0.0, 1.0],
        [1.0, INF, 3.0, 0.5, -2.0, 0.0, 1.0],
        [-INF; 7],
        [1.0, -INF, 3.0, 0.5, -2.0, 3.0, 1.0],
        [INF, -INF, 1.0, 0.5, -2.0, 0.0, 1.0],
        [NAN, INF, -INF, 0.5, -2.0, 0.0, 1.0],
        [0.5, -1.0, 2.0, 2.0, -0.25, 0.75, 1.5],
        [3.0, 1.0, NAN, NAN, -1.0, 0.0, 2.0],
        [-1e30, 1e30, 5.0, 0.5, -2.0, 0.0, 1.0],
    ];
    rows.iter().flatten().copied().collect()
}

#[test]
fn sum_mean_and_max_of_rows_with_nan_and_infinities() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    // Rows of 600 (longer than a workgroup: the strided loop runs) with a NaN late in the
    // first row and +inf last in the second, and their transpose.
    let mut long = grid(1200, -1.0, 1.0, 7);
    long[450] = NAN;
    long[1199] = INF;
    let long_t: Vec<f32> = (0..1200).map(|e| long[(e % 2) * 600 + e / 2]).collect();
    let inputs = [
        (vec![9, 7], reduction_rows()),
        (vec![2, 600], long),
        (vec![600, 2], long_t),
    ];
    let mut cases = Vec::new();
    for (shape, data) in inputs {
        // Sums of n terms of magnitude <= max|x| are within sum_atol (tests/parity.rs); the
        // mean divides by n (2U more); their backward copies R (times the same 1/n): exact.
        // Max and its backward are selections: exact.
        let big = max_finite(&data);
        let n = data.len();
        let x = param(&shape, data);
        cases.push(
            case(format!("sum {shape:?}"), vec![x.clone()], |t| t[0].sum())
                .fwd(Tol::abs(sum_atol(n, big))),
        );
        cases.push(
            case(format!("mean {shape:?}"), vec![x.clone()], |t| t[0].mean())
                .fwd(Tol::new(sum_atol(n, big) / n as f64, 2.0 * U)),
        );
        cases.push(case(
            format!("max of all {shape:?}"),
            vec![x.clone()],
            move |t| t[0].reshape([n])?.max_axis(0, false),
        ));
        for axis in 0..2 {
            let len = shape[axis];
            for keep in [false, true] {
                let tag = format!("{shape:?} axis {axis} keep_dim={keep}");
                cases.push(
                    case(format!("sum_axis {tag}"), vec![x.clone()], move |t| {
                        t[0].sum_axis(axis, keep)
                    })
                    .fwd(Tol::abs(sum_atol(len, big))),
                );
                cases.push(
                    case(format!("mean_axis {tag}"), vec![x.clone()], move |t| {
                        t[0].mean_axis(axis, keep)
                    })
                    .fwd(Tol::new(sum_atol(len, big) / len as f64, 2.0 * U)),
                );
                cases.push(case(format!("max_axis {tag}"), vec![x.clone()], move |t| {
                    t[0].max_axis(axis, keep)
                }));
            }
        }
    }
    run_cases("reductions of NaN and ±inf", &shared(&gpu), &cases);
}

#[test]
fn softmax_and_log_softmax_of_rows_with_nan_and_infinities() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let rows: [[f32; 5]; 8] = [
        [0.5, NAN, -1.0, 2.0, 0.0],
        [0.5, INF, -1.0, 2.0, 0.0],
        [0.5, -INF, -1.0, 2.0, 0.0],
        [-INF; 5],
        [INF, INF, 1.0, 2.0, 3.0],
        [INF, -INF, 0.0, 0.0, 0.0],
        [1e30, 0.5, -1.0, 2.0, 0.0],
        [0.3, -1.2, 2.0, 1.0, -0.5],
    ];
    let cols = 5;
    let x = param(&[8, cols], rows.iter().flatten().copied().collect());
    // tests/parity.rs's bounds for rows of `cols` with |dy| <= 1.5: softmax relative
    // softmax_rtol, its backward max y·(1.5·(depth + 1)·U + 4.5·rtol) with y <= 1;
    // log-softmax log_softmax_atol (plus 2 ulp of |y| up to 1e30), its backward
    // (depth + 1)·U·Σ|dy| + |Σdy|·(y_atol + exp's ulp) + EPS·(1.5 + |Σdy|) with e^y <= 1.
    let rtol = softmax_rtol(cols);
    let soft_bwd = Tol::new(1.5 * (depth(cols) + 1.0) * U + 4.5 * rtol, 2.0 * EPS);
    let y_atol = log_softmax_atol(cols);
    let dy_sum = 1.5 * cols as f64;
    let exp_ulps = (3.0 + 2.0 * ((cols as f64).ln() + 12.0)) * EPS;
    let log_bwd = Tol::abs(
        (depth(cols) + 1.0) * U * dy_sum + dy_sum * (y_atol + exp_ulps) + EPS * (1.5 + dy_sum),
    );
    let cases = vec![
        case("softmax [8, 5]", vec![x.clone()], |t| t[0].softmax())
            .fwd(Tol::rel(rtol))
            .bwd(soft_bwd),
        case("log_softmax [8, 5]", vec![x], |t| t[0].log_softmax())
            .fwd(Tol::new(y_atol, 2.0 * EPS))
            .bwd(log_bwd),
    ];
    run_cases("softmax of NaN and ±inf", &shared(&gpu), &cases);
}

#[test]
fn matmul_and_linear_with_every_epilogue_propagate_nan_and_infinities() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let devices = matmul_devices(&gpu);
    let mut cases = Vec::new();
    let mut seed = 100;
    // n = 72 (a multiple of 8) also runs the vec4 register kernel.
    for (m, k, n) in [(5, 6, 7), (67, 33, 72)] {
        seed += 3;
        // On a grid of 1/8 in [-1, 1]: products and sums are exact on both sides, so the
        // selections (relu, leaky relu) see identical pre-activations, kinks included.
        let mut x = grid(m * k, -1.0, 1.0, seed);
        let mut w = grid(k * n, -1.0, 1.0, seed + 1);
        let mut b = grid(n, -0.5, 0.5, seed + 2);
        x[k + 2] = NAN; // row 1
        x[3 * k] = INF; // row 3
        x[4 * k + 5] = -INF; // row 4
        x[3 * k + 2] = INF; // row 3 again: inf · 0 = NaN at (3, 4)
        w[5 * n + 6] = NAN; // column 6
        w[2 * n + 4] = 0.0;
        b[2] = -INF;
        // (None, false): a plain matmul; the others with a bias.
        let epilogues: [(Option<UnaryOp>, bool); 6] = [
            (None, false),
            (None, true),
            (Some(UnaryOp::Relu), true),
            (Some(UnaryOp::LeakyRelu(0.1)), true),
            (Some(UnaryOp::Sigmoid), true),
            (Some(UnaryOp::Tanh), true),
        ];
        for (act, with_bias) in epilogues {
            let mut inputs = vec![param(&[m, k], x.clone()), param(&[k, n], w.clone())];
            if with_bias {
                inputs.push(param(&[n], b.clone()));
            }
            // tests/parity.rs's linear bounds: z within dot_atol(k + 1, 1, 1) (exact here),
            // sigmoid and tanh add TRANSC; backward dz = act'(y)·R, then dx = dz·wᵀ,
            // dw = xᵀ·dz, db = Σ dz with their dot and sum bounds.
            let dz_fwd = dot_atol(k + 1, 1.0, 1.0);
            let smooth = matches!(act, Some(UnaryOp::Sigmoid | UnaryOp::Tanh));
            let fwd = if smooth {
                Tol::new(dz_fwd + TRANSC.atol, TRANSC.rtol)
            } else {
                Tol::abs(dz_fwd)
            };
            let ddz = if smooth {
                3.0 * (fwd.atol + fwd.rtol) + 2.0 * EPS * 1.5
            } else {
                0.0
            };
            let mut bwd = vec![
                Tol::abs(dot_atol(n, 1.5, 1.0) + n as f64 * ddz),
                Tol::abs(dot_atol(m, 1.0, 1.5) + m as f64 * ddz),
            ];
            if with_bias {
                bwd.push(Tol::abs(sum_atol(m, 1.5) + m as f64 * ddz));
            }
            cases.push(
                case(
                    format!("linear {m}x{k}x{n} bias={with_bias} activation={act:?}"),
                    inputs,
                    move |t| t[0].linear(&t[1], t.get(2), act),
                )
                .fwd(fwd)
                .bwd_each(bwd),
            );
        }
        // Every transpose combination of a plain matmul.
        for (ta, tb) in [(true, false), (false, true), (true, true)] {
            let xt = if ta { transpose(&x, m, k) } else { x.clone() };
            let wt = if tb { transpose(&w, k, n) } else { w.clone() };
            let a_shape = if ta { [k, m] } else { [m, k] };
            let b_shape = if tb { [n, k] } else { [k, n] };
            cases.push(
                case(
                    format!("matmul {m}x{k}x{n} trans_a={ta} trans_b={tb}"),
                    vec![param(&a_shape, xt), param(&b_shape, wt)],
                    move |t| t[0].matmul_t(&t[1], ta, tb),
                )
                .fwd(Tol::abs(dot_atol(k, 1.0, 1.0)))
                .bwd_each(vec![
                    Tol::abs(dot_atol(n, 1.5, 1.0)),
                    Tol::abs(dot_atol(m, 1.0, 1.5)),
                ]),
            );
        }
    }
    run_cases("matmul and linear with NaN and ±inf", &devices, &cases);
}

/// `[rows, cols]` row-major to `[cols, rows]`.
fn transpose(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..rows * cols)
        .map(|e| v[(e % rows) * cols + e / rows])
        .collect()
}

#[test]
fn permute_and_expand_copy_nan_and_infinities() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let x60: Vec<f32> = specials()
        .into_iter()
        .chain(SPECIAL.iter().copied().chain(SPECIAL))
        .collect();
    // Copies: exact. broadcast_to's backward sums R (|R| <= 1.5) over the broadcast
    // positions: sum_atol of that many terms.
    let cases = vec![
        case(
            "permute [3, 4, 5] by [2, 0, 1]",
            vec![param(&[3, 4, 5], x60.clone())],
            |t| t[0].permute(&[2, 0, 1]),
        ),
        case(
            "transpose [3, 4, 5] axes 0, 2",
            vec![param(&[3, 4, 5], x60)],
            |t| t[0].transpose(0, 2),
        ),
        case(
            "broadcast_to [12] -> [5, 12]",
            vec![param(&[12], SPECIAL.to_vec())],
            |t| t[0].broadcast_to([5, 12]),
        )
        .bwd(Tol::abs(sum_atol(5, 1.5))),
        case(
            "broadcast_to [12, 1] -> [2, 12, 3]",
            vec![param(&[12, 1], SPECIAL.to_vec())],
            |t| t[0].broadcast_to([2, 12, 3]),
        )
        .bwd(Tol::abs(sum_atol(6, 1.5))),
    ];
    run_cases("shape ops of NaN and ±inf", &shared(&gpu), &cases);
}

// ---------------------------------------------------------------- losses and metrics

#[test]
fn every_loss_of_nan_and_infinite_predictions() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    type LossFn = fn(&Tensor, &Tensor) -> downhill::Result<Tensor>;
    let mse: LossFn = |p, t| p.mse(t);
    let bce: LossFn = |p, t| p.binary_cross_entropy(t);
    let logits: LossFn = |p, t| p.binary_cross_entropy_with_logits(t);
    let ce: LossFn = |p, t| p.cross_entropy(t);
    let n = 8;
    let nf = n as f64;
    // Forward tolerances, tests/parity.rs's per loss over these N terms (all >= 0, so the
    // sums are relative): MSE (depth + 3)·U; BCE of probabilities log's 3 ulp of terms up
    // to −ln(1e-7) = 16.2 (the clamped ones) or 2^-21, plus (depth + 3)·U + 3 ulp; BCE of
    // logits a few U per term of |x| + ln 2 (relative, up to 1e30) plus exp's 15 ulp and
    // log's 2^-21 absolute. Gradients: MSE a division and a product; BCE two divisions
    // whose magnitudes are at most 1/0.1; BCE of logits sigmoid's TRANSC over N.
    let mse_tol = (Tol::rel((depth(n) + 3.0) * U), Tol::rel(DIV.rtol + EPS));
    let bce_tol = (
        Tol::new(3.0 * EPS * 16.2 + LOG_ABS, (depth(n) + 3.0) * U + 3.0 * EPS),
        Tol::new(3.0 * EPS * 10.0 / nf * 1.5, 4.0 * EPS),
    );
    let logits_tol = (
        Tol::new(15.0 * EPS + LOG_ABS + 14.0 * U, (depth(n) + 8.0) * U),
        Tol::new(1.5 * (TRANSC.atol + TRANSC.rtol) / nf, 3.0 * EPS),
    );
    let soft = [0.0, 1.0, 0.25, 1.0, 0.0, 0.5, 1.0, 0.0];
    // (name, loss, predictions, targets, tolerances)
    type LossCase = (&'static str, LossFn, Vec<f32>, Vec<f32>, (Tol, Tol));
    let table: Vec<LossCase> = vec![
        (
            "mse, a NaN prediction",
            mse,
            vec![0.5, NAN, -1.0, 2.0, 0.0, 1.5, -0.25, 3.0],
            soft.to_vec(),
            mse_tol,
        ),
        (
            "mse, ±inf predictions",
            mse,
            vec![0.5, INF, -INF, 2.0, 0.0, 1.5, -0.25, 3.0],
            soft.to_vec(),
            mse_tol,
        ),
        (
            "mse, overflowing squares",
            mse,
            vec![0.5, 1e30, -1e30, 2.0, 0.0, 1.5, -0.25, INF],
            soft.to_vec(),
            mse_tol,
        ),
        (
            "mse, a NaN target",
            mse,
            vec![0.5, 0.25, -1.0, 2.0, 0.0, 1.5, -0.25, 3.0],
            vec![0.0, 1.0, NAN, 1.0, 0.0, 0.5, 1.0, 0.0],
            mse_tol,
        ),
        (
            "bce, a NaN probability",
            bce,
            vec![0.3, NAN, 0.7, 0.0, 1.0, 0.5, 0.9, 0.2],
            soft.to_vec(),
            bce_tol,
        ),
        (
            // Clamped into [eps, 1 − eps]: a finite loss, a zero gradient there.
            "bce, infinite and out-of-range probabilities",
            bce,
            vec![0.3, INF, -INF, 0.0, 1.0, 0.5, 1e30, -1e30],
            soft.to_vec(),
            bce_tol,
        ),
        (
            "bce with logits, a NaN logit",
            logits,
            vec![0.5, NAN, -1.0, 2.0, 0.0, 1.5, -0.25, 3.0],
            soft.to_vec(),
            logits_tol,
        ),
        (
            // +inf against t = 0: loss +inf (PyTorch).
            "bce with logits, +inf against 0",
            logits,
            vec![INF, 0.5, -1.0, 2.0, 0.0, 1.5, -0.25, 3.0],
            soft.to_vec(),
            logits_tol,
        ),
        (
            // +inf against 1 and −inf against either: NaN (PyTorch's 0·inf).
            "bce with logits, ±inf against 1",
            logits,
            vec![0.5, INF, -1.0, -INF, 0.0, 1.5, -0.25, 3.0],
            soft.to_vec(),
            logits_tol,
        ),
        (
            "bce with logits, -inf against 0",
            logits,
            vec![-INF, 0.5, -1.0, 2.0, 0.0, 1.5, -0.25, 3.0],
            soft.to_vec(),
            logits_tol,
        ),
        (
            "bce with logits, ±1e30 and +inf against 0",
            logits,
            vec![1e30, -1e30, -1.0, 2.0, INF, 1.5, -0.25, 3.0],
            vec![0.0, 1.0, 0.25, 1.0, 0.0, 0.5, 1.0, 0.0],
            logits_tol,
        ),
    ];
    let mut cases = Vec::new();
    for (name, f, pred, target, (fwd, bwd)) in table {
        cases.push(
            case(
                format!("{name} [4, 2]"),
                vec![param(&[4, 2], pred), constant(&[4, 2], target)],
                move |t| f(&t[0], &t[1]),
            )
            .fwd(fwd)
            .bwd(bwd),
        );
    }
    // Softmax cross-entropy over rows of 5 classes (logits on a grid of 1/8 in [-3, 3])
    // with one special row: tests/parity.rs's row bound (cols·U + 15 ulp + log's 3 ulp of
    // ln s + 2 ulp of |lse|, lse <= 3 + ln 5) and its gradient bound over 4 rows.
    let (rows, cols) = (4, 5);
    let ln = (cols as f64).ln();
    let row_atol =
        cols as f64 * U + 15.0 * EPS + (3.0 * EPS * ln).max(LOG_ABS) + 2.0 * EPS * (3.0 + ln);
    let ce_fwd = Tol::new(row_atol, (depth(rows) + 2.0) * U);
    let ce_bwd = Tol::new(
        1.5 * (row_atol + (15.0 + 2.0 * ln) * EPS) / rows as f64,
        3.0 * EPS,
    );
    let labels = vec![2.0, 0.0, 4.0, 1.0];
    // (what, the special row 1's logits: label 0)
    let special_rows: [(&str, [f32; 5]); 5] = [
        ("a NaN logit", [0.5, NAN, -1.0, 2.0, 0.0]),
        ("+inf off the label", [0.5, INF, -1.0, 2.0, 0.0]),
        ("+inf at the label", [INF, 0.5, -1.0, 2.0, 0.0]),
        ("-inf at the label (loss +inf)", [-INF, 0.5, -1.0, 2.0, 0.0]),
        ("-inf off the label (finite)", [0.5, -INF, -1.0, 2.0, 0.0]),
    ];
    for (i, (what, row)) in special_rows.into_iter().enumerate() {
        let mut logits = grid(rows * cols, -3.0, 3.0, 40 + i as u64);
        logits[cols..2 * cols].copy_from_slice(&row);
        cases.push(
            case(
                format!("cross_entropy [{rows}, {cols}], {what}"),
                vec![
                    param(&[rows, cols], logits),
                    constant(&[rows], labels.clone()),
                ],
                move |t| ce(&t[0], &t[1]),
            )
            .fwd(ce_fwd)
            .bwd(ce_bwd),
        );
    }
    run_cases("losses of NaN and ±inf", &shared(&gpu), &cases);
}

/// `accumulate_correct` on one device: the count of `pred` against `target`.
fn correct(
    device: &Device,
    kind: AccuracyKind,
    pred: &[f32],
    target: &[f32],
    rows: usize,
    cols: usize,
) -> downhill::Result<f32> {
    let p = device.tensor(pred.to_vec(), [rows, cols])?;
    let t = device.tensor(target.to_vec(), [target.len()])?;
    let acc = device.backend().full(1, 0.0)?;
    device
        .backend()
        .accumulate_correct(kind, &p.storage(), &t.storage(), rows, cols, &acc)?;
    Ok(device.backend().download(&acc)?[0])
}

/// Class scores with NaN and infinities: (rows of 4, labels). Row comments give the argmax
/// (`torch.argmax`: the first NaN is the maximum).
fn categorical_rows() -> (Vec<f32>, Vec<f32>) {
    let rows: [([f32; 4], f32); 8] = [
        ([NAN, 1.0, 2.0, 0.0], 0.0),     // 0: right
        ([1.0, 2.0, NAN, 0.0], 1.0),     // 2: wrong
        ([1.0, 2.0, NAN, NAN], 2.0),     // 2: right
        ([1.0, INF, 3.0, 0.0], 1.0),     // 1: right
        ([-INF, 1.0, 3.0, 0.0], 2.0),    // 2: right
        ([-INF, -INF, -INF, -INF], 0.0), // 0: right
        ([NAN, NAN, NAN, NAN], 0.0),     // 0: right
        ([INF, INF, NAN, 1.0], 0.0),     // 2: wrong
    ];
    (
        rows.iter().flat_map(|r| r.0).collect(),
        rows.iter().map(|r| r.1).collect(),
    )
}

#[test]
fn accuracy_counts_with_nan_and_infinite_predictions() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let cpu = common::cpu();
    let (scores, labels) = categorical_rows();
    let probs = vec![NAN, INF, -INF, 0.7, 0.2, 0.5, 1e30, NAN, 0.9, 0.1];
    let hard = vec![1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0];
    // (what, metric, predictions, targets, rows, cols)
    type CountCase<'a> = (&'a str, AccuracyKind, &'a [f32], &'a [f32], usize, usize);
    let table: Vec<CountCase> = vec![
        (
            "binary, threshold 0.5, [10, 1]",
            AccuracyKind::Binary { threshold: 0.5 },
            &probs,
            &hard,
            10,
            1,
        ),
        (
            "binary, threshold 0, [5, 2]",
            AccuracyKind::Binary { threshold: 0.0 },
            &probs,
            &hard,
            5,
            2,
        ),
        (
            "categorical [8, 4]",
            AccuracyKind::Categorical,
            &scores,
            &labels,
            8,
            4,
        ),
    ];
    let mut checks = Checks::default();
    for (what, kind, pred, target, rows, cols) in table {
        let reference = correct(&cpu, kind, pred, target, rows, cols).unwrap();
        // Counts of identical decisions: exact (a binary count over 2 columns is a sum of
        // halves, exact too).
        match correct(&gpu, kind, pred, target, rows, cols) {
            Ok(c) => checks.close(what, &[reference], &[c], EXACT),
            Err(e) => checks.fail(format!("{what}: {e}")),
        }
    }
    checks.finish("accuracy counts with NaN and ±inf");
}

// ---------------------------------------------------------------- clipping and optimizers

/// Clips `g` in place on `device` and returns it.
fn clipped(device: &Device, g: &[f32], clip: GradClip) -> downhill::Result<Vec<f32>> {
    let t = device.tensor(g.to_vec(), [g.len()])?;
    device.backend().clip_gradients(&t.storage(), clip)?;
    t.to_vec()
}

/// (what, gradients (a multiple of 4: the GPU clips whole vec4s), clip, tolerance)
fn clip_cases() -> Vec<(&'static str, Vec<f32>, GradClip, Tol)> {
    let ordinary = grid(1324, -1.0, 1.0, 11);
    let with = |changes: &[(usize, f32)]| {
        let mut g = ordinary.clone();
        for &(i, v) in changes {
            g[i] = v;
        }
        g
    };
    // Active norm clips: tests/parity.rs's 16 ulp relative (the norm², a sqrt, a division).
    let norm = Tol::rel(16.0 * EPS);
    vec![
        (
            "value, NaN and ±inf",
            with(&[(5, NAN), (7, INF), (9, -INF)]),
            GradClip::Value(0.3),
            EXACT,
        ),
        (
            "norm, a NaN gradient",
            with(&[(700, NAN)]),
            GradClip::Norm(1.0),
            norm,
        ),
        (
            "norm, an inf gradient",
            with(&[(3, INF)]),
            GradClip::Norm(1.0),
            norm,
        ),
        (
            "norm, +inf and -inf",
            with(&[(3, INF), (1000, -INF)]),
            GradClip::Norm(1.0),
            norm,
        ),
        (
            "norm, gradients of 1e20",
            ordinary.iter().map(|v| v * 1e20).collect(),
            GradClip::Norm(1.0),
            norm,
        ),
        // The norm exceeds f32::MAX on both sides: the factor is 0.
        (
            "norm, gradients of 3e38",
            vec![3e38, -3e38, 3e38, 1.0],
            GradClip::Norm(1.0),
            norm,
        ),
        (
            "norm, inactive with 1e20 headroom",
            ordinary.clone(),
            GradClip::Norm(1e20),
            EXACT,
        ),
    ]
}

#[test]
fn gradient_clipping_of_nan_infinite_and_huge_gradients() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let cpu = common::cpu();
    let mut checks = Checks::default();
    for (what, g, clip, tol) in clip_cases() {
        let reference = clipped(&cpu, &g, clip).unwrap();
        match clipped(&gpu, &g, clip) {
            Ok(out) => checks.close(&format!("clip {what}"), &reference, &out, tol),
            Err(e) => checks.fail(format!("clip {what}: {e}")),
        }
    }
    checks.finish("gradient clipping of NaN, ±inf and huge gradients");
}

const OPT_STEPS: usize = 3;

/// The gradients of step `t` for parameters [8] and [5]: on step 1 the first holds a NaN,
/// +inf and −inf; the second is always finite.
fn opt_gradients(t: usize) -> [Vec<f32>; 2] {
    let mut a = grid(8, -1.0, 1.0, 500 + t as u64);
    if t == 0 {
        a[1] = NAN;
        a[2] = INF;
        a[3] = -INF;
    }
    [a, grid(5, -1.0, 1.0, 600 + t as u64)]
}

/// `OPT_STEPS` steps of `loss = Σ sum(p ⊙ c_t)` (gradient exactly `c_t`): the parameters,
/// then every state buffer.
fn optimize(
    device: &Device,
    config: &dyn OptimizerConfig,
    clip: Option<GradClip>,
) -> downhill::Result<Vec<Vec<f32>>> {
    let params = [
        device.tensor(grid(8, -1.0, 1.0, 1), [8])?.param(),
        device.tensor(grid(5, -1.0, 1.0, 2), [5])?.param(),
    ];
    let refs: Vec<&Tensor> = params.iter().collect();
    let mut opt = Optimizer::new(config.boxed_clone(), &refs)?;
    if let Some(clip) = clip {
        opt = opt.with_clip(clip)?;
    }
    for t in 0..OPT_STEPS {
        let [ga, gb] = opt_gradients(t);
        let ca = device.tensor(ga, [8])?;
        let cb = device.tensor(gb, [5])?;
        let loss = params[0]
            .mul(&ca)?
            .sum()?
            .add(&params[1].mul(&cb)?.sum()?)?;
        opt.step(&loss.backward()?)?;
    }
    let mut out = vec![params[0].to_vec()?, params[1].to_vec()?];
    let mut i = 0;
    while let Ok(state) = opt.state_to_vec(i) {
        out.push(state);
        i += 1;
    }
    Ok(out)
}

fn optimizer_table() -> Vec<(&'static str, Box<dyn OptimizerConfig>, Option<GradClip>)> {
    vec![
        ("SGD", Box::new(Sgd::new(0.05)), None),
        ("SGD momentum", Box::new(Sgd::new(0.05).momentum(0.9)), None),
        (
            "SGD nesterov",
            Box::new(Sgd::new(0.05).momentum(0.9).nesterov(true)),
            None,
        ),
        (
            "SGD weight_decay",
            Box::new(Sgd::new(0.05).momentum(0.5).weight_decay(0.1)),
            None,
        ),
        ("Adagrad", Box::new(Adagrad::new(0.1)), None),
        (
            "Adagrad weight_decay",
            Box::new(Adagrad::new(0.1).weight_decay(0.1)),
            None,
        ),
        ("RMSprop", Box::new(RmsProp::new(0.01)), None),
        (
            "RMSprop centered momentum",
            Box::new(RmsProp::new(0.01).centered(true).momentum(0.9)),
            None,
        ),
        ("Adadelta", Box::new(Adadelta::new(1.0)), None),
        ("Adam", Box::new(Adam::new(0.01)), None),
        (
            "Adam amsgrad",
            Box::new(Adam::new(0.01).amsgrad(true)),
            None,
        ),
        (
            "Adam maximize weight_decay",
            Box::new(Adam::new(0.01).maximize(true).weight_decay(0.1)),
            None,
        ),
        ("AdamW", Box::new(AdamW::new(0.01)), None),
        (
            "AdamW amsgrad",
            Box::new(AdamW::new(0.01).amsgrad(true)),
            None,
        ),
        ("Adamax", Box::new(Adamax::new(0.02)), None),
        (
            "Adamax weight_decay",
            Box::new(Adamax::new(0.02).weight_decay(0.1)),
            None,
        ),
        ("NAdam", Box::new(NAdam::new(0.02)), None),
        (
            "NAdam decoupled_weight_decay",
            Box::new(
                NAdam::new(0.02)
                    .weight_decay(0.1)
                    .decoupled_weight_decay(true),
            ),
            None,
        ),
        (
            "SGD momentum, clip norm 1",
            Box::new(Sgd::new(0.05).momentum(0.9)),
            Some(GradClip::Norm(1.0)),
        ),
        (
            "SGD momentum, clip value 0.3",
            Box::new(Sgd::new(0.05).momentum(0.9)),
            Some(GradClip::Value(0.3)),
        ),
        (
            "Adam amsgrad, clip norm 2",
            Box::new(Adam::new(0.01).amsgrad(true)),
            Some(GradClip::Norm(2.0)),
        ),
    ]
}

#[test]
fn every_optimizer_with_a_nan_and_an_infinite_gradient() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let cpu = common::cpu();
    let mut checks = Checks::default();
    for (name, config, clip) in optimizer_table() {
        let reference = optimize(&cpu, config.as_ref(), clip)
            .unwrap_or_else(|e| panic!("{name}: the CPU reference failed: {e}"));
        assert!(
            reference.iter().flatten().any(|v| !v.is_finite()),
            "{name}: the NaN gradient left no trace"
        );
        match optimize(&gpu, config.as_ref(), clip) {
            Ok(run) if run.len() != reference.len() => checks.fail(format!(
                "{name}: {} buffers vs {}",
                run.len(),
                reference.len()
            )),
            Ok(run) => {
                for (i, (c, g)) in reference.iter().zip(&run).enumerate() {
                    // tests/parity.rs allows each side's update ~20 ulp per step (sqrt and
                    // division within 3 ulp, a norm clip 8 more) plus an ulp of the stored
                    // value: over 3 steps 64 ulp of each value, or of the buffer's largest
                    // finite value where a difference cancels.
                    let tol = Tol::new(64.0 * EPS * max_finite(c), 64.0 * EPS);
                    let what = if i < 2 {
                        format!("parameter {i}")
                    } else {
                        format!("state buffer {}", i - 2)
                    };
                    checks.close(
                        &format!("{name}: {what} after {OPT_STEPS} steps"),
                        c,
                        g,
                        tol,
                    );
                }
            }
            Err(e) => checks.fail(format!("{name}: {e}")),
        }
    }
    checks.finish("optimizers with NaN and ±inf gradients");
}

// ---------------------------------------------------------------- fit

/// Two Gaussian blobs with 0/1 labels, and the same points labelled by class for
/// cross-entropy.
fn blobs(n: usize) -> (Dataset, Dataset) {
    let mut rng = SeededRng::new(3);
    let mut x = Array2::zeros((n, 2));
    let mut y = Array2::zeros((n, 1));
    for i in 0..n {
        let label = (i % 2) as f32;
        x[(i, 0)] = 2.0 * label - 1.0 + 0.4 * rng.normal();
        x[(i, 1)] = 2.0 * label - 1.0 + 0.4 * rng.normal();
        y[(i, 0)] = label;
    }
    (
        Dataset::new(x.clone(), y.clone()).unwrap(),
        Dataset::new(x, y).unwrap(),
    )
}

/// Fits that blow up on every backend: the loss must turn non-finite and `fit` stop with
/// `Error::Diverged`, never return `Ok` with NaN weights (relu or tanh turning a NaN into
/// a number, a clamp in the loss dropping it). The first two went through those paths on
/// the GPU; the MSE and cross-entropy runs guard the other losses.
#[test]
fn fits_that_blow_up_diverge_on_both_backends() {
    let (binary, classes) = blobs(128);
    type Build = fn(&Device) -> Sequential;
    // (what, model, loss, optimizer, data)
    type FitRun<'a> = (&'a str, Build, Loss, Box<dyn OptimizerConfig>, &'a Dataset);
    let runs: Vec<FitRun> = vec![
        (
            "relu -> relu -> sigmoid, BCE, SGD lr 1e20 momentum 0.9",
            |d| {
                Sequential::new(d)
                    .seed(1)
                    .dense(2, 16, Activation::Relu)
                    .dense(16, 8, Activation::Relu)
                    .dense(8, 1, Activation::Sigmoid)
            },
            Loss::BinaryCrossEntropy,
            Box::new(Sgd::new(1e20).momentum(0.9)),
            &binary,
        ),
        (
            "tanh -> tanh -> sigmoid, BCE, Adam lr 1e38",
            |d| {
                Sequential::new(d)
                    .seed(2)
                    .dense(2, 16, Activation::Tanh)
                    .dense(16, 8, Activation::Tanh)
                    .dense(8, 1, Activation::Sigmoid)
            },
            Loss::BinaryCrossEntropy,
            Box::new(Adam::new(1e38)),
            &binary,
        ),
        (
            "relu -> linear, MSE, Adam lr 1e20",
            |d| {
                Sequential::new(d)
                    .seed(3)
                    .dense(2, 16, Activation::Relu)
                    .dense(16, 1, Activation::Linear)
            },
            Loss::MeanSquaredError,
            Box::new(Adam::new(1e20)),
            &binary,
        ),
        (
            "relu -> logits, cross-entropy, SGD lr 1e20 momentum 0.9",
            |d| {
                Sequential::new(d)
                    .seed(4)
                    .dense(2, 16, Activation::Relu)
                    .dense(16, 2, Activation::Linear)
            },
            Loss::SparseCategoricalCrossEntropy,
            Box::new(Sgd::new(1e20).momentum(0.9)),
            &classes,
        ),
    ];
    let mut devices = vec![("cpu", common::cpu())];
    if let Some(gpu) = common::gpu() {
        devices.push(("gpu", gpu));
    }
    let mut failures = Vec::new();
    for (name, build, loss, optimizer, data) in &runs {
        for (device_name, device) in &devices {
            let mut model = build(device);
            let config = FitConfig {
                epochs: 20,
                batch_size: 16,
                metrics: vec![Metric::Accuracy],
                verbose: 0,
                ..Default::default()
            };
            let params = model.parameters().unwrap();
            let refs: Vec<&Tensor> = params.iter().collect();
            let mut opt = Optimizer::new(optimizer.boxed_clone(), &refs).unwrap();
            match model.fit_with(data, *loss, &mut opt, config) {
                Err(Error::Diverged {
                    loss,
                    epoch,
                    step,
                    cause,
                    ..
                }) => {
                    // Caught at the first bad step: the loss is non-finite by then, unless a
                    // gradient overflowed first under a still-finite loss.
                    assert!(
                        !loss.is_finite() || cause == downhill::Divergence::Gradient,
                        "{name} [{device_name}]: {cause:?} with loss {loss}"
                    );
                    eprintln!(
                        "{name} [{device_name}]: diverged at step {step}, epoch {epoch} \
                         ({cause:?}, loss {loss})"
                    );
                }
                Err(e) => failures.push(format!("{name} [{device_name}]: {e}")),
                Ok(history) => {
                    let weights: Vec<f32> = model
                        .parameters()
                        .unwrap()
                        .iter()
                        .flat_map(|p| p.to_vec().unwrap())
                        .collect();
                    let bad = weights.iter().filter(|w| !w.is_finite()).count();
                    failures.push(format!(
                        "{name} [{device_name}]: fit returned Ok, last loss {:?}; {bad}/{} \
                         weights non-finite",
                        history.loss().last(),
                        weights.len()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_nan_input_row_predicts_nan_on_both_backends() {
    // relu(NaN) is NaN: the NaN reaches the output instead of a sigmoid of the biases.
    let x = Array2::from_shape_vec((3, 2), vec![NAN, 1.0, 0.5, -0.5, INF, 0.25]).unwrap();
    let mut devices = vec![("cpu", common::cpu())];
    if let Some(gpu) = common::gpu() {
        devices.push(("gpu", gpu));
    }
    for (name, device) in devices {
        let model = Sequential::new(&device)
            .seed(5)
            .dense(2, 8, Activation::Relu)
            .dense(8, 1, Activation::Sigmoid);
        let y = model.predict(&x).unwrap();
        assert!(y[(0, 0)].is_nan(), "{name}: {y:?}");
        assert!(y[(1, 0)].is_finite(), "{name}: {y:?}");
    }
}

// ---------------------------------------------------------------- PyTorch's values, CPU

fn values(f: impl Fn(&Tensor) -> downhill::Result<Tensor>, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let cpu = common::cpu();
    let t = cpu.tensor(x.to_vec(), [x.len()]).unwrap().param();
    let y = f(&t).unwrap();
    let g = y
        .sum()
        .unwrap()
        .backward()
        .unwrap()
        .to_vec(&t)
        .unwrap()
        .unwrap();
    (y.to_vec().unwrap(), g)
}

/// Bit-class equality with exact finite values: NaN for NaN, else `==`.
fn same(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x.is_nan() && y.is_nan()) || x == y)
}

macro_rules! expect {
    ($got:expr, $want:expr, $($what:tt)+) => {{
        let (got, want): (Vec<f32>, Vec<f32>) = ($got, $want);
        assert!(same(&got, &want), "{}: got {got:?}, PyTorch gives {want:?}", format!($($what)+));
    }};
}

#[test]
fn pytorch_values_of_activations_and_elementwise_ops() {
    let x = [NAN, INF, -INF, 2.0, -2.0];
    let (y, g) = values(|t| t.relu(), &x);
    expect!(y, vec![NAN, INF, 0.0, 2.0, 0.0], "relu");
    // threshold_backward: zero where x <= 0 only, so the gradient passes at NaN.
    expect!(g, vec![1.0, 1.0, 0.0, 1.0, 0.0], "relu backward");
    let (y, g) = values(|t| t.leaky_relu(0.1), &x);
    expect!(y, vec![NAN, INF, -INF, 2.0, -0.2], "leaky_relu");
    expect!(g, vec![0.1, 1.0, 0.1, 1.0, 0.1], "leaky_relu backward");
    let (y, g) = values(|t| t.sigmoid(), &x[..3]);
    expect!(y, vec![NAN, 1.0, 0.0], "sigmoid");
    expect!(g, vec![NAN, 0.0, 0.0], "sigmoid backward");
    let (y, g) = values(|t| t.tanh(), &x[..3]);
    expect!(y, vec![NAN, 1.0, -1.0], "tanh");
    expect!(g, vec![NAN, 0.0, 0.0], "tanh backward");
    let (y, _) = values(|t| t.gelu(), &x[..2]);
    expect!(y, vec![NAN, INF], "gelu");
    let (y, g) = values(|t| t.clamp(-1.0, 1.0), &x);
    expect!(y, vec![NAN, 1.0, -1.0, 1.0, -1.0], "clamp");
    expect!(g, vec![0.0; 5], "clamp backward");
    for (name, f) in [
        ("exp", (|t| t.exp()) as UnaryFn),
        ("log", |t| t.log()),
        ("sqrt", |t| t.sqrt()),
        ("square", |t| t.square()),
        ("powf 3", |t| t.powf(3.0)),
    ] {
        let (y, g) = values(f, &[NAN]);
        expect!(y, vec![NAN], "{name}(NaN)");
        expect!(g, vec![NAN], "{name} backward at NaN");
    }
    // C's pow: x^0 = 1 and 1^y = 1 even for NaN; 0^-1 = inf; (-inf)^3 = -inf.
    let (y, g) = values(|t| t.powf(0.0), &[NAN, INF, 0.0]);
    expect!(y, vec![1.0; 3], "powf 0");
    expect!(g, vec![0.0; 3], "powf 0 backward");
    let (y, _) = values(|t| t.powf(-1.0), &[0.0, -0.0, INF]);
    expect!(y, vec![INF, -INF, 0.0], "powf -1");
    let (y, _) = values(|t| t.powf(3.0), &[-INF, 2.0]);
    expect!(y, vec![-INF, 8.0], "powf 3");
    let cpu = common::cpu();
    let one = cpu.tensor(vec![1.0, 2.0], [2]).unwrap();
    let nan = cpu.tensor(vec![NAN, 0.0], [2]).unwrap();
    expect!(
        one.pow(&nan).unwrap().to_vec().unwrap(),
        vec![1.0, 1.0],
        "pow(1, NaN), pow(2, 0)"
    );
    // Fused linear epilogues behave as the separate ops.
    let x = cpu
        .tensor(vec![NAN, 1.0, -INF, 2.0, 1.0, 2.0], [3, 2])
        .unwrap();
    let w = cpu.tensor(vec![1.0, 1.0, 1.0, -1.0], [2, 2]).unwrap();
    for (act, want) in [
        (UnaryOp::Relu, vec![NAN, NAN, 0.0, 0.0, 3.0, 0.0]),
        (
            UnaryOp::Tanh,
            vec![NAN, NAN, -1.0, -1.0, 3f32.tanh(), (-1f32).tanh()],
        ),
    ] {
        let y = x.linear(&w, None, Some(act)).unwrap().to_vec().unwrap();
        expect!(y, want, "linear with {act:?}");
    }
}

#[test]
fn pytorch_values_of_reductions_and_softmax() {
    let cpu = common::cpu();
    let x = cpu.tensor(vec![1.0, NAN, 3.0], [1, 3]).unwrap().param();
    let m = x.max_axis(1, false).unwrap();
    expect!(m.to_vec().unwrap(), vec![NAN], "max of [1, NaN, 3]");
    let g = m
        .sum()
        .unwrap()
        .backward()
        .unwrap()
        .to_vec(&x)
        .unwrap()
        .unwrap();
    expect!(g, vec![0.0, 1.0, 0.0], "max backward: to the NaN");
    let (y, _) = values(
        |t| t.reshape([2, 2])?.max_axis(1, false),
        &[INF, NAN, -INF, 1.0],
    );
    expect!(y, vec![NAN, 1.0], "max of [inf, NaN], [-inf, 1]");
    let (y, _) = values(|t| t.sum(), &[INF, -INF]);
    expect!(y, vec![NAN], "sum of [inf, -inf]");
    let (y, _) = values(|t| t.mean(), &[INF, 1.0]);
    expect!(y, vec![INF], "mean of [inf, 1]");
    // A NaN or +inf anywhere in a row makes the whole softmax row NaN (inf − inf); −inf
    // gets probability 0 and log-probability −inf.
    let rows = [1.0, NAN, 0.0, INF, 1.0, 0.0, 0.0, -INF, 0.0];
    let (y, _) = values(|t| t.reshape([3, 3])?.softmax(), &rows);
    expect!(
        y,
        vec![NAN, NAN, NAN, NAN, NAN, NAN, 0.5, 0.0, 0.5],
        "softmax"
    );
    let (y, _) = values(|t| t.reshape([3, 3])?.log_softmax(), &rows);
    let ln_half = -std::f32::consts::LN_2;
    expect!(
        y,
        vec![NAN, NAN, NAN, NAN, NAN, NAN, ln_half, -INF, ln_half],
        "log_softmax"
    );
}

#[test]
fn pytorch_values_of_losses_and_accuracy() {
    let cpu = common::cpu();
    let loss_and_grad =
        |f: fn(&Tensor, &Tensor) -> downhill::Result<Tensor>, pred: &[f32], target: &[f32]| {
            let p = cpu.tensor(pred.to_vec(), [pred.len(), 1]).unwrap().param();
            let t = cpu.tensor(target.to_vec(), [target.len(), 1]).unwrap();
            let l = f(&p, &t).unwrap();
            let g = l.backward().unwrap().to_vec(&p).unwrap().unwrap();
            (l.item().unwrap(), g)
        };
    let (l, g) = loss_and_grad(|p, t| p.binary_cross_entropy(t), &[NAN, 0.5], &[1.0, 1.0]);
    assert!(l.is_nan(), "BCE(NaN) = {l}");
    assert!(g[0].is_nan() && g[1].is_finite(), "BCE backward {g:?}");
    // The clamp into [eps, 1 − eps] holds for infinities: a finite loss, a flat gradient.
    let (l, g) = loss_and_grad(|p, t| p.binary_cross_entropy(t), &[INF, -INF], &[1.0, 0.0]);
    assert!(
        l.is_finite() && g == vec![0.0, 0.0],
        "BCE(±inf) = {l}, {g:?}"
    );
    let (l, g) = loss_and_grad(|p, t| p.mse(t), &[NAN, 0.5], &[1.0, 1.0]);
    assert!(
        l.is_nan() && g[0].is_nan() && g[1] == -0.5,
        "MSE(NaN) = {l}, {g:?}"
    );
    let logits = |p: &Tensor, t: &Tensor| p.binary_cross_entropy_with_logits(t);
    let (l, g) = loss_and_grad(logits, &[NAN, 0.0], &[1.0, 1.0]);
    assert!(
        l.is_nan() && g[0].is_nan() && g[1] == -0.25,
        "BCE logits(NaN) = {l}, {g:?}"
    );
    // (1 − t)·x − log_sigmoid(x): +inf against 0 is +inf, against 1 is 0·inf = NaN.
    let (l, g) = loss_and_grad(logits, &[INF, 0.0], &[0.0, 1.0]);
    assert!(
        l == INF && g == vec![0.5, -0.25],
        "BCE logits(inf, 0) = {l}, {g:?}"
    );
    assert!(loss_and_grad(logits, &[INF], &[1.0]).0.is_nan());
    assert!(loss_and_grad(logits, &[-INF], &[0.0]).0.is_nan());
    assert!(loss_and_grad(logits, &[-INF], &[1.0]).0.is_nan());
    let p = cpu
        .tensor(vec![0.5, NAN, 0.0, 1.0, 2.0, 0.0], [2, 3])
        .unwrap()
        .param();
    let labels = cpu.tensor(vec![0.0, 1.0], [2]).unwrap();
    let l = p.cross_entropy(&labels).unwrap();
    assert!(l.item().unwrap().is_nan());
    let g = l.backward().unwrap().to_vec(&p).unwrap().unwrap();
    assert!(
        g[..3].iter().all(|v| v.is_nan()) && g[3..].iter().all(|v| v.is_finite()),
        "{g:?}"
    );
    // argmax as torch.argmax: the first NaN is the maximum.
    let (scores, labels) = categorical_rows();
    let count = correct(&cpu, AccuracyKind::Categorical, &scores, &labels, 8, 4).unwrap();
    assert_eq!(count, 6.0);
    let count = correct(
        &cpu,
        AccuracyKind::Binary { threshold: 0.5 },
        &[NAN, INF, -INF, 0.7],
        &[0.0, 1.0, 0.0, 1.0],
        4,
        1,
    )
    .unwrap();
    assert_eq!(count, 4.0, "NaN > 0.5 is false: predicted 0");
}

#[test]
fn pytorch_values_of_clipping_and_optimizers() {
    let cpu = common::cpu();
    let g = clipped(&cpu, &[NAN, INF, -INF, 0.1], GradClip::Value(0.5)).unwrap();
    expect!(g, vec![NAN, 0.5, -0.5, 0.1], "clip value");
    // The norm of [1e20, 1e20] is 1.41e20 (no overflow): unit norm after the clip.
    let g = clipped(&cpu, &[1e20, 1e20, 0.0, 0.0], GradClip::Norm(1.0)).unwrap();
    let norm = g.iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-6 && g[0] == g[1], "{g:?}");
    // clip_grad_norm_: a NaN norm makes every gradient NaN; an infinite one gives the
    // factor 0 (0 for finite gradients, 0·inf = NaN for infinite ones).
    let g = clipped(&cpu, &[NAN, 1.0, 2.0, 3.0], GradClip::Norm(1.0)).unwrap();
    assert!(g.iter().all(|v| v.is_nan()), "{g:?}");
    let g = clipped(&cpu, &[INF, 1.0, -2.0, 3.0], GradClip::Norm(1.0)).unwrap();
    expect!(
        g,
        vec![NAN, 0.0, -0.0, 0.0],
        "clip norm with an inf gradient"
    );
    // torch.maximum propagates NaN: amsgrad's running maximum and Adamax's
    // exponentially weighted infinity norm take the NaN.
    for (name, config, state) in [
        (
            "amsgrad max_exp_avg_sq",
            Box::new(Adam::new(0.1).amsgrad(true)) as Box<dyn OptimizerConfig>,
            2,
        ),
        ("Adamax exp_inf", Box::new(Adamax::new(0.1)), 1),
    ] {
        let p = cpu.tensor(vec![1.0, 1.0], [2]).unwrap().param();
        let mut opt = Optimizer::new(config, &[&p]).unwrap();
        let c = cpu.tensor(vec![NAN, 1.0], [2]).unwrap();
        opt.step(&p.mul(&c).unwrap().sum().unwrap().backward().unwrap())
            .unwrap();
        let s = opt.state_to_vec(state).unwrap();
        assert!(s[0].is_nan() && s[1].is_finite(), "{name}: {:?}", &s[..2]);
    }
}

#[test]
fn the_checker_matches_non_finite_values_by_class_only() {
    // A non-finite reference must meet the same class: NaN for NaN, the same infinity.
    // (With the tolerance computed from a NaN or infinite reference, `rtol·|cpu|` was NaN
    // and let any value through.)
    let cpu = [NAN, INF, -INF, 1.0];
    assert!(check_close("same", &cpu, &cpu, 0.0, 1.0).is_ok());
    for (i, wrong) in [(0, 0.0), (0, INF), (1, 1e30), (1, -INF), (2, NAN), (3, NAN)] {
        let mut gpu = cpu;
        gpu[i] = wrong;
        assert!(
            check_close("wrong", &cpu, &gpu, 1.0, 1.0).is_err(),
            "cpu {} accepted gpu {wrong}",
            cpu[i]
        );
    }
}
