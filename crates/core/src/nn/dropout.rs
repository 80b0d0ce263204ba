//! `Dropout` (PyTorch's): zeroes elements at random in training mode, the identity in
//! evaluation mode.

use super::{Layer, LayerSpec};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// PyTorch's `nn.Dropout(p)`: in training mode each element is zeroed with probability `p`
/// and the rest are scaled by `1 / (1 − p)` (inverted dropout); in evaluation mode the
/// input passes through. Each forward call draws a fresh mask: the layer keeps a Philox
/// stream keyed by its build seed and advances its counter once per call, so a run is
/// reproducible from the model's seed and the same on the CPU and the GPU. `p` outside
/// `[0, 1]` (or NaN) is refused when the layer is built.
#[derive(Clone, Debug, PartialEq)]
pub struct Dropout {
    /// The probability of zeroing an element (PyTorch's default is 0.5).
    pub p: f32,
}

impl Dropout {
    /// Dropout with probability `p`.
    pub fn new(p: f32) -> Self {
        Dropout { p }
    }
}

impl LayerSpec for Dropout {
    fn in_features(&self) -> Option<usize> {
        None
    }
    fn out_features(&self) -> Option<usize> {
        None
    }
    fn output_features(&self, input: Option<usize>) -> Option<usize> {
        input
    }
    fn build(&self, _device: &Device, seed: u64) -> Result<Box<dyn Layer>> {
        if !(0.0..=1.0).contains(&self.p) {
            return Err(Error::Config(format!(
                "Dropout: the probability p = {} has to be between 0 and 1",
                self.p
            )));
        }
        Ok(Box::new(DropoutLayer {
            p: self.p,
            seed,
            calls: AtomicU64::new(0),
            training: AtomicBool::new(true),
        }))
    }
}

/// A built dropout layer and its random stream.
struct DropoutLayer {
    p: f32,
    seed: u64,
    /// The Philox counter offset of the next call.
    calls: AtomicU64,
    training: AtomicBool,
}

impl Layer for DropoutLayer {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if !self.training.load(Ordering::Relaxed) || self.p == 0.0 {
            return Ok(x.clone());
        }
        let offset = self.calls.fetch_add(1, Ordering::Relaxed);
        x.dropout(self.p, self.seed, offset)
    }

    fn parameters(&self) -> Vec<Tensor> {
        Vec::new()
    }

    fn set_training(&self, training: bool) {
        self.training.store(training, Ordering::Relaxed);
    }

    fn describe(&self) -> String {
        format!("Dropout(p={})", self.p)
    }
}
