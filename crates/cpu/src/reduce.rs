//! Reductions along one axis of `[outer, len, inner]`, and softmax along rows.

use downhill_core::nan::maximum;
use downhill_core::{ReduceDims, ReduceOp};

pub fn reduce(op: ReduceOp, x: &[f32], d: ReduceDims) -> Vec<f32> {
    if d.outer * d.inner == 0 {
        return Vec::new(); // nothing to reduce into (a zero-sized axis elsewhere)
    }
    let mut out = Vec::with_capacity(d.outer * d.inner);
    for o in 0..d.outer {
        let block = &x[o * d.len * d.inner..(o + 1) * d.len * d.inner];
        match op {
            ReduceOp::Sum | ReduceOp::Mean => {
                let mut acc = vec![0.0f64; d.inner];
                for row in block.chunks(d.inner) {
                    for (a, &v) in acc.iter_mut().zip(row) {
                        *a += v as f64;
                    }
                }
                let scale = if op == ReduceOp::Mean {
                    1.0 / d.len as f64
                } else {
                    1.0
                };
                out.extend(acc.into_iter().map(|a| (a * scale) as f32));
            }
            ReduceOp::Max => {
                let mut best = block[..d.inner].to_vec();
                for row in block.chunks(d.inner).skip(1) {
                    for (b, &v) in best.iter_mut().zip(row) {
                        *b = maximum(*b, v); // NaN wins, as in PyTorch
                    }
                }
                out.extend(best);
            }
        }
    }
    out
}

/// `dy` routed to the first position along the axis that holds the maximum `y` (the first
/// NaN when the maximum is NaN).
pub fn max_backward(x: &[f32], y: &[f32], dy: &[f32], d: ReduceDims) -> Vec<f32> {
    let mut dx = vec![0.0; x.len()];
    for o in 0..d.outer {
        for i in 0..d.inner {
            let target = y[o * d.inner + i];
            let hit = (0..d.len)
                .map(|l| (o * d.len + l) * d.inner + i)
                .find(|&k| x[k] == target || (target.is_nan() && x[k].is_nan()));
            if let Some(k) = hit {
                dx[k] = dy[o * d.inner + i];
            }
        }
    }
    dx
}

/// Softmax or log-softmax of each row of `[rows, cols]`, shifted by the row maximum. A NaN
/// or +inf in a row makes the whole row NaN (NaN − max, inf − inf), as in PyTorch.
pub fn softmax(x: &[f32], cols: usize, log: bool) -> Vec<f32> {
    if cols == 0 {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks(cols) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, maximum);
        let sum: f64 = row.iter().map(|&v| ((v - max).exp()) as f64).sum();
        if log {
            let log_sum = sum.ln() as f32;
            out.extend(row.iter().map(|&v| v - max - log_sum));
        } else {
            out.extend(row.iter().map(|&v| ((v - max).exp() as f64 / sum) as f32));
        }
    }
    out
}

/// softmax: `dx = y·(dy - Σ dy·y)`; log-softmax: `dx = dy - e^y · Σ dy`.
pub fn softmax_backward(y: &[f32], dy: &[f32], cols: usize, log: bool) -> Vec<f32> {
    if cols == 0 {
        return Vec::new();
    }
    let mut dx = Vec::with_capacity(y.len());
    for (yr, dr) in y.chunks(cols).zip(dy.chunks(cols)) {
        if log {
            let total: f64 = dr.iter().map(|&v| v as f64).sum();
            dx.extend(yr.iter().zip(dr).map(|(&y, &d)| d - y.exp() * total as f32));
        } else {
            let dot: f64 = yr.iter().zip(dr).map(|(&y, &d)| (y * d) as f64).sum();
            dx.extend(yr.iter().zip(dr).map(|(&y, &d)| y * (d - dot as f32)));
        }
    }
    dx
}
