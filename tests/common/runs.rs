//! A small training run to checkpoint: a model with a bias-free layer, a manual
//! PyTorch-style loop over seeded batches, and bit-level snapshots of everything a
//! checkpoint must carry.

use downhill::prelude::*;
use downhill::random::SeededRng;
use std::path::PathBuf;

/// A fresh directory under the system's temporary directory, unique to this process.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("downhill-ckpt-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `3 -> 7 (tanh) -> 5 (relu, no bias) -> 1`: awkward sizes, a layer without a bias.
pub fn model(device: &Device, seed: u64) -> Sequential {
    Sequential::new(device)
        .seed(seed)
        .dense(3, 7, Activation::Tanh)
        .layer(
            Dense::new(7, 5)
                .activation(Activation::Relu)
                .use_bias(false),
        )
        .dense(5, 1, Activation::Linear)
}

/// An optimizer over `model`'s parameters, as `fit` builds one.
pub fn optimizer(model: &Sequential, config: &dyn OptimizerConfig) -> Optimizer {
    let params = model.parameters().unwrap();
    let refs: Vec<&Tensor> = params.iter().collect();
    Optimizer::new(config.boxed_clone(), &refs).unwrap()
}

/// Batch `step` of the run: 11 rows drawn from the step's own seed, so a resumed run
/// sees the batches the uninterrupted one would have.
pub fn batch(device: &Device, step: u64) -> (Tensor, Tensor) {
    let mut rng = SeededRng::new(1000 + step);
    let x: Vec<f32> = (0..33).map(|_| rng.normal()).collect();
    let y: Vec<f32> = (0..11).map(|_| rng.uniform(-1.0, 1.0)).collect();
    (
        device.tensor(x, [11, 3]).unwrap(),
        device.tensor(y, [11, 1]).unwrap(),
    )
}

/// Steps `steps` of the manual loop: forward, loss, backward, step.
pub fn train(model: &Sequential, opt: &mut Optimizer, steps: std::ops::Range<u64>) {
    for step in steps {
        let (x, y) = batch(model.device(), step);
        let pred = model.forward(&x).unwrap();
        let loss = Loss::MeanSquaredError.compute(&pred, &y).unwrap();
        opt.step(&loss.backward().unwrap()).unwrap();
    }
}

/// Everything a checkpoint carries, as bits, read through the public API without the
/// checkpoint code: parameters, each state buffer per parameter segment (the padding
/// between segments is no one's state), step counts, calls to step and the learning rate.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub params: Vec<(String, Vec<usize>, Vec<u32>)>,
    pub state: Vec<Vec<Vec<u32>>>,
    pub contexts: Vec<(u64, u64)>,
    pub steps: u64,
    pub lr: u32,
}

pub fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

pub fn snapshot(model: &Sequential, opt: &Optimizer) -> Snapshot {
    let params = model
        .named_parameters()
        .unwrap()
        .into_iter()
        .map(|(name, t)| (name, t.dims().to_vec(), bits(&t.to_vec().unwrap())))
        .collect();
    let segments = opt.param_set().segments();
    let state = (0..opt.state_names().len())
        .map(|i| {
            let flat = opt.state_to_vec(i).unwrap();
            segments
                .iter()
                .map(|s| bits(&flat[s.offset..s.offset + s.len]))
                .collect()
        })
        .collect();
    Snapshot {
        params,
        state,
        contexts: opt
            .step_contexts()
            .iter()
            .map(|c| (c.step, c.mu_product.to_bits()))
            .collect(),
        steps: opt.steps(),
        lr: opt.lr().to_bits(),
    }
}
