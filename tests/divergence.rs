//! Divergence is caught in the step it happens, on both backends, and the error says what
//! turned non-finite first: the data, a parameter, the loss or a gradient (issue 7,
//! class 6).

mod common;

use common::devices;

use downhill::prelude::*;
use downhill::Divergence;
use ndarray::Array2;

fn config(epochs: usize, batch_size: usize) -> FitConfig {
    FitConfig {
        epochs,
        batch_size,
        shuffle: false,
        verbose: 0,
        ..Default::default()
    }
}

/// 64 rows of one feature, all small except row `huge_row`, whose value overflows a
/// square: with batch size 1 and no shuffle, step `huge_row + 1` is the first bad one.
fn data_with_huge_row(huge_row: usize) -> Dataset {
    let x = Array2::from_shape_fn(
        (64, 1),
        |(r, _)| {
            if r == huge_row {
                3e38
            } else {
                0.01 * r as f32
            }
        },
    );
    let y = x.mapv(|v| v.min(1.0) * 0.5);
    Dataset::new(x, y).unwrap()
}

fn expect_diverged(r: downhill::Result<History>) -> (usize, u64, Divergence, String, History) {
    match r {
        Err(
            ref e @ Error::Diverged {
                epoch,
                step,
                cause,
                ref history,
                ..
            },
        ) => (epoch, step, cause, e.to_string(), (**history).clone()),
        Err(e) => panic!("expected Diverged, got {e}"),
        Ok(h) => panic!("expected Diverged, got Ok with losses {:?}", h.loss()),
    }
}

#[test]
fn a_loss_that_turns_non_finite_at_step_40_is_reported_at_step_40() {
    for device in devices() {
        for check_every in [None, Some(1), Some(7)] {
            let mut model = Sequential::new(&device)
                .dense(1, 1, Activation::Linear)
                .seed(3);
            let r = model.fit(
                &data_with_huge_row(39),
                Loss::MeanSquaredError,
                Sgd::new(0.01),
                FitConfig {
                    check_every,
                    ..config(3, 1)
                },
            );
            let (epoch, step, cause, msg, history) = expect_diverged(r);
            let what = format!("{} check_every {check_every:?}: {msg}", device.name());
            assert_eq!((epoch, step, cause), (1, 40, Divergence::Loss), "{what}");
            assert!(msg.contains("step 40 (epoch 1, batch 40/64)"), "{what}");
            assert!(msg.contains("learning rate 0.01"), "{what}");
            // The partial epoch is recorded, its loss non-finite.
            assert_eq!(history.records.len(), 1, "{what}");
            assert!(!history.records[0].loss.is_finite(), "{what}");
        }
    }
}

#[test]
fn fit_stops_at_the_bad_step_when_checking_every_step() {
    for device in devices() {
        let mut model = Sequential::new(&device)
            .dense(1, 1, Activation::Linear)
            .seed(3);
        let params = model.parameters().unwrap();
        let refs: Vec<&Tensor> = params.iter().collect();
        let mut opt = Sgd::new(0.01).build(&refs).unwrap();
        let r = model.fit_with(
            &data_with_huge_row(9),
            Loss::MeanSquaredError,
            &mut opt,
            FitConfig {
                check_every: Some(1),
                ..config(1, 1)
            },
        );
        assert!(
            matches!(r, Err(Error::Diverged { step: 10, .. })),
            "{}: {:?}",
            device.name(),
            r.err()
        );
        // No step ran after the bad one (the default on a GPU would finish the epoch).
        assert_eq!(opt.steps(), 10, "{}", device.name());
    }
}

#[test]
fn data_that_overflows_before_any_update_is_blamed_not_the_learning_rate() {
    for device in devices() {
        let mut model = Sequential::new(&device)
            .dense(1, 1, Activation::Linear)
            .seed(3);
        let r = model.fit(
            &data_with_huge_row(0),
            Loss::MeanSquaredError,
            Sgd::new(0.01),
            config(1, 1),
        );
        let (_, step, cause, msg, _) = expect_diverged(r);
        assert_eq!((step, cause), (1, Divergence::Loss), "{msg}");
        assert!(msg.contains("before any parameter update"), "{msg}");
        assert!(msg.contains("3e38"), "{msg}");
        assert!(!msg.contains("learning rate"), "{msg}");
    }
}

#[test]
fn a_gradient_that_overflows_under_a_finite_loss_is_named_as_such() {
    // x = 3e38, w = 1e-37: the prediction 30 and the loss 900 are finite, but dL/dw =
    // 2·30·3e38/4 overflows f32.
    for device in devices() {
        let x = Array2::from_elem((4, 1), 3e38f32);
        let y = Array2::zeros((4, 1));
        let mut model = Sequential::new(&device).layer(
            Dense::new(1, 1)
                .kernel_init(Init::Constant(1e-37))
                .use_bias(false),
        );
        let r = model.fit(
            &Dataset::new(x, y).unwrap(),
            Loss::MeanSquaredError,
            Sgd::new(0.1),
            config(1, 4),
        );
        let (_, step, cause, msg, _) = expect_diverged(r);
        assert_eq!((step, cause), (1, Divergence::Gradient), "{msg}");
        assert!(msg.contains("exploding gradients"), "{msg}");
    }
}

#[test]
fn a_non_finite_validation_loss_is_reported_not_printed_as_a_number() {
    for device in devices() {
        let train = Dataset::new(
            Array2::from_shape_fn((16, 1), |(r, _)| r as f32 / 16.0),
            Array2::zeros((16, 1)),
        )
        .unwrap();
        let validation =
            Dataset::new(Array2::from_elem((4, 1), 3e38), Array2::zeros((4, 1))).unwrap();
        let mut model = Sequential::new(&device).layer(
            Dense::new(1, 1)
                .kernel_init(Init::Constant(1.0))
                .use_bias(false),
        );
        let r = model.fit(
            &train,
            Loss::MeanSquaredError,
            Sgd::new(1e-3),
            FitConfig {
                validation_data: Some(validation),
                ..config(2, 4)
            },
        );
        let (epoch, _, cause, msg, history) = expect_diverged(r);
        assert_eq!((epoch, cause), (1, Divergence::ValidationLoss), "{msg}");
        assert!(msg.contains("validation loss was inf"), "{msg}");
        assert!(history.records[0].loss.is_finite());
    }
}

#[test]
fn non_finite_initialisers_and_activation_parameters_are_refused_when_built() {
    for device in devices() {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let model =
                Sequential::new(&device).layer(Dense::new(2, 2).kernel_init(Init::Constant(bad)));
            match model.parameters() {
                Err(Error::NonFinite(m)) => assert!(m.contains("kernel_init"), "{m}"),
                other => panic!("Constant({bad}): {:?}", other.err()),
            }
            let model =
                Sequential::new(&device).layer(Dense::new(2, 2).bias_init(Init::Constant(bad)));
            assert!(matches!(model.parameters(), Err(Error::NonFinite(_))));
            let model = Sequential::new(&device).dense(2, 2, Activation::LeakyRelu(bad));
            assert!(matches!(model.parameters(), Err(Error::NonFinite(_))));
            let x = device.zeros([2]).unwrap();
            assert!(matches!(x.leaky_relu(bad), Err(Error::NonFinite(_))));
        }
    }
}

#[test]
fn a_parameter_that_is_already_nan_is_named_before_training() {
    for device in devices() {
        let data = data_with_huge_row(0);
        let mut model = Sequential::new(&device).dense(1, 1, Activation::Linear);
        // A model that an earlier run left diverged.
        let _ = model.fit(&data, Loss::MeanSquaredError, Sgd::new(0.01), config(1, 1));
        let fine = data_with_huge_row(100); // no huge row at all
        let err = model
            .fit(&fine, Loss::MeanSquaredError, Sgd::new(0.01), config(1, 1))
            .unwrap_err();
        assert!(matches!(err, Error::NonFinite(_)), "{err}");
        assert!(err.to_string().contains("0.dense."), "{err}");
        assert!(err.to_string().contains("before training"), "{err}");
    }
}

#[test]
fn an_update_that_overflows_in_the_last_step_is_not_returned_as_ok() {
    // One step of SGD 1e37 on a finite loss and gradient writes -inf into the weight: no
    // later loss or gradient exists to show it, so fit checks the parameters at the end.
    for device in devices() {
        let x = Array2::from_elem((2, 1), 100.0f32);
        let y = Array2::zeros((2, 1));
        let mut model = Sequential::new(&device).layer(
            Dense::new(1, 1)
                .kernel_init(Init::Constant(1.0))
                .use_bias(false),
        );
        let r = model.fit(
            &Dataset::new(x, y).unwrap(),
            Loss::MeanSquaredError,
            Sgd::new(1e37),
            config(1, 2),
        );
        let (epoch, step, cause, msg, history) = expect_diverged(r);
        assert_eq!((epoch, step, cause), (1, 1, Divergence::Parameter), "{msg}");
        assert!(msg.contains("0.dense.weight[0]"), "{msg}");
        assert!(msg.contains("-inf"), "{msg}");
        assert_eq!(history.records.len(), 1);
        assert!(history.records[0].loss.is_finite(), "{msg}");
    }
}

#[test]
fn the_history_of_a_diverged_run_with_validation_writes_and_reads_back() {
    let dir = std::env::temp_dir().join(format!("downhill-diverged-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for device in devices() {
        let train = data_with_huge_row(40); // batch 6 of 8 (batch size 8)
        let validation = data_with_huge_row(100);
        let mut model = Sequential::new(&device)
            .dense(1, 1, Activation::Linear)
            .seed(3);
        let r = model.fit(
            &train,
            Loss::MeanSquaredError,
            Sgd::new(1e-3),
            FitConfig {
                validation_data: Some(validation),
                metrics: vec![Metric::Accuracy],
                ..config(1, 8)
            },
        );
        let (_, step, _, msg, history) = expect_diverged(r);
        assert_eq!(step, 6, "{msg}");
        let last = history.records.last().unwrap();
        assert!(last.val_loss.is_some_and(f32::is_nan), "{last:?}");
        let path = dir.join("h.json");
        history.write_json(&path).unwrap();
        let back = History::read_json(&path).unwrap();
        assert_eq!(back.records.len(), history.records.len());
        // The CSV keeps every column in every row.
        let csv = history.to_csv();
        let widths: Vec<usize> = csv.lines().map(|l| l.split(',').count()).collect();
        assert!(widths.windows(2).all(|w| w[0] == w[1]), "{csv}");
    }
}

#[test]
fn a_finite_loss_near_the_top_of_f32_is_averaged_without_overflowing() {
    // Batch losses of ~1e37 over 64 rows: a sum of loss·rows would overflow f32 and be
    // mistaken for a divergence; the epoch's mean is finite.
    for device in devices() {
        let x = Array2::zeros((64, 1));
        let y = Array2::from_elem((64, 1), 3e18f32);
        let mut model = Sequential::new(&device)
            .layer(Dense::new(1, 1).kernel_init(Init::Zeros).use_bias(false));
        let history = model
            .fit(
                &Dataset::new(x, y).unwrap(),
                Loss::MeanSquaredError,
                Sgd::new(0.0),
                config(1, 32),
            )
            .unwrap();
        let loss = history.records[0].loss;
        assert!((loss / 9e36 - 1.0).abs() < 1e-5, "{} {loss}", device.name());
    }
}
