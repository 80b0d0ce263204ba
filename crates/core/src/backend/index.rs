//! [`IndexOps`]: the backend methods behind region ops (narrow, pad, concat), indexing
//! (index_select, gather and their scatter-add backward), argmax/argmin and `where`, with
//! the argument check of each (called at the top of every implementation, as
//! [`check`](super::check) is for the core methods).
//!
//! Index tensors are f32 tensors holding integers (tensors are f32-only). An index that is
//! not an integer in `0..len` (negative, fractional, NaN, ±inf, too large) reads NaN in the
//! forward ops on both backends and receives no gradient in their backward: a kernel
//! cannot return an error, and a NaN reaches the loss where `fit`'s divergence watch
//! reports it (the same rule as `gather_rows`).

use super::check::{elements, len, shape as shape_count};
use super::{ReduceDims, Storage};
use crate::error::{Error, Result};
use crate::shape::Shape;

/// Which extreme [`IndexOps::arg_reduce`] finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgReduceOp {
    /// `torch.argmax`: the first position of the maximum, a NaN counting as the maximum.
    Max,
    /// `torch.argmin`: the first position of the minimum, a NaN counting as the minimum
    /// (NaN propagates through `torch.min`, and argmin points at it).
    Min,
}

/// The index an f32 holds, if it is an integer in `0..len` (the rule every index op of
/// both backends applies; see the module comment).
pub fn index_of(v: f32, len: usize) -> Option<usize> {
    // Finite, non-negative, integral and below 2^32 (WGSL's u32) before the cast.
    let valid = (0.0..4_294_967_296.0).contains(&v) && v.fract() == 0.0;
    let i = valid.then_some(v as u64)?;
    (i < len as u64).then_some(i as usize)
}

/// Region copies, indexing, arg-reductions and selection, forward and backward.
///
/// Every method is one bounded number of kernel dispatches on the GPU (no host
/// round-trip): `pad` one, `concat` one per part, the index ops one (their backward a
/// clear plus one: a deterministic scatter-add, one invocation per `(outer, inner)`
/// column adding the rows in index order, so results are bit-identical run to run and
/// between the backends), `arg_reduce` and `where_cond` one.
pub trait IndexOps {
    /// `x` of `shape` padded with `value` along each axis: `padding[d] = (before, after)`
    /// elements added before and after axis `d` (one pair per axis, outermost first). A
    /// negative amount removes elements instead, as in `torch.nn.functional.pad`, so this
    /// is also the crop behind `narrow` and the backward of both.
    fn pad(
        &self,
        x: &Storage,
        shape: &Shape,
        padding: &[(i64, i64)],
        value: f32,
    ) -> Result<Storage>;
    /// `torch.cat` of parts viewed as `[outer, lens[k], inner]` along the middle axis,
    /// giving `[outer, Σ lens, inner]`.
    fn concat(
        &self,
        parts: &[&Storage],
        outer: usize,
        lens: &[usize],
        inner: usize,
    ) -> Result<Storage>;
    /// `out[o, k, i] = x[o, indices[k], i]` for `x` of `dims` and `K = indices.len()`
    /// indices: `[outer, K, inner]` (`torch.index_select`; NaN for an invalid index).
    fn index_select(&self, x: &Storage, dims: ReduceDims, indices: &Storage) -> Result<Storage>;
    /// The backward of [`IndexOps::index_select`]: `dx` of `dims`, where
    /// `dx[o, l, i] = Σ_{k: indices[k] = l} dy[o, k, i]`, added in the order of `k`. Rows
    /// `l == skip` get no gradient (`torch.nn.Embedding`'s `padding_idx`), nor do invalid
    /// indices.
    fn index_select_backward(
        &self,
        dy: &Storage,
        dims: ReduceDims,
        indices: &Storage,
        skip: Option<usize>,
    ) -> Result<Storage>;
    /// `out[o, k, i] = x[o, index[o, k, i], i]` for `x` of `dims` and `index` of
    /// `[outer, k, inner]` (`torch.gather` where the index matches `x` on every other
    /// axis; NaN for an invalid index).
    fn gather(&self, x: &Storage, dims: ReduceDims, index: &Storage, k: usize) -> Result<Storage>;
    /// The backward of [`IndexOps::gather`]: `dx[o, l, i] = Σ_{k: index[o, k, i] = l}
    /// dy[o, k, i]`, added in the order of `k`.
    fn gather_backward(
        &self,
        dy: &Storage,
        dims: ReduceDims,
        index: &Storage,
        k: usize,
    ) -> Result<Storage>;
    /// The position along the middle axis of `[outer, len, inner]` of the first maximum or
    /// minimum, as f32 (`[outer, inner]`; exact below 2^24).
    fn arg_reduce(&self, op: ArgReduceOp, x: &Storage, dims: ReduceDims) -> Result<Storage>;
    /// `torch.where(cond, a, b)` broadcast to `out`: `a` where `cond` is nonzero (NaN
    /// counts as true, as `bool(nan)`), else `b`; the other branch is never read into the
    /// result, so a NaN or inf there does not leak.
    #[allow(clippy::too_many_arguments)]
    fn where_cond(
        &self,
        cond: &Storage,
        cond_shape: &Shape,
        a: &Storage,
        a_shape: &Shape,
        b: &Storage,
        b_shape: &Shape,
        out: &Shape,
    ) -> Result<Storage>;
}

// ---- the argument checks, one per method ----

/// The result's shape: each axis `d + before + after`, which must not be negative, with
/// one pair per axis.
pub fn check_pad(x: &Storage, shape: &Shape, padding: &[(i64, i64)]) -> Result<Shape> {
    const OP: &str = "pad";
    let n = shape_count(OP, "x", shape)?;
    len(OP, "x", x, n)?;
    if padding.len() != shape.rank() {
        return Err(Error::shape(
            OP,
            format!(
                "{} (before, after) pairs for the {} axes of {shape}",
                padding.len(),
                shape.rank()
            ),
        ));
    }
    let mut dims = Vec::with_capacity(shape.rank());
    for (&d, &(before, after)) in shape.dims().iter().zip(padding) {
        let size = i128::from(before) + i128::from(after) + d as i128;
        if size < 0 || size > usize::MAX as i128 {
            return Err(Error::shape(
                OP,
                format!("padding ({before}, {after}) of an axis of {d} leaves {size} elements"),
            ));
        }
        dims.push(size as usize);
    }
    let out = Shape::new(dims);
    shape_count(OP, "the result", &out)?;
    Ok(out)
}

/// The result's element count `outer · Σ lens · inner`.
pub fn check_concat(
    parts: &[&Storage],
    outer: usize,
    lens: &[usize],
    inner: usize,
) -> Result<usize> {
    const OP: &str = "concat";
    if parts.is_empty() || parts.len() != lens.len() {
        return Err(Error::shape(
            OP,
            format!(
                "{} parts with {} lengths (at least one part)",
                parts.len(),
                lens.len()
            ),
        ));
    }
    let total = lens
        .iter()
        .try_fold(0usize, |acc, &l| acc.checked_add(l))
        .ok_or_else(|| Error::TooLarge(format!("{OP}: the lengths {lens:?} overflow")))?;
    for (part, &l) in parts.iter().zip(lens) {
        len(
            OP,
            "a part [outer, len, inner]",
            part,
            elements(OP, "a part", &[outer, l, inner])?,
        )?;
    }
    elements(OP, "the result [outer, len, inner]", &[outer, total, inner])
}

/// The result's element count `outer · K · inner` (`K = indices.len()`).
pub fn check_index_select(x: &Storage, dims: ReduceDims, indices: &Storage) -> Result<usize> {
    const OP: &str = "index_select";
    len(OP, "x [outer, len, inner]", x, dims.elements()?)?;
    elements(
        OP,
        "the result [outer, K, inner]",
        &[dims.outer, indices.len(), dims.inner],
    )
}

/// The gradient's element count (that of `dims`); `dy` must be `[outer, K, inner]`.
pub fn check_index_select_backward(
    dy: &Storage,
    dims: ReduceDims,
    indices: &Storage,
) -> Result<usize> {
    const OP: &str = "index_select_backward";
    let k = elements(
        OP,
        "dy [outer, K, inner]",
        &[dims.outer, indices.len(), dims.inner],
    )?;
    len(OP, "dy [outer, K, inner]", dy, k)?;
    dims.elements()
}

/// The result's element count `outer · k · inner`, which `index` must hold.
pub fn check_gather(x: &Storage, dims: ReduceDims, index: &Storage, k: usize) -> Result<usize> {
    const OP: &str = "gather";
    len(OP, "x [outer, len, inner]", x, dims.elements()?)?;
    let n = elements(
        OP,
        "the index [outer, k, inner]",
        &[dims.outer, k, dims.inner],
    )?;
    len(OP, "the index [outer, k, inner]", index, n)?;
    Ok(n)
}

/// The gradient's element count (that of `dims`); `dy` and `index` must be
/// `[outer, k, inner]`.
pub fn check_gather_backward(
    dy: &Storage,
    dims: ReduceDims,
    index: &Storage,
    k: usize,
) -> Result<usize> {
    const OP: &str = "gather_backward";
    let n = elements(
        OP,
        "the index [outer, k, inner]",
        &[dims.outer, k, dims.inner],
    )?;
    len(OP, "the index [outer, k, inner]", index, n)?;
    len(OP, "dy [outer, k, inner]", dy, n)?;
    dims.elements()
}

/// The result's element count `outer · inner`; an empty axis has no extreme.
pub fn check_arg_reduce(x: &Storage, dims: ReduceDims) -> Result<usize> {
    const OP: &str = "arg_reduce";
    len(OP, "x [outer, len, inner]", x, dims.elements()?)?;
    let kept = dims.kept()?;
    if dims.len == 0 && kept > 0 {
        return Err(Error::EmptyData(format!(
            "argmax/argmin over an empty axis ({dims:?}) has no position"
        )));
    }
    Ok(kept)
}

/// The result's element count and the strides of `cond`, `a` and `b` broadcast to `out`
/// (0 on stretched axes); `out` must be the broadcast of the three shapes.
pub fn check_where(
    cond: (&Storage, &Shape),
    a: (&Storage, &Shape),
    b: (&Storage, &Shape),
    out: &Shape,
) -> Result<(usize, [Vec<usize>; 3])> {
    const OP: &str = "where";
    for (name, (s, sh)) in [("cond", cond), ("a", a), ("b", b)] {
        len(OP, name, s, shape_count(OP, name, sh)?)?;
    }
    let joint = Shape::broadcast(OP, cond.1, a.1)
        .and_then(|ca| Shape::broadcast(OP, &ca, b.1))
        .ok()
        .filter(|joint| joint == out);
    if joint.is_none() {
        return Err(Error::shape(
            OP,
            format!(
                "{out} is not the broadcast of {}, {} and {}",
                cond.1, a.1, b.1
            ),
        ));
    }
    let strides = [cond.1, a.1, b.1].map(|shape| shape.broadcast_strides(out));
    Ok((shape_count(OP, "the result", out)?, strides))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn storage(len: usize) -> Storage {
        Storage::new(Arc::new(()), len)
    }

    #[test]
    fn indices_are_integers_in_range() {
        assert_eq!(index_of(0.0, 3), Some(0));
        assert_eq!(index_of(2.0, 3), Some(2));
        for bad in [3.0, -1.0, 0.5, f32::NAN, f32::INFINITY, -0.0f32 - 1e-3, 5e9] {
            assert_eq!(index_of(bad, 3), None, "{bad}");
        }
        assert_eq!(index_of(-0.0, 3), Some(0)); // -0 is the integer 0
    }

    #[test]
    fn bad_arguments_are_typed_errors() {
        let s = Shape::new([2, 3]);
        assert_eq!(
            check_pad(&storage(6), &s, &[(1, 0), (-1, 2)]).unwrap(),
            Shape::new([3, 4])
        );
        assert!(check_pad(&storage(6), &s, &[(0, 0)]).is_err());
        assert!(check_pad(&storage(6), &s, &[(0, 0), (-2, -2)]).is_err());
        assert!(check_pad(&storage(5), &s, &[(0, 0), (0, 0)]).is_err());
        assert_eq!(
            check_concat(&[&storage(6), &storage(2)], 2, &[3, 1], 1).unwrap(),
            8
        );
        assert!(check_concat(&[&storage(6), &storage(3)], 2, &[3, 1], 1).is_err());
        assert!(check_concat(&[], 2, &[], 1).is_err());
        assert!(check_concat(&[&storage(0)], 2, &[usize::MAX, 1], 1).is_err());
        let d = ReduceDims {
            outer: 2,
            len: 3,
            inner: 4,
        };
        assert_eq!(
            check_index_select(&storage(24), d, &storage(5)).unwrap(),
            40
        );
        assert!(check_index_select(&storage(23), d, &storage(5)).is_err());
        assert!(check_index_select_backward(&storage(39), d, &storage(5)).is_err());
        assert!(check_gather(&storage(24), d, &storage(7), 1).is_err());
        assert!(check_gather_backward(&storage(8), d, &storage(8), 1).is_ok());
        let empty = ReduceDims {
            outer: 2,
            len: 0,
            inner: 4,
        };
        assert!(matches!(
            check_arg_reduce(&storage(0), empty),
            Err(Error::EmptyData(_))
        ));
        let (c, a, b) = (Shape::new([2, 1]), Shape::new([3]), Shape::scalar());
        assert!(check_where((&storage(2), &c), (&storage(3), &a), (&storage(1), &b), &s).is_ok());
        assert!(check_where((&storage(2), &c), (&storage(3), &a), (&storage(1), &b), &c).is_err());
    }
}
