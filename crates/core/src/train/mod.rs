//! Keras-style training: `fit`, `evaluate` and `predict` on a [`crate::nn::Sequential`],
//! with callbacks, progress and a per-epoch history.

mod accumulators;
pub mod callback;
pub mod callbacks;
mod checks;
mod config;
mod divergence;
mod evaluate;
mod fit;
mod history;
mod progress;

pub use callback::{BatchInfo, Callback, OnDivergence, TrainContext};
pub use callbacks::{
    CsvLogger, EarlyStopping, LearningRateScheduler, Mode, ModelCheckpoint, TerminateOnNaN,
};
pub use config::FitConfig;
pub use evaluate::Evaluation;
pub(crate) use fit::KeptSchedule;
pub use history::{EpochRecord, History};
