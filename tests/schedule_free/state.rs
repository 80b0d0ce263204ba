//! Typed errors for bad hyperparameters, and the state: `state_dict` and checkpoint files
//! round-trip the mode, the carried `lr_max`/`weight_sum` and every buffer, and the
//! restored run continues bit for bit.

use crate::common;
use crate::common::runs::{batch, model, optimizer, scratch, snapshot, train};
use downhill::prelude::*;
use downhill::Error;

#[test]
fn bad_hyperparameters_are_typed_errors() {
    let leaf = Device::cpu()
        .tensor(vec![0.5, -0.25, 1.0], [3])
        .expect("tensor")
        .param();
    let a = AdamWScheduleFree::default;
    let mut fractional = a();
    fractional.warmup_steps = 1.5;
    let adamw: Vec<(&str, AdamWScheduleFree)> = vec![
        ("lr", AdamWScheduleFree::new(-1.0)),
        ("lr", AdamWScheduleFree::new(f32::NAN)),
        ("beta1", a().betas(0.0, 0.999)),
        ("beta1", a().betas(1.0, 0.999)),
        ("beta2", a().betas(0.9, 1.0)),
        ("beta2", a().betas(0.9, -0.1)),
        ("eps", a().eps(-1e-8)),
        ("weight_decay", a().weight_decay(-0.1)),
        ("warmup_steps", fractional),
        ("r", a().r(f32::NAN)),
        ("weight_lr_power", a().weight_lr_power(-1.0)),
        ("inner_momentum", a().inner_momentum(1.0)),
    ];
    for (name, config) in adamw {
        match config.build(&[&leaf]) {
            Err(Error::Hyperparameter { name: got, .. }) if got == name => {}
            Err(e) => panic!("{config:?}: expected a Hyperparameter error on {name}, got {e:?}"),
            Ok(_) => panic!("{config:?}: expected a Hyperparameter error on {name}, it built"),
        }
    }
    let s = || SgdScheduleFree::new(1.0);
    let sgd: Vec<(&str, SgdScheduleFree)> = vec![
        ("lr", SgdScheduleFree::new(-0.5)),
        ("momentum", s().momentum(0.0)),
        ("momentum", s().momentum(1.0)),
        ("weight_decay", s().weight_decay(f32::INFINITY)),
        ("r", s().r(f32::INFINITY)),
        ("weight_lr_power", s().weight_lr_power(f32::NAN)),
    ];
    for (name, config) in sgd {
        match config.build(&[&leaf]) {
            Err(Error::Hyperparameter { name: got, .. }) if got == name => {}
            Err(e) => panic!("{config:?}: expected a Hyperparameter error on {name}, got {e:?}"),
            Ok(_) => panic!("{config:?}: expected a Hyperparameter error on {name}, it built"),
        }
    }
    // A schedule cannot set a negative rate either, and a group override is checked.
    let mut opt = s().build(&[&leaf]).unwrap();
    assert!(matches!(
        opt.set_lr(-1.0),
        Err(Error::Hyperparameter { .. })
    ));
    let group = ParamGroup::new(&[&leaf]).set("momentum", 1.5f32);
    assert!(matches!(
        s().build_groups(vec![group]),
        Err(Error::Hyperparameter {
            name: "momentum",
            ..
        })
    ));
}

/// The devices to run on: the CPU, and the GPU when there is one.
fn devices() -> Vec<Device> {
    std::iter::once(common::cpu())
        .chain(common::gpu())
        .collect()
}

/// With warmup (so `lr_max` grows), `r` (so the weights do) and a rate lowered after the
/// 6th step (so `lr_max` outlives it): 6 steps, `eval`, a
/// `state_dict` and a checkpoint file; a fresh model and optimizer restored from either
/// are at `x` in evaluation mode with the same carried values, and `train` plus 6 more
/// steps match the uninterrupted run bit for bit.
#[test]
fn state_dict_and_checkpoints_round_trip_mode_and_carried_values() {
    let configs: Vec<Box<dyn OptimizerConfig>> = vec![
        Box::new(
            AdamWScheduleFree::new(0.05)
                .warmup_steps(8)
                .r(1.0)
                .inner_momentum(0.9),
        ),
        Box::new(
            SgdScheduleFree::new(0.05)
                .warmup_steps(8)
                .r(0.5)
                .weight_decay(0.1),
        ),
    ];
    for device in devices() {
        for config in &configs {
            let net = model(&device, 3);
            let mut opt = optimizer(&net, config.as_ref());
            train(&net, &mut opt, 0..6);
            // A lower rate from here, so the carried lr_max (not the rate) sets the
            // weights of the steps after the restore.
            let lr = f64::from(config.lr());
            opt.set_lr(opt.lr() / 4.0).unwrap();
            opt.eval().unwrap();
            let state = opt.state_dict().unwrap();
            assert!(!state.train_mode);
            let ctx = &state.contexts[0];
            assert_eq!(ctx.step, 6);
            // lr·6/8 after 6 warmup steps; the weights (k+1)^r·lr_max^2 summed.
            assert_eq!(ctx.lr_max, lr * 6.0 / 8.0);
            assert!(ctx.weight_sum > 0.0);
            let path = scratch("schedule-free").join(format!("{}.safetensors", opt.name()));
            Checkpoint::capture(&net, &opt, TrainingState::default())
                .unwrap()
                .save(&path)
                .unwrap();
            let saved = snapshot(&net, &opt);
            // The uninterrupted run.
            opt.train().unwrap();
            train(&net, &mut opt, 6..12);
            let whole = snapshot(&net, &opt);
            let whole_ctx = opt.step_contexts().to_vec();

            // From the state_dict (the parameters copied as they were, at x).
            let net2 = model(&device, 99);
            let weights: Vec<Vec<f32>> = saved
                .params
                .iter()
                .map(|(_, _, b)| b.iter().map(|&u| f32::from_bits(u)).collect())
                .collect();
            net2.set_weights(&weights).unwrap();
            let mut opt2 = optimizer(&net2, config.as_ref());
            opt2.load_state_dict(&state).unwrap();
            assert!(!opt2.is_training());
            assert_eq!(opt2.step_contexts(), state.contexts.as_slice());
            assert_eq!(snapshot(&net2, &opt2), saved);
            let (x, y) = batch(&device, 6);
            let loss = Loss::MeanSquaredError
                .compute(&net2.forward(&x).unwrap(), &y)
                .unwrap();
            assert!(matches!(
                opt2.step(&loss.backward().unwrap()),
                Err(Error::Config(_))
            ));
            opt2.train().unwrap();
            train(&net2, &mut opt2, 6..12);
            assert_eq!(snapshot(&net2, &opt2), whole);
            assert_eq!(opt2.step_contexts(), whole_ctx.as_slice());

            // From the file.
            let back = Checkpoint::load(&path).unwrap();
            assert!(!back.optimizer.train_mode);
            assert_eq!(back.optimizer.contexts, state.contexts);
            let mut net3 = model(&device, 98);
            let mut opt3 = optimizer(&net3, config.as_ref());
            back.restore(&mut net3, &mut opt3).unwrap();
            assert!(!opt3.is_training());
            assert_eq!(snapshot(&net3, &opt3), saved);
            opt3.train().unwrap();
            train(&net3, &mut opt3, 6..12);
            assert_eq!(snapshot(&net3, &opt3), whole);
            assert_eq!(opt3.step_contexts(), whole_ctx.as_slice());
        }
    }
}

/// Parameter groups with their own β (so their own swap weights) and rates: the grouped
/// optimizer steps, swaps to x and back exactly as one optimizer per group.
#[test]
fn groups_step_and_swap_as_separate_optimizers() {
    let bits = |t: &Tensor| {
        t.to_vec()
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<u32>>()
    };
    type Case = (
        Box<dyn OptimizerConfig>,
        Box<dyn OptimizerConfig>,
        fn(ParamGroup) -> ParamGroup,
    );
    let cases: Vec<Case> = vec![
        (
            Box::new(AdamWScheduleFree::new(0.05).warmup_steps(3)),
            Box::new(
                AdamWScheduleFree::new(0.02)
                    .warmup_steps(3)
                    .betas(0.5, 0.99),
            ),
            |g| g.lr(0.02).betas(0.5, 0.99),
        ),
        (
            Box::new(SgdScheduleFree::new(0.1).weight_decay(0.1)),
            Box::new(SgdScheduleFree::new(0.3).weight_decay(0.1).momentum(0.4)),
            |g| g.lr(0.3).momentum(0.4),
        ),
    ];
    for device in devices() {
        for (first, second, overrides) in &cases {
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
            let (a, b) = make();
            let groups = vec![ParamGroup::new(&[&a]), overrides(ParamGroup::new(&[&b]))];
            let mut grouped = Optimizer::with_groups(first.boxed_clone(), groups).unwrap();
            let (a1, b1) = make();
            let mut oa = Optimizer::new(first.boxed_clone(), &[&a1]).unwrap();
            let mut ob = Optimizer::new(second.boxed_clone(), &[&b1]).unwrap();
            for step in 0..8 {
                if step == 6 {
                    for opt in [&mut grouped, &mut oa, &mut ob] {
                        opt.eval().unwrap();
                    }
                    assert_eq!(bits(&a), bits(&a1));
                    assert_eq!(bits(&b), bits(&b1));
                    for opt in [&mut grouped, &mut oa, &mut ob] {
                        opt.train().unwrap();
                    }
                }
                grouped.step(&loss(&a, &b).backward().unwrap()).unwrap();
                let grads = loss(&a1, &b1).backward().unwrap();
                oa.step(&grads).unwrap();
                ob.step(&grads).unwrap();
            }
            assert_eq!(bits(&a), bits(&a1), "{first:?}");
            assert_eq!(bits(&b), bits(&b1), "{second:?}");
        }
    }
}
