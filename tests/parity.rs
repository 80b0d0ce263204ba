//! CPU ↔ GPU parity: every op forward and backward, every loss, accuracy counts, row
//! gathering, every optimizer option over 50 steps, gradient clipping and whole `fit` runs,
//! on fresh seeded random inputs, with the CPU backend as the reference.
//!
//! Method: a case is a function of some inputs. Both devices get the same host data; the
//! forward outputs are compared, then `sum(y · R)` with fixed random weights `R` (magnitudes
//! in [0.5, 1.5], random signs: every output element matters, each differently) is
//! differentiated on both devices and the gradients are compared input by input. `R` reaches
//! the op's backward bit-identically on both sides (the product's backward is `1 · R`).
//!
//! # Tolerances
//! Each comparison accepts `|gpu − cpu| <= atol + rtol·|cpu|` element by element, with the
//! tolerance written next to the case and derived from the error both sides may
//! legitimately have:
//! * `U = 2^-24` is the f32 unit roundoff (a correctly rounded operation errs by at most
//!   `U` relative), `EPS = 2^-23` one ulp at 1 (an ulp of `x` is at most `EPS·|x|`).
//! * The GPU follows Vulkan's SPIR-V precision rules: `+ − ×` correctly rounded, division
//!   within 2.5 ulp, `sqrt` inherited from `inversesqrt` (2 ulp) and a division, `exp` and
//!   `exp2` within `3 + 2|x|` ulp, `log` within 3 ulp (2^-21 absolute on [0.5, 2]), `pow`
//!   inherited from `exp2(y·log2 x)`, `tanh` from `exp`. The CPU uses Rust's libm (≤ 1 ulp)
//!   and accumulates sums in f64.
//! * Ops that are one correctly rounded operation, a selection (relu, clamp, max) or a copy
//!   (permute, expand, gather) must agree exactly: `atol = rtol = 0`.
//! * Sums: an f32 sum whose longest chain of additions has `d` steps errs by at most
//!   `d·U·Σ|terms|` (Higham, *Accuracy and Stability of Numerical Algorithms*, §4.2). The GPU
//!   reductions add `ceil(n/256)` terms per invocation and then 8 tree levels, so
//!   `d = ceil(n/256) + 8`; the CPU's f64 sum adds one final rounding.
//! * Dot products of length `k` (matmul): each side is within `γ_k·Σ|a_l·b_l|` of the exact
//!   value, `γ_k = kU/(1 − kU)`, in any order and with or without FMA (Higham §3.1), so the
//!   two differ by at most `2·γ_k·k·max|a|·max|b|`.
//!
//! Every table test runs all its cases, then fails listing each comparison that failed (with
//! the worst element, the largest error and the number of elements outside the tolerance);
//! on success it prints the worst `|Δ| / allowed` ratio it saw (`--nocapture` shows it).
//! The tolerances and the checker live in `tests/common/tolerance.rs`, shared with
//! `tests/parity_nonfinite.rs`.

mod common;

use common::tolerance::*;
use downhill::gpu::{GpuBackend, MatmulKernel};
use downhill::prelude::*;
use downhill::random::SeededRng;
use downhill::{AccuracyKind, BackendKind, Shape, UnaryOp};
use std::sync::{Arc, OnceLock};

// ---------------------------------------------------------------- inputs

/// One input of a case: row-major host data, its shape, and whether a gradient is taken.
#[derive(Clone, Debug)]
struct Input {
    data: Vec<f32>,
    shape: Vec<usize>,
    grad: bool,
}

fn input(shape: &[usize], data: Vec<f32>) -> Input {
    assert_eq!(data.len(), shape.iter().product::<usize>(), "test bug");
    assert!(
        data.iter().any(|&v| v != 0.0),
        "test bug: an all-zero input"
    );
    Input {
        data,
        shape: shape.to_vec(),
        grad: true,
    }
}

/// Uniform in `[lo, hi)` from `seed`, drawn by the library on the CPU.
fn uniform(shape: &[usize], lo: f32, hi: f32, seed: u64) -> Input {
    let t = Tensor::rand_uniform(&common::cpu(), shape.to_vec(), lo, hi, seed).unwrap();
    input(shape, t.to_vec().unwrap())
}

/// Normal with the given mean and standard deviation from `seed`.
fn normal(shape: &[usize], mean: f32, std: f32, seed: u64) -> Input {
    let t = Tensor::rand_normal(&common::cpu(), shape.to_vec(), mean, std, seed).unwrap();
    input(shape, t.to_vec().unwrap())
}

/// Random sign, magnitude uniform in `[lo, hi)`: bounded away from zero.
fn signed(shape: &[usize], lo: f32, hi: f32, seed: u64) -> Input {
    let u = uniform(shape, -1.0, 1.0, seed).data;
    let data = u
        .iter()
        .map(|&v| (lo + (hi - lo) * v.abs()).copysign(v))
        .collect();
    input(shape, data)
}

/// Hard 0/1 targets.
fn binary_targets(shape: &[usize], seed: u64) -> Input {
    let u = uniform(shape, 0.0, 1.0, seed).data;
    let data = u.iter().map(|&v| if v < 0.5 { 0.0 } else { 1.0 }).collect();
    input(shape, data)
}

/// `rows` class labels in `0..classes`, as f32, shape `[rows]`.
fn labels(rows: usize, classes: usize, seed: u64) -> Input {
    let u = uniform(&[rows], 0.0, 1.0, seed).data;
    let data = u
        .iter()
        .map(|&v| ((v * classes as f32) as usize).min(classes - 1) as f32)
        .collect();
    // A single row may legitimately be labelled 0: skip the all-zero check there.
    Input {
        data,
        shape: vec![rows],
        grad: false,
    }
}

/// Labels for class scores `pred` ([rows, cols]): the argmax on even rows, a random class on
/// odd ones, so an accuracy count is neither zero nor complete.
fn labels_half_right(pred: &Input, cols: usize, seed: u64) -> Input {
    let rows = pred.data.len() / cols;
    let mut random = labels(rows, cols, seed);
    for (r, label) in random.data.iter_mut().enumerate().step_by(2) {
        let row = &pred.data[r * cols..(r + 1) * cols];
        let best = (0..cols).fold(0, |b, j| if row[j] > row[b] { j } else { b });
        *label = best as f32;
    }
    random
}

/// `i` rounded to a grid of 0.25: many exact ties, zeros and kink positions (0, ±0.5).
fn on_grid(mut i: Input) -> Input {
    i.data
        .iter_mut()
        .for_each(|v| *v = (*v * 4.0).round() / 4.0);
    assert!(
        i.data.iter().any(|&v| v != 0.0),
        "test bug: an all-zero input"
    );
    i
}

fn constant(mut i: Input) -> Input {
    i.grad = false;
    i
}

/// The upstream weights `R` for an output of `shape`: magnitudes in [0.5, 1.5], random signs.
fn weights(shape: &[usize]) -> Vec<f32> {
    signed(shape, 0.5, 1.5, 0x5EED).data
}

/// A new seed for every input, so no two inputs of a test share data.
struct Seeds(u64);

impl Seeds {
    fn next(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
}

// ---------------------------------------------------------------- cases

type OpFn = Box<dyn Fn(&[Tensor]) -> downhill::Result<Tensor>>;

/// What a backward tolerance may depend on.
struct Seen<'a> {
    /// The upstream weights `R` (the gradient of the checked output).
    weights: &'a [f32],
    /// The CPU's forward output.
    y: &'a [f32],
}

type TolFn = Box<dyn Fn(&Seen<'_>) -> Vec<Tol>>;

/// A named function of some inputs, with its forward tolerance and the tolerance of each
/// input's gradient (one for all, or one per input).
struct Case {
    name: String,
    inputs: Vec<Input>,
    f: OpFn,
    fwd: Tol,
    bwd: TolFn,
    /// The gradient is identically zero by construction (softmax over one column).
    zero_grad: bool,
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
        fwd: EXACT,
        bwd: Box::new(|_| vec![EXACT]),
        zero_grad: false,
    }
}

impl Case {
    fn fwd(mut self, tol: Tol) -> Case {
        self.fwd = tol;
        self
    }
    fn bwd(mut self, tol: Tol) -> Case {
        self.bwd = Box::new(move |_| vec![tol]);
        self
    }
    fn bwd_each(mut self, tols: Vec<Tol>) -> Case {
        self.bwd = Box::new(move |_| tols.clone());
        self
    }
    fn bwd_with(mut self, f: impl Fn(&Seen<'_>) -> Vec<Tol> + 'static) -> Case {
        self.bwd = Box::new(f);
        self
    }
    fn zero_grad(mut self) -> Case {
        self.zero_grad = true;
        self
    }
}

/// A case's results on one device.
struct Outcome {
    y: Vec<f32>,
    weights: Vec<f32>,
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
    let w = weights(y.dims());
    let r = device.tensor(w.clone(), y.dims().to_vec())?;
    let grads = y.mul(&r)?.sum()?.backward()?;
    let grads = case
        .inputs
        .iter()
        .zip(&tensors)
        .map(|(i, t)| if i.grad { grads.to_vec(t) } else { Ok(None) })
        .collect::<downhill::Result<Vec<_>>>()?;
    Ok(Outcome {
        y: y.to_vec()?,
        weights: w,
        grads,
    })
}

/// A comparison of zeros with zeros proves nothing: the reference must be non-trivial.
fn check_reference(checks: &mut Checks, case: &Case, cpu: &Outcome) {
    if cpu.y.iter().all(|&v| v == 0.0) {
        checks.fail(format!(
            "{}: degenerate case, the output is all zeros",
            case.name
        ));
    }
    for (i, (input, grad)) in case.inputs.iter().zip(&cpu.grads).enumerate() {
        match grad {
            None if input.grad => checks.fail(format!(
                "{}: input {i} got no gradient on the CPU",
                case.name
            )),
            Some(g) if !case.zero_grad && g.iter().all(|&v| v == 0.0) => checks.fail(format!(
                "{}: degenerate case, the gradient of input {i} is all zeros",
                case.name
            )),
            _ => {}
        }
    }
}

fn compare(checks: &mut Checks, device: &str, case: &Case, cpu: &Outcome, gpu: &Outcome) {
    let label = format!("{} [{device}]", case.name);
    checks.close(&format!("{label} forward"), &cpu.y, &gpu.y, case.fwd);
    let tols = (case.bwd)(&Seen {
        weights: &cpu.weights,
        y: &cpu.y,
    });
    for (i, (c, g)) in cpu.grads.iter().zip(&gpu.grads).enumerate() {
        let tol = if tols.len() == 1 { tols[0] } else { tols[i] };
        match (c, g) {
            (Some(c), Some(g)) => checks.close(&format!("{label} d/d input {i}"), c, g, tol),
            (None, None) => {}
            _ => checks.fail(format!(
                "{label}: input {i} has a gradient on one device only"
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
        check_reference(&mut checks, case, &reference);
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

/// More GPU backends on the same adapter, one per matmul kernel.
fn kernel_devices() -> &'static [(String, Device)] {
    static DEVICES: OnceLock<Vec<(String, Device)>> = OnceLock::new();
    DEVICES.get_or_init(|| {
        let adapter = std::env::var("DOWNHILL_ADAPTER").ok();
        MatmulKernel::ALL
            .into_iter()
            .map(|kernel| {
                let name = kernel.name();
                let backend =
                    GpuBackend::open(adapter.as_deref(), Some(kernel)).unwrap_or_else(|e| {
                        panic!("opening a GPU backend with the {name} kernel: {e}")
                    });
                (format!("gpu {name} matmul"), Device::new(Arc::new(backend)))
            })
            .collect()
    })
}

// ---------------------------------------------------------------- matmul and linear

/// m x k x n: a single element, small primes, sizes just past the 64-wide tiles and 16-deep
/// k steps of the tiled kernel and the 4x4 blocks of the register kernel; n a multiple of 16
/// with m a multiple of none of the register blocks' rows (the 4x16 kernel), once with a
/// transposed B large enough to be copied to row-major first.
const MATMUL_SIZES: [(usize, usize, usize); 7] = [
    (1, 1, 1),
    (3, 5, 7),
    (17, 31, 13),
    (65, 129, 67),
    (130, 70, 200),
    (37, 19, 48),
    (21, 130, 144),
];

#[test]
fn matmul_all_transposes_on_every_kernel() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let mut seeds = Seeds(100);
    let mut cases = Vec::new();
    for (m, k, n) in MATMUL_SIZES {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a_shape = if ta { [k, m] } else { [m, k] };
            let b_shape = if tb { [n, k] } else { [k, n] };
            let a = uniform(&a_shape, -1.0, 1.0, seeds.next());
            let b = uniform(&b_shape, -1.0, 1.0, seeds.next());
            // |a|, |b| <= 1 and |R| <= 1.5. Forward dots have length k; dA = R·op(B)ᵀ has
            // length n, dB = op(A)ᵀ·R length m.
            cases.push(
                case(
                    format!("matmul {m}x{k}x{n} trans_a={ta} trans_b={tb}"),
                    vec![a, b],
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
    let mut devices = shared(&gpu);
    devices.extend_from_slice(kernel_devices());
    run_cases("matmul", &devices, &cases);
}

/// A bias `[n]` in [-0.5, 0.5) for `x [m, k] · w [k, n]`, each entry redrawn until every
/// pre-activation of its column is at least `margin` away from 0 (computed in f64).
fn bias_avoiding_kinks(
    x: &[f32],
    w: &[f32],
    (m, k, n): (usize, usize, usize),
    margin: f64,
    seed: u64,
) -> Input {
    let mut rng = SeededRng::new(seed);
    let xw: Vec<f64> = (0..m * n)
        .map(|e| {
            let (i, j) = (e / n, e % n);
            (0..k)
                .map(|l| x[i * k + l] as f64 * w[l * n + j] as f64)
                .sum()
        })
        .collect();
    let data = (0..n)
        .map(|j| loop {
            let b = rng.uniform(-0.5, 0.5);
            if (0..m).all(|i| (xw[i * n + j] + b as f64).abs() > margin) {
                break b;
            }
        })
        .collect();
    input(&[n], data)
}

#[test]
fn fused_linear_with_every_epilogue_on_every_kernel() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let mut seeds = Seeds(200);
    let mut cases = Vec::new();
    let epilogues: [(Option<UnaryOp>, bool); 6] = [
        (None, true),
        (None, false),
        (Some(UnaryOp::Relu), true),
        (Some(UnaryOp::LeakyRelu(0.1)), true),
        (Some(UnaryOp::Sigmoid), true),
        (Some(UnaryOp::Tanh), true),
    ];
    // (n = 48: the vec4 kernels, each with its own epilogue.)
    for (m, k, n) in [(3, 5, 7), (65, 129, 67), (37, 19, 48)] {
        for (act, with_bias) in epilogues {
            let x = uniform(&[m, k], -1.0, 1.0, seeds.next());
            let w = uniform(&[k, n], -0.5, 0.5, seeds.next());
            let dz_fwd = dot_atol(k + 1, 1.0, 0.5);
            let bias = match act {
                // The selections' backward tests y > 0 on the saved output: a pre-activation
                // within rounding distance of 0 could legitimately flip it, so the bias keeps
                // every z at least twice the worst-case |Δz| away from the kink.
                Some(UnaryOp::Relu | UnaryOp::LeakyRelu(_)) => {
                    bias_avoiding_kinks(&x.data, &w.data, (m, k, n), 2.0 * dz_fwd, seeds.next())
                }
                _ => uniform(&[n], -0.5, 0.5, seeds.next()),
            };
            let mut inputs = vec![x, w];
            if with_bias {
                inputs.push(bias);
            }
            // z = x·w + b is a dot of length k + 1 with |x| <= 1, |w|, |b| <= 0.5. Relu and
            // leaky relu are exact selections (Δy = Δz); sigmoid and tanh are 1-Lipschitz and
            // add their own TRANSC error.
            let smooth = matches!(act, Some(UnaryOp::Sigmoid | UnaryOp::Tanh));
            let fwd = if smooth {
                Tol::new(dz_fwd + TRANSC.atol, TRANSC.rtol)
            } else {
                Tol::abs(dz_fwd)
            };
            // Backward: dz = act'(y)·R from the saved output; for sigmoid/tanh
            // |Δdz| <= 1.5·2·Δy (|y| <= 1) plus 2 roundings, for the selections it is exact.
            // Then dx = dz·wᵀ (length n, |w| <= 0.5), dw = xᵀ·dz (length m), db = Σ_m dz,
            // each also carrying the dz differences summed over its length.
            let ddz = if smooth {
                3.0 * (fwd.atol + fwd.rtol) + 2.0 * EPS * 1.5
            } else {
                0.0
            };
            let mut bwd = vec![
                Tol::abs(dot_atol(n, 1.5, 0.5) + n as f64 * 0.5 * ddz),
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
    }
    let mut devices = shared(&gpu);
    devices.extend_from_slice(kernel_devices());
    run_cases("linear", &devices, &cases);
}

// ---------------------------------------------------------------- elementwise

/// Where a unary op's inputs are drawn.
#[derive(Clone, Copy)]
enum Domain {
    Uniform(f32, f32),
    /// Random sign, magnitude in the range (away from zero).
    Signed(f32, f32),
}

fn draw(domain: Domain, shape: &[usize], seed: u64) -> Input {
    match domain {
        Domain::Uniform(lo, hi) => uniform(shape, lo, hi, seed),
        Domain::Signed(lo, hi) => signed(shape, lo, hi, seed),
    }
}

type UnaryFn = fn(&Tensor) -> downhill::Result<Tensor>;

/// Sizes for elementwise ops: one element, primes, a non-multiple of 256 in two dimensions.
const ELEMENTWISE_SHAPES: [&[usize]; 4] = [&[1], &[31], &[1009], &[3, 337]];

#[test]
fn unary_and_scalar_ops_forward_and_backward() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    use Domain::*;
    // (name, op, domain, forward tolerance, backward tolerance)
    let table: Vec<(&str, UnaryFn, Domain, Tol, Tol)> = vec![
        // -x, x·x, 2·x·dy (×2 exact), x ± c, x·c, c − x, selections: exact.
        ("neg", |x| x.neg(), Uniform(-2.0, 2.0), EXACT, EXACT),
        ("square", |x| x.square(), Uniform(-2.0, 2.0), EXACT, EXACT),
        (
            "add_scalar",
            |x| x.add_scalar(0.75),
            Uniform(-2.0, 2.0),
            EXACT,
            EXACT,
        ),
        (
            "sub_scalar",
            |x| x.sub_scalar(1.25),
            Uniform(-2.0, 2.0),
            EXACT,
            EXACT,
        ),
        (
            "mul_scalar",
            |x| x.mul_scalar(-1.5),
            Uniform(-2.0, 2.0),
            EXACT,
            EXACT,
        ),
        // x · (1/3), the reciprocal taken on the host: one multiplication.
        (
            "div_scalar",
            |x| x.div_scalar(3.0),
            Uniform(-2.0, 2.0),
            EXACT,
            EXACT,
        ),
        (
            "rsub_scalar",
            |x| x.rsub_scalar(2.0),
            Uniform(-2.0, 2.0),
            EXACT,
            EXACT,
        ),
        (
            "operator x * 2 + 1",
            |x| &(x * 2.0)? + 1.0,
            Uniform(-2.0, 2.0),
            EXACT,
            EXACT,
        ),
        ("relu", |x| x.relu(), Uniform(-1.0, 1.0), EXACT, EXACT),
        (
            "leaky_relu",
            |x| x.leaky_relu(0.1),
            Uniform(-1.0, 1.0),
            EXACT,
            EXACT,
        ),
        (
            "clamp",
            |x| x.clamp(-0.5, 0.5),
            Uniform(-1.0, 1.0),
            EXACT,
            EXACT,
        ),
        // c / x: one division. Backward -dy·y/x: y carries DIV, then a product and a
        // division: 4 + 1 + 3.5 ulp, rounded up to 9 ulp.
        (
            "rdiv_scalar",
            |x| x.rdiv_scalar(2.0),
            Signed(0.5, 2.0),
            DIV,
            Tol::rel(9.0 * EPS),
        ),
        ("sqrt", |x| x.sqrt(), Uniform(0.25, 4.0), TRANSC, TRANSC_BWD),
        ("exp", |x| x.exp(), Uniform(-4.0, 4.0), TRANSC, TRANSC_BWD),
        // Backward of log is dy / x: one division.
        ("log", |x| x.log(), Uniform(0.25, 4.0), TRANSC, DIV),
        (
            "powf 2.5",
            |x| x.powf(2.5),
            Uniform(0.5, 2.0),
            TRANSC,
            TRANSC_BWD,
        ),
        // A negative base with an integer exponent (the GPU's sign handling).
        (
            "powf 3",
            |x| x.powf(3.0),
            Signed(0.25, 2.0),
            TRANSC,
            TRANSC_BWD,
        ),
        (
            "powf -1.5",
            |x| x.powf(-1.5),
            Uniform(0.5, 2.0),
            TRANSC,
            TRANSC_BWD,
        ),
        (
            "sigmoid",
            |x| x.sigmoid(),
            Uniform(-6.0, 6.0),
            TRANSC,
            TRANSC_BWD,
        ),
        ("tanh", |x| x.tanh(), Uniform(-4.0, 4.0), TRANSC, TRANSC_BWD),
        ("gelu", |x| x.gelu(), Uniform(-4.0, 4.0), TRANSC, TRANSC_BWD),
    ];
    let mut seeds = Seeds(300);
    let mut cases = Vec::new();
    for (name, op, domain, fwd, bwd) in table {
        for shape in ELEMENTWISE_SHAPES {
            let x = draw(domain, shape, seeds.next());
            cases.push(
                case(format!("{name} {shape:?}"), vec![x], move |t| op(&t[0]))
                    .fwd(fwd)
                    .bwd(bwd),
            );
        }
    }
    // Exactly at the kinks (x = 0 for relu and leaky relu, x = ±0.5 for the clamp, which
    // passes the gradient at its bounds): both sides use the same comparisons, exact.
    let kinks: [(&str, UnaryFn); 3] = [
        ("relu", |x| x.relu()),
        ("leaky_relu", |x| x.leaky_relu(0.1)),
        ("clamp", |x| x.clamp(-0.5, 0.5)),
    ];
    for (name, op) in kinks {
        let x = on_grid(uniform(&[3, 337], -1.0, 1.0, seeds.next()));
        assert!(x.data.contains(&0.0) && x.data.contains(&0.5));
        cases.push(case(
            format!("{name} at its kinks [3, 337]"),
            vec![x],
            move |t| op(&t[0]),
        ));
    }
    run_cases("unary ops", &shared(&gpu), &cases);
}

#[test]
fn broadcasting_binary_ops_forward_and_backward() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    use Domain::*;
    type BinaryFn = fn(&Tensor, &Tensor) -> downhill::Result<Tensor>;
    // Per op: the domains of a and b, the forward tolerance, and for each operand's gradient
    // the elementwise tolerance of one term and the largest term (|dy| = |R| <= 1.5), before
    // the sum over broadcast positions.
    struct BinarySpec {
        name: &'static str,
        f: BinaryFn,
        a: Domain,
        b: Domain,
        fwd: Tol,
        grad_a: (Tol, f64),
        grad_b: (Tol, f64),
    }
    let specs = [
        // dy and ±dy: exact; terms <= 1.5.
        BinarySpec {
            name: "add",
            f: |a, b| a.add(b),
            a: Uniform(-2.0, 2.0),
            b: Uniform(-2.0, 2.0),
            fwd: EXACT,
            grad_a: (EXACT, 1.5),
            grad_b: (EXACT, 1.5),
        },
        BinarySpec {
            name: "sub",
            f: |a, b| a.sub(b),
            a: Uniform(-2.0, 2.0),
            b: Uniform(-2.0, 2.0),
            fwd: EXACT,
            grad_a: (EXACT, 1.5),
            grad_b: (EXACT, 1.5),
        },
        // dy·b and dy·a: one product each, terms <= 3.
        BinarySpec {
            name: "mul",
            f: |a, b| a.mul(b),
            a: Uniform(-2.0, 2.0),
            b: Uniform(-2.0, 2.0),
            fwd: EXACT,
            grad_a: (EXACT, 3.0),
            grad_b: (EXACT, 3.0),
        },
        // dy/b (one division, terms <= 1.5/0.5); -(dy/b)·out: two DIV-rounded factors
        // and a product, 9 ulp; terms <= 1.5·2/0.5² = 12.
        BinarySpec {
            name: "div",
            f: |a, b| a.div(b),
            a: Uniform(-2.0, 2.0),
            b: Signed(0.5, 2.0),
            fwd: DIV,
            grad_a: (DIV, 3.0),
            grad_b: (Tol::rel(9.0 * EPS), 12.0),
        },
        // a^b <= 4. dy·b·a^(b-1): pow (TRANSC) and two products, terms <= 1.5·2·0.5^-3 = 24;
        // dy·out·ln a: out (TRANSC) times ln a, whose error on [0.5, 2] is 2^-21 absolute,
        // scaled by |dy·out| <= 6; terms <= 1.5·4·ln 2 < 4.2.
        BinarySpec {
            name: "pow",
            f: |a, b| a.pow(b),
            a: Uniform(0.5, 2.0),
            b: Uniform(-2.0, 2.0),
            fwd: TRANSC,
            grad_a: (Tol::new(3.0 * TRANSC.atol, TRANSC.rtol + 2.0 * EPS), 24.0),
            grad_b: (Tol::new(6.0 * LOG_ABS, TRANSC.rtol + 3.0 * EPS), 4.2),
        },
    ];
    // Same shape, a bias row [n] against [m, n] (both ways round), a column [m, 1], a
    // scalar, and 3-D [2, 1, 3] against [4, 1] (both operands broadcast).
    let pairs: [(&[usize], &[usize]); 6] = [
        (&[7, 149], &[7, 149]),
        (&[13, 67], &[67]),
        (&[67], &[13, 67]),
        (&[13, 67], &[13, 1]),
        (&[13, 67], &[]),
        (&[2, 1, 3], &[4, 1]),
    ];
    let mut seeds = Seeds(400);
    let mut cases = Vec::new();
    for spec in &specs {
        for (a_shape, b_shape) in pairs {
            let a = draw(spec.a, a_shape, seeds.next());
            let b = draw(spec.b, b_shape, seeds.next());
            let out: usize = Shape::broadcast("parity", &Shape::new(a_shape), &Shape::new(b_shape))
                .unwrap()
                .numel();
            // Each operand's gradient sums out/numel terms (1: no reduction at all).
            let reduce_a = out / a.data.len();
            let reduce_b = out / b.data.len();
            let f = spec.f;
            cases.push(
                case(
                    format!("{} {a_shape:?} with {b_shape:?}", spec.name),
                    vec![a, b],
                    move |t| f(&t[0], &t[1]),
                )
                .fwd(spec.fwd)
                .bwd_each(vec![
                    summed(reduce_a, spec.grad_a.1, spec.grad_a.0),
                    summed(reduce_b, spec.grad_b.1, spec.grad_b.0),
                ]),
            );
        }
    }
    run_cases("binary ops", &shared(&gpu), &cases);
}

#[test]
fn one_elementwise_op_over_more_than_65535_workgroups() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    // 2^24 + 1000 elements need 65,540 workgroups of 256: more than the 65,535 one grid
    // dimension may hold, so the kernel runs on a 2-D grid and must fold it back into one
    // index. Relu is an exact selection; most inputs are positive, so an element the grid
    // misses or misplaces shows.
    let n: usize = (1 << 24) + 1000;
    assert!(n.div_ceil(256) > 65_535);
    let x = Tensor::rand_uniform(&common::cpu(), [n], -0.25, 1.0, 77).unwrap();
    let cpu = x.relu().unwrap().to_vec().unwrap();
    let xg = gpu.tensor(x.to_vec().unwrap(), [n]).unwrap();
    let out = xg.relu().unwrap().to_vec().unwrap();
    assert_close("relu over 2^24 + 1000 elements", &cpu, &out, 0.0, 0.0);
}

// ---------------------------------------------------------------- reductions, rows, shapes

#[test]
fn sum_mean_and_max_all_and_per_axis() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let mut seeds = Seeds(500);
    let mut cases = Vec::new();
    // Inputs in [-1, 1]: sums of n terms are within sum_atol(n, 1); the mean divides by n
    // and rounds once more (2U relative for both sides). Their backward is expand (a copy)
    // and, for the mean, one product by the same host-computed 1/n: exact. Max and its
    // backward (routing dy to the first maximum) are selections: exact.
    for shape in [&[1][..], &[7], &[1000], &[5, 300, 7]] {
        let n: usize = shape.iter().product();
        let x = uniform(shape, -1.0, 1.0, seeds.next());
        cases.push(
            case(format!("sum {shape:?}"), vec![x.clone()], |t| t[0].sum())
                .fwd(Tol::abs(sum_atol(n, 1.0))),
        );
        cases.push(
            case(format!("mean {shape:?}"), vec![x], |t| t[0].mean())
                .fwd(Tol::new(sum_atol(n, 1.0) / n as f64, 2.0 * U)),
        );
    }
    // Axis 1 of [5, 300, 7] is longer than a workgroup (the strided loop runs), axis 0 of
    // [1000, 3] reduces 1000 rows with stride 3.
    for shape in [&[5, 300, 7][..], &[1000, 3], &[3, 1000]] {
        let x = uniform(shape, -1.0, 1.0, seeds.next());
        for axis in 0..shape.len() {
            let len = shape[axis];
            for keep in [false, true] {
                let tag = format!("{shape:?} axis {axis} keep_dim={keep}");
                cases.push(
                    case(format!("sum_axis {tag}"), vec![x.clone()], move |t| {
                        t[0].sum_axis(axis, keep)
                    })
                    .fwd(Tol::abs(sum_atol(len, 1.0))),
                );
                cases.push(
                    case(format!("mean_axis {tag}"), vec![x.clone()], move |t| {
                        t[0].mean_axis(axis, keep)
                    })
                    .fwd(Tol::new(sum_atol(len, 1.0) / len as f64, 2.0 * U)),
                );
                cases.push(case(format!("max_axis {tag}"), vec![x.clone()], move |t| {
                    t[0].max_axis(axis, keep)
                }));
            }
        }
    }
    // Ties: values on a grid of 0.25 repeat many times along each axis, so max_backward
    // must route dy to the FIRST maximal position as the CPU does (exact).
    for shape in [&[6, 40][..], &[40, 6]] {
        let x = on_grid(uniform(shape, -1.0, 1.0, seeds.next()));
        for axis in 0..2 {
            cases.push(case(
                format!("max_axis with ties {shape:?} axis {axis}"),
                vec![x.clone()],
                move |t| t[0].max_axis(axis, false),
            ));
        }
    }
    run_cases("reductions", &shared(&gpu), &cases);
}

#[test]
fn softmax_and_log_softmax_rows_of_1_7_300_and_1000_columns() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let mut seeds = Seeds(600);
    let mut cases = Vec::new();
    for shape in [&[5, 1][..], &[4, 7], &[3, 300], &[2, 1000], &[2, 3, 7]] {
        let cols = *shape.last().unwrap();
        let x = uniform(shape, -3.0, 3.0, seeds.next());
        let rtol = softmax_rtol(cols);
        // Backward dx = y·(dy − S), S = Σ dy·y. S is off by depth·U·Σ|dy·y| plus
        // Σ|dy|·Δy <= 1.5·(depth·U + rtol) (Σy = 1); dx by y·ΔS + Δy·|dy − S| (<= y·rtol·3)
        // plus 2 roundings: atol = max y · (1.5·depth·U + 4.5·rtol), max y from the data.
        let soft = case(format!("softmax {shape:?}"), vec![x.clone()], |t| {
            t[0].softmax()
        })
        .fwd(Tol::rel(rtol))
        .bwd_with(move |seen| {
            let max_y = seen.y.iter().fold(0.0f64, |m, &v| m.max(v as f64));
            vec![Tol::new(
                max_y * (1.5 * (depth(cols) + 1.0) * U + 4.5 * rtol),
                2.0 * EPS,
            )]
        });
        if cols == 1 {
            // One column: softmax is 1 whatever the input, so its gradient is zero by
            // construction (the forward still compares). Log-softmax is 0 there, an all-zero
            // output, so it is checked through x + log_softmax(x) (= x): forward within
            // log_softmax_atol(1) plus the addition's ulp of |x| <= 3; backward
            // R + R·(1 − e^y) with |y| <= log_softmax_atol(1) and exp within 3 ulp of 1, plus
            // the addition's ulp of |R| <= 1.5.
            cases.push(soft.zero_grad());
            let x = uniform(shape, -3.0, 3.0, seeds.next());
            cases.push(
                case(format!("x + log_softmax(x) {shape:?}"), vec![x], |t| {
                    t[0].add(&t[0].log_softmax()?)
                })
                .fwd(Tol::abs(log_softmax_atol(1) + 3.0 * EPS))
                .bwd(Tol::abs(
                    1.5 * (log_softmax_atol(1) + 4.0 * EPS) + 1.5 * EPS,
                )),
            );
            continue;
        }
        cases.push(soft);
        // Backward dx = dy − e^y·T per row, T = Σ dy: T is off by depth·U·Σ|dy| and e^y by
        // e^y·(Δy + exp's (3 + 2|y|) ulp, |y| <= ln(cols) + 12); dx by
        // e^y·ΔT + |T|·Δ(e^y) + its rounding. Σ|dy|, T and max e^y per row from the data.
        let y_atol = log_softmax_atol(cols);
        cases.push(
            case(format!("log_softmax {shape:?}"), vec![x], |t| {
                t[0].log_softmax()
            })
            .fwd(Tol::abs(y_atol))
            .bwd_with(move |seen| {
                let exp_ulps = (3.0 + 2.0 * ((cols as f64).ln() + 12.0)) * EPS;
                let atol = seen
                    .weights
                    .chunks(cols)
                    .zip(seen.y.chunks(cols))
                    .map(|(dy, y)| {
                        let total: f64 = dy.iter().map(|&v| v as f64).sum::<f64>().abs();
                        let abs_total: f64 = dy.iter().map(|&v| (v as f64).abs()).sum();
                        let e_max = y.iter().fold(0.0f64, |m, &v| m.max((v as f64).exp()));
                        e_max * (depth(cols) + 1.0) * U * abs_total
                            + total * e_max * (y_atol + exp_ulps)
                            + EPS * (1.5 + e_max * total)
                    })
                    .fold(0.0, f64::max);
                vec![Tol::abs(atol)]
            }),
        );
    }
    run_cases("softmax", &shared(&gpu), &cases);
}

#[test]
fn reshape_transpose_permute_and_broadcast_to() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let mut seeds = Seeds(700);
    let mut x = |shape: &[usize]| uniform(shape, -1.0, 1.0, seeds.next());
    // Reshape shares the data, transpose/permute copy it (backward: the inverse permutation):
    // exact. broadcast_to copies (exact) and its backward sums R over the broadcast
    // positions: sum_atol over that many terms of |R| <= 1.5.
    let cases = vec![
        case("reshape [6, 35] -> [5, 42]", vec![x(&[6, 35])], |t| {
            t[0].reshape([5, 42])
        }),
        case(
            "reshape [2, 3, 5, 7] -> [30, 7]",
            vec![x(&[2, 3, 5, 7])],
            |t| t[0].reshape([30, 7]),
        ),
        case("t [13, 67]", vec![x(&[13, 67])], |t| t[0].t()),
        case("transpose [4, 5, 6] axes 0, 2", vec![x(&[4, 5, 6])], |t| {
            t[0].transpose(0, 2)
        }),
        case("permute [4, 5, 6] by [1, 2, 0]", vec![x(&[4, 5, 6])], |t| {
            t[0].permute(&[1, 2, 0])
        }),
        case(
            "permute [2, 3, 4, 5] by [3, 1, 0, 2]",
            vec![x(&[2, 3, 4, 5])],
            |t| t[0].permute(&[3, 1, 0, 2]),
        ),
        case("broadcast_to [67] -> [13, 67]", vec![x(&[67])], |t| {
            t[0].broadcast_to([13, 67])
        })
        .bwd(Tol::abs(sum_atol(13, 1.5))),
        case("broadcast_to [13, 1] -> [13, 67]", vec![x(&[13, 1])], |t| {
            t[0].broadcast_to([13, 67])
        })
        .bwd(Tol::abs(sum_atol(67, 1.5))),
        case("broadcast_to [] -> [5, 7]", vec![x(&[])], |t| {
            t[0].broadcast_to([5, 7])
        })
        .bwd(Tol::abs(sum_atol(35, 1.5))),
        case(
            "broadcast_to [2, 1, 3] -> [2, 4, 3]",
            vec![x(&[2, 1, 3])],
            |t| t[0].broadcast_to([2, 4, 3]),
        )
        .bwd(Tol::abs(sum_atol(4, 1.5))),
        case("broadcast_to [4, 1] -> [2, 4, 3]", vec![x(&[4, 1])], |t| {
            t[0].broadcast_to([2, 4, 3])
        })
        .bwd(Tol::abs(sum_atol(6, 1.5))),
    ];
    run_cases("shape ops", &shared(&gpu), &cases);
}

// ---------------------------------------------------------------- losses, metrics, gather

#[test]
fn every_loss_forward_and_gradient() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let mut seeds = Seeds(800);
    let mut cases = Vec::new();
    // The upstream gradient of a loss is one weight, |dl| <= 1.5. Each loss kernel sums all
    // N terms in one workgroup (depth(N)), the CPU in f64.
    for shape in [&[1, 1][..], &[37, 3], &[300, 1]] {
        let n: usize = shape.iter().product();
        let nf = n as f64;
        // MSE: (x − t) rounds identically, its square once on the GPU; the terms are >= 0 so
        // the sum and the division by N are relative: (depth + 3)·U. Gradient
        // 2·(x − t)/N·dl: a division and a product: DIV plus one ulp.
        cases.push(
            case(
                format!("mse {shape:?}"),
                vec![
                    uniform(shape, -2.0, 2.0, seeds.next()),
                    constant(uniform(shape, -2.0, 2.0, seeds.next())),
                ],
                |t| t[0].mse(&t[1]),
            )
            .fwd(Tol::rel((depth(n) + 3.0) * U))
            .bwd(Tol::rel(DIV.rtol + EPS)),
        );
        // BCE of probabilities in [0.02, 0.98] against soft targets (hard for the 300 rows).
        // Terms −t·ln p − (1 − t)·ln(1 − p) are >= 0: log's 3 ulp relative, or 2^-21
        // absolute weighted by t + (1 − t) = 1, plus 3 roundings and the sum's depth.
        // Gradient (−t/x + (1 − t)/(1 − x))/N·dl: two divisions (2.5 ulp each) whose
        // magnitudes sum to at most max(1/x, 1/(1 − x)) <= 50, so the cancellation leaves at
        // most 3·EPS·50/N·1.5 absolute, plus 4 ulp relative.
        let targets = if n == 300 {
            binary_targets(shape, seeds.next())
        } else {
            uniform(shape, 0.0, 1.0, seeds.next())
        };
        cases.push(
            case(
                format!("binary_cross_entropy {shape:?}"),
                vec![uniform(shape, 0.02, 0.98, seeds.next()), constant(targets)],
                |t| t[0].binary_cross_entropy(&t[1]),
            )
            .fwd(Tol::new(LOG_ABS, (depth(n) + 3.0) * U + 3.0 * EPS))
            .bwd(Tol::new(3.0 * EPS * 50.0 / nf * 1.5, 4.0 * EPS)),
        );
        // BCE of logits in [-6, 6]: max(x, 0) − x·t + ln(1 + e^−|x|) >= 0. Per term: x·t and
        // the subtractions round to U·6 each (up to ~12·U in total, cancellation included),
        // e^−|x| is within 15 ulp of <= 1, and ln of [1, 2] within 2^-21: an absolute
        // 12·U + 15·EPS + 2^-21 + 2·U·7, plus the sum's relative depth. Gradient
        // (sigmoid(x) − t)/N·dl: sigmoid within TRANSC (<= 1.1e-5), then /N·1.5.
        let targets = if n == 300 {
            binary_targets(shape, seeds.next())
        } else {
            uniform(shape, 0.0, 1.0, seeds.next())
        };
        cases.push(
            case(
                format!("binary_cross_entropy_with_logits {shape:?}"),
                vec![uniform(shape, -6.0, 6.0, seeds.next()), constant(targets)],
                |t| t[0].binary_cross_entropy_with_logits(&t[1]),
            )
            .fwd(Tol::new(
                12.0 * U + 15.0 * EPS + LOG_ABS + 14.0 * U,
                (depth(n) + 2.0) * U,
            ))
            .bwd(Tol::new(1.5 * (TRANSC.atol + TRANSC.rtol) / nf, 3.0 * EPS)),
        );
    }
    // Softmax cross-entropy, logits in [-3, 3], f32 labels of shape [rows]: 300 rows run the
    // per-invocation loop over rows, 1000 columns a long row.
    for (rows, cols) in [(5, 2), (300, 10), (3, 1000)] {
        let ln = (cols as f64).ln();
        // Per row, the GPU sums cols exponentials in one invocation (cols·U relative, the
        // terms being positive) after exp's 15 ulp; ln adds 3 ulp of ln s (or 2^-21); the
        // additions of max and −x[label] round to an ulp of |lse| <= 3 + ln(cols) each. Rows
        // are >= 0, so their mean adds (depth(rows) + 2)·U relative.
        let row_atol =
            cols as f64 * U + 15.0 * EPS + (3.0 * EPS * ln).max(LOG_ABS) + 2.0 * EPS * (3.0 + ln);
        // Gradient (softmax − onehot)·dl/rows: the GPU's exp(x − lse) carries lse's error
        // plus exp's (3 + 2·(ln cols + 6)) ulp, softmax <= 1; times 1.5/rows.
        let grad_atol = 1.5 * (row_atol + (15.0 + 2.0 * ln) * EPS) / rows as f64;
        cases.push(
            case(
                format!("cross_entropy [{rows}, {cols}]"),
                vec![
                    uniform(&[rows, cols], -3.0, 3.0, seeds.next()),
                    labels(rows, cols, seeds.next()),
                ],
                |t| t[0].cross_entropy(&t[1]),
            )
            .fwd(Tol::new(row_atol, (depth(rows) + 2.0) * U))
            .bwd(Tol::new(grad_atol, 3.0 * EPS)),
        );
    }
    run_cases("losses", &shared(&gpu), &cases);
}

#[test]
fn accuracy_counts_through_the_backend() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let cpu = common::cpu();
    let mut seeds = Seeds(900);
    let class_scores = [
        uniform(&[300, 10], -3.0, 3.0, seeds.next()),
        uniform(&[5, 1000], -3.0, 3.0, seeds.next()),
        // On a grid of 0.25 in [-1, 1]: rows with tied maxima (argmax takes the first).
        on_grid(uniform(&[300, 10], -1.0, 1.0, seeds.next())),
    ];
    // (what, metric, loss it reads predictions for, predictions, targets, rows, cols)
    let table: Vec<(&str, Metric, Loss, Input, Input, usize, usize)> = vec![
        (
            "accuracy of probabilities [300, 1]",
            Metric::Accuracy,
            Loss::BinaryCrossEntropy,
            uniform(&[300, 1], 0.0, 1.0, seeds.next()),
            binary_targets(&[300, 1], seeds.next()),
            300,
            1,
        ),
        (
            "binary_accuracy of probabilities [37, 3]",
            Metric::BinaryAccuracy,
            Loss::MeanSquaredError,
            uniform(&[37, 3], 0.0, 1.0, seeds.next()),
            binary_targets(&[37, 3], seeds.next()),
            37,
            3,
        ),
        (
            "accuracy of logits [61, 1]",
            Metric::Accuracy,
            Loss::BinaryCrossEntropyWithLogits,
            uniform(&[61, 1], -3.0, 3.0, seeds.next()),
            binary_targets(&[61, 1], seeds.next()),
            61,
            1,
        ),
        (
            "accuracy of class logits [300, 10]",
            Metric::Accuracy,
            Loss::SparseCategoricalCrossEntropy,
            class_scores[0].clone(),
            labels_half_right(&class_scores[0], 10, seeds.next()),
            300,
            10,
        ),
        (
            "accuracy of tied class scores [300, 10]",
            Metric::Accuracy,
            Loss::SparseCategoricalCrossEntropy,
            class_scores[2].clone(),
            labels_half_right(&class_scores[2], 10, seeds.next()),
            300,
            10,
        ),
        (
            // Many predictions exactly at the 0.5 threshold (counted as 0).
            "binary_accuracy of probabilities on a grid [300, 1]",
            Metric::BinaryAccuracy,
            Loss::BinaryCrossEntropy,
            on_grid(uniform(&[300, 1], 0.0, 1.0, seeds.next())),
            binary_targets(&[300, 1], seeds.next()),
            300,
            1,
        ),
        (
            "categorical_accuracy [5, 1000]",
            Metric::CategoricalAccuracy,
            Loss::MeanSquaredError,
            class_scores[1].clone(),
            labels_half_right(&class_scores[1], 1000, seeds.next()),
            5,
            1000,
        ),
    ];
    let mut checks = Checks::default();
    for (what, metric, loss, pred, target, rows, cols) in table {
        let kind = metric.accuracy_kind(loss);
        let count = |device: &Device| -> downhill::Result<Vec<f32>> {
            let p = device.tensor(pred.data.clone(), pred.shape.clone())?;
            let t = device.tensor(target.data.clone(), target.shape.clone())?;
            // Accumulated twice onto 0.5: the count must land on top of what is there.
            let acc = device.backend().full(1, 0.5)?;
            for _ in 0..2 {
                device.backend().accumulate_correct(
                    kind,
                    &p.storage(),
                    &t.storage(),
                    rows,
                    cols,
                    &acc,
                )?;
            }
            let total = device.backend().download(&acc)?;
            Ok(vec![(total[0] - 0.5) / 2.0])
        };
        let reference = count(&cpu).unwrap();
        if reference[0] == 0.0 {
            checks.fail(format!("{what}: degenerate, no prediction is right"));
        }
        // Both sides decide on identical values, so the hits agree; counts below 2^24 are
        // exact in f32. A binary metric over several columns counts hits/cols per row: the
        // GPU divides each invocation's count (1 rounding) and sums 256 of them in 8 tree
        // levels, the CPU divides once: (1 + 8 + 1)·U relative. Accumulating twice onto 0.5
        // and taking 0.5 off again rounds three more times, each by U of a value up to 2c
        // (c the count): 6·U relative to c more, 16·U in all. Integer counts stay exact.
        let tol = match kind {
            AccuracyKind::Binary { .. } if cols > 1 => Tol::rel(16.0 * U),
            _ => EXACT,
        };
        match count(&gpu) {
            Ok(out) => checks.close(&format!("{what} ({kind:?})"), &reference, &out, tol),
            Err(e) => checks.fail(format!("{what}: {e}")),
        }
    }
    checks.finish("accuracy counts");
}

#[test]
fn gather_rows_through_the_backend() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let cpu = common::cpu();
    let mut checks = Checks::default();
    // (rows, cols, start, count): whole sets, a middle run, the last index alone, wide rows.
    for (s, (rows, cols, start, count)) in [
        (37, 5, 0, 37),
        (37, 5, 3, 17),
        (37, 5, 36, 1),
        (300, 1, 11, 257),
        (6, 1000, 1, 4),
    ]
    .into_iter()
    .enumerate()
    {
        let src = uniform(&[rows, cols], -1.0, 1.0, 1000 + s as u64);
        let order = SeededRng::new(2000 + s as u64).permutation(rows);
        let gather = |device: &Device| -> downhill::Result<Vec<f32>> {
            let x = device.tensor(src.data.clone(), [rows, cols])?;
            let idx = device.backend().upload_indices(&order)?;
            let out = device
                .backend()
                .gather_rows(&x.storage(), cols, &idx, start, count)?;
            device.backend().download(&out)
        };
        let reference = gather(&cpu).unwrap();
        assert_eq!(reference.len(), count * cols);
        // A copy: exact.
        match gather(&gpu) {
            Ok(out) => checks.close(
                &format!(
                    "gather_rows [{rows}, {cols}] rows {start}..{}",
                    start + count
                ),
                &reference,
                &out,
                EXACT,
            ),
            Err(e) => checks.fail(format!("gather_rows [{rows}, {cols}]: {e}")),
        }
    }
    checks.finish("gather_rows");
}

// ---------------------------------------------------------------- optimizers

const STEPS: usize = 50;

/// Parameter shapes whose flat layout pads every segment to 64 elements.
const PARAM_SHAPES: [&[usize]; 5] = [&[3], &[7, 5], &[1], &[65], &[13, 11]];

/// A run of `STEPS` optimizer steps on `loss = Σ_i sum(p_i ⊙ c_i,t)`, whose gradient is the
/// fresh random `c_i,t` exactly on both devices (the product's backward is `1 · c`), so the
/// only differences come from the update kernels.
struct Run {
    params: Vec<Vec<f32>>,
    /// Σ over steps of the largest parameter change (on the reference run).
    path: f64,
    /// The largest |parameter| seen.
    max_abs: f64,
}

fn optimize(
    device: &Device,
    config: &dyn OptimizerConfig,
    clip: Option<GradClip>,
    init: &[Input],
    pushes: &[Vec<Input>],
) -> downhill::Result<Run> {
    let params = init
        .iter()
        .map(|i| Ok(device.tensor(i.data.clone(), i.shape.clone())?.param()))
        .collect::<downhill::Result<Vec<Tensor>>>()?;
    let refs: Vec<&Tensor> = params.iter().collect();
    let mut opt = Optimizer::new(config.boxed_clone(), &refs)?;
    if let Some(clip) = clip {
        opt = opt.with_clip(clip)?;
    }
    let host = |params: &[Tensor]| -> downhill::Result<Vec<Vec<f32>>> {
        params.iter().map(Tensor::to_vec).collect()
    };
    let track = device.kind() == BackendKind::Cpu;
    let mut previous = host(&params)?;
    let mut max_abs = previous
        .iter()
        .flatten()
        .fold(0.0f64, |m, &v| m.max((v as f64).abs()));
    let mut path = 0.0;
    for push in pushes {
        let mut loss: Option<Tensor> = None;
        for (p, c) in params.iter().zip(push) {
            let c = device.tensor(c.data.clone(), c.shape.clone())?;
            let term = p.mul(&c)?.sum()?;
            loss = Some(match loss {
                None => term,
                Some(l) => l.add(&term)?,
            });
        }
        let grads = loss.expect("parameters").backward()?;
        opt.step(&grads)?;
        if track {
            let now = host(&params)?;
            let step = now
                .iter()
                .flatten()
                .zip(previous.iter().flatten())
                .fold(0.0f64, |m, (&a, &b)| m.max((a as f64 - b as f64).abs()));
            path += step;
            max_abs = now
                .iter()
                .flatten()
                .fold(max_abs, |m, &v| m.max((v as f64).abs()));
            previous = now;
        }
    }
    Ok(Run {
        params: host(&params)?,
        path,
        max_abs,
    })
}

#[test]
fn every_optimizer_option_over_50_steps() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let cpu = common::cpu();
    let init: Vec<Input> = PARAM_SHAPES
        .iter()
        .enumerate()
        .map(|(i, s)| normal(s, 0.0, 1.0, 3000 + i as u64))
        .collect();
    let pushes: Vec<Vec<Input>> = (0..STEPS)
        .map(|t| {
            PARAM_SHAPES
                .iter()
                .enumerate()
                .map(|(i, s)| uniform(s, -1.0, 1.0, 10_000 + (t * 16 + i) as u64))
                .collect()
        })
        .collect();
    let table: Vec<(&str, Box<dyn OptimizerConfig>, Option<GradClip>)> = vec![
        ("SGD", Box::new(Sgd::new(0.05)), None),
        ("SGD momentum", Box::new(Sgd::new(0.05).momentum(0.9)), None),
        (
            "SGD momentum dampening",
            Box::new(Sgd::new(0.05).momentum(0.9).dampening(0.5)),
            None,
        ),
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
        (
            "SGD maximize",
            Box::new(Sgd::new(0.05).momentum(0.9).maximize(true)),
            None,
        ),
        ("Adagrad", Box::new(Adagrad::new(0.1)), None),
        (
            "Adagrad lr_decay",
            Box::new(Adagrad::new(0.1).lr_decay(0.05)),
            None,
        ),
        (
            "Adagrad weight_decay",
            Box::new(Adagrad::new(0.1).weight_decay(0.1)),
            None,
        ),
        (
            "Adagrad initial_accumulator_value",
            Box::new(Adagrad::new(0.1).initial_accumulator_value(0.5)),
            None,
        ),
        (
            "Adagrad maximize",
            Box::new(Adagrad::new(0.1).maximize(true)),
            None,
        ),
        ("RMSprop", Box::new(RmsProp::new(0.01)), None),
        (
            "RMSprop alpha",
            Box::new(RmsProp::new(0.01).alpha(0.9)),
            None,
        ),
        (
            "RMSprop weight_decay",
            Box::new(RmsProp::new(0.01).weight_decay(0.1)),
            None,
        ),
        (
            "RMSprop momentum",
            Box::new(RmsProp::new(0.01).momentum(0.9)),
            None,
        ),
        (
            "RMSprop centered",
            Box::new(RmsProp::new(0.01).centered(true)),
            None,
        ),
        (
            "RMSprop centered momentum",
            Box::new(RmsProp::new(0.01).centered(true).momentum(0.9)),
            None,
        ),
        (
            "RMSprop maximize",
            Box::new(RmsProp::new(0.01).maximize(true)),
            None,
        ),
        ("Adadelta", Box::new(Adadelta::new(1.0)), None),
        ("Adadelta rho", Box::new(Adadelta::new(1.0).rho(0.5)), None),
        (
            "Adadelta weight_decay",
            Box::new(Adadelta::new(1.0).weight_decay(0.1)),
            None,
        ),
        (
            "Adadelta maximize",
            Box::new(Adadelta::new(1.0).maximize(true)),
            None,
        ),
        ("Adam", Box::new(Adam::new(0.01)), None),
        (
            "Adam betas",
            Box::new(Adam::new(0.01).betas(0.8, 0.99)),
            None,
        ),
        (
            "Adam weight_decay",
            Box::new(Adam::new(0.01).weight_decay(0.1)),
            None,
        ),
        (
            "Adam amsgrad",
            Box::new(Adam::new(0.01).amsgrad(true)),
            None,
        ),
        (
            "Adam maximize",
            Box::new(Adam::new(0.01).maximize(true)),
            None,
        ),
        (
            "Adam decoupled_weight_decay",
            Box::new(
                Adam::new(0.01)
                    .weight_decay(0.1)
                    .decoupled_weight_decay(true),
            ),
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
            "Adamax betas",
            Box::new(Adamax::new(0.02).betas(0.8, 0.99)),
            None,
        ),
        (
            "Adamax weight_decay",
            Box::new(Adamax::new(0.02).weight_decay(0.1)),
            None,
        ),
        (
            "Adamax maximize",
            Box::new(Adamax::new(0.02).maximize(true)),
            None,
        ),
        ("NAdam", Box::new(NAdam::new(0.02)), None),
        (
            "NAdam momentum_decay",
            Box::new(NAdam::new(0.02).momentum_decay(0.01)),
            None,
        ),
        (
            "NAdam weight_decay",
            Box::new(NAdam::new(0.02).weight_decay(0.1)),
            None,
        ),
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
            "NAdam maximize",
            Box::new(NAdam::new(0.02).maximize(true)),
            None,
        ),
        // The gradient norm is about 10, so both clips are active on every step.
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
            "Adam, clip norm 2",
            Box::new(Adam::new(0.01)),
            Some(GradClip::Norm(2.0)),
        ),
    ];
    let mut checks = Checks::default();
    for (name, config, clip) in &table {
        let reference = optimize(&cpu, config.as_ref(), *clip, &init, &pushes)
            .unwrap_or_else(|e| panic!("{name}: the CPU reference failed: {e}"));
        // Per step each side computes an update u from identical gradients with at most ~12
        // roundings, Vulkan's sqrt and division being within 3 ulp (<= 12·EPS·|u| apart);
        // with norm clipping the clip factor adds its f32 norm over 512 elements and a
        // sqrt and a division (<= 8 ulp): 20 ulp. The state (running averages, sums) carries
        // at most one more ulp of relative difference per step taken (<= STEPS), and p − u
        // rounds to at most one ulp of p apart. Over the run:
        //   |Δp| <= STEPS·EPS·max|p| + (20 + STEPS)·EPS·Σ_t max|u_t|,
        // Σ_t max|u_t| being the reference run's path length. Weight decay feeds Δp back
        // into the gradient scaled by wd·lr <= 0.01 per step; doubling the bound covers it.
        let atol = 2.0
            * (STEPS as f64 * EPS * reference.max_abs
                + (20.0 + STEPS as f64) * EPS * reference.path);
        if reference.path == 0.0 {
            checks.fail(format!("{name}: degenerate, the parameters never moved"));
        }
        match optimize(&gpu, config.as_ref(), *clip, &init, &pushes) {
            Ok(run) => {
                for (i, (c, g)) in reference.params.iter().zip(&run.params).enumerate() {
                    checks.close(
                        &format!(
                            "{name}: parameter {i} {:?} after {STEPS} steps",
                            init[i].shape
                        ),
                        c,
                        g,
                        Tol::abs(atol),
                    );
                }
            }
            Err(e) => checks.fail(format!("{name}: {e}")),
        }
    }
    checks.finish("optimizers");
}

#[test]
fn gradient_clipping_through_the_backend() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let cpu = common::cpu();
    // 1324 = 4·331 elements (the GPU clips whole vec4s), norm ≈ 21.
    let g = uniform(&[1324], -1.0, 1.0, 4000);
    let mut checks = Checks::default();
    for (clip, tol) in [
        // factor max/(‖g‖ + 1e-6): the GPU's f32 norm² over 331 vec4s (8 terms per invocation
        // + 8 tree levels: 17·U relative, halved by the sqrt), Vulkan's sqrt (3 ulp) and
        // division (2.5 ulp), the +1e-6 and the final product; the CPU's 4 roundings:
        // about 9·U + 5.5·EPS + 6·U ≈ 13 ulp, rounded up to 16·EPS relative.
        (GradClip::Norm(1.0), Tol::rel(16.0 * EPS)),
        // Inactive (factor 1 on both sides) and clamping: exact.
        (GradClip::Norm(100.0), EXACT),
        (GradClip::Value(0.3), EXACT),
    ] {
        let clipped = |device: &Device| -> downhill::Result<Vec<f32>> {
            let t = device.tensor(g.data.clone(), [1324])?;
            device.backend().clip_gradients(&t.storage(), clip)?;
            t.to_vec()
        };
        let reference = clipped(&cpu).unwrap();
        match clipped(&gpu) {
            Ok(out) => checks.close(&format!("clip {clip:?}"), &reference, &out, tol),
            Err(e) => checks.fail(format!("clip {clip:?}: {e}")),
        }
    }
    checks.finish("gradient clipping");
}

// ---------------------------------------------------------------- fit

/// Compares two training histories epoch by epoch: losses within `loss_tol`, accuracies
/// within one row of their data set (see the callers).
fn compare_histories(
    name: &str,
    cpu: &History,
    gpu: &History,
    loss_tol: Tol,
    train_rows: usize,
    val_rows: usize,
) {
    let mut checks = Checks::default();
    assert_eq!(cpu.records.len(), gpu.records.len(), "{name}: epochs");
    checks.close(&format!("{name}: loss"), &cpu.loss(), &gpu.loss(), loss_tol);
    checks.close(
        &format!("{name}: val_loss"),
        &cpu.val_loss(),
        &gpu.val_loss(),
        loss_tol,
    );
    for (metric, rows) in [("accuracy", train_rows), ("val_accuracy", val_rows)] {
        let (c, g) = (cpu.metric(metric), gpu.metric(metric));
        if c.len() != cpu.records.len() {
            checks.fail(format!("{name}: {metric} missing from the history"));
        }
        checks.close(
            &format!("{name}: {metric}"),
            &c,
            &g,
            Tol::abs(1.0 / rows as f64 + 4.0 * U),
        );
    }
    checks.finish(name);
}

/// Adam's learning rate in the fit tests.
const FIT_LR: f32 = 0.01;

/// `Σ_w |∂loss/∂w|` of `model` on `data` (the loss's first-order sensitivity to weights).
fn loss_sensitivity(model: &Sequential, data: &Dataset, loss: Loss) -> f64 {
    let device = model.device();
    let x = Tensor::from_array(device, data.x()).unwrap();
    let y = Tensor::from_array(device, data.y()).unwrap();
    let grads = loss
        .compute(&model.forward(&x).unwrap(), &y)
        .unwrap()
        .backward()
        .unwrap();
    model
        .parameters()
        .unwrap()
        .iter()
        .map(|w| {
            let g = grads.to_vec(w).unwrap().unwrap_or_default();
            g.iter().map(|&v| (v as f64).abs()).sum::<f64>()
        })
        .sum()
}

/// Trains `build(device)` for 5 epochs (batch 16, Adam, accuracy, validation_split 0.2) on
/// the CPU and on `gpu` and compares the histories.
///
/// Loss tolerance, to first order: both runs take the same `steps` Adam steps on the same
/// batches. Their gradients differ by the f32 noise of dots of length <= 16 through two
/// layers and batch sums of 16 rows (tens of ulp relative), and Adam's step does not depend
/// on the gradient's scale, so each step's relative difference is that plus the kernel's
/// own ~12 ulp: <= 80·EPS of `lr`; the new weight also rounds to an ulp of `max|w|`. So
/// `|Δw| <= steps·(lr·80·EPS + EPS·max|w|)`, and the loss moves by at most
/// `Σ_w |∂loss/∂w| · |Δw|`, the sensitivity measured on the CPU at the start and at the end
/// of training, on the training and on the validation rows (the largest), doubled for the
/// points in between; plus 1e-6 for the loss's own forward noise. (A weight whose gradient
/// cancels to ~0 may take a quite different Adam step, but by the same token the loss
/// hardly depends on it. A relu pre-activation within a few ulp of 0 would flip one
/// sample's gradient contribution, a discontinuity no first-order bound covers: with ~3e4
/// pre-activations per run that is a ~2% chance per seed and adapter, and these seeds are
/// clear of it on the adapters tried.)
///
/// Accuracies: both sides threshold (or argmax) predictions that differ by about the same
/// |Δloss|; a row flips only if its prediction lies that close to the decision boundary, so
/// at most one row of each set may differ, while a real defect moves many.
fn fit_parity(
    gpu: &Device,
    name: &str,
    data: &Dataset,
    loss: Loss,
    build: fn(&Device) -> Sequential,
) {
    let config = || FitConfig {
        epochs: 5,
        batch_size: 16,
        metrics: vec![Metric::Accuracy],
        validation_split: 0.2,
        verbose: 0,
        ..Default::default()
    };
    let train = |device: &Device| -> downhill::Result<(History, Sequential)> {
        let mut model = build(device);
        let history = model.fit(data, loss, Adam::new(FIT_LR), config())?;
        Ok((history, model))
    };
    let (reference, trained) = train(&common::cpu()).unwrap();
    let (out, _) = train(gpu).unwrap_or_else(|e| panic!("{name}: fit on the GPU failed: {e}"));

    let (train_rows, val_rows) = data.split_tail(0.2).unwrap();
    let steps = 5 * train_rows.len().div_ceil(16);
    let fresh = build(&common::cpu());
    let sensitivity = [&fresh, &trained]
        .iter()
        .flat_map(|m| [&train_rows, &val_rows].map(|d| loss_sensitivity(m, d, loss)))
        .fold(0.0, f64::max);
    let max_w = trained
        .parameters()
        .unwrap()
        .iter()
        .flat_map(|w| w.to_vec().unwrap())
        .fold(0.0f64, |m, v| m.max((v as f64).abs()));
    let dw = steps as f64 * (FIT_LR as f64 * 80.0 * EPS + EPS * max_w);
    let loss_tol = Tol::abs(2.0 * sensitivity * dw + 1e-6);
    eprintln!(
        "{name}: {steps} steps, Σ|∂loss/∂w| <= {sensitivity:.3}, max|w| {max_w:.3}, \
         loss tolerance {:.3e}",
        loss_tol.atol
    );
    compare_histories(
        name,
        &reference,
        &out,
        loss_tol,
        train_rows.len(),
        val_rows.len(),
    );
}

#[test]
fn fit_binary_classifier_history_matches() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    // 100 rows, 5 features, labels from a fixed linear rule: 80 training rows, 20 held out.
    let x = normal(&[100, 5], 0.0, 1.0, 5000).data;
    let w = [1.0f32, -2.0, 0.5, 1.5, -1.0];
    let y: Vec<f32> = x
        .chunks(5)
        .map(|r| {
            let s: f32 = r.iter().zip(&w).map(|(a, b)| a * b).sum();
            if s > 0.0 {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    let data = Dataset::from_vecs(x, 5, y, 1).unwrap();
    fit_parity(
        &gpu,
        "fit 5-16-1 relu/sigmoid, binary cross-entropy, Adam",
        &data,
        Loss::BinaryCrossEntropy,
        |device| {
            Sequential::new(device)
                .seed(7)
                .dense(5, 16, Activation::Relu)
                .dense(16, 1, Activation::Sigmoid)
        },
    );
}

#[test]
fn fit_softmax_classifier_history_matches() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    // 120 rows, 4 features, 3 classes (the argmax of a fixed linear map): 96 training rows,
    // 24 held out.
    let x = normal(&[120, 4], 0.0, 1.0, 6000).data;
    let w = [
        [1.0f32, -1.0, 0.0],
        [0.5, 1.0, -1.5],
        [-1.0, 0.0, 1.0],
        [0.0, 1.5, -0.5],
    ];
    let y: Vec<f32> = x
        .chunks(4)
        .map(|r| {
            let scores: Vec<f32> = (0..3)
                .map(|c| r.iter().zip(&w).map(|(a, row)| a * row[c]).sum())
                .collect();
            (0..3)
                .max_by(|&a, &b| scores[a].total_cmp(&scores[b]))
                .unwrap() as f32
        })
        .collect();
    let data = Dataset::from_vecs(x, 4, y, 1).unwrap();
    fit_parity(
        &gpu,
        "fit 4-12-3 softmax classifier, sparse categorical cross-entropy, Adam",
        &data,
        Loss::SparseCategoricalCrossEntropy,
        |device| {
            Sequential::new(device)
                .seed(11)
                .dense(4, 12, Activation::Relu)
                .dense(12, 3, Activation::Linear)
        },
    );
}

// ---------------------------------------------------------------- the checker itself

#[test]
fn the_checker_reports_count_worst_element_and_largest_error() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    // A real comparison that passes...
    let x = uniform(&[1009], -4.0, 4.0, 7000);
    let cpu = common::cpu().tensor(x.data.clone(), [1009]).unwrap();
    let reference = cpu.exp().unwrap().to_vec().unwrap();
    let out = gpu
        .tensor(x.data.clone(), [1009])
        .unwrap()
        .exp()
        .unwrap()
        .to_vec()
        .unwrap();
    check_close("exp", &reference, &out, TRANSC.atol, TRANSC.rtol).unwrap();
    // ...fails once two elements are off by a little more than the tolerance allows, and
    // the report names how many, the worst one and the largest error.
    let mut bad = out.clone();
    let allowed = |i: usize| TRANSC.atol + TRANSC.rtol * reference[i].abs() as f64;
    bad[17] = (reference[17] as f64 + 2.0 * allowed(17)) as f32;
    bad[400] = (reference[400] as f64 - 5.0 * allowed(400)) as f32;
    let report = check_close("exp", &reference, &bad, TRANSC.atol, TRANSC.rtol).unwrap_err();
    assert!(report.contains("2 of 1009 elements"), "{report}");
    assert!(report.contains("worst at index 400"), "{report}");
    assert!(report.contains("max |Δ|"), "{report}");
    // A NaN never matches a number, and lengths must agree.
    bad[3] = f32::NAN;
    assert!(check_close("exp", &reference, &bad, 1.0, 1.0).is_err());
    assert!(check_close("exp", &reference, &out[1..], 1.0, 1.0).is_err());
}

#[test]
fn max_over_a_row_of_negative_infinities() {
    // The maximum starts from −∞ on both backends, so a row of −∞ has maximum −∞ and its
    // gradient goes to the first element.
    let Some(gpu) = common::gpu() else { return };
    let cpu = Device::cpu();
    let data = vec![f32::NEG_INFINITY, f32::NEG_INFINITY, 1.0, 2.0];
    let mut results = Vec::new();
    for device in [&cpu, &gpu] {
        let x = device.tensor(data.clone(), [2, 2]).unwrap().param();
        let m = x.max_axis(1, false).unwrap();
        let values = m.to_vec().unwrap();
        let grad = m
            .sum()
            .unwrap()
            .backward()
            .unwrap()
            .to_vec(&x)
            .unwrap()
            .unwrap();
        results.push((values, grad));
    }
    assert_eq!(results[0].0, vec![f32::NEG_INFINITY, 2.0]);
    assert_eq!(results[0].1, vec![1.0, 0.0, 0.0, 1.0]);
    assert_eq!(results[0], results[1], "cpu vs gpu");
}

#[test]
fn pow_gradients_at_zero_agree() {
    // PyTorch's conventions at a zero base or exponent, on both backends, exactly where the
    // values are exact (0, 1) and within a few ulp for ln 2 and 2·0.5.
    let Some(gpu) = common::gpu() else { return };
    let cpu = Device::cpu();
    let grads_on = |device: &Device| {
        let a = device
            .tensor(vec![0.0, 0.0, 2.0, 0.0, 0.5], [5])
            .unwrap()
            .param();
        let b = device
            .tensor(vec![2.0, 0.0, 0.0, 3.0, 2.0], [5])
            .unwrap()
            .param();
        let grads = a.pow(&b).unwrap().sum().unwrap().backward().unwrap();
        (
            grads.to_vec(&a).unwrap().unwrap(),
            grads.to_vec(&b).unwrap().unwrap(),
        )
    };
    let (cpu_a, cpu_b) = grads_on(&cpu);
    let (gpu_a, gpu_b) = grads_on(&gpu);
    for (c, g) in cpu_a.iter().chain(&cpu_b).zip(gpu_a.iter().chain(&gpu_b)) {
        assert!(
            g.is_finite() && (c - g).abs() <= 1e-6 * c.abs().max(1.0),
            "{cpu_a:?} {cpu_b:?} vs {gpu_a:?} {gpu_b:?}"
        );
    }
}

#[test]
fn skipped_parameters_agree_and_cost_one_pass_per_run() {
    // A parameter without a gradient is skipped (PyTorch's rule): the step runs over the
    // runs of parameters that have one, each a view into the flat buffers at a 256-byte
    // boundary. Both backends must agree, and the GPU does one dispatch per run.
    let Some(gpu) = common::private_gpu() else {
        return;
    };
    let cpu = Device::cpu();
    let sizes = [5usize, 70, 3];
    let run = |device: &Device| -> (Vec<Vec<f32>>, Vec<u64>) {
        let params: Vec<Tensor> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                Tensor::rand_uniform(device, [n], -1.0, 1.0, 40 + i as u64)
                    .unwrap()
                    .param()
            })
            .collect();
        let refs: Vec<&Tensor> = params.iter().collect();
        let mut opt = Adam::new(0.05).weight_decay(0.01).build(&refs).unwrap();
        let mut dispatches = Vec::new();
        for step in 1..=5 {
            // Parameter 1 sits out steps 2 and 3.
            let used: Vec<&Tensor> = refs
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != 1 || !(2..=3).contains(&step))
                .map(|(_, p)| *p)
                .collect();
            let mut loss = used[0].square().unwrap().sum().unwrap();
            for p in &used[1..] {
                loss = loss
                    .add(&p.mul_scalar(0.5).unwrap().sum().unwrap())
                    .unwrap();
            }
            let grads = loss.backward().unwrap();
            let before = device.stats();
            opt.step(&grads).unwrap();
            dispatches.push(device.stats().since(&before).dispatches);
        }
        (
            params.iter().map(|p| p.to_vec().unwrap()).collect(),
            dispatches,
        )
    };
    let (on_cpu, _) = run(&cpu);
    let (on_gpu, dispatches) = run(&gpu);
    // One run while all share a step count; two (parameters 0 and 2) while parameter 1 is
    // out; three once it is back, since its own step count (1, 2) now differs from theirs.
    assert_eq!(dispatches, vec![1, 2, 2, 3, 3]);
    // A few ulp per step over 5 Adam steps of size ~0.05 (see the optimizer table above).
    for (k, (c, g)) in on_cpu.iter().zip(&on_gpu).enumerate() {
        for (i, (x, y)) in c.iter().zip(g).enumerate() {
            assert!((x - y).abs() <= 1e-5, "param {k}[{i}]: cpu {x} gpu {y}");
        }
    }
}
