//! `Residual` (`x + f(x)`) and `Chain` (layers in a row as one layer), both built on
//! [`Graph`].

use super::{Graph, Layer, LayerSpec};
use crate::device::Device;
use crate::error::{Error, Result};
use std::sync::Arc;

/// `x + f(x)`: a residual block around any layer or [`Chain`] (He et al. 2016), with an
/// optional projection on the shortcut (`x·W + f(x)`) where `f` changes the size.
pub struct Residual {
    graph: Graph,
}

impl Residual {
    /// `x + block(x)`; `block` must keep its input's shape.
    pub fn new(block: impl LayerSpec + 'static) -> Self {
        Residual::build(block, None::<Chain>)
    }

    /// `shortcut(x) + block(x)`, e.g. a `Dense` or 1×1 convolution projection.
    pub fn with_shortcut(
        block: impl LayerSpec + 'static,
        shortcut: impl LayerSpec + 'static,
    ) -> Self {
        Residual::build(block, Some(shortcut))
    }

    fn build(block: impl LayerSpec + 'static, shortcut: Option<impl LayerSpec + 'static>) -> Self {
        let mut g = Graph::new();
        let x = match block.in_features() {
            Some(n) => g.input(n),
            None => g.any_input(),
        };
        let fx = g.apply(block, x);
        let skip = match shortcut {
            Some(s) => g.apply(s, x),
            None => x,
        };
        let y = g.add(&[skip, fx]);
        Residual {
            graph: g.output(y).with_label("Residual"),
        }
    }
}

impl LayerSpec for Residual {
    fn in_features(&self) -> Option<usize> {
        self.graph.in_features()
    }
    fn out_features(&self) -> Option<usize> {
        self.graph.out_features()
    }
    fn output_features(&self, input: Option<usize>) -> Option<usize> {
        self.graph.output_features(input)
    }
    fn build(&self, device: &Device, seed: u64) -> Result<Box<dyn Layer>> {
        self.graph.build(device, seed)
    }
}

/// Layers one after the other as a single layer (PyTorch's `nn.Sequential` inside a
/// module): the body of a [`Residual`] block.
pub struct Chain {
    specs: Vec<Arc<dyn LayerSpec>>,
}

impl Default for Chain {
    fn default() -> Self {
        Chain::new()
    }
}

impl Chain {
    /// An empty chain.
    pub fn new() -> Self {
        Chain { specs: Vec::new() }
    }

    /// Appends a layer.
    pub fn layer(mut self, spec: impl LayerSpec + 'static) -> Self {
        self.specs.push(Arc::new(spec));
        self
    }

    /// Appends `Dense(in -> out)` with an activation.
    pub fn dense(self, in_features: usize, out_features: usize, act: super::Activation) -> Self {
        self.layer(super::Dense::new(in_features, out_features).activation(act))
    }

    /// The chain as a graph (the specs shared, not copied).
    fn graph(&self) -> Graph {
        let mut g = Graph::new().with_label("Chain");
        let mut h = match self.specs.first().and_then(|s| s.in_features()) {
            Some(n) => g.input(n),
            None => g.any_input(),
        };
        for spec in &self.specs {
            h = g.apply_shared(Arc::clone(spec), h);
        }
        g.output(h)
    }
}

impl LayerSpec for Chain {
    fn in_features(&self) -> Option<usize> {
        self.specs.first()?.in_features()
    }
    fn out_features(&self) -> Option<usize> {
        self.graph().out_features()
    }
    fn output_features(&self, input: Option<usize>) -> Option<usize> {
        self.graph().output_features(input)
    }
    fn output_activation(&self) -> Option<super::Activation> {
        self.specs.last()?.output_activation()
    }
    fn build(&self, device: &Device, seed: u64) -> Result<Box<dyn Layer>> {
        if self.specs.is_empty() {
            return Err(Error::Config("Chain: no layers".into()));
        }
        self.graph().build(device, seed)
    }
}
