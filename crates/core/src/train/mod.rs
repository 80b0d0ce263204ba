//! Keras-style training: `fit`, `evaluate` and `predict` on a [`crate::nn::Sequential`].

mod config;
mod divergence;
mod fit;
mod history;
mod progress;

pub use config::FitConfig;
pub use fit::Evaluation;
pub use history::{EpochRecord, History};
