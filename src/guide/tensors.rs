//! Tensors and autodiff.
//!
//! A [`Tensor`](crate::Tensor) is an n-dimensional f32 array on a
//! [`Device`](crate::Device). Ops return `Result` (shapes are checked: a mismatch is
//! [`Error::Shape`](crate::Error::Shape), never a panic); elementwise ops broadcast as in
//! NumPy; `&a + &b`, `&a - 1.0` and friends are the operator forms. A tensor made with
//! [`param`](crate::Tensor::param) is a trainable leaf: `backward()` on a scalar computed
//! from it returns its gradient, as `loss.backward()` fills `w.grad` in PyTorch.
//!
//! ```
//! use downhill::prelude::*;
//!
//! # fn main() -> downhill::Result<()> {
//! let device = Device::cpu();
//! // torch.tensor([[1., 2., 3.], [4., 5., 6.]]): row-major data and a shape.
//! let x = device.tensor(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3])?;
//! let w = device.tensor(vec![0.5, -1.0, 2.0], [3, 1])?.param(); // requires_grad=True
//! assert_eq!(x.dims(), &[2, 3]);
//!
//! let y = x.matmul(&w)?; // [2, 3] x [3, 1] -> [2, 1]
//! assert_eq!(y.to_vec()?, vec![4.5, 9.0]);
//!
//! // A scalar loss, then its gradient: d/dw mean((y − 1)²) = (2 / rows) · xᵀ(y − 1).
//! let loss = (&y - 1.0)?.square()?.mean()?;
//! assert_eq!(loss.item()?, 38.125);
//! let grads = loss.backward()?;
//! assert_eq!(grads.to_vec(&w)?, Some(vec![35.5, 47.0, 58.5]));
//!
//! // Broadcasting: a [2, 3] matrix minus a [3] row.
//! let centred = x.sub(&device.tensor(vec![1.0, 1.0, 1.0], [3])?)?;
//! assert_eq!(centred.sum_axis(1, false)?.to_vec()?, vec![3.0, 12.0]);
//!
//! // Shape errors are values, not panics.
//! assert!(matches!(x.matmul(&x), Err(Error::Shape { .. })));
//! # Ok(())
//! # }
//! ```
//!
//! A training loop by hand is the crate's first example: build an optimizer on the
//! parameters, then loss, `backward`, `step` (see [`optimizers`](super::optimizers)).
