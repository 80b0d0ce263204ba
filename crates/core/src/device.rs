//! `Device`: a cheap handle on one backend, shared by every tensor created on it.

use crate::backend::Storage;
use crate::backend::{Backend, BackendKind, DeviceStats};
use crate::error::{Error, Result};
use crate::memory;
use crate::shape::Shape;
use crate::tensor::Tensor;
use std::fmt;
use std::sync::{Arc, OnceLock};

/// Where tensors live and ops run. Cloning is cheap (an `Arc`).
///
/// The root crate `downhill` adds `Device::cpu()`, `Device::gpu()` and `Device::best()`;
/// here a device is made from any [`Backend`].
#[derive(Clone)]
pub struct Device {
    backend: Arc<dyn Backend>,
    /// A 1-element buffer holding 1.0, made once: the seed of every backward pass.
    one: Arc<OnceLock<Storage>>,
}

impl Device {
    /// A device running `backend`. Devices on different backend instances are distinct:
    /// their tensors cannot be mixed ([`Error::DeviceMismatch`]), even when both are CPU
    /// backends; the shared `CpuBackend::device()` and `downhill_gpu::device()` give one
    /// handle everywhere.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Device {
            backend,
            one: Arc::new(OnceLock::new()),
        }
    }

    /// The shared constant `[1.0]` (never written: ops only read their inputs).
    pub(crate) fn one(&self) -> Result<Storage> {
        if let Some(one) = self.one.get() {
            return Ok(one.clone());
        }
        let one = self.backend.full(1, 1.0)?;
        Ok(self.one.get_or_init(|| one).clone())
    }

    /// The backend behind this device, for calling its ops directly (arguments are checked:
    /// see [`crate::backend::check`]).
    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    /// The backend's human-readable name, e.g. `cpu (ndarray, 2 threads)` or the GPU adapter's.
    pub fn name(&self) -> String {
        self.backend.name()
    }

    /// The name and what bounds the work (for a GPU: adapter type and limits).
    pub fn describe(&self) -> String {
        self.backend.describe()
    }

    /// Whether this is the CPU or the GPU backend.
    pub fn kind(&self) -> BackendKind {
        self.backend.kind()
    }

    /// Work counters of the backend (dispatches, submissions, allocations, bytes moved).
    pub fn stats(&self) -> DeviceStats {
        self.backend.stats()
    }

    /// The element count of a new tensor of `shape` made by `op`, checked before anything
    /// is allocated: the count and its bytes must fit the address space, the device's
    /// largest tensor and, where tensors live in host memory, the memory available now.
    /// Each failure is an [`Error::TooLarge`] naming the op, the shape and the bytes.
    pub fn check_new(&self, op: &str, shape: &Shape) -> Result<usize> {
        let n = shape.elements(op)?;
        let bytes = n as u128 * memory::ELEMENT_BYTES as u128;
        let max = self.backend.max_tensor_bytes();
        if bytes > max as u128 {
            return Err(Error::TooLarge(format!(
                "{op}: shape {shape} needs {} ({bytes} bytes), more than the largest tensor \
                 {} can hold ({})",
                memory::human_bytes(bytes),
                self.name(),
                memory::human_bytes(max as u128)
            )));
        }
        if self.backend.uses_host_memory() {
            memory::check_host(format_args!("{op}: shape {shape}"), n)?;
        }
        Ok(n)
    }

    /// Whether two handles refer to the same backend instance.
    pub fn same(&self, other: &Device) -> bool {
        Arc::ptr_eq(&self.backend, &other.backend)
    }

    /// A 0-dimensional tensor holding `value`.
    pub fn scalar(&self, value: f32) -> Result<Tensor> {
        Tensor::from_vec(self, vec![value], Shape::scalar())
    }

    /// A tensor from row-major data.
    pub fn tensor(&self, data: Vec<f32>, shape: impl Into<Shape>) -> Result<Tensor> {
        Tensor::from_vec(self, data, shape)
    }

    /// Wraps a view this device's backend produced as a constant tensor (no gradient).
    pub fn tensor_from_storage(&self, storage: Storage, shape: impl Into<Shape>) -> Result<Tensor> {
        let shape = shape.into();
        if Some(storage.len()) != shape.checked_numel() {
            return Err(Error::shape(
                "tensor_from_storage",
                format!("{} elements do not fill shape {shape}", storage.len()),
            ));
        }
        Ok(Tensor::leaf(self, shape, storage, false))
    }

    /// A constant tensor of `shape` filled with 0 (`torch.zeros`).
    pub fn zeros(&self, shape: impl Into<Shape>) -> Result<Tensor> {
        Tensor::full(self, shape, 0.0)
    }
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Device({})", self.backend.name())
    }
}
