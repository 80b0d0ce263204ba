//! Saying why training diverged: what turned non-finite first (the loss or a gradient of a
//! step, or the validation loss), where, and what to try.
//!
//! The device records the first bad step itself (`Backend::track_step`, in the same
//! dispatch that sums the loss), so finding it costs no read-back; `fit` reads the record
//! every `FitConfig::check_every` steps and at the end of each epoch.

use crate::data::Dataset;
use crate::error::Divergence;

/// The steps `track_step` recorded in the first three sums: `[loss sum, first step with a
/// non-finite loss, first step with a non-finite gradient]`, steps as `u32` bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Flags {
    loss_step: u32,
    gradient_step: u32,
}

impl Flags {
    pub fn from_sums(sums: &[f32]) -> Flags {
        let bits = |i: usize| sums.get(i).map_or(0, |v| v.to_bits());
        Flags {
            loss_step: bits(1),
            gradient_step: bits(2),
        }
    }

    /// The first bad step and what was bad in it. A step computes its loss before its
    /// gradients, so when both went bad in the same step the loss came first.
    pub fn first(&self) -> Option<(u64, Divergence)> {
        match (self.loss_step, self.gradient_step) {
            (0, 0) => None,
            (l, g) if l != 0 && (g == 0 || l <= g) => Some((l.into(), Divergence::Loss)),
            (_, g) => Some((g.into(), Divergence::Gradient)),
        }
    }
}

/// Where a divergence happened, for the message.
pub(super) struct Place<'a> {
    pub epoch: usize,
    /// 1-based batch of the epoch, and the epoch's batch count.
    pub batch: usize,
    pub batches: usize,
    pub step: u64,
    pub lr: f32,
    /// The optimizer had taken no step before this one: no update can be to blame.
    pub before_any_update: bool,
    pub data: &'a Dataset,
}

fn largest_magnitude(data: &Dataset) -> f32 {
    data.x().iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

/// The message of `Error::Diverged` when the last update of a run wrote a non-finite value
/// that no later step's loss or gradient could reveal.
pub(super) fn parameter_reason(name: &str, value: f32, place: &Place) -> String {
    format!(
        "parameter {name} became {value} in the last update of training (step {}, epoch {}): \
         the update overflowed f32; the learning rate {} is likely too high",
        place.step, place.epoch, place.lr
    )
}

/// The message of `Error::Diverged`.
pub(super) fn reason(cause: Divergence, place: &Place, value: f32) -> String {
    let Place {
        epoch,
        batch,
        batches,
        step,
        lr,
        ..
    } = *place;
    let at = format!("at step {step} (epoch {epoch}, batch {batch}/{batches})");
    match cause {
        Divergence::Loss if place.before_any_update => format!(
            "the training loss was {value} {at}, before any parameter update: the forward pass \
             overflows f32 on this data (largest input magnitude {:e}); scale the inputs (e.g. \
             to mean 0 and standard deviation 1) or check the initial weights",
            largest_magnitude(place.data)
        ),
        Divergence::Loss => format!(
            "the training loss became {value} {at}: the run diverged; the learning rate {lr} \
             is likely too high (try it 10× lower, or clip gradients with GradClip::Norm)"
        ),
        Divergence::Gradient => format!(
            "a gradient became NaN or infinite {at} while that step's loss was still finite: \
             exploding gradients; clip them (GradClip::Norm(1.0)), lower the learning rate \
             {lr}, or initialise the weights smaller"
        ),
        Divergence::Parameter => parameter_reason("?", value, place),
        Divergence::ValidationLoss => format!(
            "the validation loss was {value} after epoch {epoch} while training stayed finite: \
             the model's outputs overflow f32 on the validation data (its largest input \
             magnitude is {:e})",
            largest_magnitude(place.data)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums(loss_step: u32, gradient_step: u32) -> [f32; 3] {
        [
            0.0,
            f32::from_bits(loss_step),
            f32::from_bits(gradient_step),
        ]
    }

    #[test]
    fn the_earlier_step_wins_and_a_tie_is_the_loss() {
        assert_eq!(Flags::from_sums(&sums(0, 0)).first(), None);
        assert_eq!(
            Flags::from_sums(&sums(7, 0)).first(),
            Some((7, Divergence::Loss))
        );
        assert_eq!(
            Flags::from_sums(&sums(0, 3)).first(),
            Some((3, Divergence::Gradient))
        );
        assert_eq!(
            Flags::from_sums(&sums(9, 4)).first(),
            Some((4, Divergence::Gradient))
        );
        assert_eq!(
            Flags::from_sums(&sums(4, 4)).first(),
            Some((4, Divergence::Loss))
        );
        // Steps past f32's exact integers survive: they are bits, not values.
        let big = (1 << 24) + 1;
        assert_eq!(
            Flags::from_sums(&sums(big, 0)).first(),
            Some((big as u64, Divergence::Loss))
        );
    }
}
