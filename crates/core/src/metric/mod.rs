//! Metrics reported by `fit` and `evaluate` next to the loss, and the same figures as
//! functions on predictions (`functions`).
//!
//! Every metric accumulates on the device over an epoch (a count of correct predictions,
//! a confusion matrix, sums of errors) and becomes its figure once per epoch, when the
//! accumulators are read back with the loss.

pub mod functions;

use crate::backend::{AccuracyKind, MetricStats};
use crate::error::{Error, Result};
use crate::loss::Loss;
use functions::{Average, ConfusionMatrix};
use ndarray::Array2;

/// A figure computed from predictions and targets, accumulated on the device.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Metric {
    /// Accuracy read the way the loss reads its predictions: binary at 0.5 for
    /// probabilities, at 0 for logits, argmax against the label for cross-entropy.
    Accuracy,
    /// `pred > 0.5` equals `target > 0.5`.
    BinaryAccuracy,
    /// `argmax(pred) == label`.
    CategoricalAccuracy,
    /// Precision over the classes the loss reads (two for a binary output, one per
    /// output column for cross-entropy), combined as `Average` says.
    Precision(Average),
    /// Recall, as [`Metric::Precision`].
    Recall(Average),
    /// F1, the harmonic mean of precision and recall, as [`Metric::Precision`].
    F1(Average),
    /// The fraction of rows whose label is among the `k` highest scores (Keras'
    /// `top_k_categorical_accuracy`; classes tied at the boundary count as inside).
    TopKAccuracy(usize),
    /// The mean absolute error over every output.
    MeanAbsoluteError,
    /// R² per output column, averaged (Keras' `R2Score`, scikit-learn's
    /// `uniform_average`).
    R2,
}

/// What a metric accumulates on the device.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MetricPlan {
    /// A count of correct predictions (`Backend::accumulate_correct`).
    Correct(AccuracyKind),
    /// Statistics (`Backend::accumulate_stats`).
    Stats(MetricStats),
}

impl MetricPlan {
    /// Elements of its accumulator for `[_, cols]` predictions.
    pub fn len(&self, cols: usize) -> usize {
        match self {
            MetricPlan::Correct(_) => 1,
            MetricPlan::Stats(s) => s.len(cols),
        }
    }
}

fn suffix(average: Average) -> &'static str {
    match average {
        Average::Binary => "",
        Average::Macro => "_macro",
        Average::Micro => "_micro",
    }
}

impl Metric {
    /// The name in logs and the History: Keras' where it has one (`accuracy`,
    /// `precision`, `recall`, `f1_score`, `top_5_categorical_accuracy`, `mae`,
    /// `r2_score`), with `_macro`/`_micro` for the averaged forms.
    pub fn name(&self) -> String {
        match self {
            Metric::Accuracy => "accuracy".into(),
            Metric::BinaryAccuracy => "binary_accuracy".into(),
            Metric::CategoricalAccuracy => "categorical_accuracy".into(),
            Metric::Precision(a) => format!("precision{}", suffix(*a)),
            Metric::Recall(a) => format!("recall{}", suffix(*a)),
            Metric::F1(a) => format!("f1_score{}", suffix(*a)),
            Metric::TopKAccuracy(k) => format!("top_{k}_categorical_accuracy"),
            Metric::MeanAbsoluteError => "mae".into(),
            Metric::R2 => "r2_score".into(),
        }
    }

    /// How predictions made for `loss` count as right (the accuracies).
    pub fn accuracy_kind(&self, loss: Loss) -> AccuracyKind {
        match self {
            Metric::BinaryAccuracy => AccuracyKind::Binary { threshold: 0.5 },
            Metric::CategoricalAccuracy | Metric::TopKAccuracy(_) => AccuracyKind::Categorical,
            _ => loss.accuracy_kind(),
        }
    }

    /// What it accumulates for predictions made for `loss`.
    pub fn plan(&self, loss: Loss) -> Result<MetricPlan> {
        Ok(match self {
            Metric::Accuracy | Metric::BinaryAccuracy | Metric::CategoricalAccuracy => {
                MetricPlan::Correct(self.accuracy_kind(loss))
            }
            Metric::Precision(_) | Metric::Recall(_) | Metric::F1(_) => {
                MetricPlan::Stats(MetricStats::Confusion(loss.accuracy_kind()))
            }
            Metric::TopKAccuracy(k) => {
                let k = u32::try_from(*k).ok().filter(|&k| k >= 1).ok_or_else(|| {
                    Error::Config(format!("top-k accuracy needs 1 <= k, got {k}"))
                })?;
                MetricPlan::Stats(MetricStats::TopK(k))
            }
            Metric::MeanAbsoluteError | Metric::R2 => MetricPlan::Stats(MetricStats::Errors),
        })
    }

    /// The figure from its accumulator `raw` after `rows` rows of `[_, cols]` outputs.
    pub fn value(&self, plan: MetricPlan, raw: &[f32], rows: usize, cols: usize) -> Result<f32> {
        let n = rows.max(1) as f32;
        let count = |v: f32| v.to_bits() as u64;
        Ok(match (self, plan) {
            (_, MetricPlan::Correct(_)) => raw[0] / n,
            (Metric::TopKAccuracy(_), _) => count(raw[0]) as f32 / n,
            (Metric::Precision(a) | Metric::Recall(a) | Metric::F1(a), MetricPlan::Stats(s)) => {
                let classes = (s.len(cols) as f64).sqrt() as usize;
                let m: ConfusionMatrix =
                    Array2::from_shape_fn((classes, classes), |(t, p)| count(raw[t * classes + p]));
                match self {
                    Metric::Precision(_) => functions::precision(&m, *a)?,
                    Metric::Recall(_) => functions::recall(&m, *a)?,
                    _ => functions::f1(&m, *a)?,
                }
            }
            (Metric::MeanAbsoluteError, _) => {
                let total: f64 = raw.chunks(5).map(|c| c[3] as f64).sum();
                (total / (rows.max(1) * cols.max(1)) as f64) as f32
            }
            (Metric::R2, _) => {
                let per_column = raw.chunks(5).map(|c| {
                    let (ss_tot, ss_res) = (c[2] as f64, c[4] as f64);
                    match (ss_tot > 0.0, ss_res == 0.0) {
                        (true, _) => 1.0 - ss_res / ss_tot,
                        (false, true) => 1.0,
                        (false, false) => 0.0,
                    }
                });
                (per_column.sum::<f64>() / cols.max(1) as f64) as f32
            }
            _ => raw[0] / n,
        })
    }

    /// Whether the metric reads class labels (one per row) rather than one target per
    /// output.
    pub fn reads_labels(&self, loss: Loss) -> bool {
        match self.plan(loss) {
            Ok(MetricPlan::Correct(k)) | Ok(MetricPlan::Stats(MetricStats::Confusion(k))) => {
                k == AccuracyKind::Categorical
            }
            Ok(MetricPlan::Stats(MetricStats::TopK(_))) => true,
            _ => false,
        }
    }
}
