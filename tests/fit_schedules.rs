//! Learning-rate schedules and schedule callbacks inside `fit`: stepped per epoch or per
//! batch as the schedule says, recorded in the History, continued by a later `fit`
//! (issue 8).

mod common;

use downhill::prelude::*;
use downhill::random::SeededRng;
use ndarray::Array2;

fn data() -> Dataset {
    let mut rng = SeededRng::new(3);
    let x = Array2::from_shape_simple_fn((64, 2), || rng.uniform(-1.0, 1.0));
    let y = x
        .map_axis(ndarray::Axis(1), |r| r[0] - 2.0 * r[1])
        .insert_axis(ndarray::Axis(1));
    Dataset::new(x, y).unwrap()
}

fn model(device: &Device) -> Sequential {
    Sequential::new(device)
        .seed(4)
        .dense(2, 1, Activation::Linear)
}

fn config(epochs: usize) -> FitConfig {
    FitConfig {
        epochs,
        batch_size: 16,
        verbose: 0,
        ..Default::default()
    }
}

fn close(a: &[f32], b: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(&x, &y)| (x as f64 - y).abs() <= 1e-7 * y.abs().max(1e-30))
}

#[test]
fn a_per_epoch_schedule_sets_each_epochs_rate() {
    for device in std::iter::once(common::cpu()).chain(common::gpu()) {
        let mut m = model(&device);
        let h = m
            .fit(
                &data(),
                Loss::MeanSquaredError,
                Sgd::new(0.1),
                config(6).schedule(StepLR::new(2).gamma(0.5)),
            )
            .unwrap();
        assert!(
            close(&h.lr(), &[0.1, 0.1, 0.05, 0.05, 0.025, 0.025]),
            "{:?}",
            h.lr()
        );
    }
}

#[test]
fn a_per_batch_schedule_steps_after_every_update() {
    // OneCycleLR over 4 epochs × 4 batches: each epoch starts at its closed form.
    let mut m = model(&common::cpu());
    let h = m
        .fit(
            &data(),
            Loss::MeanSquaredError,
            Sgd::new(0.01).momentum(0.9),
            config(4).schedule(
                OneCycleLR::new(0.1)
                    .total_steps(16)
                    .anneal_strategy(AnnealStrategy::Linear),
            ),
        )
        .unwrap();
    // Linear one-cycle: from 0.1/25 up to 0.1 over 0.3·16 - 1 = 3.8 steps, then down.
    let initial = 0.1 / 25.0;
    let min = initial / 1e4;
    let up_end = 0.3 * 16.0 - 1.0;
    let at = |t: f64| {
        if t <= up_end {
            initial + (0.1 - initial) * t / up_end
        } else {
            0.1 + (min - 0.1) * (t - up_end) / (15.0 - up_end)
        }
    };
    let expected: Vec<f64> = (0..4).map(|e| at(4.0 * e as f64)).collect();
    assert!(close(&h.lr(), &expected), "{:?} vs {expected:?}", h.lr());
}

#[test]
fn reduce_on_plateau_watches_the_monitored_figure() {
    // A rate far too small to improve the loss by the relative threshold of 1e-4: after
    // patience 1, every second epoch cuts the rate tenfold (while the cut exceeds
    // PyTorch's eps of 1e-8).
    let mut m = model(&common::cpu());
    let h = m
        .fit(
            &data(),
            Loss::MeanSquaredError,
            Sgd::new(1e-6),
            config(6).schedule(ReduceLROnPlateau::new().patience(1)),
        )
        .unwrap();
    assert!(
        close(&h.lr(), &[1e-6, 1e-6, 1e-6, 1e-7, 1e-7, 1e-8]),
        "{:?} {:?}",
        h.lr(),
        h.loss()
    );
    // Watching a figure fit does not compute is an error.
    let mut m = model(&common::cpu());
    let e = m
        .fit(
            &data(),
            Loss::MeanSquaredError,
            Sgd::new(0.1),
            FitConfig {
                schedule_monitor: Some("val_accuracy".into()),
                ..config(2).schedule(ReduceLROnPlateau::new())
            },
        )
        .unwrap_err();
    assert!(e.to_string().contains("val_accuracy"), "{e}");
}

#[test]
fn a_later_fit_continues_the_schedule() {
    let device = common::cpu();
    let schedule = || CosineAnnealingLR::new(10);
    let mut whole = model(&device);
    let h = whole
        .fit(
            &data(),
            Loss::MeanSquaredError,
            Sgd::new(0.1),
            config(6).schedule(schedule()),
        )
        .unwrap();
    let mut parts = model(&device);
    let a = parts
        .fit(
            &data(),
            Loss::MeanSquaredError,
            Sgd::new(0.1),
            config(3).schedule(schedule()),
        )
        .unwrap();
    let b = parts
        .fit(
            &data(),
            Loss::MeanSquaredError,
            Sgd::new(0.1),
            config(3).schedule(schedule()),
        )
        .unwrap();
    let joined: Vec<f32> = a.lr().into_iter().chain(b.lr()).collect();
    assert_eq!(joined, h.lr());
    assert_eq!(parts.get_weights().unwrap(), whole.get_weights().unwrap());
}

#[test]
fn the_keras_learning_rate_scheduler_callback_sets_each_epoch() {
    let mut m = model(&common::cpu());
    let h = m
        .fit(
            &data(),
            Loss::MeanSquaredError,
            Sgd::new(0.1),
            config(4).callback(LearningRateScheduler::new(|epoch, lr| {
                if epoch < 2 {
                    lr
                } else {
                    lr * 0.5
                }
            })),
        )
        .unwrap();
    assert_eq!(h.lr(), vec![0.1, 0.1, 0.05, 0.025]);
}
