//! The digits CNN of issue 9, `examples/cnn_digits.rs`'s model, included by `#[path]` in
//! that example, its test (`tests/real_networks.rs`) and its benchmark
//! (`benches/workloads/w5_cnn.rs`), so that the three run the same network.

use downhill::prelude::*;
use downhill::{BatchNorm2d, Conv2d, Dropout, Flatten, MaxPool2d, Padding};

/// `[N, 64] -> logits [N, 10]`: Reshape to `[N, 1, 8, 8]`, two 3×3 same-padded
/// convolutions (16 and 32 channels) each followed by BatchNorm2d, ReLU and 2×2 max
/// pooling, then Flatten, Dense 128->64 ReLU, Dropout 0.25 and Dense 64->10.
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
