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
//! Reference set-up (`tests/common/optim.rs`, as `tests/lion.rs`): three parameters of
//! sizes 1, 7 and 3x5, `loss = Σ sum(c ⊙ p²)/2 + sum(d ⊙ p)`, so `∇ = c ⊙ p + d`,
//! `c ∈ [0.5, 1.5)`, `d = sign(p)·[0.5, 1)`; the reference recomputes the gradient from
//! its own parameters.
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

use common::optim::*;
use common::optim_checks::*;
use common::tolerance::*;
use downhill::optim::Adan;
use downhill::prelude::*;

const STEPS: u64 = 12;
const SEED: u64 = 20_261_205;
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

    /// Step `t` in place. `state` holds m, n, diff and the negated previous gradient (as
    /// the library's `neg_pre_grad`, to compare them).
    fn step(&self, t: u64, p: &mut [f64], state: &mut [Vec<f64>], g: &[f64]) {
        let t = t as i32;
        let bc1 = 1.0 - self.beta1.powi(t);
        let bc2 = 1.0 - self.beta2.powi(t);
        let bc3 = 1.0 - self.beta3.powi(t);
        let [m, n, diff, neg_pre] = state else {
            unreachable!()
        };
        for i in 0..p.len() {
            let g = g[i];
            let prev = if t == 1 { g } else { -neg_pre[i] };
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
            neg_pre[i] = -g;
        }
    }
}

/// Runs `config` beside the reference; returns the reference's end state.
fn run(label: &str, config: &Adan, failures: &mut Vec<String>) -> Vec<f64> {
    let reference = Reference::of(config);
    against_reference(
        label,
        config,
        ("Adan", &STATE),
        vec![vec![0.0; elements()]; 4],
        (SEED, STEPS),
        (2e-6, 2e-5),
        |t, p, s, g| reference.step(t, p, s, g),
        failures,
    )
    .expect("the run")
    .end
}

#[test]
fn adan_matches_the_reference_code_over_12_steps_for_every_option() -> downhill::Result<()> {
    let mut failures = vec![];
    let d = Adan::default();
    assert_eq!(
        (d.lr, d.betas, d.eps, d.weight_decay, d.no_prox),
        (1e-3, (0.98, 0.92, 0.99), 1e-8, 0.0, false)
    );
    run("defaults", &d, &mut failures);
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
    let base_end = run("lr 0.05", &base, &mut failures);
    let mut ends = vec![];
    for (label, config) in &cases {
        let end = run(label, config, &mut failures);
        let diff = max_diff(&end, &base_end);
        if diff < 1e-3 {
            failures.push(format!("{label}: ends within {diff:e} of lr 0.05 alone"));
        }
        ends.push(end);
    }
    // The two ways of decaying differ.
    let gap = max_diff(&ends[4], &ends[5]);
    if gap < 1e-4 {
        failures.push(format!("no_prox changes the end state by only {gap:e}"));
    }
    // Without weight decay no_prox changes nothing (both factors are 1).
    let (pa, pb) = (Problem::new(SEED)?, Problem::new(SEED)?);
    let mut a = Optimizer::new(
        Box::new(base.clone()),
        &pa.params.iter().collect::<Vec<_>>(),
    )?;
    let mut b = Optimizer::new(
        Box::new(base.clone().no_prox(true)),
        &pb.params.iter().collect::<Vec<_>>(),
    )?;
    for _ in 0..3 {
        a.step(&pa.loss()?.backward()?)?;
        b.step(&pb.loss()?.backward()?)?;
    }
    for (x, y) in pa.params.iter().zip(&pb.params) {
        assert_eq!(bits(&x.to_vec()?), bits(&y.to_vec()?));
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    Ok(())
}

// ---------------------------------------------------------------- CPU-vs-GPU parity

fn parity(what: &str, poison: bool) {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let cpu = common::cpu();
    let (init, mut pushes) = parity_inputs();
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
        let atol_p = PARITY_STEPS as f64
            * (3.0 * EPS * cpu_end.p_max() + (24.0 + 100.0) * EPS * cpu_end.max_step);
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
        if poison && !cpu_end.values().any(|v| v.is_nan()) {
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
fn adan_step_is_one_dispatch_without_a_round_trip() {
    assert_one_dispatch(&Adan::new(0.01).weight_decay(0.1));
}

#[test]
fn bad_adan_hyperparameters_are_typed_errors() {
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
    assert_hyperparameter_errors(
        cases
            .into_iter()
            .map(|(n, c)| (n, Box::new(c) as Box<dyn OptimizerConfig>))
            .collect(),
    );
    let leaf = Device::cpu().tensor(vec![0.5], [1]).unwrap().param();
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
    assert_groups_and_state_dict_round_trip(
        &Adan::new(0.05).weight_decay(0.5),
        |g| g.lr(0.02).weight_decay(0.0),
        &STATE,
    );
}

/// A checkpoint file (safetensors and its JSON header: every hyperparameter, each state
/// buffer by name, the step counts) resumes the run bit for bit.
#[test]
fn adan_checkpoint_file_round_trip() {
    assert_checkpoint_file_round_trip(&Adan::new(0.01).weight_decay(0.1).no_prox(true), "adan");
}
