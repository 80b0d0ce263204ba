//! Loss functions for `fit`, each a fused, numerically stable backend kernel.

use crate::backend::AccuracyKind;
use crate::error::Result;
use crate::tensor::Tensor;

/// What `fit` minimises. Each is the mean over the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// Mean squared error (regression).
    MeanSquaredError,
    /// Binary cross-entropy of probabilities, e.g. after a sigmoid (clamped as Keras does).
    BinaryCrossEntropy,
    /// Binary cross-entropy of raw logits (stable; prefer it to sigmoid + BCE).
    BinaryCrossEntropyWithLogits,
    /// Softmax cross-entropy of logits `[rows, classes]` against integer labels `[rows, 1]`
    /// (Keras' sparse categorical cross-entropy with `from_logits=True`).
    SparseCategoricalCrossEntropy,
}

impl Loss {
    /// The loss of `pred` against `target` as a scalar tensor.
    pub fn compute(&self, pred: &Tensor, target: &Tensor) -> Result<Tensor> {
        match self {
            Loss::MeanSquaredError => pred.mse(target),
            Loss::BinaryCrossEntropy => pred.binary_cross_entropy(target),
            Loss::BinaryCrossEntropyWithLogits => pred.binary_cross_entropy_with_logits(target),
            Loss::SparseCategoricalCrossEntropy => pred.cross_entropy(target),
        }
    }

    /// Keras' name for the loss, e.g. `sparse_categorical_crossentropy`.
    pub fn name(&self) -> &'static str {
        match self {
            Loss::MeanSquaredError => "mse",
            Loss::BinaryCrossEntropy => "binary_crossentropy",
            Loss::BinaryCrossEntropyWithLogits => "binary_crossentropy_logits",
            Loss::SparseCategoricalCrossEntropy => "sparse_categorical_crossentropy",
        }
    }

    /// Whether targets are class labels (one integer per row) rather than values per output.
    pub fn takes_labels(&self) -> bool {
        matches!(self, Loss::SparseCategoricalCrossEntropy)
    }

    /// How "accuracy" reads predictions made for this loss.
    pub fn accuracy_kind(&self) -> AccuracyKind {
        match self {
            Loss::SparseCategoricalCrossEntropy => AccuracyKind::Categorical,
            Loss::BinaryCrossEntropyWithLogits => AccuracyKind::Binary { threshold: 0.0 },
            Loss::MeanSquaredError | Loss::BinaryCrossEntropy => {
                AccuracyKind::Binary { threshold: 0.5 }
            }
        }
    }
}
