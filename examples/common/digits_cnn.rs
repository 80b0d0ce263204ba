//! The CNN of the `cnn_digits` example, shared word for word by the example, the W5
//! benchmark and `tests/real_networks.rs` (each includes this file with `#[path]`), so the
//! network the test holds to 98 % is the one the example prints and the benchmark times.
//!
//! ```text
//! [N, 64] -> Reshape [N, 1, 8, 8]
//!   -> Conv2d 1->16, 3×3 same -> BatchNorm2d -> ReLU -> MaxPool 2   [N, 16, 4, 4]
//!   -> Conv2d 16->32, 3×3 same -> BatchNorm2d -> ReLU -> MaxPool 2  [N, 32, 2, 2]
//!   -> Flatten -> Dense 128->64 relu -> Dropout 0.25 -> Dense 64->10 (logits)
//! ```

use downhill::data::{digits, Split};
use downhill::prelude::*;

/// The optimizer's learning rate (Adam).
pub const LEARNING_RATE: f32 = 2e-3;
/// Rows per training batch.
pub const BATCH: usize = 32;

/// The network, initialised from seed 1.
pub fn cnn(device: &Device) -> Sequential {
    Sequential::new(device)
        .seed(1)
        .layer(Reshape::new([1, 8, 8]))
        .layer(Conv2d::new(1, 16, 3).padding(Padding::Same))
        .layer(BatchNorm2d::new(16))
        .layer(Activation::Relu)
        .layer(MaxPool2d::new(2))
        .layer(Conv2d::new(16, 32, 3).padding(Padding::Same))
        .layer(BatchNorm2d::new(32))
        .layer(Activation::Relu)
        .layer(MaxPool2d::new(2))
        .layer(Flatten::new())
        .dense(128, 64, Activation::Relu)
        .layer(Dropout::new(0.25))
        .dense(64, 10, Activation::Linear)
}

/// The digits scaled to [0, 1], split 80/20, stratified, seed 0: `(train, test)`.
pub fn digits_split() -> downhill::Result<(Dataset, Dataset)> {
    let all = digits()?;
    let scaled = Dataset::new(all.x() / 16.0, all.y().clone())?;
    scaled.train_test_split(Split {
        test_size: 0.2,
        seed: 0,
        stratify: true,
    })
}
