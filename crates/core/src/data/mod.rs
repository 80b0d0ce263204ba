//! Data: checked in-memory data sets and the batching plans of the three descent modes;
//! loading CSV and MNIST's IDX files; splitting and scaling; the data sets that ship with
//! downhill ([`digits`]).

mod batches;
mod csv;
mod dataset;
mod datasets;
mod idx;
mod scale;
mod split;

pub use batches::{BatchPlan, Batching};
pub use csv::{Column, CsvOptions};
pub use dataset::Dataset;
pub use datasets::{digits, DIGITS_PIXELS};
pub use idx::{read_idx, read_idx_images, read_idx_labels, Idx};
pub use scale::{MinMaxScaler, StandardScaler};
pub use split::{train_test_split, Split, SplitArrays};
