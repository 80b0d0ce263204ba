//! Shapes: row-major dimension lists, broadcasting and axis arithmetic.

use crate::error::{Error, Result};
use std::fmt;

/// The dimensions of a tensor, outermost first (row-major). A scalar has no dimensions.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape(Vec<usize>);

impl Shape {
    /// A shape from its dimensions, outermost first: `Shape::new([rows, cols])`.
    pub fn new(dims: impl Into<Vec<usize>>) -> Self {
        Shape(dims.into())
    }

    /// The shape of a scalar: no dimensions, one element.
    pub fn scalar() -> Self {
        Shape(Vec::new())
    }

    /// The size of each axis, outermost first.
    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    /// The number of axes (0 for a scalar).
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// Number of elements (1 for a scalar). Saturates at `usize::MAX` for a shape whose
    /// count overflows: such a shape never gets storage ([`Shape::elements`] refuses it
    /// before anything is allocated), and it can never compare equal to a real length.
    pub fn numel(&self) -> usize {
        self.checked_numel().unwrap_or(usize::MAX)
    }

    /// Number of elements, or `None` when the product overflows `usize`.
    pub fn checked_numel(&self) -> Option<usize> {
        self.0.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
    }

    /// The element count of a new tensor of this shape made by `op`, or
    /// [`Error::TooLarge`] naming the op and the shape when the count or its bytes
    /// overflow the address space. Every op that makes a new shape calls this (through
    /// `Device::check_new`) before anything is allocated.
    pub fn elements(&self, op: &str) -> Result<usize> {
        match self
            .checked_numel()
            .filter(|&n| crate::memory::element_bytes(n).is_some())
        {
            Some(n) => Ok(n),
            None => {
                let exact = self
                    .0
                    .iter()
                    .try_fold(1u128, |acc, &d| acc.checked_mul(d as u128));
                let count = match exact {
                    Some(n) => format!("{n} elements"),
                    None => "more than 2^128 elements".to_string(),
                };
                Err(Error::TooLarge(format!(
                    "{op}: shape {self} holds {count}, more than this machine can address"
                )))
            }
        }
    }

    /// Row-major strides in elements. A stride that overflows (possible beside a zero
    /// dimension, where no element is ever indexed) saturates at `usize::MAX`.
    pub fn strides(&self) -> Vec<usize> {
        let mut strides = vec![1usize; self.rank()];
        for i in (0..self.rank().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1].saturating_mul(self.0[i + 1]);
        }
        strides
    }

    /// Checks `axis` against the rank, naming `op` in the error.
    pub fn check_axis(&self, op: &'static str, axis: usize) -> Result<()> {
        if axis < self.rank() {
            Ok(())
        } else {
            Err(Error::shape(
                op,
                format!("axis {axis} is out of range for shape {self}"),
            ))
        }
    }

    /// Splits the shape around `axis` into (outer, len, inner) element counts. A count
    /// that overflows (possible beside a zero dimension) saturates at `usize::MAX`, which
    /// the backends' checks refuse as too large.
    pub fn split_at_axis(&self, axis: usize) -> (usize, usize, usize) {
        let outer = saturating_product(&self.0[..axis]);
        let inner = saturating_product(&self.0[axis + 1..]);
        (outer, self.0[axis], inner)
    }

    /// The shape with `axis` removed, or set to 1 when `keep_dim`.
    pub fn reduce_axis(&self, axis: usize, keep_dim: bool) -> Shape {
        let mut dims = self.0.clone();
        if keep_dim {
            dims[axis] = 1;
        } else {
            dims.remove(axis);
        }
        Shape(dims)
    }

    /// NumPy broadcasting of two shapes: dimensions are aligned from the right and must be
    /// equal or 1.
    pub fn broadcast(op: &'static str, a: &Shape, b: &Shape) -> Result<Shape> {
        let rank = a.rank().max(b.rank());
        let mut out = vec![0; rank];
        for (i, slot) in out.iter_mut().enumerate() {
            let da = a.dim_from_right(rank - 1 - i);
            let db = b.dim_from_right(rank - 1 - i);
            *slot = match (da, db) {
                (x, y) if x == y => x,
                (1, y) => y,
                (x, 1) => x,
                _ => {
                    return Err(Error::shape(
                        op,
                        format!("shapes {a} and {b} cannot be broadcast together"),
                    ))
                }
            };
        }
        Ok(Shape(out))
    }

    /// The dimension `k` places from the right, 1 beyond the rank.
    fn dim_from_right(&self, k: usize) -> usize {
        if k < self.rank() {
            self.0[self.rank() - 1 - k]
        } else {
            1
        }
    }

    /// Strides that read this shape as if broadcast to `out`: 0 along broadcast dimensions.
    pub fn broadcast_strides(&self, out: &Shape) -> Vec<usize> {
        let own = self.strides();
        let offset = out.rank() - self.rank();
        (0..out.rank())
            .map(|i| {
                if i < offset || self.0[i - offset] == 1 {
                    0
                } else {
                    own[i - offset]
                }
            })
            .collect()
    }

    /// Interprets the shape as a matrix: (rows, cols) for rank 2.
    pub fn as_matrix(&self, op: &'static str) -> Result<(usize, usize)> {
        match self.0.as_slice() {
            [r, c] => Ok((*r, *c)),
            _ => Err(Error::shape(
                op,
                format!("expected a 2-D tensor, got {self}"),
            )),
        }
    }

    /// Rows and columns when the last axis is the feature axis: (product of the rest, last),
    /// the product saturating as in [`Shape::split_at_axis`].
    pub fn rows_cols(&self) -> (usize, usize) {
        match self.0.split_last() {
            Some((last, rest)) => (saturating_product(rest), *last),
            None => (1, 1),
        }
    }
}

/// The product of `dims`, or `usize::MAX` when it overflows (a zero anywhere makes it 0).
fn saturating_product(dims: &[usize]) -> usize {
    if dims.contains(&0) {
        return 0;
    }
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .unwrap_or(usize::MAX)
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl From<&[usize]> for Shape {
    fn from(d: &[usize]) -> Self {
        Shape(d.to_vec())
    }
}

impl From<Vec<usize>> for Shape {
    fn from(d: Vec<usize>) -> Self {
        Shape(d)
    }
}

impl<const N: usize> From<[usize; N]> for Shape {
    fn from(d: [usize; N]) -> Self {
        Shape(d.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        let out = Shape::broadcast("t", &Shape::new([4, 1, 3]), &Shape::new([5, 1])).unwrap();
        assert_eq!(out, Shape::new([4, 5, 3]));
        assert!(Shape::broadcast("t", &Shape::new([2, 3]), &Shape::new([4])).is_err());
    }

    #[test]
    fn broadcast_strides_zero_on_stretched_axes() {
        let b = Shape::new([5, 1]);
        assert_eq!(b.broadcast_strides(&Shape::new([4, 5, 3])), vec![0, 1, 0]);
    }

    #[test]
    fn strides_and_split() {
        let s = Shape::new([2, 3, 4]);
        assert_eq!(s.strides(), vec![12, 4, 1]);
        assert_eq!(s.split_at_axis(1), (2, 3, 4));
        assert_eq!(s.reduce_axis(1, true), Shape::new([2, 1, 4]));
        // Beside a zero, counts that overflow saturate instead of wrapping (or panicking).
        let empty = Shape::new([0, usize::MAX / 2, 3]);
        assert_eq!(empty.split_at_axis(0), (1, 0, usize::MAX));
        assert_eq!(empty.split_at_axis(2), (0, 3, 1));
        assert_eq!(empty.rows_cols(), (0, 3));
        assert_eq!(empty.strides(), vec![usize::MAX, 3, 1]);
    }
}
