//! The tolerances of batch norm and layer norm against the CPU (tests/norm_parity.rs
//! derives them in its module comment) or against an f64 reference
//! (tests/norm_reference.rs), computed from a case's data. The tolerances live in the library
//! (`downhill::doctor::tolerance`, shared with `downhill-doctor`) and are re-exported here.

#[allow(unused_imports)] // not every test file uses both
pub use downhill::doctor::tolerance::{norm_depth, norm_tolerances};

use downhill::prelude::*;

/// `n` seeded normal values (the library's generator, on the CPU).
pub fn normal(n: usize, mean: f32, std: f32, seed: u64) -> Vec<f32> {
    Tensor::rand_normal(&super::cpu(), [n], mean, std, seed)
        .unwrap()
        .to_vec()
        .unwrap()
}

/// `n` seeded values uniform in `[lo, hi)` (the library's generator, on the CPU).
pub fn uniform(n: usize, lo: f32, hi: f32, seed: u64) -> Vec<f32> {
    Tensor::rand_uniform(&super::cpu(), [n], lo, hi, seed)
        .unwrap()
        .to_vec()
        .unwrap()
}
