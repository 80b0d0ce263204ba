//! `LayerNorm` (PyTorch's name and defaults): normalisation over the trailing axes of each
//! sample, the same in training and evaluation mode.

use super::{Layer, LayerSpec};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// PyTorch's `nn.LayerNorm(normalized_shape)`: each slice over the last
/// `normalized_shape.len()` axes (which must equal `normalized_shape`) becomes
/// `(x − mean) / sqrt(var + eps)·γ + β` with its biased variance. Defaults: `eps` 1e-5,
/// `elementwise_affine` (γ = 1, β = 0 of shape `normalized_shape`, trainable), `bias`.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerNorm {
    /// The trailing shape normalised over.
    pub normalized_shape: Vec<usize>,
    /// Added to the variance (default 1e-5).
    pub eps: f32,
    /// Whether the layer has a trainable `γ` (and `β`, see `bias`); default `true`.
    pub elementwise_affine: bool,
    /// Whether the affine map has a trainable `β` (default `true`).
    pub bias: bool,
}

impl LayerNorm {
    /// A layer norm over `normalized_shape` with PyTorch's defaults.
    pub fn new(normalized_shape: &[usize]) -> Self {
        LayerNorm {
            normalized_shape: normalized_shape.to_vec(),
            eps: 1e-5,
            elementwise_affine: true,
            bias: true,
        }
    }
    /// Sets the value added to the variance.
    pub fn eps(mut self, eps: f32) -> Self {
        self.eps = eps;
        self
    }
    /// With `false`, no `γ` and no `β`.
    pub fn elementwise_affine(mut self, affine: bool) -> Self {
        self.elementwise_affine = affine;
        self
    }
    /// With `false`, a trainable `γ` but no `β`.
    pub fn bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }
}

impl LayerSpec for LayerNorm {
    fn in_features(&self) -> Option<usize> {
        match self.normalized_shape[..] {
            [n] => Some(n),
            _ => None,
        }
    }
    fn out_features(&self) -> Option<usize> {
        self.in_features()
    }
    fn build(&self, device: &Device, _seed: u64) -> Result<Box<dyn Layer>> {
        if self.normalized_shape.contains(&0) {
            return Err(Error::Config(format!(
                "LayerNorm({:?}): sizes must be at least 1",
                self.normalized_shape
            )));
        }
        if !(self.eps >= 0.0 && self.eps.is_finite()) {
            return Err(Error::Config(format!(
                "LayerNorm: eps = {} must be a finite number >= 0",
                self.eps
            )));
        }
        let shape = self.normalized_shape.clone();
        let weight = self
            .elementwise_affine
            .then(|| Tensor::full(device, shape.clone(), 1.0).map(|t| t.param()))
            .transpose()?;
        let bias = (self.elementwise_affine && self.bias)
            .then(|| Tensor::full(device, shape.clone(), 0.0).map(|t| t.param()))
            .transpose()?;
        Ok(Box::new(LayerNormLayer {
            spec: self.clone(),
            weight,
            bias,
        }))
    }
}

/// A built layer norm.
struct LayerNormLayer {
    spec: LayerNorm,
    /// `normalized_shape`
    weight: Option<Tensor>,
    /// `normalized_shape`
    bias: Option<Tensor>,
}

impl Layer for LayerNormLayer {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.layer_norm(
            &self.spec.normalized_shape,
            self.weight.as_ref(),
            self.bias.as_ref(),
            self.spec.eps,
        )
    }

    fn parameters(&self) -> Vec<Tensor> {
        self.weight.iter().chain(&self.bias).cloned().collect()
    }

    fn parameter_names(&self) -> Vec<String> {
        let weight = self
            .weight
            .as_ref()
            .map(|_| "layer_norm.weight".to_string());
        let bias = self.bias.as_ref().map(|_| "layer_norm.bias".to_string());
        weight.into_iter().chain(bias).collect()
    }

    fn describe(&self) -> String {
        format!(
            "LayerNorm({:?}, eps={}, elementwise_affine={})",
            self.spec.normalized_shape, self.spec.eps, self.spec.elementwise_affine
        )
    }
}
