//! The GPU execution model, pinned by the device's work counters: one submission per
//! training step, no new buffers after the first step, one dispatch per optimizer step,
//! the training set uploaded once per fit and read back once per epoch.

mod common;

use downhill::prelude::*;
use downhill::random::SeededRng;
use ndarray::Array2;

fn mlp(device: &Device) -> (Sequential, Vec<Tensor>) {
    let model = Sequential::new(device)
        .seed(1)
        .dense(20, 64, Activation::Relu)
        .dense(64, 1, Activation::Sigmoid);
    let params = model.parameters().unwrap();
    (model, params)
}

#[test]
fn a_training_step_is_one_submission_with_no_new_buffers_after_the_first() {
    let Some(gpu) = common::private_gpu() else {
        return;
    };
    let (model, params) = mlp(&gpu);
    let refs: Vec<&Tensor> = params.iter().collect();
    let mut opt = Adam::new(1e-3).build(&refs).unwrap();
    let x = Tensor::rand_uniform(&gpu, [32, 20], 0.0, 1.0, 1).unwrap();
    let y = Tensor::rand_uniform(&gpu, [32, 1], 0.0, 1.0, 2).unwrap();
    let step = |opt: &mut Optimizer| {
        let loss = model.forward(&x).unwrap().binary_cross_entropy(&y).unwrap();
        let grads = loss.backward().unwrap();
        opt.step(&grads).unwrap();
    };
    // The first steps create pipelines, buffers and bind groups; the pool then hands the
    // same buffers back in the same order, so every later dispatch reuses a bind group.
    step(&mut opt);
    step(&mut opt);
    for i in 0..5 {
        let before = gpu.stats();
        step(&mut opt);
        let delta = gpu.stats().since(&before);
        assert_eq!(delta.submissions, 1, "step {i}: {delta:?}");
        assert_eq!(delta.buffer_allocations, 0, "step {i}: {delta:?}");
        assert_eq!(delta.bytes_uploaded, 0, "step {i}: {delta:?}");
        assert_eq!(delta.bytes_downloaded, 0, "step {i}: {delta:?}");
        assert_eq!(delta.bind_groups_created, 0, "step {i}: {delta:?}");
        assert!(delta.dispatches > 0, "step {i}: {delta:?}");
    }
}

#[test]
fn an_optimizer_step_is_one_dispatch_over_all_parameters() {
    let Some(gpu) = common::private_gpu() else {
        return;
    };
    let (model, params) = mlp(&gpu);
    let x = Tensor::rand_uniform(&gpu, [8, 20], 0.0, 1.0, 3).unwrap();
    let grads = model
        .forward(&x)
        .unwrap()
        .sum()
        .unwrap()
        .backward()
        .unwrap();
    let refs: Vec<&Tensor> = params.iter().collect();
    let configs: Vec<Box<dyn OptimizerConfig>> = vec![
        Box::new(Sgd::new(0.1).momentum(0.9).nesterov(true)),
        Box::new(Adagrad::new(0.1)),
        Box::new(RmsProp::new(0.01).centered(true).momentum(0.9)),
        Box::new(Adadelta::new(1.0)),
        Box::new(Adam::new(1e-3).amsgrad(true)),
        Box::new(AdamW::new(1e-3)),
        Box::new(Adamax::new(1e-3)),
        Box::new(NAdam::new(1e-3)),
    ];
    for config in configs {
        let name = config.name();
        let mut opt = Optimizer::new(config, &refs).unwrap();
        let before = gpu.stats();
        opt.step(&grads).unwrap();
        let delta = gpu.stats().since(&before);
        assert_eq!(delta.dispatches, 1, "{name}: {delta:?}");
        assert_eq!(delta.submissions, 1, "{name}: {delta:?}");
        assert_eq!(delta.buffer_allocations, 0, "{name}: {delta:?}");
    }
}

#[test]
fn fit_uploads_the_data_once_and_reads_back_once_per_epoch() {
    let Some(gpu) = common::private_gpu() else {
        return;
    };
    let mut rng = SeededRng::new(4);
    let x = Array2::from_shape_simple_fn((256, 20), || rng.uniform(0.0, 1.0));
    let y = Array2::from_shape_simple_fn((256, 1), || (rng.uniform(0.0, 1.0) < 0.5) as u8 as f32);
    let data = Dataset::new(x, y).unwrap();
    let (mut model, _) = mlp(&gpu);
    let run = |model: &mut Sequential, epochs: usize| {
        let before = gpu.stats();
        let config = FitConfig {
            epochs,
            batch_size: 32,
            metrics: vec![Metric::Accuracy],
            verbose: 0,
            ..Default::default()
        };
        model
            .fit(&data, Loss::BinaryCrossEntropy, Sgd::new(0.01), config)
            .unwrap();
        gpu.stats().since(&before)
    };
    let one = run(&mut model, 1);
    let three = run(&mut model, 3);
    // Two more epochs = 16 more steps of one submission each, plus one read-back
    // submission per epoch (loss and accuracy sums come back together).
    let steps_per_epoch = 256 / 32;
    assert_eq!(
        three.submissions - one.submissions,
        2 * (steps_per_epoch as u64 + 1),
        "{one:?} {three:?}"
    );
    // Each step of the seed MLP is 12 dispatches: the batch's inputs and targets gathered
    // together (1), two fused linear layers (2), the loss with its gradient (1), each
    // layer's activation-and-bias backward (2) and weight gradient (2), the input
    // gradient of the second layer (1), the SGD update (1), the step's loss sum and
    // divergence check (1) and the accuracy count (1), and nothing else in a fit (but
    // the first on a device, which makes backward's seed); bind groups all reused.
    assert_eq!(
        three.dispatches,
        3 * steps_per_epoch as u64 * 12,
        "{one:?} {three:?}"
    );
    assert_eq!(three.bind_groups_created, 0, "{three:?}");
    // The data set goes up once per fit, whatever the epochs: the extra uploads of the
    // longer fit are the per-epoch shuffled index buffers (256 u32 each).
    let data_bytes = (256 * 21 * 4) as u64;
    assert!(one.bytes_uploaded >= data_bytes, "{one:?}");
    assert_eq!(
        three.bytes_uploaded - one.bytes_uploaded,
        2 * 256 * 4,
        "{one:?} {three:?}"
    );
    // Read back: twice per fit, the flat parameter buffer (checked finite before training
    // and after its last update: 20·64 + 64 + 64 + 1 values in 256-byte aligned
    // segments); then one small buffer (loss, divergence record and accuracy slots) per
    // epoch, nothing per step.
    let per_fit = 2 * ((1280 + 64 + 64 + 64) * 4) as u64;
    let per_epoch = one.bytes_downloaded - per_fit;
    assert!(per_epoch <= 1024, "{one:?}");
    assert_eq!(
        three.bytes_downloaded,
        per_fit + 3 * per_epoch,
        "{one:?} {three:?}"
    );
}

#[test]
fn too_large_a_tensor_is_refused_with_a_clear_error() {
    let Some(gpu) = common::private_gpu() else {
        return;
    };
    // 2^31 floats = 8 GiB: beyond any storage-binding limit wgpu grants.
    let err = Tensor::full(&gpu, [1 << 16, 1 << 15], 1.0).unwrap_err();
    assert!(matches!(err, Error::TooLarge(_)), "{err}");
    // The device is still usable afterwards.
    let t = gpu.tensor(vec![1.0, 2.0], [2]).unwrap();
    assert_eq!(t.relu().unwrap().to_vec().unwrap(), vec![1.0, 2.0]);
}

#[test]
fn an_upload_never_overwrites_a_buffer_with_pending_work() {
    // A buffer cleared by a still-pending command and then dropped must not receive the
    // next upload: the upload lands before the pending clear runs and would be wiped.
    let Some(gpu) = common::private_gpu() else {
        return;
    };
    let be = gpu.backend();
    let a = be.upload(&[5.0; 64]).unwrap();
    assert_eq!(be.download(&a).unwrap(), vec![5.0; 64]);
    be.fill(&a, 0.0).unwrap(); // recorded, not submitted
    drop(a);
    let b = be.upload(&[7.0; 64]).unwrap();
    assert_eq!(be.download(&b).unwrap(), vec![7.0; 64]);
}
