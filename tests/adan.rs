//! Adan (`downhill::optim::Adan`) against a reference written here in f64 from the paper,
//! Xie et al. 2022, "Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing Deep
//! Models" (arXiv:2208.06677, Algorithm 1), in the order its reference code
//! (github.com/sail-sg/Adan, `adan.py`, `_single_tensor_adan`) applies it:
//!
//! ```text
//! d = g − g_prev            (g_prev = g at the first step: d = 0)
//! m ← β1·m + (1 − β1)·g;    diff ← β2·diff + (1 − β2)·d
//! u = g + β2·d;             n ← β3·n + (1 − β3)·u²
//! denom = √n / √(1 − β3^t) + eps
//! no_prox: p ← p·(1 − lr·wd)
//! p ← p − lr/(1 − β1^t)·m/denom − lr·β2/(1 − β2^t)·diff/denom
//! else:    p ← p / (1 + lr·wd)
//! ```
//!
//! over 12 steps for every option. Then CPU-vs-GPU parity over 50 steps (finite and
//! non-finite gradients), typed errors for bad hyperparameters, parameter groups and a
//! `state_dict` round trip.
//!
//! Reference set-up (as `tests/lion.rs`): three parameters of sizes 1, 7 and 3x5,
//! `loss = Σ sum(c ⊙ p²)/2 + sum(d ⊙ p)`, so `∇ = c ⊙ p + d`, `c ∈ [0.5, 1.5)`,
//! `d = sign(p)·[0.5, 1)`; the reference recomputes the gradient from its own parameters.
//!
//! Tolerance (reference): `|lib − ref| ≤ 2e-6 + 2e-5·|ref|` for the parameters and the
//! four state buffers. Per step the library rounds about 20 times in f32 (the gradient's
//! two, `d`, each moment's three, `u`'s two, the denominator's three, the update's six,
//! the decay), ≤ 2^-24 relative each, plus the f32 rounding of the host's scalars. The
//! moments and `neg_pre_grad` carry the gradient's error (≤ 3·2^-24·|g| plus c times the
//! parameter's error); `exp_avg_diff` is an average of differences of gradients, so its
//! error is absolute, of the gradients' size (≤ 4·2^-24·2 per step, ≲ 1e-6 after 12
//! steps): hence atol 2e-6. The parameter accumulates ≤ 12 steps · (2 roundings of
//! |p| ≤ 2 + 12 of the update ≤ lr·(|m̂| + β2|diff̂|)/√n̂) ≈ 12·16·2^-24·2 ≈ 2.3e-5
//! absolute only if every rounding went one way; inside 2e-6 + 2e-5·|p| for |p| ≳ 1,
//! and in practice about 20x below the tolerance (the worst measured ratio is printed).

mod common;

use common::tolerance::*;
use downhill::optim::Adan;
use downhill::prelude::*;
use downhill::Error;

const STEPS: u64 = 12;
const SEED: u64 = 20_261_205;
const SHAPES: [&[usize]; 3] = [&[1], &[7], &[3, 5]];
const STATE: [&str; 4] = ["exp_avg", "exp_avg_sq", "exp_avg_diff", "neg_pre_grad"];

/// The reference's hyperparameters, the library's f32 values widened to f64.
#[derive(Clone, Copy, Debug)]
struct Reference {
    lr: f64,
    beta1: f64,
    beta2: f64,
    beta3: f64,
    eps: f64,
    weight_decay: f64,
    no_prox: bool,
}

impl Reference {
    fn of(config: &Adan) -> Reference {
        Reference {
            lr: f64::from(config.lr),
            beta1: f64::from(config.betas.0),
            beta2: f64::from(config.betas.1),
            beta3: f64::from(config.betas.2),
            eps: f64::from(config.eps),
            weight_decay: f64::from(config.weight_decay),
            no_prox: config.no_prox,
        }
    }

    /// Step `t` in place. `state` holds m, n, diff and the previous gradient (the
    /// library's `neg_pre_grad` is its negation).
    fn step(&self, t: u64, p: &mut [f64], state: &mut [Vec<f64>], g: &[f64]) {
        let t = t as i32;
        let bc1 = 1.0 - self.beta1.powi(t);
        let bc2 = 1.0 - self.beta2.powi(t);
        let bc3 = 1.0 - self.beta3.powi(t);
        let [m, n, diff, pre] = state else {
            unreachable!()
        };
        for i in 0..p.len() {
            let g = g[i];
            let prev = if t == 1 { g } else { pre[i] };
            let d = g - prev;
            m[i] = self.beta1 * m[i] + (1.0 - self.beta1) * g;
            diff[i] = self.beta2 * diff[i] + (1.0 - self.beta2) * d;
            let u = g + self.beta2 * d;
            n[i] = self.beta3 * n[i] + (1.0 - self.beta3) * u * u;
            let denom = n[i].sqrt() / bc3.sqrt() + self.eps;
            let wd = self.lr * self.weight_decay;
            if self.no_prox {
                p[i] *= 1.0 - wd;
            }
            p[i] -= self.lr / bc1 * m[i] / denom + self.lr * self.beta2 / bc2 * diff[i] / denom;
            if !self.no_prox {
                p[i] /= 1.0 + wd;
            }
            pre[i] = g;
        }
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

const ATOL: f64 = 2e-6;
const RTOL: f64 = 2e-5;

/// `|got − want| / (ATOL + RTOL·|want|)`: at most 1 passes.
fn ratio(got: f32, want: f64) -> f64 {
    (f64::from(got) - want).abs() / (ATOL + RTOL * want.abs())
}

/// Runs `config` for `STEPS` steps beside the reference, comparing every parameter and
/// state element after every step. Returns the reference's final parameters and state.
fn run(label: &str, config: &Adan, failures: &mut Vec<String>) -> anyhow::Result<Vec<f64>> {
    let pr = problem()?;
    let refs: Vec<&Tensor> = pr.params.iter().collect();
    let mut opt = config.build(&refs)?;
    if opt.name() != "Adan" || opt.state_names() != STATE {
        failures.push(format!(
            "{label}: name {:?}, state {:?}",
            opt.name(),
            opt.state_names()
        ));
    }
    let reference = Reference::of(config);
    let mut p = pr.p0.clone();
    let mut state = vec![vec![0.0; p.len()]; STATE.len()];
    let mut worst = 0.0f64;
    for step in 1..=STEPS {
        opt.step(&pr.loss()?.backward()?)?;
        let g = pr.grad(&p);
        reference.step(step, &mut p, &mut state, &g);
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
                    // neg_pre_grad is the negated previous gradient.
                    let want = if b == 3 { -state[b][j] } else { state[b][j] };
                    pairs.push((name, got_state[b][seg.offset + i], want));
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
    eprintln!("{label}: worst error/tolerance {worst:.3}, moved {moved:.3e}");
    let mut end = p;
    end.extend(state.concat());
    Ok(end)
}

#[test]
fn adan_matches_the_reference_code_over_12_steps_for_every_option() -> anyhow::Result<()> {
    let mut failures = vec![];
    let d = Adan::default();
    assert_eq!(
        (d.lr, d.betas, d.eps, d.weight_decay, d.no_prox),
        (1e-3, (0.98, 0.92, 0.99), 1e-8, 0.0, false)
    );
    run("defaults", &d, &mut failures)?;
    let base = Adan::new(0.05);
    let cases: Vec<(&str, Adan)> = vec![
        ("beta1 0.5", base.clone().betas(0.5, 0.92, 0.99)),
        ("beta2 0.5", base.clone().betas(0.98, 0.5, 0.99)),
        ("beta3 0.5", base.clone().betas(0.98, 0.92, 0.5)),
        ("eps 0.1", base.clone().eps(0.1)),
        ("weight_decay 0.5", base.clone().weight_decay(0.5)),
        (
            "weight_decay 0.5 no_prox",
            base.clone().weight_decay(0.5).no_prox(true),
        ),
        (
            "every option",
            base.clone()
                .betas(0.9, 0.8, 0.95)
                .eps(1e-3)
                .weight_decay(0.3)
                .no_prox(true),
        ),
    ];
    let base_end = run("lr 0.05", &base, &mut failures)?;
    let mut ends = vec![];
    for (label, config) in &cases {
        let end = run(label, config, &mut failures)?;
        let diff = end
            .iter()
            .zip(&base_end)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        if diff < 1e-3 {
            failures.push(format!("{label}: ends within {diff:e} of lr 0.05 alone"));
        }
        ends.push(end);
    }
    // The two ways of decaying differ.
    let prox = &ends[4];
    let no_prox = &ends[5];
    let gap = prox
        .iter()
        .zip(no_prox)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    if gap < 1e-4 {
        failures.push(format!("no_prox changes the end state by only {gap:e}"));
    }
    // Without weight decay no_prox changes nothing (both factors are 1).
    let pr = problem()?;
    let refs: Vec<&Tensor> = pr.params.iter().collect();
    let mut a = base.build(&refs)?;
    let pr2 = problem()?;
    let refs2: Vec<&Tensor> = pr2.params.iter().collect();
    let mut b = base.clone().no_prox(true).build(&refs2)?;
    for _ in 0..3 {
        a.step(&pr.loss()?.backward()?)?;
        b.step(&pr2.loss()?.backward()?)?;
    }
    for (x, y) in pr.params.iter().zip(&pr2.params) {
        assert_eq!(x.to_vec()?, y.to_vec()?);
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    Ok(())
}
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
    config: &Adan,
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
        // NaN spreads to that parameter and its moments; ±inf makes exp_avg_sq infinite
        // for good (and the parameter NaN: inf/inf), on both devices alike. An infinite
        // gradient at the first step meets its own negation: d = inf − inf = NaN.
        pushes[0][0][1] = f32::INFINITY;
        pushes[3][1][4] = f32::NAN;
        pushes[5][3][64] = f32::INFINITY;
        pushes[9][4][0] = f32::NEG_INFINITY;
        pushes[12][4][0] = f32::INFINITY;
    }
    let table: Vec<(&str, Adan)> = vec![
        ("defaults", Adan::default()),
        ("lr 0.01", Adan::new(0.01)),
        (
            "betas (0.5, 0.6, 0.9)",
            Adan::new(0.01).betas(0.5, 0.6, 0.9),
        ),
        ("eps 0.1", Adan::new(0.01).eps(0.1)),
        ("weight_decay 1", Adan::new(0.01).weight_decay(1.0)),
        (
            "weight_decay 1 no_prox",
            Adan::new(0.01).weight_decay(1.0).no_prox(true),
        ),
    ];
    let mut checks = Checks::default();
    for (name, config) in &table {
        let cpu_end = optimize(&cpu, config, &init, &pushes)
            .unwrap_or_else(|e| panic!("{name}: the CPU reference failed: {e}"));
        let gpu_end = optimize(&gpu, config, &init, &pushes)
            .unwrap_or_else(|e| panic!("{name}: the GPU run failed: {e}"));
        // The gradients are identical, so the moments differ only by fused multiply-adds
        // (one rounding fewer, ≤ 2 ulp of the moment per step, decaying by β): with
        // |m| ≤ 1, |diff| ≤ 2, |u| ≤ 1 + 0.92·2 and so |n| ≤ 8.1, ≤ 2·50·EPS·8.1 over 50
        // steps; neg_pre_grad is −g exactly. The parameter carries, per step, 3 ulp of
        // |p| (decay, two additions, division by 1 + lr·wd) and the update's relative
        // difference: Vulkan allows 2.5 ulp per division (four), sqrt as 1/inversesqrt
        // (≈ 5 ulp), 0.5 per other rounding (six): ≈ 18 ulp, 24 with a margin, of the
        // largest one-step change measured on the CPU, plus the moments' difference
        // carried through m/√n (≤ 100·EPS relative).
        let p_max = cpu_end
            .params
            .iter()
            .flatten()
            .filter(|v| v.is_finite())
            .fold(0.0f64, |m, &v| m.max(f64::from(v).abs()));
        let atol_p =
            PARITY_STEPS as f64 * (3.0 * EPS * p_max + (24.0 + 100.0) * EPS * cpu_end.max_step);
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
                Tol::abs(2.0 * PARITY_STEPS as f64 * EPS * 8.1),
            );
        }
        let all = || cpu_end.params.iter().chain(&cpu_end.state).flatten();
        if poison && !all().any(|v| v.is_nan()) {
            checks.fail(format!("{what} {name}: the NaN gradient left no NaN"));
        }
        if poison && !cpu_end.state[1].iter().any(|v| v.is_infinite()) {
            checks.fail(format!("{what} {name}: the infinite gradient left no inf"));
        }
        if !poison && cpu_end.max_step == 0.0 {
            checks.fail(format!("{what} {name}: nothing moved"));
        }
    }
    checks.finish(what);
}

#[test]
fn adan_cpu_and_gpu_agree_over_50_steps() {
    parity("Adan", false);
}

#[test]
fn adan_cpu_and_gpu_agree_on_nan_and_infinite_gradients() {
    parity("Adan non-finite", true);
}

#[test]
fn bad_adan_hyperparameters_are_typed_errors() {
    let leaf = Device::cpu()
        .tensor(vec![0.5, -0.25, 1.0], [3])
        .expect("tensor")
        .param();
    let cases: Vec<(&str, Adan)> = vec![
        ("lr", Adan::new(-1.0)),
        ("lr", Adan::new(f32::NAN)),
        ("beta1", Adan::default().betas(1.0, 0.92, 0.99)),
        ("beta2", Adan::default().betas(0.98, -0.1, 0.99)),
        ("beta3", Adan::default().betas(0.98, 0.92, 1.5)),
        ("eps", Adan::default().eps(0.0)),
        ("weight_decay", Adan::default().weight_decay(-0.5)),
        ("weight_decay", Adan::default().weight_decay(f32::INFINITY)),
    ];
    for (name, config) in cases {
        match config.build(&[&leaf]) {
            Err(Error::Hyperparameter { name: got, .. }) if got == name => {}
            Err(e) => panic!("{config:?}: expected a Hyperparameter error on {name}, got {e:?}"),
            Ok(_) => panic!("{config:?}: expected a Hyperparameter error on {name}, it built"),
        }
    }
    let group = |g: ParamGroup| Adan::default().build_groups(vec![g]);
    assert!(matches!(
        group(ParamGroup::new(&[&leaf]).set("beta3", 1.0f32)),
        Err(Error::Hyperparameter { name: "beta3", .. })
    ));
    assert!(matches!(
        group(ParamGroup::new(&[&leaf]).set("no_prox", 1.0f32)),
        Err(Error::Config(_))
    ));
}

/// Two groups (the second with its own lr and no weight decay) step exactly as two
/// separate optimizers would, and a `state_dict` taken after 4 steps resumes bit for bit
/// (the previous gradient travels in `neg_pre_grad`).
#[test]
fn adan_param_groups_and_state_dict_round_trip() {
    let config = Adan::new(0.05).weight_decay(0.5);
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
        assert_ne!(b.to_vec().unwrap(), vec![1.0, 0.25]);
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
fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// On the GPU a step over five parameters is one dispatch and one submission, with no
/// allocation, upload or download (every per-step scalar is in the uniform); two groups
/// take two dispatches.
#[test]
fn adan_step_is_one_dispatch_without_a_round_trip() {
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
    let config = Adan::new(0.01).weight_decay(0.1);
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
