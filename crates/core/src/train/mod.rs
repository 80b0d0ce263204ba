//! Keras-style training: `fit`, `evaluate` and `predict` on a [`crate::nn::Sequential`],
//! with callbacks, progress and a per-epoch history; `lr_find`, the learning-rate range
//! test.

mod accumulators;
pub mod callback;
pub mod callbacks;
mod checks;
mod config;
pub mod diagnosis;
mod divergence;
mod evaluate;
mod fit;
mod health;
mod history;
mod lr_find;
mod lr_finding;
mod progress;
mod telemetry;

pub use callback::{BatchInfo, Callback, OnDivergence, TrainContext};
pub use callbacks::{
    CsvLogger, EarlyStopping, LearningRateScheduler, Mode, ModelCheckpoint, TerminateOnNaN,
};
pub use config::FitConfig;
pub use diagnosis::{Diagnosis, Symptom};
pub use evaluate::Evaluation;
pub(crate) use fit::KeptSchedule;
pub use health::{EpochHealth, LayerHealth, SATURATION};
pub use history::{EpochRecord, History};
pub use lr_find::LrFindConfig;
pub use lr_finding::{LrFindStop, LrFinding, LrPoint, LrSuggestion, LrVerdict};
