//! End-to-end training on the CPU: the three descent modes, determinism, learning a
//! separable problem, divergence at a too-high learning rate, history files, and the
//! PyTorch-style loop.

use downhill::prelude::*;
use downhill::random::SeededRng;
use ndarray::Array2;

/// Two Gaussian blobs around (-1, -1) and (1, 1): linearly separable with margin.
fn blobs(n: usize, seed: u64) -> Dataset {
    let mut rng = SeededRng::new(seed);
    let mut x = Array2::zeros((n, 2));
    let mut y = Array2::zeros((n, 1));
    for i in 0..n {
        let label = (i % 2) as f32;
        let centre = 2.0 * label - 1.0;
        x[(i, 0)] = centre + 0.4 * rng.normal();
        x[(i, 1)] = centre + 0.4 * rng.normal();
        y[(i, 0)] = label;
    }
    Dataset::new(x, y).unwrap()
}

fn quiet(epochs: usize, batch_size: usize) -> FitConfig {
    FitConfig {
        epochs,
        batch_size,
        metrics: vec![Metric::Accuracy],
        verbose: 0,
        ..Default::default()
    }
}

fn small_model(device: &Device, seed: u64) -> Sequential {
    Sequential::new(device)
        .seed(seed)
        .dense(2, 8, Activation::Relu)
        .dense(8, 1, Activation::Sigmoid)
}

#[test]
fn full_stochastic_and_mini_batch_descent_all_learn_blobs() {
    let device = Device::cpu();
    let data = blobs(200, 1);
    for (name, batching, lr, epochs) in [
        ("batch GD", Batching::Full, 0.5, 60),
        ("SGD", Batching::Stochastic, 0.05, 5),
        ("mini-batch", Batching::MiniBatch(16), 0.2, 15),
    ] {
        let mut model = small_model(&device, 5);
        let config = quiet(epochs, 32).batching(batching);
        let history = model
            .fit(&data, Loss::BinaryCrossEntropy, Sgd::new(lr), config)
            .unwrap();
        let loss = history.loss();
        let acc = history.metric("accuracy");
        assert!(
            loss.last().unwrap() < &(0.5 * loss[0]),
            "{name}: loss {:?} did not halve",
            (loss[0], loss.last())
        );
        assert!(
            *acc.last().unwrap() > 0.95,
            "{name}: accuracy {:?}",
            acc.last()
        );
    }
}

#[test]
fn steps_per_epoch_follow_batch_size_and_drop_last() {
    // Counted through the optimizer: 10 rows, batch 4 → 3 steps, 2 with drop_last.
    let device = Device::cpu();
    let data = blobs(10, 2);
    for (drop_last, steps) in [(false, 3), (true, 2)] {
        let mut model = small_model(&device, 1);
        let params = model.parameters().unwrap();
        let refs: Vec<&Tensor> = params.iter().collect();
        let mut opt = Sgd::new(0.1).build(&refs).unwrap();
        let config = FitConfig {
            drop_last,
            ..quiet(1, 4)
        };
        model
            .fit_with(&data, Loss::BinaryCrossEntropy, &mut opt, config)
            .unwrap();
        assert_eq!(opt.steps(), steps, "drop_last = {drop_last}");
    }
}

#[test]
fn same_seed_same_history_different_seed_different_history() {
    let device = Device::cpu();
    let data = blobs(120, 3);
    let run = |seed: u64| {
        let mut model = small_model(&device, seed);
        model
            .fit(
                &data,
                Loss::BinaryCrossEntropy,
                Adam::new(0.01),
                quiet(4, 16),
            )
            .unwrap()
    };
    let (a, b, c) = (run(7), run(7), run(8));
    assert_eq!(a.records, b.records, "same seed must repeat exactly");
    assert_ne!(a.records, c.records, "another seed must differ");
}

#[test]
fn validation_split_holds_out_the_tail_and_reports_it() {
    let device = Device::cpu();
    let data = blobs(100, 4);
    let mut model = small_model(&device, 2);
    let config = FitConfig {
        validation_split: 0.2,
        ..quiet(3, 10)
    };
    let history = model
        .fit(&data, Loss::BinaryCrossEntropy, Sgd::new(0.1), config)
        .unwrap();
    assert_eq!(history.val_loss().len(), 3);
    assert_eq!(history.metric("val_accuracy").len(), 3);
    // evaluate() on the same tail gives the last epoch's validation figures.
    let (_, tail) = data.split_tail(0.2).unwrap();
    let eval = model
        .evaluate(&tail, Loss::BinaryCrossEntropy, &[Metric::Accuracy])
        .unwrap();
    let last = history.records.last().unwrap();
    assert!((eval.loss - last.val_loss.unwrap()).abs() < 1e-6);
    assert_eq!(eval.metrics, last.val_metrics);
}

#[test]
fn too_high_a_learning_rate_diverges_into_a_clear_error() {
    let device = Device::cpu();
    let mut rng = SeededRng::new(9);
    let x = Array2::from_shape_simple_fn((64, 3), || rng.uniform(-10.0, 10.0));
    let y = x.sum_axis(ndarray::Axis(1)).insert_axis(ndarray::Axis(1)) * 5.0;
    let data = Dataset::new(x, y).unwrap();
    let mut model = Sequential::new(&device).dense(3, 1, Activation::Linear);
    let err = model
        .fit(&data, Loss::MeanSquaredError, Sgd::new(10.0), quiet(50, 64))
        .unwrap_err();
    let Error::Diverged {
        epoch,
        step,
        loss,
        history,
        ..
    } = &err
    else {
        panic!("expected a divergence, got {err}");
    };
    assert!(err.to_string().contains("learning rate"), "{err}");
    // Caught in the step it happened: one batch per epoch here, so step = epoch.
    assert_eq!(*step as usize, *epoch, "{err}");
    assert!(!loss.is_finite());
    // The epochs up to the divergence are kept, the loss growing on the way.
    assert_eq!(history.records.len(), *epoch);
    assert!(!history.loss().last().unwrap().is_finite());
    if *epoch >= 3 {
        assert!(
            history.loss()[1] > history.loss()[0],
            "{:?}",
            history.loss()
        );
    }
    // A moderate learning rate on the same problem converges...
    let mut model = Sequential::new(&device).dense(3, 1, Activation::Linear);
    let good = model
        .fit(
            &data,
            Loss::MeanSquaredError,
            Sgd::new(1e-2),
            quiet(100, 64),
        )
        .unwrap()
        .loss();
    assert!(good.last().unwrap() < &1e-3, "{:?}", good.last());
    // ...and a tiny one crawls: after the same 50 steps it has not even halved the loss.
    let mut model = Sequential::new(&device).dense(3, 1, Activation::Linear);
    let slow = model
        .fit(&data, Loss::MeanSquaredError, Sgd::new(1e-5), quiet(50, 64))
        .unwrap()
        .loss();
    assert!(slow.last().unwrap() > &(0.5 * slow[0]), "{slow:?}");
}

#[test]
fn softmax_classifier_learns_three_blobs() {
    let device = Device::cpu();
    let mut rng = SeededRng::new(11);
    let n = 300;
    let centres = [(-2.0f32, 0.0f32), (2.0, 0.0), (0.0, 2.5)];
    let mut x = Array2::zeros((n, 2));
    let mut y = Array2::zeros((n, 1));
    for i in 0..n {
        let k = i % 3;
        x[(i, 0)] = centres[k].0 + 0.5 * rng.normal();
        x[(i, 1)] = centres[k].1 + 0.5 * rng.normal();
        y[(i, 0)] = k as f32;
    }
    let data = Dataset::new(x, y).unwrap();
    let mut model = Sequential::new(&device)
        .dense(2, 16, Activation::Relu)
        .dense(16, 3, Activation::Linear);
    let history = model
        .fit(
            &data,
            Loss::SparseCategoricalCrossEntropy,
            Adam::new(0.02),
            quiet(20, 32),
        )
        .unwrap();
    assert!(*history.metric("accuracy").last().unwrap() > 0.95);
    let probs = model.predict(&ndarray::array![[-2.0, 0.0]]).unwrap();
    let best = (0..3).max_by(|&a, &b| probs[(0, a)].total_cmp(&probs[(0, b)]));
    assert_eq!(best, Some(0));
}

#[test]
fn history_round_trips_through_json_and_writes_csv() {
    let device = Device::cpu();
    let mut model = small_model(&device, 3);
    let config = FitConfig {
        validation_split: 0.25,
        ..quiet(3, 8)
    };
    let history = model
        .fit(
            &blobs(40, 5),
            Loss::BinaryCrossEntropy,
            Sgd::new(0.1),
            config,
        )
        .unwrap();
    let back = History::from_json(&history.to_json().unwrap()).unwrap();
    assert_eq!(back, history);

    let csv = history.to_csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds"
    );
    assert_eq!(lines.len(), 4);
    let dir = std::env::temp_dir().join(format!("downhill-history-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    history.write_csv(dir.join("h.csv")).unwrap();
    history.write_json(dir.join("h.json")).unwrap();
    assert_eq!(std::fs::read_to_string(dir.join("h.csv")).unwrap(), csv);
    let json = std::fs::read_to_string(dir.join("h.json")).unwrap();
    assert_eq!(History::from_json(&json).unwrap(), history);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn pytorch_style_loop_trains_a_linear_regression() {
    // y = 2·x0 − 3·x1 + 0.5, learned with backward() and step() by hand.
    let device = Device::cpu();
    let x = Tensor::rand_uniform(&device, [64, 2], -1.0, 1.0, 1).unwrap();
    let xs = x.to_vec().unwrap();
    let ys: Vec<f32> = xs
        .chunks(2)
        .map(|r| 2.0 * r[0] - 3.0 * r[1] + 0.5)
        .collect();
    let y = device.tensor(ys, [64, 1]).unwrap();
    let model = Sequential::new(&device).dense(2, 1, Activation::Linear);
    let params = model.parameters().unwrap();
    let refs: Vec<&Tensor> = params.iter().collect();
    let mut opt = Sgd::new(0.1).momentum(0.9).build(&refs).unwrap();
    for _ in 0..200 {
        let loss = model.forward(&x).unwrap().mse(&y).unwrap();
        let grads = loss.backward().unwrap();
        opt.step(&grads).unwrap();
    }
    let w = params[0].to_vec().unwrap();
    let b = params[1].to_vec().unwrap();
    assert!(
        (w[0] - 2.0).abs() < 1e-3 && (w[1] + 3.0).abs() < 1e-3,
        "{w:?}"
    );
    assert!((b[0] - 0.5).abs() < 1e-3, "{b:?}");
}

#[test]
fn fit_keeps_optimizer_state_across_calls_with_fit_with() {
    let device = Device::cpu();
    let data = blobs(32, 6);
    let mut model = small_model(&device, 4);
    let params = model.parameters().unwrap();
    let refs: Vec<&Tensor> = params.iter().collect();
    let mut opt = Adam::new(0.01).build(&refs).unwrap();
    model
        .fit_with(&data, Loss::BinaryCrossEntropy, &mut opt, quiet(2, 8))
        .unwrap();
    model
        .fit_with(&data, Loss::BinaryCrossEntropy, &mut opt, quiet(1, 8))
        .unwrap();
    assert_eq!(opt.steps(), 12);
}

#[test]
fn validation_split_takes_the_rows_keras_takes() {
    // Keras trains on the first floor(n·(1 − split)) rows and validates on the rest.
    let data = blobs(10, 7);
    for (split, val_rows) in [(0.33, 4), (0.04, 1), (0.2, 2), (0.5, 5)] {
        let (train, val) = data.split_tail(split).unwrap();
        assert_eq!(val.len(), val_rows, "split {split}");
        assert_eq!(train.len() + val.len(), 10);
        assert_eq!(val.x().row(0), data.x().row(10 - val_rows), "split {split}");
    }
}
