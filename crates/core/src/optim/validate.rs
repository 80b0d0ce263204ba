//! Range checks shared by every optimizer configuration.

use crate::error::{Error, Result};

fn invalid(name: &'static str, value: f32, reason: &'static str) -> Error {
    Error::Hyperparameter {
        name,
        value,
        reason,
    }
}

/// Finite and `>= 0` (learning rates, weight decay, momentum, decays).
pub fn non_negative(name: &'static str, value: f32) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(invalid(name, value, "must be a finite number >= 0"))
    }
}

/// Finite and `> 0` (epsilons).
pub fn positive(name: &'static str, value: f32) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(invalid(name, value, "must be a finite number > 0"))
    }
}

/// In `[0, 1)` (betas, rho, alpha).
pub fn unit_interval(name: &'static str, value: f32) -> Result<()> {
    if (0.0..1.0).contains(&value) {
        Ok(())
    } else {
        Err(invalid(name, value, "must lie in [0, 1)"))
    }
}

/// In `[0, 1]` (dampening, RMSprop's alpha, Adadelta's rho, as PyTorch allows).
pub fn closed_unit_interval(name: &'static str, value: f32) -> Result<()> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(invalid(name, value, "must lie in [0, 1]"))
    }
}
