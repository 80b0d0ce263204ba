//! Binary ops with broadcasting, and the moves between broadcast shapes (expand, sum_to,
//! permute).

use crate::strided::{is_trailing_block, walk};
use downhill_core::{BinaryOp, Shape};

pub fn binary_fn(op: BinaryOp) -> fn(f32, f32) -> f32 {
    match op {
        BinaryOp::Add => |a, b| a + b,
        BinaryOp::Sub => |a, b| a - b,
        BinaryOp::Mul => |a, b| a * b,
        BinaryOp::Div => |a, b| a / b,
        BinaryOp::Pow => f32::powf,
        BinaryOp::PowGradBase => |a, b| if b == 0.0 { 0.0 } else { b * a.powf(b - 1.0) },
        BinaryOp::PowGradExponent => |a, b| {
            if a == 0.0 && b >= 0.0 {
                0.0
            } else {
                a.powf(b) * a.ln()
            }
        },
    }
}

/// `op(a, b)` broadcast to `out`.
pub fn binary(op: BinaryOp, a: &[f32], sa: &Shape, b: &[f32], sb: &Shape, out: &Shape) -> Vec<f32> {
    let f = binary_fn(op);
    let n = out.numel();
    if sa == out && sb == out {
        return a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect();
    }
    if sa == out && is_trailing_block(sb, out) && !b.is_empty() {
        return a
            .chunks(b.len())
            .flat_map(|row| row.iter().zip(b).map(|(&x, &y)| f(x, y)))
            .collect();
    }
    if sb == out && is_trailing_block(sa, out) && !a.is_empty() {
        return b
            .chunks(a.len())
            .flat_map(|row| a.iter().zip(row).map(|(&x, &y)| f(x, y)))
            .collect();
    }
    let (ta, tb) = (sa.broadcast_strides(out), sb.broadcast_strides(out));
    let mut result = vec![0.0; n];
    walk(out, [&ta, &tb], |i, [ia, ib]| result[i] = f(a[ia], b[ib]));
    result
}

/// Broadcasts `x` of shape `from` to `to`.
pub fn expand(x: &[f32], from: &Shape, to: &Shape) -> Vec<f32> {
    if is_trailing_block(from, to) && !x.is_empty() {
        return x.iter().copied().cycle().take(to.numel()).collect();
    }
    let strides = from.broadcast_strides(to);
    let mut out = vec![0.0; to.numel()];
    walk(to, [&strides], |i, [j]| out[i] = x[j]);
    out
}

/// Sums `x` of shape `from` down to `to` (which broadcasts to `from`).
pub fn sum_to(x: &[f32], from: &Shape, to: &Shape) -> Vec<f32> {
    let n = to.numel();
    // f64 accumulators: this is the reference, its error must stay far below the GPU's.
    let mut acc = vec![0.0f64; n];
    if is_trailing_block(to, from) && n > 0 {
        for row in x.chunks(n) {
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += v as f64;
            }
        }
    } else {
        let strides = to.broadcast_strides(from);
        walk(from, [&strides], |i, [j]| acc[j] += x[i] as f64);
    }
    acc.into_iter().map(|v| v as f32).collect()
}

/// Output axis `i` is input axis `perm[i]`.
pub fn permute(x: &[f32], shape: &Shape, perm: &[usize]) -> Vec<f32> {
    let in_strides = shape.strides();
    let out_shape = Shape::new(perm.iter().map(|&p| shape.dims()[p]).collect::<Vec<_>>());
    let strides: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
    let mut out = vec![0.0; x.len()];
    walk(&out_shape, [&strides], |i, [j]| out[i] = x[j]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_and_general_paths_agree() {
        let out = Shape::new([2, 3]);
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let bias = [10.0, 20.0, 30.0];
        let fast = binary(BinaryOp::Add, &a, &out, &bias, &Shape::new([3]), &out);
        let general = binary(BinaryOp::Add, &a, &out, &bias, &Shape::new([1, 3]), &out);
        assert_eq!(fast, vec![11.0, 22.0, 33.0, 14.0, 25.0, 36.0]);
        assert_eq!(fast, general);
    }

    #[test]
    fn sum_to_inverts_expand_counts() {
        let from = Shape::new([2, 3]);
        let col = sum_to(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &from, &Shape::new([2, 1]));
        assert_eq!(col, vec![6.0, 15.0]);
        let row = sum_to(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &from, &Shape::new([3]));
        assert_eq!(row, vec![5.0, 7.0, 9.0]);
    }

    #[test]
    fn permute_transposes() {
        let t = permute(
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            &Shape::new([2, 3]),
            &[1, 0],
        );
        assert_eq!(t, vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }
}
