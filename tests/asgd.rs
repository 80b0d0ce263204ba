//! ASGD (`downhill::optim::Asgd`) against a reference written here in f64 from
//! `torch.optim.ASGD`'s single-tensor code (`_single_tensor_asgd`), which updates the
//! parameter with the `eta` and `mu` its state holds (those the previous step computed)
//! and only then refreshes them:
//!
//! ```text
//! (state: eta = lr, mu = 1, ax = 0)
//! g ← −g (maximize);  g ← g + wd·p
//! p ← p·(1 − lambd·eta);   p ← p − eta·g
//! ax ← p if mu = 1, else ax + (p − ax)·mu
//! eta ← lr / (1 + lambd·lr·t)^alpha;   mu ← 1 / max(1, t − t0)
//! ```
//!
//! over 12 steps for every option (t0 = 3 and 2.5 start the averaging inside the run;
//! lambd 0.5 makes `eta` change by a few percent per step, so using the current step's
//! `eta` instead of the stored one would fail by far). Then CPU-vs-GPU parity over 50
//! steps (finite and non-finite gradients), typed errors for bad hyperparameters,
//! parameter groups and a `state_dict` round trip.
//!
//! Reference set-up (as `tests/lion.rs`): three parameters of sizes 1, 7 and 3x5,
//! `loss = Σ sum(c ⊙ p²)/2 + sum(d ⊙ p)`, so `∇ = c ⊙ p + d`, `c ∈ [0.5, 1.5)`,
//! `d = sign(p)·[0.5, 1)`; the reference recomputes the gradient from its own parameters.
//!
//! Tolerance (reference): `|lib − ref| ≤ 1e-6 + 1e-5·|ref|` for the parameters and `ax`.
//! Per step the library rounds the gradient twice (the autodiff product and sum), the
//! penalty twice, the update three times, and `eta`, `mu` and the decay factor once each
//! (to f32): ≤ 10·2^-24 ≈ 6e-7 relative of the step's terms, and a parameter's error feeds
//! back only through `eta·c ≤ 0.15` per step (the contraction `1 − eta·c` keeps it from
//! growing): after 12 steps ≤ 12·6e-7 ≈ 7e-6 relative in the worst case of every
//! rounding in one direction, inside 1e-5; `ax` is a convex combination of parameters
//! plus two roundings per step. atol 1e-6 covers elements near 0. The worst measured
//! ratio is printed.

mod common;

use common::tolerance::*;
use downhill::optim::Asgd;
use downhill::prelude::*;
use downhill::Error;

const STEPS: u64 = 12;
const SEED: u64 = 20_261_204;
const SHAPES: [&[usize]; 3] = [&[1], &[7], &[3, 5]];
const STATE: [&str; 1] = ["ax"];

/// The reference's hyperparameters, the library's f32 values widened to f64, and the
/// state scalars PyTorch keeps per parameter.
#[derive(Clone, Copy, Debug)]
struct Reference {
    lr: f64,
    lambd: f64,
    alpha: f64,
    t0: f64,
    weight_decay: f64,
    maximize: bool,
    eta: f64,
    mu: f64,
}

impl Reference {
    fn of(config: &Asgd) -> Reference {
        Reference {
            lr: f64::from(config.lr),
            lambd: f64::from(config.lambd),
            alpha: f64::from(config.alpha),
            t0: f64::from(config.t0),
            weight_decay: f64::from(config.weight_decay),
            maximize: config.maximize,
            eta: f64::from(config.lr),
            mu: 1.0,
        }
    }

    /// Step `t` in place; returns whether it averaged (mu ≠ 1).
    fn step(&mut self, t: u64, p: &mut [f64], state: &mut [Vec<f64>], g: &[f64]) -> bool {
        let [ax] = state else { unreachable!() };
        let averaged = self.mu != 1.0;
        for i in 0..p.len() {
            let mut g = if self.maximize { -g[i] } else { g[i] };
            g += self.weight_decay * p[i];
            p[i] *= 1.0 - self.lambd * self.eta;
            p[i] -= self.eta * g;
            ax[i] = if averaged {
                ax[i] + (p[i] - ax[i]) * self.mu
            } else {
                p[i]
            };
        }
        let t = t as f64;
        self.eta = self.lr / (1.0 + self.lambd * self.lr * t).powf(self.alpha);
        self.mu = 1.0 / f64::max(1.0, t - self.t0);
        averaged
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
const RTOL: f64 = 1e-5;

/// `|got − want| / (ATOL + RTOL·|want|)`: at most 1 passes.
fn ratio(got: f32, want: f64) -> f64 {
    (f64::from(got) - want).abs() / (ATOL + RTOL * want.abs())
}

/// Runs `config` for `STEPS` steps beside the reference, comparing every parameter and
/// `ax` element after every step. Returns the reference's final parameters and `ax`, and
/// the steps that averaged.
fn run(
    label: &str,
    config: &Asgd,
    failures: &mut Vec<String>,
) -> anyhow::Result<(Vec<f64>, Vec<u64>)> {
    let pr = problem()?;
    let refs: Vec<&Tensor> = pr.params.iter().collect();
    let mut opt = config.build(&refs)?;
    if opt.name() != "ASGD" || opt.state_names() != STATE {
        failures.push(format!(
            "{label}: name {:?}, state {:?}",
            opt.name(),
            opt.state_names()
        ));
    }
    let mut reference = Reference::of(config);
    let mut p = pr.p0.clone();
    let mut state = vec![vec![0.0; p.len()]; STATE.len()];
    let mut averaged = vec![];
    let mut worst = 0.0f64;
    for step in 1..=STEPS {
        opt.step(&pr.loss()?.backward()?)?;
        let g = pr.grad(&p);
        if reference.step(step, &mut p, &mut state, &g) {
            averaged.push(step);
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
        "{label}: worst error/tolerance {worst:.3}, moved {moved:.3e}, averaged {averaged:?}"
    );
    let mut end = p;
    end.extend(state.concat());
    Ok((end, averaged))
}

#[test]
fn asgd_matches_pytorch_over_12_steps_for_every_option() -> anyhow::Result<()> {
    let mut failures = vec![];
    let d = Asgd::default();
    assert_eq!(
        (d.lr, d.lambd, d.alpha, d.t0, d.weight_decay, d.maximize),
        (1e-2, 1e-4, 0.75, 1e6, 0.0, false)
    );
    run("defaults", &d, &mut failures)?;
    let base = Asgd::new(0.1);
    let cases: Vec<(&str, Asgd)> = vec![
        ("lambd 0.5", base.clone().lambd(0.5)),
        ("lambd 0.5 alpha 0.25", base.clone().lambd(0.5).alpha(0.25)),
        ("t0 3", base.clone().t0(3.0)),
        ("t0 2.5", base.clone().t0(2.5)),
        ("weight_decay 0.5", base.clone().weight_decay(0.5)),
        ("maximize", base.clone().maximize(true)),
        (
            "every option",
            base.clone()
                .lambd(0.3)
                .alpha(1.5)
                .t0(4.0)
                .weight_decay(0.3)
                .maximize(true),
        ),
    ];
    let (base_end, _) = run("lr 0.1", &base, &mut failures)?;
    for (label, config) in &cases {
        let (end, averaged) = run(label, config, &mut failures)?;
        // mu = 1/max(1, t − 1 − t0) first differs from 1 at step ⌊t0⌋ + 3 (t0 = 2.5: 1/1.5
        // at step 5).
        let first = match *label {
            "t0 3" => Some(6),
            "t0 2.5" => Some(5),
            "every option" => Some(7),
            _ => None,
        };
        if averaged.first().copied() != first {
            failures.push(format!("{label}: averaged at steps {averaged:?}"));
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

/// The scalars the rule carries are PyTorch's state values when a step begins: `eta = lr`
/// and `mu = 1` at step 1, then those step `t − 1` computed.
#[test]
fn asgd_eta_and_mu_are_the_previous_steps() {
    let config = Asgd::new(0.5).lambd(2.0).alpha(0.5).t0(1.0);
    assert_eq!(config.eta_mu(1), (0.5, 1.0));
    // After step 1: eta = 0.5 / (1 + 2·0.5·1)^0.5 = 0.5/√2, mu = 1/max(1, 1 − 1) = 1.
    assert_eq!(config.eta_mu(2), ((0.5 / 2f64.sqrt()) as f32, 1.0));
    // After step 3: eta = 0.5/√4 = 0.25, mu = 1/max(1, 3 − 1) = 0.5.
    assert_eq!(config.eta_mu(4), (0.25, 0.5));
    // One parameter, gradient 1: step 1 uses eta 0.5 and the decay 1 − 2·0.5 = 0.
    let p = Device::cpu().tensor(vec![3.0], [1]).unwrap().param();
    let mut opt = config.build(&[&p]).unwrap();
    opt.step(&p.sum().unwrap().backward().unwrap()).unwrap();
    assert_eq!(p.to_vec().unwrap(), [3.0 * 0.0 - 0.5]);
    assert_eq!(opt.state_to_vec(0).unwrap()[0], -0.5);
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
    config: &Asgd,
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
        // NaN spreads to that parameter and its average; ±inf makes the parameter infinite
        // (then NaN once +inf and -inf meet), on both devices alike.
        pushes[3][1][4] = f32::NAN;
        pushes[5][3][64] = f32::INFINITY;
        pushes[9][4][0] = f32::NEG_INFINITY;
        pushes[12][4][0] = f32::INFINITY;
    }
    let table: Vec<(&str, Asgd)> = vec![
        ("defaults", Asgd::default()),
        ("lambd 0.5 alpha 0.5", Asgd::new(0.01).lambd(0.5).alpha(0.5)),
        ("t0 10", Asgd::new(0.01).t0(10.0)),
        ("weight_decay 1", Asgd::new(0.01).weight_decay(1.0)),
        ("maximize", Asgd::new(0.01).maximize(true).t0(20.0)),
    ];
    let mut checks = Checks::default();
    for (name, config) in &table {
        let cpu_end = optimize(&cpu, config, &init, &pushes)
            .unwrap_or_else(|e| panic!("{name}: the CPU reference failed: {e}"));
        let gpu_end = optimize(&gpu, config, &init, &pushes)
            .unwrap_or_else(|e| panic!("{name}: the GPU run failed: {e}"));
        // Identical gradients and scalars; a kernel may fuse a multiply-add (one rounding
        // fewer) in the update and in the average, so each step may leave p and ax one
        // ulp apart each, and the decay (≤ 1) does not grow a difference: over 50 steps
        // |Δp| ≤ 50·EPS·max|p|, and ax (a convex combination of parameters, rounded once
        // more per step) ≤ 2·50·EPS·max|p|.
        let p_max = cpu_end
            .params
            .iter()
            .flatten()
            .filter(|v| v.is_finite())
            .fold(0.0f64, |m, &v| m.max(f64::from(v).abs()));
        let atol = 2.0 * PARITY_STEPS as f64 * EPS * p_max;
        for (i, (c, g)) in cpu_end.params.iter().zip(&gpu_end.params).enumerate() {
            checks.close(
                &format!("{what} {name}: parameter {i}"),
                c,
                g,
                Tol::abs(atol),
            );
        }
        checks.close(
            &format!("{what} {name}: ax"),
            &cpu_end.state[0],
            &gpu_end.state[0],
            Tol::abs(atol),
        );
        let all = || cpu_end.params.iter().chain(&cpu_end.state).flatten();
        if poison && !all().any(|v| v.is_nan()) {
            checks.fail(format!("{what} {name}: the NaN gradient left no NaN"));
        }
        // With the L2 penalty the infinite parameter feeds NaN back into the gradient.
        if poison && config.weight_decay == 0.0 && !all().any(|v| v.is_infinite()) {
            checks.fail(format!("{what} {name}: the infinite gradient left no inf"));
        }
        if !poison && cpu_end.max_step == 0.0 {
            checks.fail(format!("{what} {name}: nothing moved"));
        }
    }
    checks.finish(what);
}

#[test]
fn asgd_cpu_and_gpu_agree_over_50_steps() {
    parity("ASGD", false);
}

#[test]
fn asgd_cpu_and_gpu_agree_on_nan_and_infinite_gradients() {
    parity("ASGD non-finite", true);
}

#[test]
fn bad_asgd_hyperparameters_are_typed_errors() {
    let leaf = Device::cpu()
        .tensor(vec![0.5, -0.25, 1.0], [3])
        .expect("tensor")
        .param();
    let cases: Vec<(&str, Asgd)> = vec![
        ("lr", Asgd::new(-1.0)),
        ("lr", Asgd::new(f32::NAN)),
        ("lambd", Asgd::default().lambd(-1e-4)),
        ("alpha", Asgd::default().alpha(f32::INFINITY)),
        ("alpha", Asgd::default().alpha(-0.75)),
        ("t0", Asgd::default().t0(f32::NAN)),
        ("weight_decay", Asgd::default().weight_decay(-0.5)),
    ];
    for (name, config) in cases {
        match config.build(&[&leaf]) {
            Err(Error::Hyperparameter { name: got, .. }) if got == name => {}
            Err(e) => panic!("{config:?}: expected a Hyperparameter error on {name}, got {e:?}"),
            Ok(_) => panic!("{config:?}: expected a Hyperparameter error on {name}, it built"),
        }
    }
    // A negative t0 (averaging from the start) is PyTorch's too.
    assert!(Asgd::default().t0(-5.0).build(&[&leaf]).is_ok());
    let group = |g: ParamGroup| Asgd::default().build_groups(vec![g]);
    assert!(matches!(
        group(ParamGroup::new(&[&leaf]).set("lambd", -1.0f32)),
        Err(Error::Hyperparameter { name: "lambd", .. })
    ));
    assert!(matches!(
        group(ParamGroup::new(&[&leaf]).betas(0.9, 0.99)),
        Err(Error::Config(_))
    ));
}

/// Two groups (the second with its own lr, whose eta then decays from it) step exactly as
/// two separate optimizers would, and a `state_dict` taken after 4 steps (before the
/// averaging starts) resumes bit for bit.
#[test]
fn asgd_param_groups_and_state_dict_round_trip() {
    let config = Asgd::new(0.05).lambd(0.5).t0(5.0).weight_decay(0.1);
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
        // ax is averaged by now: not the parameters.
        let ax = opt.state_to_vec(0).unwrap();
        let seg = &opt.param_set().segments()[0];
        assert_ne!(
            bits(&ax[seg.offset..seg.offset + 3]),
            bits(&a.to_vec().unwrap())
        );
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
fn asgd_step_is_one_dispatch_without_a_round_trip() {
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
    let config = Asgd::new(0.01).t0(0.0);
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
