//! Reductions along one axis of `[outer, len, inner]`, and softmax along rows. Sizes are
//! those checked by `downhill_core::backend::check` (products fit, lengths match).

use crate::buffer::{alloc, filled};
use downhill_core::nan::maximum;
use downhill_core::{ReduceDims, ReduceOp, Result};

pub fn reduce(op: ReduceOp, x: &[f32], d: ReduceDims) -> Result<Vec<f32>> {
    if d.outer * d.inner == 0 {
        return Ok(Vec::new()); // nothing to reduce into (a zero-sized axis elsewhere)
    }
    let mut out = alloc("reduce", d.outer * d.inner)?;
    let block_len = d.len * d.inner;
    match op {
        ReduceOp::Sum | ReduceOp::Mean => {
            // f64 sums, one row of them reused for every block.
            let mut acc = filled("reduce", d.inner, 0.0f64)?;
            let scale = if op == ReduceOp::Mean {
                1.0 / d.len as f64
            } else {
                1.0
            };
            for o in 0..d.outer {
                let block = &x[o * block_len..(o + 1) * block_len];
                acc.fill(0.0);
                for row in block.chunks(d.inner) {
                    for (a, &v) in acc.iter_mut().zip(row) {
                        *a += v as f64;
                    }
                }
                out.extend(acc.iter().map(|&a| (a * scale) as f32));
            }
        }
        ReduceOp::Max => {
            // (The check refuses a maximum over an empty axis: every block has a row.)
            for o in 0..d.outer {
                let block = &x[o * block_len..(o + 1) * block_len];
                let start = out.len();
                out.extend_from_slice(&block[..d.inner]);
                let best = &mut out[start..];
                for row in block.chunks(d.inner).skip(1) {
                    for (b, &v) in best.iter_mut().zip(row) {
                        *b = maximum(*b, v); // NaN wins, as in PyTorch
                    }
                }
            }
        }
    }
    Ok(out)
}

/// `dy` routed to the first position along the axis that holds the maximum `y` (the first
/// NaN when the maximum is NaN).
pub fn max_backward(x: &[f32], y: &[f32], dy: &[f32], d: ReduceDims) -> Result<Vec<f32>> {
    let mut dx = filled("max_backward", x.len(), 0.0)?;
    if x.is_empty() {
        return Ok(dx);
    }
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
    Ok(dx)
}

/// Softmax or log-softmax of each row of `[rows, cols]`, shifted by the row maximum. A NaN
/// or +inf in a row makes the whole row NaN (NaN − max, inf − inf), as in PyTorch.
pub fn softmax(x: &[f32], cols: usize, log: bool) -> Result<Vec<f32>> {
    if cols == 0 {
        return Ok(Vec::new());
    }
    let mut out = alloc("softmax", x.len())?;
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
    Ok(out)
}

/// softmax: `dx = y·(dy - Σ dy·y)`; log-softmax: `dx = dy - e^y · Σ dy`.
pub fn softmax_backward(y: &[f32], dy: &[f32], cols: usize, log: bool) -> Result<Vec<f32>> {
    if cols == 0 {
        return Ok(Vec::new());
    }
    let mut dx = alloc("softmax_backward", y.len())?;
    for (yr, dr) in y.chunks(cols).zip(dy.chunks(cols)) {
        if log {
            let total: f64 = dr.iter().map(|&v| v as f64).sum();
            dx.extend(yr.iter().zip(dr).map(|(&y, &d)| d - y.exp() * total as f32));
        } else {
            let dot: f64 = yr.iter().zip(dr).map(|(&y, &d)| (y * d) as f64).sum();
            dx.extend(yr.iter().zip(dr).map(|(&y, &d)| y * (d - dot as f32)));
        }
    }
    Ok(dx)
}
