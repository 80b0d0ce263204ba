//! `Reshape`: Keras' `Reshape(target_shape)`, the per-sample shape changed and the batch
//! axis kept; how a model trained on `[rows, features]` data reaches a convolution
//! (`Reshape::new([1, 8, 8])` turns 64 pixels into one 8×8 channel).

use super::{Layer, LayerSpec};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Reshapes each sample to `target` (the batch axis, the first, is kept).
#[derive(Clone, Debug)]
pub struct Reshape {
    /// The shape of one sample after the layer, e.g. `[1, 8, 8]`.
    pub target: Vec<usize>,
}

impl Reshape {
    /// A layer giving each sample the shape `target`.
    pub fn new(target: impl Into<Vec<usize>>) -> Self {
        Reshape {
            target: target.into(),
        }
    }
    fn per_sample(&self) -> Option<usize> {
        self.target
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
    }
}

impl LayerSpec for Reshape {
    fn in_features(&self) -> Option<usize> {
        self.per_sample()
    }
    fn out_features(&self) -> Option<usize> {
        // A flat target keeps the feature count checks of the next layer; a shaped one
        // feeds layers that check their own input.
        (self.target.len() == 1).then(|| self.target[0])
    }
    fn build(&self, _device: &Device, _seed: u64) -> Result<Box<dyn Layer>> {
        match self.per_sample() {
            Some(n) if n > 0 => Ok(Box::new(ReshapeLayer(self.clone()))),
            _ => Err(Error::Config(format!(
                "Reshape({:?}): every size must be at least 1 and their product fit in usize",
                self.target
            ))),
        }
    }
}

struct ReshapeLayer(Reshape);

impl Layer for ReshapeLayer {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let rows = x.dims().first().copied().unwrap_or(1);
        let mut shape = vec![rows];
        shape.extend(&self.0.target);
        x.reshape(shape).map_err(|e| e.context("Reshape"))
    }
    fn parameters(&self) -> Vec<Tensor> {
        Vec::new()
    }
    fn describe(&self) -> String {
        format!("Reshape({:?})", self.0.target)
    }
}
