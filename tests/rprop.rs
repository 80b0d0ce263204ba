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
//! Reference set-up (`tests/common/optim.rs`, as `tests/lion.rs`): three parameters of
//! sizes 1, 7 and 3x5, `loss = Σ sum(c ⊙ p²)/2 + sum(d ⊙ p)`, so `∇ = c ⊙ p + d`,
//! `c ∈ [0.5, 1.5)`, `d = sign(p)·[0.5, 1)`; the reference recomputes the gradient from
//! its own parameters.
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

use common::optim::*;
use common::optim_checks::*;
use common::tolerance::*;
use downhill::optim::Rprop;
use downhill::prelude::*;

const STEPS: u64 = 12;
const SEED: u64 = 20_261_203;
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

/// Runs `config` beside the reference; returns the reference's end state.
fn run(label: &str, config: &Rprop, failures: &mut Vec<String>) -> Vec<f64> {
    let reference = Reference::of(config);
    let (mut smallest, mut shrunk) = (f64::INFINITY, 0);
    let n = elements();
    let run = against_reference(
        label,
        config,
        ("Rprop", &STATE),
        vec![vec![0.0; n], vec![f64::from(config.lr); n]],
        (SEED, STEPS),
        (1e-6, 1e-5),
        |_, p, s, g| {
            let (small, shrank) = reference.step(p, s, g);
            smallest = smallest.min(small);
            shrunk += shrank;
        },
        failures,
    )
    .expect("the run");
    if smallest < 1e-4 {
        failures.push(format!(
            "{label}: the reference's |g| fell to {smallest:e}, where f32 rounding may flip \
             a sign: choose another case"
        ));
    }
    eprintln!("{label}: smallest |g| {smallest:.3e}, {shrunk} step sizes shrank");
    run.end
}

#[test]
fn rprop_matches_pytorch_over_12_steps_for_every_option() {
    let mut failures = vec![];
    let d = Rprop::default();
    assert_eq!(
        (d.lr, d.etas, d.step_sizes, d.maximize),
        (1e-2, (0.5, 1.2), (1e-6, 50.0), false)
    );
    run("defaults", &d, &mut failures);
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
    let base_end = run("lr 0.3", &base, &mut failures);
    for (label, config) in &cases {
        let end = run(label, config, &mut failures);
        let diff = max_diff(&end, &base_end);
        if diff < 1e-3 {
            failures.push(format!("{label}: ends within {diff:e} of lr 0.3 alone"));
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
        // NaN spreads to that parameter, its prev and its step size for good. An infinite
        // gradient is a sign like any other (the step size is not scaled by it), kept in
        // `prev` until the next step; one that meets prev = 0 (a zeroed flip) makes
        // 0·inf = NaN, on both devices alike.
        pushes[3][1][4] = f32::NAN;
        pushes[5][3][64] = f32::INFINITY;
        pushes[9][4][0] = f32::NEG_INFINITY;
        pushes[12][4][0] = f32::INFINITY;
        // The last two agree in sign with the step before (no flip zeroes them), so they
        // stay in prev.
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
        if poison && !cpu_end.values().any(|v| v.is_nan()) {
            checks.fail(format!("{what} {name}: the NaN gradient left no NaN"));
        }
        if poison && cpu_end.state[0].iter().filter(|v| v.is_infinite()).count() < 2 {
            checks.fail(format!("{what} {name}: the infinite gradients left no inf"));
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
fn rprop_step_is_one_dispatch_without_a_round_trip() {
    assert_one_dispatch(&Rprop::default());
}

#[test]
fn bad_rprop_hyperparameters_are_typed_errors() {
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
    assert_hyperparameter_errors(
        cases
            .into_iter()
            .map(|(n, c)| (n, Box::new(c) as Box<dyn OptimizerConfig>))
            .collect(),
    );
    let leaf = Device::cpu().tensor(vec![0.5], [1]).unwrap().param();
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

/// Each group's `step_size` starts at its own lr (Optimizer::lay_out_state fills each
/// group's range from that group's `initial_state`).
#[test]
fn rprop_groups_start_at_their_own_step_size() {
    for device in common::devices() {
        let a = device.tensor(vec![0.5, -1.0, 2.0], [3]).unwrap().param();
        let b = device.tensor(vec![1.0, 0.25], [2]).unwrap().param();
        let opt = Rprop::new(0.05)
            .build_groups(vec![
                ParamGroup::new(&[&a]),
                ParamGroup::new(&[&b]).lr(0.02),
            ])
            .unwrap();
        let segments = opt.param_set().segments().to_vec();
        let initial = opt.state_to_vec(1).unwrap();
        assert_eq!(initial[segments[0].offset..][..3], [0.05; 3]);
        assert_eq!(initial[segments[1].offset..][..2], [0.02; 2]);
        assert_eq!(opt.state_to_vec(0).unwrap(), vec![0.0; initial.len()]);
    }
}

/// Two groups (the second with its own lr, hence initial step size, and maximum step
/// size) step exactly as two separate optimizers would, and a `state_dict` taken after 4
/// steps resumes bit for bit.
#[test]
fn rprop_param_groups_and_state_dict_round_trip() {
    assert_groups_and_state_dict_round_trip(
        &Rprop::new(0.05).etas(0.4, 1.3),
        |g| g.lr(0.02).set("step_size_max", 0.03f32),
        &STATE,
    );
}

/// A checkpoint file (safetensors and its JSON header: every hyperparameter, each state
/// buffer by name, the step counts) resumes the run bit for bit.
#[test]
fn rprop_checkpoint_file_round_trip() {
    assert_checkpoint_file_round_trip(
        &Rprop::new(0.02).etas(0.4, 1.3).step_sizes(1e-4, 0.5),
        "rprop",
    );
}
