//! Backward rules of the region and selection ops (`rules.rs` calls one function per op;
//! index_select and gather call their backend kernels directly there).

use crate::backend::{Backend, Storage};
use crate::error::Result;
use crate::shape::Shape;
use crate::tensor::Tensor;

/// Padding's backward is the opposite padding: what was added is cut, what was cut
/// (narrow) comes back as zeros.
pub(super) fn pad(
    be: &dyn Backend,
    padding: &[(i64, i64)],
    y_shape: &Shape,
    dy: &Storage,
) -> Result<Storage> {
    let inverse: Vec<(i64, i64)> = padding.iter().map(|&(b, a)| (-b, -a)).collect();
    be.pad(dy, y_shape, &inverse, 0.0)
}

/// Each part's gradient is its slice of `dy` along the joined axis (one crop each).
pub(super) fn concat(
    be: &dyn Backend,
    (outer, lens, inner): (usize, &[usize], usize),
    needs: &[bool],
    dy: &Storage,
) -> Result<Vec<Option<Storage>>> {
    let total: usize = lens.iter().sum();
    let joined = Shape::new([outer, total, inner]);
    let mut start = 0usize;
    let mut grads = Vec::with_capacity(lens.len());
    for (&len, &need) in lens.iter().zip(needs) {
        let grad = if need {
            let before = -(start as i64);
            let after = -((total - start - len) as i64);
            Some(be.pad(dy, &joined, &[(0, 0), (before, after), (0, 0)], 0.0)?)
        } else {
            None
        };
        grads.push(grad);
        start += len;
    }
    Ok(grads)
}

/// `where(cond, a, b)`: `dy` flows to `a` where `cond` holds and to `b` elsewhere, each
/// summed down to its operand's shape; never to `cond`.
pub(super) fn where_cond(
    be: &dyn Backend,
    inputs: &[Tensor],
    y_shape: &Shape,
    needs: &[bool],
    dy: &Storage,
) -> Result<Vec<Option<Storage>>> {
    let (cond, a, b) = (&inputs[0], &inputs[1], &inputs[2]);
    let zero = be.full(1, 0.0)?;
    let scalar = Shape::scalar();
    let routed = |operand: &Tensor, to_a: bool| -> Result<Storage> {
        let (first, second) = if to_a {
            ((dy, y_shape), (&zero, &scalar))
        } else {
            ((&zero, &scalar), (dy, y_shape))
        };
        let g = be.where_cond(
            &cond.storage(),
            cond.shape(),
            first.0,
            first.1,
            second.0,
            second.1,
            y_shape,
        )?;
        if operand.shape() == y_shape {
            Ok(g)
        } else {
            be.sum_to(&g, y_shape, operand.shape())
        }
    };
    let ga = needs[1].then(|| routed(a, true)).transpose()?;
    let gb = needs[2].then(|| routed(b, false)).transpose()?;
    Ok(vec![None, ga, gb])
}
