//! Layers: `Dense` and the `Sequential` container, plus activations and initialisers.

mod activation;
mod dense;
mod init;
mod sequential;

pub use activation::Activation;
pub use dense::{Dense, Linear};
pub use init::Init;
pub use sequential::Sequential;

use crate::device::Device;
use crate::error::Result;
use crate::tensor::Tensor;

/// A building block of a model: parameters and a forward pass.
pub trait Layer: Send + Sync {
    /// Applies the layer to a batch `[rows, features]`.
    fn forward(&self, x: &Tensor) -> Result<Tensor>;
    /// The trainable tensors, in a stable order.
    fn parameters(&self) -> Vec<Tensor>;
    /// A name for each of [`Layer::parameters`], in the same order (e.g. `dense.weight`),
    /// used in messages; prefixed with the layer's index in a model (`0.dense.weight`).
    fn parameter_names(&self) -> Vec<String> {
        (0..self.parameters().len())
            .map(|i| format!("param{i}"))
            .collect()
    }
    /// A one-line summary, e.g. `Dense(20 -> 64, relu)`.
    fn describe(&self) -> String;
}

/// A layer before its parameters exist: built on a device with a seed.
pub trait LayerSpec: Send + Sync {
    /// Input features the layer expects, if fixed.
    fn in_features(&self) -> Option<usize>;
    /// Output features the layer produces, if fixed.
    fn out_features(&self) -> Option<usize>;
    /// The activation the layer ends with, if it has one (`fit` refuses a loss that would
    /// apply it a second time).
    fn output_activation(&self) -> Option<Activation> {
        None
    }
    /// Allocates and initialises the layer's parameters on `device`, drawing them from `seed`;
    /// a spec that cannot be built (a size of 0, a non-finite initialiser) is an error.
    fn build(&self, device: &Device, seed: u64) -> Result<Box<dyn Layer>>;
}
