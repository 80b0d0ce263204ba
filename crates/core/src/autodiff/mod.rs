//! Reverse-mode autodiff, define-by-run: every op on a tensor that needs gradients records
//! a node; `backward()` walks the recorded graph from the loss in reverse topological
//! order and returns the gradient of every trainable leaf.

mod gradients;
mod rules;
mod rules_conv;
mod rules_index;
mod rules_norm;
mod slots;

pub use gradients::Gradients;

use crate::backend::conv::{Conv2dDims, Pool2dDims};
use crate::backend::{BinaryOp, LossKind, MatmulDims, ReduceDims, ReduceOp, Storage, UnaryOp};
use crate::error::{Error, Result};
use crate::tensor::{Tensor, TensorId};
use std::cell::Cell;
use std::collections::{HashMap, HashSet};

/// What produced a tensor; the backward rule for each lives in `rules.rs`.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    Matmul(MatmulDims),
    /// `act(x·W + b)` fused; the activation's derivative must follow from its output.
    Linear {
        dims: MatmulDims,
        activation: Option<UnaryOp>,
    },
    Binary(BinaryOp),
    Unary(UnaryOp),
    Reduce {
        op: ReduceOp,
        dims: ReduceDims,
    },
    Reshape,
    Permute(Vec<usize>),
    Expand,
    Softmax {
        log: bool,
        rows: usize,
        cols: usize,
    },
    Loss {
        kind: LossKind,
        rows: usize,
        cols: usize,
        /// `d loss / d pred` for an upstream gradient of 1, computed with the loss (what
        /// backward needs when it starts from this loss).
        dpred: Option<Storage>,
    },
    /// Constant padding per axis, `(before, after)`; negative amounts crop (narrow).
    Pad(Vec<(i64, i64)>),
    /// `torch.cat` of parts `[outer, lens[k], inner]` along the middle axis.
    Concat {
        outer: usize,
        lens: Vec<usize>,
        inner: usize,
    },
    /// `index_select` along the middle axis of `dims`; inputs `[x, indices]`. `skip` is an
    /// embedding's `padding_idx`, whose row gets no gradient.
    IndexSelect {
        dims: ReduceDims,
        skip: Option<usize>,
    },
    /// `gather` along the middle axis of `dims` with `k` indices per column; inputs
    /// `[x, index]`.
    Gather {
        dims: ReduceDims,
        k: usize,
    },
    /// `torch.where`; inputs `[cond, a, b]`.
    Where,
    /// Inputs `[x, w]` or `[x, w, bias]`.
    Conv2d(Conv2dDims),
    MaxPool2d(Pool2dDims),
    AvgPool2d(Pool2dDims),
    /// Batch or layer norm of `x` viewed as `[A, C, B]` (inputs `x`, or `x, γ, β`), with
    /// the statistics its backward needs.
    Norm {
        dims: crate::backend::norm::NormDims,
        axis: Option<crate::backend::norm::AffineAxis>,
        mean: Storage,
        rstd: Storage,
    },
    /// Inverted dropout; the mask is redrawn from `(seed, offset)` for backward.
    Dropout {
        p: f32,
        seed: u64,
        offset: u64,
    },
}

/// One recorded op: its inputs and, where the backward needs it, its output.
pub(crate) struct Node {
    pub op: Op,
    pub inputs: Vec<Tensor>,
    /// Each input's version when the op ran: backward refuses inputs updated since.
    pub input_versions: Vec<u64>,
    pub saved_output: Option<Storage>,
}

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Whether ops on this thread record themselves for backward.
pub fn grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// Runs `f` without recording ops (inference, metrics), restoring the mode afterwards.
pub fn no_grad<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            GRAD_ENABLED.with(|g| g.set(self.0));
        }
    }
    let _restore = Restore(GRAD_ENABLED.with(|g| g.replace(false)));
    f()
}

impl Tensor {
    /// Gradients of this one-element tensor with respect to every trainable leaf it
    /// depends on. Gradients of a tensor used several times are summed.
    pub fn backward(&self) -> Result<Gradients> {
        if self.numel() != 1 {
            return Err(Error::Autodiff(format!(
                "backward needs a one-element tensor (a loss), got shape {}",
                self.shape()
            )));
        }
        if !self.requires_grad() {
            return Err(Error::Autodiff(
                "this tensor does not depend on any trainable parameter \
                 (mark leaves with .param(), and do not compute it inside no_grad)"
                    .into(),
            ));
        }
        let backend = self.device().backend();
        let order = topological_order(self);
        let mut pending: HashMap<TensorId, Storage> = HashMap::new();
        pending.insert(self.id(), self.device().one()?);
        let mut leaves = Gradients::default();
        let mut slots = slots::SlotPlacer::default();

        no_grad(|| -> Result<()> {
            for tensor in order.iter().rev() {
                let Some(grad) = pending.remove(&tensor.id()) else {
                    continue;
                };
                let Some(node) = tensor.node() else {
                    leaves.insert(tensor, slots.place(backend, tensor, grad)?);
                    continue;
                };
                check_versions(node)?;
                let input_grads = rules::backward(backend, node, tensor, &grad)?;
                for (input, input_grad) in node.inputs.iter().zip(input_grads) {
                    let Some(input_grad) = input_grad else {
                        continue;
                    };
                    if !input.requires_grad() {
                        continue;
                    }
                    let merged = match pending.remove(&input.id()) {
                        Some(previous) => backend.binary(
                            BinaryOp::Add,
                            &previous,
                            input.shape(),
                            &input_grad,
                            input.shape(),
                            input.shape(),
                        )?,
                        None => input_grad,
                    };
                    pending.insert(input.id(), merged);
                }
            }
            Ok(())
        })?;
        Ok(leaves)
    }
}

/// Fails if an input was updated in place (an optimizer step) after the op recorded it:
/// its gradient would silently use the new values (PyTorch refuses the same way).
fn check_versions(node: &Node) -> Result<()> {
    for (input, &seen) in node.inputs.iter().zip(&node.input_versions) {
        if input.version() != seen {
            return Err(Error::Autodiff(format!(
                "{:?} was updated in place (by an optimizer step) after this graph was \
                 recorded; compute the loss again before calling backward",
                input
            )));
        }
    }
    Ok(())
}

/// Every tensor reachable from `root` that requires a gradient, inputs before outputs.
fn topological_order(root: &Tensor) -> Vec<Tensor> {
    let mut order = Vec::new();
    let mut visited: HashSet<TensorId> = HashSet::new();
    // Iterative DFS (deep graphs must not overflow the stack): (tensor, children pushed?)
    let mut stack = vec![(root.clone(), false)];
    while let Some((tensor, expanded)) = stack.pop() {
        if expanded {
            order.push(tensor);
            continue;
        }
        if !visited.insert(tensor.id()) {
            continue;
        }
        stack.push((tensor.clone(), true));
        if let Some(node) = tensor.node() {
            for input in &node.inputs {
                if input.requires_grad() && !visited.contains(&input.id()) {
                    stack.push((input.clone(), false));
                }
            }
        }
    }
    order
}
