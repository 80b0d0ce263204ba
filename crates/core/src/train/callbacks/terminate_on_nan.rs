//! `TerminateOnNaN`: a diverging run ends quietly with its history instead of an error.

use crate::train::callback::{Callback, OnDivergence};

/// Keras' `TerminateOnNaN`: when a step's loss or gradient turns NaN or infinite, `fit`
/// stops and returns `Ok(history)` (the failing epoch's record included, the reason in
/// `History::stop_reason`) instead of `Error::Diverged`.
#[derive(Clone, Debug, Default)]
pub struct TerminateOnNaN;

impl Callback for TerminateOnNaN {
    fn on_divergence(&mut self, _reason: &str) -> OnDivergence {
        OnDivergence::Stop
    }
}
