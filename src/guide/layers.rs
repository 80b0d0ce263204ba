//! Layers beyond `Dense`: convolutions, pools, normalisation, dropout, embeddings, and
//! models that are graphs rather than stacks.
//!
//! # A small CNN
//!
//! Data sets hold `[rows, features]`; a [`Reshape`](crate::Reshape) layer turns each row
//! into the `[C, H, W]` image a [`Conv2d`](crate::Conv2d) takes (NCHW, as PyTorch):
//!
//! ```
//! use downhill::prelude::*;
//!
//! # fn main() -> downhill::Result<()> {
//! let device = Device::cpu();
//! let model = Sequential::new(&device)
//!     .layer(Reshape::new([1, 8, 8]))
//!     .layer(Conv2d::new(1, 4, 3).padding(Padding::Same)) // [N, 4, 8, 8]
//!     .layer(BatchNorm2d::new(4))
//!     .layer(Activation::Relu)
//!     .layer(MaxPool2d::new(2))                         // [N, 4, 4, 4]
//!     .layer(Flatten::new())                            // [N, 64]
//!     .dense(64, 10, Activation::Linear);
//! let x = Tensor::rand_uniform(&device, [5, 64], 0.0, 1.0, 0)?;
//! assert_eq!(model.forward(&x)?.dims(), &[5, 10]);
//! // Parameters and buffers by name, as PyTorch's state_dict.
//! let names: Vec<String> = model.buffers()?.into_iter().map(|(n, _)| n).collect();
//! assert_eq!(names, ["2.running_mean", "2.running_var", "2.num_batches_tracked"]);
//! # Ok(())
//! # }
//! ```
//!
//! # Train and eval mode
//!
//! Dropout drops and batch norm uses the batch's statistics in training mode only;
//! `eval()` switches every layer (`fit` does it for validation, `evaluate` and `predict`
//! always evaluate):
//!
//! ```
//! use downhill::prelude::*;
//!
//! # fn main() -> downhill::Result<()> {
//! let device = Device::cpu();
//! let model = Sequential::new(&device).layer(Dropout::new(0.5));
//! let x = Tensor::full(&device, [1, 1000], 1.0)?;
//! let dropped = model.forward(&x)?.to_vec()?;
//! // Inverted dropout: the kept half is scaled by 1 / (1 - p).
//! assert!(dropped.iter().all(|&v| v == 0.0 || v == 2.0));
//! let kept = dropped.iter().filter(|&&v| v == 2.0).count();
//! assert!((400..600).contains(&kept));
//! model.eval();
//! assert_eq!(model.forward(&x)?.to_vec()?, vec![1.0; 1000]);
//! # Ok(())
//! # }
//! ```
//!
//! # Graphs: residual blocks and several inputs
//!
//! [`Residual`](crate::Residual) wraps any layer or [`Chain`](crate::Chain) as
//! `x + f(x)`; a [`Graph`](crate::Graph) wires layers freely. With several inputs, each
//! takes its columns of the batch, in the order declared:
//!
//! ```
//! use downhill::prelude::*;
//!
//! # fn main() -> downhill::Result<()> {
//! let device = Device::cpu();
//! let block = Chain::new()
//!     .dense(8, 8, Activation::Relu)
//!     .dense(8, 8, Activation::Linear);
//! let mut g = Graph::new();
//! let (image, meta) = (g.input(6), g.input(2));
//! let h = g.apply(Dense::new(6, 8).activation(Activation::Relu), image);
//! let h = g.apply(Residual::new(block), h);
//! let m = g.apply(Dense::new(2, 8), meta);
//! let joined = g.concat(&[h, m]);
//! let out = g.apply(Dense::new(16, 1), joined);
//! let model = Sequential::new(&device).layer(g.output(out));
//! assert_eq!(model.in_features(), Some(8));
//! let x = Tensor::rand_uniform(&device, [3, 8], -1.0, 1.0, 1)?;
//! assert_eq!(model.forward(&x)?.dims(), &[3, 1]);
//! # Ok(())
//! # }
//! ```
//!
//! # Embeddings
//!
//! Token ids are f32 tensors holding integers; an id outside the table gives NaN rows
//! (which `fit` reports as a divergence blamed on the data):
//!
//! ```
//! use downhill::prelude::*;
//!
//! # fn main() -> downhill::Result<()> {
//! let device = Device::cpu();
//! let model = Sequential::new(&device)
//!     .layer(Embedding::new(100, 4)) // [N, L] ids -> [N, L, 4]
//!     .layer(Flatten::new())         // [N, 4·L]
//!     .dense(12, 2, Activation::Linear);
//! let ids = Tensor::from_vec(&device, vec![1.0, 5.0, 99.0, 0.0, 0.0, 7.0], [2, 3])?;
//! assert_eq!(model.forward(&ids)?.dims(), &[2, 2]);
//! # Ok(())
//! # }
//! ```
