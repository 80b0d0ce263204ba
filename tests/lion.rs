//! Lion (`downhill::optim::Lion`) against a reference written here in f64 from the paper,
//! Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms" (arXiv:2302.06675),
//! Program 1, in the order its reference code `lion_pytorch` applies it:
//!
//! ```text
//! p ← p · (1 − lr·wd)                      (decoupled weight decay)
//! c = β1·m + (1 − β1)·g;   p ← p − lr · sign(c)
//! m ← β2·m + (1 − β2)·g                    (m = exp_avg, initially 0)
//! ```
//!
//! with `g` negated first under `maximize` (the option PyTorch's optimizers have), and
//! `sign(0) = 0`. Then CPU-vs-GPU parity over 50 steps (finite and non-finite gradients),
//! and typed errors for bad hyperparameters.
//!
//! Reference set-up (as `tests/optimizers.rs`): three parameters of sizes 1, 7 and 3x5,
//! `loss = Σ sum(c ⊙ p²)/2 + sum(d ⊙ p)`, so `∇ = c ⊙ p + d`, with `c ∈ [0.5, 1.5)`,
//! `d = sign(p)·[0.5, 1)`; the reference recomputes the gradient from its own parameters.
//!
//! Tolerance (reference): an element passes when `|lib − ref| ≤ 1e-6 + 1e-5·|ref|`. The
//! update `lr·sign(c)` is exact unless the sign differs, so a parameter carries only the
//! rounding of `p·(1 − lr·wd)` and of the subtraction, plus the f32 rounding of the decay
//! factor: ≤ 3·2^-24 relative per step, ≈ 1.8e-6 after 10 steps, within 1e-5 with a
//! margin of 5x. The momentum carries the f32 gradient (3 roundings: the autodiff product,
//! sum and the rule's negation-free add) and its own update (3 roundings) per step,
//! contracting by β2: ≤ 10·6·2^-24 ≈ 3.6e-6 relative; atol 1e-6 covers components near 0
//! (of order ulp(1) ≈ 1.2e-7 there). The sign can only differ when `|c|` is below its
//! own f32 error (≤ 1e-6 · max(|m|, |g|) ≤ 3e-6 here); every case asserts that the
//! reference's smallest `|c|` stays above 1e-5, so a sign flip cannot pass unnoticed as
//! a tolerance question.

mod common;

use common::tolerance::*;
use downhill::optim::Lion;
use downhill::prelude::*;
use downhill::Error;

const STEPS: u64 = 10;
const SEED: u64 = 20_240_601;
const SHAPES: [&[usize]; 3] = [&[1], &[7], &[3, 5]];

/// The reference's hyperparameters, f32-rounded values widened to f64 (what the library
/// stores), so `1 − β` is the same number on both sides.
#[derive(Clone, Copy, Debug)]
struct Reference {
    lr: f64,
    beta1: f64,
    beta2: f64,
    weight_decay: f64,
    maximize: bool,
}

impl Reference {
    fn of(config: &Lion) -> Reference {
        Reference {
            lr: f64::from(config.lr),
            beta1: f64::from(config.betas.0),
            beta2: f64::from(config.betas.1),
            weight_decay: f64::from(config.weight_decay),
            maximize: config.maximize,
        }
    }

    /// One step in place; returns the smallest `|c|` seen (see the module docs).
    fn step(&self, p: &mut [f64], m: &mut [f64], g: &[f64]) -> f64 {
        let mut smallest = f64::INFINITY;
        for i in 0..p.len() {
            let g = if self.maximize { -g[i] } else { g[i] };
            p[i] *= 1.0 - self.lr * self.weight_decay;
            let c = self.beta1 * m[i] + (1.0 - self.beta1) * g;
            smallest = smallest.min(c.abs());
            let sign = if c > 0.0 {
                1.0
            } else if c < 0.0 {
                -1.0
            } else {
                0.0
            };
            p[i] -= self.lr * sign;
            m[i] = self.beta2 * m[i] + (1.0 - self.beta2) * g;
        }
        smallest
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

fn within(got: f32, want: f64) -> bool {
    (f64::from(got) - want).abs() <= 1e-6 + 1e-5 * want.abs()
}

/// Runs `config` for `STEPS` steps beside the reference, comparing every parameter and
/// momentum element after every step. Returns the reference's final (params, momentum).
fn run(
    label: &str,
    config: &Lion,
    failures: &mut Vec<String>,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let pr = problem()?;
    let refs: Vec<&Tensor> = pr.params.iter().collect();
    let mut opt = config.build(&refs)?;
    if opt.name() != "Lion" || opt.state_names() != ["exp_avg"] {
        failures.push(format!(
            "{label}: name {:?}, state {:?}",
            opt.name(),
            opt.state_names()
        ));
    }
    let reference = Reference::of(config);
    let mut p = pr.p0.clone();
    let mut m = vec![0.0; p.len()];
    let mut smallest = f64::INFINITY;
    for step in 1..=STEPS {
        opt.step(&pr.loss()?.backward()?)?;
        let g = pr.grad(&p);
        smallest = smallest.min(reference.step(&mut p, &mut m, &g));
        let momentum = opt.state_to_vec(0)?;
        let mut offset = 0;
        for (k, (param, seg)) in pr.params.iter().zip(opt.param_set().segments()).enumerate() {
            let n = pr.sizes[k];
            let got_p = param.to_vec()?;
            let got_m = &momentum[seg.offset..seg.offset + seg.len];
            for i in 0..n {
                let (want_p, want_m) = (p[offset + i], m[offset + i]);
                if !within(got_p[i], want_p) || !within(got_m[i], want_m) {
                    failures.push(format!(
                        "{label}: step {step}, parameter {k} index {i}: downhill p {:.9e} m \
                         {:.9e}, reference p {want_p:.9e} m {want_m:.9e}",
                        got_p[i], got_m[i]
                    ));
                }
            }
            offset += n;
        }
    }
    if smallest < 1e-5 {
        failures.push(format!(
            "{label}: the reference's |c| fell to {smallest:e}, near a sign change where \
             f32 rounding may flip the update: choose another case"
        ));
    }
    let moved = p
        .iter()
        .zip(&pr.p0)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    if moved < 5e-4 {
        failures.push(format!("{label}: parameters moved only {moved:e}"));
    }
    eprintln!("{label}: smallest |c| {smallest:.3e}, moved {moved:.3e}");
    Ok((p, m))
}

#[test]
fn lion_matches_the_paper_over_10_steps_for_every_option() -> anyhow::Result<()> {
    let mut failures = vec![];
    // The defaults are the paper's.
    let defaults = Lion::default();
    assert_eq!(
        (
            defaults.lr,
            defaults.betas,
            defaults.weight_decay,
            defaults.maximize
        ),
        (1e-4, (0.9, 0.99), 0.0, false)
    );
    run("defaults", &defaults, &mut failures)?;
    // lr 0.2 moves the parameters past the minimum (at distance |g|/c ≥ 1/3), so the
    // gradient changes sign and the betas change the trajectory, not just the momentum.
    let base = Lion::new(0.2);
    let cases: Vec<(&str, Lion)> = vec![
        ("beta1 0.5", base.clone().betas(0.5, 0.99)),
        ("beta2 0.5", base.clone().betas(0.9, 0.5)),
        ("betas (0, 0)", base.clone().betas(0.0, 0.0)),
        ("weight_decay 0.5", base.clone().weight_decay(0.5)),
        ("maximize", base.clone().maximize(true)),
        (
            "every option",
            base.clone()
                .betas(0.8, 0.95)
                .weight_decay(0.3)
                .maximize(true),
        ),
    ];
    let (base_p, base_m) = run("lr 0.2", &base, &mut failures)?;
    for (label, config) in &cases {
        let (p, m) = run(label, config, &mut failures)?;
        // Each option must change the end state well beyond the tolerance.
        let diff = p
            .iter()
            .zip(&base_p)
            .chain(m.iter().zip(&base_m))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        if diff < 1e-3 {
            failures.push(format!("{label}: ends within {diff:e} of lr 0.2 alone"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    Ok(())
}

// ---------------------------------------------------------------- CPU-vs-GPU parity

const PARITY_STEPS: usize = 50;
/// Flat segments padded to 64: a single element, non-multiples of 4 and 256.
const PARITY_SHAPES: [&[usize]; 5] = [&[3], &[7, 5], &[1], &[65], &[13, 11]];

/// 50 steps of `loss = Σ sum(p ⊙ c_t)` (gradient exactly `c_t` on both devices, so only the
/// update kernels differ); returns every parameter and the momentum.
fn optimize(
    device: &Device,
    config: &Lion,
    init: &[Vec<f32>],
    pushes: &[Vec<Vec<f32>>],
) -> downhill::Result<(Vec<Vec<f32>>, Vec<f32>)> {
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
    let values = params
        .iter()
        .map(Tensor::to_vec)
        .collect::<downhill::Result<_>>()?;
    Ok((values, opt.state_to_vec(0)?))
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
        // NaN, +inf and -inf gradients in a few places and steps: sign(NaN) = NaN spreads
        // to that parameter and its momentum; ±inf makes the momentum infinite (then NaN
        // once +inf and -inf meet), on both devices alike.
        pushes[3][1][4] = f32::NAN;
        pushes[5][3][64] = f32::INFINITY;
        pushes[9][4][0] = f32::NEG_INFINITY;
        pushes[12][4][0] = f32::INFINITY;
    }
    let table: Vec<(&str, Lion)> = vec![
        ("defaults", Lion::default()),
        ("lr 0.01", Lion::new(0.01)),
        ("betas (0.5, 0.8)", Lion::new(0.01).betas(0.5, 0.8)),
        ("weight_decay 1", Lion::new(0.01).weight_decay(1.0)),
        ("maximize", Lion::new(0.01).maximize(true)),
    ];
    let mut checks = Checks::default();
    for (name, config) in &table {
        let (ref_p, ref_m) = optimize(&cpu, config, &init, &pushes)
            .unwrap_or_else(|e| panic!("{name}: the CPU reference failed: {e}"));
        let (gpu_p, gpu_m) = optimize(&gpu, config, &init, &pushes)
            .unwrap_or_else(|e| panic!("{name}: the GPU run failed: {e}"));
        // Both devices compute the same f32 operations on identical gradients; a kernel
        // may fuse a multiply-add (one rounding fewer), so each step may leave p and m up
        // to one ulp apart (the update lr·sign(c) itself is exact, and equal unless c sits
        // within an ulp of 0 on one side). Over 50 steps: |Δ| ≤ 50·EPS·max|value|; 2x for
        // the decay factor's feedback. |p| ≤ 1 + 50·lr ≤ 1.5 and |m| ≤ 1, so atol
        // 2·50·EPS·1.5 (≈ 1.8e-5) bounds both.
        let atol = 2.0 * PARITY_STEPS as f64 * EPS * 1.5;
        for (i, (c, g)) in ref_p.iter().zip(&gpu_p).enumerate() {
            checks.close(
                &format!("{what} {name}: parameter {i}"),
                c,
                g,
                Tol::abs(atol),
            );
        }
        checks.close(
            &format!("{what} {name}: exp_avg"),
            &ref_m,
            &gpu_m,
            Tol::abs(atol),
        );
        if poison && !ref_m.iter().any(|v| v.is_nan()) {
            checks.fail(format!("{what} {name}: the NaN gradient left no NaN"));
        }
        if poison && !ref_m.iter().any(|v| v.is_infinite()) {
            checks.fail(format!("{what} {name}: the infinite gradient left no inf"));
        }
    }
    checks.finish(what);
}

#[test]
fn lion_cpu_and_gpu_agree_over_50_steps() {
    parity("Lion", false);
}

#[test]
fn lion_cpu_and_gpu_agree_on_nan_and_infinite_gradients() {
    parity("Lion non-finite", true);
}

#[test]
fn bad_lion_hyperparameters_are_typed_errors() {
    let leaf = Device::cpu()
        .tensor(vec![0.5, -0.25, 1.0], [3])
        .expect("tensor")
        .param();
    let cases: Vec<(&str, Lion)> = vec![
        ("lr", Lion::new(-1.0)),
        ("lr", Lion::new(f32::NAN)),
        ("beta1", Lion::new(1e-4).betas(1.5, 0.99)),
        ("beta1", Lion::new(1e-4).betas(-0.1, 0.99)),
        ("beta2", Lion::new(1e-4).betas(0.9, 1.01)),
        ("weight_decay", Lion::new(1e-4).weight_decay(-0.5)),
        ("weight_decay", Lion::new(1e-4).weight_decay(f32::INFINITY)),
    ];
    for (name, config) in cases {
        match config.build(&[&leaf]) {
            Err(Error::Hyperparameter { name: got, .. }) if got == name => {}
            Err(e) => panic!("{config:?}: expected a Hyperparameter error on {name}, got {e:?}"),
            Ok(_) => panic!("{config:?}: expected a Hyperparameter error on {name}, it built"),
        }
    }
    // The edges of [0, 1] are valid betas (β1 = 1: the sign of the momentum alone).
    assert!(Lion::new(1e-4).betas(1.0, 0.0).build(&[&leaf]).is_ok());
}

/// The devices to run on: the CPU, and the GPU when there is one.
fn devices() -> Vec<Device> {
    std::iter::once(common::cpu())
        .chain(common::gpu())
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Per-group settings go through the generic seam: two groups (the second with its own lr
/// and no weight decay) step exactly as two separate optimizers would, and a
/// `state_dict` taken after 4 steps resumes bit for bit.
#[test]
fn lion_param_groups_and_state_dict_round_trip() {
    let config = Lion::new(0.05).weight_decay(0.5);
    for device in devices() {
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
        // Grouped, 8 steps.
        let (a, b) = make();
        let mut opt = grouped(&a, &b);
        for _ in 0..8 {
            opt.step(&loss(&a, &b).backward().unwrap()).unwrap();
        }
        // Separate optimizers with each group's settings.
        let (a1, b1) = make();
        let mut oa = config.build(&[&a1]).unwrap();
        let mut ob = Lion::new(0.02).build(&[&b1]).unwrap();
        for _ in 0..8 {
            let grads = loss(&a1, &b1).backward().unwrap();
            oa.step(&grads).unwrap();
            ob.step(&grads).unwrap();
        }
        assert_eq!(bits(&a.to_vec().unwrap()), bits(&a1.to_vec().unwrap()));
        assert_eq!(bits(&b.to_vec().unwrap()), bits(&b1.to_vec().unwrap()));
        // 4 steps, state_dict, a fresh optimizer loads it and takes the other 4.
        let (a2, b2) = make();
        let mut first = grouped(&a2, &b2);
        for _ in 0..4 {
            first.step(&loss(&a2, &b2).backward().unwrap()).unwrap();
        }
        let state = first.state_dict().unwrap();
        assert_eq!(state.buffers[0].name, "exp_avg");
        let a3 = device.tensor(a2.to_vec().unwrap(), [3]).unwrap().param();
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
