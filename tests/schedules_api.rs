//! Learning-rate schedules as a user drives them: `ReduceLROnPlateau` on scripted metric
//! sequences (expected rates written out by hand from PyTorch's algorithm), bad arguments,
//! a PyTorch-style manual loop with `Sgd`, and checkpoints (export, JSON, import into a
//! fresh schedule, identical rates afterwards). The closed-form comparisons are in
//! tests/schedules.rs.

use downhill::prelude::*;
use downhill::ScheduleState;

fn optimizer(lr: f32) -> Optimizer {
    let theta = Device::cpu().scalar(1.0).unwrap().param();
    Sgd::new(lr).build(&[&theta]).unwrap()
}

/// The rate after each metric, for `config` on `Sgd(0.1)`; as multiples of 0.1.
fn plateau(config: ReduceLROnPlateau, metrics: &[f32]) -> Vec<f64> {
    let mut opt = optimizer(0.1);
    let base = opt.lr_f64();
    let mut schedule = config.build(&mut opt).unwrap();
    assert!(schedule.monitors_metric());
    metrics
        .iter()
        .map(|&m| {
            schedule.step_with_metric(&mut opt, m).unwrap();
            assert_eq!(schedule.last_lr(), opt.lr_f64());
            opt.lr_f64() / base
        })
        .collect()
}

/// `factors` within rounding (each reduction is one f64 product).
fn assert_rates(what: &str, got: &[f64], factors: &[f64]) {
    assert_eq!(got.len(), factors.len());
    for (i, (g, f)) in got.iter().zip(factors).enumerate() {
        assert!(
            (g - f).abs() <= 1e-15 * f.max(1e-300),
            "{what}, step {}: {got:?}, expected {factors:?}",
            i + 1
        );
    }
}

#[test]
fn plateau_waits_patience_steps() {
    // Step 1 sets the best; then patience 2 tolerates two bad steps, the third reduces.
    let flat = [1.0; 10];
    let got = plateau(ReduceLROnPlateau::new().patience(2).factor(0.5), &flat);
    assert_rates(
        "patience 2",
        &got,
        &[1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125],
    );
    // An improvement resets the count.
    let got = plateau(
        ReduceLROnPlateau::new().patience(1).factor(0.5),
        &[5.0, 5.0, 4.0, 4.0, 4.0, 3.0, 3.0, 3.0],
    );
    assert_rates(
        "improvements",
        &got,
        &[1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25],
    );
    // PyTorch's default patience is 10: the 12th step reduces, by the default factor 0.1.
    let got = plateau(ReduceLROnPlateau::new(), &[1.0; 12]);
    assert_rates("defaults", &got, &[[1.0; 11].as_slice(), &[0.1]].concat());
    // A NaN is never an improvement.
    let got = plateau(
        ReduceLROnPlateau::new().patience(0).factor(0.5),
        &[1.0, f32::NAN, 0.5],
    );
    assert_rates("NaN", &got, &[1.0, 0.5, 0.5]);
}

#[test]
fn plateau_cools_down_after_a_reduction() {
    // patience 0: each bad step reduces, except during the 2 steps of cooldown after one.
    let got = plateau(
        ReduceLROnPlateau::new().patience(0).cooldown(2).factor(0.5),
        &[1.0; 8],
    );
    assert_rates(
        "cooldown 2",
        &got,
        &[1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125],
    );
}

#[test]
fn plateau_threshold_modes() {
    // From best 1.0: 0.95 is an improvement by 5% (abs 0.05), below rel 0.1 and above
    // abs 0.01.
    let metrics = [1.0, 0.95, 0.95];
    let rel = ReduceLROnPlateau::new()
        .patience(0)
        .threshold(0.1)
        .factor(0.5);
    assert_rates("rel 0.1", &plateau(rel, &metrics), &[1.0, 0.5, 0.25]);
    let abs = ReduceLROnPlateau::new()
        .patience(0)
        .threshold(0.01)
        .threshold_mode(ThresholdMode::Abs)
        .factor(0.5);
    assert_rates("abs 0.01", &plateau(abs, &metrics), &[1.0, 1.0, 0.5]);
    // The default rel 1e-4: 0.99995 is not better than 1 · (1 − 1e-4).
    let got = plateau(
        ReduceLROnPlateau::new().patience(0).factor(0.5),
        &[1.0, 0.99995, 0.9998],
    );
    assert_rates("rel 1e-4", &got, &[1.0, 0.5, 0.5]);
}

#[test]
fn plateau_mode_max_and_the_lower_bounds() {
    // An accuracy: rising is good.
    let max = ReduceLROnPlateau::new()
        .mode(PlateauMode::Max)
        .patience(0)
        .factor(0.5);
    assert_rates(
        "max",
        &plateau(max.clone(), &[0.5, 0.6, 0.7, 0.7, 0.65]),
        &[1.0, 1.0, 1.0, 0.5, 0.25],
    );
    let abs = max.threshold_mode(ThresholdMode::Abs).threshold(0.15);
    assert_rates("max abs", &plateau(abs, &[0.5, 0.6, 0.8]), &[1.0, 0.5, 0.5]);
    // min_lr bounds the rate; a change smaller than eps is skipped.
    let floor = ReduceLROnPlateau::new()
        .patience(0)
        .factor(0.1)
        .min_lr(0.015);
    let floor_factor = 0.015 / f64::from(0.1f32);
    let got = plateau(floor, &[1.0; 4]);
    assert_rates(
        "min_lr",
        &got,
        &[1.0, floor_factor, floor_factor, floor_factor],
    );
    let mut opt = optimizer(1e-8);
    let mut schedule = ReduceLROnPlateau::new()
        .patience(0)
        .factor(0.5)
        .build(&mut opt)
        .unwrap();
    for m in [1.0, 1.0, 1.0] {
        schedule.step_with_metric(&mut opt, m).unwrap();
    }
    assert_eq!(opt.lr(), 1e-8, "1e-8 − 5e-9 is not more than eps 1e-8");
    let e = schedule.step(&mut opt).unwrap_err();
    assert!(
        matches!(e, Error::Config(ref m) if m.contains("step_with_metric")),
        "{e}"
    );
}

#[test]
fn bad_arguments_are_typed_errors() {
    let hyper = |config: &dyn ScheduleConfig, name: &str| {
        let mut opt = optimizer(0.1);
        match config.build(&mut opt) {
            Err(Error::Hyperparameter { name: n, .. }) if n == name => {}
            other => panic!("{config:?}: expected Hyperparameter {name}, got {other:?}"),
        }
        assert_eq!(
            (opt.lr(), opt.initial_lr()),
            (0.1, None),
            "{config:?} left the optimizer as it was"
        );
    };
    hyper(&StepLR::new(3).gamma(0.0), "gamma");
    hyper(&StepLR::new(3).gamma(-0.5), "gamma");
    hyper(&MultiStepLR::new([2, 4]).gamma(f64::NAN), "gamma");
    hyper(&ExponentialLR::new(0.0), "gamma");
    hyper(&ExponentialLR::new(f64::INFINITY), "gamma");
    hyper(&LinearLR::new().start_factor(0.0), "start_factor");
    hyper(&LinearLR::new().start_factor(1.5), "start_factor");
    hyper(&LinearLR::new().end_factor(-0.1), "end_factor");
    hyper(&ConstantLR::new().factor(0.0), "factor");
    hyper(&CosineAnnealingLR::new(10).eta_min(-1e-3), "eta_min");
    hyper(
        &CosineAnnealingWarmRestarts::new(10).eta_min(f64::NAN),
        "eta_min",
    );
    hyper(
        &OneCycleLR::new(0.1).total_steps(10).pct_start(1.5),
        "pct_start",
    );
    hyper(&OneCycleLR::new(-0.1).total_steps(10), "max_lr");
    hyper(
        &OneCycleLR::new(0.1).total_steps(10).div_factor(0.0),
        "div_factor",
    );
    hyper(&ReduceLROnPlateau::new().factor(1.0), "factor");
    hyper(&ReduceLROnPlateau::new().factor(-0.5), "factor");
    hyper(&ReduceLROnPlateau::new().min_lr(-1.0), "min_lr");
    hyper(
        &ReduceLROnPlateau::new().threshold(f64::INFINITY),
        "threshold",
    );

    let config = |config: &dyn ScheduleConfig, needle: &str| {
        let mut opt = optimizer(0.1);
        match config.build(&mut opt) {
            Err(Error::Config(m)) if m.contains(needle) => {}
            other => panic!("{config:?}: expected Config about {needle}, got {other:?}"),
        }
        assert_eq!(
            (opt.lr(), opt.initial_lr()),
            (0.1, None),
            "{config:?} left the optimizer as it was"
        );
    };
    config(&StepLR::new(0), "step_size");
    config(&MultiStepLR::new([30, 10]), "increasing");
    config(&LinearLR::new().total_iters(0), "total_iters");
    config(&CosineAnnealingLR::new(0), "t_max");
    config(&CosineAnnealingWarmRestarts::new(0), "t_0");
    config(&CosineAnnealingWarmRestarts::new(5).t_mult(0), "t_mult");
    config(&OneCycleLR::new(0.1), "total_steps or both");
    config(&OneCycleLR::new(0.1).total_steps(0), "total_steps");
    config(&OneCycleLR::new(0.1).epochs(3), "total_steps or both");
    config(&OneCycleLR::new(0.1).epochs(0).steps_per_epoch(5), "epochs");
    config(
        &OneCycleLR::new(0.1).total_steps(10).pct_start(0.1),
        "no steps",
    );
    let parts = |n: usize| {
        (0..n)
            .map(|_| Box::new(ExponentialLR::new(0.9)) as Box<dyn ScheduleConfig>)
            .collect::<Vec<_>>()
    };
    config(&SequentialLR::new(vec![], vec![]), "at least one");
    config(&SequentialLR::new(parts(3), vec![5]), "need 2 milestones");
    config(&SequentialLR::new(parts(3), vec![9, 5]), "increasing");
    config(&ChainedScheduler::new(vec![]), "at least one");
    let plateau = || Box::new(ReduceLROnPlateau::new()) as Box<dyn ScheduleConfig>;
    config(&ChainedScheduler::new(vec![plateau()]), "metric");
    config(
        &SequentialLR::new(vec![Box::new(ExponentialLR::new(0.9)), plateau()], vec![3]),
        "metric",
    );
    let nested = SequentialLR::new(parts(1), vec![]);
    config(
        &SequentialLR::new(
            vec![Box::new(nested), Box::new(ExponentialLR::new(0.9))],
            vec![3],
        ),
        "ChainedScheduler",
    );
    // A bad part is found before any part touches the optimizer.
    config(
        &ChainedScheduler::new(vec![Box::new(LinearLR::new()), Box::new(StepLR::new(0))]),
        "step_size",
    );

    // OneCycleLR cycles a momentum: refused for an optimizer without one, and where SGD's
    // momentum buffer would come and go.
    let theta = Device::cpu().scalar(1.0).unwrap().param();
    let mut adagrad = Adagrad::new(0.1).build(&[&theta]).unwrap();
    let e = OneCycleLR::new(0.1)
        .total_steps(10)
        .build(&mut adagrad)
        .unwrap_err();
    assert!(
        matches!(e, Error::Config(ref m) if m.contains("cycle_momentum(false)")),
        "{e}"
    );
    let zero = OneCycleLR::new(0.1).total_steps(10).base_momentum(0.0);
    config(&zero, "momentum buffer");
    let theta = Device::cpu().scalar(1.0).unwrap().param();
    let mut adam = Adam::new(0.1).build(&[&theta]).unwrap();
    let e = OneCycleLR::new(0.1)
        .total_steps(10)
        .max_momentum(1.0)
        .build(&mut adam)
        .unwrap_err();
    assert!(
        matches!(e, Error::Hyperparameter { name: "beta1", .. }),
        "{e}"
    );
}

#[test]
fn a_refused_step_changes_nothing() {
    // ExponentialLR(10) overflows f32 after 39 steps from 1.
    let mut opt = optimizer(1.0);
    let mut schedule = ExponentialLR::new(10.0).build(&mut opt).unwrap();
    let mut steps = 0;
    let e = loop {
        match schedule.step(&mut opt) {
            Ok(()) => steps += 1,
            Err(e) => break e,
        }
    };
    assert!(matches!(e, Error::Hyperparameter { name: "lr", .. }), "{e}");
    assert_eq!((steps, schedule.last_epoch()), (38, 38));
    assert_eq!(schedule.last_lr(), opt.lr_f64());
    assert!(
        (opt.lr_f64() / 1e38 - 1.0).abs() < 1e-14,
        "{}",
        opt.lr_f64()
    );

    // In a chain, the parts that stepped before the one that failed are stepped back:
    // ×2 then ×5 per step, the ×5 of step 39 overflows after the ×2 went through.
    let mut opt = optimizer(1.0);
    let chain = ChainedScheduler::new(vec![
        Box::new(StepLR::new(1).gamma(2.0)),
        Box::new(ExponentialLR::new(5.0)),
    ]);
    let mut schedule = chain.build(&mut opt).unwrap();
    for _ in 0..38 {
        schedule.step(&mut opt).unwrap();
    }
    let before = (schedule.state(), opt.lr_f64());
    assert!(schedule.step(&mut opt).is_err());
    assert_eq!((schedule.state(), opt.lr_f64()), before);
}

/// `theta ← theta − lr · d/dθ (θ − 3)²`, in f64, with `lr` per epoch from `rates`.
fn descend(theta: f64, rates: &[f64]) -> f64 {
    rates.iter().fold(theta, |t, lr| t - lr * 2.0 * (t - 3.0))
}

#[test]
fn a_manual_loop_uses_each_epochs_rate() {
    // PyTorch's order: the optimizer steps with the current rate, then the schedule moves it.
    let theta = Device::cpu().scalar(0.0).unwrap().param();
    let mut opt = Sgd::new(0.4).build(&[&theta]).unwrap();
    let mut schedule = StepLR::new(3).gamma(0.5).build(&mut opt).unwrap();
    let mut rates = Vec::new();
    for _epoch in 0..12 {
        rates.push(f64::from(opt.lr()));
        let loss = (&theta - 3.0).unwrap().square().unwrap().mean().unwrap();
        opt.step(&loss.backward().unwrap()).unwrap();
        schedule.step(&mut opt).unwrap();
    }
    let factors: Vec<f64> = (0..12).map(|e| 0.5f64.powi(e / 3)).collect();
    for (r, f) in rates.iter().zip(&factors) {
        assert_eq!(*r, f64::from((f64::from(0.4f32) * f) as f32));
    }
    // About 2 roundings per step on values near 3: 12 · 2 · 2^-24 · 3 ≈ 4e-6.
    let want = descend(0.0, &rates);
    let got = f64::from(theta.item().unwrap());
    assert!((got - want).abs() < 1e-5, "theta {got}, expected {want}");

    // OneCycleLR per batch on SGD without momentum: PyTorch turns the momentum on (0.95)
    // when the schedule is built; the buffer exists from the first step.
    let theta = Device::cpu().scalar(0.0).unwrap().param();
    let mut opt = Sgd::new(0.01).build(&[&theta]).unwrap();
    let mut schedule = OneCycleLR::new(0.1)
        .total_steps(20)
        .build(&mut opt)
        .unwrap();
    assert_eq!(opt.momentum(), Some(0.95));
    for _batch in 0..20 {
        let loss = (&theta - 3.0).unwrap().square().unwrap().mean().unwrap();
        opt.step(&loss.backward().unwrap()).unwrap();
        schedule.step(&mut opt).unwrap();
    }
    assert!(
        opt.state_to_vec(0).is_ok() && opt.state_to_vec(1).is_err(),
        "one momentum buffer"
    );
    let e = opt.set_momentum(0.0).unwrap_err();
    assert!(
        matches!(e, Error::Config(ref m) if m.contains("after the first step")),
        "{e}"
    );
}

/// Steps `schedule` `n` times (with `metric(t)` for a schedule on a metric) and returns
/// the rates (f64) and momenta.
fn run(
    schedule: &mut dyn LrScheduler,
    opt: &mut Optimizer,
    n: usize,
    metric: impl Fn(usize) -> f32,
) -> Vec<(f64, Option<f32>)> {
    (0..n)
        .map(|t| {
            schedule.step_with_metric(opt, metric(t)).unwrap();
            (opt.lr_f64(), opt.momentum())
        })
        .collect()
}

fn round_trip_configs() -> Vec<Box<dyn ScheduleConfig>> {
    vec![
        Box::new(StepLR::new(7).gamma(0.7)),
        Box::new(MultiStepLR::new([5, 12, 40])),
        Box::new(ConstantLR::new().total_iters(30)),
        Box::new(LinearLR::new().total_iters(50)),
        Box::new(ExponentialLR::new(0.97)),
        Box::new(CosineAnnealingLR::new(17).eta_min(1e-4)),
        Box::new(CosineAnnealingWarmRestarts::new(6).t_mult(2)),
        Box::new(OneCycleLR::new(0.3).total_steps(90).three_phase(true)),
        Box::new(ReduceLROnPlateau::new().patience(2).cooldown(1).factor(0.5)),
        Box::new(SequentialLR::new(
            vec![
                Box::new(LinearLR::new().total_iters(10)),
                Box::new(CosineAnnealingLR::new(40)),
            ],
            vec![25],
        )),
        Box::new(ChainedScheduler::new(vec![
            Box::new(ConstantLR::new().factor(0.5).total_iters(40)),
            Box::new(CosineAnnealingWarmRestarts::new(9)),
        ])),
    ]
}

#[test]
fn state_round_trips_through_json() {
    // A metric that improves, stalls and improves again, so the plateau counters move.
    let metric = |t: usize| 1.0 / (1.0 + (t / 4) as f32);
    for config in round_trip_configs() {
        let mut opt = Sgd::new(0.1)
            .momentum(0.9)
            .build(&[&Device::cpu().scalar(1.0).unwrap().param()])
            .unwrap();
        let mut original = config.build(&mut opt).unwrap();
        run(original.as_mut(), &mut opt, 33, metric);
        let text = serde_json::to_string(&original.state()).unwrap();
        let state: ScheduleState = serde_json::from_str(&text).unwrap();
        assert_eq!(
            state,
            original.state(),
            "{}: JSON keeps the state exactly",
            config.name()
        );

        // A fresh optimizer and schedule, as a resumed run builds them.
        let mut fresh = Sgd::new(0.1)
            .momentum(0.9)
            .build(&[&Device::cpu().scalar(1.0).unwrap().param()])
            .unwrap();
        let mut resumed = config.build(&mut fresh).unwrap();
        resumed.load_state(&mut fresh, &state).unwrap();
        assert_eq!(
            (fresh.lr_f64(), fresh.momentum()),
            (opt.lr_f64(), opt.momentum()),
            "{}",
            config.name()
        );
        assert_eq!(resumed.state(), original.state(), "{}", config.name());
        let shifted = |t: usize| metric(t + 33);
        let expected = run(original.as_mut(), &mut opt, 40, shifted);
        let got = run(resumed.as_mut(), &mut fresh, 40, shifted);
        assert_eq!(
            got,
            expected,
            "{}: the same rates after resuming",
            config.name()
        );
    }
}

#[test]
fn a_foreign_state_is_refused() {
    let mut opt = optimizer(0.1);
    let mut step = StepLR::new(5).build(&mut opt).unwrap();
    let exponential = ExponentialLR::new(0.9)
        .build(&mut optimizer(0.1))
        .unwrap()
        .state();
    let e = step.load_state(&mut opt, &exponential).unwrap_err();
    assert!(
        matches!(e, Error::Config(ref m) if m.contains("ExponentialLR")),
        "{e}"
    );

    let sequential = SequentialLR::new(
        vec![Box::new(LinearLR::new()), Box::new(StepLR::new(5))],
        vec![5],
    );
    let mut schedule = sequential.build(&mut opt).unwrap();
    let before = (schedule.state(), opt.lr_f64());
    let mut state = schedule.state();
    state.children[1].name = "MultiStepLR".into();
    assert!(schedule.load_state(&mut opt, &state).is_err());
    let mut state = schedule.state();
    state.children.pop();
    assert!(schedule.load_state(&mut opt, &state).is_err());
    let mut state = schedule.state();
    state.last_lr = -1.0;
    assert!(schedule.load_state(&mut opt, &state).is_err());
    assert_eq!(
        (schedule.state(), opt.lr_f64()),
        before,
        "a refused state changes nothing"
    );

    let mut plateau = ReduceLROnPlateau::new().build(&mut opt).unwrap();
    let mut state = plateau.state();
    state.counters.retain(|(n, _)| n != "best");
    assert!(plateau.load_state(&mut opt, &state).is_err());
}

#[test]
fn the_optimizer_keeps_the_schedules_f64_rate() {
    let mut opt = optimizer(0.1);
    opt.set_lr_f64(0.1).unwrap();
    assert_eq!((opt.lr_f64(), opt.lr()), (0.1, 0.1f32));
    opt.set_lr(0.25).unwrap();
    assert_eq!(opt.lr_f64(), 0.25);
    for bad in [-1e-30, f64::NAN, f64::INFINITY, 1e39] {
        assert!(
            matches!(
                opt.set_lr_f64(bad),
                Err(Error::Hyperparameter { name: "lr", .. })
            ),
            "{bad}"
        );
    }
    assert_eq!(opt.lr_f64(), 0.25, "a refused rate changes nothing");
    // PyTorch's initial_lr: the first schedule records it, later ones read it as base.
    let _warm = LinearLR::new().build(&mut opt).unwrap();
    assert_eq!(opt.initial_lr(), Some(0.25));
    let _cycle = OneCycleLR::new(1.0)
        .total_steps(10)
        .build(&mut opt)
        .unwrap();
    assert_eq!(
        opt.initial_lr(),
        Some(1.0 / 25.0),
        "OneCycleLR sets it to max_lr / div_factor"
    );
}
