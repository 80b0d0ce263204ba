//! Pins every learning-rate schedule against PyTorch's `torch.optim.lr_scheduler`.
//!
//! The references below are the closed forms of PyTorch's documentation and of its
//! `_get_closed_form_lr` methods, written here in f64 (for `SequentialLR` and
//! `ChainedScheduler`: the closed forms of their parts, composed by hand). The library
//! computes most schedules with PyTorch's recursive (chainable) `get_lr`, so these tests
//! also bound how far the recursion drifts from the closed form. Each case runs 100 steps
//! or more, with defaults and with other options.
//!
//! Tolerance, per step `t` (`check`): the optimizer's f64 rate (what the schedule wrote)
//! within `F64_TOL · scale` of the reference, `scale` being the largest rate of the case;
//! the f32 rate the update uses within half an f32 ulp more (`2^-24 · |reference|`: one
//! rounding of that f64). Why `F64_TOL = 1e-12`: a recursive step does at most ~8 f64
//! roundings (two cosines, their ratio, a product, a sum), each `<= 2^-53 ≈ 1.1e-16`
//! relative, and errors add up over steps: after 300 steps `300 · 8 · 1.1e-16 ≈ 2.7e-13`
//! of the scale; the measured worst (printed under `--nocapture`) is far below. The base
//! rate is the optimizer's f32 (`Sgd::new(0.1)` holds 0.1f32) widened to f64, which is
//! what the schedule starts from.

use downhill::prelude::*;
use std::f64::consts::PI;

/// See the module documentation.
const F64_TOL: f64 = 1e-12;
/// f32 unit roundoff, 2^-24.
const HALF_ULP: f64 = 5.960_464_477_539_063e-8;

fn optimizer(lr: f32) -> Optimizer {
    let theta = Device::cpu().scalar(1.0).unwrap().param();
    Sgd::new(lr).build(&[&theta]).unwrap()
}

/// Compares step `t`'s rates with `want`; returns the f64 error relative to `scale`.
fn check(
    what: &str,
    t: i64,
    opt: &Optimizer,
    schedule: &dyn LrScheduler,
    want: f64,
    scale: f64,
) -> f64 {
    let got = opt.lr_f64();
    let error = (got - want).abs() / scale;
    assert!(
        error <= F64_TOL,
        "{what}, step {t}: lr {got:e}, expected {want:e} (error {error:.1e} of the scale)"
    );
    assert_eq!(
        schedule.last_lr(),
        got,
        "{what}, step {t}: last_lr is the rate set"
    );
    assert_eq!(schedule.last_epoch(), t, "{what}: last_epoch");
    let applied = f64::from(opt.lr());
    assert!(
        (applied - want).abs() <= HALF_ULP * want.abs() + F64_TOL * scale,
        "{what}, step {t}: applied f32 lr {applied:e}, expected {want:e}"
    );
    error
}

/// Builds `config` on `Sgd(lr)` and follows `reference` for steps `0..=steps`.
fn follows(
    what: &str,
    config: &dyn ScheduleConfig,
    lr: f32,
    steps: i64,
    reference: impl Fn(f64, i64) -> f64,
) {
    let mut opt = optimizer(lr);
    let base = f64::from(lr);
    let scale = (0..=steps)
        .map(|t| reference(base, t).abs())
        .fold(base, f64::max);
    let mut schedule = config.build(&mut opt).unwrap();
    let mut worst = check(what, 0, &opt, schedule.as_ref(), reference(base, 0), scale);
    for t in 1..=steps {
        schedule.step(&mut opt).unwrap();
        worst = worst.max(check(
            what,
            t,
            &opt,
            schedule.as_ref(),
            reference(base, t),
            scale,
        ));
    }
    eprintln!("{what}: worst f64 error {worst:.1e} of the scale over {steps} steps");
}

fn cosine(base: f64, eta_min: f64, t: f64, period: f64) -> f64 {
    eta_min + (base - eta_min) * (1.0 + (PI * t / period).cos()) / 2.0
}

fn linear_factor(start: f64, end: f64, total: i64, t: i64) -> f64 {
    start + (end - start) * t.min(total) as f64 / total as f64
}

#[test]
fn step_lr_follows_the_closed_form() {
    let closed = |gamma: f64, size: i64| move |b: f64, t: i64| b * gamma.powi((t / size) as i32);
    follows("StepLR(30)", &StepLR::new(30), 0.1, 120, closed(0.1, 30));
    follows(
        "StepLR(7, 0.8)",
        &StepLR::new(7).gamma(0.8),
        0.05,
        150,
        closed(0.8, 7),
    );
    follows(
        "StepLR(1, 1.02)",
        &StepLR::new(1).gamma(1.02),
        0.01,
        120,
        closed(1.02, 1),
    );
}

#[test]
fn multi_step_lr_follows_the_closed_form() {
    let closed = |milestones: Vec<i64>, gamma: f64| {
        move |b: f64, t: i64| b * gamma.powi(milestones.iter().filter(|&&m| m <= t).count() as i32)
    };
    follows(
        "MultiStepLR([30, 80])",
        &MultiStepLR::new([30, 80]),
        0.1,
        120,
        closed(vec![30, 80], 0.1),
    );
    // A milestone at 0 applies when building; a repeated one counts twice (as in PyTorch).
    let milestones = [0, 10, 25, 25, 99];
    follows(
        "MultiStepLR([0, 10, 25, 25, 99], 0.5)",
        &MultiStepLR::new(milestones).gamma(0.5),
        0.3,
        110,
        closed(milestones.iter().map(|&m| m as i64).collect(), 0.5),
    );
}

#[test]
fn constant_lr_follows_the_closed_form() {
    let closed =
        |factor: f64, total: i64| move |b: f64, t: i64| if t < total { b * factor } else { b };
    follows(
        "ConstantLR()",
        &ConstantLR::new(),
        0.1,
        100,
        closed(1.0 / 3.0, 5),
    );
    follows(
        "ConstantLR(0.25, 40)",
        &ConstantLR::new().factor(0.25).total_iters(40),
        0.02,
        100,
        closed(0.25, 40),
    );
}

#[test]
fn linear_lr_follows_the_closed_form() {
    let closed = |s: f64, e: f64, n: i64| move |b: f64, t: i64| b * linear_factor(s, e, n, t);
    follows(
        "LinearLR()",
        &LinearLR::new(),
        0.1,
        100,
        closed(1.0 / 3.0, 1.0, 5),
    );
    follows(
        "LinearLR(0.05, 1, 40)",
        &LinearLR::new().start_factor(0.05).total_iters(40),
        0.05,
        100,
        closed(0.05, 1.0, 40),
    );
    // Decay instead of warm-up.
    follows(
        "LinearLR(1, 0.1, 100)",
        &LinearLR::new()
            .start_factor(1.0)
            .end_factor(0.1)
            .total_iters(100),
        0.5,
        150,
        closed(1.0, 0.1, 100),
    );
    follows(
        "LinearLR(0.5, 0, 60)",
        &LinearLR::new()
            .start_factor(0.5)
            .end_factor(0.0)
            .total_iters(60),
        0.1,
        100,
        closed(0.5, 0.0, 60),
    );
}

#[test]
fn exponential_lr_follows_the_closed_form() {
    follows(
        "ExponentialLR(0.95)",
        &ExponentialLR::new(0.95),
        0.1,
        200,
        |b, t| b * 0.95f64.powi(t as i32),
    );
    follows(
        "ExponentialLR(1.01)",
        &ExponentialLR::new(1.01),
        1e-3,
        150,
        |b, t| b * 1.01f64.powi(t as i32),
    );
}

#[test]
fn cosine_annealing_lr_follows_the_closed_form() {
    // Past t_max the rate rises again along the same cosine, as PyTorch's does.
    follows(
        "CosineAnnealingLR(100)",
        &CosineAnnealingLR::new(100),
        0.1,
        100,
        |b, t| cosine(b, 0.0, t as f64, 100.0),
    );
    follows(
        "CosineAnnealingLR(30, 1e-3)",
        &CosineAnnealingLR::new(30).eta_min(1e-3),
        0.1,
        200,
        |b, t| cosine(b, 1e-3, t as f64, 30.0),
    );
    follows(
        "CosineAnnealingLR(1)",
        &CosineAnnealingLR::new(1),
        0.2,
        101,
        |b, t| cosine(b, 0.0, t as f64, 1.0),
    );
    // eta_min above the base anneals upwards.
    follows(
        "CosineAnnealingLR(50, 0.3)",
        &CosineAnnealingLR::new(50).eta_min(0.3),
        0.1,
        120,
        |b, t| cosine(b, 0.3, t as f64, 50.0),
    );
}

/// `(t_cur, t_i)` of SGDR at step `t`.
fn warm_restart_counters(t: i64, t_0: i64, t_mult: i64) -> (i64, i64) {
    let (mut t_cur, mut t_i) = (t, t_0);
    while t_cur >= t_i {
        t_cur -= t_i;
        t_i *= t_mult;
    }
    (t_cur, t_i)
}

#[test]
fn cosine_annealing_warm_restarts_follows_the_closed_form() {
    let closed = |t_0: i64, t_mult: i64, eta_min: f64| {
        move |b: f64, t: i64| {
            let (t_cur, t_i) = warm_restart_counters(t, t_0, t_mult);
            cosine(b, eta_min, t_cur as f64, t_i as f64)
        }
    };
    follows(
        "CosineAnnealingWarmRestarts(10)",
        &CosineAnnealingWarmRestarts::new(10),
        0.1,
        120,
        closed(10, 1, 0.0),
    );
    follows(
        "CosineAnnealingWarmRestarts(10, 2, 1e-3)",
        &CosineAnnealingWarmRestarts::new(10).t_mult(2).eta_min(1e-3),
        0.1,
        160,
        closed(10, 2, 1e-3),
    );
    follows(
        "CosineAnnealingWarmRestarts(1, 3)",
        &CosineAnnealingWarmRestarts::new(1).t_mult(3),
        0.05,
        130,
        closed(1, 3, 0.0),
    );
}

/// The 1cycle rate and momentum at step `t` from its phase table: `(end_step, lr from, lr
/// to, momentum from, momentum to)`; `linear` anneals linearly (held at the end).
fn one_cycle(phases: &[(f64, f64, f64, f64, f64)], linear: bool, t: i64) -> (f64, f64) {
    let t = t as f64;
    let mut start = 0.0;
    for (i, &(end, l0, l1, m0, m1)) in phases.iter().enumerate() {
        if t <= end || i + 1 == phases.len() {
            let pct = (t - start) / (end - start);
            let anneal = |a: f64, b: f64| {
                if linear {
                    a + (b - a) * pct.min(1.0)
                } else {
                    b + (a - b) * (1.0 + (PI * pct).cos()) / 2.0
                }
            };
            return (anneal(l0, l1), anneal(m0, m1));
        }
        start = end;
    }
    unreachable!()
}

/// Runs a 1cycle case on `opt` for `total` steps, comparing rate and momentum, then
/// checks that one more step is refused.
fn follows_one_cycle(
    what: &str,
    config: &OneCycleLR,
    mut opt: Optimizer,
    phases: &[(f64, f64, f64, f64, f64)],
) {
    let total = config
        .total_steps
        .unwrap_or_else(|| config.epochs.unwrap() * config.steps_per_epoch.unwrap())
        as i64;
    let linear = config.anneal_strategy == AnnealStrategy::Linear;
    let scale = config.max_lr;
    let mut schedule = config.build(&mut opt).unwrap();
    assert_eq!(
        schedule.unit(),
        StepUnit::Batch,
        "PyTorch steps OneCycleLR per batch"
    );
    for t in 0..=total {
        if t > 0 {
            schedule.step(&mut opt).unwrap();
        }
        let (lr, momentum) = one_cycle(phases, linear, t);
        check(what, t, &opt, schedule.as_ref(), lr, scale);
        if config.cycle_momentum {
            let got = f64::from(opt.momentum().unwrap());
            assert!(
                (got - momentum).abs() <= 2.0 * HALF_ULP,
                "{what}, step {t}: momentum {got}, expected {momentum}"
            );
        }
    }
    let before = (opt.lr_f64(), opt.momentum());
    let e = schedule.step(&mut opt).unwrap_err();
    assert!(
        matches!(e, Error::Config(_)),
        "{what}: step {} of {total}: {e}",
        total + 1
    );
    assert_eq!(
        (opt.lr_f64(), opt.momentum()),
        before,
        "{what}: a refused step changes nothing"
    );
}

#[test]
fn one_cycle_lr_follows_the_closed_form() {
    // PyTorch's defaults: two phases, cosine, 0.3 rising; SGD's momentum cycled.
    let (max, total) = (0.1, 100.0);
    let (initial, min) = (max / 25.0, max / 25.0 / 1e4);
    let two = [
        (0.3 * total - 1.0, initial, max, 0.95, 0.85),
        (total - 1.0, max, min, 0.85, 0.95),
    ];
    follows_one_cycle(
        "OneCycleLR(0.1, 100)",
        &OneCycleLR::new(max).total_steps(100),
        optimizer(0.01),
        &two,
    );

    // Three phases, linear, other factors, the length from epochs × steps per epoch, on Adam
    // (beta1 cycled).
    let (max, total) = (0.5, 200.0);
    let (initial, min) = (max / 10.0, max / 10.0 / 100.0);
    let three = [
        (0.25 * total - 1.0, initial, max, 0.9, 0.8),
        (2.0 * 0.25 * total - 2.0, max, initial, 0.8, 0.9),
        (total - 1.0, initial, min, 0.9, 0.9),
    ];
    let config = OneCycleLR::new(max)
        .epochs(8)
        .steps_per_epoch(25)
        .pct_start(0.25)
        .anneal_strategy(AnnealStrategy::Linear)
        .three_phase(true)
        .div_factor(10.0)
        .final_div_factor(100.0)
        .base_momentum(0.8)
        .max_momentum(0.9);
    let theta = Device::cpu().scalar(1.0).unwrap().param();
    let adam = Adam::new(1e-3).build(&[&theta]).unwrap();
    follows_one_cycle("OneCycleLR(0.5, three-phase linear)", &config, adam, &three);

    // Without momentum cycling, on an optimizer that has none.
    let theta = Device::cpu().scalar(1.0).unwrap().param();
    let adagrad = Adagrad::new(0.1).build(&[&theta]).unwrap();
    let (max, total) = (0.02, 150.0);
    let (initial, min) = (max / 25.0, max / 25.0 / 1e4);
    let two = [
        (0.4 * total - 1.0, initial, max, 0.0, 0.0),
        (total - 1.0, max, min, 0.0, 0.0),
    ];
    let config = OneCycleLR::new(max)
        .total_steps(150)
        .pct_start(0.4)
        .cycle_momentum(false);
    follows_one_cycle("OneCycleLR(0.02, no momentum)", &config, adagrad, &two);
}

#[test]
fn sequential_lr_switches_at_milestones() {
    // Warm-up then cosine: at the milestone the cosine starts from the base rate.
    let config = SequentialLR::new(
        vec![
            Box::new(LinearLR::new().start_factor(0.1)),
            Box::new(CosineAnnealingLR::new(95)),
        ],
        vec![5],
    );
    follows(
        "SequentialLR(LinearLR, CosineAnnealingLR)",
        &config,
        0.1,
        120,
        |b, t| {
            if t < 5 {
                b * linear_factor(0.1, 1.0, 5, t)
            } else {
                cosine(b, 0.0, (t - 5) as f64, 95.0)
            }
        },
    );
    // PyTorch's documented example, and three parts.
    let config = SequentialLR::new(
        vec![
            Box::new(ConstantLR::new().factor(0.1).total_iters(20)),
            Box::new(ExponentialLR::new(0.9)),
        ],
        vec![20],
    );
    follows(
        "SequentialLR(ConstantLR, ExponentialLR)",
        &config,
        0.05,
        100,
        |b, t| {
            if t < 20 {
                b * 0.1
            } else {
                b * 0.9f64.powi((t - 20) as i32)
            }
        },
    );
    let config = SequentialLR::new(
        vec![
            Box::new(LinearLR::new().start_factor(0.25).total_iters(10)),
            Box::new(StepLR::new(15).gamma(0.5)),
            Box::new(CosineAnnealingWarmRestarts::new(20).eta_min(1e-4)),
        ],
        vec![10, 55],
    );
    follows(
        "SequentialLR(LinearLR, StepLR, CosineAnnealingWarmRestarts)",
        &config,
        0.2,
        130,
        |b, t| match t {
            t if t < 10 => b * linear_factor(0.25, 1.0, 10, t),
            t if t < 55 => b * 0.5f64.powi(((t - 10) / 15) as i32),
            t => cosine(b, 1e-4, ((t - 55) % 20) as f64, 20.0),
        },
    );
}

#[test]
fn chained_scheduler_multiplies_through_the_optimizer() {
    let config = ChainedScheduler::new(vec![
        Box::new(ConstantLR::new().factor(0.1).total_iters(20)),
        Box::new(ExponentialLR::new(0.9)),
    ]);
    follows(
        "ChainedScheduler(ConstantLR, ExponentialLR)",
        &config,
        0.05,
        100,
        |b, t| b * 0.9f64.powi(t as i32) * if t < 20 { 0.1 } else { 1.0 },
    );
    // The cosine's base is the optimizer's initial rate (PyTorch's `initial_lr`), not the
    // warmed-down one it found: its restart step adds `base · (1 − cos(π/t_max)) / 2`.
    let config = ChainedScheduler::new(vec![
        Box::new(LinearLR::new().start_factor(0.5).total_iters(4)),
        Box::new(CosineAnnealingLR::new(10)),
    ]);
    follows(
        "ChainedScheduler(LinearLR, CosineAnnealingLR)",
        &config,
        0.1,
        100,
        |b, t| b * linear_factor(0.5, 1.0, 4, t) * (1.0 + (PI * t as f64 / 10.0).cos()) / 2.0,
    );
    // A SequentialLR inside a ChainedScheduler.
    let warm_then_step = SequentialLR::new(
        vec![
            Box::new(ConstantLR::new().factor(0.5).total_iters(3)),
            Box::new(StepLR::new(10).gamma(0.1)),
        ],
        vec![30],
    );
    let config = ChainedScheduler::new(vec![
        Box::new(warm_then_step),
        Box::new(ExponentialLR::new(0.99)),
    ]);
    follows(
        "ChainedScheduler(SequentialLR, ExponentialLR)",
        &config,
        0.1,
        110,
        |b, t| {
            let first = match t {
                t if t < 3 => 0.5,
                t if t < 30 => 1.0,
                t => 0.1f64.powi(((t - 30) / 10) as i32),
            };
            // At its milestone the StepLR starts from the base rate, dropping the product so
            // far; the ExponentialLR then multiplies in the same step.
            let chained = 0.99f64.powi(if t < 30 { t } else { t - 29 } as i32);
            b * first * chained
        },
    );
}

#[test]
fn units_come_from_the_configuration() {
    assert_eq!(StepLR::new(3).unit(), StepUnit::Epoch);
    assert_eq!(OneCycleLR::new(0.1).total_steps(10).unit(), StepUnit::Batch);
    assert_eq!(ReduceLROnPlateau::new().unit(), StepUnit::Epoch);
    assert_eq!(
        LinearLR::new().stepped_per(StepUnit::Batch).unit(),
        StepUnit::Batch
    );
    let warm = || Box::new(LinearLR::new().stepped_per(StepUnit::Batch)) as Box<dyn ScheduleConfig>;
    let cycle = || Box::new(OneCycleLR::new(0.1).total_steps(100)) as Box<dyn ScheduleConfig>;
    assert_eq!(
        SequentialLR::new(vec![warm(), cycle()], vec![5]).unit(),
        StepUnit::Batch
    );
    // Parts that disagree need the unit said.
    let mixed = SequentialLR::new(vec![Box::new(LinearLR::new()), cycle()], vec![5]);
    let e = mixed.build(&mut optimizer(0.1)).unwrap_err();
    assert!(
        matches!(e, Error::Config(ref m) if m.contains(".stepped_per(")),
        "{e}"
    );
    let mixed = mixed.stepped_per(StepUnit::Batch);
    assert_eq!(
        mixed.build(&mut optimizer(0.1)).unwrap().unit(),
        StepUnit::Batch
    );
}
