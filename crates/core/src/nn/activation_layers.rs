//! Activations as layers of their own (PyTorch's `nn.ReLU()`, Keras' `Activation("relu")`),
//! for models that put one after a layer without an activation (a convolution, a batch
//! norm): `.layer(ReLU)`, `.layer(Activation::Gelu)`.

use super::{Activation, Layer, LayerSpec};
use crate::device::Device;
use crate::error::Result;
use crate::tensor::Tensor;

/// A layer that applies one [`Activation`] elementwise (softmax ones along the last axis).
/// Built from the enum itself or from one of the PyTorch-named unit structs below.
struct ActivationLayer(Activation);

impl Layer for ActivationLayer {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.0.apply(x)
    }
    fn parameters(&self) -> Vec<Tensor> {
        Vec::new()
    }
    fn describe(&self) -> String {
        match self.0 {
            Activation::LeakyRelu(slope) => format!("LeakyReLU({slope})"),
            other => format!("Activation({})", other.name()),
        }
    }
}

/// What a PyTorch-named activation layer stands for.
pub trait AsActivation: Send + Sync {
    /// The activation the layer applies.
    fn activation(&self) -> Activation;
}

impl AsActivation for Activation {
    fn activation(&self) -> Activation {
        *self
    }
}

impl<T: AsActivation> LayerSpec for T {
    fn in_features(&self) -> Option<usize> {
        None
    }
    fn out_features(&self) -> Option<usize> {
        None
    }
    fn output_features(&self, input: Option<usize>) -> Option<usize> {
        input
    }
    fn output_activation(&self) -> Option<Activation> {
        Some(self.activation())
    }
    fn build(&self, _device: &Device, _seed: u64) -> Result<Box<dyn Layer>> {
        let activation = self.activation();
        activation.validate("activation layer")?;
        Ok(Box::new(ActivationLayer(activation)))
    }
}

/// `nn.ReLU()`: `max(x, 0)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReLU;
/// `nn.GELU()`: exact GELU.
#[derive(Clone, Copy, Debug, Default)]
pub struct GELU;
/// `nn.Sigmoid()`: the logistic function.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sigmoid;
/// `nn.Tanh()`: the hyperbolic tangent.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tanh;
/// `nn.Softmax(dim=-1)`: softmax along the last axis.
#[derive(Clone, Copy, Debug, Default)]
pub struct Softmax;
/// `nn.LogSoftmax(dim=-1)`: log-softmax along the last axis.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogSoftmax;
/// `nn.LeakyReLU(negative_slope)`; `LeakyReLU::default()` has PyTorch's slope 0.01.
#[derive(Clone, Copy, Debug)]
pub struct LeakyReLU(pub f32);

impl Default for LeakyReLU {
    fn default() -> Self {
        LeakyReLU(0.01)
    }
}

impl AsActivation for ReLU {
    fn activation(&self) -> Activation {
        Activation::Relu
    }
}
impl AsActivation for GELU {
    fn activation(&self) -> Activation {
        Activation::Gelu
    }
}
impl AsActivation for Sigmoid {
    fn activation(&self) -> Activation {
        Activation::Sigmoid
    }
}
impl AsActivation for Tanh {
    fn activation(&self) -> Activation {
        Activation::Tanh
    }
}
impl AsActivation for Softmax {
    fn activation(&self) -> Activation {
        Activation::Softmax
    }
}
impl AsActivation for LogSoftmax {
    fn activation(&self) -> Activation {
        Activation::LogSoftmax
    }
}
impl AsActivation for LeakyReLU {
    fn activation(&self) -> Activation {
        Activation::LeakyRelu(self.0)
    }
}
