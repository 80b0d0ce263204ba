//! Data: checked in-memory data sets and the batching plans of the three descent modes.

mod batches;
mod dataset;

pub use batches::{BatchPlan, Batching};
pub use dataset::Dataset;
