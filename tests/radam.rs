//! RAdam (`downhill::optim::RAdam`) against a reference written here in f64 from
//! `torch.optim.RAdam`'s single-tensor code (`_single_tensor_radam`):
//!
//! ```text
//! g ← −g (maximize);  wd ≠ 0: p ← p·(1 − lr·wd) (decoupled) or g ← g + wd·p (L2)
//! m ← m + (1 − β1)(g − m);   v ← β2·v + (1 − β2)·g²
//! ρ_∞ = 2/(1 − β2) − 1;   ρ_t = ρ_∞ − 2t·β2^t/(1 − β2^t)
//! ρ_t > 5: p ← p − m/(1 − β1^t)·lr·√(1 − β2^t)/(√v + eps)·√((ρ_t−4)(ρ_t−2)ρ_∞/((ρ_∞−4)(ρ_∞−2)ρ_t))
//! else:    p ← p − m/(1 − β1^t)·lr
//! ```
//!
//! over 12 steps (β2 = 0.999 rectifies from step 6: both branches run), for every option.
//! Then CPU-vs-GPU parity over 50 steps (finite and non-finite gradients), typed errors for
//! bad hyperparameters, parameter groups and a `state_dict` round trip.
//!
//! Reference set-up (as `tests/lion.rs`): three parameters of sizes 1, 7 and 3x5,
//! `loss = Σ sum(c ⊙ p²)/2 + sum(d ⊙ p)`, so `∇ = c ⊙ p + d`, `c ∈ [0.5, 1.5)`,
//! `d = sign(p)·[0.5, 1)`; the reference recomputes the gradient from its own parameters.
//!
//! Tolerance (reference): `|lib − ref| ≤ 1e-6 + 2e-5·|ref|` for parameters and both
//! moments. Per step the library rounds about 12 times in f32 (the gradient's product and
//! sum, the lerp, `v`'s three operations, the update's five, the subtraction), each
//! ≤ 2^-24 relative, and carries the rounding of the f32 hyperparameters' derived scalars
//! (`1 − β1^t`, `√(1 − β2^t)`, the rectification: ≤ 2^-24 each). The moments are
//! averages of gradients, so their error is the gradient's (≤ 3·2^-24 of |g| per step,
//! plus what the parameter's error feeds back through `c`), contracting by β; the
//! parameter accumulates ≤ 12 steps · (2 roundings of |p| + 8 of |update|). With
//! |update| ≤ lr·max|m̂/√v̂| and |p| ≤ 2 that is ≲ 12·10·2^-24·2 ≈ 1.4e-5·|p| in the worst
//! case of every rounding in one direction: rtol 2e-5. atol 1e-6 covers elements near 0
//! (of order ulp(1) = 1.2e-7 there). The worst measured ratio is printed.

mod common;

use common::tolerance::*;
use downhill::optim::RAdam;
use downhill::prelude::*;
use downhill::Error;

const STEPS: u64 = 12;
const SEED: u64 = 20_261_202;
const SHAPES: [&[usize]; 3] = [&[1], &[7], &[3, 5]];
const STATE: [&str; 2] = ["exp_avg", "exp_avg_sq"];

/// The reference's hyperparameters, the library's f32 values widened to f64.
#[derive(Clone, Copy, Debug)]
struct Reference {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    decoupled: bool,
    maximize: bool,
}

impl Reference {
    fn of(config: &RAdam) -> Reference {
        Reference {
            lr: f64::from(config.lr),
            beta1: f64::from(config.betas.0),
            beta2: f64::from(config.betas.1),
            eps: f64::from(config.eps),
            weight_decay: f64::from(config.weight_decay),
            decoupled: config.decoupled_weight_decay,
            maximize: config.maximize,
        }
    }

    /// Step `t` in place; returns whether it was rectified.
    fn step(&self, t: u64, p: &mut [f64], state: &mut [Vec<f64>], g: &[f64]) -> bool {
        let t = t as f64;
        let bc1 = 1.0 - self.beta1.powf(t);
        let bc2 = 1.0 - self.beta2.powf(t);
        let rho_inf = 2.0 / (1.0 - self.beta2) - 1.0;
        let rho_t = rho_inf - 2.0 * t * self.beta2.powf(t) / bc2;
        let [m, v] = state else { unreachable!() };
        for i in 0..p.len() {
            let mut g = if self.maximize { -g[i] } else { g[i] };
            if self.weight_decay != 0.0 {
                if self.decoupled {
                    p[i] *= 1.0 - self.lr * self.weight_decay;
                } else {
                    g += self.weight_decay * p[i];
                }
            }
            m[i] += (1.0 - self.beta1) * (g - m[i]);
            v[i] = self.beta2 * v[i] + (1.0 - self.beta2) * g * g;
            let m_hat = m[i] / bc1;
            if rho_t > 5.0 {
                let rect = ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf
                    / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
                    .sqrt();
                p[i] -= m_hat * self.lr * bc2.sqrt() / (v[i].sqrt() + self.eps) * rect;
            } else {
                p[i] -= m_hat * self.lr;
            }
        }
        rho_t > 5.0
    }
}

struct Problem {
    params: Vec<Tensor>,
    c: Vec<Tensor>,
    d: Vec<Tensor>,
    p0: Vec<f64>,
    c_host: Vec<f64>,
    d_host: Vec<f64>,
    sizes: Vec<usize>,
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
        sizes: vec![],
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
        pr.p0.extend(pv.iter().map(|&x| f64::from(x)));
        pr.c_host.extend(c.to_vec()?.iter().map(|&x| f64::from(x)));
        pr.d_host.extend(dv.iter().map(|&x| f64::from(x)));
        pr.sizes.push(pv.len());
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

    fn grad(&self, p: &[f64]) -> Vec<f64> {
        (0..p.len())
            .map(|i| self.c_host[i] * p[i] + self.d_host[i])
            .collect()
    }
}

const ATOL: f64 = 1e-6;
const RTOL: f64 = 2e-5;

/// `|got − want| / (ATOL + RTOL·|want|)`: at most 1 passes.
fn ratio(got: f32, want: f64) -> f64 {
    (f64::from(got) - want).abs() / (ATOL + RTOL * want.abs())
}

/// Runs `config` for `STEPS` steps beside the reference, comparing every parameter and
/// state element after every step. Returns the reference's final parameters and state,
/// and the steps that were rectified.
fn run(
    label: &str,
    config: &RAdam,
    failures: &mut Vec<String>,
) -> anyhow::Result<(Vec<f64>, Vec<u64>)> {
    let pr = problem()?;
    let refs: Vec<&Tensor> = pr.params.iter().collect();
    let mut opt = config.build(&refs)?;
    if opt.name() != "RAdam" || opt.state_names() != STATE {
        failures.push(format!(
            "{label}: name {:?}, state {:?}",
            opt.name(),
            opt.state_names()
        ));
    }
    let reference = Reference::of(config);
    let mut p = pr.p0.clone();
    let mut state = vec![vec![0.0; p.len()]; STATE.len()];
    let mut rectified = vec![];
    let mut worst = 0.0f64;
    for step in 1..=STEPS {
        opt.step(&pr.loss()?.backward()?)?;
        let g = pr.grad(&p);
        if reference.step(step, &mut p, &mut state, &g) {
            rectified.push(step);
        }
        let got_state = (0..STATE.len())
            .map(|k| opt.state_to_vec(k))
            .collect::<downhill::Result<Vec<_>>>()?;
        let mut offset = 0;
        for (k, (param, seg)) in pr.params.iter().zip(opt.param_set().segments()).enumerate() {
            let got_p = param.to_vec()?;
            for i in 0..pr.sizes[k] {
                let j = offset + i;
                let mut pairs = vec![("p", got_p[i], p[j])];
                for (b, name) in STATE.iter().enumerate() {
                    pairs.push((name, got_state[b][seg.offset + i], state[b][j]));
                }
                for (what, got, want) in pairs {
                    let r = ratio(got, want);
                    worst = worst.max(r);
                    if r.is_nan() || r > 1.0 {
                        failures.push(format!(
                            "{label}: step {step}, parameter {k} index {i}: {what} downhill \
                             {got:.9e}, reference {want:.9e}"
                        ));
                    }
                }
            }
            offset += pr.sizes[k];
        }
    }
    let moved = p
        .iter()
        .zip(&pr.p0)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    if moved < 5e-3 {
        failures.push(format!("{label}: parameters moved only {moved:e}"));
    }
    eprintln!(
        "{label}: worst error/tolerance {worst:.3}, moved {moved:.3e}, rectified {rectified:?}"
    );
    let mut end = p;
    end.extend(state.concat());
    Ok((end, rectified))
}

#[test]
fn radam_matches_pytorch_over_12_steps_for_every_option() -> anyhow::Result<()> {
    let mut failures = vec![];
    let d = RAdam::default();
    assert_eq!(
        (
            d.lr,
            d.betas,
            d.eps,
            d.weight_decay,
            d.decoupled_weight_decay,
            d.maximize
        ),
        (1e-3, (0.9, 0.999), 1e-8, 0.0, false, false)
    );
    let (_, rectified) = run("defaults", &d, &mut failures)?;
    // PyTorch's ρ_t for β2 = 0.999 first exceeds 5 at step 6.
    assert_eq!(rectified, (6..=STEPS).collect::<Vec<_>>());
    // lr 0.1 moves the parameters far enough that each option changes the trajectory.
    let base = RAdam::new(0.1);
    let cases: Vec<(&str, RAdam)> = vec![
        ("beta1 0.5", base.clone().betas(0.5, 0.999)),
        // ρ_∞ = 3: never rectified.
        ("beta2 0.5", base.clone().betas(0.9, 0.5)),
        ("beta2 0.8", base.clone().betas(0.9, 0.8)),
        ("eps 0.1", base.clone().eps(0.1)),
        ("weight_decay 0.5 (L2)", base.clone().weight_decay(0.5)),
        (
            "weight_decay 0.5 decoupled",
            base.clone().weight_decay(0.5).decoupled_weight_decay(true),
        ),
        ("maximize", base.clone().maximize(true)),
        (
            "every option",
            base.clone()
                .betas(0.8, 0.95)
                .eps(1e-3)
                .weight_decay(0.3)
                .decoupled_weight_decay(true)
                .maximize(true),
        ),
    ];
    let (base_end, _) = run("lr 0.1", &base, &mut failures)?;
    for (label, config) in &cases {
        let (end, rectified) = run(label, config, &mut failures)?;
        if label.contains("beta2 0.5") != rectified.is_empty() {
            failures.push(format!("{label}: rectified at {rectified:?}"));
        }
        let diff = end
            .iter()
            .zip(&base_end)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        if diff < 1e-3 {
            failures.push(format!("{label}: ends within {diff:e} of lr 0.1 alone"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    Ok(())
}

// ---------------------------------------------------------------- CPU-vs-GPU parity

const PARITY_STEPS: usize = 50;
/// Flat segments padded to 64: a single element, non-multiples of 4 and 256.
const PARITY_SHAPES: [&[usize]; 5] = [&[3], &[7, 5], &[1], &[65], &[13, 11]];

/// What a run leaves: every parameter, every state buffer, and the largest change of any
/// parameter in one step.
struct End {
    params: Vec<Vec<f32>>,
    state: Vec<Vec<f32>>,
    max_step: f64,
}

/// 50 steps of `loss = Σ sum(p ⊙ c_t)` (gradient exactly `c_t` on both devices, so only the
/// update kernels differ).
fn optimize(
    device: &Device,
    config: &RAdam,
    init: &[Vec<f32>],
    pushes: &[Vec<Vec<f32>>],
) -> downhill::Result<End> {
    let params = init
        .iter()
        .zip(PARITY_SHAPES)
        .map(|(v, s)| Ok(device.tensor(v.clone(), s)?.param()))
        .collect::<downhill::Result<Vec<Tensor>>>()?;
    let refs: Vec<&Tensor> = params.iter().collect();
    let mut opt = config.build(&refs)?;
    let mut before: Vec<Vec<f32>> = init.to_vec();
    let mut max_step = 0.0f64;
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
        let now = params
            .iter()
            .map(Tensor::to_vec)
            .collect::<downhill::Result<Vec<_>>>()?;
        for (a, b) in now.iter().flatten().zip(before.iter().flatten()) {
            let d = f64::from(*a) - f64::from(*b);
            if d.is_finite() {
                max_step = max_step.max(d.abs());
            }
        }
        before = now;
    }
    let state = (0..opt.state_names().len())
        .map(|k| opt.state_to_vec(k))
        .collect::<downhill::Result<_>>()?;
    Ok(End {
        params: before,
        state,
        max_step,
    })
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
        // NaN, +inf and -inf gradients in a few places and steps: NaN spreads to that
        // parameter and both moments; ±inf makes exp_avg_sq infinite for good and exp_avg
        // infinite (then NaN), on both devices alike.
        pushes[3][1][4] = f32::NAN;
        pushes[5][3][64] = f32::INFINITY;
        pushes[9][4][0] = f32::NEG_INFINITY;
        pushes[12][4][0] = f32::INFINITY;
    }
    let table: Vec<(&str, RAdam)> = vec![
        ("defaults", RAdam::default()),
        ("lr 0.01", RAdam::new(0.01)),
        ("betas (0.5, 0.9)", RAdam::new(0.01).betas(0.5, 0.9)),
        (
            "beta2 0.5 (never rectified)",
            RAdam::new(0.01).betas(0.9, 0.5),
        ),
        ("eps 0.1", RAdam::new(0.01).eps(0.1)),
        ("weight_decay 1 (L2)", RAdam::new(0.01).weight_decay(1.0)),
        (
            "weight_decay 1 decoupled",
            RAdam::new(0.01)
                .weight_decay(1.0)
                .decoupled_weight_decay(true),
        ),
        ("maximize", RAdam::new(0.01).maximize(true)),
    ];
    let mut checks = Checks::default();
    for (name, config) in &table {
        let cpu_end = optimize(&cpu, config, &init, &pushes)
            .unwrap_or_else(|e| panic!("{name}: the CPU reference failed: {e}"));
        let gpu_end = optimize(&gpu, config, &init, &pushes)
            .unwrap_or_else(|e| panic!("{name}: the GPU run failed: {e}"));
        // The gradients are identical, so the moments differ only by fused multiply-adds
        // in the kernel (one rounding fewer, ≤ 2 ulp of the moment per step), an error
        // that decays by β each step: ≤ 2·EPS·|moment| per step, summed over at most 50
        // steps, with |m| ≤ 1 and |v| ≤ 1: atol 100·EPS. The parameter carries, per
        // step, 2 ulp of |p| (the decay and the subtraction, |p| ≤ 2) and the update's
        // relative difference: Vulkan allows 2.5 ulp per division (two), sqrt as
        // 1/inversesqrt (≈ 5 ulp), 0.5 for each other rounding (four), ≈ 12 ulp; 16
        // ulp of the largest one-step change measured on the CPU, plus the moments'
        // difference carried through m/√v (relative, ≤ 100·EPS·max step). Over 50 steps:
        let max_step = cpu_end.max_step;
        let atol_p = PARITY_STEPS as f64 * (2.0 * EPS * 2.0 + (16.0 + 100.0) * EPS * max_step);
        for (i, (c, g)) in cpu_end.params.iter().zip(&gpu_end.params).enumerate() {
            checks.close(
                &format!("{what} {name}: parameter {i}"),
                c,
                g,
                Tol::abs(atol_p),
            );
        }
        for (k, (c, g)) in cpu_end.state.iter().zip(&gpu_end.state).enumerate() {
            checks.close(
                &format!("{what} {name}: {}", STATE[k]),
                c,
                g,
                Tol::abs(2.0 * PARITY_STEPS as f64 * EPS),
            );
        }
        let all = || cpu_end.params.iter().chain(&cpu_end.state).flatten();
        if poison && !all().any(|v| v.is_nan()) {
            checks.fail(format!("{what} {name}: the NaN gradient left no NaN"));
        }
        // With the L2 penalty the infinite parameter feeds NaN back into the gradient.
        let l2 = config.weight_decay != 0.0 && !config.decoupled_weight_decay;
        if poison && !l2 && !all().any(|v| v.is_infinite()) {
            checks.fail(format!("{what} {name}: the infinite gradient left no inf"));
        }
    }
    checks.finish(what);
}

#[test]
fn radam_cpu_and_gpu_agree_over_50_steps() {
    parity("RAdam", false);
}

#[test]
fn radam_cpu_and_gpu_agree_on_nan_and_infinite_gradients() {
    parity("RAdam non-finite", true);
}

#[test]
fn bad_radam_hyperparameters_are_typed_errors() {
    let leaf = Device::cpu()
        .tensor(vec![0.5, -0.25, 1.0], [3])
        .expect("tensor")
        .param();
    let cases: Vec<(&str, RAdam)> = vec![
        ("lr", RAdam::new(-1.0)),
        ("lr", RAdam::new(f32::NAN)),
        ("beta1", RAdam::new(1e-3).betas(1.0, 0.999)),
        ("beta1", RAdam::new(1e-3).betas(-0.1, 0.999)),
        ("beta2", RAdam::new(1e-3).betas(0.9, 1.0)),
        ("eps", RAdam::new(1e-3).eps(0.0)),
        ("eps", RAdam::new(1e-3).eps(f32::INFINITY)),
        ("weight_decay", RAdam::new(1e-3).weight_decay(-0.5)),
    ];
    for (name, config) in cases {
        match config.build(&[&leaf]) {
            Err(Error::Hyperparameter { name: got, .. }) if got == name => {}
            Err(e) => panic!("{config:?}: expected a Hyperparameter error on {name}, got {e:?}"),
            Ok(_) => panic!("{config:?}: expected a Hyperparameter error on {name}, it built"),
        }
    }
    // A group override out of range is the same typed error, one the family lacks a
    // Config error.
    let group = |g: ParamGroup| RAdam::default().build_groups(vec![g]);
    assert!(matches!(
        group(ParamGroup::new(&[&leaf]).lr(-1.0)),
        Err(Error::Hyperparameter { name: "lr", .. })
    ));
    assert!(matches!(
        group(ParamGroup::new(&[&leaf]).momentum(0.9)),
        Err(Error::Config(_))
    ));
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Per-group settings go through the generic seam: two groups (the second with its own lr
/// and no weight decay) step exactly as two separate optimizers would, and a
/// `state_dict` taken after 4 steps (before the rectified steps) resumes bit for bit.
#[test]
fn radam_param_groups_and_state_dict_round_trip() {
    let config = RAdam::new(0.05)
        .weight_decay(0.5)
        .decoupled_weight_decay(true);
    for device in common::devices() {
        let make = || {
            let a = device.tensor(vec![0.5, -1.0, 2.0], [3]).unwrap().param();
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
        for _ in 0..10 {
            opt.step(&loss(&a, &b).backward().unwrap()).unwrap();
        }
        let (a1, b1) = make();
        let mut oa = config.build(&[&a1]).unwrap();
        let mut ob = config.clone();
        ob.lr = 0.02;
        ob.weight_decay = 0.0;
        let mut ob = ob.build(&[&b1]).unwrap();
        for _ in 0..10 {
            let grads = loss(&a1, &b1).backward().unwrap();
            oa.step(&grads).unwrap();
            ob.step(&grads).unwrap();
        }
        assert_eq!(bits(&a.to_vec().unwrap()), bits(&a1.to_vec().unwrap()));
        assert_eq!(bits(&b.to_vec().unwrap()), bits(&b1.to_vec().unwrap()));
        assert_ne!(a.to_vec().unwrap(), vec![0.5, -1.0, 2.0]);
        let (a2, b2) = make();
        let mut first = grouped(&a2, &b2);
        for _ in 0..4 {
            first.step(&loss(&a2, &b2).backward().unwrap()).unwrap();
        }
        let state = first.state_dict().unwrap();
        let names: Vec<&str> = state.buffers.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, STATE);
        let a3 = device.tensor(a2.to_vec().unwrap(), [3]).unwrap().param();
        let b3 = device.tensor(b2.to_vec().unwrap(), [2]).unwrap().param();
        let mut second = grouped(&a3, &b3);
        second.load_state_dict(&state).unwrap();
        for _ in 0..6 {
            second.step(&loss(&a3, &b3).backward().unwrap()).unwrap();
        }
        assert_eq!(bits(&a3.to_vec().unwrap()), bits(&a.to_vec().unwrap()));
        assert_eq!(bits(&b3.to_vec().unwrap()), bits(&b.to_vec().unwrap()));
        assert_eq!(second.state_dict().unwrap(), opt.state_dict().unwrap());
    }
}

/// On the GPU a step over five parameters is one dispatch and one submission, with no
/// allocation, upload or download (every per-step scalar is in the uniform); two groups
/// take two dispatches.
#[test]
fn radam_step_is_one_dispatch_without_a_round_trip() {
    let Some(gpu) = common::private_gpu() else {
        return;
    };
    let params = PARITY_SHAPES
        .iter()
        .enumerate()
        .map(|(i, s)| {
            gpu.tensor(seeded(s, -1.0, 1.0, 70 + i as u64), *s)
                .map(|t| t.param())
        })
        .collect::<downhill::Result<Vec<Tensor>>>()
        .unwrap();
    let loss = || {
        let mut total = params[0].square().unwrap().sum().unwrap();
        for p in &params[1..] {
            total = total.add(&p.square().unwrap().sum().unwrap()).unwrap();
        }
        total
    };
    let refs: Vec<&Tensor> = params.iter().collect();
    let config = RAdam::new(0.01).weight_decay(0.1);
    let mut opt = config.build(&refs).unwrap();
    for step in 0..3 {
        let grads = loss().backward().unwrap();
        let before = gpu.stats();
        opt.step(&grads).unwrap();
        let delta = gpu.stats().since(&before);
        assert_eq!(delta.dispatches, 1, "step {step}: {delta:?}");
        assert_eq!(delta.submissions, 1, "step {step}: {delta:?}");
        assert_eq!(delta.buffer_allocations, 0, "step {step}: {delta:?}");
        assert_eq!(delta.bytes_uploaded, 0, "step {step}: {delta:?}");
        assert_eq!(delta.bytes_downloaded, 0, "step {step}: {delta:?}");
    }
    let mut grouped = config
        .build_groups(vec![
            ParamGroup::new(&refs[..2]),
            ParamGroup::new(&refs[2..]).lr(0.001),
        ])
        .unwrap();
    let grads = loss().backward().unwrap();
    let before = gpu.stats();
    grouped.step(&grads).unwrap();
    assert_eq!(gpu.stats().since(&before).dispatches, 2);
}
