//! CPU ↔ GPU parity of batch norm, layer norm and dropout, forward and backward, on seeded
//! random inputs of awkward sizes (1, primes, non-multiples of the workgroup size of 256,
//! one large case) and on NaN/±inf inputs; the dropout mask bit for bit; and the number of
//! dispatches each op records on the GPU.
//!
//! Method (as tests/parity.rs): both devices get the same host data; the outputs are
//! compared, then `sum(y · R)` with fixed random weights `R` is differentiated on both and
//! the gradients of every input are compared.
//!
//! # Tolerances (computed by tests/common/norm.rs)
//! `|gpu − cpu| <= atol + rtol·|cpu|` per element (tests/common/tolerance.rs). The CPU takes
//! the statistics as f64 sums and rounds once; the GPU sums in f32, in a tree for long
//! channels (the longest chain of additions of `n` terms is `depth(n) = ceil(n/256) + 8`,
//! Higham §4.2) and in blocks of 16 for channels of at most 256 (`16 + ceil(n/16)`), and
//! Vulkan allows `1/sqrt` 2 ulp (inversesqrt) plus 2.5 ulp (the division). With `n = A·B`
//! the elements per channel, `k = max |x|·rstd` (how far the largest input lies from zero
//! in units of the channel's spread) and `x̂ₘ = max |x̂|`:
//! * the mean is off by `depth·U·max|x|`, which moves `x̂` by `depth·U·k`; the variance's sum
//!   of squared deviations is off by `(depth + 2)·U` relative (the first-order effect of the
//!   mean's error cancels, as `Σ(x − mean) = 0`), so `rstd` by `(depth + 2)·U/2 + 4.5 ulp`
//!   and `x̂` by that times `x̂ₘ`; `x̂·γ + β` adds two roundings of at most
//!   `EPS·(x̂ₘ·|γ| + |β|)`. Forward: `atol = 2·depth·U·k·|γ| + 4·EPS·(x̂ₘ·|γ| + |β|)`,
//!   `rtol = (depth + 16)·EPS` (the relative part carries the `rstd` error).
//! * backward: `dx = rstd·(g − mean(g) − x̂·mean(g·x̂))` with `|g| <= gₘ = max|dy|·|γ|`: the
//!   two means are sums of `n` terms (`depth·U·gₘ` and `depth·U·gₘ·x̂ₘ`), `x̂` carries the
//!   forward error `δ = 2·depth·U·k + (depth + 16)·EPS·x̂ₘ`, which enters through
//!   `x̂·mean(g·x̂)` twice (`2·δ·gₘ·x̂ₘ`), and `rstd` scales all: `atol = rstdₘ·gₘ·(depth·U·(1 +
//!   2·x̂ₘ²) + 2·δ·x̂ₘ + 8·EPS·(1 + x̂ₘ))`, `rtol = 16·EPS`.
//! * `dγ = Σ dy·x̂`, `dβ = Σ dy` over `m` terms: `sum_atol(m, max|dy|·x̂ₘ) + m·max|dy|·δ`.
//! * Dropout is one correctly rounded product with a mask both sides draw from the same
//!   integers: EXACT, bit for bit.

mod common;

use common::norm::{norm_depth, norm_tolerances, normal, uniform};
use common::tolerance::*;
use downhill::prelude::*;
use downhill::{BatchNormConfig, NormDims, RunningStats};

/// Magnitudes in `[lo, hi)`, random signs.
fn signed(n: usize, lo: f32, hi: f32, seed: u64) -> Vec<f32> {
    uniform(n, -1.0, 1.0, seed)
        .iter()
        .map(|&v| (lo + (hi - lo) * v.abs()).copysign(v))
        .collect()
}

/// A normalisation case: input `x` of `shape`, `γ`, `β` of `param_len` (or none).
struct NormCase {
    name: String,
    shape: Vec<usize>,
    x: Vec<f32>,
    affine: Option<(Vec<f32>, Vec<f32>)>,
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    /// Layer norm over the last `k` axes.
    Layer(usize),
    /// Batch norm in training mode.
    Batch,
}

impl NormCase {
    fn dims(&self) -> NormDims {
        match self.kind {
            Kind::Layer(k) => {
                let inner: usize = self.shape[self.shape.len() - k..].iter().product();
                NormDims {
                    outer: 1,
                    channels: self.x.len() / inner,
                    inner,
                }
            }
            Kind::Batch => NormDims {
                outer: self.shape[0],
                channels: self.shape[1],
                inner: self.shape[2..].iter().product(),
            },
        }
    }

    fn param_shape(&self) -> Vec<usize> {
        match self.kind {
            Kind::Layer(k) => self.shape[self.shape.len() - k..].to_vec(),
            Kind::Batch => vec![self.shape[1]],
        }
    }
}

fn norm_case(name: &str, shape: &[usize], kind: Kind, affine: bool, seed: u64) -> NormCase {
    let n: usize = shape.iter().product();
    // Centred away from 0 with a spread of 2: a one-pass variance would lose digits here.
    let x = normal(n, 3.0, 2.0, seed);
    let mut case = NormCase {
        name: name.to_string(),
        shape: shape.to_vec(),
        x,
        affine: None,
        kind,
    };
    if affine {
        let p: usize = case.param_shape().iter().product();
        case.affine = Some((
            signed(p, 0.5, 1.5, seed + 1),
            uniform(p, -1.0, 1.0, seed + 2),
        ));
    }
    case
}

/// Outputs and gradients on one device: y, then dx, dγ, dβ.
struct Outcome {
    y: Vec<f32>,
    grads: Vec<Vec<f32>>,
}

fn run(device: &Device, case: &NormCase, weights: &[f32]) -> downhill::Result<Outcome> {
    let x = device.tensor(case.x.clone(), case.shape.clone())?.param();
    let params = match &case.affine {
        Some((g, b)) => Some((
            device.tensor(g.clone(), case.param_shape())?.param(),
            device.tensor(b.clone(), case.param_shape())?.param(),
        )),
        None => None,
    };
    let (w, b) = match &params {
        Some((w, b)) => (Some(w), Some(b)),
        None => (None, None),
    };
    let y = match case.kind {
        Kind::Layer(_) => x.layer_norm(&case.param_shape(), w, b, 1e-5)?,
        Kind::Batch => x.batch_norm(None, w, b, BatchNormConfig::default())?,
    };
    let r = device.tensor(weights.to_vec(), case.shape.clone())?;
    let grads = y.mul(&r)?.sum()?.backward()?;
    let mut out = vec![grads.to_vec(&x)?.expect("dx")];
    if let Some((w, b)) = &params {
        out.push(grads.to_vec(w)?.expect("dgamma"));
        out.push(grads.to_vec(b)?.expect("dbeta"));
    }
    Ok(Outcome {
        y: y.to_vec()?,
        grads: out,
    })
}

/// The tolerances of the module comment, from the case's data: forward, dx, dγ, dβ.
fn tolerances(case: &NormCase, weights: &[f32]) -> [Tol; 4] {
    let affine = case.affine.as_ref().map(|(g, b)| (&g[..], &b[..]));
    let inner = matches!(case.kind, Kind::Layer(_));
    norm_tolerances(&case.x, case.dims(), affine, inner, weights)
}

fn check_cases(what: &str, cases: &[NormCase]) {
    let Some(gpu) = common::gpu() else { return };
    let cpu = common::cpu();
    let mut checks = Checks::default();
    for case in cases {
        let weights = signed(case.x.len(), 0.5, 1.5, 0x5EED);
        let tols = tolerances(case, &weights);
        let reference = run(&cpu, case, &weights)
            .unwrap_or_else(|e| panic!("{}: the CPU failed: {e}", case.name));
        if reference.y.iter().all(|&v| v == 0.0) {
            checks.fail(format!(
                "{}: degenerate, the output is all zeros",
                case.name
            ));
        }
        match run(&gpu, case, &weights) {
            Ok(out) => {
                checks.close(
                    &format!("{} forward", case.name),
                    &reference.y,
                    &out.y,
                    tols[0],
                );
                for (i, (c, g)) in reference.grads.iter().zip(&out.grads).enumerate() {
                    let name = ["dx", "dgamma", "dbeta"][i];
                    checks.close(&format!("{} {name}", case.name), c, g, tols[i + 1]);
                }
            }
            Err(e) => checks.fail(format!("{}: the GPU failed: {e}", case.name)),
        }
    }
    checks.finish(what);
}

#[test]
fn batch_norm_forward_and_backward_match() {
    // Channels of at most 256 values take the serial kernels, longer ones the tree kernels:
    // [256, 3] and [257, 3] sit on either side.
    let shapes: [&[usize]; 9] = [
        &[2, 1],
        &[7, 13],
        &[256, 3],
        &[257, 3],
        &[1000, 5],
        &[3, 4, 5],
        &[3, 4, 5, 7],
        &[2, 3, 17, 19],
        &[64, 16, 16, 16], // large: 4096 elements per channel, 262,144 in all
    ];
    let mut cases = Vec::new();
    for (i, shape) in shapes.iter().enumerate() {
        for affine in [true, false] {
            let name = format!("batch_norm {shape:?} affine={affine}");
            cases.push(norm_case(
                &name,
                shape,
                Kind::Batch,
                affine,
                100 + 10 * i as u64,
            ));
        }
    }
    check_cases("batch norm parity", &cases);
}

#[test]
fn layer_norm_forward_and_backward_match() {
    // Rows of at most 256 take the serial kernels, and so do γ's and β's gradients over at
    // most 256 rows: [3, 256] | [3, 257] and [256, 5] | [257, 5] sit on either side.
    let shapes: [(&[usize], usize); 11] = [
        (&[1, 2], 1),
        (&[7, 13], 1),
        (&[3, 256], 1),
        (&[3, 257], 1),
        (&[256, 5], 1),
        (&[257, 5], 1),
        (&[5, 1031], 1),
        (&[1, 1], 1),
        (&[2, 3, 4], 2),
        (&[4, 3, 5, 7], 3),
        (&[512, 768], 1), // large: 393,216 elements
    ];
    let mut cases = Vec::new();
    for (i, (shape, k)) in shapes.iter().enumerate() {
        for affine in [true, false] {
            if shape == &[1, 1] && !affine {
                continue; // x̂ of one element is 0: only β makes the output non-trivial
            }
            let name = format!("layer_norm {shape:?} over {k} axes affine={affine}");
            cases.push(norm_case(
                &name,
                shape,
                Kind::Layer(*k),
                affine,
                300 + 10 * i as u64,
            ));
        }
    }
    check_cases("layer norm parity", &cases);
}

#[test]
fn non_finite_inputs_give_the_same_non_finite_channels() {
    // Channel 0 holds a NaN, channel 1 a +inf, channel 2 a -inf, channel 3 is finite: the
    // first three are NaN throughout (mean NaN or inf, inf − inf), on both devices.
    let mut cases = Vec::new();
    for (name, kind, shape) in [
        ("batch_norm", Kind::Batch, vec![6usize, 4]),
        ("layer_norm", Kind::Layer(1), vec![4usize, 6]),
    ] {
        let mut case = norm_case(&format!("{name} non-finite"), &shape, kind, true, 900);
        let d = case.dims();
        for (c, v) in [(0, f32::NAN), (1, f32::INFINITY), (2, f32::NEG_INFINITY)] {
            case.x[c * d.inner] = v; // element (0, c, 0)
        }
        cases.push(case);
    }
    let Some(gpu) = common::gpu() else { return };
    let cpu = common::cpu();
    for case in &cases {
        let weights = signed(case.x.len(), 0.5, 1.5, 0x5EED);
        let tols = tolerances(case, &weights);
        let (c, g) = (
            run(&cpu, case, &weights).unwrap(),
            run(&gpu, case, &weights).unwrap(),
        );
        let d = case.dims();
        for (i, v) in c.y.iter().enumerate() {
            let channel = (i / d.inner) % d.channels;
            assert_eq!(v.is_nan(), channel < 3, "{}: element {i} is {v}", case.name);
        }
        assert_close(&case.name, &c.y, &g.y, tols[0].atol, tols[0].rtol);
        for (i, (cg, gg)) in c.grads.iter().zip(&g.grads).enumerate() {
            // dx and dγ see x̂; dβ = Σ dy does not (as in PyTorch), and stays finite.
            assert_eq!(
                cg.iter().any(|v| v.is_nan()),
                i < 2,
                "{}: grad {i}",
                case.name
            );
            assert_close(&case.name, cg, gg, tols[i + 1].atol, tols[i + 1].rtol);
        }
    }
}

#[test]
fn running_statistics_match() {
    let Some(gpu) = common::gpu() else { return };
    let shape = [37usize, 5, 3];
    let results: Vec<Vec<Vec<f32>>> = [common::cpu(), gpu]
        .iter()
        .map(|device| {
            let mean = Tensor::full(device, [5], 0.0).unwrap();
            let var = Tensor::full(device, [5], 1.0).unwrap();
            let tracked = Tensor::full(device, [], 0.0).unwrap();
            for step in 0..3 {
                let x = normal(37 * 15, 2.0, 3.0, 40 + step);
                let x = device.tensor(x, shape.to_vec()).unwrap();
                let running = RunningStats {
                    mean: &mean,
                    var: &var,
                    num_batches_tracked: &tracked,
                };
                let momentum = if step == 2 { None } else { Some(0.1) };
                let config = BatchNormConfig {
                    momentum,
                    ..Default::default()
                };
                x.batch_norm(Some(running), None, None, config).unwrap();
            }
            [mean, var, tracked]
                .iter()
                .map(|t| t.to_vec().unwrap())
                .collect()
        })
        .collect();
    // Per step: the batch mean (mean tolerance above, |x| <= 3 + 4·3, 111 values per channel) and the variance from
    // rstd (1/rstd² carries rstd's (depth + 2)·U/2 + 4.5 ulp twice, plus 2.5 ulp of the
    // division), blended with 1-ulp operations: 64 ulp relative and 16·depth·U·15 absolute
    // cover three steps.
    let tol = Tol::new(16.0 * norm_depth(111) * U * 15.0, 64.0 * EPS);
    for (name, (c, g)) in ["running_mean", "running_var", "num_batches_tracked"]
        .iter()
        .zip(results[0].iter().zip(&results[1]))
    {
        assert_close(name, c, g, tol.atol, tol.rtol);
    }
    assert_eq!(results[1][2], vec![3.0]);
}

// ---------------------------------------------------------------- dropout

#[test]
fn dropout_masks_are_bit_identical() {
    let Some(gpu) = common::gpu() else { return };
    let cpu = common::cpu();
    let mut checks = Checks::default();
    let sizes = [1usize, 3, 4, 5, 257, 1023, 100_003];
    let streams = [
        (0u64, 0u64),
        (42, 7),
        (0xDEAD_BEEF_0123_4567, 1 << 40),
        (u64::MAX, u64::MAX),
    ];
    for &n in &sizes {
        let x = signed(n, 0.5, 1.5, n as u64);
        let dy = signed(n, 0.5, 1.5, n as u64 + 1);
        for &(seed, offset) in &streams {
            for p in [0.0f32, 0.1, 0.5, 0.9, 1.0] {
                let run = |device: &Device| -> downhill::Result<(Vec<f32>, Vec<f32>)> {
                    let t = device.tensor(x.clone(), [n])?.param();
                    let y = t.dropout(p, seed, offset)?;
                    let r = device.tensor(dy.clone(), [n])?;
                    let g = y.mul(&r)?.sum()?.backward()?;
                    Ok((y.to_vec()?, g.to_vec(&t)?.unwrap()))
                };
                let (c, g) = (run(&cpu).unwrap(), run(&gpu).unwrap());
                let name = format!("dropout n={n} p={p} seed={seed:#x} offset={offset:#x}");
                checks.close(&format!("{name} forward"), &c.0, &g.0, EXACT);
                checks.close(&format!("{name} backward"), &c.1, &g.1, EXACT);
                // The backward applies the forward's mask: zero exactly where y is.
                let same_mask =
                    c.0.iter()
                        .zip(&c.1)
                        .all(|(y, d)| (*y == 0.0) == (*d == 0.0));
                if !same_mask {
                    checks.fail(format!(
                        "{name}: the backward mask differs from the forward's"
                    ));
                }
            }
        }
    }
    checks.finish("dropout parity");
}

#[test]
fn dropout_keeps_nan_and_inf_as_pytorch() {
    let Some(gpu) = common::gpu() else { return };
    let x = vec![
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        1.0,
        -2.0,
        0.5,
        f32::NAN,
        3.0,
    ];
    for p in [0.0f32, 0.5, 1.0] {
        let results: Vec<Vec<f32>> = [common::cpu(), gpu.clone()]
            .iter()
            .map(|d| {
                let t = d.tensor(x.clone(), [8]).unwrap();
                t.dropout(p, 5, 9).unwrap().to_vec().unwrap()
            })
            .collect();
        assert_close(
            &format!("dropout p={p}"),
            &results[0],
            &results[1],
            0.0,
            0.0,
        );
        // x·0 and x·scale are NaN for NaN and dropped infinities, as torch's x * mask.
        assert!(results[0][0].is_nan() && results[0][6].is_nan());
        assert!(!results[0][1].is_finite() && !results[0][2].is_finite());
    }
}

// ---------------------------------------------------------------- dispatches

/// GPU dispatches recorded by `f`.
fn dispatches(device: &Device, f: impl FnOnce()) -> u64 {
    let before = device.stats();
    f();
    device.stats().since(&before).dispatches
}

#[test]
fn norm_ops_are_a_bounded_number_of_dispatches() {
    let Some(gpu) = common::private_gpu() else {
        return;
    };
    // A sum's backward (the seed of the gradient spread over x) is the baseline to subtract;
    // the first backward on a device also fills its constant 1 (one more dispatch), so the
    // baselines are measured after a first backward.
    drop(
        gpu.scalar(1.0)
            .unwrap()
            .param()
            .sum()
            .unwrap()
            .backward()
            .unwrap(),
    );
    let x = Tensor::rand_normal(&gpu, [64, 32, 8, 8], 0.0, 1.0, 1)
        .unwrap()
        .param();
    let gamma = Tensor::full(&gpu, [32], 1.0).unwrap().param();
    let beta = Tensor::full(&gpu, [32], 0.0).unwrap().param();
    let mean = Tensor::full(&gpu, [32], 0.0).unwrap();
    let var = Tensor::full(&gpu, [32], 1.0).unwrap();
    let tracked = Tensor::full(&gpu, [], 0.0).unwrap();
    let running = RunningStats {
        mean: &mean,
        var: &var,
        num_batches_tracked: &tracked,
    };
    let config = BatchNormConfig::default();
    let baseline = {
        let s = x.sum().unwrap();
        dispatches(&gpu, || drop(s.backward().unwrap()))
    };
    let mut y = None;
    let bn_forward = dispatches(&gpu, || {
        y = Some(
            x.batch_norm(Some(running), Some(&gamma), Some(&beta), config)
                .unwrap(),
        )
    });
    let s = y.unwrap().sum().unwrap();
    let bn_backward = dispatches(&gpu, || drop(s.backward().unwrap())) - baseline;
    let eval = BatchNormConfig {
        training: false,
        ..config
    };
    let bn_eval = dispatches(&gpu, || {
        drop(
            x.batch_norm(Some(running), Some(&gamma), Some(&beta), eval)
                .unwrap(),
        )
    });

    let xl = Tensor::rand_normal(&gpu, [257, 768], 0.0, 1.0, 2)
        .unwrap()
        .param();
    let wl = Tensor::full(&gpu, [768], 1.0).unwrap().param();
    let bl = Tensor::full(&gpu, [768], 0.0).unwrap().param();
    let baseline = {
        let s = xl.sum().unwrap();
        dispatches(&gpu, || drop(s.backward().unwrap()))
    };
    let mut y = None;
    let ln_forward = dispatches(&gpu, || {
        y = Some(xl.layer_norm(&[768], Some(&wl), Some(&bl), 1e-5).unwrap())
    });
    let s = y.unwrap().sum().unwrap();
    let ln_backward = dispatches(&gpu, || drop(s.backward().unwrap())) - baseline;

    let drop_forward = dispatches(&gpu, || drop(x.dropout(0.5, 1, 2).unwrap()));
    eprintln!(
        "dispatches: batch norm forward {bn_forward} (with the running statistics), backward \
         {bn_backward}, evaluation {bn_eval}; layer norm forward {ln_forward}, backward \
         {ln_backward}; dropout {drop_forward}"
    );
    // Evaluation composes broadcast ops on [C] vectors (see Tensor::batch_norm).
    assert_eq!(
        bn_eval, 6,
        "running_var + eps, sqrt, γ / std, x − mean, · scale, + β"
    );
    assert_eq!(
        bn_forward, 2,
        "statistics + x̂·γ + β, then the running statistics"
    );
    assert_eq!(bn_backward, 1, "dx, dγ, dβ in one pass");
    assert_eq!(ln_forward, 1);
    assert_eq!(ln_backward, 2, "dx, then dγ and dβ across rows");
    assert_eq!(drop_forward, 1);
}
