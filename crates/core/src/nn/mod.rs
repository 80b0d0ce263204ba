//! Layers: `Dense`, convolutions and pools, normalisation, dropout, embeddings,
//! activations as layers, `Reshape`, the `Sequential` container and the functional `Graph`
//! (with `Residual` and `Chain` built on it), plus initialisers.

mod activation;
mod activation_layers;
mod batch_norm;
mod conv;
mod dense;
mod dropout;
mod embedding;
mod flatten;
mod graph;
mod init;
mod layer_norm;
mod pool;
mod reshape;
mod residual;
mod sequential;

pub use activation::Activation;
pub use activation_layers::{
    AsActivation, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh, GELU,
};
pub use batch_norm::{BatchNorm1d, BatchNorm2d};
pub use conv::{Conv1d, Conv2d, Padding, Padding1d, Size2};
pub use dense::{Dense, Linear};
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use flatten::Flatten;
pub use graph::{Graph, Node};
pub use init::Init;
pub use layer_norm::LayerNorm;
pub use pool::{AvgPool2d, GlobalAvgPool2d, MaxPool2d};
pub use reshape::Reshape;
pub use residual::{Chain, Residual};
pub use sequential::Sequential;

use crate::device::Device;
use crate::error::Result;
use crate::tensor::Tensor;

/// A building block of a model: parameters, buffers, a train/eval mode and a forward pass.
///
/// Layers are shared (`&self`) by the model that holds them, so state that changes while a
/// model runs (the mode, a dropout layer's random stream, batch norm's running statistics)
/// lives behind interior mutability: atomics, or buffers updated in place on the device
/// with [`Tensor::copy_from`].
pub trait Layer: Send + Sync {
    /// Applies the layer to a batch: `[rows, features]` for dense layers, `[N, C, H, W]`
    /// (PyTorch's NCHW) for 2-D convolutions and pools, `[N, C, L]` for 1-D ones.
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
    /// State that is saved with the model but not trained, with a name each (batch norm's
    /// `running_mean`, `running_var`, `num_batches_tracked`, as PyTorch's `buffers()`).
    /// None by default.
    fn buffers(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
    /// Training (`true`: dropout drops, batch norm normalises with the batch's statistics
    /// and updates its running ones) or evaluation (`false`). PyTorch's `module.train()` /
    /// `module.eval()`; `fit` trains, `evaluate` and `predict` evaluate. Layers that behave
    /// the same in both modes ignore it (the default).
    fn set_training(&self, _training: bool) {}
    /// A one-line summary, e.g. `Dense(20 -> 64, relu)`.
    fn describe(&self) -> String;
}

/// A layer before its parameters exist: built on a device with a seed.
pub trait LayerSpec: Send + Sync {
    /// Input features the layer expects, if fixed.
    fn in_features(&self) -> Option<usize>;
    /// Output features the layer produces, if fixed.
    fn out_features(&self) -> Option<usize>;
    /// The features the layer outputs when its input has `input` features (if known):
    /// [`LayerSpec::out_features`] by default; layers that keep the size (activations,
    /// normalisation, dropout) return `input`, so models check sizes across them.
    fn output_features(&self, input: Option<usize>) -> Option<usize> {
        let _ = input;
        self.out_features()
    }
    /// The activation the layer ends with, if it has one (`fit` refuses a loss that would
    /// apply it a second time).
    fn output_activation(&self) -> Option<Activation> {
        None
    }
    /// Allocates and initialises the layer's parameters on `device`, drawing them from `seed`;
    /// a spec that cannot be built (a size of 0, a non-finite initialiser) is an error.
    fn build(&self, device: &Device, seed: u64) -> Result<Box<dyn Layer>>;
}
