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
//! Reference set-up (`tests/common/optim.rs`, as `tests/lion.rs`): three parameters of
//! sizes 1, 7 and 3x5, `loss = Σ sum(c ⊙ p²)/2 + sum(d ⊙ p)`, so `∇ = c ⊙ p + d`,
//! `c ∈ [0.5, 1.5)`, `d = sign(p)·[0.5, 1)`; the reference recomputes the gradient from
//! its own parameters.
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

use common::optim::*;
use common::optim_checks::*;
use common::tolerance::*;
use downhill::optim::RAdam;
use downhill::prelude::*;

const STEPS: u64 = 12;
const SEED: u64 = 20_261_202;
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

/// Runs `config` beside the reference; returns the reference's end state and the steps
/// that were rectified.
fn run(label: &str, config: &RAdam, failures: &mut Vec<String>) -> (Vec<f64>, Vec<u64>) {
    let reference = Reference::of(config);
    let mut rectified = vec![];
    let run = against_reference(
        label,
        config,
        ("RAdam", &STATE),
        vec![vec![0.0; elements()]; 2],
        (SEED, STEPS),
        (1e-6, 2e-5),
        |t, p, s, g| {
            if reference.step(t, p, s, g) {
                rectified.push(t);
            }
        },
        failures,
    )
    .expect("the run");
    (run.end, rectified)
}

#[test]
fn radam_matches_pytorch_over_12_steps_for_every_option() {
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
    let (_, rectified) = run("defaults", &d, &mut failures);
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
    let (base_end, _) = run("lr 0.1", &base, &mut failures);
    for (label, config) in &cases {
        let (end, rectified) = run(label, config, &mut failures);
        if label.contains("beta2 0.5") != rectified.is_empty() {
            failures.push(format!("{label}: rectified at {rectified:?}"));
        }
        let diff = max_diff(&end, &base_end);
        if diff < 1e-3 {
            failures.push(format!("{label}: ends within {diff:e} of lr 0.1 alone"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

// ---------------------------------------------------------------- CPU-vs-GPU parity

fn parity(what: &str, poison: bool) {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let cpu = common::cpu();
    let (init, mut pushes) = parity_inputs();
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
        // step, 2 ulp of |p| (the decay and the subtraction) and the update's relative
        // difference: Vulkan allows 2.5 ulp per division (two), sqrt as 1/inversesqrt
        // (≈ 5 ulp), 0.5 for each other rounding (four), ≈ 12 ulp; 16 ulp of the largest
        // one-step change measured on the CPU, plus the moments' difference carried
        // through m/√v (relative, ≤ 100·EPS·max step). Over 50 steps:
        let atol_p = PARITY_STEPS as f64
            * (2.0 * EPS * cpu_end.p_max() + (16.0 + 100.0) * EPS * cpu_end.max_step);
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
        if poison && !cpu_end.values().any(|v| v.is_nan()) {
            checks.fail(format!("{what} {name}: the NaN gradient left no NaN"));
        }
        // With the L2 penalty the infinite parameter feeds NaN back into the gradient.
        let l2 = config.weight_decay != 0.0 && !config.decoupled_weight_decay;
        if poison && !l2 && !cpu_end.values().any(|v| v.is_infinite()) {
            checks.fail(format!("{what} {name}: the infinite gradient left no inf"));
        }
        if !poison && cpu_end.max_step == 0.0 {
            checks.fail(format!("{what} {name}: nothing moved"));
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
fn radam_step_is_one_dispatch_without_a_round_trip() {
    assert_one_dispatch(&RAdam::new(0.01).weight_decay(0.1));
}

#[test]
fn bad_radam_hyperparameters_are_typed_errors() {
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
    assert_hyperparameter_errors(
        cases
            .into_iter()
            .map(|(n, c)| (n, Box::new(c) as Box<dyn OptimizerConfig>))
            .collect(),
    );
    // A group override out of range is the same typed error, one the family lacks a
    // Config error.
    let leaf = Device::cpu().tensor(vec![0.5], [1]).unwrap().param();
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

/// Per-group settings go through the generic seam (the second group with its own lr and
/// no weight decay), and a `state_dict` taken after 4 steps (before the rectified steps)
/// resumes bit for bit.
#[test]
fn radam_param_groups_and_state_dict_round_trip() {
    assert_groups_and_state_dict_round_trip(
        &RAdam::new(0.05)
            .weight_decay(0.5)
            .decoupled_weight_decay(true),
        |g| g.lr(0.02).weight_decay(0.0),
        &STATE,
    );
}

/// A checkpoint file (safetensors and its JSON header: every hyperparameter, each state
/// buffer by name, the step counts) resumes the run bit for bit.
#[test]
fn radam_checkpoint_file_round_trip() {
    assert_checkpoint_file_round_trip(
        &RAdam::new(0.01)
            .weight_decay(0.1)
            .decoupled_weight_decay(true),
        "radam",
    );
}
