//! Broadcasting and axis reordering: walking an output shape while reading inputs through
//! per-axis strides (0 along broadcast axes).

use downhill_core::Shape;

/// Calls `f(out_index, in_offsets)` for every element of `shape` in row-major order, where
/// `in_offsets[j]` is the element offset into input `j` read through `strides[j]`.
pub fn walk<const N: usize>(
    shape: &Shape,
    strides: [&[usize]; N],
    mut f: impl FnMut(usize, [usize; N]),
) {
    let dims = shape.dims();
    let total = shape.numel();
    if total == 0 {
        return;
    }
    let rank = dims.len();
    let mut counter = vec![0usize; rank];
    let mut offsets = [0usize; N];
    for out in 0..total {
        f(out, offsets);
        // Advance the odometer from the innermost axis, updating offsets incrementally.
        for axis in (0..rank).rev() {
            counter[axis] += 1;
            for j in 0..N {
                offsets[j] += strides[j][axis];
            }
            if counter[axis] < dims[axis] {
                break;
            }
            for j in 0..N {
                offsets[j] -= strides[j][axis] * dims[axis];
            }
            counter[axis] = 0;
        }
    }
}

/// Whether `small` broadcast to `out` just repeats it as the trailing block (e.g. a bias
/// `[n]` added to `[m, n]`), so a chunked loop can replace the strided walk.
pub fn is_trailing_block(small: &Shape, out: &Shape) -> bool {
    let d = small.dims();
    let o = out.dims();
    let lead = o.len() - d.len().min(o.len());
    d.len() <= o.len() && d.iter().zip(&o[lead..]).all(|(a, b)| a == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_reads_broadcast_offsets() {
        let out = Shape::new([2, 3]);
        let col = Shape::new([2, 1]).broadcast_strides(&out);
        let mut seen = Vec::new();
        walk(&out, [&col], |i, [o]| seen.push((i, o)));
        assert_eq!(seen, vec![(0, 0), (1, 0), (2, 0), (3, 1), (4, 1), (5, 1)]);
    }

    #[test]
    fn trailing_blocks() {
        assert!(is_trailing_block(&Shape::new([3]), &Shape::new([4, 3])));
        assert!(is_trailing_block(&Shape::new([4, 3]), &Shape::new([4, 3])));
        assert!(!is_trailing_block(&Shape::new([4, 1]), &Shape::new([4, 3])));
    }
}
