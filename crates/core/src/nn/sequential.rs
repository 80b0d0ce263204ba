//! `Sequential`: layers applied one after the other, built lazily like Keras models.

use super::{Activation, Dense, Layer, LayerSpec};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// The seed layers are initialised from unless `.seed()` says otherwise.
pub const DEFAULT_SEED: u64 = 42;

/// A stack of layers. Layers are described first and built (parameters allocated and
/// initialised) on first use, so a mistake like mismatched layer sizes is an error from
/// `forward`, `parameters` or `fit`, never a panic in the builder.
///
/// ```text
/// let mut model = Sequential::new(&device)
///     .dense(2, 8, Activation::Tanh)
///     .dense(8, 1, Activation::Linear);
/// let history = model.fit(&data, Loss::MeanSquaredError, Adam::new(0.01), FitConfig::default())?;
/// ```
///
/// Runnable examples (regression, classification, `predict`, `evaluate`) are in the
/// `downhill` crate's `guide::models`, where a backend is at hand.
pub struct Sequential {
    device: Device,
    seed: u64,
    specs: Vec<Box<dyn LayerSpec>>,
    built: OnceLock<Vec<Box<dyn Layer>>>,
    /// Training or evaluation mode (see [`Layer::set_training`]); training at first, as a
    /// new PyTorch module.
    training: AtomicBool,
    /// Epochs `fit` has run on this model: the next `fit` numbers its epochs and
    /// continues its shuffle from here, as a Keras model does.
    pub(crate) epochs_trained: usize,
    /// The optimizer the last `fit` built, kept so that a `fit` with the same optimizer
    /// configuration continues its state (Keras keeps the compiled optimizer).
    /// Kept with the configuration it was built from (as given to `fit`: a schedule may
    /// have changed its learning rate since).
    pub(crate) fit_optimizer: Option<(String, crate::optim::Optimizer)>,
    /// The schedule the last `fit` stepped, to continue it (see `train::fit`).
    pub(crate) fit_schedule: Option<crate::train::KeptSchedule>,
}

impl Sequential {
    /// An empty model whose layers will live on `device`; add layers with
    /// [`Sequential::dense`] or [`Sequential::layer`]. Nothing is allocated until first use.
    pub fn new(device: &Device) -> Self {
        Sequential {
            device: device.clone(),
            seed: DEFAULT_SEED,
            specs: Vec::new(),
            built: OnceLock::new(),
            training: AtomicBool::new(true),
            epochs_trained: 0,
            fit_optimizer: None,
            fit_schedule: None,
        }
    }

    /// The seed for weight initialisation (and the default for shuffling in `fit`).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self.reset();
        self
    }

    /// Appends `Dense(in -> out)` with an activation and Keras' default initialisers.
    pub fn dense(self, in_features: usize, out_features: usize, activation: Activation) -> Self {
        self.layer(Dense::new(in_features, out_features).activation(activation))
    }

    /// Appends any layer description.
    pub fn layer(mut self, spec: impl LayerSpec + 'static) -> Self {
        self.specs.push(Box::new(spec));
        self.reset();
        self
    }

    /// A model described anew: no parameters built, no training done.
    fn reset(&mut self) {
        self.built = OnceLock::new();
        self.epochs_trained = 0;
        self.fit_optimizer = None;
        self.fit_schedule = None;
    }

    /// Epochs `fit` has trained this model for (the next `fit` starts at this one + 1).
    pub fn epochs_trained(&self) -> usize {
        self.epochs_trained
    }

    /// The device the model's parameters live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The seed the layers are initialised from (42 unless [`Sequential::seed`] set one).
    pub fn init_seed(&self) -> u64 {
        self.seed
    }

    /// Builds the layers if they are not built yet.
    pub fn layers(&self) -> Result<&[Box<dyn Layer>]> {
        if let Some(layers) = self.built.get() {
            return Ok(layers);
        }
        let layers = self.build_layers()?;
        let training = self.is_training();
        for layer in &layers {
            layer.set_training(training);
        }
        Ok(self.built.get_or_init(|| layers))
    }

    fn build_layers(&self) -> Result<Vec<Box<dyn Layer>>> {
        if self.specs.is_empty() {
            return Err(Error::Config("the model has no layers".into()));
        }
        // Sizes followed through the layers that keep them (activations, norms).
        let mut features = self.specs[0].in_features();
        for (i, spec) in self.specs.iter().enumerate() {
            if let (Some(out), Some(inp), true) = (features, spec.in_features(), i > 0) {
                if out != inp {
                    return Err(Error::shape(
                        "Sequential",
                        format!(
                            "layer {} outputs {out} features but layer {i} expects {inp}",
                            i - 1
                        ),
                    ));
                }
            }
            features = spec.output_features(features);
        }
        self.specs
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                // A different, reproducible seed per layer.
                let seed = self
                    .seed
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    .wrapping_add(i as u64);
                spec.build(&self.device, seed)
            })
            .collect()
    }

    /// Puts every layer in training mode (PyTorch's `model.train()`): dropout drops, batch
    /// norm uses and updates batch statistics. `fit` trains in this mode.
    pub fn train(&self) {
        self.set_training(true);
    }

    /// Puts every layer in evaluation mode (PyTorch's `model.eval()`): dropout passes its
    /// input through, batch norm uses its running statistics. `evaluate`, `predict` and
    /// `fit`'s validation run in this mode.
    pub fn eval(&self) {
        self.set_training(false);
    }

    /// Whether the model is in training mode (the mode of a new model).
    pub fn is_training(&self) -> bool {
        self.training.load(Ordering::Relaxed)
    }

    /// Sets the mode of the model and of every built layer; returns the previous mode.
    pub fn set_training(&self, training: bool) -> bool {
        let previous = self.training.swap(training, Ordering::Relaxed);
        if let Some(layers) = self.built.get() {
            for layer in layers {
                layer.set_training(training);
            }
        }
        previous
    }

    /// Every layer's buffers (state saved with the model but not trained, such as batch
    /// norm's running statistics), named `<layer index>.<buffer name>`.
    pub fn buffers(&self) -> Result<Vec<(String, Tensor)>> {
        Ok(self
            .layers()?
            .iter()
            .enumerate()
            .flat_map(|(i, layer)| {
                layer
                    .buffers()
                    .into_iter()
                    .map(move |(name, t)| (format!("{i}.{name}"), t))
            })
            .collect())
    }

    /// The forward pass over a batch `[rows, features]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for layer in self.layers()? {
            h = layer.forward(&h)?;
        }
        Ok(h)
    }

    /// The forward pass, handing `observe` each layer's output as it is made (with the
    /// layer's index): what `fit`'s telemetry watches.
    pub(crate) fn forward_observed(
        &self,
        x: &Tensor,
        mut observe: impl FnMut(usize, &Tensor) -> Result<()>,
    ) -> Result<Tensor> {
        let mut h = x.clone();
        for (i, layer) in self.layers()?.iter().enumerate() {
            h = layer.forward(&h)?;
            observe(i, &h)?;
        }
        Ok(h)
    }

    /// The activation each layer ends with, if it has one, in layer order.
    pub(crate) fn layer_activations(&self) -> Vec<Option<Activation>> {
        self.specs.iter().map(|s| s.output_activation()).collect()
    }

    /// Every trainable tensor, layer by layer.
    pub fn parameters(&self) -> Result<Vec<Tensor>> {
        Ok(self.layers()?.iter().flat_map(|l| l.parameters()).collect())
    }

    /// A copy of every parameter's values, layer by layer (Keras' `get_weights`).
    pub fn get_weights(&self) -> Result<Vec<Vec<f32>>> {
        self.parameters()?.iter().map(Tensor::to_vec).collect()
    }

    /// Overwrites every parameter with `weights`, in [`Sequential::get_weights`]'s order
    /// (Keras' `set_weights`). Every count and length is checked before anything is
    /// written, so a mismatch leaves the model as it was.
    pub fn set_weights(&self, weights: &[Vec<f32>]) -> Result<()> {
        let params = self.parameters()?;
        if weights.len() != params.len() {
            return Err(Error::shape(
                "set_weights",
                format!(
                    "the model has {} parameter tensors, {} were given",
                    params.len(),
                    weights.len()
                ),
            ));
        }
        for (i, (p, w)) in params.iter().zip(weights).enumerate() {
            if p.numel() != w.len() {
                return Err(Error::shape(
                    "set_weights",
                    format!(
                        "parameter {i} has shape {} ({} values), {} were given",
                        p.shape(),
                        p.numel(),
                        w.len()
                    ),
                ));
            }
        }
        for (p, w) in params.iter().zip(weights) {
            p.assign(w)?;
        }
        Ok(())
    }

    /// Number of trainable scalars.
    pub fn num_parameters(&self) -> Result<usize> {
        Ok(self.parameters()?.iter().map(Tensor::numel).sum())
    }

    /// Number of input features the first layer expects, if known.
    pub fn in_features(&self) -> Option<usize> {
        self.specs.first().and_then(|s| s.in_features())
    }

    /// The activation the last layer ends with, if known.
    pub fn output_activation(&self) -> Option<Activation> {
        self.specs.last().and_then(|s| s.output_activation())
    }

    /// Number of outputs the last layer produces, if known (followed through the layers
    /// that keep the size, e.g. a final `Softmax` layer).
    pub fn out_features(&self) -> Option<usize> {
        self.specs
            .iter()
            .fold(self.in_features(), |features, spec| {
                spec.output_features(features)
            })
    }

    /// A Keras-like summary: one line per layer and the parameter count.
    pub fn summary(&self) -> Result<String> {
        let layers = self.layers()?;
        let width = layers
            .iter()
            .map(|l| l.describe().chars().count())
            .max()
            .unwrap_or(0)
            .max(36);
        let mut out = String::new();
        for (i, layer) in layers.iter().enumerate() {
            let n: usize = layer.parameters().iter().map(Tensor::numel).sum();
            out += &format!("{i:>3}  {:<width$} {n:>10} params\n", layer.describe());
        }
        out += &format!(
            "total {} trainable parameters on {}",
            self.num_parameters()?,
            self.device.name()
        );
        Ok(out)
    }
}
