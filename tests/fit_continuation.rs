//! Calling `fit` again continues the model as Keras does: the same optimizer state, the
//! epoch numbering and the shuffle (issue 8).

mod common;

use common::devices;

use downhill::prelude::*;
use downhill::random::SeededRng;
use downhill::EpochRecord;
use ndarray::Array2;

fn data() -> Dataset {
    let mut rng = SeededRng::new(5);
    let x = Array2::from_shape_simple_fn((96, 4), || rng.uniform(-1.0, 1.0));
    let y = x
        .map_axis(ndarray::Axis(1), |r| (r.sum() > 0.0) as u8 as f32)
        .insert_axis(ndarray::Axis(1));
    Dataset::new(x, y).unwrap()
}

fn model(device: &Device) -> Sequential {
    Sequential::new(device)
        .seed(11)
        .dense(4, 8, Activation::Relu)
        .dense(8, 1, Activation::Sigmoid)
}

fn config(epochs: usize) -> FitConfig {
    FitConfig {
        epochs,
        batch_size: 16,
        verbose: 0,
        metrics: vec![Metric::Accuracy],
        ..Default::default()
    }
}

fn records(h: &History) -> Vec<EpochRecord> {
    h.records.clone()
}

#[test]
fn five_fits_of_one_epoch_equal_one_fit_of_five() {
    for device in devices() {
        let mut whole = model(&device);
        let five = whole
            .fit(
                &data(),
                Loss::BinaryCrossEntropy,
                Adam::new(0.01),
                config(5),
            )
            .unwrap();
        let mut stepwise = model(&device);
        let mut pieces = Vec::new();
        for _ in 0..5 {
            let h = stepwise
                .fit(
                    &data(),
                    Loss::BinaryCrossEntropy,
                    Adam::new(0.01),
                    config(1),
                )
                .unwrap();
            pieces.extend(records(&h));
        }
        assert_eq!(pieces, records(&five), "{}", device.name());
        assert_eq!(
            pieces.iter().map(|r| r.epoch).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5]
        );
        assert_eq!(
            stepwise.get_weights().unwrap(),
            whole.get_weights().unwrap()
        );
        assert_eq!(stepwise.epochs_trained(), 5);
    }
}

#[test]
fn a_kept_optimizer_in_a_per_epoch_loop_numbers_and_shuffles_each_epoch() {
    let device = common::cpu();
    let mut m = model(&device);
    let params = m.parameters().unwrap();
    let refs: Vec<&Tensor> = params.iter().collect();
    let mut opt = Sgd::new(0.1).momentum(0.9).build(&refs).unwrap();
    let mut epochs = Vec::new();
    for _ in 0..3 {
        let h = m
            .fit_with(&data(), Loss::BinaryCrossEntropy, &mut opt, config(1))
            .unwrap();
        epochs.push(h.records[0].clone());
    }
    assert_eq!(
        epochs.iter().map(|r| r.epoch).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    // The same three epochs in one call: same shuffles, same figures.
    let mut again = model(&device);
    let h = again
        .fit(
            &data(),
            Loss::BinaryCrossEntropy,
            Sgd::new(0.1).momentum(0.9),
            config(3),
        )
        .unwrap();
    assert_eq!(epochs, records(&h));
}

#[test]
fn initial_epoch_sets_the_numbering_and_the_shuffle() {
    let device = common::cpu();
    let mut a = model(&device);
    let h = a
        .fit(
            &data(),
            Loss::BinaryCrossEntropy,
            Sgd::new(0.1),
            FitConfig {
                initial_epoch: Some(7),
                ..config(2)
            },
        )
        .unwrap();
    assert_eq!(
        h.records.iter().map(|r| r.epoch).collect::<Vec<_>>(),
        vec![8, 9]
    );
    assert_eq!(a.epochs_trained(), 9);
    // Epoch 8's shuffle differs from epoch 1's: a fresh model's first epoch differs.
    let mut b = model(&device);
    let first = b
        .fit(&data(), Loss::BinaryCrossEntropy, Sgd::new(0.1), config(1))
        .unwrap();
    assert_ne!(first.records[0].loss, h.records[0].loss);
}

#[test]
fn another_optimizer_configuration_starts_fresh_state() {
    let device = common::cpu();
    let mut m = model(&device);
    m.fit(
        &data(),
        Loss::BinaryCrossEntropy,
        Adam::new(0.01),
        config(2),
    )
    .unwrap();
    let w = m.get_weights().unwrap();
    // Continuing with Adam(0.01) is one thing; Adam(0.02) is a new optimizer, whose first
    // step (bias-corrected, fresh moments) differs from a continued one.
    let mut continued = model(&device);
    continued
        .fit(
            &data(),
            Loss::BinaryCrossEntropy,
            Adam::new(0.01),
            config(2),
        )
        .unwrap();
    continued
        .fit(
            &data(),
            Loss::BinaryCrossEntropy,
            Adam::new(0.01),
            config(1),
        )
        .unwrap();
    m.fit(
        &data(),
        Loss::BinaryCrossEntropy,
        Adam::new(0.02),
        config(1),
    )
    .unwrap();
    assert_ne!(m.get_weights().unwrap(), continued.get_weights().unwrap());
    assert_ne!(m.get_weights().unwrap(), w);
}
