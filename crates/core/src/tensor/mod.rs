//! `Tensor`: an n-dimensional f32 array on a device that records the ops applied to it,
//! so `backward()` can compute gradients (define-by-run reverse mode).

mod compare;
mod conv;
mod create;
mod index;
mod loss;
mod norm;

pub use norm::{BatchNormConfig, RunningStats};
mod operators;
mod ops;
mod region;

pub use conv::{Conv1dOptions, Conv2dOptions, Pool2dOptions};

use crate::autodiff::{grad_enabled, Node, Op};
use crate::backend::{Storage, WeakStorage};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::shape::Shape;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// A tensor's storage, owner and gradient slot at one moment (see [`Tensor::binding`]).
pub(crate) struct Binding {
    storage: Storage,
    owner: u64,
    grad_slot: Option<WeakStorage>,
}

/// Identifies a tensor, e.g. as the key of its gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorId(u64);

impl TensorId {
    fn fresh() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        TensorId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// An f32 tensor. Cloning is cheap and shares the data and the autodiff history.
///
/// Runnable examples (ops, broadcasting, `backward`) are in the `downhill` crate's
/// `guide::tensors`, where a backend is at hand.
#[derive(Clone)]
pub struct Tensor(Arc<TensorInner>);

struct TensorInner {
    id: TensorId,
    shape: Shape,
    device: Device,
    /// Behind a lock only so that an optimizer can move a parameter into its flat buffer.
    storage: RwLock<Storage>,
    requires_grad: bool,
    node: Option<Node>,
    /// The id of the parameter set that owns this tensor's storage (0: none).
    owner: AtomicU64,
    /// Bumped by every in-place update (an optimizer step), so a graph recorded before
    /// the update can refuse to differentiate with the new values.
    version: AtomicU64,
    /// A parameter's place in its set's flat gradient buffer, where backward writes its
    /// gradient when no earlier gradient there is still in use (weak: the set owns it).
    grad_slot: RwLock<Option<WeakStorage>>,
}

impl Tensor {
    /// A tensor with no history (a leaf).
    pub(crate) fn leaf(
        device: &Device,
        shape: Shape,
        storage: Storage,
        requires_grad: bool,
    ) -> Self {
        Tensor(Arc::new(TensorInner {
            id: TensorId::fresh(),
            shape,
            device: device.clone(),
            storage: RwLock::new(storage),
            requires_grad,
            node: None,
            owner: AtomicU64::new(0),
            version: AtomicU64::new(0),
            grad_slot: RwLock::new(None),
        }))
    }

    /// The result of an op: records it for backward when any input needs a gradient.
    pub(crate) fn from_op(
        device: &Device,
        shape: Shape,
        storage: Storage,
        op: Op,
        inputs: &[&Tensor],
        save_output: bool,
    ) -> Self {
        let tracked = grad_enabled() && inputs.iter().any(|t| t.requires_grad());
        let node = tracked.then(|| Node {
            op,
            inputs: inputs.iter().map(|t| (*t).clone()).collect(),
            input_versions: inputs.iter().map(|t| t.version()).collect(),
            saved_output: save_output.then(|| storage.clone()),
        });
        Tensor(Arc::new(TensorInner {
            id: TensorId::fresh(),
            shape,
            device: device.clone(),
            storage: RwLock::new(storage),
            requires_grad: tracked,
            node,
            owner: AtomicU64::new(0),
            version: AtomicU64::new(0),
            grad_slot: RwLock::new(None),
        }))
    }

    /// This tensor's identity (the key of its gradient in [`crate::Gradients`]); a clone has
    /// the same id, [`Tensor::param`] and [`Tensor::detach`] make a new one.
    pub fn id(&self) -> TensorId {
        self.0.id
    }

    /// The tensor's shape.
    pub fn shape(&self) -> &Shape {
        &self.0.shape
    }

    /// The size of each axis, outermost first (PyTorch's `tensor.shape`).
    pub fn dims(&self) -> &[usize] {
        self.0.shape.dims()
    }

    /// The number of axes (0 for a scalar).
    pub fn rank(&self) -> usize {
        self.0.shape.rank()
    }

    /// The number of elements.
    pub fn numel(&self) -> usize {
        self.0.shape.numel()
    }

    /// The device the tensor's data lives on.
    pub fn device(&self) -> &Device {
        &self.0.device
    }

    /// Whether gradients flow into or through this tensor.
    pub fn requires_grad(&self) -> bool {
        self.0.requires_grad
    }

    /// A trainable leaf sharing this tensor's data: `backward()` returns its gradient.
    pub fn param(&self) -> Tensor {
        Tensor::leaf(self.device(), self.shape().clone(), self.storage(), true)
    }

    /// A leaf sharing this tensor's data that no gradient flows into.
    pub fn detach(&self) -> Tensor {
        Tensor::leaf(self.device(), self.shape().clone(), self.storage(), false)
    }

    /// The device view holding this tensor's elements.
    pub fn storage(&self) -> Storage {
        // A poisoned lock only means another thread panicked while swapping the view;
        // the view itself is always a valid value.
        match self.0.storage.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub(crate) fn node(&self) -> Option<&Node> {
        self.0.node.as_ref()
    }

    /// Points this tensor at another view, with the view of the gradient buffer its
    /// gradients go to (used when a parameter set takes it over).
    pub(crate) fn rebind(&self, storage: Storage, owner: u64, grad_slot: &Storage) {
        let mut guard = match self.0.storage.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = storage;
        let mut slot = match self.0.grad_slot.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *slot = Some(grad_slot.downgrade());
        self.0.owner.store(owner, Ordering::Release);
    }

    /// Where this tensor's values live now and which parameter set owns them: what
    /// [`Tensor::restore_binding`] puts back after a temporary optimizer took the tensor
    /// over (`lr_find` sweeps on a copy so).
    pub(crate) fn binding(&self) -> Binding {
        let slot = match self.0.grad_slot.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        Binding {
            storage: self.storage(),
            owner: self.owner(),
            grad_slot: slot,
        }
    }

    /// Points the tensor back at what [`Tensor::binding`] recorded: its storage (whose
    /// values a later parameter set copied and never wrote), its owner and gradient slot.
    pub(crate) fn restore_binding(&self, binding: Binding) {
        let mut guard = match self.0.storage.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = binding.storage;
        let mut slot = match self.0.grad_slot.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *slot = binding.grad_slot;
        self.0.owner.store(binding.owner, Ordering::Release);
    }

    /// Where backward may write this parameter's gradient: its view of the flat gradient
    /// buffer of the set that owns it, while that set lives.
    pub(crate) fn grad_slot(&self) -> Option<Storage> {
        let slot = match self.0.grad_slot.read() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        slot.as_ref().and_then(WeakStorage::upgrade)
    }

    /// How many in-place updates this tensor's values have had.
    pub fn version(&self) -> u64 {
        self.0.version.load(Ordering::Acquire)
    }

    /// Records an in-place update of the values (done by an optimizer step).
    pub(crate) fn bump_version(&self) {
        self.0.version.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn owner(&self) -> u64 {
        self.0.owner.load(Ordering::Acquire)
    }

    /// Overwrites the values in place from host data of the same length (PyTorch's
    /// `param.data.copy_()`): the tensor keeps its identity and storage, so an optimizer
    /// that holds it sees the new values. Counts as an in-place update (graphs recorded
    /// before refuse to differentiate through it).
    pub fn assign(&self, values: &[f32]) -> Result<()> {
        if values.len() != self.numel() {
            return Err(Error::shape(
                "assign",
                format!(
                    "{} values for a tensor of shape {}",
                    values.len(),
                    self.shape()
                ),
            ));
        }
        let backend = self.device().backend();
        let source = backend.upload(values)?;
        backend.copy(&source, &self.storage())?;
        self.bump_version();
        Ok(())
    }

    /// Overwrites this tensor's values with `source`'s (same element count, same device),
    /// in place on the device: how a layer updates a buffer such as batch norm's running
    /// statistics without a host round-trip. Records nothing for autodiff.
    pub fn copy_from(&self, source: &Tensor) -> Result<()> {
        self.check_device("copy_from", source)?;
        if source.numel() != self.numel() {
            return Err(Error::shape(
                "copy_from",
                format!(
                    "a tensor of shape {} into one of shape {}",
                    source.shape(),
                    self.shape()
                ),
            ));
        }
        self.device()
            .backend()
            .copy(&source.storage(), &self.storage())?;
        self.bump_version();
        Ok(())
    }

    /// Copies the elements to the host, row-major.
    pub fn to_vec(&self) -> Result<Vec<f32>> {
        self.device().backend().download(&self.storage())
    }

    /// The single value of a tensor with one element (e.g. a loss).
    pub fn item(&self) -> Result<f32> {
        if self.numel() != 1 {
            return Err(Error::shape(
                "item",
                format!(
                    "expected one element, the tensor has shape {}",
                    self.shape()
                ),
            ));
        }
        Ok(self.to_vec()?[0])
    }

    /// Copies the tensor to the host as an `ndarray` array of its shape.
    pub fn to_array(&self) -> Result<ndarray::ArrayD<f32>> {
        let data = self.to_vec()?;
        ndarray::ArrayD::from_shape_vec(self.dims().to_vec(), data)
            .map_err(|e| Error::shape("to_array", e.to_string()))
    }

    /// Copies a 2-D tensor to the host.
    pub fn to_array2(&self) -> Result<ndarray::Array2<f32>> {
        let (r, c) = self.shape().as_matrix("to_array2")?;
        ndarray::Array2::from_shape_vec((r, c), self.to_vec()?)
            .map_err(|e| Error::shape("to_array2", e.to_string()))
    }

    /// Fails unless `other` lives on the same device as `self`.
    pub(crate) fn check_device(&self, op: &'static str, other: &Tensor) -> Result<()> {
        if self.device().same(other.device()) {
            Ok(())
        } else {
            Err(Error::DeviceMismatch(format!(
                "{op}: operands live on {} and {}",
                self.device().name(),
                other.device().name()
            )))
        }
    }
}

/// Drops a graph iteratively. The default drop would recurse once per op of a chain (a
/// tensor owns its inputs through its node), so a chain of ~100,000 ops overflowed the
/// stack. Here each inner tensor this one owns alone is unlinked and its node's inputs
/// moved to a work list, so the stack stays flat however deep the graph is.
impl Drop for TensorInner {
    fn drop(&mut self) {
        let Some(node) = self.node.take() else {
            return;
        };
        let mut work = node.inputs;
        while let Some(tensor) = work.pop() {
            // `into_inner` succeeds only for the last owner, so a shared input stays alive.
            if let Some(mut inner) = Arc::into_inner(tensor.0) {
                if let Some(node) = inner.node.take() {
                    work.extend(node.inputs);
                }
                // `inner` drops here with no node: nothing to recurse into.
            }
        }
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Tensor(id={}, shape={}, grad={}, {})",
            self.0.id.0,
            self.shape(),
            self.requires_grad(),
            self.device().name()
        )
    }
}
