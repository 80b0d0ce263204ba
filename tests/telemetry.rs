//! `FitConfig::telemetry`: the per-layer figures against the same training written as a
//! PyTorch-style loop and measured on the host, the activation counts on layers whose
//! outputs are known exactly, what it costs a GPU step, and that it changes no result.

mod common;

use downhill::prelude::*;
use downhill::random::SeededRng;
use downhill::{EpochHealth, LayerHealth};
use ndarray::Array2;

fn data(rows: usize, seed: u64) -> Dataset {
    let mut rng = SeededRng::new(seed);
    let x = Array2::from_shape_simple_fn((rows, 6), || rng.normal());
    let y = Array2::from_shape_simple_fn((rows, 2), || rng.normal());
    Dataset::new(x, y).unwrap()
}

fn model(device: &Device) -> Sequential {
    Sequential::new(device)
        .seed(3)
        .dense(6, 9, Activation::Relu)
        .dense(9, 5, Activation::Tanh)
        .dense(5, 2, Activation::Linear)
}

fn config(epochs: usize, batch_size: usize) -> FitConfig {
    FitConfig {
        epochs,
        batch_size,
        shuffle: false,
        verbose: 0,
        telemetry: true,
        ..Default::default()
    }
}

fn norm(values: &[f32]) -> f64 {
    values
        .iter()
        .map(|&v| (v as f64).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// The figures of one epoch of SGD without shuffling, measured on the host from a
/// hand-written loop over the same batches: per layer, sqrt(mean of ‖g‖²), ‖w‖ after the
/// epoch and ‖Δw‖/‖w‖ of its first step (`w` before it).
fn by_hand(device: &Device, data: &Dataset, batch: usize, lr: f32) -> Vec<(f64, f64, f64)> {
    let net = model(device);
    let layers = net.layers().unwrap();
    let params: Vec<Tensor> = net.parameters().unwrap();
    let refs: Vec<&Tensor> = params.iter().collect();
    let mut opt = Optimizer::new(Box::new(Sgd::new(lr)), &refs).unwrap();
    let steps = data.len().div_ceil(batch);
    let mut sq = vec![0.0f64; layers.len()];
    let (mut before, mut after_first) = (Vec::new(), Vec::new());
    for s in 0..steps {
        let rows: Vec<usize> = (s * batch..((s + 1) * batch).min(data.len())).collect();
        let part = data.select(&rows).unwrap();
        let x = Tensor::from_array(device, part.x()).unwrap();
        let y = Tensor::from_array(device, part.y()).unwrap();
        let loss = net.forward(&x).unwrap().mse(&y).unwrap();
        let grads = loss.backward().unwrap();
        for (i, layer) in layers.iter().enumerate() {
            for p in layer.parameters() {
                sq[i] += norm(&grads.get(&p).unwrap().to_vec().unwrap()).powi(2) / steps as f64;
            }
        }
        if s == 0 {
            before = net.get_weights().unwrap();
        }
        opt.step(&grads).unwrap();
        if s == 0 {
            after_first = net.get_weights().unwrap();
        }
    }
    let after = net.get_weights().unwrap();
    let mut k = 0;
    layers
        .iter()
        .enumerate()
        .map(|(i, layer)| {
            let n = layer.parameters().len();
            let (mut w, mut w0, mut d) = (0.0, 0.0, 0.0);
            for j in k..k + n {
                w += norm(&after[j]).powi(2);
                w0 += norm(&before[j]).powi(2);
                let diff: Vec<f32> = after_first[j]
                    .iter()
                    .zip(&before[j])
                    .map(|(a, b)| a - b)
                    .collect();
                d += norm(&diff).powi(2);
            }
            k += n;
            (sq[i].sqrt(), w.sqrt(), d.sqrt() / w0.sqrt())
        })
        .collect()
}

fn close(what: &str, got: Option<f32>, want: f64, rtol: f64) {
    let got = got.unwrap_or_else(|| panic!("{what}: not recorded")) as f64;
    assert!(
        (got - want).abs() <= rtol * want.abs() + 1e-12,
        "{what}: recorded {got}, by hand {want}"
    );
}

#[test]
fn the_figures_are_those_of_the_training_measured_by_hand() {
    let data = data(50, 1); // 4 batches of 13, 13, 13, 11 rows
    for device in common::devices() {
        let mut net = model(&device);
        let history = net
            .fit(&data, Loss::MeanSquaredError, Sgd::new(0.05), config(1, 13))
            .unwrap();
        let want = by_hand(&device, &data, 13, 0.05);
        let health = &history.health[0];
        assert_eq!(health.epoch, 1);
        assert_eq!(health.layers.len(), 3, "{health:?}");
        for (l, &(g, w, r)) in health.layers.iter().zip(&want) {
            let name = format!("{} layer {}", device.name(), l.index);
            // f32 sums on the device against f64 on the host, over ≤ 60 values per
            // parameter: 1e-5 relative; the update ratio divides two such norms of a
            // difference of nearby numbers (cancellation: up to 1e-4).
            close(&format!("{name} grad_norm"), l.grad_norm, g, 1e-5);
            close(&format!("{name} weight_norm"), l.weight_norm, w, 1e-5);
            close(&format!("{name} update_ratio"), l.update_ratio, r, 1e-4);
        }
        assert!(
            health.layers[0].dead_fraction.is_some()
                && health.layers[0].saturated_fraction.is_none()
        );
        assert!(
            health.layers[1].saturated_fraction.is_some()
                && health.layers[1].dead_fraction.is_none()
        );
        assert!(
            health.layers[2].dead_fraction.is_none()
                && health.layers[2].saturated_fraction.is_none()
        );
        assert!(
            health.layers[0].layer.starts_with("Dense(6 -> 9"),
            "{:?}",
            health.layers[0]
        );
    }
}

/// A one-layer model whose every output row is the same: weights 0, biases as given.
fn constant_layer(device: &Device, activation: Activation, biases: &[f32]) -> Sequential {
    let n = biases.len();
    let net = Sequential::new(device)
        .dense(3, n, activation)
        .dense(n, 1, Activation::Linear);
    let mut w = net.get_weights().unwrap();
    w[0] = vec![0.0; 3 * n];
    w[1] = biases.to_vec();
    net.set_weights(&w).unwrap();
    net
}

fn first_layer(mut net: Sequential, rows: usize) -> LayerHealth {
    let mut rng = SeededRng::new(9);
    let x = Array2::from_shape_simple_fn((rows, 3), || rng.normal());
    let y = Array2::from_shape_simple_fn((rows, 1), || rng.normal());
    let data = Dataset::new(x, y).unwrap();
    // A rate too small to move a bias across 0 or out of the tails.
    let history = net
        .fit(&data, Loss::MeanSquaredError, Sgd::new(1e-6), config(1, 16))
        .unwrap();
    history.health[0].layers[0].clone()
}

#[test]
fn dead_and_saturated_fractions_count_exactly() {
    for device in common::devices() {
        let name = device.name();
        // Units 1 and 3 of 4 never fire: half the layer is dead.
        let relu = first_layer(
            constant_layer(&device, Activation::Relu, &[1.0, -1.0, 2.0, -3.0]),
            40,
        );
        assert_eq!(relu.dead_fraction, Some(0.5), "{name}: {relu:?}");
        // σ(±10) and tanh(±5) are in the tails, σ(0) = 0.5 and tanh(0.1) are not:
        // 2 of 4 units on every row.
        let sigmoid = first_layer(
            constant_layer(&device, Activation::Sigmoid, &[10.0, 0.0, -10.0, 0.3]),
            40,
        );
        close(
            &format!("{name} sigmoid"),
            sigmoid.saturated_fraction,
            0.5,
            1e-6,
        );
        let tanh = first_layer(
            constant_layer(&device, Activation::Tanh, &[5.0, 0.1, -5.0, 0.0]),
            37,
        );
        close(&format!("{name} tanh"), tanh.saturated_fraction, 0.5, 1e-6);
        let none = first_layer(constant_layer(&device, Activation::Tanh, &[0.5, 0.1]), 37);
        assert_eq!(none.saturated_fraction, Some(0.0), "{name}: {none:?}");
    }
}

#[test]
fn telemetry_changes_nothing_the_training_computes() {
    let data = data(64, 2);
    for device in common::devices() {
        let run = |telemetry: bool| {
            let mut net = model(&device);
            let history = net
                .fit(
                    &data,
                    Loss::MeanSquaredError,
                    Adam::new(0.01),
                    FitConfig {
                        telemetry,
                        ..config(3, 10)
                    },
                )
                .unwrap();
            (net.get_weights().unwrap(), history)
        };
        let (with, h_with) = run(true);
        let (without, h_without) = run(false);
        assert_eq!(with, without, "{}", device.name());
        assert_eq!(h_with.loss(), h_without.loss(), "{}", device.name());
        assert_eq!(h_with.health.len(), 3);
        assert!(h_without.health.is_empty() && h_without.diagnoses.is_empty());
    }
}

#[test]
fn cpu_and_gpu_record_the_same_health() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let data = data(70, 4);
    let run = |device: &Device| {
        let mut net = model(device);
        net.fit(
            &data,
            Loss::MeanSquaredError,
            Adam::new(0.01),
            config(2, 16),
        )
        .unwrap()
        .health
    };
    let (cpu, gpu): (Vec<EpochHealth>, Vec<EpochHealth>) = (run(&common::cpu()), run(&gpu));
    for (c, g) in cpu.iter().zip(&gpu) {
        for (a, b) in c.layers.iter().zip(&g.layers) {
            let pairs = [
                (a.grad_norm, b.grad_norm),
                (a.weight_norm, b.weight_norm),
                (a.update_ratio, b.update_ratio),
                (a.dead_fraction, b.dead_fraction),
                (a.saturated_fraction, b.saturated_fraction),
            ];
            for (x, y) in pairs {
                assert_eq!(x.is_some(), y.is_some(), "{a:?} {b:?}");
                if let (Some(x), Some(y)) = (x, y) {
                    // Two trainings that agree to f32 rounding (the parity suite's), then
                    // norms summed in f32 on the GPU and in f64 on the CPU.
                    assert!((x - y).abs() <= 1e-4 * x.abs().max(1e-6), "{a:?}\n{b:?}");
                }
            }
        }
    }
}

#[test]
fn health_and_diagnoses_survive_the_history_json() {
    let mut net = constant_layer(&common::cpu(), Activation::Relu, &[-1.0, -1.0, -1.0, 1.0]);
    let mut rng = SeededRng::new(9);
    let x = Array2::from_shape_simple_fn((32, 3), || rng.normal());
    let y = Array2::from_shape_simple_fn((32, 1), || rng.normal());
    let data = Dataset::new(x, y).unwrap();
    let history = net
        .fit(&data, Loss::MeanSquaredError, Sgd::new(1e-6), config(2, 16))
        .unwrap();
    assert_eq!(history.health.len(), 2);
    assert!(
        !history.diagnoses.is_empty(),
        "75 % dead ReLUs: {history:?}"
    );
    let back = History::from_json(&history.to_json().unwrap()).unwrap();
    assert_eq!(back.health, history.health);
    assert_eq!(back.diagnoses, history.diagnoses);
    // The CSV: a header and one row per epoch and layer, read back by the csv crate.
    let csv_text = history.health_to_csv();
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 2 * 2, "{csv_text}");
    assert_eq!(&rows[0][2], history.health[0].layers[0].layer.as_str());
    let dead: f32 = rows[0][6].parse().unwrap();
    assert_eq!(dead, 0.75);
    assert_eq!(
        &rows[1][6], "",
        "the linear layer has no dead fraction: {csv_text}"
    );
    // A history without telemetry writes neither field (files written before still read).
    let plain = History {
        health: vec![],
        diagnoses: vec![],
        ..history.clone()
    };
    let text = plain.to_json().unwrap();
    assert!(
        !text.contains("health") && !text.contains("diagnoses"),
        "{text}"
    );
}

#[test]
fn on_a_gpu_telemetry_adds_one_dispatch_per_watched_layer_and_one_read_back_per_epoch() {
    let Some(gpu) = common::private_gpu() else {
        return;
    };
    let data = data(64, 5);
    let run = |telemetry: bool, epochs: usize| {
        let mut net = model(&gpu);
        let before = gpu.stats();
        net.fit(
            &data,
            Loss::MeanSquaredError,
            Sgd::new(0.01),
            FitConfig {
                telemetry,
                ..config(epochs, 16)
            },
        )
        .unwrap();
        gpu.stats().since(&before)
    };
    let (plain, watched) = (run(false, 2), run(true, 2));
    let (plain3, watched3) = (run(false, 3), run(true, 3));
    let steps = 2 * 4u64;
    // Per step: the gradient norms (1) and the ReLU and tanh layers' counts (2); per
    // epoch: zeroing the sums (1), the parameters kept before the first step (a copy, not
    // a dispatch), the update's norms (1), the weights' at the end and before the update
    // (2); per fit: the forward pass that sizes the activations.
    let per_epoch = |a: u64, b: u64| (b - a) as i64;
    let extra = per_epoch(plain.dispatches, watched.dispatches);
    let extra3 = per_epoch(plain3.dispatches, watched3.dispatches);
    assert_eq!(
        extra3 - extra,
        4 * 3 + 4,
        "{plain:?} {watched:?} {plain3:?} {watched3:?}"
    );
    assert!(extra >= (steps * 3 + 2 * 4) as i64, "{extra}");
    // One more read-back submission per epoch, none per step.
    assert_eq!(
        (watched3.submissions - plain3.submissions) - (watched.submissions - plain.submissions),
        1,
        "{plain:?} {watched:?} {plain3:?} {watched3:?}"
    );
}
