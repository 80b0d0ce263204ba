//! Seeded random numbers: the same seed gives the same values on every machine and backend.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A portable seeded generator (ChaCha8) with the few draws training needs.
pub struct SeededRng(ChaCha8Rng);

impl SeededRng {
    /// A generator whose draws are fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        SeededRng(ChaCha8Rng::seed_from_u64(seed))
    }

    /// Uniform in `[low, high)`.
    pub fn uniform(&mut self, low: f32, high: f32) -> f32 {
        low + (high - low) * self.0.random::<f32>()
    }

    /// Standard normal by Box–Muller (one of the pair; simplicity over speed, init only).
    pub fn normal(&mut self) -> f32 {
        let u1: f64 = 1.0 - self.0.random::<f64>(); // (0, 1]: ln is finite
        let u2: f64 = self.0.random::<f64>();
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    }

    /// A uniformly random permutation of `0..n` (Fisher–Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<u32> {
        let mut idx: Vec<u32> = (0..n as u32).collect();
        for i in (1..n).rev() {
            let j = self.0.random_range(0..=i);
            idx.swap(i, j);
        }
        idx
    }
}
