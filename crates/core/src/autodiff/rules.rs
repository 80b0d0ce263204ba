//! Every backward rule in one table: given an op's inputs, output and the gradient of the
//! output, the gradient of each input (`None` where none flows).

use super::{rules_index, Node, Op};
use crate::backend::{Backend, BinaryOp, MatmulDims, ReduceOp, Storage, UnaryOp};
use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::Tensor;

pub(super) fn backward(
    be: &dyn Backend,
    node: &Node,
    out: &Tensor,
    dy: &Storage,
) -> Result<Vec<Option<Storage>>> {
    let x = &node.inputs[0];
    let y_shape = out.shape();
    // Gradients nobody consumes are not computed (e.g. d(input) of a first layer).
    let needs: Vec<bool> = node.inputs.iter().map(Tensor::requires_grad).collect();
    let saved = || {
        node.saved_output
            .clone()
            .ok_or_else(|| Error::Autodiff(format!("{:?} did not save its output", node.op)))
    };
    Ok(match &node.op {
        Op::Matmul(d) => {
            let (a, b) = (x.storage(), node.inputs[1].storage());
            matmul_grads(be, &a, &b, dy, *d, [needs[0], needs[1]])?
        }
        Op::Linear { dims, activation } => {
            let bias = node.inputs.get(2).filter(|b| b.requires_grad());
            // dz = act'(z)·dy from the saved output; with a trainable bias, db comes from
            // the same pass.
            let (dz, db) = match (bias, activation) {
                (Some(_), _) => {
                    let y = saved_or_dy(&node.saved_output, dy);
                    let (dz, db) =
                        be.linear_epilogue_backward(*activation, &y, dy, dims.m, dims.n)?;
                    (dz, Some(db))
                }
                (None, Some(act)) => {
                    let y = saved()?;
                    (be.unary_backward(*act, &y, &y, dy)?, None)
                }
                (None, None) => (dy.clone(), None),
            };
            let (a, w) = (x.storage(), node.inputs[1].storage());
            let mut grads = matmul_grads(be, &a, &w, &dz, *dims, [needs[0], needs[1]])?;
            if node.inputs.len() == 3 {
                grads.push(db);
            }
            grads
        }
        Op::Binary(op) => {
            let (a, b) = (&node.inputs[0], &node.inputs[1]);
            binary_grads(be, *op, a, b, out, dy, [needs[0], needs[1]])?
        }
        Op::Unary(op) => vec![Some(be.unary_backward(*op, &x.storage(), &saved()?, dy)?)],
        Op::Reduce { op, dims } => {
            let kept = Shape::new([dims.outer, 1, dims.inner]);
            let full = Shape::new([dims.outer, dims.len, dims.inner]);
            vec![Some(match op {
                ReduceOp::Sum => be.expand(dy, &kept, &full)?,
                ReduceOp::Mean => {
                    let spread = be.expand(dy, &kept, &full)?;
                    be.unary(UnaryOp::MulScalar(1.0 / dims.len as f32), &spread)?
                }
                ReduceOp::Max => be.max_backward(&x.storage(), &saved()?, dy, *dims)?,
            })]
        }
        Op::Reshape => vec![Some(dy.clone())],
        Op::Permute(perm) => {
            let mut inverse = vec![0; perm.len()];
            for (i, &p) in perm.iter().enumerate() {
                inverse[p] = i;
            }
            vec![Some(be.permute(dy, y_shape, &inverse)?)]
        }
        Op::Expand => vec![Some(be.sum_to(dy, y_shape, x.shape())?)],
        Op::Softmax { log, rows, cols } => {
            vec![Some(be.softmax_backward(
                &saved()?,
                dy,
                *rows,
                *cols,
                *log,
            )?)]
        }
        Op::Loss {
            kind,
            rows,
            cols,
            dpred,
        } => {
            // An upstream gradient of 1 (backward started here: the device's seed): the
            // gradient computed with the loss is the answer.
            match dpred {
                Some(dpred) if dy.same_view(&x.device().one()?) => vec![Some(dpred.clone()), None],
                _ => {
                    let target = node.inputs[1].storage();
                    let dpred = be.loss_backward(*kind, &x.storage(), &target, dy, *rows, *cols)?;
                    vec![Some(dpred), None]
                }
            }
        }
        Op::Pad(padding) => vec![Some(rules_index::pad(be, padding, y_shape, dy)?)],
        Op::Concat { outer, lens, inner } => {
            rules_index::concat(be, (*outer, lens, *inner), &needs, dy)?
        }
        Op::IndexSelect { dims, skip } => {
            let indices = node.inputs[1].storage();
            vec![
                Some(be.index_select_backward(dy, *dims, &indices, *skip)?),
                None,
            ]
        }
        Op::Gather { dims, k } => {
            let index = node.inputs[1].storage();
            vec![Some(be.gather_backward(dy, *dims, &index, *k)?), None]
        }
        Op::Where => rules_index::where_cond(be, &node.inputs, y_shape, &needs, dy)?,
        Op::Conv2d(dims) => super::rules_conv::conv2d(be, node, dy, dims, &needs)?,
        Op::MaxPool2d(dims) => {
            vec![Some(be.max_pool2d_backward(&x.storage(), dy, dims)?)]
        }
        Op::AvgPool2d(dims) => vec![Some(be.avg_pool2d_backward(dy, dims)?)],
        Op::Norm {
            dims,
            axis,
            mean,
            rstd,
        } => super::rules_norm::norm(be, node, dy, *dims, *axis, (mean, rstd))?,
        Op::Dropout { p, seed, offset } => {
            vec![Some(super::rules_norm::dropout(
                be, dy, *p, *seed, *offset,
            )?)]
        }
    })
}

/// The saved output of an op, or (for an op without activation, which saves none) any
/// storage of the output's size: `linear_epilogue_backward` ignores it then.
fn saved_or_dy(saved: &Option<Storage>, dy: &Storage) -> Storage {
    saved.clone().unwrap_or_else(|| dy.clone())
}

/// `C = op(A)·op(B)`: `dA = dC·op(B)ᵀ` and `dB = op(A)ᵀ·dC`, each produced directly in the
/// operand's stored layout by choosing the transposes (no explicit transpose copies).
fn matmul_grads(
    be: &dyn Backend,
    a: &Storage,
    b: &Storage,
    dc: &Storage,
    d: MatmulDims,
    needs: [bool; 2],
) -> Result<Vec<Option<Storage>>> {
    let mm = |l: &Storage, r: &Storage, m, k, n, trans_a, trans_b| {
        be.matmul(
            l,
            r,
            MatmulDims {
                m,
                k,
                n,
                trans_a,
                trans_b,
            },
        )
    };
    let da = match (needs[0], d.trans_a) {
        (false, _) => None,
        // A stored [k, m] = op(B)·dCᵀ
        (true, true) => Some(mm(b, dc, d.k, d.n, d.m, d.trans_b, true)?),
        // [m, k] = dC·op(B)ᵀ
        (true, false) => Some(mm(dc, b, d.m, d.n, d.k, false, !d.trans_b)?),
    };
    let db = match (needs[1], d.trans_b) {
        (false, _) => None,
        // B stored [n, k] = dCᵀ·op(A)
        (true, true) => Some(mm(dc, a, d.n, d.m, d.k, true, d.trans_a)?),
        // [k, n] = op(A)ᵀ·dC
        (true, false) => Some(mm(a, dc, d.k, d.m, d.n, !d.trans_a, false)?),
    };
    Ok(vec![da, db])
}

/// Gradients of broadcasting binary ops: the elementwise derivative at the output shape,
/// then summed back down to each operand's shape.
fn binary_grads(
    be: &dyn Backend,
    op: BinaryOp,
    a: &Tensor,
    b: &Tensor,
    out: &Tensor,
    dy: &Storage,
    needs: [bool; 2],
) -> Result<Vec<Option<Storage>>> {
    let (sa, sb, so) = (a.shape(), b.shape(), out.shape());
    let (va, vb) = (a.storage(), b.storage());
    // `l ∘ r` broadcast to the output shape.
    let at_out =
        |op, l: &Storage, ls: &Shape, r: &Storage, rs: &Shape| be.binary(op, l, ls, r, rs, so);
    let reduce_to = |g: Storage, to: &Shape| -> Result<Storage> {
        if to == so {
            Ok(g)
        } else {
            be.sum_to(&g, so, to)
        }
    };
    // d(out)/da and d(out)/db at the output shape, each only when needed.
    let grad_a = || -> Result<Storage> {
        match op {
            BinaryOp::Add | BinaryOp::Sub => Ok(dy.clone()),
            BinaryOp::Mul => at_out(BinaryOp::Mul, dy, so, &vb, sb),
            BinaryOp::Div => at_out(BinaryOp::Div, dy, so, &vb, sb), // dy / b
            BinaryOp::Pow => {
                // dy · b · a^(b-1)
                let local = at_out(BinaryOp::PowGradBase, &va, sa, &vb, sb)?;
                be.binary(BinaryOp::Mul, dy, so, &local, so, so)
            }
            BinaryOp::PowGradBase | BinaryOp::PowGradExponent => {
                Err(Error::Autodiff(format!("{op:?} is a backward kernel")))
            }
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge => Err(Error::Autodiff(format!("{op:?} has no gradient"))),
        }
    };
    let grad_b = || -> Result<Storage> {
        match op {
            BinaryOp::Add => Ok(dy.clone()),
            BinaryOp::Sub => be.unary(UnaryOp::Neg, dy),
            BinaryOp::Mul => at_out(BinaryOp::Mul, dy, so, &va, sa),
            BinaryOp::Div => {
                // -dy · a / b² = -(dy / b) · out
                let dy_over_b = at_out(BinaryOp::Div, dy, so, &vb, sb)?;
                let scaled = be.binary(BinaryOp::Mul, &dy_over_b, so, &out.storage(), so, so)?;
                be.unary(UnaryOp::Neg, &scaled)
            }
            BinaryOp::Pow => {
                // dy · a^b · ln(a)
                let local = at_out(BinaryOp::PowGradExponent, &va, sa, &vb, sb)?;
                be.binary(BinaryOp::Mul, dy, so, &local, so, so)
            }
            BinaryOp::PowGradBase | BinaryOp::PowGradExponent => {
                Err(Error::Autodiff(format!("{op:?} is a backward kernel")))
            }
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge => Err(Error::Autodiff(format!("{op:?} has no gradient"))),
        }
    };
    let ga = needs[0]
        .then(|| grad_a().and_then(|g| reduce_to(g, sa)))
        .transpose()?;
    let gb = needs[1]
        .then(|| grad_b().and_then(|g| reduce_to(g, sb)))
        .transpose()?;
    Ok(vec![ga, gb])
}
