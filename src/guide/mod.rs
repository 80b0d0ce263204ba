//! Worked examples, one per topic. Each runs as a test (`cargo test --doc`) on the CPU
//! backend; replace `Device::cpu()` with `Device::best()?` to run the same code on a GPU.
//!
//! - [`tensors`]: tensors, broadcasting, autodiff and a hand-written training loop
//!   (PyTorch style).
//! - [`models`]: [`Sequential`](crate::Sequential) models trained with
//!   [`fit`](crate::Sequential::fit), evaluated and used to predict (Keras style).
//! - [`layers`]: convolutions, pools, batch/layer norm, dropout, embeddings, train/eval
//!   mode, and functional models (`Graph`, `Residual`).
//! - [`optimizers`]: one example per optimizer, from [`Sgd`](crate::Sgd) to
//!   [`NAdam`](crate::NAdam).
//! - [`schedules`]: one example per learning-rate schedule, by hand and in `fit`.

pub mod layers;
pub mod models;
pub mod optimizers;
pub mod schedules;
pub mod tensors;
