//! Fused losses, their gradients, and accuracy counts: the reference math.

use crate::buffer::{alloc, collect};
use crate::unary::sigmoid;
use downhill_core::nan::{argmax, maximum, minimum};
use downhill_core::{AccuracyKind, Error, LossKind, Result};

/// A label stored as f32 that must be a class index below `cols`.
fn label(v: f32, row: usize, cols: usize) -> Result<usize> {
    if v >= 0.0 && v.fract() == 0.0 && (v as usize) < cols {
        Ok(v as usize)
    } else {
        Err(Error::Config(format!(
            "cross_entropy: label {v} in row {row} is not a class in 0..{cols}"
        )))
    }
}

/// Log of the sum of exponentials of a row, shifted by its maximum (NaN if the row holds a
/// NaN or +inf, as PyTorch's log_softmax).
fn log_sum_exp(row: &[f32]) -> f64 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, maximum);
    let sum: f64 = row.iter().map(|&v| ((v - max) as f64).exp()).sum();
    max as f64 + sum.ln()
}

/// The mean loss (f64 accumulation).
pub fn loss(kind: LossKind, p: &[f32], t: &[f32], rows: usize, cols: usize) -> Result<f32> {
    let total: f64 = match kind {
        LossKind::Mse => p
            .iter()
            .zip(t)
            .map(|(&p, &t)| ((p - t) as f64).powi(2))
            .sum(),
        LossKind::BceProbs { eps } => p
            .iter()
            .zip(t)
            .map(|(&p, &t)| {
                let pc = p.clamp(eps, 1.0 - eps) as f64; // a NaN stays NaN
                -(t as f64 * pc.ln() + (1.0 - t as f64) * (1.0 - pc).ln())
            })
            .sum(),
        LossKind::BceLogits => p
            .iter()
            .zip(t)
            .map(|(&x, &t)| {
                // PyTorch's (1 − t)·x − log_sigmoid(x): +inf against t = 0 is +inf, against
                // t = 1 NaN (0·inf), −inf NaN.
                let x = x as f64;
                let log_sigmoid = minimum(x, 0.0) - (-x.abs()).exp().ln_1p();
                (1.0 - t as f64) * x - log_sigmoid
            })
            .sum(),
        LossKind::SoftmaxCrossEntropy => {
            let mut total = 0.0;
            // (`cols` > 0: the backend refuses an empty prediction.)
            for (r, row) in p.chunks(cols.max(1)).enumerate() {
                let k = label(t[r], r, cols)?;
                total += log_sum_exp(row) - row[k] as f64;
            }
            return Ok((total / rows as f64) as f32);
        }
    };
    Ok((total / (rows * cols) as f64) as f32)
}

/// `d loss / d pred`, times the upstream gradient `dl`.
pub fn loss_backward(
    kind: LossKind,
    p: &[f32],
    t: &[f32],
    dl: f32,
    rows: usize,
    cols: usize,
) -> Result<Vec<f32>> {
    let n = (rows * cols) as f32;
    let len = p.len();
    match kind {
        LossKind::Mse => collect(
            "loss_backward",
            len,
            p.iter().zip(t).map(|(&p, &t)| 2.0 * (p - t) / n * dl),
        ),
        LossKind::BceProbs { eps } => collect(
            "loss_backward",
            len,
            p.iter().zip(t).map(|(&p, &t)| {
                if p < eps || p > 1.0 - eps {
                    0.0 // the clamp is flat there
                } else {
                    (-(t / p) + (1.0 - t) / (1.0 - p)) / n * dl
                }
            }),
        ),
        LossKind::BceLogits => collect(
            "loss_backward",
            len,
            p.iter().zip(t).map(|(&x, &t)| (sigmoid(x) - t) / n * dl),
        ),
        LossKind::SoftmaxCrossEntropy => {
            let scale = dl / rows as f32;
            let mut grad = alloc("loss_backward", len)?;
            for (r, row) in p.chunks(cols.max(1)).enumerate() {
                let k = label(t[r], r, cols)?;
                let lse = log_sum_exp(row);
                grad.extend(row.iter().enumerate().map(|(j, &v)| {
                    let softmax = ((v as f64) - lse).exp() as f32;
                    (softmax - if j == k { 1.0 } else { 0.0 }) * scale
                }));
            }
            Ok(grad)
        }
    }
}

/// Correct predictions summed over rows; a row of several binary outputs counts the
/// fraction of them that are right (Keras' binary accuracy averages over the last axis).
pub fn correct_count(kind: AccuracyKind, p: &[f32], t: &[f32], cols: usize) -> f32 {
    match kind {
        AccuracyKind::Binary { threshold } => {
            let hits = p
                .iter()
                .zip(t)
                .filter(|(&p, &t)| (p > threshold) == (t > 0.5))
                .count();
            hits as f32 / cols as f32
        }
        // torch.argmax: a NaN counts as the largest score.
        AccuracyKind::Categorical => p
            .chunks(cols)
            .zip(t)
            .filter(|(row, &label)| argmax(row) as f32 == label)
            .count() as f32,
    }
}
