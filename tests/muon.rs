//! Muon (`downhill::optim::Muon`) against a reference written here in f64 from Keller
//! Jordan's `muon.py` (github.com/KellerJordan/Muon: `muon_update`,
//! `zeropower_via_newtonschulz5`, `adam_update`, `MuonWithAuxAdam.step`), with naive
//! loops for the Newton–Schulz products:
//!
//! ```text
//! 2-D [rows, cols]:  m.lerp_(g, 1 − β);  u = g.lerp(m, β) (nesterov) or m
//!                    X = u (ᵀ if rows > cols);  X /= ‖X‖_F + 1e-7
//!                    ns_steps×: A = X Xᵀ;  B = b·A + (c·A)·A;  X = a·X + B·X
//!                    p ← p·(1 − lr·wd) − lr·max(1, rows/cols)^½·X (ᵀ back)
//! other ranks:       m.lerp_(g, 1 − β1);  v.lerp_(g², 1 − β2)
//!                    p ← p·(1 − lr·wd) − lr·(m/(1 − β1ᵗ)) / (√(v/(1 − β2ᵗ)) + eps)
//! ```
//!
//! Then CPU-vs-GPU parity (finite and NaN/±inf gradients), typed errors, a checkpoint
//! round trip and the GPU's dispatches per step.
//!
//! Reference set-up: 4x6 (rows < cols), 7x3 (rows > cols, scaled by √(7/3)), 5x5, a
//! vector of 5, a 2x3x2 tensor and a scalar-like [1] (the last three by AdamW);
//! `loss = Σ sum(c ⊙ p²)/2 + sum(d ⊙ p)`.
//!
//! Tolerance (reference): `|lib − ref| ≤ 2e-6 + 1e-4·|ref|` for p, and `1e-6 + 2e-5·|ref|`
//! for the state. The Newton–Schulz iteration runs in f32: each product of `k ≤ 7` terms
//! carries ≤ k·2^-24 relative, and the quintic's slope at small singular values, a = 3.44,
//! amplifies a relative error by ≤ 3.44 per iteration: ≤ 3.44⁵·(3·7 + 4)·2^-24 ≈ 7e-4
//! relative after 5 in the worst case for the smallest singular directions (the large
//! ones, whose slope is below 1, contract it). An entry of X is ≤ 1.5 and a step moves p
//! by lr·√(7/3)·|X| ≤ 0.05·1.53·1.5 ≈ 0.11, the error by ≤ 0.11·7e-4 ≈ 8e-5 in that worst
//! case, in practice 100x less (measured worst ratios are printed) — so 10 steps within
//! 2e-6 + 1e-4·|p|. The AdamW parameters carry Adam's ~10 roundings per step (≤ 6e-7
//! relative) and the state the momentum lerp's 3 roundings per step.

mod common;

use common::tolerance::*;
use downhill::optim::{Muon, OptimizerConfig, NS_COEFFICIENTS};
use downhill::prelude::*;
use downhill::Error;

const STEPS: u64 = 10;
const SEED: u64 = 20_241_208;
const SHAPES: [&[usize]; 6] = [&[4, 6], &[7, 3], &[5, 5], &[5], &[2, 3, 2], &[1]];

#[derive(Clone, Copy, Debug)]
struct Reference {
    lr: f64,
    momentum: f64,
    nesterov: bool,
    wd: f64,
    ns_steps: u32,
    adam_lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    adam_wd: f64,
}

fn lerp(a: f64, b: f64, w: f64) -> f64 {
    a + w * (b - a)
}

/// `[r, k]·[k, c]` of row-major matrices.
fn matmul(a: &[f64], b: &[f64], r: usize, k: usize, c: usize) -> Vec<f64> {
    let mut out = vec![0.0; r * c];
    for i in 0..r {
        for j in 0..c {
            out[i * c + j] = (0..k).map(|l| a[i * k + l] * b[l * c + j]).sum();
        }
    }
    out
}

fn transpose(a: &[f64], r: usize, c: usize) -> Vec<f64> {
    (0..c * r).map(|i| a[(i % r) * c + i / r]).collect()
}

/// `zeropower_via_newtonschulz5` in f64.
fn newton_schulz(g: &[f64], rows: usize, cols: usize, steps: u32) -> Vec<f64> {
    let (a, b, c) = (
        f64::from(NS_COEFFICIENTS.0),
        f64::from(NS_COEFFICIENTS.1),
        f64::from(NS_COEFFICIENTS.2),
    );
    let tall = rows > cols;
    let (r, k) = if tall { (cols, rows) } else { (rows, cols) };
    let mut x = if tall {
        transpose(g, rows, cols)
    } else {
        g.to_vec()
    };
    let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt() + 1e-7;
    x.iter_mut().for_each(|v| *v /= norm);
    for _ in 0..steps {
        let am = matmul(&x, &transpose(&x, r, k), r, k, r);
        let ca: Vec<f64> = am.iter().map(|v| c * v).collect();
        let cam = matmul(&ca, &am, r, r, r);
        let bm: Vec<f64> = am.iter().zip(&cam).map(|(v, w)| b * v + w).collect();
        let bx = matmul(&bm, &x, r, r, k);
        x = x.iter().zip(&bx).map(|(v, w)| a * v + w).collect();
    }
    if tall {
        transpose(&x, r, k)
    } else {
        x
    }
}

impl Reference {
    fn of(c: &Muon) -> Reference {
        Reference {
            lr: f64::from(c.lr),
            momentum: f64::from(c.momentum),
            nesterov: c.nesterov,
            wd: f64::from(c.weight_decay),
            ns_steps: c.ns_steps as u32,
            adam_lr: f64::from(c.adamw_lr),
            beta1: f64::from(c.adamw_betas.0),
            beta2: f64::from(c.adamw_betas.1),
            eps: f64::from(c.adamw_eps),
            adam_wd: f64::from(c.adamw_weight_decay),
        }
    }

    /// One step of one tensor; `s` is `[momentum_buffer]` for 2-D, `[exp_avg,
    /// exp_avg_sq]` otherwise.
    fn step(&self, t: u64, dims: &[usize], p: &mut [f64], s: &mut [Vec<f64>], g: &[f64]) {
        if dims.len() == 2 {
            let m = &mut s[0];
            for i in 0..p.len() {
                m[i] = lerp(m[i], g[i], 1.0 - self.momentum);
            }
            let u: Vec<f64> = if self.nesterov {
                (0..p.len())
                    .map(|i| lerp(g[i], m[i], self.momentum))
                    .collect()
            } else {
                m.clone()
            };
            let (rows, cols) = (dims[0], dims[1]);
            let x = newton_schulz(&u, rows, cols, self.ns_steps);
            let scale = (rows as f64 / cols as f64).max(1.0).sqrt();
            for i in 0..p.len() {
                p[i] = p[i] * (1.0 - self.lr * self.wd) - self.lr * scale * x[i];
            }
        } else {
            let t = t as i32;
            for i in 0..p.len() {
                s[0][i] = lerp(s[0][i], g[i], 1.0 - self.beta1);
                s[1][i] = lerp(s[1][i], g[i] * g[i], 1.0 - self.beta2);
                let m = s[0][i] / (1.0 - self.beta1.powi(t));
                let v = s[1][i] / (1.0 - self.beta2.powi(t));
                p[i] = p[i] * (1.0 - self.adam_lr * self.adam_wd)
                    - self.adam_lr * m / (v.sqrt() + self.eps);
            }
        }
    }
}

fn host(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

struct Problem {
    params: Vec<Tensor>,
    c: Vec<Tensor>,
    d: Vec<Tensor>,
    p0: Vec<Vec<f64>>,
    c_host: Vec<Vec<f64>>,
    d_host: Vec<Vec<f64>>,
}

fn problem() -> anyhow::Result<Problem> {
    let device = Device::cpu();
    let mut pr = Problem {
        params: vec![],
        c: vec![],
        d: vec![],
        p0: vec![],
        c_host: vec![],
        d_host: vec![],
    };
    for (k, &shape) in SHAPES.iter().enumerate() {
        let s = SEED + 10 * k as u64;
        let p = Tensor::rand_uniform(&device, shape, -1.0, 1.0, s)?;
        let c = Tensor::rand_uniform(&device, shape, 0.5, 1.5, s + 1)?;
        let u = Tensor::rand_uniform(&device, shape, 0.5, 1.0, s + 2)?.to_vec()?;
        let pv = p.to_vec()?;
        let dv: Vec<f32> = pv
            .iter()
            .zip(&u)
            .map(|(&p, &u)| if p < 0.0 { -u } else { u })
            .collect();
        pr.p0.push(host(&pv));
        pr.c_host.push(host(&c.to_vec()?));
        pr.d_host.push(host(&dv));
        pr.d.push(device.tensor(dv, shape)?);
        pr.c.push(c);
        pr.params.push(p.param());
    }
    Ok(pr)
}

impl Problem {
    fn loss(&self) -> anyhow::Result<Tensor> {
        let mut total: Option<Tensor> = None;
        for k in 0..SHAPES.len() {
            let p = &self.params[k];
            let quad = p.square()?.mul(&self.c[k])?.sum()?.mul_scalar(0.5)?;
            let term = quad.add(&p.mul(&self.d[k])?.sum()?)?;
            total = Some(match total {
                None => term,
                Some(t) => t.add(&term)?,
            });
        }
        Ok(total.expect("parameters"))
    }

    fn grad(&self, k: usize, p: &[f64]) -> Vec<f64> {
        (0..p.len())
            .map(|i| self.c_host[k][i] * p[i] + self.d_host[k][i])
            .collect()
    }
}

/// Runs `config` beside the reference for `STEPS` steps, comparing p and the state (from
/// `state_dict`: each parameter holds only its own kind's) after every step.
fn run(label: &str, config: &Muon, failures: &mut Vec<String>) -> anyhow::Result<Vec<f64>> {
    let pr = problem()?;
    let refs: Vec<&Tensor> = pr.params.iter().collect();
    let mut opt = config.build(&refs)?;
    let names = ["momentum_buffer", "exp_avg", "exp_avg_sq"];
    if opt.name() != "Muon" || opt.state_names() != names {
        failures.push(format!("{label}: {} {:?}", opt.name(), opt.state_names()));
    }
    let reference = Reference::of(config);
    let mut p = pr.p0.clone();
    let mut s: Vec<Vec<Vec<f64>>> = SHAPES
        .iter()
        .zip(&p)
        .map(|(d, p)| vec![vec![0.0; p.len()]; if d.len() == 2 { 1 } else { 2 }])
        .collect();
    let (mut worst_p, mut worst_s) = (0.0f64, 0.0f64);
    for step in 1..=STEPS {
        opt.step(&pr.loss()?.backward()?)?;
        let dict = opt.state_dict()?;
        for k in 0..SHAPES.len() {
            let g = pr.grad(k, &p[k]);
            reference.step(step, SHAPES[k], &mut p[k], &mut s[k], &g);
            let got = pr.params[k].to_vec()?;
            for (i, (&a, &b)) in got.iter().zip(&p[k]).enumerate() {
                let r = (f64::from(a) - b).abs() / (2e-6 + 1e-4 * b.abs());
                worst_p = worst_p.max(r);
                if r > 1.0 {
                    failures.push(format!(
                        "{label}: step {step}, parameter {k}[{i}]: downhill {a:.9e}, reference {b:.9e}"
                    ));
                }
            }
            let kept: Vec<usize> = if SHAPES[k].len() == 2 {
                vec![0]
            } else {
                vec![1, 2]
            };
            for (j, (&buffer, want)) in kept.iter().zip(&s[k]).enumerate() {
                let got = &dict.buffers[buffer].values[k];
                if got.len() != want.len() {
                    failures.push(format!(
                        "{label}: {} of {k} has {} values",
                        names[buffer],
                        got.len()
                    ));
                    continue;
                }
                for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
                    let r = (f64::from(a) - b).abs() / (1e-6 + 2e-5 * b.abs());
                    worst_s = worst_s.max(r);
                    if r > 1.0 {
                        failures.push(format!(
                            "{label}: step {step}, parameter {k} state {j}[{i}]: downhill {a:.9e}, reference {b:.9e}"
                        ));
                    }
                }
            }
            for (buffer, name) in names.iter().enumerate() {
                if !kept.contains(&buffer) && !dict.buffers[buffer].values[k].is_empty() {
                    failures.push(format!("{label}: parameter {k} keeps a {name}"));
                }
            }
        }
    }
    eprintln!("{label}: worst |Δ|/allowed p {worst_p:.3}, state {worst_s:.3}");
    Ok(p.into_iter().flatten().collect())
}

#[test]
fn muon_matches_the_reference_over_10_steps_for_every_option() -> anyhow::Result<()> {
    let mut failures = vec![];
    let d = Muon::default();
    assert_eq!(
        (d.lr, d.momentum, d.nesterov, d.weight_decay, d.ns_steps),
        (0.02, 0.95, true, 0.0, 5.0)
    );
    assert_eq!(
        (d.adamw_lr, d.adamw_betas, d.adamw_eps, d.adamw_weight_decay),
        (3e-4, (0.9, 0.95), 1e-10, 0.0)
    );
    let end = run("defaults", &d, &mut failures)?;
    let cases: Vec<(&str, Muon)> = vec![
        ("lr 0.05", Muon::new(0.05)),
        ("momentum 0.5", d.clone().momentum(0.5)),
        ("nesterov false", d.clone().nesterov(false)),
        ("weight_decay 0.5", d.clone().weight_decay(0.5)),
        ("ns_steps 3", d.clone().ns_steps(3)),
        ("adamw_lr 0.01", d.clone().adamw_lr(0.01)),
        (
            "every option",
            Muon::new(0.03)
                .momentum(0.8)
                .nesterov(false)
                .weight_decay(0.2)
                .ns_steps(4)
                .adamw_lr(0.02)
                .adamw_betas(0.8, 0.9)
                .adamw_eps(1e-6)
                .adamw_weight_decay(0.1),
        ),
    ];
    // The AdamW options, each against AdamW's lr 0.01 alone (at 3e-4 they barely move).
    let adam = d.clone().adamw_lr(0.01);
    let adam_end = run("adamw_lr 0.01 (baseline)", &adam, &mut failures)?;
    let adam_cases: Vec<(&str, Muon)> = vec![
        ("adamw_betas (0.5, 0.7)", adam.clone().adamw_betas(0.5, 0.7)),
        ("adamw_eps 0.1", adam.clone().adamw_eps(0.1)),
        (
            "adamw_weight_decay 0.5",
            adam.clone().adamw_weight_decay(0.5),
        ),
    ];
    let all = cases
        .iter()
        .map(|c| (c, &end))
        .chain(adam_cases.iter().map(|c| (c, &adam_end)));
    for ((label, config), base) in all {
        let other = run(label, config, &mut failures)?;
        let diff = other
            .iter()
            .zip(base)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        if diff < 1e-4 {
            failures.push(format!("{label}: ends within {diff:e} of its baseline"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    Ok(())
}

// ---------------------------------------------------------------- CPU-vs-GPU parity

const PARITY_STEPS: usize = 20;
/// Matrices both ways and square, one larger than a matmul tile (70x33), vectors, a
/// 3-D tensor.
const PARITY_SHAPES: [&[usize]; 7] = [
    &[3],
    &[7, 5],
    &[1],
    &[70, 33],
    &[16, 16],
    &[300],
    &[2, 3, 3],
];

fn seeded(shape: &[usize], lo: f32, hi: f32, seed: u64) -> Vec<f32> {
    Tensor::rand_uniform(&Device::cpu(), shape, lo, hi, seed)
        .and_then(|t| t.to_vec())
        .expect("random values")
}

/// `PARITY_STEPS` steps of `loss = Σ sum(p ⊙ c_t)`; every parameter, then the state.
fn optimize(
    device: &Device,
    config: &Muon,
    init: &[Vec<f32>],
    pushes: &[Vec<Vec<f32>>],
) -> downhill::Result<Vec<Vec<f32>>> {
    let params = init
        .iter()
        .zip(PARITY_SHAPES)
        .map(|(v, s)| Ok(device.tensor(v.clone(), s)?.param()))
        .collect::<downhill::Result<Vec<Tensor>>>()?;
    let refs: Vec<&Tensor> = params.iter().collect();
    let mut opt = config.build(&refs)?;
    for push in pushes {
        let mut loss: Option<Tensor> = None;
        for ((p, c), s) in params.iter().zip(push).zip(PARITY_SHAPES) {
            let term = p.mul(&device.tensor(c.clone(), s)?)?.sum()?;
            loss = Some(match loss {
                None => term,
                Some(l) => l.add(&term)?,
            });
        }
        opt.step(&loss.expect("parameters").backward()?)?;
    }
    let mut out = params
        .iter()
        .map(Tensor::to_vec)
        .collect::<downhill::Result<Vec<_>>>()?;
    for k in 0..3 {
        out.push(opt.state_to_vec(k)?);
    }
    Ok(out)
}

fn parity(what: &str, poison: bool) {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let cpu = common::cpu();
    let init: Vec<Vec<f32>> = PARITY_SHAPES
        .iter()
        .enumerate()
        .map(|(i, s)| seeded(s, -1.0, 1.0, 3000 + i as u64))
        .collect();
    let mut pushes: Vec<Vec<Vec<f32>>> = (0..PARITY_STEPS)
        .map(|t| {
            PARITY_SHAPES
                .iter()
                .enumerate()
                .map(|(i, s)| seeded(s, -1.0, 1.0, 10_000 + (t * 16 + i) as u64))
                .collect()
        })
        .collect();
    if poison {
        // A NaN in a matrix's gradient makes its momentum entry NaN, so its norm and
        // every Newton–Schulz product: the whole matrix becomes NaN, as in the reference.
        // ±inf in the AdamW vector: that element's moments are infinite, its update NaN.
        pushes[3][1][4] = f32::NAN;
        pushes[5][5][7] = f32::INFINITY;
        pushes[9][0][1] = f32::NEG_INFINITY;
    }
    let table: Vec<(&str, Muon)> = vec![
        ("defaults", Muon::default()),
        (
            "no nesterov, weight decay",
            Muon::new(0.02)
                .nesterov(false)
                .weight_decay(0.3)
                .adamw_lr(0.01)
                .adamw_weight_decay(0.2),
        ),
    ];
    let mut checks = Checks::default();
    for (name, config) in &table {
        let c =
            optimize(&cpu, config, &init, &pushes).unwrap_or_else(|e| panic!("{name}: CPU: {e}"));
        let g =
            optimize(&gpu, config, &init, &pushes).unwrap_or_else(|e| panic!("{name}: GPU: {e}"));
        // Momentum and AdamW: the same f32 operations on identical gradients, a fused
        // multiply-add apart (1 ulp per step). Newton–Schulz: both devices' products sum
        // k ≤ 70 terms in different orders (the CPU's gemm blocks, the GPU's tiles). The
        // worst case (k·EPS per product, amplified by the quintic's slope 3.44 at σ → 0
        // in each of 5 iterations: ≈ 0.012 relative) would allow 1e-2 and test nothing;
        // the rounding errors of a sum are a random walk, ≈ √k·U = 8·U per product, and
        // at the singular values the iteration reaches ([0.7, 1.2], where its slope is
        // below 1) they do not grow: 3 products and 2 updates per iteration, 5
        // iterations, ≈ 5·(3·8 + 2)·U ≈ 130·U relative on X. A step moves p by
        // lr·√(70/33)·|X| ≤ 0.044 and rounds p (≤ 2): ≤ 0.044·130·U + 4·EPS per step,
        // 20 steps: atol ≈ 1.6e-5 (measured: 2.4e-7). The AdamW parameters and every
        // state buffer: 1e-5 + 1e-5·|x| (20 steps of 10 ulp, with the state's contraction).
        let muon_atol = PARITY_STEPS as f64 * (0.044 * 130.0 * U + 4.0 * EPS);
        let n = PARITY_SHAPES.len();
        for (i, (a, b)) in c.iter().zip(&g).enumerate() {
            let two_d = i < n && PARITY_SHAPES[i].len() == 2;
            let tol = if two_d {
                Tol::abs(muon_atol)
            } else {
                Tol::new(1e-5, 1e-5)
            };
            checks.close(&format!("{what} {name}: output {i}"), a, b, tol);
        }
        if poison && !c[1].iter().all(|v| v.is_nan()) {
            checks.fail(format!(
                "{what} {name}: the NaN gradient left part of its matrix"
            ));
        }
        if poison && !c[5].iter().any(|v| v.is_nan()) {
            checks.fail(format!("{what} {name}: the inf gradient left no NaN"));
        }
    }
    checks.finish(what);
}

#[test]
fn muon_cpu_and_gpu_agree() {
    parity("Muon", false);
}

#[test]
fn muon_cpu_and_gpu_agree_on_nan_and_infinite_gradients() {
    parity("Muon non-finite", true);
}

/// The dispatches of one step, as the rule composes them, with no read-back (the few
/// constants, 4 bytes each, are uploads): per maximal run of 2-D parameters 4 for the
/// momentum and Nesterov lerps, per 2-D tensor 36 (39 when rows > cols), per run of
/// other parameters one AdamW kernel.
#[test]
fn muon_dispatches_per_step_and_no_read_back() -> anyhow::Result<()> {
    let Some(gpu) = common::private_gpu() else {
        return Ok(());
    };
    let count = |shapes: &[&[usize]], config: &Muon| -> anyhow::Result<_> {
        let params: Vec<Tensor> = shapes
            .iter()
            .enumerate()
            .map(|(i, s)| Ok(gpu.tensor(seeded(s, -1.0, 1.0, 70 + i as u64), *s)?.param()))
            .collect::<anyhow::Result<_>>()?;
        let mut opt = config.build(&params.iter().collect::<Vec<_>>())?;
        let loss = |ps: &[Tensor]| -> anyhow::Result<Tensor> {
            let mut total = ps[0].square()?.sum()?;
            for p in &ps[1..] {
                total = total.add(&p.square()?.sum()?)?;
            }
            Ok(total)
        };
        opt.step(&loss(&params)?.backward()?)?;
        let grads = loss(&params)?.backward()?;
        gpu.backend().flush()?;
        let before = gpu.backend().stats();
        opt.step(&grads)?;
        let s = gpu.backend().stats().since(&before);
        // The gradient copies into the flat buffer are no dispatches (buffer copies).
        let adam_stats = {
            let mut o = Adam::new(0.01).build(&params.iter().collect::<Vec<_>>())?;
            gpu.backend().flush()?;
            let before = gpu.backend().stats();
            o.step(&grads)?;
            gpu.backend().stats().since(&before)
        };
        Ok((s, adam_stats.dispatches - 1))
    };
    let d = Muon::default();
    let (wide, copies) = count(&[&[8, 16]], &d)?;
    let (tall, _) = count(&[&[16, 8]], &d)?;
    let (mixed, copies_mixed) = count(&[&[8, 16], &[16], &[16, 8], &[4]], &d)?;
    eprintln!("one step: wide {wide:?}\ntall {tall:?}\nmixed {mixed:?}");
    // Momentum and Nesterov lerps: 2 × (sub, accumulate) kernels (the new buffers and
    // copies are buffer operations, no dispatches): 4 per run of 2-D tensors. Per 2-D
    // tensor: square, sum, sqrt, +1e-7, divide (5), each iteration 3 matmuls, a scale
    // and 2 accumulates (6 · 5 = 30), the update's accumulate (1): 36, and 3 more when
    // rows > cols (2 transposes and the √(rows/cols) scale).
    let per_run = 4;
    assert_eq!(wide.dispatches - copies, per_run + 36, "{wide:?}");
    assert_eq!(tall.dispatches - copies, per_run + 39, "{tall:?}");
    // Mixed: two runs of 2-D tensors (separated by the vector), two AdamW kernels.
    assert_eq!(
        mixed.dispatches - copies_mixed,
        2 * per_run + 36 + 39 + 2,
        "{mixed:?}"
    );
    for s in [wide, tall, mixed] {
        assert_eq!(s.bytes_downloaded, 0, "{s:?}");
    }
    Ok(())
}

#[test]
fn bad_muon_hyperparameters_are_typed_errors() {
    let leaf = Device::cpu()
        .tensor(vec![0.5, -0.25, 1.0, 2.0], [2, 2])
        .expect("tensor")
        .param();
    let cases: Vec<(&str, Muon)> = vec![
        ("lr", Muon::new(-1.0)),
        ("lr", Muon::new(f32::NAN)),
        ("momentum", Muon::new(0.02).momentum(1.5)),
        ("weight_decay", Muon::new(0.02).weight_decay(-1.0)),
        ("ns_steps", Muon::new(0.02).ns_steps(0)),
        (
            "ns_steps",
            Muon {
                ns_steps: 2.5,
                ..Muon::default()
            },
        ),
        ("adamw_lr", Muon::new(0.02).adamw_lr(-1.0)),
        ("adamw_beta1", Muon::new(0.02).adamw_betas(1.0, 0.95)),
        ("adamw_beta2", Muon::new(0.02).adamw_betas(0.9, -0.1)),
        ("adamw_eps", Muon::new(0.02).adamw_eps(0.0)),
        (
            "adamw_weight_decay",
            Muon::new(0.02).adamw_weight_decay(f32::INFINITY),
        ),
    ];
    for (name, config) in cases {
        match config.build(&[&leaf]) {
            Err(Error::Hyperparameter { name: got, .. }) if got == name => {}
            Err(e) => panic!("{config:?}: expected a Hyperparameter error on {name}, got {e:?}"),
            Ok(_) => panic!("{config:?}: expected a Hyperparameter error on {name}, it built"),
        }
    }
    // The elementwise seam refuses the composed rule.
    let mut ctx = downhill::optim::StepContext {
        step: 1,
        ..Default::default()
    };
    let rule = Muon::default().rule(&mut ctx);
    for device in common::devices() {
        let b = device.backend();
        let (p, g) = (b.full(64, 1.0).unwrap(), b.full(64, 0.5).unwrap());
        let state: Vec<_> = (0..3).map(|_| b.full(64, 0.0).unwrap()).collect();
        assert!(matches!(
            b.optimizer_step(rule.as_ref(), &p, &g, &state),
            Err(Error::Config(_))
        ));
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// A `state_dict` after 4 steps (each parameter holding only its kind's buffers) resumes
/// bit for bit in a fresh optimizer.
#[test]
fn muon_state_dict_round_trip() {
    let config = Muon::new(0.05).weight_decay(0.1).adamw_lr(0.01);
    let shapes: [&[usize]; 3] = [&[3, 4], &[4], &[5, 2]];
    for device in common::devices() {
        let make = |values: Option<&[Vec<f32>]>| -> Vec<Tensor> {
            shapes
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let v = values
                        .map_or_else(|| seeded(s, -1.0, 1.0, 900 + i as u64), |v| v[i].clone());
                    device.tensor(v, *s).unwrap().param()
                })
                .collect()
        };
        let loss = |ps: &[Tensor]| {
            let mut total = (&ps[0] - 0.5).unwrap().square().unwrap().sum().unwrap();
            for p in &ps[1..] {
                total = (&total + &(p * 2.0).unwrap().square().unwrap().sum().unwrap()).unwrap();
            }
            total
        };
        let build = |ps: &[Tensor]| config.build(&ps.iter().collect::<Vec<_>>()).unwrap();
        let straight = make(None);
        let mut opt = build(&straight);
        for _ in 0..8 {
            opt.step(&loss(&straight).backward().unwrap()).unwrap();
        }
        let first_params = make(None);
        let mut first = build(&first_params);
        for _ in 0..4 {
            first
                .step(&loss(&first_params).backward().unwrap())
                .unwrap();
        }
        let state = first.state_dict().unwrap();
        let lens =
            |k: usize| -> Vec<usize> { state.buffers[k].values.iter().map(Vec::len).collect() };
        assert_eq!(
            (lens(0), lens(1), lens(2)),
            (vec![12, 0, 10], vec![0, 4, 0], vec![0, 4, 0])
        );
        let values: Vec<Vec<f32>> = first_params.iter().map(|p| p.to_vec().unwrap()).collect();
        let second_params = make(Some(&values));
        let mut second = build(&second_params);
        second.load_state_dict(&state).unwrap();
        for _ in 0..4 {
            second
                .step(&loss(&second_params).backward().unwrap())
                .unwrap();
        }
        for (a, b) in second_params.iter().zip(&straight) {
            assert_eq!(bits(&a.to_vec().unwrap()), bits(&b.to_vec().unwrap()));
        }
        assert_eq!(second.state_dict().unwrap(), opt.state_dict().unwrap());
    }
}
