//! The argument checks of every [`Backend`](super::Backend) method, shared by the
//! backends so that both refuse the same calls with the same typed errors.
//!
//! [`crate::Device::backend`] is public, so a backend may be called with any sizes, not
//! only the consistent ones [`crate::Tensor`] computes. Each backend method calls the
//! function of the same name here before anything else. Once it returns `Ok`:
//!
//! - every storage holds exactly the elements its sizes say;
//! - every product of sizes fits a `usize`, and so does the product of the nonzero ones,
//!   so no stride or index a backend computes can wrap, even where a zero size makes a
//!   tensor empty;
//! - shapes broadcast as claimed, a perm is a permutation of the axes, op parameters lie
//!   where the math is defined, and an in-place op's output shares no buffer with its
//!   inputs;
//!
//! so no backend can index out of bounds, whatever it was given. The checks are integer
//! comparisons without allocation (a training step makes a dozen of them); messages are
//! built only for a refusal.
//!
//! Errors: lengths that disagree with the sizes, shapes that do not broadcast, a bad perm
//! and aliasing are [`Error::Shape`]; a product that overflows is [`Error::TooLarge`];
//! an op parameter out of range is [`Error::Config`] or [`Error::Hyperparameter`]; an
//! empty prediction for a loss is [`Error::EmptyData`].

use super::{AccuracyKind, GradClip, LossKind, MatmulDims, ReduceDims, ReduceOp, Storage, UnaryOp};
use crate::error::{Error, Result};
use crate::optim::UpdateRule;
use crate::shape::Shape;

fn overflow(op: &str, what: &str, factors: &[usize]) -> Error {
    let exact = factors
        .iter()
        .try_fold(1u128, |acc, &d| acc.checked_mul(d as u128));
    let count = match exact {
        Some(n) => format!("{n} elements"),
        None => "more than 2^128 elements".to_string(),
    };
    Error::TooLarge(format!(
        "{op}: {what} {factors:?} make {count}, more than this machine can address"
    ))
}

/// The product of `factors` (an element count), or [`Error::TooLarge`] naming `op` and
/// `what` when the product of the nonzero factors overflows: then every partial product
/// (a stride) fits as well, also where a zero factor makes the whole product zero.
pub fn elements(op: &'static str, what: &str, factors: &[usize]) -> Result<usize> {
    let mut nonzero = 1usize;
    let mut empty = false;
    for &f in factors {
        if f == 0 {
            empty = true;
        } else {
            nonzero = nonzero
                .checked_mul(f)
                .ok_or_else(|| overflow(op, what, factors))?;
        }
    }
    Ok(if empty { 0 } else { nonzero })
}

/// Fails unless `s` holds `expected` elements.
pub fn len(op: &'static str, what: &str, s: &Storage, expected: usize) -> Result<()> {
    if s.len() == expected {
        Ok(())
    } else {
        Err(Error::shape(
            op,
            format!(
                "{what} should hold {expected} elements, the storage holds {}",
                s.len()
            ),
        ))
    }
}

/// The element count of `shape`, checked as [`elements`] does.
pub fn shape(op: &'static str, what: &str, shape: &Shape) -> Result<usize> {
    elements(op, what, shape.dims())
}

/// The element count of `shape`, which `s` must hold.
fn shaped(op: &'static str, what: &str, s: &Storage, sh: &Shape) -> Result<usize> {
    let n = shape(op, what, sh)?;
    len(op, what, s, n)?;
    Ok(n)
}

/// Fails when two storages share a buffer: `written` is changed in place and `read` is
/// read by the same pass (the GPU cannot bind one buffer both ways in one dispatch).
fn apart(op: &'static str, written: (&str, &Storage), read: (&str, &Storage)) -> Result<()> {
    if written.1.same_buffer(read.1) {
        Err(Error::shape(
            op,
            format!(
                "{} and {} share a buffer; the storage an in-place op writes must be apart \
                 from its other arguments",
                written.0, read.0
            ),
        ))
    } else {
        Ok(())
    }
}

/// The dimension `k` places from the right, 1 beyond the rank.
fn from_right(s: &Shape, k: usize) -> usize {
    let d = s.dims();
    if k < d.len() {
        d[d.len() - 1 - k]
    } else {
        1
    }
}

/// Fails unless `out` is the NumPy broadcast of `a` and `b`.
pub fn broadcast(op: &'static str, a: &Shape, b: &Shape, out: &Shape) -> Result<()> {
    let rank = a.rank().max(b.rank());
    let fits = out.rank() == rank
        && (0..rank).all(|k| {
            let (da, db, d) = (from_right(a, k), from_right(b, k), from_right(out, k));
            (da == d || da == 1) && (db == d || db == 1) && (da == d || db == d)
        });
    if fits {
        Ok(())
    } else {
        Err(Error::shape(
            op,
            format!("{out} is not the broadcast of {a} and {b}"),
        ))
    }
}

/// Fails unless `small` broadcasts to `big` (NumPy rules: aligned from the right, each
/// dimension equal or 1, no more axes than `big`).
pub fn broadcasts_to(op: &'static str, small: &Shape, big: &Shape) -> Result<()> {
    let fits = small.rank() <= big.rank()
        && (0..small.rank()).all(|k| {
            let d = from_right(small, k);
            d == 1 || d == from_right(big, k)
        });
    if fits {
        Ok(())
    } else {
        Err(Error::shape(
            op,
            format!("{small} does not broadcast to {big}"),
        ))
    }
}

/// Fails unless `perm` names every axis of `shape` exactly once.
pub fn permutation(op: &'static str, shape: &Shape, perm: &[usize]) -> Result<()> {
    let rank = shape.rank();
    let valid = perm.len() == rank
        && if rank <= 64 {
            let mut seen = 0u64;
            perm.iter().all(|&p| {
                let fresh = p < rank && (seen & (1 << p)) == 0;
                if fresh {
                    seen |= 1 << p;
                }
                fresh
            })
        } else {
            let mut seen = vec![false; rank];
            perm.iter()
                .all(|&p| p < rank && !std::mem::replace(&mut seen[p], true))
        };
    if valid {
        Ok(())
    } else {
        Err(Error::shape(
            op,
            format!("{perm:?} is not a permutation of the axes of {shape}"),
        ))
    }
}

/// Fails for op parameters outside the op's domain (a clamp range `lo > hi` or NaN).
pub fn unary_op(op: UnaryOp) -> Result<()> {
    match op {
        UnaryOp::Clamp(lo, hi) if lo.is_nan() || hi.is_nan() || lo > hi => {
            Err(Error::Config(format!("clamp: invalid range [{lo}, {hi}]")))
        }
        _ => Ok(()),
    }
}

/// Fails unless `activation` may be fused into a matmul epilogue ([`UnaryOp::fusable`]).
pub fn fusable(op: &'static str, activation: Option<UnaryOp>) -> Result<()> {
    match activation {
        Some(act) if !act.fusable() => Err(Error::Config(format!(
            "{op}: {act:?} cannot be fused into a matmul (its derivative needs its input)"
        ))),
        _ => Ok(()),
    }
}

/// Fails for loss parameters outside their domain (a clamp `eps` outside `[0, 0.5]`).
pub fn loss_kind(kind: LossKind) -> Result<()> {
    match kind {
        LossKind::BceProbs { eps } if !(0.0..=0.5).contains(&eps) => Err(Error::Hyperparameter {
            name: "eps",
            value: eps,
            reason: "must lie in [0, 0.5]",
        }),
        _ => Ok(()),
    }
}

/// `rows · cols`, the predictions of `pred`, and the target's length for `kind`.
fn predictions(
    op: &'static str,
    pred: &Storage,
    target: &Storage,
    rows: usize,
    cols: usize,
    one_label_per_row: bool,
) -> Result<usize> {
    let n = elements(op, "[rows, cols]", &[rows, cols])?;
    len(op, "the prediction [rows, cols]", pred, n)?;
    if one_label_per_row {
        len(op, "the labels [rows]", target, rows)?;
    } else {
        len(op, "the target [rows, cols]", target, n)?;
    }
    Ok(n)
}

// ---- one function per backend method, named after it ----

/// Fails unless `dst` holds as many elements as `src`.
pub fn copy(src: &Storage, dst: &Storage) -> Result<()> {
    len("copy", "the destination", dst, src.len())
}

/// Fails unless `x` holds as many elements as `acc`.
pub fn accumulate(acc: &Storage, x: &Storage) -> Result<()> {
    len("accumulate", "the addend", x, acc.len())
}

/// The result's element count `m · n`.
pub fn linear(
    a: &Storage,
    b: &Storage,
    bias: Option<&Storage>,
    dims: MatmulDims,
    activation: Option<UnaryOp>,
) -> Result<usize> {
    fusable("linear", activation)?;
    dims.check(a.len(), b.len(), bias.map(Storage::len))
}

/// The element count `rows · cols` of `y`, `dy` and `dz`.
pub fn linear_epilogue_backward(
    activation: Option<UnaryOp>,
    y: &Storage,
    dy: &Storage,
    rows: usize,
    cols: usize,
) -> Result<usize> {
    const OP: &str = "linear_epilogue_backward";
    fusable(OP, activation)?;
    let n = elements(OP, "[rows, cols]", &[rows, cols])?;
    len(OP, "y [rows, cols]", y, n)?;
    len(OP, "dy [rows, cols]", dy, n)?;
    Ok(n)
}

/// Fails for an op parameter out of its domain (a clamp range that is NaN or has
/// `lo > hi`).
pub fn unary(op: UnaryOp, _x: &Storage) -> Result<()> {
    unary_op(op)
}

/// As [`unary`], and fails unless `y` and `dy` hold as many elements as `x`.
pub fn unary_backward(op: UnaryOp, x: &Storage, y: &Storage, dy: &Storage) -> Result<()> {
    unary_op(op)?;
    len("unary_backward", "y", y, x.len())?;
    len("unary_backward", "dy", dy, x.len())
}

/// The result's element count.
pub fn binary(
    a: &Storage,
    a_shape: &Shape,
    b: &Storage,
    b_shape: &Shape,
    out: &Shape,
) -> Result<usize> {
    shaped("binary", "a", a, a_shape)?;
    shaped("binary", "b", b, b_shape)?;
    let n = shape("binary", "the result", out)?;
    broadcast("binary", a_shape, b_shape, out)?;
    Ok(n)
}

/// The result's element count (that of `to`).
pub fn sum_to(x: &Storage, from: &Shape, to: &Shape) -> Result<usize> {
    shaped("sum_to", "x", x, from)?;
    let n = shape("sum_to", "the result", to)?;
    broadcasts_to("sum_to", to, from)?;
    Ok(n)
}

/// The result's element count (that of `to`).
pub fn expand(x: &Storage, from: &Shape, to: &Shape) -> Result<usize> {
    shaped("expand", "x", x, from)?;
    let n = shape("expand", "the result", to)?;
    broadcasts_to("expand", from, to)?;
    Ok(n)
}

/// The result's element count `outer · inner`.
pub fn reduce(op: ReduceOp, x: &Storage, dims: ReduceDims) -> Result<usize> {
    len("reduce", "x [outer, len, inner]", x, dims.elements()?)?;
    let kept = dims.kept()?;
    if op == ReduceOp::Max && dims.len == 0 && kept > 0 {
        return Err(Error::EmptyData(format!(
            "reduce: a maximum over an empty axis ({dims:?}) has no value"
        )));
    }
    Ok(kept)
}

/// Fails unless `x` holds `outer · len · inner` elements and `y`, `dy` hold `outer · inner`.
pub fn max_backward(x: &Storage, y: &Storage, dy: &Storage, dims: ReduceDims) -> Result<()> {
    len("max_backward", "x [outer, len, inner]", x, dims.elements()?)?;
    let kept = dims.kept()?;
    len("max_backward", "y [outer, inner]", y, kept)?;
    len("max_backward", "dy [outer, inner]", dy, kept)
}

/// Fails unless `x` holds `shape`'s elements and `perm` is a permutation of its axes.
pub fn permute(x: &Storage, shape: &Shape, perm: &[usize]) -> Result<()> {
    shaped("permute", "x", x, shape)?;
    permutation("permute", shape, perm)
}

/// The element count `rows · cols`.
pub fn softmax(x: &Storage, rows: usize, cols: usize) -> Result<usize> {
    let n = elements("softmax", "[rows, cols]", &[rows, cols])?;
    len("softmax", "x [rows, cols]", x, n)?;
    Ok(n)
}

/// The element count `rows · cols`.
pub fn softmax_backward(y: &Storage, dy: &Storage, rows: usize, cols: usize) -> Result<usize> {
    let n = elements("softmax_backward", "[rows, cols]", &[rows, cols])?;
    len("softmax_backward", "y [rows, cols]", y, n)?;
    len("softmax_backward", "dy [rows, cols]", dy, n)?;
    Ok(n)
}

/// The prediction's element count `rows · cols` (never 0: a mean over no predictions has
/// no value).
pub fn loss(
    kind: LossKind,
    pred: &Storage,
    target: &Storage,
    rows: usize,
    cols: usize,
) -> Result<usize> {
    loss_kind(kind)?;
    let ce = kind == LossKind::SoftmaxCrossEntropy;
    let n = predictions("loss", pred, target, rows, cols, ce)?;
    if n == 0 {
        return Err(Error::EmptyData(format!(
            "loss: the prediction [{rows}, {cols}] is empty"
        )));
    }
    Ok(n)
}

/// The prediction's (and the gradient's) element count `rows · cols`.
pub fn loss_backward(
    kind: LossKind,
    pred: &Storage,
    target: &Storage,
    dloss: &Storage,
    rows: usize,
    cols: usize,
) -> Result<usize> {
    loss_kind(kind)?;
    len("loss_backward", "dloss", dloss, 1)?;
    let ce = kind == LossKind::SoftmaxCrossEntropy;
    predictions("loss_backward", pred, target, rows, cols, ce)
}

/// The prediction's element count `rows · cols`.
pub fn accumulate_correct(
    kind: AccuracyKind,
    pred: &Storage,
    target: &Storage,
    rows: usize,
    cols: usize,
    acc: &Storage,
) -> Result<usize> {
    const OP: &str = "accumulate_correct";
    let categorical = kind == AccuracyKind::Categorical;
    let n = predictions(OP, pred, target, rows, cols, categorical)?;
    len(OP, "the count", acc, 1)?;
    apart(OP, ("the count", acc), ("the prediction", pred))?;
    apart(OP, ("the count", acc), ("the target", target))?;
    Ok(n)
}

/// The element count of the predictions.
pub fn accumulate_stats(
    stats: super::MetricStats,
    pred: &Storage,
    target: &Storage,
    rows: usize,
    cols: usize,
    acc: &Storage,
) -> Result<usize> {
    const OP: &str = "accumulate_stats";
    let n = elements(OP, "rows and columns", &[rows, cols])?;
    len(OP, "the prediction", pred, n)?;
    elements(OP, "columns squared", &[cols, cols])?;
    len(OP, "the target", target, stats.target_len(rows, cols))?;
    len(OP, "the statistics", acc, stats.len(cols))?;
    if let super::MetricStats::TopK(0) = stats {
        return Err(Error::Config(format!("{OP}: top-k needs k >= 1")));
    }
    apart(OP, ("the statistics", acc), ("the prediction", pred))?;
    apart(OP, ("the statistics", acc), ("the target", target))?;
    Ok(n)
}

/// Fails unless `loss` holds 1 element and `sums` at least 3, and `sums` shares no buffer
/// with `loss` or `grads`.
pub fn track_step(sums: &Storage, loss: &Storage, grads: &Storage) -> Result<()> {
    const OP: &str = "track_step";
    len(OP, "the loss", loss, 1)?;
    if sums.len() < 3 {
        return Err(Error::shape(
            OP,
            format!("the sums need 3 elements, got {}", sums.len()),
        ));
    }
    apart(OP, ("the sums", sums), ("the loss", loss))?;
    apart(OP, ("the sums", sums), ("the gradients", grads))
}

/// The result's element count `count · cols`.
pub fn gather_rows(
    src: &Storage,
    cols: usize,
    indices: &Storage,
    start: usize,
    count: usize,
) -> Result<usize> {
    const OP: &str = "gather_rows";
    match start.checked_add(count) {
        Some(end) if end <= indices.len() => {}
        _ => {
            return Err(Error::shape(
                OP,
                format!(
                    "rows {start}..{} of {} indices",
                    start as u128 + count as u128,
                    indices.len()
                ),
            ))
        }
    }
    let whole_rows = match src.len().checked_rem(cols) {
        Some(rest) => rest == 0,
        None => src.is_empty(), // no columns: no elements either
    };
    if !whole_rows {
        return Err(Error::shape(
            OP,
            format!(
                "a source of {} elements is not a whole number of rows of {cols}",
                src.len()
            ),
        ));
    }
    elements(OP, "the result [count, cols]", &[count, cols])
}

/// Fails unless `state` holds the number of buffers `rule` needs, the gradients and every
/// state buffer hold as many elements as `params`, and no two of them share a buffer.
pub fn optimizer_step(
    rule: &dyn UpdateRule,
    params: &Storage,
    grads: &Storage,
    state: &[Storage],
) -> Result<()> {
    const OP: &str = "optimizer_step";
    if rule.tensorwise().is_some() || rule.composed().is_some() {
        return Err(Error::Config(format!(
            "{rule:?} needs per-tensor reductions: step it with OptimOps::tensorwise_step"
        )));
    }
    if state.len() != rule.state_buffers() {
        return Err(Error::shape(
            OP,
            format!(
                "{rule:?} needs {} state buffers, got {}",
                rule.state_buffers(),
                state.len()
            ),
        ));
    }
    // The uniform: the struct its layout describes, within one uniform slot of a GPU.
    let (bytes, layout) = (rule.uniform().len(), rule.layout());
    if bytes != layout.size || bytes % 4 != 0 || !(8..=256).contains(&bytes) {
        return Err(Error::shape(
            OP,
            format!(
                "{rule:?}: a uniform of {bytes} bytes for a layout of {} (needs a multiple \
                 of 4 from 8 to 256)",
                layout.size
            ),
        ));
    }
    len(OP, "the gradients", grads, params.len())?;
    apart(OP, ("the parameters", params), ("the gradients", grads))?;
    for (i, s) in state.iter().enumerate() {
        len(OP, "a state buffer", s, params.len())?;
        apart(OP, ("a state buffer", s), ("the parameters", params))?;
        apart(OP, ("a state buffer", s), ("the gradients", grads))?;
        for other in &state[..i] {
            apart(OP, ("a state buffer", s), ("another state buffer", other))?;
        }
    }
    Ok(())
}

/// Fails for a negative or NaN clip norm or value.
pub fn clip_gradients(_grads: &Storage, clip: GradClip) -> Result<()> {
    let (name, v) = match clip {
        GradClip::Norm(v) => ("clip norm", v),
        GradClip::Value(v) => ("clip value", v),
    };
    if v >= 0.0 {
        Ok(())
    } else {
        Err(Error::Hyperparameter {
            name,
            value: v,
            reason: "must be a number >= 0",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn storage(len: usize) -> Storage {
        Storage::new(Arc::new(()), len)
    }

    #[test]
    fn products_that_overflow_are_too_large_even_when_a_factor_is_zero() {
        assert_eq!(elements("t", "d", &[2, 3, 4]).unwrap(), 24);
        assert_eq!(elements("t", "d", &[5, 0, 7]).unwrap(), 0);
        assert_eq!(elements("t", "d", &[]).unwrap(), 1);
        for dims in [[1 << 62, 4, 1], [1 << 62, 0, 1 << 62], [usize::MAX, 2, 0]] {
            assert!(
                matches!(elements("t", "d", &dims), Err(Error::TooLarge(_))),
                "{dims:?}"
            );
        }
    }

    #[test]
    fn a_wrapped_matmul_size_is_refused() {
        // m·k wraps to 0 mod 2^64: with 2^62 rows of 4, A "holds" 0 elements.
        let d = MatmulDims {
            m: 1 << 62,
            k: 4,
            n: 4,
            trans_a: false,
            trans_b: false,
        };
        let e = linear(&storage(0), &storage(16), None, d, None).unwrap_err();
        assert!(matches!(e, Error::TooLarge(_)), "{e}");
        let ok = MatmulDims { m: 2, ..d };
        assert_eq!(
            linear(&storage(8), &storage(16), None, ok, None).unwrap(),
            8
        );
        assert!(linear(&storage(8), &storage(16), Some(&storage(3)), ok, None).is_err());
        assert!(linear(&storage(8), &storage(16), None, ok, Some(UnaryOp::Exp)).is_err());
    }

    #[test]
    fn broadcasting_is_checked_both_ways() {
        let s = |d: &[usize]| Shape::new(d.to_vec());
        assert!(broadcast("t", &s(&[4, 1, 3]), &s(&[5, 1]), &s(&[4, 5, 3])).is_ok());
        assert!(broadcast("t", &s(&[1]), &s(&[0]), &s(&[0])).is_ok());
        assert!(broadcast("t", &s(&[2]), &s(&[2]), &s(&[3])).is_err());
        assert!(broadcast("t", &s(&[1]), &s(&[1]), &s(&[5])).is_err());
        assert!(broadcast("t", &s(&[2, 3]), &s(&[3]), &s(&[3])).is_err());
        assert!(broadcasts_to("t", &s(&[3]), &s(&[2, 3])).is_ok());
        assert!(broadcasts_to("t", &s(&[1, 1]), &s(&[7])).is_err());
        assert!(broadcasts_to("t", &s(&[2]), &s(&[3])).is_err());
    }

    #[test]
    fn perms_must_name_every_axis_once() {
        let s = Shape::new([2, 3, 4]);
        assert!(permutation("t", &s, &[2, 0, 1]).is_ok());
        for bad in [&[0, 1][..], &[0, 1, 1], &[0, 1, 3], &[5]] {
            assert!(permutation("t", &s, bad).is_err(), "{bad:?}");
        }
        let wide = Shape::new(vec![1; 70]);
        let perm: Vec<usize> = (0..70).rev().collect();
        assert!(permutation("t", &wide, &perm).is_ok());
    }

    #[test]
    fn in_place_outputs_may_not_alias_their_inputs() {
        let sums = storage(3);
        let loss = storage(1);
        assert!(track_step(&sums, &loss, &storage(4)).is_ok());
        assert!(track_step(&sums, &loss, &sums.slice(0, 1).unwrap()).is_err());
        let rule = crate::optim::AdagradRule {
            clr: 0.1,
            eps: 1e-10,
            ..Default::default()
        };
        let p = storage(4);
        assert!(optimizer_step(&rule, &p, &storage(4), &[storage(4)]).is_ok());
        assert!(optimizer_step(&rule, &p, &p, &[storage(4)]).is_err());
        assert!(optimizer_step(&rule, &p, &storage(4), std::slice::from_ref(&p)).is_err());
        assert!(optimizer_step(&rule, &p, &storage(4), &[]).is_err());
    }
}
