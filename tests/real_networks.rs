//! The two networks of issue 9 as tests, on the digits that ship with downhill: the
//! `cnn_digits` CNN must reach 98 % held-out accuracy on both devices, and the
//! `deep_sigmoid` nets must show vanishing gradients in the plain 20-layer sigmoid net and
//! train with each fix. The CNN is the example's own (`examples/models/digits.rs`);
//! the deep nets follow `examples/deep_sigmoid.rs` (kept in step by hand).

mod common;
#[path = "../examples/models/digits.rs"]
mod digits;

use digits::{cnn, split};

use downhill::prelude::*;

#[test]
fn cnn_digits_reaches_98_percent_on_both_devices() {
    let (train, test) = split().unwrap();
    let mut devices = vec![common::cpu()];
    devices.extend(common::gpu());
    let mut accuracies = Vec::new();
    for device in devices {
        let mut model = cnn(&device);
        let config = FitConfig {
            epochs: 30,
            batch_size: 32,
            verbose: 0,
            ..FitConfig::default()
        };
        let loss = Loss::SparseCategoricalCrossEntropy;
        model.fit(&train, loss, Adam::new(2e-3), config).unwrap();
        let eval = model.evaluate(&test, loss, &[Metric::Accuracy]).unwrap();
        let accuracy = eval.metrics[0].1;
        assert!(accuracy >= 0.98, "{}: {accuracy}", device.name());
        accuracies.push(accuracy);
    }
    // The same seeded run on both devices: at most a few test images apart.
    if let [cpu, gpu] = accuracies[..] {
        assert!(
            (cpu - gpu).abs() <= 3.0 / test.len() as f32,
            "{cpu} vs {gpu}"
        );
    }
}

const DEPTH: usize = 20;
const WIDTH: usize = 32;

fn deep(hidden: impl Fn(Sequential, usize) -> Sequential) -> Sequential {
    let mut model = Sequential::new(&common::cpu()).seed(7);
    for layer in 0..DEPTH {
        model = hidden(model, if layer == 0 { 64 } else { WIDTH });
    }
    model.dense(WIDTH, 10, Activation::Linear)
}

fn sigmoid_net() -> Sequential {
    deep(|m, i| m.dense(i, WIDTH, Activation::Sigmoid))
}

/// The ratio of the first hidden layer's weight-gradient norm to the last's, on one batch.
fn first_to_last_gradient(model: &Sequential, data: &Dataset) -> f32 {
    let device = model.device();
    let part = data.select(&(0..128).collect::<Vec<_>>()).unwrap();
    let x = Tensor::from_array(device, part.x()).unwrap();
    let y = Tensor::from_array(device, part.y()).unwrap();
    let loss = Loss::SparseCategoricalCrossEntropy
        .compute(&model.forward(&x).unwrap(), &y)
        .unwrap();
    let grads = loss.backward().unwrap();
    let norms: Vec<f32> = model
        .named_parameters()
        .unwrap()
        .into_iter()
        .filter(|(n, p)| n.ends_with("dense.weight") && p.dims()[1] == WIDTH)
        .map(|(_, p)| {
            let g = grads.get(&p).unwrap().to_vec().unwrap();
            g.iter().map(|v| v * v).sum::<f32>().sqrt()
        })
        .collect();
    assert_eq!(norms.len(), DEPTH);
    norms[0] / norms[DEPTH - 1]
}

fn held_out_accuracy(mut model: Sequential, train: &Dataset, test: &Dataset) -> f32 {
    let config = FitConfig {
        epochs: 60,
        batch_size: 32,
        verbose: 0,
        ..FitConfig::default()
    };
    let loss = Loss::SparseCategoricalCrossEntropy;
    model
        .fit(train, loss, Sgd::new(0.005).momentum(0.9), config)
        .unwrap();
    model
        .evaluate(test, loss, &[Metric::Accuracy])
        .unwrap()
        .metrics[0]
        .1
}

#[test]
fn a_deep_sigmoid_net_vanishes_and_each_fix_trains() {
    let (train, test) = split().unwrap();
    let relu_he = || {
        deep(|m, i| {
            m.layer(
                Dense::new(i, WIDTH)
                    .activation(Activation::Relu)
                    .kernel_init(Init::HeNormal),
            )
        })
    };
    let batch_norm = || {
        deep(|m, i| {
            m.layer(Dense::new(i, WIDTH))
                .layer(BatchNorm1d::new(WIDTH))
                .layer(Activation::Sigmoid)
        })
    };
    let residual = || {
        deep(|m, i| match i {
            WIDTH => m.layer(Residual::new(
                Dense::new(WIDTH, WIDTH).activation(Activation::Sigmoid),
            )),
            _ => m.dense(i, WIDTH, Activation::Sigmoid),
        })
    };

    // Vanishing: σ' ≤ 1/4 at each of 19 layers between them (and Glorot weights).
    let plain = first_to_last_gradient(&sigmoid_net(), &train);
    assert!(plain < 1e-6, "sigmoid first/last gradient {plain}");
    for (name, model) in [
        ("relu+he", relu_he()),
        ("bn", batch_norm()),
        ("residual", residual()),
    ] {
        let ratio = first_to_last_gradient(&model, &train);
        assert!((0.05..20.0).contains(&ratio), "{name}: first/last {ratio}");
    }

    let chance = held_out_accuracy(sigmoid_net(), &train, &test);
    assert!(
        chance < 0.2,
        "the plain sigmoid net stays near chance: {chance}"
    );
    for (name, model) in [
        ("relu+he", relu_he()),
        ("bn", batch_norm()),
        ("residual", residual()),
    ] {
        let accuracy = held_out_accuracy(model, &train, &test);
        assert!(accuracy > 0.9, "{name}: {accuracy}");
    }
}
