//! Models: [`Sequential`](crate::Sequential) and [`fit`](crate::Sequential::fit).
//!
//! A model is described layer by layer, as in Keras, and built on first use (a size
//! mismatch between layers is an [`Error::Shape`](crate::Error::Shape) from `fit`,
//! `forward` or `parameters`). [`fit`](crate::Sequential::fit) takes a
//! [`Dataset`](crate::Dataset), a [`Loss`](crate::Loss), an optimizer configuration and a
//! [`FitConfig`](crate::FitConfig) (Keras' defaults: one epoch, batches of 32, shuffled),
//! and returns the [`History`](crate::History) of the epochs.
//!
//! # Regression
//!
//! A linear model recovers `y = 2·x₀ − 3·x₁ + 1` (`nn.Linear(2, 1)` and MSE):
//!
//! ```
//! use downhill::prelude::*;
//! use ndarray::{array, Array2, Axis};
//!
//! # fn main() -> downhill::Result<()> {
//! let x = Array2::from_shape_fn((64, 2), |(i, j)| ((i * (j + 3)) % 17) as f32 / 8.0 - 1.0);
//! let y = x.map_axis(Axis(1), |r| 2.0 * r[0] - 3.0 * r[1] + 1.0);
//! let data = Dataset::with_labels(x, y)?; // targets [64, 1]
//!
//! let mut model = Sequential::new(&Device::cpu()).dense(2, 1, Activation::Linear);
//! let config = FitConfig { epochs: 100, batch_size: 16, verbose: 0, ..Default::default() };
//! let history = model.fit(&data, Loss::MeanSquaredError, Sgd::new(0.1), config)?;
//!
//! let losses = history.loss(); // one mean training loss per epoch
//! assert_eq!(losses.len(), 100);
//! assert!(losses[99] < 1e-6 && losses[99] < losses[0]);
//! let pred = model.predict(&array![[1.0, 1.0]])?; // 2 − 3 + 1 = 0
//! assert!(pred[(0, 0)].abs() < 1e-3);
//! # Ok(())
//! # }
//! ```
//!
//! # Classification
//!
//! XOR is not linearly separable; a hidden layer fixes that. Logits with
//! `BinaryCrossEntropyWithLogits` (PyTorch's `BCEWithLogitsLoss`), Adam, full-batch
//! steps, accuracy as a metric:
//!
//! ```
//! use downhill::prelude::*;
//! use ndarray::array;
//!
//! # fn main() -> downhill::Result<()> {
//! let x = array![[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
//! let data = Dataset::with_labels(x.clone(), array![0.0, 1.0, 1.0, 0.0])?;
//!
//! let mut model = Sequential::new(&Device::cpu())
//!     .seed(1) // weights (and the shuffle) are reproducible from the seed
//!     .dense(2, 8, Activation::Tanh)
//!     .dense(8, 1, Activation::Linear);
//! assert_eq!(model.num_parameters()?, 2 * 8 + 8 + 8 + 1);
//!
//! let config = FitConfig {
//!     epochs: 300,
//!     metrics: vec![Metric::Accuracy],
//!     verbose: 0,
//!     ..Default::default()
//! }
//! .batching(Batching::Full);
//! let history = model.fit(&data, Loss::BinaryCrossEntropyWithLogits, Adam::new(0.05), config)?;
//! assert_eq!(history.metric("accuracy").last(), Some(&1.0));
//!
//! let eval = model.evaluate(&data, Loss::BinaryCrossEntropyWithLogits, &[Metric::Accuracy])?;
//! assert_eq!(eval.metrics, vec![("accuracy".to_string(), 1.0)]);
//! let logits = model.predict(&x)?; // positive logit: class 1
//! assert!(logits[(0, 0)] < 0.0 && logits[(1, 0)] > 0.0);
//! # Ok(())
//! # }
//! ```
//!
//! Calling `fit` again continues training: the model keeps the optimizer (and its state)
//! of the last call made with the same configuration, and numbers epochs on from
//! [`epochs_trained`](crate::Sequential::epochs_trained). Validation data, callbacks
//! (`EarlyStopping`, `ModelCheckpoint`, `CsvLogger`, ...) and schedules are fields of
//! [`FitConfig`](crate::FitConfig); see [`schedules`](super::schedules) for one in `fit`.
