//! Binary ops with broadcasting, and the moves between broadcast shapes (expand, sum_to,
//! permute).

use crate::buffer::{alloc, collect, filled};
use crate::strided::{is_trailing_block, walk};
use downhill_core::{BinaryOp, Result, Shape};

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
        // IEEE comparisons: false where either side is NaN, except `!=`.
        BinaryOp::Eq => |a, b| f32::from(a == b),
        BinaryOp::Ne => |a, b| f32::from(a != b),
        BinaryOp::Lt => |a, b| f32::from(a < b),
        BinaryOp::Le => |a, b| f32::from(a <= b),
        BinaryOp::Gt => |a, b| f32::from(a > b),
        BinaryOp::Ge => |a, b| f32::from(a >= b),
    }
}

/// `op(a, b)` broadcast to `out` (of `n` elements), as checked by
/// [`downhill_core::backend::check::binary`].
pub fn binary(
    op: BinaryOp,
    a: &[f32],
    sa: &Shape,
    b: &[f32],
    sb: &Shape,
    out: &Shape,
    n: usize,
) -> Result<Vec<f32>> {
    let f = binary_fn(op);
    let mut result = alloc("binary", n)?;
    if sa == out && sb == out {
        result.extend(a.iter().zip(b).map(|(&x, &y)| f(x, y)));
    } else if sa == out && is_trailing_block(sb, out) && !b.is_empty() {
        for row in a.chunks(b.len()) {
            result.extend(row.iter().zip(b).map(|(&x, &y)| f(x, y)));
        }
    } else if sb == out && is_trailing_block(sa, out) && !a.is_empty() {
        for row in b.chunks(a.len()) {
            result.extend(a.iter().zip(row).map(|(&x, &y)| f(x, y)));
        }
    } else {
        let (ta, tb) = (sa.broadcast_strides(out), sb.broadcast_strides(out));
        // `walk` visits the output in order: element `i` is the `i`-th push.
        walk(out, [&ta, &tb], |_, [ia, ib]| result.push(f(a[ia], b[ib])));
    }
    Ok(result)
}

/// Broadcasts `x` of shape `from` to `to` (of `n` elements).
pub fn expand(x: &[f32], from: &Shape, to: &Shape, n: usize) -> Result<Vec<f32>> {
    let mut out = alloc("expand", n)?;
    if is_trailing_block(from, to) && !x.is_empty() {
        while out.len() < n {
            let take = (n - out.len()).min(x.len());
            out.extend_from_slice(&x[..take]);
        }
    } else {
        let strides = from.broadcast_strides(to);
        walk(to, [&strides], |_, [j]| out.push(x[j]));
    }
    Ok(out)
}

/// Sums `x` of shape `from` down to `to` (of `n` elements, broadcasting to `from`).
pub fn sum_to(x: &[f32], from: &Shape, to: &Shape, n: usize) -> Result<Vec<f32>> {
    // f64 accumulators: this is the reference, its error must stay far below the GPU's.
    let mut acc = filled("sum_to", n, 0.0f64)?;
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
    collect("sum_to", n, acc.iter().map(|&v| v as f32))
}

/// Output axis `i` is input axis `perm[i]`.
pub fn permute(x: &[f32], shape: &Shape, perm: &[usize]) -> Result<Vec<f32>> {
    let in_strides = shape.strides();
    let out_shape = Shape::new(perm.iter().map(|&p| shape.dims()[p]).collect::<Vec<_>>());
    let strides: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
    let mut out = alloc("permute", x.len())?;
    walk(&out_shape, [&strides], |_, [j]| out.push(x[j]));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_and_general_paths_agree() {
        let out = Shape::new([2, 3]);
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let bias = [10.0, 20.0, 30.0];
        let fast = binary(BinaryOp::Add, &a, &out, &bias, &Shape::new([3]), &out, 6).unwrap();
        let general = binary(BinaryOp::Add, &a, &out, &bias, &Shape::new([1, 3]), &out, 6).unwrap();
        assert_eq!(fast, vec![11.0, 22.0, 33.0, 14.0, 25.0, 36.0]);
        assert_eq!(fast, general);
    }

    #[test]
    fn sum_to_inverts_expand_counts() {
        let from = Shape::new([2, 3]);
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let col = sum_to(&x, &from, &Shape::new([2, 1]), 2).unwrap();
        assert_eq!(col, vec![6.0, 15.0]);
        let row = sum_to(&x, &from, &Shape::new([3]), 3).unwrap();
        assert_eq!(row, vec![5.0, 7.0, 9.0]);
    }

    #[test]
    fn expand_repeats_blocks_and_strides() {
        let x = [1.0, 2.0];
        let rows = expand(&x, &Shape::new([2]), &Shape::new([3, 2]), 6).unwrap();
        assert_eq!(rows, vec![1.0, 2.0, 1.0, 2.0, 1.0, 2.0]);
        let cols = expand(&x, &Shape::new([2, 1]), &Shape::new([2, 3]), 6).unwrap();
        assert_eq!(cols, vec![1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
    }

    #[test]
    fn permute_transposes() {
        let t = permute(
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            &Shape::new([2, 3]),
            &[1, 0],
        )
        .unwrap();
        assert_eq!(t, vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }
}
