//! The fused losses (mean over the batch): one backend call for the loss, and its
//! gradient computed in the same pass when backward will start from it.

use super::Tensor;
use crate::autodiff::{grad_enabled, Op};
use crate::backend::LossKind;
use crate::error::{Error, Result};
use crate::shape::Shape;

impl Tensor {
    pub(crate) fn loss_op(&self, kind: LossKind, target: &Tensor) -> Result<Tensor> {
        self.check_device("loss", target)?;
        if self.numel() == 0 {
            return Err(Error::EmptyData("loss: the prediction is empty".into()));
        }
        let (rows, cols) = match kind {
            LossKind::SoftmaxCrossEntropy => {
                let (rows, cols) = self.shape().as_matrix("cross_entropy")?;
                if target.numel() != rows {
                    return Err(Error::shape(
                        "cross_entropy",
                        format!(
                            "logits {} need {rows} integer labels, got a target of shape {}",
                            self.shape(),
                            target.shape()
                        ),
                    ));
                }
                (rows, cols)
            }
            _ => {
                if self.shape() != target.shape() {
                    return Err(Error::shape(
                        "loss",
                        format!(
                            "prediction {} and target {} differ",
                            self.shape(),
                            target.shape()
                        ),
                    ));
                }
                self.shape().rows_cols()
            }
        };
        // Targets are constants: no gradient flows into them.
        let target = target.detach();
        let backend = self.device().backend();
        let (pred, labels) = (self.storage(), target.storage());
        // A loss that will be differentiated gets its gradient in the same pass.
        let (out, dpred) = if grad_enabled() && self.requires_grad() {
            let (out, dpred) = backend.loss_with_gradient(kind, &pred, &labels, rows, cols)?;
            (out, Some(dpred))
        } else {
            (backend.loss(kind, &pred, &labels, rows, cols)?, None)
        };
        Ok(Tensor::from_op(
            self.device(),
            Shape::scalar(),
            out,
            Op::Loss {
                kind,
                rows,
                cols,
                dpred,
            },
            &[self, &target],
            false,
        ))
    }

    /// Mean squared error against a target of the same shape.
    pub fn mse(&self, target: &Tensor) -> Result<Tensor> {
        self.loss_op(LossKind::Mse, target)
    }
    /// Binary cross-entropy of probabilities (clamped to `[1e-7, 1 - 1e-7]` as Keras does).
    pub fn binary_cross_entropy(&self, target: &Tensor) -> Result<Tensor> {
        self.loss_op(LossKind::BceProbs { eps: 1e-7 }, target)
    }
    /// Binary cross-entropy of logits, computed stably.
    pub fn binary_cross_entropy_with_logits(&self, target: &Tensor) -> Result<Tensor> {
        self.loss_op(LossKind::BceLogits, target)
    }
    /// Softmax cross-entropy of logits `[rows, classes]` against `rows` integer labels.
    pub fn cross_entropy(&self, labels: &Tensor) -> Result<Tensor> {
        self.loss_op(LossKind::SoftmaxCrossEntropy, labels)
    }
}
