//! LAMB (`downhill::optim::Lamb`) against a reference written here in f64 from timm's
//! `Lamb` (`timm/optim/lamb.py`; You et al. 2020, arXiv:1904.00962, Algorithm 2), per
//! parameter tensor, with `t` the step:
//!
//! ```text
//! m ← β1·m + β3·g                 β3 = 1 − β1 (grad_averaging) or 1
//! v ← β2·v + (1 − β2)·g²
//! u = (m / bc1) / (√v / √bc2 + eps)   bc1 = 1 − β1ᵗ, bc2 = 1 − β2ᵗ (or 1, 1)
//! wd ≠ 0: u += wd·p, or (decoupled_decay) p += −lr·wd·p
//! wd ≠ 0 or always_adapt: r = ‖p‖/‖u‖ (1 if either is 0), min(r, 1) with trust_clip; u ·= r
//! p += −lr·u
//! ```
//!
//! Then CPU-vs-GPU parity over 50 steps (finite and NaN/±inf gradients), typed errors, a
//! checkpoint round trip and the GPU's dispatches per step.
//!
//! Reference set-up: parameters of shapes 1, 7, 6x3 (rows > cols), 2x9 (rows < cols),
//! 2x3x4 and a zero vector of 5 (‖p‖ = 0 at first: ratio 1), `loss = Σ sum(c ⊙ p²)/2 +
//! sum(d ⊙ p)`, `∇ = c ⊙ p + d`, with `p0 ∈ [−3, 3)` (so ‖p‖ > ‖u‖ and trust_clip
//! bites), `c ∈ [0.5, 1.5)`, `d ∈ ±[0.5, 1)`; the reference recomputes the gradient from
//! its own parameters.
//!
//! Tolerance (reference): `|lib − ref| ≤ 1e-6 + 2e-5·|ref|` for p, m and v. Per step each
//! element's update takes ~10 f32 roundings (≤ 10·2^-24 ≈ 6e-7 relative) and the trust
//! ratio two sums of ≤ 24 squares (sequential f32: ≤ 24·2^-24 ≈ 1.4e-6 relative each,
//! half that after the square roots, so ≈ 1.5e-6 on r). A step moves p by `lr·|u·r|` ≤
//! 0.05·3, so the per-step error is ≤ 0.15·2.1e-6 + 2^-24·|p| ≈ 5e-7 absolute; 10 steps
//! ≈ 5e-6, inside `1e-6 + 2e-5·|p|` for |p| ≥ 0.25 and, below that, within 1e-6 + the
//! relative part with a factor > 1 once the updates shrink as p nears its minimum (the
//! worst passing ratio is printed). m and v follow the exact gradient up to 3 roundings
//! per step, contracted by β: ≤ 10·3·2^-24 ≈ 1.8e-6 relative.

mod common;

use common::tolerance::*;
use downhill::optim::{Lamb, OptimizerConfig, SegmentRow, SegmentTable, StepContext};
use downhill::prelude::*;
use downhill::Error;

const STEPS: u64 = 10;
const SEED: u64 = 19_040_962;
const SHAPES: [&[usize]; 6] = [&[1], &[7], &[6, 3], &[2, 9], &[2, 3, 4], &[5]];

/// The reference's hyperparameters, f32-rounded values widened to f64.
#[derive(Clone, Copy, Debug)]
struct Reference {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    wd: f64,
    bias_correction: bool,
    grad_averaging: bool,
    trust_clip: bool,
    always_adapt: bool,
    decoupled: bool,
}

impl Reference {
    fn of(c: &Lamb) -> Reference {
        Reference {
            lr: f64::from(c.lr),
            beta1: f64::from(c.betas.0),
            beta2: f64::from(c.betas.1),
            eps: f64::from(c.eps),
            wd: f64::from(c.weight_decay),
            bias_correction: c.bias_correction,
            grad_averaging: c.grad_averaging,
            trust_clip: c.trust_clip,
            always_adapt: c.always_adapt,
            decoupled: c.decoupled_decay,
        }
    }

    /// One step of one tensor in place; returns its trust ratio.
    fn step(&self, t: u64, p: &mut [f64], m: &mut [f64], v: &mut [f64], g: &[f64]) -> f64 {
        let beta3 = if self.grad_averaging {
            1.0 - self.beta1
        } else {
            1.0
        };
        let (bc1, bc2) = if self.bias_correction {
            (
                1.0 - self.beta1.powi(t as i32),
                1.0 - self.beta2.powi(t as i32),
            )
        } else {
            (1.0, 1.0)
        };
        let mut u = vec![0.0; p.len()];
        for i in 0..p.len() {
            m[i] = self.beta1 * m[i] + beta3 * g[i];
            v[i] = self.beta2 * v[i] + (1.0 - self.beta2) * g[i] * g[i];
            u[i] = (m[i] / bc1) / (v[i].sqrt() / bc2.sqrt() + self.eps);
        }
        if self.wd != 0.0 {
            for i in 0..p.len() {
                if self.decoupled {
                    p[i] -= self.lr * self.wd * p[i];
                } else {
                    u[i] += self.wd * p[i];
                }
            }
        }
        let mut r = 1.0;
        if self.wd != 0.0 || self.always_adapt {
            let w = p.iter().map(|x| x * x).sum::<f64>().sqrt();
            let n = u.iter().map(|x| x * x).sum::<f64>().sqrt();
            if w > 0.0 && n > 0.0 {
                r = w / n;
            }
            if self.trust_clip {
                r = r.min(1.0);
            }
        }
        for i in 0..p.len() {
            p[i] -= self.lr * u[i] * r;
        }
        r
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
        let zero = k == SHAPES.len() - 1;
        let p = Tensor::rand_uniform(&device, shape, -3.0, 3.0, s)?;
        let p = if zero { (&p * 0.0)? } else { p };
        let c = Tensor::rand_uniform(&device, shape, 0.5, 1.5, s + 1)?;
        let u = Tensor::rand_uniform(&device, shape, 0.5, 1.0, s + 2)?.to_vec()?;
        let pv = p.to_vec()?;
        let dv: Vec<f32> = pv
            .iter()
            .zip(&u)
            .enumerate()
            .map(|(i, (&p, &u))| {
                if p < 0.0 || (zero && i % 2 == 0) {
                    -u
                } else {
                    u
                }
            })
            .collect();
        pr.p0.push(host(&pv));
        pr.c_host.push(host(&c.to_vec()?));
        pr.d_host.push(host(&dv));
        pr.d.push(device.tensor(dv, shape)?);
        pr.c.push(c);
        pr.params.push(device.tensor(pv, shape)?.param());
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

fn within(got: f32, want: f64) -> bool {
    (f64::from(got) - want).abs() <= 1e-6 + 2e-5 * want.abs()
}

/// Runs `config` for `STEPS` steps beside the reference, comparing p, exp_avg and
/// exp_avg_sq after every step. Returns the reference's final state, flattened, and the
/// trust ratios it saw (smallest, largest).
fn run(label: &str, config: &Lamb, failures: &mut Vec<String>) -> anyhow::Result<Vec<f64>> {
    let pr = problem()?;
    let refs: Vec<&Tensor> = pr.params.iter().collect();
    let mut opt = config.build(&refs)?;
    if opt.name() != "Lamb" || opt.state_names() != ["exp_avg", "exp_avg_sq"] {
        failures.push(format!("{label}: {} {:?}", opt.name(), opt.state_names()));
    }
    let reference = Reference::of(config);
    let mut p = pr.p0.clone();
    let mut m: Vec<Vec<f64>> = p.iter().map(|x| vec![0.0; x.len()]).collect();
    let mut v = m.clone();
    let (mut r_min, mut r_max) = (f64::INFINITY, 0.0f64);
    for step in 1..=STEPS {
        opt.step(&pr.loss()?.backward()?)?;
        let (got_m, got_v) = (opt.state_to_vec(0)?, opt.state_to_vec(1)?);
        for k in 0..SHAPES.len() {
            let g = pr.grad(k, &p[k]);
            let r = reference.step(step, &mut p[k], &mut m[k], &mut v[k], &g);
            (r_min, r_max) = (r_min.min(r), r_max.max(r));
            let seg = &opt.param_set().segments()[k];
            let got_p = pr.params[k].to_vec()?;
            for i in 0..seg.len {
                let (gm, gv) = (got_m[seg.offset + i], got_v[seg.offset + i]);
                if !within(got_p[i], p[k][i]) || !within(gm, m[k][i]) || !within(gv, v[k][i]) {
                    failures.push(format!(
                        "{label}: step {step}, parameter {k} index {i}: downhill p {:.9e} \
                         m {gm:.9e} v {gv:.9e}, reference p {:.9e} m {:.9e} v {:.9e}",
                        got_p[i], p[k][i], m[k][i], v[k][i]
                    ));
                }
            }
        }
    }
    eprintln!("{label}: trust ratios in [{r_min:.4}, {r_max:.4}]");
    Ok(p.into_iter().chain(m).chain(v).flatten().collect())
}

#[test]
fn lamb_matches_timm_over_10_steps_for_every_option() -> anyhow::Result<()> {
    let mut failures = vec![];
    let d = Lamb::default();
    assert_eq!(
        (d.lr, d.betas, d.eps, d.weight_decay),
        (1e-3, (0.9, 0.999), 1e-6, 0.01)
    );
    assert!(d.bias_correction && d.grad_averaging);
    assert!(!d.trust_clip && !d.always_adapt && !d.decoupled_decay);
    run("defaults", &d, &mut failures)?;
    let base = Lamb::new(0.05);
    let cases: Vec<(&str, Lamb)> = vec![
        ("betas (0.5, 0.8)", base.clone().betas(0.5, 0.8)),
        ("eps 0.1", base.clone().eps(0.1)),
        ("weight_decay 0.5", base.clone().weight_decay(0.5)),
        (
            "weight_decay 0 (no trust ratio)",
            base.clone().weight_decay(0.0),
        ),
        (
            "weight_decay 0, always_adapt",
            base.clone().weight_decay(0.0).always_adapt(true),
        ),
        ("bias_correction false", base.clone().bias_correction(false)),
        ("grad_averaging false", base.clone().grad_averaging(false)),
        ("trust_clip", base.clone().trust_clip(true)),
        (
            "decoupled_decay",
            base.clone().weight_decay(0.5).decoupled_decay(true),
        ),
        (
            "every option",
            base.clone()
                .betas(0.8, 0.95)
                .eps(1e-3)
                .weight_decay(0.2)
                .bias_correction(false)
                .grad_averaging(false)
                .trust_clip(true)
                .always_adapt(true)
                .decoupled_decay(true),
        ),
    ];
    let end = run("lr 0.05", &base, &mut failures)?;
    for (label, config) in &cases {
        let other = run(label, config, &mut failures)?;
        let diff = other
            .iter()
            .zip(&end)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        if diff < 1e-3 {
            failures.push(format!("{label}: ends within {diff:e} of lr 0.05 alone"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    Ok(())
}

// ---------------------------------------------------------------- CPU-vs-GPU parity

const PARITY_STEPS: usize = 50;
/// A single element, non-multiples of 4, a tensor longer than a workgroup (300, 17x40:
/// the segments kernel strides), matrices both ways, a 4-D weight.
const PARITY_SHAPES: [&[usize]; 7] = [
    &[3],
    &[7, 5],
    &[1],
    &[300],
    &[13, 11],
    &[17, 40],
    &[2, 3, 3, 3],
];

/// 50 steps of `loss = Σ sum(p ⊙ c_t)` (gradient exactly `c_t` on both devices); returns
/// every parameter, then exp_avg and exp_avg_sq.
fn optimize(
    device: &Device,
    config: &Lamb,
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
    out.push(opt.state_to_vec(0)?);
    out.push(opt.state_to_vec(1)?);
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
        // A NaN gradient makes that element's moments, update and so ‖u‖ NaN: the ratio
        // is then 1 (torch.where's comparisons are false) and the tensor's other elements
        // step with it; ±inf makes u = inf/inf = NaN alike. Both devices must agree.
        pushes[3][1][4] = f32::NAN;
        pushes[5][3][64] = f32::INFINITY;
        pushes[9][4][0] = f32::NEG_INFINITY;
    }
    let table: Vec<(&str, Lamb)> = vec![
        ("defaults", Lamb::default()),
        ("lr 0.01", Lamb::new(0.01)),
        ("weight_decay 0", Lamb::new(0.01).weight_decay(0.0)),
        (
            "always_adapt",
            Lamb::new(0.01).weight_decay(0.0).always_adapt(true),
        ),
        ("trust_clip", Lamb::new(0.01).trust_clip(true)),
        (
            "decoupled, no bias correction, no averaging",
            Lamb::new(0.01)
                .weight_decay(0.3)
                .decoupled_decay(true)
                .bias_correction(false)
                .grad_averaging(false),
        ),
    ];
    let mut checks = Checks::default();
    for (name, config) in &table {
        let cpu_out = optimize(&cpu, config, &init, &pushes)
            .unwrap_or_else(|e| panic!("{name}: the CPU reference failed: {e}"));
        let gpu_out = optimize(&gpu, config, &init, &pushes)
            .unwrap_or_else(|e| panic!("{name}: the GPU run failed: {e}"));
        // Identical gradients, so the moments differ only by a fused multiply-add per
        // step (1 ulp, contracted by β: ≤ 50·EPS·max|m or v|; |m| ≤ 10 without
        // averaging, 1/(1 − β1); v ≤ 1). The trust ratio's sums of squares: the CPU's in
        // f64 rounded once (½ ulp), the GPU's ≤ 3 sequential terms per invocation and a
        // tree of 8 levels (≤ 11 roundings, 11·U relative), the products 1 ulp: with the
        // square roots and the division (2.5 ulp on Vulkan) r differs by ≤ 16·EPS; u's
        // sqrt and two divisions by ≤ 8·EPS. A step moves p by lr·|u·r| ≤ 0.01·30 (|u| ≤
        // 10, r ≲ 3), so it differs by ≤ 0.3·24·EPS plus 2 ulp of |p| ≤ 2; over 50 steps
        // atol 50·(0.3·24 + 4)·EPS ≈ 6.7e-5. (A trust ratio off by 0.1 % moves p by
        // 50·0.01·|u·r|·1e-3, ≈ 5e-4 for |u·r| ≈ 1: caught.)
        let atol_p = PARITY_STEPS as f64 * (0.3 * 24.0 + 4.0) * EPS;
        let atol_m = PARITY_STEPS as f64 * 10.0 * EPS;
        let n = PARITY_SHAPES.len();
        for (i, (c, g)) in cpu_out.iter().zip(&gpu_out).enumerate() {
            let (label, tol) = match i {
                i if i < n => (format!("parameter {i}"), atol_p),
                i if i == n => ("exp_avg".into(), atol_m),
                _ => ("exp_avg_sq".into(), atol_m),
            };
            checks.close(&format!("{what} {name}: {label}"), c, g, Tol::abs(tol));
        }
        let nan_params = cpu_out[..n].iter().flatten().filter(|v| v.is_nan()).count();
        if poison && nan_params == 0 {
            checks.fail(format!(
                "{what} {name}: the NaN gradient left no NaN parameter"
            ));
        }
        if poison && cpu_out[1].iter().filter(|v| v.is_finite()).count() < 30 {
            checks.fail(format!(
                "{what} {name}: a NaN element spoiled its whole tensor"
            ));
        }
    }
    checks.finish(what);
}

#[test]
fn lamb_cpu_and_gpu_agree_over_50_steps() {
    parity("Lamb", false);
}

#[test]
fn lamb_cpu_and_gpu_agree_on_nan_and_infinite_gradients() {
    parity("Lamb non-finite", true);
}

/// One step is two dispatches per run (the segments kernel and the elementwise one) on
/// top of the gradient copies an elementwise optimizer also makes, with no read-back and,
/// after the first step, no upload (the segment table is cached).
#[test]
fn lamb_takes_two_dispatches_per_run_and_no_read_back() -> anyhow::Result<()> {
    let Some(gpu) = common::private_gpu() else {
        return Ok(());
    };
    let stats_of = |config: &dyn OptimizerConfig, groups: bool| -> anyhow::Result<_> {
        let params: Vec<Tensor> = PARITY_SHAPES
            .iter()
            .enumerate()
            .map(|(i, s)| Ok(gpu.tensor(seeded(s, -1.0, 1.0, 70 + i as u64), *s)?.param()))
            .collect::<anyhow::Result<_>>()?;
        let mut opt = if groups {
            let (a, b) = params.split_at(3);
            let group = |ps: &[Tensor]| ParamGroup::new(&ps.iter().collect::<Vec<_>>());
            Optimizer::with_groups(config.boxed_clone(), vec![group(a), group(b).lr(0.5)])?
        } else {
            Optimizer::new(config.boxed_clone(), &params.iter().collect::<Vec<_>>())?
        };
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
    let adam = stats_of(&Adam::new(0.01), false)?;
    let lamb = stats_of(&Lamb::new(0.01), false)?;
    let lamb_groups = stats_of(&Lamb::new(0.01), true)?;
    let adam_groups = stats_of(&Adam::new(0.01), true)?;
    eprintln!("one step: Adam {adam:?}\nLamb {lamb:?}\nLamb, 2 groups {lamb_groups:?}");
    assert_eq!(
        lamb.dispatches,
        adam.dispatches + 1,
        "one run: 2 dispatches"
    );
    assert_eq!(
        lamb_groups.dispatches,
        adam_groups.dispatches + 2,
        "two runs: 4"
    );
    for s in [lamb, lamb_groups] {
        assert_eq!((s.bytes_downloaded, s.bytes_uploaded), (0, 0), "{s:?}");
    }
    Ok(())
}

#[test]
fn bad_lamb_hyperparameters_and_arguments_are_typed_errors() {
    let leaf = Device::cpu()
        .tensor(vec![0.5, -0.25, 1.0], [3])
        .expect("tensor")
        .param();
    let cases: Vec<(&str, Lamb)> = vec![
        ("lr", Lamb::new(-1.0)),
        ("lr", Lamb::new(f32::NAN)),
        ("beta1", Lamb::new(1e-3).betas(1.0, 0.999)),
        ("beta1", Lamb::new(1e-3).betas(-0.1, 0.999)),
        ("beta2", Lamb::new(1e-3).betas(0.9, 1.01)),
        ("eps", Lamb::new(1e-3).eps(-1e-6)),
        ("weight_decay", Lamb::new(1e-3).weight_decay(-0.5)),
        ("weight_decay", Lamb::new(1e-3).weight_decay(f32::INFINITY)),
    ];
    for (name, config) in cases {
        match config.build(&[&leaf]) {
            Err(Error::Hyperparameter { name: got, .. }) if got == name => {}
            Err(e) => panic!("{config:?}: expected a Hyperparameter error on {name}, got {e:?}"),
            Ok(_) => panic!("{config:?}: expected a Hyperparameter error on {name}, it built"),
        }
    }
    // The backends refuse a tensorwise rule on the elementwise seam, and bad segment
    // tables, as typed errors that change nothing.
    let mut ctx = StepContext {
        step: 1,
        ..Default::default()
    };
    let rule = Lamb::default().rule(&mut ctx);
    let tw = rule.tensorwise().expect("Lamb is tensorwise");
    for device in common::devices() {
        let b = device.backend();
        let (p, g) = (b.full(64, 1.0).unwrap(), b.full(64, 0.5).unwrap());
        let state = [b.full(64, 0.0).unwrap(), b.full(64, 0.0).unwrap()];
        match b.optimizer_step(rule.as_ref(), &p, &g, &state) {
            Err(Error::Config(_)) => {}
            other => panic!("optimizer_step with Lamb: {other:?}"),
        }
        let table = |rows: Vec<SegmentRow>| SegmentTable::new(b, rows).unwrap();
        let row = |offset, dims: &[usize]| SegmentRow::of(offset, dims).unwrap();
        let bad = [
            table(vec![]),
            table(vec![row(0, &[8, 8]), row(60, &[4])]), // overlap
            table(vec![row(0, &[65])]),                  // past the end
            table(vec![SegmentRow {
                len: 5,
                ..row(0, &[4])
            }]), // len ≠ batches·rows·cols
        ];
        for t in &bad {
            assert!(
                matches!(
                    b.tensorwise_step(tw, &p, &g, &state, t),
                    Err(Error::Shape { .. })
                ),
                "{t:?}"
            );
        }
        let good = table(vec![row(0, &[4, 4])]);
        let short = b.full(32, 0.0).unwrap();
        let err = b.tensorwise_step(tw, &p, &g, &[state[0].clone(), short], &good);
        assert!(matches!(err, Err(Error::Shape { .. })), "{err:?}");
        let err = b.tensorwise_step(tw, &p, &g, &state[..1], &good);
        assert!(matches!(err, Err(Error::Shape { .. })), "{err:?}");
        let err = b.tensorwise_step(tw, &p, &p, &state, &good);
        assert!(matches!(err, Err(Error::Shape { .. })), "{err:?}");
        assert_eq!(b.download(&p).unwrap(), vec![1.0; 64], "nothing changed");
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Two groups (the second with its own lr and no weight decay, so no trust ratio) step as
/// two separate optimizers would, and a `state_dict`
/// taken after 4 steps resumes bit for bit.
#[test]
fn lamb_param_groups_and_state_dict_round_trip() {
    let config = Lamb::new(0.05).weight_decay(0.1);
    for device in common::devices() {
        let make = || {
            let a = device
                .tensor(vec![0.5, -1.0, 2.0, 0.1, 0.2, 0.3], [2, 3])
                .unwrap()
                .param();
            let b = device.tensor(vec![1.0, 0.25], [2]).unwrap().param();
            (a, b)
        };
        let loss = |a: &Tensor, b: &Tensor| {
            let la = (a - 1.5).unwrap().square().unwrap().sum().unwrap();
            let lb = (b * 2.0).unwrap().square().unwrap().sum().unwrap();
            (&la + &lb).unwrap()
        };
        let grouped = |a: &Tensor, b: &Tensor| {
            config
                .build_groups(vec![
                    ParamGroup::new(&[a]),
                    ParamGroup::new(&[b]).lr(0.02).weight_decay(0.0),
                ])
                .unwrap()
        };
        let (a, b) = make();
        let mut opt = grouped(&a, &b);
        for _ in 0..8 {
            opt.step(&loss(&a, &b).backward().unwrap()).unwrap();
        }
        let (a1, b1) = make();
        let mut oa = config.build(&[&a1]).unwrap();
        let mut ob = Lamb::new(0.02).weight_decay(0.0).build(&[&b1]).unwrap();
        for _ in 0..8 {
            let grads = loss(&a1, &b1).backward().unwrap();
            oa.step(&grads).unwrap();
            ob.step(&grads).unwrap();
        }
        assert_eq!(bits(&a.to_vec().unwrap()), bits(&a1.to_vec().unwrap()));
        assert_eq!(bits(&b.to_vec().unwrap()), bits(&b1.to_vec().unwrap()));
        let (a2, b2) = make();
        let mut first = grouped(&a2, &b2);
        for _ in 0..4 {
            first.step(&loss(&a2, &b2).backward().unwrap()).unwrap();
        }
        let state = first.state_dict().unwrap();
        let names: Vec<&str> = state.buffers.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["exp_avg", "exp_avg_sq"]);
        let a3 = device.tensor(a2.to_vec().unwrap(), [2, 3]).unwrap().param();
        let b3 = device.tensor(b2.to_vec().unwrap(), [2]).unwrap().param();
        let mut second = grouped(&a3, &b3);
        second.load_state_dict(&state).unwrap();
        for _ in 0..4 {
            second.step(&loss(&a3, &b3).backward().unwrap()).unwrap();
        }
        assert_eq!(bits(&a3.to_vec().unwrap()), bits(&a.to_vec().unwrap()));
        assert_eq!(bits(&b3.to_vec().unwrap()), bits(&b.to_vec().unwrap()));
        assert_eq!(second.state_dict().unwrap(), opt.state_dict().unwrap());
    }
}
