//! Train/eval mode and layer buffers, through a probe layer whose output shows its mode and
//! whose buffer counts the forward passes it ran in training mode (updated on the device).
//!
//! Checks: a new model trains; `eval`/`train` reach every layer, built or not; `fit` trains
//! its steps and validates in evaluation mode, then restores the caller's mode; `evaluate`
//! and `predict` evaluate and restore; buffers are saved and loaded by `save_weights` and by
//! checkpoints, and a file without them is refused.

mod common;

use common::devices;

use downhill::prelude::*;
use downhill::{Checkpoint, Layer, LayerSpec, TrainingState};
use std::sync::atomic::{AtomicBool, Ordering};

/// `y = x + 1` in training mode, `y = x` in evaluation; `calls` counts training forwards.
struct Probe;

struct ProbeLayer {
    training: AtomicBool,
    calls: Tensor,
}

impl LayerSpec for Probe {
    fn in_features(&self) -> Option<usize> {
        None
    }
    fn out_features(&self) -> Option<usize> {
        None
    }
    fn build(&self, device: &Device, _seed: u64) -> downhill::Result<Box<dyn Layer>> {
        Ok(Box::new(ProbeLayer {
            training: AtomicBool::new(true),
            calls: Tensor::full(device, [1], 0.0)?,
        }))
    }
}

impl Layer for ProbeLayer {
    fn forward(&self, x: &Tensor) -> downhill::Result<Tensor> {
        if !self.training.load(Ordering::Relaxed) {
            return Ok(x.clone());
        }
        let counted = no_grad(|| &self.calls + 1.0)?;
        self.calls.copy_from(&counted)?;
        x + 1.0
    }
    fn parameters(&self) -> Vec<Tensor> {
        Vec::new()
    }
    fn buffers(&self) -> Vec<(String, Tensor)> {
        vec![("calls".into(), self.calls.clone())]
    }
    fn set_training(&self, training: bool) {
        self.training.store(training, Ordering::Relaxed);
    }
    fn describe(&self) -> String {
        "Probe".into()
    }
}

fn model(device: &Device) -> Sequential {
    Sequential::new(device)
        .dense(2, 3, Activation::Tanh)
        .layer(Probe)
        .dense(3, 1, Activation::Linear)
}

fn data(rows: usize) -> Dataset {
    let x = ndarray::Array2::from_shape_fn((rows, 2), |(r, c)| (r * 2 + c) as f32 / 10.0);
    let y = ndarray::Array2::from_shape_fn((rows, 1), |(r, _)| r as f32 / 5.0);
    Dataset::new(x, y).unwrap()
}

fn calls(model: &Sequential) -> f32 {
    model.buffers().unwrap()[0].1.to_vec().unwrap()[0]
}

#[test]
fn eval_and_train_reach_every_layer_built_or_not() {
    for device in devices() {
        let m = model(&device);
        assert!(
            m.is_training(),
            "a new model trains, as a new PyTorch module"
        );
        m.eval(); // before the layers exist: applied when they are built
        let x = Tensor::from_vec(&device, vec![0.5, -0.5], [1, 2]).unwrap();
        let probe = &m.layers().unwrap()[1];
        let h = m.layers().unwrap()[0].forward(&x).unwrap();
        assert_eq!(
            probe.forward(&h).unwrap().to_vec().unwrap(),
            h.to_vec().unwrap()
        );
        m.train();
        let y = probe.forward(&h).unwrap().to_vec().unwrap();
        let expected: Vec<f32> = h.to_vec().unwrap().iter().map(|v| v + 1.0).collect();
        assert_eq!(y, expected);
        assert_eq!(calls(&m), 1.0, "one training forward counted on the device");
        assert_eq!(m.buffers().unwrap()[0].0, "1.calls");
    }
}

#[test]
fn fit_trains_validates_in_eval_mode_and_restores_the_mode() {
    for device in devices() {
        let mut m = model(&device);
        m.eval();
        let config = FitConfig {
            epochs: 3,
            batch_size: 4,
            validation_data: Some(data(6)),
            verbose: 0,
            ..FitConfig::default()
        };
        m.fit(&data(10), Loss::MeanSquaredError, Sgd::new(0.01), config)
            .unwrap();
        // 3 epochs of ceil(10 / 4) = 3 batches; the validation passes are not counted.
        assert_eq!(calls(&m), 9.0, "{}", device.name());
        assert!(!m.is_training(), "fit restores the mode it was called in");
        m.train();
        m.evaluate(&data(5), Loss::MeanSquaredError, &[]).unwrap();
        m.predict(data(5).x()).unwrap();
        assert_eq!(
            calls(&m),
            9.0,
            "evaluate and predict run in evaluation mode"
        );
        assert!(m.is_training(), "and restore training mode");
    }
}

#[test]
fn buffers_round_trip_through_weights_and_checkpoints() {
    let device = common::cpu();
    let dir = common::runs::scratch("model_modes");
    let m = model(&device);
    m.train();
    let x = Tensor::from_vec(&device, vec![0.1, 0.2, 0.3, 0.4], [2, 2]).unwrap();
    for _ in 0..5 {
        m.forward(&x).unwrap();
    }
    assert_eq!(calls(&m), 5.0);

    let weights = dir.join("w.safetensors");
    m.save_weights(&weights).unwrap();
    let mut fresh = model(&device);
    assert_eq!(calls(&fresh), 0.0);
    fresh.load_weights(&weights).unwrap();
    assert_eq!(calls(&fresh), 5.0, "load_weights restores buffers");
    assert_eq!(fresh.get_weights().unwrap(), m.get_weights().unwrap());

    let params = m.parameters().unwrap();
    let opt = Adam::new(0.01)
        .build(&params.iter().collect::<Vec<_>>())
        .unwrap();
    let ckpt = Checkpoint::capture(&m, &opt, TrainingState::default()).unwrap();
    assert_eq!(ckpt.buffers.len(), 1);
    let path = dir.join("c.safetensors");
    ckpt.save(&path).unwrap();
    let mut other = model(&device);
    let other_params = other.parameters().unwrap();
    let mut other_opt = Adam::new(0.01)
        .build(&other_params.iter().collect::<Vec<_>>())
        .unwrap();
    Checkpoint::load(&path)
        .unwrap()
        .restore(&mut other, &mut other_opt)
        .unwrap();
    assert_eq!(calls(&other), 5.0, "a checkpoint restores buffers");

    // A file written by a model without the probe lacks the buffer: refused, nothing changed.
    let plain = Sequential::new(&device)
        .dense(2, 3, Activation::Tanh)
        .dense(3, 1, Activation::Linear);
    let plain_path = dir.join("plain.safetensors");
    plain.save_weights(&plain_path).unwrap();
    let err = fresh.load_weights(&plain_path).unwrap_err();
    assert!(matches!(err, Error::Mismatch { .. }), "{err}");
    assert!(err.to_string().contains("1.calls"), "{err}");
    assert_eq!(calls(&fresh), 5.0);
}
