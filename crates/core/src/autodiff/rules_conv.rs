//! Backward rules of the convolution: the input gradient and the weight (and bias)
//! gradient, each one backend call, computed only where a gradient is wanted.

use super::Node;
use crate::backend::conv::Conv2dDims;
use crate::backend::{Backend, Storage};
use crate::error::Result;

/// Gradients of `[x, w]` or `[x, w, bias]` for `y = conv2d(x, w) + bias`.
pub(super) fn conv2d(
    be: &dyn Backend,
    node: &Node,
    dy: &Storage,
    dims: &Conv2dDims,
    needs: &[bool],
) -> Result<Vec<Option<Storage>>> {
    let (x, w) = (&node.inputs[0], &node.inputs[1]);
    let has_bias = node.inputs.len() == 3;
    let dx = needs[0]
        .then(|| be.conv2d_backward_input(dy, &w.storage(), dims))
        .transpose()?;
    let bias_needed = has_bias && needs[2];
    let (dw, db) = if needs[1] || bias_needed {
        let (dw, db) = be.conv2d_backward_weight(&x.storage(), dy, dims, bias_needed)?;
        (needs[1].then_some(dw), db)
    } else {
        (None, None)
    };
    let mut grads = vec![dx, dw];
    if has_bias {
        grads.push(db);
    }
    Ok(grads)
}
