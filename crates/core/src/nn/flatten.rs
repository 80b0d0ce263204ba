//! `Flatten`: merges axes into one (`torch.nn.Flatten`).

use super::{Layer, LayerSpec};
use crate::device::Device;
use crate::error::Result;
use crate::tensor::Tensor;

/// Merges axes `start_dim..=end_dim` of its input into one, without copying: by default
/// every axis after the batch axis (`nn.Flatten()`: `start_dim=1, end_dim=-1`), so
/// `[N, C, H, W]` becomes `[N, C·H·W]`. No parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flatten {
    /// The first axis merged (1 by default).
    pub start_dim: usize,
    /// The last axis merged; `None` (the default) is the input's last axis, PyTorch's -1.
    pub end_dim: Option<usize>,
}

impl Default for Flatten {
    fn default() -> Self {
        Flatten::new()
    }
}

impl Flatten {
    /// `nn.Flatten()`: axes 1 to the last.
    pub fn new() -> Self {
        Flatten {
            start_dim: 1,
            end_dim: None,
        }
    }

    /// `nn.Flatten(start_dim, end_dim)` with an explicit (inclusive) last axis.
    pub fn dims(start_dim: usize, end_dim: usize) -> Self {
        Flatten {
            start_dim,
            end_dim: Some(end_dim),
        }
    }
}

impl LayerSpec for Flatten {
    /// None: any input size.
    fn in_features(&self) -> Option<usize> {
        None
    }
    /// None: the merged size depends on the input.
    fn out_features(&self) -> Option<usize> {
        None
    }
    fn build(&self, _device: &Device, _seed: u64) -> Result<Box<dyn Layer>> {
        Ok(Box::new(*self))
    }
}

impl Layer for Flatten {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let end = self.end_dim.unwrap_or(x.rank().saturating_sub(1));
        x.flatten(self.start_dim, end)
    }

    fn parameters(&self) -> Vec<Tensor> {
        Vec::new()
    }

    fn describe(&self) -> String {
        match self.end_dim {
            Some(end) => format!("Flatten({}, {end})", self.start_dim),
            None => format!("Flatten({}, -1)", self.start_dim),
        }
    }
}
