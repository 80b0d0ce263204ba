//! Backward rules of normalisation and dropout: each one backend call.

use super::Node;
use crate::backend::norm::{AffineAxis, NormDims};
use crate::backend::{Backend, Storage};
use crate::error::Result;

/// `dx` (and `dγ`, `dβ` when the forward had an affine map) from the saved statistics.
pub(super) fn norm(
    be: &dyn Backend,
    node: &Node,
    dy: &Storage,
    dims: NormDims,
    axis: Option<AffineAxis>,
    (mean, rstd): (&Storage, &Storage),
) -> Result<Vec<Option<Storage>>> {
    let x = node.inputs[0].storage();
    let gamma = node.inputs.get(1).map(|g| g.storage());
    let affine = axis.zip(gamma.as_ref()).map(|(axis, g)| (g, axis));
    let grads = be.norm_backward(&x, mean, rstd, dy, dims, affine)?;
    let mut out = vec![Some(grads.dx)];
    if let Some((dgamma, dbeta)) = grads.affine {
        out.extend([Some(dgamma), Some(dbeta)]);
    }
    Ok(out)
}

/// Dropout's gradient is dropout of `dy` with the same mask.
pub(super) fn dropout(
    be: &dyn Backend,
    dy: &Storage,
    p: f32,
    seed: u64,
    offset: u64,
) -> Result<Storage> {
    be.dropout(dy, p, seed, offset)
}
