//! The `Embedding` and `Flatten` layers: initialisation (PyTorch's N(0, 1), a zero padding
//! row), shapes, errors, and an Embedding + Flatten + Dense model that learns with `fit`
//! and with a manual loop on both devices, its padding row untouched by training.

mod common;

use common::devices;

use downhill::prelude::*;
use downhill::random::SeededRng;
use downhill::LayerSpec;
use ndarray::Array2;

#[test]
fn embedding_weights_start_standard_normal_with_a_zero_padding_row() -> downhill::Result<()> {
    let device = Device::cpu();
    let layer = Embedding::new(400, 50).padding_idx(7).build(&device, 3)?;
    assert_eq!(layer.parameter_names(), ["embedding.weight"]);
    assert_eq!(layer.describe(), "Embedding(400, 50, padding_idx=7)");
    let w = layer.parameters()[0].to_vec()?;
    assert!(w[7 * 50..8 * 50].iter().all(|&v| v == 0.0), "padding row");
    let others: Vec<f64> = w.iter().map(|&v| v as f64).collect();
    let n = others.len() as f64;
    let mean = others.iter().sum::<f64>() / n;
    let var = others.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    // 20,000 draws (50 of them zeros): the mean's standard error is 0.007, the standard
    // deviation's 0.005; 5 standard errors of slack.
    assert!(mean.abs() < 0.035, "mean {mean}");
    assert!((var.sqrt() - 1.0).abs() < 0.03, "std {}", var.sqrt());
    Ok(())
}

#[test]
fn embedding_and_flatten_shapes_and_errors() -> downhill::Result<()> {
    let device = Device::cpu();
    let layer = Embedding::new(5, 3).build(&device, 1)?;
    let w = layer.parameters()[0].to_vec()?;
    let ids = device.tensor(vec![4.0, 0.0], [2])?;
    let y = layer.forward(&ids)?;
    assert_eq!(y.dims(), [2, 3]);
    assert_eq!(y.to_vec()?, [&w[12..15], &w[0..3]].concat());
    let grid = device.tensor(vec![1.0, 2.0, 3.0, 4.0, 0.0, 1.0], [2, 3])?;
    assert_eq!(layer.forward(&grid)?.dims(), [2, 3, 3]);
    let cube = device.tensor(vec![0.0; 8], [2, 2, 2])?;
    assert!(matches!(layer.forward(&cube), Err(Error::Shape { .. })));
    // An id that is not a row reads NaN (PyTorch raises; a kernel cannot).
    let bad = layer
        .forward(&device.tensor(vec![5.0, 1.5], [2])?)?
        .to_vec()?;
    assert!(bad.iter().all(|v| v.is_nan()));
    for spec in [
        Embedding::new(0, 3),
        Embedding::new(3, 0),
        Embedding::new(3, 2).padding_idx(3),
    ] {
        assert!(
            matches!(spec.build(&device, 1), Err(Error::Config(_))),
            "{spec:?}"
        );
    }
    let flatten = Flatten::new().build(&device, 0)?;
    let x = device.zeros([2, 3, 4, 5])?;
    assert_eq!(flatten.forward(&x)?.dims(), [2, 60]);
    assert_eq!(
        Flatten::dims(0, 1).build(&device, 0)?.forward(&x)?.dims(),
        [6, 4, 5]
    );
    assert_eq!(flatten.describe(), "Flatten(1, -1)");
    assert!(Flatten::dims(2, 1).build(&device, 0)?.forward(&x).is_err());
    assert_eq!(Flatten::new().in_features(), None);
    assert_eq!(Embedding::new(5, 3).out_features(), Some(3));
    Ok(())
}

/// Sequences of 3 ids out of 12 (id 0 is padding and appears often); the class is whether
/// the first id is below 6. Only the first position's embedding carries the answer.
fn sequences(n: usize, seed: u64) -> Dataset {
    let mut rng = SeededRng::new(seed);
    let mut x = Array2::zeros((n, 3));
    let mut y = Array2::zeros((n, 1));
    for r in 0..n {
        for c in 0..3 {
            let id = (rng.uniform(0.0, 1.0) * 12.0) as usize % 12;
            x[(r, c)] = if c > 0 && r % 3 == 0 { 0.0 } else { id as f32 };
        }
        y[(r, 0)] = f32::from(x[(r, 0)] < 6.0);
    }
    Dataset::new(x, y).unwrap()
}

fn model(device: &Device) -> Sequential {
    Sequential::new(device)
        .seed(11)
        .layer(Embedding::new(12, 4).padding_idx(0))
        .layer(Flatten::new())
        .layer(Dense::new(12, 2))
}

#[test]
fn an_embedding_model_learns_with_fit_on_both_devices() -> downhill::Result<()> {
    let data = sequences(240, 1);
    for device in devices() {
        let mut m = model(&device);
        let config = FitConfig {
            epochs: 30,
            batch_size: 24,
            metrics: vec![Metric::Accuracy],
            verbose: 0,
            ..Default::default()
        };
        let history = m.fit(
            &data,
            Loss::SparseCategoricalCrossEntropy,
            Adam::new(0.05),
            config,
        )?;
        let loss = history.loss();
        let accuracy = history.metric("accuracy");
        let name = device.name();
        eprintln!(
            "{name}: fit loss {:.4} -> {:.4}, accuracy {:.3}",
            loss[0],
            loss.last().unwrap(),
            accuracy.last().unwrap()
        );
        assert!(
            *loss.last().unwrap() < 0.25 * loss[0],
            "{name}: loss {} -> {}",
            loss[0],
            loss.last().unwrap()
        );
        assert!(
            *accuracy.last().unwrap() > 0.95,
            "{name}: accuracy {accuracy:?}"
        );
        // The padding row never got a gradient: Adam left it at exactly zero.
        let weight = m.parameters()?[0].to_vec()?;
        assert!(
            weight[..4].iter().all(|&v| v == 0.0),
            "{name}: {:?}",
            &weight[..4]
        );
    }
    Ok(())
}

#[test]
fn an_embedding_model_learns_in_a_manual_loop_on_both_devices() -> downhill::Result<()> {
    let data = sequences(96, 2);
    let mut curves = Vec::new();
    for device in devices() {
        let m = model(&device);
        let params = m.parameters()?;
        let mut opt = Sgd::new(0.5).build(&params.iter().collect::<Vec<_>>())?;
        let x = Tensor::from_array(&device, data.x())?;
        let y = Tensor::from_array(&device, data.y())?.reshape([96])?;
        let mut losses = Vec::new();
        for _ in 0..40 {
            let loss = m.forward(&x)?.cross_entropy(&y)?;
            losses.push(loss.item()?);
            opt.step(&loss.backward()?)?;
        }
        let (first, last) = (losses[0], *losses.last().unwrap());
        eprintln!(
            "{}: manual loop loss {first:.4} -> {last:.4}",
            device.name()
        );
        assert!(
            last < 0.5 * first,
            "{}: loss {first} -> {last}",
            device.name()
        );
        curves.push(losses);
    }
    // The same model and data on both devices: the curves agree closely (the matmul and
    // loss differ by rounding only; 1e-3 relative is far above that after 40 steps of a
    // well-conditioned problem, far below the loss's fall).
    if let [cpu, gpu] = &curves[..] {
        for (step, (c, g)) in cpu.iter().zip(gpu).enumerate() {
            assert!(
                (c - g).abs() <= 1e-3 * c.abs() + 1e-5,
                "step {step}: {c} vs {g}"
            );
        }
    }
    Ok(())
}
