//! Metric statistics accumulated over an epoch (`Backend::accumulate_stats`): the
//! reference the GPU kernels are checked against.

use downhill_core::{AccuracyKind, MetricStats};

/// `counter += by` for a `u32` counter stored as an f32's bits.
fn bump(slot: &mut f32, by: u32) {
    *slot = f32::from_bits(slot.to_bits().wrapping_add(by));
}

/// The first maximum of a row; the first NaN counts as the maximum (`torch.argmax`, and
/// the kernel's rule), whatever the row's width.
fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (j, &v) in row.iter().enumerate() {
        let b = row[best];
        if !b.is_nan() && (v > b || v.is_nan()) {
            best = j;
        }
    }
    best
}

fn label(v: f32, classes: usize) -> Option<usize> {
    (v >= 0.0 && v.fract() == 0.0 && (v as usize) < classes).then_some(v as usize)
}

/// Adds the batch's statistics into `acc`.
pub fn accumulate(stats: MetricStats, pred: &[f32], target: &[f32], cols: usize, acc: &mut [f32]) {
    let rows = pred.len().checked_div(cols).unwrap_or(0);
    match stats {
        MetricStats::Confusion(AccuracyKind::Categorical) => {
            for (row, &t) in pred.chunks(cols.max(1)).zip(target) {
                if let Some(t) = label(t, cols) {
                    bump(&mut acc[t * cols + argmax(row)], 1);
                }
            }
        }
        MetricStats::Confusion(AccuracyKind::Binary { threshold }) => {
            for (&p, &t) in pred.iter().zip(target) {
                let (t, p) = (usize::from(t > 0.5), usize::from(p > threshold));
                bump(&mut acc[t * 2 + p], 1);
            }
        }
        MetricStats::TopK(k) => {
            for (row, &t) in pred.chunks(cols.max(1)).zip(target) {
                let Some(t) = label(t, cols) else { continue };
                let s = row[t];
                let above = row.iter().filter(|&&v| v > s).count();
                if row.iter().all(|v| v.is_finite()) && above < k as usize {
                    bump(&mut acc[0], 1);
                }
            }
        }
        MetricStats::Errors => {
            for c in 0..cols {
                let column = || (0..rows).map(|r| (pred[r * cols + c], target[r * cols + c]));
                // f64 within the batch; the merge below follows the kernels' f32 formula.
                let n_b = rows as f64;
                let mean_b = column().map(|(_, t)| t as f64).sum::<f64>() / n_b.max(1.0);
                let m2_b: f64 = column().map(|(_, t)| (t as f64 - mean_b).powi(2)).sum();
                let abs: f64 = column().map(|(p, t)| (p as f64 - t as f64).abs()).sum();
                let sq: f64 = column().map(|(p, t)| (p as f64 - t as f64).powi(2)).sum();
                let s = &mut acc[5 * c..5 * c + 5];
                merge(s, n_b as f32, mean_b as f32, m2_b as f32);
                s[3] += abs as f32;
                s[4] += sq as f32;
            }
        }
    }
}

/// Chan's parallel merge of a batch's `(count, mean, M2)` into `s[0..3]`.
pub fn merge(s: &mut [f32], n_b: f32, mean_b: f32, m2_b: f32) {
    let n_a = s[0];
    let n = n_a + n_b;
    if n == 0.0 {
        return;
    }
    let delta = mean_b - s[1];
    s[1] += delta * (n_b / n);
    s[2] += m2_b + delta * delta * (n_a * n_b / n);
    s[0] = n;
}
