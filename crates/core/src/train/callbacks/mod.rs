//! The callbacks Keras users reach for first.

mod csv_logger;
mod early_stopping;
mod terminate_on_nan;

pub use csv_logger::CsvLogger;
pub use early_stopping::{EarlyStopping, Mode};
pub use terminate_on_nan::TerminateOnNaN;
