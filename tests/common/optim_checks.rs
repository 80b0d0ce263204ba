//! The checks every optimizer of the per-optimizer test files passes alike: one GPU
//! dispatch per step without a round trip, parameter groups and the `state_dict` round
//! trip, typed hyperparameter errors, and a checkpoint file round trip.

use super::optim::{bits, seeded, PARITY_SHAPES};
use downhill::prelude::*;

/// On the GPU a step of `config` over five parameters is one dispatch and one
/// submission, with no allocation, upload or download (every per-step scalar is in the
/// uniform); two groups take two dispatches.
pub fn assert_one_dispatch(config: &dyn OptimizerConfig) {
    let Some(gpu) = super::private_gpu() else {
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
    let mut opt = Optimizer::new(config.boxed_clone(), &refs).unwrap();
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
    let mut grouped = Optimizer::with_groups(
        config.boxed_clone(),
        vec![
            ParamGroup::new(&refs[..2]),
            ParamGroup::new(&refs[2..]).lr(0.001),
        ],
    )
    .unwrap();
    let grads = loss().backward().unwrap();
    let before = gpu.stats();
    grouped.step(&grads).unwrap();
    assert_eq!(gpu.stats().since(&before).dispatches, 2);
}

/// On every device: two groups, the second with `second`'s overrides, step (10 steps)
/// exactly as two separate optimizers would (the second's configuration is `config` with
/// those overrides written through `hyperparameter_fields`), and a `state_dict` taken
/// after 4 steps, loaded into a fresh optimizer, resumes bit for bit. The state buffers
/// must be named `state`.
pub fn assert_groups_and_state_dict_round_trip(
    config: &dyn OptimizerConfig,
    second: impl Fn(ParamGroup) -> ParamGroup,
    state: &[&str],
) {
    for device in super::devices() {
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
            Optimizer::with_groups(
                config.boxed_clone(),
                vec![ParamGroup::new(&[a]), second(ParamGroup::new(&[b]))],
            )
            .unwrap()
        };
        let (a, b) = make();
        let mut opt = grouped(&a, &b);
        for _ in 0..10 {
            opt.step(&loss(&a, &b).backward().unwrap()).unwrap();
        }
        let mut config_b = config.boxed_clone();
        for (name, value) in second(ParamGroup::new(&[&b])).overrides() {
            let mut fields = config_b.hyperparameter_fields();
            let field = fields.iter_mut().find(|(n, _)| n == name).expect("a field");
            assert!(field.1.set(*value), "{name}");
        }
        let (a1, b1) = make();
        let mut oa = Optimizer::new(config.boxed_clone(), &[&a1]).unwrap();
        let mut ob = Optimizer::new(config_b, &[&b1]).unwrap();
        for _ in 0..10 {
            let grads = loss(&a1, &b1).backward().unwrap();
            oa.step(&grads).unwrap();
            ob.step(&grads).unwrap();
        }
        assert_eq!(bits(&a.to_vec().unwrap()), bits(&a1.to_vec().unwrap()));
        assert_eq!(bits(&b.to_vec().unwrap()), bits(&b1.to_vec().unwrap()));
        assert_ne!(a.to_vec().unwrap(), vec![0.5, -1.0, 2.0]);
        assert_ne!(b.to_vec().unwrap(), vec![1.0, 0.25]);
        let (a2, b2) = make();
        let mut first = grouped(&a2, &b2);
        for _ in 0..4 {
            first.step(&loss(&a2, &b2).backward().unwrap()).unwrap();
        }
        let saved = first.state_dict().unwrap();
        let names: Vec<&str> = saved.buffers.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, state);
        let a3 = device.tensor(a2.to_vec().unwrap(), [3]).unwrap().param();
        let b3 = device.tensor(b2.to_vec().unwrap(), [2]).unwrap().param();
        let mut resumed = grouped(&a3, &b3);
        resumed.load_state_dict(&saved).unwrap();
        for _ in 0..6 {
            resumed.step(&loss(&a3, &b3).backward().unwrap()).unwrap();
        }
        assert_eq!(bits(&a3.to_vec().unwrap()), bits(&a.to_vec().unwrap()));
        assert_eq!(bits(&b3.to_vec().unwrap()), bits(&b.to_vec().unwrap()));
        assert_eq!(resumed.state_dict().unwrap(), opt.state_dict().unwrap());
    }
}

/// Each configuration of `cases` fails to build with `Error::Hyperparameter` naming the
/// parameter beside it.
pub fn assert_hyperparameter_errors(cases: Vec<(&str, Box<dyn OptimizerConfig>)>) {
    let leaf = Device::cpu()
        .tensor(vec![0.5, -0.25, 1.0], [3])
        .expect("tensor")
        .param();
    for (name, config) in cases {
        match Optimizer::new(config.boxed_clone(), &[&leaf]) {
            Err(Error::Hyperparameter { name: got, .. }) if got == name => {}
            Err(e) => panic!("{config:?}: expected a Hyperparameter error on {name}, got {e:?}"),
            Ok(_) => panic!("{config:?}: expected a Hyperparameter error on {name}, it built"),
        }
    }
}

/// On every device: 4 steps of the checkpoint suite's model (`tests/common/runs.rs`)
/// with `config`, a `Checkpoint` saved to a file, 4 more steps; a fresh model and
/// optimizer restored from the file and stepped the same 4 steps end with the same bits
/// (parameters, every state buffer, step counts, learning rate).
pub fn assert_checkpoint_file_round_trip(config: &dyn OptimizerConfig, name: &str) {
    use super::runs::{model, optimizer, scratch, snapshot, train};
    let dir = scratch(name);
    for (k, device) in super::devices().into_iter().enumerate() {
        let net = model(&device, 3);
        let mut opt = optimizer(&net, config);
        train(&net, &mut opt, 0..4);
        let path = dir.join(format!("run{k}.safetensors"));
        Checkpoint::capture(&net, &opt, TrainingState::default())
            .unwrap()
            .save(&path)
            .unwrap();
        train(&net, &mut opt, 4..8);
        let mut resumed = model(&device, 4);
        let mut resumed_opt = optimizer(&resumed, config);
        Checkpoint::load(&path)
            .unwrap()
            .restore(&mut resumed, &mut resumed_opt)
            .unwrap();
        train(&resumed, &mut resumed_opt, 4..8);
        assert_eq!(
            snapshot(&resumed, &resumed_opt),
            snapshot(&net, &opt),
            "{}",
            device.name()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
