//! Checkpoints (issue 8): weights and training checkpoints round-trip bit for bit on both
//! backends and across them; a run resumed from a checkpoint, in this process or a new
//! one, continues exactly as the uninterrupted run; the file is a plain safetensors file
//! in the documented layout.
//!
//! Every comparison here is of bits, not within a tolerance: a checkpoint copies values,
//! and the resumed run executes the same operations on the same inputs as the
//! uninterrupted one on the same device.

mod common;

use common::devices;
use common::runs::{bits, model, optimizer, scratch, snapshot, train};
use downhill::prelude::*;
use downhill::{EpochRecord, HyperparameterValue};
use std::collections::BTreeMap;

/// An Adam run with every state buffer (amsgrad) and weight decay.
fn adam() -> Adam {
    Adam::new(0.01).amsgrad(true).weight_decay(1e-3)
}

#[test]
fn weights_round_trip_bit_exact_on_each_device() {
    for device in devices() {
        let dir = scratch(&format!("weights-{:?}", device.kind()));
        let trained = model(&device, 1);
        let mut opt = optimizer(&trained, &adam());
        train(&trained, &mut opt, 0..3);
        let path = dir.join("w.safetensors");
        trained.save_weights(&path).unwrap();

        let mut fresh = model(&device, 2);
        assert_ne!(
            snapshot(&fresh, &opt).params,
            snapshot(&trained, &opt).params
        );
        fresh.load_weights(&path).unwrap();
        assert_eq!(
            snapshot(&fresh, &opt).params,
            snapshot(&trained, &opt).params,
            "{device:?}"
        );
        // The same state writes the same bytes.
        trained.save_weights(dir.join("again.safetensors")).unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            std::fs::read(dir.join("again.safetensors")).unwrap()
        );
    }
}

#[test]
fn checkpoints_move_between_devices() {
    let Some(gpu) = common::gpu() else { return };
    let dir = scratch("cross");
    let cpu = Device::cpu();
    for (from, to) in [(&gpu, &cpu), (&cpu, &gpu)] {
        let source = model(from, 3);
        let mut opt = optimizer(&source, &adam());
        train(&source, &mut opt, 0..4);
        let path = dir.join("run.safetensors");
        Checkpoint::capture(&source, &opt, TrainingState::default())
            .unwrap()
            .save(&path)
            .unwrap();
        source.save_weights(dir.join("w.safetensors")).unwrap();

        let mut target = model(to, 4);
        let mut target_opt = optimizer(&target, &adam());
        Checkpoint::load(&path)
            .unwrap()
            .restore(&mut target, &mut target_opt)
            .unwrap();
        assert_eq!(snapshot(&target, &target_opt), snapshot(&source, &opt));

        let mut weights_only = model(to, 5);
        weights_only
            .load_weights(dir.join("w.safetensors"))
            .unwrap();
        assert_eq!(
            snapshot(&weights_only, &target_opt).params,
            snapshot(&source, &opt).params
        );
    }
}

/// N steps, save, load into a FRESH model and optimizer (another init seed), M steps:
/// the bits of N+M uninterrupted steps.
fn resume_matches_uninterrupted(device: &Device, config: &dyn OptimizerConfig, clip: bool) {
    let (n, m) = (5, 4);
    let build = |seed| {
        let net = model(device, seed);
        let mut opt = optimizer(&net, config);
        if clip {
            opt = opt.with_clip(GradClip::Norm(0.5)).unwrap();
        }
        (net, opt)
    };
    let (reference, mut reference_opt) = build(7);
    train(&reference, &mut reference_opt, 0..n + m);

    let dir = scratch(&format!("resume-{}-{:?}", config.name(), device.kind()));
    let path = dir.join("run.safetensors");
    let (first, mut first_opt) = build(7);
    train(&first, &mut first_opt, 0..n);
    Checkpoint::capture(&first, &first_opt, TrainingState::default())
        .unwrap()
        .save(&path)
        .unwrap();
    drop((first, first_opt));

    let (mut resumed, mut resumed_opt) = build(8);
    Checkpoint::load(&path)
        .unwrap()
        .restore(&mut resumed, &mut resumed_opt)
        .unwrap();
    train(&resumed, &mut resumed_opt, n..n + m);
    assert_eq!(
        snapshot(&resumed, &resumed_opt),
        snapshot(&reference, &reference_opt),
        "{config:?} on {device:?}"
    );
}

#[test]
fn resumed_adam_amsgrad_continues_bit_for_bit_on_each_device() {
    for device in devices() {
        resume_matches_uninterrupted(&device, &adam(), false);
        resume_matches_uninterrupted(&device, &adam(), true);
    }
}

#[test]
fn every_optimizer_resumes_bit_for_bit_on_the_cpu() {
    let configs: Vec<Box<dyn OptimizerConfig>> = vec![
        Box::new(Sgd::new(0.05)),
        Box::new(
            Sgd::new(0.05)
                .momentum(0.9)
                .nesterov(true)
                .weight_decay(1e-2),
        ),
        Box::new(Sgd::new(0.05).momentum(0.8).dampening(0.3).maximize(true)),
        Box::new(
            Adagrad::new(0.05)
                .lr_decay(0.1)
                .initial_accumulator_value(0.2),
        ),
        Box::new(RmsProp::new(0.01).centered(true).momentum(0.5)),
        Box::new(AdamW::new(0.01)),
        Box::new(Adamax::new(0.01)),
        Box::new(
            NAdam::new(0.01)
                .decoupled_weight_decay(true)
                .weight_decay(0.1),
        ),
        Box::new(Adadelta::new(1.0).weight_decay(1e-2)),
    ];
    for config in &configs {
        resume_matches_uninterrupted(&Device::cpu(), config.as_ref(), false);
    }
}

#[test]
fn every_optimizer_resumes_bit_for_bit_on_the_gpu() {
    let Some(gpu) = common::gpu() else { return };
    for config in [
        Box::new(Sgd::new(0.05).momentum(0.9)) as Box<dyn OptimizerConfig>,
        Box::new(RmsProp::new(0.01).centered(true).momentum(0.5)),
        Box::new(NAdam::new(0.01)),
    ] {
        resume_matches_uninterrupted(&gpu, config.as_ref(), false);
    }
}

/// Parameters stepped a different number of times (one without a gradient in some steps,
/// as torch.optim skips it) keep their own step counts through `state_dict`.
#[test]
fn per_parameter_step_counts_survive_state_dict() {
    for device in devices() {
        let run = |opt: &mut Optimizer, a: &Tensor, b: &Tensor, steps: std::ops::Range<u64>| {
            for step in steps {
                let mut loss = (a - 1.5).unwrap().square().unwrap().sum().unwrap();
                if step % 3 == 0 {
                    loss = (&loss + &(b * 2.0).unwrap().square().unwrap().sum().unwrap()).unwrap();
                }
                opt.step(&loss.backward().unwrap()).unwrap();
            }
        };
        let make = || {
            let a = device.tensor(vec![0.5, -1.0, 2.0], [3]).unwrap().param();
            let b = device.tensor(vec![1.0, 0.25], [2]).unwrap().param();
            let opt = NAdam::new(0.05).build(&[&a, &b]).unwrap();
            (a, b, opt)
        };
        let (a, b, mut opt) = make();
        run(&mut opt, &a, &b, 0..10);
        let (a2, b2, mut opt2) = make();
        run(&mut opt2, &a2, &b2, 0..5);
        let state = opt2.state_dict().unwrap();
        assert_eq!(state.contexts[0].step, 5);
        assert_eq!(
            state.contexts[1].step, 2,
            "b had gradients at steps 0 and 3"
        );
        assert_eq!(state.buffers[0].name, "exp_avg");

        // A fresh optimizer over fresh tensors holding the same values (the parameters
        // themselves are the model's business, copied by hand here).
        let a3 = device.tensor(a2.to_vec().unwrap(), [3]).unwrap().param();
        let b3 = device.tensor(b2.to_vec().unwrap(), [2]).unwrap().param();
        let mut opt4 = NAdam::new(0.05).build(&[&a3, &b3]).unwrap();
        opt4.load_state_dict(&state).unwrap();
        run(&mut opt4, &a3, &b3, 5..10);
        assert_eq!(bits(&a3.to_vec().unwrap()), bits(&a.to_vec().unwrap()));
        assert_eq!(bits(&b3.to_vec().unwrap()), bits(&b.to_vec().unwrap()));
        assert_eq!(opt4.step_contexts(), opt.step_contexts());
        assert_eq!(opt4.state_dict().unwrap(), opt.state_dict().unwrap());
    }
}

#[test]
fn the_training_state_round_trips_with_the_history() {
    let dir = scratch("training");
    let device = Device::cpu();
    let net = model(&device, 1);
    let opt = optimizer(&net, &adam());
    let record = |epoch, loss| EpochRecord {
        epoch,
        loss,
        metrics: vec![("accuracy".into(), 0.5)],
        val_loss: Some(f32::INFINITY),
        val_metrics: vec![("accuracy".into(), f32::NAN)],
        lr: 1e-3,
    };
    let training = TrainingState {
        epoch: 2,
        shuffle_seed: u64::MAX - 3,
        schedule: Some(serde_json::json!({"kind": "step", "gamma": 0.5, "last_epoch": 2})),
        history: History {
            records: vec![record(1, 0.25), record(2, f32::NAN)],
            seconds: vec![0.5, 0.125],
            stop_reason: Some("EarlyStopping: loss did not improve".into()),
            ..History::default()
        },
        extra: BTreeMap::from([("batch_size".to_string(), serde_json::json!(11))]),
    };
    let path = dir.join("run.safetensors");
    Checkpoint::capture(&net, &opt, training.clone())
        .unwrap()
        .save(&path)
        .unwrap();
    let back = Checkpoint::load(&path).unwrap();
    let t = back.training();
    assert_eq!(
        (t.epoch, t.shuffle_seed, &t.schedule, &t.extra),
        (2, u64::MAX - 3, &training.schedule, &training.extra)
    );
    // NaN != NaN: compare the histories as their JSON, which spells every value.
    assert_eq!(
        t.history.to_json().unwrap(),
        training.history.to_json().unwrap()
    );
    assert!(t.history.records[1].loss.is_nan());
    assert_eq!(back.optimizer.name, "Adam");
    assert_eq!(
        back.optimizer.hyperparameter("amsgrad"),
        Some(HyperparameterValue::Flag(true))
    );
    assert_eq!(back.optimizer.lr(), Some(0.01));
}

/// A diverged run's checkpoint keeps its NaN and infinities, bit for bit (payloads too).
#[test]
fn non_finite_values_load_as_they_are() {
    let dir = scratch("nonfinite");
    for device in devices() {
        let net = model(&device, 1);
        let opt = optimizer(&net, &adam());
        let mut checkpoint = Checkpoint::capture(&net, &opt, TrainingState::default()).unwrap();
        let odd_nan = f32::from_bits(0x7fc0_1234);
        checkpoint.parameters[0].values[..3].copy_from_slice(&[odd_nan, f32::INFINITY, -0.0]);
        checkpoint.optimizer.buffers[1].values[2][0] = f32::NEG_INFINITY;
        let path = dir.join("diverged.safetensors");
        checkpoint.save(&path).unwrap();

        let mut net2 = model(&device, 2);
        let mut opt2 = optimizer(&net2, &adam());
        Checkpoint::load(&path)
            .unwrap()
            .restore(&mut net2, &mut opt2)
            .unwrap();
        let s = snapshot(&net2, &opt2);
        assert_eq!(
            s.params[0].2[..3],
            [0x7fc0_1234, f32::INFINITY.to_bits(), (-0.0f32).to_bits()]
        );
        assert_eq!(s.state[1][2][0], f32::NEG_INFINITY.to_bits());
        net2.save_weights(dir.join("w.safetensors")).unwrap();
        let mut net3 = model(&device, 3);
        net3.load_weights(dir.join("w.safetensors")).unwrap();
        assert_eq!(snapshot(&net3, &opt2).params, s.params);
    }
}

/// The file as any safetensors reader sees it: F32 tensors in our layout (`[in, out]`)
/// under PyTorch-like names, and one JSON metadata document.
#[test]
fn the_file_is_plain_safetensors_in_the_documented_layout() {
    let dir = scratch("layout");
    let device = Device::cpu();
    let net = model(&device, 1);
    let opt = optimizer(&net, &adam());
    let path = dir.join("run.safetensors");
    Checkpoint::capture(&net, &opt, TrainingState::default())
        .unwrap()
        .save(&path)
        .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = file.names().into_iter().map(String::from).collect();
    names.sort();
    let params = [
        "0.dense.weight",
        "0.dense.bias",
        "1.dense.weight",
        "2.dense.weight",
        "2.dense.bias",
    ];
    let mut expected: Vec<String> = params.iter().map(|p| p.to_string()).collect();
    for buffer in ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"] {
        expected.extend(params.iter().map(|p| format!("optimizer.{buffer}.{p}")));
    }
    expected.sort();
    assert_eq!(names, expected);
    let weight = file.tensor("0.dense.weight").unwrap();
    assert_eq!(weight.dtype(), safetensors::Dtype::F32);
    assert_eq!(weight.shape(), [3, 7], "Dense weight is [in, out]");
    let values: Vec<f32> = weight
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let ours = net.named_parameters().unwrap()[0].1.to_vec().unwrap();
    assert_eq!(bits(&values), bits(&ours), "row-major, little-endian");
    assert_eq!(file.tensor("1.dense.weight").unwrap().shape(), [7, 5]);

    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let metadata = header.metadata().as_ref().unwrap();
    assert_eq!(metadata.len(), 1, "{metadata:?}");
    let doc: serde_json::Value = serde_json::from_str(&metadata["downhill"]).unwrap();
    assert_eq!(doc["format_version"], 1);
    assert_eq!(doc["kind"], "checkpoint");
    assert_eq!(doc["layers"][0], "Dense(3 -> 7, tanh)");
    assert_eq!(doc["parameters"][2], "1.dense.weight");
    assert_eq!(doc["optimizer"]["hyperparameters"]["lr"], 0.01);
    assert_eq!(doc["optimizer"]["hyperparameters"]["amsgrad"], true);
    assert_eq!(doc["optimizer"]["buffers"][2], "max_exp_avg_sq");
}

/// A checkpoint loads as weights; so does a file another tool wrote with our names and
/// layout and no downhill metadata (what the PyTorch snippet in the docs writes).
#[test]
fn load_weights_reads_checkpoints_and_foreign_files() {
    let dir = scratch("foreign");
    let device = Device::cpu();
    let net = model(&device, 1);
    let opt = optimizer(&net, &adam());
    Checkpoint::capture(&net, &opt, TrainingState::default())
        .unwrap()
        .save(dir.join("run.safetensors"))
        .unwrap();
    let mut from_checkpoint = model(&device, 2);
    from_checkpoint
        .load_weights(dir.join("run.safetensors"))
        .unwrap();
    assert_eq!(
        snapshot(&from_checkpoint, &opt).params,
        snapshot(&net, &opt).params
    );

    let named = net.named_parameters().unwrap();
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = named
        .iter()
        .map(|(n, t)| {
            let bytes = t
                .to_vec()
                .unwrap()
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            (n.clone(), t.dims().to_vec(), bytes)
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = data
        .iter()
        .map(|(n, shape, b)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), b);
            (n.clone(), view.unwrap())
        })
        .collect();
    let torch_like = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    let bytes = safetensors::serialize(views, Some(torch_like)).unwrap();
    std::fs::write(dir.join("torch.safetensors"), bytes).unwrap();
    let mut foreign = model(&device, 3);
    foreign.load_weights(dir.join("torch.safetensors")).unwrap();
    assert_eq!(snapshot(&foreign, &opt).params, snapshot(&net, &opt).params);
}

/// The lr in the checkpoint (a schedule may have changed it) wins over the fresh
/// optimizer's; every other hyperparameter must match.
#[test]
fn the_learning_rate_in_force_is_restored() {
    let dir = scratch("lr");
    let device = Device::cpu();
    let net = model(&device, 1);
    let mut opt = optimizer(&net, &adam());
    train(&net, &mut opt, 0..2);
    opt.set_lr(0.0025).unwrap();
    let path = dir.join("run.safetensors");
    Checkpoint::capture(&net, &opt, TrainingState::default())
        .unwrap()
        .save(&path)
        .unwrap();
    let mut net2 = model(&device, 2);
    let mut opt2 = optimizer(&net2, &adam());
    Checkpoint::load(&path)
        .unwrap()
        .restore(&mut net2, &mut opt2)
        .unwrap();
    assert_eq!(opt2.lr(), 0.0025);
    assert_eq!(opt2.steps(), 2);
}

const CHILD: &str = "DOWNHILL_CHECKPOINT_CHILD";

/// Resumes in a separate process: the test runs its own binary again, which loads the
/// checkpoint, takes the remaining steps and saves the result.
#[test]
fn a_new_process_resumes_bit_for_bit() {
    let (n, m) = (6, 5);
    if let Ok(dir) = std::env::var(CHILD) {
        let dir = std::path::PathBuf::from(dir);
        let device = Device::cpu();
        let mut net = model(&device, 99);
        let mut opt = optimizer(&net, &adam());
        let checkpoint = Checkpoint::load(dir.join("run.safetensors")).unwrap();
        checkpoint.restore(&mut net, &mut opt).unwrap();
        train(&net, &mut opt, n..n + m);
        Checkpoint::capture(&net, &opt, checkpoint.training.clone())
            .unwrap()
            .save(dir.join("after.safetensors"))
            .unwrap();
        return;
    }
    let dir = scratch("process");
    let device = Device::cpu();
    let reference = model(&device, 1);
    let mut reference_opt = optimizer(&reference, &adam());
    train(&reference, &mut reference_opt, 0..n + m);

    let first = model(&device, 1);
    let mut first_opt = optimizer(&first, &adam());
    train(&first, &mut first_opt, 0..n);
    let training = TrainingState {
        epoch: 1,
        ..Default::default()
    };
    Checkpoint::capture(&first, &first_opt, training)
        .unwrap()
        .save(dir.join("run.safetensors"))
        .unwrap();
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "a_new_process_resumes_bit_for_bit",
            "--exact",
            "--test-threads=1",
        ])
        .env(CHILD, &dir)
        .output()
        .unwrap();
    assert!(
        child.status.success(),
        "the child run failed: {}\n{}",
        String::from_utf8_lossy(&child.stdout),
        String::from_utf8_lossy(&child.stderr)
    );

    let mut after = model(&device, 2);
    let mut after_opt = optimizer(&after, &adam());
    let checkpoint = Checkpoint::load(dir.join("after.safetensors")).unwrap();
    assert_eq!(checkpoint.training.epoch, 1);
    checkpoint.restore(&mut after, &mut after_opt).unwrap();
    assert_eq!(
        snapshot(&after, &after_opt),
        snapshot(&reference, &reference_opt)
    );
}
