//! The digits of issue 9's networks, scaled and split, and `examples/cnn_digits.rs`'s CNN,
//! included by `#[path]` in the examples `cnn_digits`, `deep_sigmoid` and `optimizers`, their
//! tests (`tests/real_networks.rs`, `tests/optimizers_example.rs`) and the W5 benchmark
//! (`benches/workloads/w5_cnn.rs`), so that all of them run the same data and network.

#![allow(dead_code)] // each includer uses what it needs

use downhill::data::{digits, Split};
use downhill::prelude::*;
use downhill::{BatchNorm2d, Conv2d, Dropout, Flatten, MaxPool2d, Padding};

/// The 1,797 8×8 digits with pixels scaled from 0..16 to [0, 1], split 80/20 (seeded,
/// stratified) into training and held-out sets.
pub fn split() -> downhill::Result<(Dataset, Dataset)> {
    let all = digits()?;
    let scaled = Dataset::new(all.x() / 16.0, all.y().clone())?;
    scaled.train_test_split(Split {
        test_size: 0.2,
        seed: 0,
        stratify: true,
    })
}

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
