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
//! Reference set-up (`tests/common/optim.rs`, as `tests/lion.rs`): three parameters of
//! sizes 1, 7 and 3x5, `loss = Σ sum(c ⊙ p²)/2 + sum(d ⊙ p)`, so `∇ = c ⊙ p + d`,
//! `c ∈ [0.5, 1.5)`, `d = sign(p)·[0.5, 1)`; the reference recomputes the gradient from
//! its own parameters.
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

use common::optim::*;
use common::optim_checks::*;
use common::tolerance::*;
use downhill::optim::Asgd;
use downhill::prelude::*;

const STEPS: u64 = 12;
const SEED: u64 = 20_261_204;
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

/// Runs `config` beside the reference; returns the reference's end state and the steps
/// that averaged.
fn run(label: &str, config: &Asgd, failures: &mut Vec<String>) -> (Vec<f64>, Vec<u64>) {
    let mut reference = Reference::of(config);
    let mut averaged = vec![];
    let run = against_reference(
        label,
        config,
        ("ASGD", &STATE),
        vec![vec![0.0; elements()]],
        (SEED, STEPS),
        (1e-6, 1e-5),
        |t, p, s, g| {
            if reference.step(t, p, s, g) {
                averaged.push(t);
            }
        },
        failures,
    )
    .expect("the run");
    (run.end, averaged)
}

#[test]
fn asgd_matches_pytorch_over_12_steps_for_every_option() {
    let mut failures = vec![];
    let d = Asgd::default();
    assert_eq!(
        (d.lr, d.lambd, d.alpha, d.t0, d.weight_decay, d.maximize),
        (1e-2, 1e-4, 0.75, 1e6, 0.0, false)
    );
    run("defaults", &d, &mut failures);
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
    let (base_end, _) = run("lr 0.1", &base, &mut failures);
    for (label, config) in &cases {
        let (end, averaged) = run(label, config, &mut failures);
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
        let diff = max_diff(&end, &base_end);
        if diff < 1e-3 {
            failures.push(format!("{label}: ends within {diff:e} of lr 0.1 alone"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
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

// ---------------------------------------------------------------- CPU-vs-GPU parity

fn parity(what: &str, poison: bool) {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let cpu = common::cpu();
    let (init, mut pushes) = parity_inputs();
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
        let atol = 2.0 * PARITY_STEPS as f64 * EPS * cpu_end.p_max();
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
        if poison && !cpu_end.values().any(|v| v.is_nan()) {
            checks.fail(format!("{what} {name}: the NaN gradient left no NaN"));
        }
        // With the L2 penalty the infinite parameter feeds NaN back into the gradient.
        if poison && config.weight_decay == 0.0 && !cpu_end.values().any(|v| v.is_infinite()) {
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
fn asgd_step_is_one_dispatch_without_a_round_trip() {
    assert_one_dispatch(&Asgd::new(0.01).t0(0.0));
}

#[test]
fn bad_asgd_hyperparameters_are_typed_errors() {
    let cases: Vec<(&str, Asgd)> = vec![
        ("lr", Asgd::new(-1.0)),
        ("lr", Asgd::new(f32::NAN)),
        ("lambd", Asgd::default().lambd(-1e-4)),
        ("alpha", Asgd::default().alpha(f32::INFINITY)),
        ("alpha", Asgd::default().alpha(-0.75)),
        ("t0", Asgd::default().t0(f32::NAN)),
        ("weight_decay", Asgd::default().weight_decay(-0.5)),
    ];
    assert_hyperparameter_errors(
        cases
            .into_iter()
            .map(|(n, c)| (n, Box::new(c) as Box<dyn OptimizerConfig>))
            .collect(),
    );
    let leaf = Device::cpu().tensor(vec![0.5], [1]).unwrap().param();
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
/// averaging starts at step 8) resumes bit for bit.
#[test]
fn asgd_param_groups_and_state_dict_round_trip() {
    assert_groups_and_state_dict_round_trip(
        &Asgd::new(0.05).lambd(0.5).t0(5.0).weight_decay(0.1),
        |g| g.lr(0.02).weight_decay(0.0),
        &STATE,
    );
    // By step 10 ax is an average, not the parameters.
    let p = Device::cpu().tensor(vec![0.5, -1.0], [2]).unwrap().param();
    let mut opt = Asgd::new(0.05).t0(5.0).build(&[&p]).unwrap();
    for _ in 0..10 {
        opt.step(&p.square().unwrap().sum().unwrap().backward().unwrap())
            .unwrap();
    }
    assert_ne!(opt.state_to_vec(0).unwrap()[..2], p.to_vec().unwrap()[..]);
}

/// A checkpoint file (safetensors and its JSON header: every hyperparameter, each state
/// buffer by name, the step counts) resumes the run bit for bit.
#[test]
fn asgd_checkpoint_file_round_trip() {
    assert_checkpoint_file_round_trip(&Asgd::new(0.05).lambd(0.5).t0(2.0), "asgd");
}
