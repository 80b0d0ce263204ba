//! The layers `BatchNorm1d`, `BatchNorm2d`, `LayerNorm` and `Dropout`: PyTorch's defaults,
//! parameters and buffers (state_dict names), training and evaluation mode switched by
//! `Sequential::train()/eval()`, running statistics updated in place, dropout masks fresh
//! per call and the same on both devices, and a Dense → BatchNorm1d → ReLU → Dense network
//! trained with a manual loop on the CPU and the GPU.

mod common;

use common::devices;

use common::tolerance::{assert_close, EPS};
use downhill::prelude::*;
use downhill::{BatchNorm1d, BatchNorm2d, Dropout, Layer, LayerNorm, LayerSpec};

fn data(device: &Device, shape: &[usize], mean: f32, std: f32, seed: u64) -> Tensor {
    let host = Tensor::rand_normal(&common::cpu(), shape.to_vec(), mean, std, seed).unwrap();
    device
        .tensor(host.to_vec().unwrap(), shape.to_vec())
        .unwrap()
}

fn buffer(layer: &dyn Layer, name: &str) -> Vec<f32> {
    let (_, t) = layer
        .buffers()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no buffer {name}"));
    t.to_vec().unwrap()
}

#[test]
fn batch_norm_has_pytorchs_defaults_parameters_and_buffers() {
    for device in devices() {
        let layer = BatchNorm1d::new(3).build(&device, 0).unwrap();
        assert_eq!(
            layer.describe(),
            "BatchNorm1d(3, eps=0.00001, momentum=0.1, affine=true, track_running_stats=true)"
        );
        assert_eq!(
            layer.parameter_names(),
            ["batch_norm.weight", "batch_norm.bias"]
        );
        let params = layer.parameters();
        assert_eq!(params[0].to_vec().unwrap(), vec![1.0; 3]);
        assert_eq!(params[1].to_vec().unwrap(), vec![0.0; 3]);
        let names: Vec<String> = layer.buffers().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            ["running_mean", "running_var", "num_batches_tracked"]
        );
        assert_eq!(buffer(layer.as_ref(), "running_mean"), vec![0.0; 3]);
        assert_eq!(buffer(layer.as_ref(), "running_var"), vec![1.0; 3]);
        assert_eq!(buffer(layer.as_ref(), "num_batches_tracked"), vec![0.0]);
        let bare = BatchNorm2d::new(4)
            .affine(false)
            .track_running_stats(false)
            .build(&device, 0)
            .unwrap();
        assert!(bare.parameters().is_empty() && bare.buffers().is_empty());
    }
}

#[test]
fn batch_norm_layers_train_on_batch_statistics_and_evaluate_on_running_ones() {
    for device in devices() {
        for (spec, shape) in [
            (
                Box::new(BatchNorm1d::new(3)) as Box<dyn LayerSpec>,
                vec![8usize, 3],
            ),
            (Box::new(BatchNorm1d::new(3)), vec![4, 3, 5]),
            (Box::new(BatchNorm2d::new(3)), vec![2, 3, 4, 5]),
        ] {
            let layer = spec.build(&device, 0).unwrap();
            let name = format!("{} {shape:?} on {}", layer.describe(), device.name());
            let x = data(&device, &shape, 2.0, 3.0, 7);
            let buffers_before: Vec<_> = layer.buffers().iter().map(|(_, t)| t.id()).collect();
            let y = layer.forward(&x).unwrap();
            // Training output: each channel normalised (mean 0, biased variance ~1).
            let yv = y.to_vec().unwrap();
            let (c, inner) = (shape[1], shape[2..].iter().product::<usize>());
            for ch in 0..c {
                let vals: Vec<f64> = (0..yv.len())
                    .filter(|i| (i / inner) % c == ch)
                    .map(|i| yv[i] as f64)
                    .collect();
                let mean = vals.iter().sum::<f64>() / vals.len() as f64;
                let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / vals.len() as f64;
                assert!(
                    mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-3,
                    "{name}: {mean} {var}"
                );
            }
            assert_eq!(
                buffer(layer.as_ref(), "num_batches_tracked"),
                vec![1.0],
                "{name}"
            );
            let after: Vec<_> = layer.buffers().iter().map(|(_, t)| t.id()).collect();
            assert_eq!(
                buffers_before, after,
                "{name}: buffers kept, updated in place"
            );
            // Evaluation: the running statistics normalise and stay as they are.
            layer.set_training(false);
            let (rm, rv) = (
                buffer(layer.as_ref(), "running_mean"),
                buffer(layer.as_ref(), "running_var"),
            );
            assert!(rm.iter().all(|&m| m != 0.0), "{name}: running mean moved");
            let xv = x.to_vec().unwrap();
            let want: Vec<f32> = (0..xv.len())
                .map(|i| {
                    let ch = (i / inner) % c;
                    ((xv[i] as f64 - rm[ch] as f64) / (rv[ch] as f64 + 1e-5).sqrt()) as f32
                })
                .collect();
            let got = layer.forward(&x).unwrap().to_vec().unwrap();
            // Six elementwise ops of at most 4.5 ulp on Vulkan, on values |y| < 40.
            assert_close(&name, &want, &got, 32.0 * EPS * 40.0, 0.0);
            assert_eq!(
                buffer(layer.as_ref(), "num_batches_tracked"),
                vec![1.0],
                "{name}"
            );
            assert_eq!(buffer(layer.as_ref(), "running_mean"), rm, "{name}");
            // A single sample is fine in evaluation mode, refused in training mode.
            let mut one_shape = shape.clone();
            one_shape[0] = 1;
            let one = data(&device, &one_shape, 0.0, 1.0, 8);
            assert!(layer.forward(&one).is_ok(), "{name}");
            layer.set_training(true);
            if inner == 1 {
                let e = layer.forward(&one).unwrap_err();
                assert!(
                    e.to_string()
                        .contains("Expected more than 1 value per channel"),
                    "{e}"
                );
            }
            let mut wrong = shape.clone();
            wrong[1] = 4;
            assert!(matches!(
                layer.forward(&data(&device, &wrong, 0.0, 1.0, 9)),
                Err(Error::Shape { .. })
            ));
        }
    }
}

#[test]
fn batch_norm_without_running_statistics_normalises_by_the_batch_in_eval_too() {
    let device = common::cpu();
    let layer = BatchNorm1d::new(2)
        .track_running_stats(false)
        .build(&device, 0)
        .unwrap();
    let x = data(&device, &[6, 2], 5.0, 2.0, 3);
    let train = layer.forward(&x).unwrap().to_vec().unwrap();
    layer.set_training(false);
    assert_eq!(layer.forward(&x).unwrap().to_vec().unwrap(), train);
}

#[test]
fn sequential_train_and_eval_switch_dropout_and_batch_norm() {
    for device in devices() {
        let model = Sequential::new(&device)
            .seed(3)
            .layer(BatchNorm1d::new(6))
            .layer(Dropout::new(0.5));
        let x = data(&device, &[16, 6], 1.0, 2.0, 4);
        let a = model.forward(&x).unwrap().to_vec().unwrap();
        let b = model.forward(&x).unwrap().to_vec().unwrap();
        let zeros = a.iter().filter(|&&v| v == 0.0).count();
        assert!(
            zeros > 16 && zeros < 80,
            "{}: {zeros} of 96 dropped",
            device.name()
        );
        assert_ne!(a, b, "a fresh mask per call");
        let buffers = model.buffers().unwrap();
        assert_eq!(buffers[2].0, "0.num_batches_tracked");
        assert_eq!(buffers[2].1.to_vec().unwrap(), vec![2.0]);
        model.eval();
        let c = model.forward(&x).unwrap().to_vec().unwrap();
        let d = model.forward(&x).unwrap().to_vec().unwrap();
        assert_eq!(c, d, "evaluation is deterministic");
        assert!(c.iter().all(|&v| v != 0.0), "no dropout in eval");
        assert_eq!(
            buffers[2].1.to_vec().unwrap(),
            vec![2.0],
            "no update in eval"
        );
        model.train();
        let e = model.forward(&x).unwrap().to_vec().unwrap();
        assert!(e.contains(&0.0));
        assert_eq!(buffers[2].1.to_vec().unwrap(), vec![3.0]);
    }
}

#[test]
fn dropout_layers_draw_the_same_masks_on_both_devices() {
    let Some(gpu) = common::gpu() else { return };
    let outputs: Vec<Vec<Vec<f32>>> = [common::cpu(), gpu]
        .iter()
        .map(|device| {
            let model = Sequential::new(device).seed(11).layer(Dropout::new(0.3));
            let x = Tensor::full(device, [5, 41], 1.0).unwrap();
            (0..3)
                .map(|_| model.forward(&x).unwrap().to_vec().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(outputs[0], outputs[1]);
    assert_ne!(outputs[0][0], outputs[0][1]);
    // A different model seed, a different stream.
    let other = Sequential::new(&common::cpu())
        .seed(12)
        .layer(Dropout::new(0.3));
    let x = Tensor::full(&common::cpu(), [5, 41], 1.0).unwrap();
    assert_ne!(other.forward(&x).unwrap().to_vec().unwrap(), outputs[0][0]);
}

#[test]
fn dropout_layer_refuses_bad_probabilities_and_passes_p_zero() {
    let device = common::cpu();
    for p in [-0.5f32, 1.5, f32::NAN] {
        assert!(
            matches!(Dropout::new(p).build(&device, 0), Err(Error::Config(_))),
            "{p}"
        );
    }
    let layer = Dropout::new(0.0).build(&device, 0).unwrap();
    let x = data(&device, &[3, 4], 0.0, 1.0, 1);
    assert_eq!(
        layer.forward(&x).unwrap().to_vec().unwrap(),
        x.to_vec().unwrap()
    );
    assert_eq!(layer.describe(), "Dropout(p=0)");
    let all = Dropout::new(1.0).build(&device, 0).unwrap();
    assert_eq!(all.forward(&x).unwrap().to_vec().unwrap(), vec![0.0; 12]);
}

#[test]
fn layer_norm_layer_normalises_each_sample() {
    for device in devices() {
        let layer = LayerNorm::new(&[4, 5]).build(&device, 0).unwrap();
        assert_eq!(
            layer.parameter_names(),
            ["layer_norm.weight", "layer_norm.bias"]
        );
        assert_eq!(layer.parameters()[0].dims(), [4, 5]);
        let x = data(&device, &[3, 4, 5], -2.0, 4.0, 2);
        let y = layer.forward(&x).unwrap();
        let direct = x.layer_norm(&[4, 5], None, None, 1e-5).unwrap();
        assert_eq!(
            y.to_vec().unwrap(),
            direct.to_vec().unwrap(),
            "γ = 1, β = 0"
        );
        layer.set_training(false);
        assert_eq!(
            layer.forward(&x).unwrap().to_vec().unwrap(),
            direct.to_vec().unwrap()
        );
        let bare = LayerNorm::new(&[5])
            .elementwise_affine(false)
            .build(&device, 0)
            .unwrap();
        assert!(bare.parameters().is_empty());
        assert!(matches!(
            LayerNorm::new(&[0]).build(&device, 0),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            layer.forward(&data(&device, &[3, 5, 4], 0.0, 1.0, 3)),
            Err(Error::Shape { .. })
        ));
    }
}

#[test]
fn dense_batch_norm_relu_dense_trains_and_evaluates_with_running_statistics() {
    for device in devices() {
        // y = sin(x0) + x1·x2 on inputs of mean 3 and spread 2 (badly scaled for a plain
        // network: batch norm re-centres the hidden layer).
        let n = 128;
        let x = data(&device, &[n, 3], 3.0, 2.0, 5);
        let xv = x.to_vec().unwrap();
        let targets: Vec<f32> = xv
            .chunks(3)
            .map(|r| r[0].sin() + 0.1 * r[1] * r[2])
            .collect();
        let y = device.tensor(targets, [n, 1]).unwrap();
        let model = Sequential::new(&device)
            .seed(9)
            .layer(Dense::new(3, 32))
            .layer(BatchNorm1d::new(32))
            .layer(Activation::Relu)
            .layer(Dense::new(32, 1));
        let params = model.parameters().unwrap();
        assert_eq!(params.len(), 6);
        let refs: Vec<&Tensor> = params.iter().collect();
        let mut opt = Adam::new(0.01).build(&refs).unwrap();
        model.train();
        let mut losses = Vec::new();
        for _ in 0..150 {
            let loss = model.forward(&x).unwrap().mse(&y).unwrap();
            losses.push(loss.item().unwrap());
            opt.step(&loss.backward().unwrap()).unwrap();
        }
        let (first, last) = (losses[0], *losses.last().unwrap());
        eprintln!(
            "{}: loss {first} -> {last} in 150 Adam steps",
            device.name()
        );
        assert!(
            last < 0.2 * first,
            "{}: loss {first} -> {last}",
            device.name()
        );
        // Evaluation mode: the network's output is that of batch norm with the running
        // statistics, recomputed here by hand from the layers.
        model.eval();
        let eval = model.forward(&x).unwrap().to_vec().unwrap();
        let layers = model.layers().unwrap();
        let hidden = layers[0].forward(&x).unwrap().to_vec().unwrap();
        let (rm, rv) = (
            buffer(layers[1].as_ref(), "running_mean"),
            buffer(layers[1].as_ref(), "running_var"),
        );
        assert_eq!(
            buffer(layers[1].as_ref(), "num_batches_tracked"),
            vec![150.0]
        );
        let bn = layers[1].parameters();
        let (gamma, beta) = (bn[0].to_vec().unwrap(), bn[1].to_vec().unwrap());
        let normalised: Vec<f32> = hidden
            .iter()
            .enumerate()
            .map(|(i, &h)| {
                let c = i % 32;
                let v = (h as f64 - rm[c] as f64) / (rv[c] as f64 + 1e-5).sqrt();
                (v * gamma[c] as f64 + beta[c] as f64).max(0.0) as f32
            })
            .collect();
        let hand = layers[3]
            .forward(&device.tensor(normalised, [n, 32]).unwrap())
            .unwrap()
            .to_vec()
            .unwrap();
        // Both sides round the same f32 values through the last Dense (32 products of
        // magnitudes below ~10): 1e-4 absolute covers the eval path's six elementwise ops.
        assert_close(
            &format!("eval output on {}", device.name()),
            &hand,
            &eval,
            1e-4,
            1e-4,
        );
        // And it differs from the training-mode output (batch statistics).
        model.train();
        let train = no_grad(|| model.forward(&x)).unwrap().to_vec().unwrap();
        assert!(train.iter().zip(&eval).any(|(a, b)| (a - b).abs() > 1e-3));
    }
}
