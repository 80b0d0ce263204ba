//! Metrics reported by `fit` and `evaluate` next to the loss, and the same figures as
//! functions on predictions (`functions`).

pub mod functions;

use crate::backend::AccuracyKind;
use crate::loss::Loss;

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
}

impl Metric {
    pub fn name(&self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::BinaryAccuracy => "binary_accuracy",
            Metric::CategoricalAccuracy => "categorical_accuracy",
        }
    }

    pub fn accuracy_kind(&self, loss: Loss) -> AccuracyKind {
        match self {
            Metric::Accuracy => loss.accuracy_kind(),
            Metric::BinaryAccuracy => AccuracyKind::Binary { threshold: 0.5 },
            Metric::CategoricalAccuracy => AccuracyKind::Categorical,
        }
    }
}
