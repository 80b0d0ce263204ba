//! `Dense` (Keras' name) / `Linear` (PyTorch's): `y = act(x · W + b)`.

use super::{Activation, Init, Layer, LayerSpec};
use crate::backend::UnaryOp;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::Tensor;

/// A fully connected layer: `W` is `[in, out]`, `b` is `[out]`.
///
/// Weights default to Glorot-uniform (Keras), biases to zero.
#[derive(Clone, Debug)]
pub struct Dense {
    /// Input features: the columns of the `[rows, in_features]` batches the layer takes.
    pub in_features: usize,
    /// Output features (units, in Keras' terms).
    pub out_features: usize,
    /// Applied after the affine map; [`Activation::Linear`] (none) by default.
    pub activation: Activation,
    /// How `W` is initialised; [`Init::GlorotUniform`] by default (Keras' `kernel_initializer`).
    pub kernel_init: Init,
    /// How `b` is initialised; [`Init::Zeros`] by default (Keras' `bias_initializer`).
    pub bias_init: Init,
    /// Whether the layer has a bias `b` (`true` by default; PyTorch's `bias=`).
    pub use_bias: bool,
}

/// PyTorch's name for the same layer.
pub type Linear = Dense;

impl Dense {
    /// `Dense(in_features -> out_features)` with no activation, Glorot-uniform weights and a
    /// zero bias (`nn.Linear(in_features, out_features)`, or Keras' `Dense(out_features)`).
    /// Sizes of 0 are refused with [`crate::Error::Config`] when the model is built.
    pub fn new(in_features: usize, out_features: usize) -> Self {
        Dense {
            in_features,
            out_features,
            activation: Activation::Linear,
            kernel_init: Init::GlorotUniform,
            bias_init: Init::Zeros,
            use_bias: true,
        }
    }
    /// Sets the activation that ends the layer (Keras' `activation=`).
    pub fn activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }
    /// Sets the weight initialiser.
    pub fn kernel_init(mut self, init: Init) -> Self {
        self.kernel_init = init;
        self
    }
    /// Sets the bias initialiser.
    pub fn bias_init(mut self, init: Init) -> Self {
        self.bias_init = init;
        self
    }
    /// With `false`, the layer has no bias: `y = act(x · W)`.
    pub fn use_bias(mut self, use_bias: bool) -> Self {
        self.use_bias = use_bias;
        self
    }
}

impl LayerSpec for Dense {
    fn in_features(&self) -> Option<usize> {
        Some(self.in_features)
    }
    fn out_features(&self) -> Option<usize> {
        Some(self.out_features)
    }
    fn output_activation(&self) -> Option<Activation> {
        Some(self.activation)
    }
    fn build(&self, device: &Device, seed: u64) -> Result<Box<dyn Layer>> {
        if self.in_features == 0 || self.out_features == 0 {
            return Err(Error::Config(format!(
                "Dense({} -> {}): layer sizes must be at least 1",
                self.in_features, self.out_features
            )));
        }
        let (i, o) = (self.in_features, self.out_features);
        let name = format!("Dense({i} -> {o})");
        self.kernel_init.validate(&format!("{name} kernel_init"))?;
        self.bias_init.validate(&format!("{name} bias_init"))?;
        self.activation.validate(&name)?;
        // Sized against the device before a single host value is drawn.
        device.check_new(&format!("{name} weight"), &Shape::new([i, o]))?;
        let weight = device
            .tensor(self.kernel_init.sample(i, o, seed)?, [i, o])?
            .param();
        let bias = if self.use_bias {
            let values = self.bias_init.sample(1, o, seed ^ 0xB1A5)?;
            Some(device.tensor(values, [o])?.param())
        } else {
            None
        };
        Ok(Box::new(DenseLayer {
            spec: self.clone(),
            weight,
            bias,
        }))
    }
}

/// A built `Dense` layer holding its parameters.
struct DenseLayer {
    spec: Dense,
    /// `[in, out]`
    weight: Tensor,
    /// `[out]`
    bias: Option<Tensor>,
}

impl Layer for DenseLayer {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (_, features) = x.shape().as_matrix("Dense")?;
        if features != self.spec.in_features {
            return Err(Error::shape(
                "Dense",
                format!(
                    "input {} has {features} features, the layer expects {}",
                    x.shape(),
                    self.spec.in_features
                ),
            ));
        }
        // Affine map and (where it can) the activation in one fused op.
        let fused = self.spec.activation.as_unary().filter(UnaryOp::fusable);
        let y = x.linear(&self.weight, self.bias.as_ref(), fused)?;
        if fused.is_some() {
            Ok(y)
        } else {
            self.spec.activation.apply(&y)
        }
    }

    fn parameters(&self) -> Vec<Tensor> {
        std::iter::once(self.weight.clone())
            .chain(self.bias.clone())
            .collect()
    }

    fn parameter_names(&self) -> Vec<String> {
        std::iter::once("dense.weight".to_string())
            .chain(self.bias.as_ref().map(|_| "dense.bias".to_string()))
            .collect()
    }

    fn describe(&self) -> String {
        format!(
            "Dense({} -> {}, {})",
            self.spec.in_features,
            self.spec.out_features,
            self.spec.activation.name()
        )
    }
}
