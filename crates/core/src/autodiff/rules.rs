//! Every backward rule in one table: given an op's inputs, output and the gradient of the
//! output, the gradient of each input (`None` where none flows).

use super::{Node, Op};
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
    let saved = || {
        node.saved_output
            .clone()
            .ok_or_else(|| Error::Autodiff(format!("{:?} did not save its output", node.op)))
    };
    Ok(match &node.op {
        Op::Matmul(d) => matmul_grads(be, &x.storage(), &node.inputs[1].storage(), dy, *d)?,
        Op::Binary(op) => binary_grads(be, *op, &node.inputs[0], &node.inputs[1], out, dy)?,
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
        Op::Loss { kind, rows, cols } => {
            let target = node.inputs[1].storage();
            let dpred = be.loss_backward(*kind, &x.storage(), &target, dy, *rows, *cols)?;
            vec![Some(dpred), None]
        }
    })
}

/// `C = op(A)·op(B)`: `dA = dC·op(B)ᵀ` and `dB = op(A)ᵀ·dC`, each produced directly in the
/// operand's stored layout by choosing the transposes (no explicit transpose copies).
fn matmul_grads(
    be: &dyn Backend,
    a: &Storage,
    b: &Storage,
    dc: &Storage,
    d: MatmulDims,
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
    let da = if d.trans_a {
        mm(b, dc, d.k, d.n, d.m, d.trans_b, true)? // A stored [k, m] = op(B)·dCᵀ
    } else {
        mm(dc, b, d.m, d.n, d.k, false, !d.trans_b)? // [m, k] = dC·op(B)ᵀ
    };
    let db = if d.trans_b {
        mm(dc, a, d.n, d.m, d.k, true, d.trans_a)? // B stored [n, k] = dCᵀ·op(A)
    } else {
        mm(a, dc, d.k, d.m, d.n, !d.trans_a, false)? // [k, n] = op(A)ᵀ·dC
    };
    Ok(vec![Some(da), Some(db)])
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
    let (ga, gb) = match op {
        BinaryOp::Add => (dy.clone(), dy.clone()),
        BinaryOp::Sub => (dy.clone(), be.unary(UnaryOp::Neg, dy)?),
        BinaryOp::Mul => (
            at_out(BinaryOp::Mul, dy, so, &vb, sb)?,
            at_out(BinaryOp::Mul, dy, so, &va, sa)?,
        ),
        BinaryOp::Div => {
            // d/da = dy / b;  d/db = -dy · (a / b) / b = -(dy / b) · out
            let dy_over_b = at_out(BinaryOp::Div, dy, so, &vb, sb)?;
            let y = out.storage();
            let gb = be.binary(BinaryOp::Mul, &dy_over_b, so, &y, so, so)?;
            (dy_over_b, be.unary(UnaryOp::Neg, &gb)?)
        }
        BinaryOp::Pow => {
            // d/da = dy · b · a^(b-1);  d/db = dy · out · ln(a)
            let b_minus_1 = be.unary(UnaryOp::AddScalar(-1.0), &vb)?;
            let pow = at_out(BinaryOp::Pow, &va, sa, &b_minus_1, sb)?;
            let scaled = at_out(BinaryOp::Mul, &pow, so, &vb, sb)?;
            let ga = be.binary(BinaryOp::Mul, dy, so, &scaled, so, so)?;
            let ln_a = be.unary(UnaryOp::Log, &va)?;
            let y_ln_a = at_out(BinaryOp::Mul, &out.storage(), so, &ln_a, sa)?;
            let gb = be.binary(BinaryOp::Mul, dy, so, &y_ln_a, so, so)?;
            (ga, gb)
        }
    };
    Ok(vec![Some(reduce_to(ga, sa)?), Some(reduce_to(gb, sb)?)])
}
