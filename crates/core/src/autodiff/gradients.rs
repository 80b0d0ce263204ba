//! `Gradients`: what `backward()` returns, one gradient per trainable leaf.

use crate::backend::Storage;
use crate::error::Result;
use crate::tensor::{Tensor, TensorId};
use std::collections::HashMap;

/// The gradient of a loss with respect to each trainable leaf, keyed by the leaf.
#[derive(Default, Clone)]
pub struct Gradients {
    by_leaf: HashMap<TensorId, Tensor>,
}

impl Gradients {
    pub(crate) fn insert(&mut self, leaf: &Tensor, grad: Storage) {
        let grad = Tensor::leaf(leaf.device(), leaf.shape().clone(), grad, false);
        self.by_leaf.insert(leaf.id(), grad);
    }

    /// The gradient with respect to `leaf`, if the loss depends on it.
    pub fn get(&self, leaf: &Tensor) -> Option<&Tensor> {
        self.by_leaf.get(&leaf.id())
    }

    /// The gradient with respect to `leaf` copied to the host.
    pub fn to_vec(&self, leaf: &Tensor) -> Result<Option<Vec<f32>>> {
        self.get(leaf).map(Tensor::to_vec).transpose()
    }

    /// The device of a gradient that does not live on `device`, if any.
    pub(crate) fn foreign_device(&self, device: &crate::device::Device) -> Option<String> {
        self.by_leaf
            .values()
            .find(|g| !g.device().same(device))
            .map(|g| g.device().name())
    }

    /// The number of leaves that have a gradient.
    pub fn len(&self) -> usize {
        self.by_leaf.len()
    }

    /// Whether no leaf has a gradient (the loss depends on no trainable tensor).
    pub fn is_empty(&self) -> bool {
        self.by_leaf.is_empty()
    }
}
