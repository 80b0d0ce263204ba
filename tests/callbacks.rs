//! Callbacks in `fit`: early stopping (with best weights restored), TerminateOnNaN, the
//! CSV logger, and custom callbacks that change the learning rate or stop (issue 8).

mod common;

use common::devices;

use downhill::prelude::*;
use downhill::random::SeededRng;
use downhill::{BatchInfo, EpochRecord, Mode, TrainContext};
use ndarray::Array2;

fn data() -> Dataset {
    let mut rng = SeededRng::new(8);
    let x = Array2::from_shape_simple_fn((64, 3), || rng.uniform(-1.0, 1.0));
    let y = x
        .map_axis(ndarray::Axis(1), |r| r.sum())
        .insert_axis(ndarray::Axis(1));
    Dataset::new(x, y).unwrap()
}

fn model(device: &Device) -> Sequential {
    Sequential::new(device)
        .seed(2)
        .dense(3, 1, Activation::Linear)
}

fn config(epochs: usize) -> FitConfig {
    FitConfig {
        epochs,
        batch_size: 16,
        shuffle: false,
        verbose: 0,
        ..Default::default()
    }
}

/// Records the weights after every epoch.
#[derive(Clone, Debug, Default)]
struct Snapshots(std::sync::Arc<std::sync::Mutex<Vec<Vec<Vec<f32>>>>>);

impl Callback for Snapshots {
    fn on_epoch_end(&mut self, _r: &EpochRecord, ctx: &mut TrainContext) -> downhill::Result<()> {
        self.0.lock().unwrap().push(ctx.model.get_weights()?);
        Ok(())
    }
}

#[test]
fn early_stopping_waits_out_its_patience_and_restores_the_best_weights() {
    for device in devices() {
        // The loss falls every epoch; watching it in mode Max, epoch 1 stays the best, so
        // training stops after 1 + patience epochs and ends with epoch 1's weights.
        let snapshots = Snapshots::default();
        let mut m = model(&device);
        let h = m
            .fit(
                &data(),
                Loss::MeanSquaredError,
                Sgd::new(0.05),
                config(20).callback(snapshots.clone()).callback(
                    EarlyStopping::new("loss")
                        .mode(Mode::Max)
                        .patience(3)
                        .restore_best_weights(true),
                ),
            )
            .unwrap();
        assert_eq!(h.records.len(), 4, "{}", device.name());
        assert!(h.stop_reason.as_deref().unwrap().contains("EarlyStopping"));
        let first = snapshots.0.lock().unwrap()[0].clone();
        assert_eq!(m.get_weights().unwrap(), first, "{}", device.name());
    }
}

#[test]
fn early_stopping_with_min_delta_counts_only_real_improvements() {
    let device = common::cpu();
    let mut m = model(&device);
    // A tiny learning rate improves the loss by far less than min_delta each epoch.
    let h = m
        .fit(
            &data(),
            Loss::MeanSquaredError,
            Sgd::new(1e-6),
            config(50).callback(EarlyStopping::new("loss").min_delta(0.1).patience(2)),
        )
        .unwrap();
    assert_eq!(h.records.len(), 3);
    // Without min_delta it keeps improving and runs every epoch.
    let mut m = model(&device);
    let h = m
        .fit(
            &data(),
            Loss::MeanSquaredError,
            Sgd::new(1e-6),
            config(6).callback(EarlyStopping::new("loss").patience(2)),
        )
        .unwrap();
    assert_eq!(h.records.len(), 6);
    assert!(h.stop_reason.is_none());
}

#[test]
fn early_stopping_on_a_figure_fit_does_not_compute_is_an_error() {
    let mut m = model(&common::cpu());
    let e = m
        .fit(
            &data(),
            Loss::MeanSquaredError,
            Sgd::new(0.01),
            config(3).callback(EarlyStopping::new("val_loss")),
        )
        .unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e}");
    assert!(e.to_string().contains("val_loss"), "{e}");
}

#[test]
fn terminate_on_nan_returns_the_history_instead_of_an_error() {
    for device in devices() {
        let mut m = model(&device);
        let h = m
            .fit(
                &data(),
                Loss::MeanSquaredError,
                Sgd::new(1e30),
                config(10).callback(TerminateOnNaN),
            )
            .unwrap();
        assert!(h.records.len() < 10, "{}", device.name());
        assert!(!h.records.last().unwrap().loss.is_finite());
        assert!(
            h.stop_reason.as_deref().unwrap().contains("step"),
            "{:?}",
            h.stop_reason
        );
    }
}

#[test]
fn the_csv_logger_writes_every_epoch_and_appends_when_asked() {
    let dir = std::env::temp_dir().join(format!("downhill-csvlog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("log.csv");
    let mut m = model(&common::cpu());
    let h = m
        .fit(
            &data(),
            Loss::MeanSquaredError,
            Sgd::new(0.01),
            config(3).callback(CsvLogger::new(&path)),
        )
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text, h.to_csv());
    let h2 = m
        .fit(
            &data(),
            Loss::MeanSquaredError,
            Sgd::new(0.01),
            config(2).callback(CsvLogger::new(&path).append(true)),
        )
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + 5, "{text}");
    assert!(
        lines[4].starts_with("4,") && lines[5].starts_with("5,"),
        "{text}"
    );
    assert_eq!(h2.records[0].epoch, 4);
}

/// Halves the learning rate at every epoch end and stops at batch 3 of epoch 3.
#[derive(Clone, Debug)]
struct HalveAndStop;

impl Callback for HalveAndStop {
    fn on_epoch_end(&mut self, _r: &EpochRecord, ctx: &mut TrainContext) -> downhill::Result<()> {
        let lr = ctx.lr();
        ctx.set_lr(lr / 2.0)
    }
    fn on_batch_end(&mut self, b: &BatchInfo, ctx: &mut TrainContext) -> downhill::Result<()> {
        if b.epoch == 3 && b.batch == 3 {
            ctx.stop_training("enough");
        }
        Ok(())
    }
}

#[test]
fn a_callback_can_change_the_learning_rate_and_stop_mid_epoch() {
    for device in devices() {
        let mut m = model(&device);
        let params = m.parameters().unwrap();
        let refs: Vec<&Tensor> = params.iter().collect();
        let mut opt = Sgd::new(0.08).build(&refs).unwrap();
        let h = m
            .fit_with(
                &data(),
                Loss::MeanSquaredError,
                &mut opt,
                config(10).callback(HalveAndStop),
            )
            .unwrap();
        // The record holds the rate the epoch ran with; the callback halves it after.
        assert_eq!(h.lr(), vec![0.08, 0.04, 0.02]);
        assert_eq!(h.stop_reason.as_deref(), Some("enough"));
        assert_eq!(opt.steps(), 4 + 4 + 3, "{}", device.name());
    }
}
