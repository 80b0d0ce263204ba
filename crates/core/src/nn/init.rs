//! Weight initialisers, as Keras defines them.

use crate::error::{Error, Result};
use crate::memory;
use crate::random::SeededRng;

/// Standard deviation of a standard normal cut at ±2 (0.87962566...).
const TRUNCATED_STD: f32 = 0.879_625_7;

/// How a weight matrix `[fan_in, fan_out]` is filled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// Keras' default: uniform in `±sqrt(6 / (fan_in + fan_out))`.
    GlorotUniform,
    /// For ReLU networks: uniform in `±sqrt(6 / fan_in)`.
    HeUniform,
    /// Keras' He normal: a normal truncated at two standard deviations, scaled so the
    /// result has standard deviation `sqrt(2 / fan_in)`.
    HeNormal,
    /// Every weight 0 (the default for biases).
    Zeros,
    /// Every weight the same value (useful for tests and lessons).
    Constant(f32),
}

impl Init {
    /// Fails unless the initialiser can only produce finite values (a constant of NaN or
    /// ±inf would start training from weights no gradient can fix).
    pub fn validate(&self, what: &str) -> Result<()> {
        match *self {
            Init::Constant(c) if !c.is_finite() => Err(Error::NonFinite(format!(
                "{what}: Init::Constant({c}) is not a finite value"
            ))),
            _ => Ok(()),
        }
    }

    /// `fan_in · fan_out` values from `seed`; the host memory is checked and reserved
    /// before any is written, so an impossible size is [`Error::TooLarge`].
    pub fn sample(&self, fan_in: usize, fan_out: usize, seed: u64) -> Result<Vec<f32>> {
        let shape = crate::shape::Shape::new([fan_in, fan_out]);
        let n = shape.elements("init")?;
        let what = format!("initialising shape {shape}");
        let mut rng = SeededRng::new(seed);
        // Fans in f64: their sum cannot overflow.
        let fan = |f: f64| f.max(1.0);
        let uniform = |rng: &mut SeededRng, limit: f32| {
            memory::host_collect(
                &what,
                n,
                std::iter::repeat_with(|| rng.uniform(-limit, limit)),
            )
        };
        match *self {
            Init::GlorotUniform => uniform(
                &mut rng,
                (6.0 / fan(fan_in as f64 + fan_out as f64)).sqrt() as f32,
            ),
            Init::HeUniform => uniform(&mut rng, (6.0 / fan(fan_in as f64)).sqrt() as f32),
            Init::HeNormal => {
                let scale = (2.0 / fan(fan_in as f64)).sqrt() as f32 / TRUNCATED_STD;
                memory::host_collect(
                    what,
                    n,
                    std::iter::repeat_with(|| loop {
                        let z = rng.normal();
                        if z.abs() <= 2.0 {
                            break scale * z;
                        }
                    }),
                )
            }
            Init::Zeros => memory::host_collect(&what, n, std::iter::repeat(0.0)),
            Init::Constant(c) => memory::host_collect(&what, n, std::iter::repeat(c)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glorot_stays_within_its_limit_and_fills_it() {
        let w = Init::GlorotUniform.sample(20, 64, 7).unwrap();
        let limit = (6.0f32 / 84.0).sqrt();
        assert!(w.iter().all(|v| v.abs() <= limit));
        let max = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(max > 0.9 * limit, "max {max} vs limit {limit}");
    }

    #[test]
    fn he_normal_is_truncated_with_the_right_spread() {
        let fan_in = 50;
        let w = Init::HeNormal.sample(fan_in, 400, 3).unwrap();
        let target = (2.0f32 / fan_in as f32).sqrt();
        assert!(w
            .iter()
            .all(|v| v.abs() <= 2.0 * target / TRUNCATED_STD + 1e-6));
        let var = w.iter().map(|v| v * v).sum::<f32>() / w.len() as f32;
        assert!(
            (var.sqrt() / target - 1.0).abs() < 0.02,
            "std {} vs {target}",
            var.sqrt()
        );
    }

    #[test]
    fn same_seed_same_weights() {
        assert_eq!(
            Init::HeNormal.sample(5, 3, 1).unwrap(),
            Init::HeNormal.sample(5, 3, 1).unwrap()
        );
        assert_ne!(
            Init::HeNormal.sample(5, 3, 1).unwrap(),
            Init::HeNormal.sample(5, 3, 2).unwrap()
        );
    }
}
