//! Metrics beyond accuracy (issue 8): precision, recall, F1 (binary, macro, micro), top-k
//! accuracy, MAE and R², accumulated on the device over an epoch. Each figure `evaluate`
//! reports equals the function of the same name on `predict`'s outputs (scikit-learn's
//! definitions), on both backends; the device statistics match CPU against GPU on random
//! inputs of awkward sizes, NaN included.

mod common;

use common::devices;

use downhill::metric::functions::{self as f, predicted_classes};
use downhill::prelude::*;
use downhill::random::SeededRng;
use downhill::{AccuracyKind, MetricStats};
use ndarray::Array2;

fn classes_data(rows: usize, features: usize, classes: usize, seed: u64) -> Dataset {
    let mut rng = SeededRng::new(seed);
    let x = Array2::from_shape_simple_fn((rows, features), || rng.uniform(-1.0, 1.0));
    let y = Array2::from_shape_fn((rows, 1), |(r, _)| {
        let s: f32 = x.row(r).iter().sum();
        ((s * 1.7).abs() as usize % classes) as f32
    });
    Dataset::new(x, y).unwrap()
}

fn close(a: f32, b: f32, what: &str) {
    assert!(
        (a - b).abs() <= 1e-5 * b.abs().max(1.0),
        "{what}: device {a} vs reference {b}"
    );
}

#[test]
fn classification_metrics_from_evaluate_equal_the_functions_on_predict() {
    for device in devices() {
        // 1100 rows: more than one inference batch of 1024, so figures merge across batches.
        let data = classes_data(1100, 6, 5, 3);
        let mut model = Sequential::new(&device)
            .seed(5)
            .dense(6, 16, Activation::Relu)
            .dense(16, 5, Activation::Linear);
        model
            .fit(
                &data,
                Loss::SparseCategoricalCrossEntropy,
                Adam::new(0.02),
                FitConfig {
                    epochs: 3,
                    verbose: 0,
                    ..Default::default()
                },
            )
            .unwrap();
        let metrics = [
            Metric::Precision(Average::Macro),
            Metric::Recall(Average::Macro),
            Metric::F1(Average::Macro),
            Metric::F1(Average::Micro),
            Metric::TopKAccuracy(2),
            Metric::Accuracy,
        ];
        let eval = model
            .evaluate(&data, Loss::SparseCategoricalCrossEntropy, &metrics)
            .unwrap();
        let scores = model.predict(data.x()).unwrap();
        let labels: Vec<f32> = data.y().iter().copied().collect();
        let m = f::confusion_matrix(&labels, &predicted_classes(scores.view(), 0.0), 5).unwrap();
        let expected = [
            f::precision(&m, Average::Macro).unwrap(),
            f::recall(&m, Average::Macro).unwrap(),
            f::f1(&m, Average::Macro).unwrap(),
            f::f1(&m, Average::Micro).unwrap(),
            f::top_k_accuracy(scores.view(), &labels, 2).unwrap(),
        ];
        for ((name, got), want) in eval.metrics.iter().zip(expected) {
            close(*got, want, &format!("{} {name}", device.name()));
        }
        // Micro F1 of single-label classes is the accuracy.
        close(eval.metrics[3].1, eval.metrics[5].1, "micro f1 = accuracy");
        assert_eq!(eval.metrics[2].0, "f1_score_macro");
        assert_eq!(eval.metrics[4].0, "top_2_categorical_accuracy");
    }
}

#[test]
fn binary_metrics_read_probabilities_at_one_half() {
    for device in devices() {
        let mut rng = SeededRng::new(8);
        let x = Array2::from_shape_simple_fn((300, 3), || rng.uniform(-1.0, 1.0));
        let y = x
            .map_axis(ndarray::Axis(1), |r| (r[0] + 0.3 * r[1] > 0.1) as u8 as f32)
            .insert_axis(ndarray::Axis(1));
        let data = Dataset::new(x, y).unwrap();
        let mut model = Sequential::new(&device).dense(3, 1, Activation::Sigmoid);
        let h = model
            .fit(
                &data,
                Loss::BinaryCrossEntropy,
                Sgd::new(0.5),
                FitConfig {
                    epochs: 5,
                    verbose: 0,
                    metrics: vec![
                        Metric::Precision(Average::Binary),
                        Metric::Recall(Average::Binary),
                    ],
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(h.metric("precision").len(), 5);
        let eval = model
            .evaluate(
                &data,
                Loss::BinaryCrossEntropy,
                &[
                    Metric::Precision(Average::Binary),
                    Metric::Recall(Average::Binary),
                    Metric::F1(Average::Binary),
                ],
            )
            .unwrap();
        let p = model.predict(data.x()).unwrap();
        let labels: Vec<f32> = data.y().iter().copied().collect();
        let m = f::confusion_matrix(&labels, &predicted_classes(p.view(), 0.5), 2).unwrap();
        close(
            eval.metrics[0].1,
            f::precision(&m, Average::Binary).unwrap(),
            "precision",
        );
        close(
            eval.metrics[1].1,
            f::recall(&m, Average::Binary).unwrap(),
            "recall",
        );
        close(eval.metrics[2].1, f::f1(&m, Average::Binary).unwrap(), "f1");
    }
}

#[test]
fn regression_metrics_equal_the_functions_even_far_from_zero() {
    for device in devices() {
        // Targets near 1000 with a spread of ~1: R² needs the stable (Chan) merge.
        let mut rng = SeededRng::new(4);
        let x = Array2::from_shape_simple_fn((1500, 2), || rng.uniform(-1.0, 1.0));
        let y = Array2::from_shape_fn((1500, 2), |(r, c)| {
            1000.0 + x[(r, 0)] * (c as f32 + 1.0) + 0.1 * x[(r, 1)]
        });
        let data = Dataset::new(x, y).unwrap();
        let model = Sequential::new(&device)
            .seed(2)
            .layer(Dense::new(2, 2).bias_init(Init::Constant(1000.0)));
        let eval = model
            .evaluate(
                &data,
                Loss::MeanSquaredError,
                &[Metric::MeanAbsoluteError, Metric::R2],
            )
            .unwrap();
        let p = model.predict(data.x()).unwrap();
        close(
            eval.metrics[0].1,
            f::mean_absolute_error(p.view(), data.y().view()).unwrap(),
            "mae",
        );
        let r2 = f::r2_score(p.view(), data.y().view()).unwrap();
        assert!(
            (eval.metrics[1].1 - r2).abs() < 1e-3,
            "{}: r2 {} vs {r2}",
            device.name(),
            eval.metrics[1].1
        );
    }
}

#[test]
fn metrics_that_cannot_apply_are_refused_before_training() {
    let device = common::cpu();
    let data = classes_data(20, 3, 4, 1);
    let mut model = Sequential::new(&device).dense(3, 4, Activation::Linear);
    for (metric, needle) in [
        (Metric::Precision(Average::Binary), "two classes"),
        (Metric::TopKAccuracy(0), "k"),
        (Metric::TopKAccuracy(5), "k <= 4"),
    ] {
        let e = model
            .fit(
                &data,
                Loss::SparseCategoricalCrossEntropy,
                Sgd::new(0.1),
                FitConfig {
                    metrics: vec![metric],
                    verbose: 0,
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert!(e.to_string().contains(needle), "{metric:?}: {e}");
    }
}

/// The statistics themselves, CPU against GPU: counts exactly, sums within f32 rounding.
#[test]
fn device_statistics_agree_between_backends_on_random_and_nan_inputs() {
    let Some(gpu) = common::gpu() else { return };
    let cpu = common::cpu();
    let mut rng = SeededRng::new(12);
    for (rows, cols) in [(1, 1), (7, 3), (257, 5), (600, 1), (33, 13)] {
        let mut pred: Vec<f32> = (0..rows * cols).map(|_| rng.uniform(-3.0, 3.0)).collect();
        pred[rows * cols / 2] = f32::NAN;
        let labels: Vec<f32> = (0..rows).map(|r| (r * 7 % cols) as f32).collect();
        let values: Vec<f32> = (0..rows * cols).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let binary: Vec<f32> = values.iter().map(|&v| (v > 0.0) as u8 as f32).collect();
        let cases: Vec<(MetricStats, &Vec<f32>)> = vec![
            (MetricStats::Confusion(AccuracyKind::Categorical), &labels),
            (
                MetricStats::Confusion(AccuracyKind::Binary { threshold: 0.0 }),
                &binary,
            ),
            (MetricStats::TopK(2), &labels),
            (MetricStats::Errors, &values),
        ];
        for (stats, target) in cases {
            let run = |device: &Device| {
                let be = device.backend();
                let p = be.upload(&pred).unwrap();
                let t = be.upload(target).unwrap();
                let acc = be.full(stats.len(cols), 0.0).unwrap();
                for _ in 0..2 {
                    be.accumulate_stats(stats, &p, &t, rows, cols, &acc)
                        .unwrap();
                }
                be.download(&acc).unwrap()
            };
            let (c, g) = (run(&cpu), run(&gpu));
            match stats {
                MetricStats::Errors => {
                    for (i, (a, b)) in c.iter().zip(&g).enumerate() {
                        let ok =
                            (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-4 * a.abs().max(1.0);
                        assert!(ok, "{stats:?} [{rows}, {cols}] slot {i}: cpu {a} gpu {b}");
                    }
                }
                _ => {
                    let bits = |v: &Vec<f32>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&c), bits(&g), "{stats:?} [{rows}, {cols}]");
                }
            }
        }
    }
}
