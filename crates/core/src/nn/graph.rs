//! Functional composition: layers wired into a graph (Keras' functional API), so residual
//! blocks, merges and several inputs need no custom `Layer` impl. A [`Graph`] is itself a
//! [`LayerSpec`]: put it in a [`super::Sequential`] (alone, or between other layers) and
//! `fit`, `evaluate`, checkpoints and train/eval mode work as for any layer.
//!
//! ```text
//! let mut g = Graph::new();
//! let x = g.input(32);
//! let h = g.apply(Dense::new(32, 32).activation(Activation::Relu), x);
//! let h = g.apply(Dense::new(32, 32), h);
//! let y = g.add(&[x, h]);                       // x + f(x)
//! let model = Sequential::new(&device).layer(g.output(y)).dense(32, 10, Activation::Linear);
//! ```
//!
//! Several inputs split the columns of a `[rows, features]` batch in the order they were
//! declared (a model of an image and its metadata takes `[pixels | metadata]` rows).

use super::{Layer, LayerSpec};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A value in a [`Graph`]: an input, a layer's output or a merge. Only valid in the graph
/// that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Node {
    graph: u64,
    index: usize,
}

/// How two or more values are merged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Merge {
    /// Elementwise sum (broadcasting), Keras' `Add`: the residual connection.
    Add,
    /// Elementwise product (broadcasting), Keras' `Multiply`: gates.
    Multiply,
    /// Joined along the last axis, Keras' `Concatenate`.
    Concat,
}

impl Merge {
    fn name(self) -> &'static str {
        match self {
            Merge::Add => "add",
            Merge::Multiply => "multiply",
            Merge::Concat => "concat",
        }
    }
}

enum Step {
    /// Input `index`: all of the batch (one input) or its columns `[offset, offset+features)`.
    Input {
        features: Option<usize>,
    },
    Layer {
        spec: Arc<dyn LayerSpec>,
        input: usize,
    },
    Merge {
        merge: Merge,
        inputs: Vec<usize>,
    },
}

/// Layers wired into a directed acyclic graph, built like Keras' functional models: declare
/// inputs, apply layers and merges to nodes, mark the output. Nodes exist only once their
/// inputs do, so a graph cannot hold a cycle.
pub struct Graph {
    id: u64,
    label: &'static str,
    steps: Vec<Step>,
    output: Option<usize>,
    /// A mistake made while wiring (a node of another graph): reported by `build`.
    error: Option<String>,
}

impl Default for Graph {
    fn default() -> Self {
        Graph::new()
    }
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Graph {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            label: "Graph",
            steps: Vec::new(),
            output: None,
            error: None,
        }
    }

    fn push(&mut self, step: Step) -> Node {
        self.steps.push(step);
        Node {
            graph: self.id,
            index: self.steps.len() - 1,
        }
    }

    fn index(&mut self, node: Node) -> usize {
        if node.graph != self.id || node.index >= self.steps.len() {
            self.error
                .get_or_insert_with(|| format!("node {} belongs to another graph", node.index));
        }
        node.index
    }

    /// Declares the next input. With one input the layer takes its batch whole (any rank);
    /// with several, each takes `features` columns of the `[rows, Σ features]` batch, in
    /// the order declared.
    pub fn input(&mut self, features: usize) -> Node {
        self.push(Step::Input {
            features: Some(features),
        })
    }

    /// Declares an input of any size (one-input graphs only), e.g. the `[N, C, H, W]`
    /// batch of a convolutional block.
    pub fn any_input(&mut self) -> Node {
        self.push(Step::Input { features: None })
    }

    /// The output of `layer` applied to `input`.
    pub fn apply(&mut self, layer: impl LayerSpec + 'static, input: Node) -> Node {
        self.apply_shared(Arc::new(layer), input)
    }

    pub(super) fn apply_shared(&mut self, spec: Arc<dyn LayerSpec>, input: Node) -> Node {
        let input = self.index(input);
        self.push(Step::Layer { spec, input })
    }

    fn merge(&mut self, merge: Merge, nodes: &[Node]) -> Node {
        let inputs = nodes.iter().map(|&n| self.index(n)).collect::<Vec<_>>();
        if inputs.len() < 2 {
            self.error.get_or_insert_with(|| {
                format!(
                    "{} needs two or more nodes, got {}",
                    merge.name(),
                    inputs.len()
                )
            });
        }
        self.push(Step::Merge { merge, inputs })
    }

    /// The elementwise sum of `nodes` (broadcasting): `g.add(&[x, f_x])` is a residual
    /// connection.
    pub fn add(&mut self, nodes: &[Node]) -> Node {
        self.merge(Merge::Add, nodes)
    }

    /// The elementwise product of `nodes` (broadcasting).
    pub fn multiply(&mut self, nodes: &[Node]) -> Node {
        self.merge(Merge::Multiply, nodes)
    }

    /// `nodes` joined along their last axis (Keras' `Concatenate`).
    pub fn concat(&mut self, nodes: &[Node]) -> Node {
        self.merge(Merge::Concat, nodes)
    }

    /// Marks `node` as the graph's output and returns the finished graph, ready to be a
    /// layer of a model.
    pub fn output(mut self, node: Node) -> Graph {
        let index = self.index(node);
        self.output = Some(index);
        self
    }

    pub(super) fn with_label(mut self, label: &'static str) -> Graph {
        self.label = label;
        self
    }

    fn inputs(&self) -> Vec<Option<usize>> {
        self.steps
            .iter()
            .filter_map(|s| match s {
                Step::Input { features } => Some(*features),
                _ => None,
            })
            .collect()
    }

    /// The feature count of step `i`'s output, where the specs say; an input of any size
    /// counts as `outer` (what the graph is given, when known).
    fn features(&self, i: usize, outer: Option<usize>) -> Option<usize> {
        match &self.steps[i] {
            Step::Input { features } => features.or(outer),
            Step::Layer { spec, input } => spec.output_features(self.features(*input, outer)),
            Step::Merge {
                merge: Merge::Concat,
                inputs,
            } => inputs.iter().map(|&j| self.features(j, outer)).sum(),
            Step::Merge { inputs, .. } => inputs.iter().find_map(|&j| self.features(j, outer)),
        }
    }

    /// Every mistake in the wiring, found before any parameter is allocated.
    fn check(&self) -> Result<usize> {
        let fail = |detail: String| Err(Error::Config(format!("{}: {detail}", self.label)));
        if let Some(e) = &self.error {
            return fail(e.clone());
        }
        let Some(output) = self.output else {
            return fail("no output: finish it with .output(node)".into());
        };
        let inputs = self.inputs();
        if inputs.is_empty() {
            return fail("no input: declare one with .input(features)".into());
        }
        if inputs.len() > 1 && inputs.iter().any(Option::is_none) {
            return fail("with several inputs each needs a feature count".into());
        }
        for (i, step) in self.steps.iter().enumerate() {
            if let Step::Layer { spec, input } = step {
                if let (Some(have), Some(want)) = (self.features(*input, None), spec.in_features())
                {
                    if have != want {
                        return Err(Error::shape(
                            self.label,
                            format!(
                                "node {i} expects {want} features, its input (node {input}) \
                                 gives {have}"
                            ),
                        ));
                    }
                }
            }
        }
        Ok(output)
    }
}

impl LayerSpec for Graph {
    fn in_features(&self) -> Option<usize> {
        self.inputs().into_iter().sum()
    }
    fn output_features(&self, input: Option<usize>) -> Option<usize> {
        // A graph of any-size input (a residual block of norms) passes the size it is given.
        self.features(self.output?, input)
    }
    fn out_features(&self) -> Option<usize> {
        self.features(self.output?, None)
    }
    fn output_activation(&self) -> Option<super::Activation> {
        match &self.steps[self.output?] {
            Step::Layer { spec, .. } => spec.output_activation(),
            _ => None,
        }
    }
    fn build(&self, device: &Device, seed: u64) -> Result<Box<dyn Layer>> {
        let output = self.check()?;
        let mut steps = Vec::with_capacity(self.steps.len());
        let mut offset = 0;
        for (i, step) in self.steps.iter().enumerate() {
            steps.push(match step {
                Step::Input { features } => {
                    let built = BuiltStep::Input {
                        offset,
                        features: *features,
                    };
                    offset += features.unwrap_or(0);
                    built
                }
                Step::Layer { spec, input } => {
                    // A different, reproducible seed per node, as Sequential gives its layers.
                    let seed = seed
                        .wrapping_mul(0x2545_F491_4F6C_DD1D)
                        .wrapping_add(i as u64);
                    let layer = spec
                        .build(device, seed)
                        .map_err(|e| e.context(self.label))?;
                    BuiltStep::Layer {
                        layer,
                        input: *input,
                    }
                }
                Step::Merge { merge, inputs } => BuiltStep::Merge {
                    merge: *merge,
                    inputs: inputs.clone(),
                },
            });
        }
        let inputs = self.inputs().len();
        Ok(Box::new(GraphLayer {
            label: self.label,
            steps,
            output,
            split: inputs > 1,
        }))
    }
}

enum BuiltStep {
    Input {
        offset: usize,
        features: Option<usize>,
    },
    Layer {
        layer: Box<dyn Layer>,
        input: usize,
    },
    Merge {
        merge: Merge,
        inputs: Vec<usize>,
    },
}

struct GraphLayer {
    label: &'static str,
    steps: Vec<BuiltStep>,
    output: usize,
    /// Several inputs: each takes its columns of the batch.
    split: bool,
}

impl GraphLayer {
    fn layers(&self) -> impl Iterator<Item = (usize, &dyn Layer)> {
        self.steps.iter().enumerate().filter_map(|(i, s)| match s {
            BuiltStep::Layer { layer, .. } => Some((i, layer.as_ref())),
            _ => None,
        })
    }
}

impl Layer for GraphLayer {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut values: Vec<Option<Tensor>> = Vec::with_capacity(self.steps.len());
        let value = |values: &[Option<Tensor>], i: usize| {
            values[i]
                .clone()
                .ok_or_else(|| Error::Autodiff(format!("{}: node {i} has no value", self.label)))
        };
        for step in &self.steps {
            let v = match step {
                BuiltStep::Input { offset, features } => match (self.split, features) {
                    (true, Some(n)) => {
                        let last = x.rank().saturating_sub(1);
                        x.narrow(last, *offset, *n)
                            .map_err(|e| e.context(self.label))?
                    }
                    _ => x.clone(),
                },
                BuiltStep::Layer { layer, input } => layer.forward(&value(&values, *input)?)?,
                BuiltStep::Merge { merge, inputs } => {
                    let parts = inputs
                        .iter()
                        .map(|&i| value(&values, i))
                        .collect::<Result<Vec<_>>>()?;
                    merged(*merge, &parts).map_err(|e| e.context(self.label))?
                }
            };
            values.push(Some(v));
        }
        value(&values, self.output)
    }

    fn parameters(&self) -> Vec<Tensor> {
        self.layers().flat_map(|(_, l)| l.parameters()).collect()
    }

    fn parameter_names(&self) -> Vec<String> {
        self.layers()
            .flat_map(|(i, l)| {
                l.parameter_names()
                    .into_iter()
                    .map(move |n| format!("{i}.{n}"))
            })
            .collect()
    }

    fn buffers(&self) -> Vec<(String, Tensor)> {
        self.layers()
            .flat_map(|(i, l)| {
                l.buffers()
                    .into_iter()
                    .map(move |(n, t)| (format!("{i}.{n}"), t))
            })
            .collect()
    }

    fn set_training(&self, training: bool) {
        for (_, layer) in self.layers() {
            layer.set_training(training);
        }
    }

    fn describe(&self) -> String {
        let nodes: Vec<String> = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| match s {
                BuiltStep::Input { features, .. } => match features {
                    Some(n) => format!("{i}=input({n})"),
                    None => format!("{i}=input"),
                },
                BuiltStep::Layer { layer, input } => format!("{i}={}({input})", layer.describe()),
                BuiltStep::Merge { merge, inputs } => {
                    let args: Vec<String> = inputs.iter().map(usize::to_string).collect();
                    format!("{i}={}({})", merge.name(), args.join(", "))
                }
            })
            .collect();
        format!("{}[{}]", self.label, nodes.join("; "))
    }
}

fn merged(merge: Merge, parts: &[Tensor]) -> Result<Tensor> {
    match merge {
        Merge::Concat => {
            let refs: Vec<&Tensor> = parts.iter().collect();
            let last = parts[0].rank().saturating_sub(1);
            Tensor::concat(&refs, last)
        }
        Merge::Add | Merge::Multiply => {
            let mut acc = parts[0].clone();
            for p in &parts[1..] {
                acc = if merge == Merge::Add {
                    (&acc + p)?
                } else {
                    (&acc * p)?
                };
            }
            Ok(acc)
        }
    }
}
