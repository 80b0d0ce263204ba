//! Activation functions a layer can end with.

use crate::backend::UnaryOp;
use crate::error::Result;
use crate::tensor::Tensor;

/// The activation applied after a layer's affine map.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// No activation (identity): logits or regression outputs.
    Linear,
    /// `max(x, 0)`.
    Relu,
    /// Keras' LeakyReLU slope (PyTorch defaults to 0.01).
    LeakyRelu(f32),
    /// The logistic function `1 / (1 + e^-x)`: probabilities for binary outputs.
    Sigmoid,
    /// The hyperbolic tangent.
    Tanh,
    /// Exact GELU, `x·Φ(x)` with the normal CDF (PyTorch's and Keras' default form).
    Gelu,
    /// Softmax along each row: class probabilities.
    Softmax,
    /// Log-softmax along each row: log-probabilities.
    LogSoftmax,
}

impl Activation {
    /// Fails on a parameter that is not a finite number (a NaN slope would make every
    /// output NaN from the first step).
    pub fn validate(&self, what: &str) -> Result<()> {
        match *self {
            Activation::LeakyRelu(a) if !a.is_finite() => Err(crate::error::Error::NonFinite(
                format!("{what}: LeakyRelu({a}) needs a finite slope"),
            )),
            _ => Ok(()),
        }
    }

    /// Applies the activation to `x` (softmax ones along its last axis).
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        match *self {
            Activation::Linear => Ok(x.clone()),
            Activation::Relu => x.relu(),
            Activation::LeakyRelu(a) => x.leaky_relu(a),
            Activation::Sigmoid => x.sigmoid(),
            Activation::Tanh => x.tanh(),
            Activation::Gelu => x.gelu(),
            Activation::Softmax => x.softmax(),
            Activation::LogSoftmax => x.log_softmax(),
        }
    }

    /// The elementwise op behind this activation (softmax ones work on rows: none).
    pub fn as_unary(&self) -> Option<UnaryOp> {
        match *self {
            Activation::Relu => Some(UnaryOp::Relu),
            Activation::LeakyRelu(a) => Some(UnaryOp::LeakyRelu(a)),
            Activation::Sigmoid => Some(UnaryOp::Sigmoid),
            Activation::Tanh => Some(UnaryOp::Tanh),
            Activation::Gelu => Some(UnaryOp::Gelu),
            Activation::Linear | Activation::Softmax | Activation::LogSoftmax => None,
        }
    }

    /// The lower-case name used in summaries, e.g. `leaky_relu`.
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Relu => "relu",
            Activation::LeakyRelu(_) => "leaky_relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Gelu => "gelu",
            Activation::Softmax => "softmax",
            Activation::LogSoftmax => "log_softmax",
        }
    }
}
