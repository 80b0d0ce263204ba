//! Reading an epoch's gradient health ([`EpochHealth`]) as the classic troubles of gradient
//! descent, each with what to try. The thresholds are the constants below; `fit` prints a
//! diagnosis the first time it applies in a run (verbose ≥ 1) and keeps every one in
//! `History::diagnoses`.

use super::health::{EpochHealth, LayerHealth};
use super::History;
use serde::{Deserialize, Serialize};

/// Vanishing: a layer's gradient norm is below this fraction of the largest one of a layer
/// after it (nearer the output).
pub const VANISHING_RATIO: f32 = 1e-3;
/// Exploding: a layer's gradient norm is above this multiple of the smallest one of a
/// layer after it (gradients grow on the way to the input)...
pub const EXPLODING_RATIO: f32 = 1e3;
/// ...or a layer's gradient norm is above this multiple of its weight norm (one step at any
/// usual rate would move the weights far beyond their size)...
pub const EXPLODING_GRADIENT_TO_WEIGHT: f32 = 1e3;
/// ...or the largest gradient norm grew by this factor since the run's first epoch.
pub const EXPLODING_GROWTH: f32 = 1e2;
/// Dead ReLUs: at least this fraction of a layer's units output 0 on every row of an epoch.
pub const DEAD_FRACTION: f32 = 0.5;
/// Saturation: at least this fraction of a hidden sigmoid or tanh layer's outputs lie in
/// the flat tails ([`super::SATURATION`]).
pub const SATURATED_FRACTION: f32 = 0.5;
/// Learning rate too high: the epoch's first step moves a layer's weights by at least this
/// fraction of their norm (the rule of thumb is about 1e-3; Adam at its default rate on a
/// small net gives about 1e-2).
pub const UPDATE_RATIO_HIGH: f32 = 1e-1;
/// Learning rate too low: the epoch's first step moves every layer's weights by less than
/// this fraction of their norm.
pub const UPDATE_RATIO_LOW: f32 = 1e-5;

/// Which trouble a diagnosis names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Symptom {
    /// Gradients shrink by orders of magnitude on their way to the input.
    VanishingGradients,
    /// Gradients grow by orders of magnitude on the way to the input, grow over the run,
    /// or are not finite.
    ExplodingGradients,
    /// ReLU units that output 0 for every input no longer learn.
    DeadRelus,
    /// Sigmoid or tanh outputs stuck in the flat tails pass almost no gradient.
    Saturation,
    /// Updates too large for the weights.
    LearningRateTooHigh,
    /// Updates too small to move the weights.
    LearningRateTooLow,
}

/// One diagnosis of one epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// The epoch whose health showed it.
    pub epoch: usize,
    /// What it is.
    pub symptom: Symptom,
    /// The layer it is about (its index in the model), if one.
    pub layer: Option<usize>,
    /// What was seen and what to try, e.g. `vanishing gradients: layer 0's gradient norm
    /// is 3.1e-9 of layer 19's; ...`.
    pub message: String,
}

fn grad(l: &LayerHealth) -> Option<f32> {
    l.grad_norm
}

/// The diagnoses of `health`; `first` is the run's first recorded epoch (for growth).
pub fn diagnose(health: &EpochHealth, first: Option<&EpochHealth>) -> Vec<Diagnosis> {
    let epoch = health.epoch;
    let found = |symptom, layer, message: String| Diagnosis {
        epoch,
        symptom,
        layer,
        message,
    };
    let mut out = Vec::new();
    let layers = &health.layers;
    let with_grad: Vec<(&LayerHealth, f32)> = layers
        .iter()
        .filter_map(|l| grad(l).map(|g| (l, g)))
        .collect();
    if let Some((l, g)) = with_grad.iter().find(|(_, g)| !g.is_finite()) {
        out.push(found(
            Symptom::ExplodingGradients,
            Some(l.index),
            format!(
                "exploding gradients: layer {}'s gradient norm is {g}; clip gradients \
                 (GradClip::Norm(1.0)) or lower the learning rate",
                l.index
            ),
        ));
    }
    let huge = with_grad.iter().find_map(|&(l, g)| {
        let w = l.weight_norm.filter(|&w| w > 0.0)?;
        (g / w > EXPLODING_GRADIENT_TO_WEIGHT).then_some((l.index, g, g / w))
    });
    if let Some((i, g, r)) = huge.filter(|_| out.is_empty()) {
        out.push(found(
            Symptom::ExplodingGradients,
            Some(i),
            format!(
                "exploding gradients: layer {i}'s gradient norm {g:.2e} is {r:.1e}× its weight \
                 norm; scale the inputs and targets, initialise the weights smaller \
                 (Glorot/He), clip gradients (GradClip::Norm(1.0)) or add batch norm"
            ),
        ));
    }
    // The most extreme pair (earlier layer, a later layer) each way.
    // (ratio, earlier layer, later layer)
    type Pair = Option<(f32, usize, usize)>;
    let (mut low, mut high): (Pair, Pair) = (None, None);
    for (i, &(a, ga)) in with_grad.iter().enumerate() {
        for &(b, gb) in &with_grad[i + 1..] {
            if !(gb > 0.0 && gb.is_finite() && ga.is_finite()) {
                continue;
            }
            let ratio = ga / gb;
            if low.is_none_or(|(r, ..)| ratio < r) {
                low = Some((ratio, a.index, b.index));
            }
            if high.is_none_or(|(r, ..)| ratio > r) {
                high = Some((ratio, a.index, b.index));
            }
        }
    }
    if let Some((r, a, b)) = low.filter(|&(r, ..)| r < VANISHING_RATIO) {
        out.push(found(
            Symptom::VanishingGradients,
            Some(a),
            format!(
                "vanishing gradients: layer {a}'s gradient norm is {r:.1e} of layer {b}'s; \
                 the layers near the input barely learn. Try ReLU with He initialisation, \
                 batch norm, residual connections or a shallower net"
            ),
        ));
    }
    // One exploding diagnosis an epoch: the first of its four signs that shows.
    let exploding =
        |out: &Vec<Diagnosis>| out.iter().any(|d| d.symptom == Symptom::ExplodingGradients);
    if let Some((r, a, b)) = high.filter(|&(r, ..)| r > EXPLODING_RATIO && !exploding(&out)) {
        out.push(found(
            Symptom::ExplodingGradients,
            Some(a),
            format!(
                "exploding gradients: layer {a}'s gradient norm is {r:.1e}× layer {b}'s; \
                 initialise the weights smaller (Glorot/He), clip gradients \
                 (GradClip::Norm(1.0)) or add batch norm"
            ),
        ));
    }
    let largest = |h: &EpochHealth| {
        h.layers
            .iter()
            .filter_map(grad)
            .filter(|g| g.is_finite())
            .fold(None, |m: Option<f32>, g| Some(m.map_or(g, |m| m.max(g))))
    };
    if let (Some(now), Some(then)) = (largest(health), first.and_then(largest)) {
        if then > 0.0 && now / then > EXPLODING_GROWTH && !exploding(&out) {
            out.push(found(
                Symptom::ExplodingGradients,
                None,
                format!(
                    "exploding gradients: the largest layer gradient norm grew {:.1e}× since \
                     epoch {} ({then:.2e} → {now:.2e}); lower the learning rate or clip \
                     gradients (GradClip::Norm(1.0))",
                    now / then,
                    first.map_or(0, |f| f.epoch)
                ),
            ));
        }
    }
    for l in layers {
        if let Some(d) = l.dead_fraction.filter(|&d| d >= DEAD_FRACTION) {
            out.push(found(
                Symptom::DeadRelus,
                Some(l.index),
                format!(
                    "dead ReLUs: {:.0} % of layer {}'s units output 0 on every row; lower \
                     the learning rate, use LeakyReLU or GELU, or initialise with He",
                    100.0 * d,
                    l.index
                ),
            ));
        }
    }
    let last = layers.iter().map(|l| l.index).max();
    for l in layers.iter().filter(|l| Some(l.index) != last) {
        if let Some(s) = l.saturated_fraction.filter(|&s| s >= SATURATED_FRACTION) {
            out.push(found(
                Symptom::Saturation,
                Some(l.index),
                format!(
                    "saturation: {:.0} % of layer {}'s outputs are in the flat tails, where \
                     they pass almost no gradient; scale the inputs, initialise smaller \
                     (Glorot), add batch norm or use ReLU",
                    100.0 * s,
                    l.index
                ),
            ));
        }
    }
    let ratios: Vec<(usize, f32)> = layers
        .iter()
        .filter_map(|l| l.update_ratio.map(|r| (l.index, r)))
        .collect();
    if let Some(&(i, r)) = ratios
        .iter()
        .filter(|(_, r)| r.is_finite())
        .max_by(|a, b| a.1.total_cmp(&b.1))
    {
        if r >= UPDATE_RATIO_HIGH {
            out.push(found(
                Symptom::LearningRateTooHigh,
                Some(i),
                format!(
                    "update/weight ratio {r:.1e} at layer {i}: the learning rate is likely \
                     too high (the rule of thumb is about 1e-3); try it 10× lower"
                ),
            ));
        } else if r < UPDATE_RATIO_LOW {
            out.push(found(
                Symptom::LearningRateTooLow,
                Some(i),
                format!(
                    "update/weight ratio at most {r:.1e} (layer {i}): the learning rate is \
                     likely too low (the rule of thumb is about 1e-3); try it 10× higher \
                     or run lr_find"
                ),
            ));
        }
    }
    out
}

/// Keeps an epoch's health in `history` with its diagnoses that are new to the history
/// (each symptom of each layer once); returns those.
pub(super) fn record(health: EpochHealth, history: &mut History) -> &[Diagnosis] {
    let found = diagnose(&health, history.health.first());
    let before = history.diagnoses.len();
    for d in found {
        let known = history
            .diagnoses
            .iter()
            .any(|k| k.symptom == d.symptom && k.layer == d.layer);
        if !known {
            history.diagnoses.push(d);
        }
    }
    history.health.push(health);
    &history.diagnoses[before..]
}
