//! The callbacks Keras users reach for first. Keras' `ReduceLROnPlateau` is a schedule
//! here (`FitConfig::schedule(ReduceLROnPlateau::new())`, watching `schedule_monitor`).

mod csv_logger;
mod early_stopping;
mod lr_scheduler;
mod model_checkpoint;
mod terminate_on_nan;

pub use csv_logger::CsvLogger;
pub use early_stopping::{EarlyStopping, Mode};
pub use lr_scheduler::LearningRateScheduler;
pub use model_checkpoint::ModelCheckpoint;
pub use terminate_on_nan::TerminateOnNaN;
