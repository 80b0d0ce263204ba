//! Making tensors: from host data, constants and seeded random values.

use super::Tensor;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::random::SeededRng;
use crate::shape::Shape;
use ndarray::{ArrayBase, Data, Dimension};

impl Tensor {
    /// A tensor from row-major data; the length must match the shape.
    pub fn from_vec(device: &Device, data: Vec<f32>, shape: impl Into<Shape>) -> Result<Tensor> {
        let shape = shape.into();
        if data.len() != shape.numel() {
            return Err(Error::shape(
                "from_vec",
                format!("{} values do not fill shape {shape}", data.len()),
            ));
        }
        let storage = device.backend().upload(&data)?;
        Ok(Tensor::leaf(device, shape, storage, false))
    }

    /// A tensor from any `ndarray` array (copied in row-major order).
    pub fn from_array<S, D>(device: &Device, array: &ArrayBase<S, D>) -> Result<Tensor>
    where
        S: Data<Elem = f32>,
        D: Dimension,
    {
        let data: Vec<f32> = array.iter().copied().collect();
        Tensor::from_vec(device, data, array.shape().to_vec())
    }

    /// A tensor with every element `value`.
    pub fn full(device: &Device, shape: impl Into<Shape>, value: f32) -> Result<Tensor> {
        let shape = shape.into();
        let storage = device.backend().full(shape.numel(), value)?;
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
        let mut rng = SeededRng::new(seed);
        let data = (0..shape.numel()).map(|_| rng.uniform(low, high)).collect();
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
        let mut rng = SeededRng::new(seed);
        let data = (0..shape.numel())
            .map(|_| mean + std * rng.normal())
            .collect();
        Tensor::from_vec(device, data, shape)
    }
}
