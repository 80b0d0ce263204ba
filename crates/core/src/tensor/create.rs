//! Making tensors: from host data, constants and seeded random values. Each checks the
//! shape against the device before any memory is allocated, host or device.

use super::Tensor;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::memory;
use crate::random::SeededRng;
use crate::shape::Shape;
use ndarray::{ArrayBase, Data, Dimension};

impl Tensor {
    /// A tensor from row-major data; the length must match the shape.
    pub fn from_vec(device: &Device, data: Vec<f32>, shape: impl Into<Shape>) -> Result<Tensor> {
        let shape = shape.into();
        let n = device.check_new("from_vec", &shape)?;
        if data.len() != n {
            return Err(Error::shape(
                "from_vec",
                format!("{} values do not fill shape {shape}", data.len()),
            ));
        }
        let storage = device
            .backend()
            .upload(&data)
            .map_err(|e| e.context(&format!("from_vec: shape {shape}")))?;
        Ok(Tensor::leaf(device, shape, storage, false))
    }

    /// A tensor from any `ndarray` array (copied in row-major order).
    pub fn from_array<S, D>(device: &Device, array: &ArrayBase<S, D>) -> Result<Tensor>
    where
        S: Data<Elem = f32>,
        D: Dimension,
    {
        let shape = Shape::new(array.shape().to_vec());
        memory::check_host(format_args!("from_array: shape {shape}"), array.len())?;
        let data = match array.as_slice() {
            Some(contiguous) => contiguous.to_vec(),
            None => memory::host_collect(
                format_args!("from_array: shape {shape}"),
                array.len(),
                array.iter().copied(),
            )?,
        };
        Tensor::from_vec(device, data, shape)
    }

    /// A tensor with every element `value`.
    pub fn full(device: &Device, shape: impl Into<Shape>, value: f32) -> Result<Tensor> {
        let shape = shape.into();
        let n = device.check_new("full", &shape)?;
        let storage = device
            .backend()
            .full(n, value)
            .map_err(|e| e.context(&format!("full: shape {shape}")))?;
        Ok(Tensor::leaf(device, shape, storage, false))
    }

    /// Uniform values in `[low, high)` from `seed` (the same on every backend).
    pub fn rand_uniform(
        device: &Device,
        shape: impl Into<Shape>,
        low: f32,
        high: f32,
        seed: u64,
    ) -> Result<Tensor> {
        let shape = shape.into();
        let n = device.check_new("rand_uniform", &shape)?;
        let mut rng = SeededRng::new(seed);
        let data = memory::host_collect(
            format_args!("rand_uniform: shape {shape}"),
            n,
            std::iter::repeat_with(|| rng.uniform(low, high)),
        )?;
        Tensor::from_vec(device, data, shape)
    }

    /// Normal values with the given mean and standard deviation from `seed`.
    pub fn rand_normal(
        device: &Device,
        shape: impl Into<Shape>,
        mean: f32,
        std: f32,
        seed: u64,
    ) -> Result<Tensor> {
        let shape = shape.into();
        let n = device.check_new("rand_normal", &shape)?;
        let mut rng = SeededRng::new(seed);
        let data = memory::host_collect(
            format_args!("rand_normal: shape {shape}"),
            n,
            std::iter::repeat_with(|| mean + std * rng.normal()),
        )?;
        Tensor::from_vec(device, data, shape)
    }
}
