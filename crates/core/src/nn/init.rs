//! Weight initialisers, as Keras defines them, plus PyTorch's `kaiming_uniform_` and
//! `uniform_` (the default of its convolutions).

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
    /// PyTorch's `kaiming_uniform_(a=a)` (leaky-ReLU gain `sqrt(2 / (1 + a²))`): uniform in
    /// `±gain·sqrt(3 / fan_in)`. `KaimingUniform(5f32.sqrt())` is the default of PyTorch's
    /// `Conv2d` and `Linear` weights, uniform in `±1 / sqrt(fan_in)`.
    KaimingUniform(f32),
    /// Uniform in `±limit` (`torch.nn.init.uniform_(-limit, limit)`).
    Uniform(f32),
}

impl Init {
    /// Fails unless the initialiser can only produce finite values (a constant of NaN or
    /// ±inf would start training from weights no gradient can fix).
    pub fn validate(&self, what: &str) -> Result<()> {
        match *self {
            Init::Constant(c) if !c.is_finite() => Err(Error::NonFinite(format!(
                "{what}: Init::Constant({c}) is not a finite value"
            ))),
            Init::KaimingUniform(a) | Init::Uniform(a) if !a.is_finite() => Err(Error::NonFinite(
                format!("{what}: {self:?} needs a finite parameter"),
            )),
            _ => Ok(()),
        }
    }

    /// `fan_in · fan_out` values from `seed`; the host memory is checked and reserved
    /// before any is written, so an impossible size is [`Error::TooLarge`].
    pub fn sample(&self, fan_in: usize, fan_out: usize, seed: u64) -> Result<Vec<f32>> {
        let shape = crate::shape::Shape::new([fan_in, fan_out]);
        let n = shape.elements("init")?;
        self.sample_fans(n, fan_in, fan_out, seed)
    }

    /// `len` values from `seed`, scaled for the given fans: a convolution's weight
    /// `[C_out, C_in / groups, KH, KW]` has `fan_in = C_in / groups · KH · KW` and
    /// `fan_out = C_out · KH · KW` (PyTorch's `_calculate_fan_in_and_fan_out`), not
    /// `fan_in · fan_out` elements. Memory is checked as in [`Init::sample`].
    pub fn sample_fans(
        &self,
        len: usize,
        fan_in: usize,
        fan_out: usize,
        seed: u64,
    ) -> Result<Vec<f32>> {
        let n = len;
        let what = format!("initialising {len} values (fan_in {fan_in}, fan_out {fan_out})");
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
            Init::KaimingUniform(a) => {
                let gain = (2.0 / (1.0 + a as f64 * a as f64)).sqrt();
                uniform(&mut rng, (gain * (3.0 / fan(fan_in as f64)).sqrt()) as f32)
            }
            Init::Uniform(limit) => uniform(&mut rng, limit),
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
    fn kaiming_uniform_with_sqrt5_is_pytorchs_default_bound() {
        let fan_in = 27;
        let w = Init::KaimingUniform(5f32.sqrt())
            .sample_fans(2000, fan_in, 48, 1)
            .unwrap();
        let limit = 1.0 / (fan_in as f32).sqrt();
        assert_eq!(w.len(), 2000);
        assert!(w.iter().all(|v| v.abs() <= limit * (1.0 + 1e-6)));
        let max = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(max > 0.95 * limit, "max {max} vs limit {limit}");
        let u = Init::Uniform(0.25).sample(10, 10, 2).unwrap();
        assert!(u.iter().all(|v| v.abs() <= 0.25) && u.iter().any(|v| v.abs() > 0.2));
        assert!(Init::KaimingUniform(f32::NAN).validate("w").is_err());
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
