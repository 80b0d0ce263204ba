//! Adafactor (`downhill::optim::Adafactor`) against a reference written here in f64 from
//! PyTorch's `torch/optim/_adafactor.py` (`_single_tensor_adafactor`), per tensor, at
//! step `t`, with `g` negated under maximize:
//!
//! ```text
//! β2ₜ = t^beta2_decay;  ρ = min(lr, 1/√t);  α = max(eps2, ‖p‖/√numel)·ρ
//! p ← p·(1 − lr·wd)                                   (wd ≠ 0)
//! rank ≥ 2: row_var.lerp_(‖g‖²_{dim −1}/cols, β2ₜ);  col_var.lerp_(‖g‖²_{dim −2}/rows, β2ₜ)
//!           v̂ = (row_var @ col_var) / max(row_var.mean(dim −2), eps1)
//! else:     variance.lerp_(g², β2ₜ);  v̂ = variance
//! u = g · rsqrt(max(v̂, eps1²));  denom = max(1, ‖u‖/(√numel·d));  p ← p − (α/denom)·u
//! ```
//!
//! The state is compared in PyTorch's shapes through `state_dict` (`row_var`: the shape
//! with the last axis 1; `col_var`: the second-to-last 1; `variance` for rank < 2).
//! Then CPU-vs-GPU parity over 50 steps (finite and NaN/±inf gradients), typed errors, a
//! checkpoint round trip and the GPU's dispatches per step.
//!
//! Reference set-up: shapes 7, 1, 6x3 (rows > cols), 2x9 (rows < cols), a 3x2x2x2 conv
//! weight (6 matrices of 2x2) and 1x5 (one row), `loss = Σ sum(c ⊙ p²)/2 + sum(d ⊙ p)`,
//! `∇ = c ⊙ p + d`, `p0 ∈ [−1, 1)`, `c ∈ [0.5, 1.5)`, `d ∈ ±[0.5, 1)`.
//!
//! Tolerance (reference): `|lib − ref| ≤ 1e-6 + 2e-5·|ref|` for p and every state value.
//! Per step an update element takes ≤ 20 f32 roundings (the row/column sums of ≤ 9
//! squares, the lerps, the estimate's product and division, sqrt, the reciprocal and the
//! product: ≤ 20·2^-24 ≈ 1.2e-6 relative), the two RMS ≤ 2 roundings (f64 sums rounded
//! once) and the step factor 3; p moves by `α·|u|/denom` ≤ 0.5·1.5·3 (lr ≤ 0.5, RMS(p) ≤
//! 1.5, |u| ≤ 3·RMS(u)), so ≤ 2.3·1.5e-6 ≈ 3.4e-6 per step in the worst case, typically
//! 30x less (the updates shrink towards the minimum and the errors are random): 10 steps
//! stay within 1e-6 + 2e-5·|p| (the worst ratio is printed). The state follows exact
//! gradients up to those 20 roundings, averaged by the lerps: ≤ 1.2e-6 relative.

mod common;

use common::tolerance::*;
use downhill::optim::{Adafactor, OptimizerConfig};
use downhill::prelude::*;
use downhill::Error;

const STEPS: u64 = 10;
const SEED: u64 = 18_040_235;
const SHAPES: [&[usize]; 6] = [&[7], &[1], &[6, 3], &[2, 9], &[3, 2, 2, 2], &[1, 5]];

/// The reference's hyperparameters, f32-rounded values widened to f64.
#[derive(Clone, Copy, Debug)]
struct Reference {
    lr: f64,
    beta2_decay: f64,
    eps1: f64,
    eps2: f64,
    d: f64,
    wd: f64,
    maximize: bool,
}

/// One tensor's state in PyTorch's shapes (empty where PyTorch keeps no such key).
#[derive(Clone, Debug, Default)]
struct State {
    row_var: Vec<f64>,
    col_var: Vec<f64>,
    variance: Vec<f64>,
}

fn lerp(a: f64, b: f64, w: f64) -> f64 {
    a + w * (b - a)
}

impl Reference {
    fn of(c: &Adafactor) -> Reference {
        Reference {
            lr: f64::from(c.lr),
            beta2_decay: f64::from(c.beta2_decay),
            eps1: f64::from(c.eps1),
            eps2: f64::from(c.eps2),
            d: f64::from(c.d),
            wd: f64::from(c.weight_decay),
            maximize: c.maximize,
        }
    }

    fn init(dims: &[usize]) -> State {
        let n: usize = dims.iter().product();
        let r = dims.len();
        if r >= 2 {
            State {
                row_var: vec![0.0; n / dims[r - 1]],
                col_var: vec![0.0; n / dims[r - 2]],
                variance: vec![],
            }
        } else {
            State {
                variance: vec![0.0; n],
                ..State::default()
            }
        }
    }

    /// One step of one tensor of shape `dims` in place; returns the clipping denominator.
    fn step(&self, t: u64, dims: &[usize], p: &mut [f64], s: &mut State, g: &[f64]) -> f64 {
        let g: Vec<f64> = g
            .iter()
            .map(|&x| if self.maximize { -x } else { x })
            .collect();
        let n = p.len();
        let t = t as f64;
        let beta2_t = t.powf(self.beta2_decay);
        let rho = self.lr.min(1.0 / t.sqrt());
        let rms_p = p.iter().map(|x| x * x).sum::<f64>().sqrt() / (n as f64).sqrt();
        let alpha = self.eps2.max(rms_p) * rho;
        if self.wd != 0.0 {
            p.iter_mut().for_each(|x| *x *= 1.0 - self.lr * self.wd);
        }
        let estimate: Vec<f64> = if dims.len() >= 2 {
            let r_n = dims[dims.len() - 2];
            let c_n = dims[dims.len() - 1];
            let b_n = n / (r_n * c_n);
            let at = |b: usize, r: usize, c: usize| (b * r_n + r) * c_n + c;
            let mut est = vec![0.0; n];
            for b in 0..b_n {
                for r in 0..r_n {
                    let mean = (0..c_n).map(|c| g[at(b, r, c)].powi(2)).sum::<f64>() / c_n as f64;
                    let k = b * r_n + r;
                    s.row_var[k] = lerp(s.row_var[k], mean, beta2_t);
                }
                for c in 0..c_n {
                    let mean = (0..r_n).map(|r| g[at(b, r, c)].powi(2)).sum::<f64>() / r_n as f64;
                    let k = b * c_n + c;
                    s.col_var[k] = lerp(s.col_var[k], mean, beta2_t);
                }
                let rows = &s.row_var[b * r_n..(b + 1) * r_n];
                let mean = (rows.iter().sum::<f64>() / r_n as f64).max(self.eps1);
                for r in 0..r_n {
                    for c in 0..c_n {
                        est[at(b, r, c)] = s.row_var[b * r_n + r] * s.col_var[b * c_n + c] / mean;
                    }
                }
            }
            est
        } else {
            for (v, g) in s.variance.iter_mut().zip(&g) {
                *v = lerp(*v, g * g, beta2_t);
            }
            s.variance.clone()
        };
        let u: Vec<f64> = (0..n)
            .map(|i| g[i] / estimate[i].max(self.eps1 * self.eps1).sqrt())
            .collect();
        let rms_u = u.iter().map(|x| x * x).sum::<f64>().sqrt() / ((n as f64).sqrt() * self.d);
        let denom = rms_u.max(1.0);
        for i in 0..n {
            p[i] -= alpha / denom * u[i];
        }
        denom
    }
}

struct Problem {
    params: Vec<Tensor>,
    c: Vec<Tensor>,
    d: Vec<Tensor>,
    p0: Vec<Vec<f64>>,
    c_host: Vec<Vec<f64>>,
    d_host: Vec<Vec<f64>>,
}

fn host(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
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

/// `|lib − ref| ≤ 1e-6 + 2e-5·|ref|`, as the ratio of the difference to that allowance.
fn ratio(got: f32, want: f64) -> f64 {
    (f64::from(got) - want).abs() / (1e-6 + 2e-5 * want.abs())
}

/// Runs `config` for `STEPS` steps beside the reference, comparing p and the state (in
/// PyTorch's shapes, from `state_dict`) after every step. Returns the reference's final
/// parameters and state, flattened.
fn run(label: &str, config: &Adafactor, failures: &mut Vec<String>) -> anyhow::Result<Vec<f64>> {
    let pr = problem()?;
    let refs: Vec<&Tensor> = pr.params.iter().collect();
    let mut opt = config.build(&refs)?;
    if opt.name() != "Adafactor" || opt.state_names() != ["row_var", "col_var", "variance"] {
        failures.push(format!("{label}: {} {:?}", opt.name(), opt.state_names()));
    }
    let reference = Reference::of(config);
    let mut p = pr.p0.clone();
    let mut s: Vec<State> = SHAPES.iter().map(|d| Reference::init(d)).collect();
    let (mut worst, mut clipped) = (0.0f64, 0usize);
    for step in 1..=STEPS {
        opt.step(&pr.loss()?.backward()?)?;
        let dict = opt.state_dict()?;
        for k in 0..SHAPES.len() {
            let g = pr.grad(k, &p[k]);
            let denom = reference.step(step, SHAPES[k], &mut p[k], &mut s[k], &g);
            clipped += (denom > 1.0) as usize;
            let got_p = pr.params[k].to_vec()?;
            let wants = [&p[k], &s[k].row_var, &s[k].col_var, &s[k].variance];
            let gots = [
                &got_p,
                &dict.buffers[0].values[k],
                &dict.buffers[1].values[k],
                &dict.buffers[2].values[k],
            ];
            for (what, (got, want)) in ["p", "row_var", "col_var", "variance"]
                .iter()
                .zip(gots.iter().zip(wants))
            {
                if got.len() != want.len() {
                    failures.push(format!(
                        "{label}: parameter {k} {what}: {} values, PyTorch keeps {}",
                        got.len(),
                        want.len()
                    ));
                    continue;
                }
                for (i, (&a, &b)) in got.iter().zip(want.iter()).enumerate() {
                    let r = ratio(a, b);
                    worst = worst.max(r);
                    if r > 1.0 {
                        failures.push(format!(
                            "{label}: step {step}, parameter {k} {what}[{i}]: downhill {a:.9e}, \
                             reference {b:.9e}"
                        ));
                    }
                }
            }
        }
    }
    eprintln!("{label}: worst |Δ|/allowed {worst:.3}, {clipped} clipped tensor-steps");
    let flat = p.into_iter().flatten();
    let state = s
        .into_iter()
        .flat_map(|s| s.row_var.into_iter().chain(s.col_var).chain(s.variance));
    Ok(flat.chain(state).collect())
}

#[test]
fn adafactor_matches_pytorch_over_10_steps_for_every_option() -> anyhow::Result<()> {
    let mut failures = vec![];
    let d = Adafactor::default();
    assert_eq!(
        (
            d.lr,
            d.beta2_decay,
            d.eps1,
            d.eps2,
            d.d,
            d.weight_decay,
            d.maximize
        ),
        (1e-2, -0.8, f32::EPSILON, 1e-3, 1.0, 0.0, false)
    );
    assert_eq!(Adafactor::new(0.1).eps(None, 1e-3), Adafactor::new(0.1));
    run("defaults", &d, &mut failures)?;
    let base = Adafactor::new(0.1);
    let cases: Vec<(&str, Adafactor)> = vec![
        // 1/√t < 0.5 from t = 5: ρ switches from lr to the relative step.
        ("lr 0.5", Adafactor::new(0.5)),
        ("beta2_decay -0.5", base.clone().beta2_decay(-0.5)),
        ("beta2_decay 0", base.clone().beta2_decay(0.0)),
        ("eps1 0.3", base.clone().eps(Some(0.3), 1e-3)),
        ("eps2 2", base.clone().eps(None, 2.0)),
        ("d 1.5", base.clone().d(1.5)),
        ("weight_decay 0.5", base.clone().weight_decay(0.5)),
        ("maximize", base.clone().maximize(true)),
        (
            "every option",
            Adafactor::new(0.4)
                .beta2_decay(-0.6)
                .eps(Some(1e-2), 0.2)
                .d(1.2)
                .weight_decay(0.3)
                .maximize(true),
        ),
    ];
    let end = run("lr 0.1", &base, &mut failures)?;
    for (label, config) in &cases {
        let other = run(label, config, &mut failures)?;
        let diff = other
            .iter()
            .zip(&end)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        if diff < 1e-4 {
            failures.push(format!("{label}: ends within {diff:e} of lr 0.1 alone"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    Ok(())
}

// ---------------------------------------------------------------- CPU-vs-GPU parity

const PARITY_STEPS: usize = 50;
/// A single element, non-multiples of 4, tensors longer than a workgroup (300, 17x40,
/// 1x300: more columns than invocations), matrices both ways, a 4-D weight.
const PARITY_SHAPES: [&[usize]; 8] = [
    &[3],
    &[7, 5],
    &[1],
    &[300],
    &[13, 11],
    &[17, 40],
    &[2, 3, 3, 3],
    &[1, 300],
];

/// 50 steps of `loss = Σ sum(p ⊙ c_t)` (gradient exactly `c_t` on both devices); returns
/// every parameter, then the three flat state buffers.
fn optimize(
    device: &Device,
    config: &Adafactor,
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

fn seeded(shape: &[usize], lo: f32, hi: f32, seed: u64) -> Vec<f32> {
    Tensor::rand_uniform(&Device::cpu(), shape, lo, hi, seed)
        .and_then(|t| t.to_vec())
        .expect("random values")
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
        // NaN in a factored tensor makes its row and column of row_var/col_var NaN, so
        // its matrix's row mean and every update of the matrix, and ‖u‖: denom is then 1
        // (Python's max(1, NaN)); in a vector only that element. ±inf: an infinite row
        // mean turns the matrix's other estimates to 0 (the eps1² floor).
        pushes[3][1][4] = f32::NAN;
        pushes[5][3][64] = f32::INFINITY;
        pushes[9][6][3] = f32::NEG_INFINITY;
    }
    let table: Vec<(&str, Adafactor)> = vec![
        ("defaults", Adafactor::default()),
        ("lr 0.3", Adafactor::new(0.3)),
        (
            "eps (1e-3, 0.1), d 2",
            Adafactor::new(0.01).eps(Some(1e-3), 0.1).d(2.0),
        ),
        (
            "beta2_decay -0.5, weight_decay 0.5, maximize",
            Adafactor::new(0.01)
                .beta2_decay(-0.5)
                .weight_decay(0.5)
                .maximize(true),
        ),
    ];
    let mut checks = Checks::default();
    for (name, config) in &table {
        let cpu_out = optimize(&cpu, config, &init, &pushes)
            .unwrap_or_else(|e| panic!("{name}: the CPU reference failed: {e}"));
        let gpu_out = optimize(&gpu, config, &init, &pushes)
            .unwrap_or_else(|e| panic!("{name}: the GPU run failed: {e}"));
        // Identical gradients. The row and column sums run in the same order on both
        // devices, so they differ by at most a fused multiply-add per term (≤ 40·EPS
        // relative for 40 terms); the lerps, the estimate's product and division, sqrt,
        // the reciprocal (2.5 ulp each on Vulkan) add ≤ 15·EPS: the state by ≤ 60·EPS
        // relative (the lerps average, so it does not grow with the steps), u by ≤
        // 80·EPS. The two RMS: the CPU's f64 sums rounded once, the GPU's ≤ 2 terms per
        // invocation and a tree of 8 levels (≤ 11 roundings), with the products, roots
        // and divisions ≤ 20·EPS each; so the step factor α/denom by ≤ 45·EPS and a step
        // by ≤ 130·EPS·|α·u/denom|. α ≤ max(eps2, RMS p)·ρ ≤ 1.5·0.3 and |u|/denom ≤
        // 3 (|u_i| within 3 RMS here): ≤ 1.35 per step, so atol 50·130·EPS·1.35 ≈ 1e-3
        // as the bound; the state rtol 60·EPS, atol 1e-30 (a zero stays exactly 0).
        let atol_p = PARITY_STEPS as f64 * 130.0 * EPS * 1.35;
        let tol_state = Tol::new(1e-30, 60.0 * EPS);
        let n = PARITY_SHAPES.len();
        let names = ["row_var", "col_var", "variance"];
        for (i, (c, g)) in cpu_out.iter().zip(&gpu_out).enumerate() {
            let (label, tol) = if i < n {
                (format!("parameter {i}"), Tol::abs(atol_p))
            } else {
                (names[i - n].to_string(), tol_state)
            };
            checks.close(&format!("{what} {name}: {label}"), c, g, tol);
        }
        let nan_params = cpu_out[..n].iter().flatten().filter(|v| v.is_nan()).count();
        if poison && nan_params == 0 {
            checks.fail(format!(
                "{what} {name}: the NaN gradient left no NaN parameter"
            ));
        }
    }
    checks.finish(what);
}

#[test]
fn adafactor_cpu_and_gpu_agree_over_50_steps() {
    parity("Adafactor", false);
}

#[test]
fn adafactor_cpu_and_gpu_agree_on_nan_and_infinite_gradients() {
    parity("Adafactor non-finite", true);
}

/// One step is two dispatches per run on top of the gradient copies an elementwise
/// optimizer also makes, with no read-back (PyTorch's two `.item()` per tensor stay on
/// the device) and, after the first step, no upload.
#[test]
fn adafactor_takes_two_dispatches_per_step_and_no_read_back() -> anyhow::Result<()> {
    let Some(gpu) = common::private_gpu() else {
        return Ok(());
    };
    let stats_of = |config: &dyn OptimizerConfig| -> anyhow::Result<_> {
        let params: Vec<Tensor> = PARITY_SHAPES
            .iter()
            .enumerate()
            .map(|(i, s)| Ok(gpu.tensor(seeded(s, -1.0, 1.0, 70 + i as u64), *s)?.param()))
            .collect::<anyhow::Result<_>>()?;
        let mut opt = Optimizer::new(config.boxed_clone(), &params.iter().collect::<Vec<_>>())?;
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
        Ok(gpu.backend().stats().since(&before))
    };
    let adam = stats_of(&Adam::new(0.01))?;
    let ada = stats_of(&Adafactor::default())?;
    eprintln!("one step: Adam {adam:?}\nAdafactor {ada:?}");
    assert_eq!(
        ada.dispatches,
        adam.dispatches + 1,
        "2 dispatches for the run"
    );
    assert_eq!(
        (ada.bytes_downloaded, ada.bytes_uploaded),
        (0, 0),
        "{ada:?}"
    );
    Ok(())
}

#[test]
fn bad_adafactor_hyperparameters_are_typed_errors() {
    let leaf = Device::cpu()
        .tensor(vec![0.5, -0.25, 1.0], [3])
        .expect("tensor")
        .param();
    let cases: Vec<(&str, Adafactor)> = vec![
        ("lr", Adafactor::new(-1.0)),
        ("lr", Adafactor::new(f32::NAN)),
        ("beta2_decay", Adafactor::new(0.01).beta2_decay(0.1)),
        (
            "beta2_decay",
            Adafactor::new(0.01).beta2_decay(f32::NEG_INFINITY),
        ),
        ("eps1", Adafactor::new(0.01).eps(Some(-1e-3), 1e-3)),
        ("eps2", Adafactor::new(0.01).eps(None, -1e-3)),
        ("d", Adafactor::new(0.01).d(0.5)),
        ("d", Adafactor::new(0.01).d(f32::NAN)),
        ("weight_decay", Adafactor::new(0.01).weight_decay(-0.5)),
    ];
    for (name, config) in cases {
        match config.build(&[&leaf]) {
            Err(Error::Hyperparameter { name: got, .. }) if got == name => {}
            Err(e) => panic!("{config:?}: expected a Hyperparameter error on {name}, got {e:?}"),
            Ok(_) => panic!("{config:?}: expected a Hyperparameter error on {name}, it built"),
        }
    }
    // The edges are valid, as in PyTorch: beta2_decay 0, eps 0, d 1.
    let edge = Adafactor::new(0.0)
        .beta2_decay(0.0)
        .eps(Some(0.0), 0.0)
        .d(1.0);
    assert!(edge.build(&[&leaf]).is_ok());
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// A `state_dict` holds PyTorch's shapes (row_var [.., rows, 1], col_var [.., 1, cols],
/// variance for vectors only), taken after 4 steps it resumes bit for bit in a fresh
/// optimizer, and a state of the wrong shape is refused.
#[test]
fn adafactor_state_dict_round_trip_in_pytorch_shapes() {
    let config = Adafactor::new(0.05).weight_decay(0.1);
    let shapes: [&[usize]; 3] = [&[2, 3, 4], &[5], &[4, 1]];
    for device in common::devices() {
        let make = |values: Option<Vec<Vec<f32>>>| -> Vec<Tensor> {
            shapes
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let v = values
                        .as_ref()
                        .map_or_else(|| seeded(s, -1.0, 1.0, 500 + i as u64), |v| v[i].clone());
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
        assert_eq!(lens(0), [6, 0, 4], "row_var: [2, 3, 1], none, [4, 1]");
        assert_eq!(lens(1), [8, 0, 1], "col_var: [2, 1, 4], none, [1, 1]");
        assert_eq!(lens(2), [0, 5, 0], "variance: vectors only");
        let values: Vec<Vec<f32>> = first_params.iter().map(|p| p.to_vec().unwrap()).collect();
        let second_params = make(Some(values));
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
        // A row_var of a full tensor's length is not PyTorch's shape: refused, unchanged.
        let mut wrong = state.clone();
        wrong.buffers[0].values[0] = vec![0.0; 24];
        let before = second.state_dict().unwrap();
        assert!(matches!(
            second.load_state_dict(&wrong),
            Err(Error::Mismatch { .. })
        ));
        assert_eq!(second.state_dict().unwrap(), before);
    }
}
