//! Rprop (`downhill::optim::Rprop`) against a reference written here in f64 from
//! `torch.optim.Rprop`'s single-tensor code (`_single_tensor_rprop`):
//!
//! ```text
//! g ← −g (maximize)
//! s = sign(g·prev);  η = etaplus (s > 0), etaminus (s < 0), 1 (s = 0)
//! step_size ← clamp(step_size·η, step_size_min, step_size_max)
//! g ← 0 where s < 0 (grad[sign.eq(etaminus)] = 0)
//! p ← p − sign(g)·step_size;   prev ← g       (prev = 0, step_size = lr initially)
//! ```
//!
//! over 12 steps for every option. Then CPU-vs-GPU parity over 50 steps (finite and
//! non-finite gradients), typed errors for bad hyperparameters, the initial step sizes of
//! parameter groups with their own lr, and a `state_dict` round trip.
//!
//! Reference set-up (as `tests/lion.rs`): three parameters of sizes 1, 7 and 3x5,
//! `loss = Σ sum(c ⊙ p²)/2 + sum(d ⊙ p)`, so `∇ = c ⊙ p + d`, `c ∈ [0.5, 1.5)`,
//! `d = sign(p)·[0.5, 1)`; the reference recomputes the gradient from its own parameters.
//!
//! Tolerance (reference): `|lib − ref| ≤ 1e-6 + 1e-5·|ref|`. The step sizes are products
//! of at most 12 f32-rounded factors (the etas are the same f32 values on both sides):
//! ≤ 12·2^-24 ≈ 7.2e-7 relative. A parameter changes by ±step_size per step with one
//! rounding of |p| (≤ 4 here): after 12 steps its error is at most
//! 12·2^-24·4 + 7.2e-7·Σ step sizes (≤ 3) ≈ 5e-6, inside 1e-6 + 1e-5·|p| wherever |p| ≳ 0.4,
//! and in practice far smaller (roundings do not all go one way: the worst measured is
//! about 12% of the tolerance). `prev` is the f32 gradient `c·p + d` (two roundings, and
//! c times the parameter's error). What no tolerance could absorb is a different sign of
//! `g·prev`, which changes a step size by a factor: every case asserts that the
//! reference's smallest nonzero |g| stays above 1e-4, 100x the largest error of g, so no
//! sign differs and every comparison is a rounding question.

mod common;

use common::tolerance::*;
use downhill::optim::Rprop;
use downhill::prelude::*;
use downhill::Error;

const STEPS: u64 = 12;
const SEED: u64 = 20_261_203;
const SHAPES: [&[usize]; 3] = [&[1], &[7], &[3, 5]];
const STATE: [&str; 2] = ["prev", "step_size"];

/// The reference's hyperparameters, the library's f32 values widened to f64.
#[derive(Clone, Copy, Debug)]
struct Reference {
    etaminus: f64,
    etaplus: f64,
    min: f64,
    max: f64,
    maximize: bool,
}

fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x
    }
}

impl Reference {
    fn of(config: &Rprop) -> Reference {
        Reference {
            etaminus: f64::from(config.etas.0),
            etaplus: f64::from(config.etas.1),
            min: f64::from(config.step_sizes.0),
            max: f64::from(config.step_sizes.1),
            maximize: config.maximize,
        }
    }

    /// One step in place; returns the smallest nonzero |g| and how many step sizes shrank.
    fn step(&self, p: &mut [f64], state: &mut [Vec<f64>], g: &[f64]) -> (f64, usize) {
        let [prev, step_size] = state else {
            unreachable!()
        };
        let mut smallest = f64::INFINITY;
        let mut shrunk = 0;
        for i in 0..p.len() {
            let mut g = if self.maximize { -g[i] } else { g[i] };
            if g != 0.0 {
                smallest = smallest.min(g.abs());
            }
            let s = sign(g * prev[i]);
            let eta = if s > 0.0 {
                self.etaplus
            } else if s < 0.0 {
                shrunk += 1;
                self.etaminus
            } else {
                1.0
            };
            step_size[i] = (step_size[i] * eta).clamp(self.min, self.max);
            if s < 0.0 {
                g = 0.0;
            }
            p[i] -= sign(g) * step_size[i];
            prev[i] = g;
        }
        (smallest, shrunk)
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
/// state element after every step. Returns the reference's final parameters and state.
fn run(label: &str, config: &Rprop, failures: &mut Vec<String>) -> anyhow::Result<Vec<f64>> {
    let pr = problem()?;
    let refs: Vec<&Tensor> = pr.params.iter().collect();
    let mut opt = config.build(&refs)?;
    if opt.name() != "Rprop" || opt.state_names() != STATE {
        failures.push(format!(
            "{label}: name {:?}, state {:?}",
            opt.name(),
            opt.state_names()
        ));
    }
    let reference = Reference::of(config);
    let mut p = pr.p0.clone();
    let mut state = vec![vec![0.0; p.len()], vec![f64::from(config.lr); p.len()]];
    let (mut smallest, mut shrunk) = (f64::INFINITY, 0);
    let mut worst = 0.0f64;
    for step in 1..=STEPS {
        opt.step(&pr.loss()?.backward()?)?;
        let g = pr.grad(&p);
        let (small, shrank) = reference.step(&mut p, &mut state, &g);
        smallest = smallest.min(small);
        shrunk += shrank;
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
    if smallest < 1e-4 {
        failures.push(format!(
            "{label}: the reference's |g| fell to {smallest:e}, where f32 rounding may flip \
             a sign: choose another case"
        ));
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
        "{label}: worst error/tolerance {worst:.3}, moved {moved:.3e}, smallest |g| \
         {smallest:.3e}, {shrunk} step sizes shrank"
    );
    let mut end = p;
    end.extend(state.concat());
    Ok(end)
}

#[test]
fn rprop_matches_pytorch_over_12_steps_for_every_option() -> anyhow::Result<()> {
    let mut failures = vec![];
    let d = Rprop::default();
    assert_eq!(
        (d.lr, d.etas, d.step_sizes, d.maximize),
        (1e-2, (0.5, 1.2), (1e-6, 50.0), false)
    );
    run("defaults", &d, &mut failures)?;
    // lr 0.3 overshoots the minimum (at distance ≥ 1/3) at once: signs flip, step sizes
    // shrink and gradients are zeroed, so every option changes the trajectory.
    let base = Rprop::new(0.3);
    let cases: Vec<(&str, Rprop)> = vec![
        ("lr 0.05", Rprop::new(0.05)),
        ("etaminus 0.2", base.clone().etas(0.2, 1.2)),
        ("etaplus 2", base.clone().etas(0.5, 2.0)),
        // The initial 0.3 is clamped to 0.1 at the first step; shrinking stops at 0.05.
        ("step_sizes (0.05, 0.1)", base.clone().step_sizes(0.05, 0.1)),
        ("maximize", base.clone().maximize(true)),
        (
            "every option",
            base.clone()
                .etas(0.3, 1.5)
                .step_sizes(0.01, 0.2)
                .maximize(true),
        ),
    ];
    let base_end = run("lr 0.3", &base, &mut failures)?;
    for (label, config) in &cases {
        let end = run(label, config, &mut failures)?;
        let diff = end
            .iter()
            .zip(&base_end)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        if diff < 1e-3 {
            failures.push(format!("{label}: ends within {diff:e} of lr 0.3 alone"));
        }
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
    config: &Rprop,
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
        // NaN spreads to that parameter, its prev and its step size for good. An infinite
        // gradient is a sign like any other (the step size is not scaled by it), kept in
        // `prev` until the next step: the last step's +inf and -inf stay there; one that
        // meets prev = 0 (a zeroed flip) makes 0·inf = NaN, on both devices alike.
        pushes[3][1][4] = f32::NAN;
        pushes[5][3][64] = f32::INFINITY;
        pushes[9][4][0] = f32::NEG_INFINITY;
        pushes[12][4][0] = f32::INFINITY;
        // The last two agree in sign with the step before (no flip zeroes them).
        let last = PARITY_STEPS - 1;
        pushes[last][2][0] = f32::INFINITY.copysign(pushes[last - 1][2][0]);
        pushes[last][4][3] = f32::INFINITY.copysign(pushes[last - 1][4][3]);
    }
    let table: Vec<(&str, Rprop)> = vec![
        ("defaults", Rprop::default()),
        ("lr 0.1", Rprop::new(0.1)),
        ("etas (0.3, 1.5)", Rprop::new(0.1).etas(0.3, 1.5)),
        (
            "step_sizes (0.01, 0.2)",
            Rprop::new(0.1).step_sizes(0.01, 0.2),
        ),
        ("maximize", Rprop::new(0.1).maximize(true)),
    ];
    let mut checks = Checks::default();
    for (name, config) in &table {
        let cpu_end = optimize(&cpu, config, &init, &pushes)
            .unwrap_or_else(|e| panic!("{name}: the CPU reference failed: {e}"));
        let gpu_end = optimize(&gpu, config, &init, &pushes)
            .unwrap_or_else(|e| panic!("{name}: the GPU run failed: {e}"));
        // Every operation is a selection, a sign, a correctly rounded multiplication (the
        // step size by η; Vulkan's OpFMul is correctly rounded) or the correctly rounded
        // subtraction of an exact product (±step_size, so a fused multiply-add rounds the
        // same): both devices compute the same bits.
        for (i, (c, g)) in cpu_end.params.iter().zip(&gpu_end.params).enumerate() {
            checks.close(&format!("{what} {name}: parameter {i}"), c, g, EXACT);
        }
        for (k, (c, g)) in cpu_end.state.iter().zip(&gpu_end.state).enumerate() {
            checks.close(&format!("{what} {name}: {}", STATE[k]), c, g, EXACT);
        }
        let all = || cpu_end.params.iter().chain(&cpu_end.state).flatten();
        if poison && !all().any(|v| v.is_nan()) {
            checks.fail(format!("{what} {name}: the NaN gradient left no NaN"));
        }
        if poison && cpu_end.state[0].iter().filter(|v| v.is_infinite()).count() < 2 {
            checks.fail(format!("{what} {name}: the infinite gradient left no inf"));
        }
        if !poison && cpu_end.max_step == 0.0 {
            checks.fail(format!("{what} {name}: nothing moved"));
        }
    }
    checks.finish(what);
}

#[test]
fn rprop_cpu_and_gpu_agree_over_50_steps() {
    parity("Rprop", false);
}

#[test]
fn rprop_cpu_and_gpu_agree_on_nan_and_infinite_gradients() {
    parity("Rprop non-finite", true);
}

#[test]
fn bad_rprop_hyperparameters_are_typed_errors() {
    let leaf = Device::cpu()
        .tensor(vec![0.5, -0.25, 1.0], [3])
        .expect("tensor")
        .param();
    let cases: Vec<(&str, Rprop)> = vec![
        ("lr", Rprop::new(-1.0)),
        ("lr", Rprop::new(f32::NAN)),
        // PyTorch: 0 < etaminus < 1 < etaplus.
        ("etaminus", Rprop::default().etas(0.0, 1.2)),
        ("etaminus", Rprop::default().etas(1.0, 1.2)),
        ("etaminus", Rprop::default().etas(f32::NAN, 1.2)),
        ("etaplus", Rprop::default().etas(0.5, 1.0)),
        ("etaplus", Rprop::default().etas(0.5, f32::INFINITY)),
        ("step_size_min", Rprop::default().step_sizes(-1e-6, 50.0)),
        ("step_size_max", Rprop::default().step_sizes(1e-6, f32::NAN)),
        ("step_size_max", Rprop::default().step_sizes(1.0, 0.5)),
    ];
    for (name, config) in cases {
        match config.build(&[&leaf]) {
            Err(Error::Hyperparameter { name: got, .. }) if got == name => {}
            Err(e) => panic!("{config:?}: expected a Hyperparameter error on {name}, got {e:?}"),
            Ok(_) => panic!("{config:?}: expected a Hyperparameter error on {name}, it built"),
        }
    }
    let group = |g: ParamGroup| Rprop::default().build_groups(vec![g]);
    assert!(matches!(
        group(ParamGroup::new(&[&leaf]).set("etaplus", 0.9f32)),
        Err(Error::Hyperparameter {
            name: "etaplus",
            ..
        })
    ));
    assert!(matches!(
        group(ParamGroup::new(&[&leaf]).weight_decay(0.1)),
        Err(Error::Config(_))
    ));
}

/// Each group's `step_size` starts at its own lr; two groups step exactly as two separate
/// optimizers would, and a `state_dict` taken after 4 steps resumes bit for bit.
#[test]
fn rprop_param_groups_and_state_dict_round_trip() {
    let config = Rprop::new(0.05).etas(0.4, 1.3);
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
                    ParamGroup::new(&[b]).lr(0.02).set("step_size_max", 0.03f32),
                ])
                .unwrap()
        };
        let (a, b) = make();
        let mut opt = grouped(&a, &b);
        let segments = opt.param_set().segments().to_vec();
        let initial = opt.state_to_vec(1).unwrap();
        assert_eq!(initial[segments[0].offset..][..3], [0.05; 3]);
        assert_eq!(initial[segments[1].offset..][..2], [0.02; 2]);
        for _ in 0..10 {
            opt.step(&loss(&a, &b).backward().unwrap()).unwrap();
        }
        let (a1, b1) = make();
        let mut oa = config.build(&[&a1]).unwrap();
        let mut ob = config.clone();
        ob.lr = 0.02;
        ob.step_sizes.1 = 0.03;
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
fn rprop_step_is_one_dispatch_without_a_round_trip() {
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
    let config = Rprop::default();
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
