//! Row-wise kernels: softmax, the fused losses, accuracy counts and row gathering.

use super::{groups_for, u32_of};
use crate::kernels;
use crate::recorder::Recorder;
use bytemuck::{Pod, Zeroable};
use downhill_core::{AccuracyKind, LossKind, Result, Storage};

/// Mirrors `Rows` in softmax.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct SoftmaxParams {
    rows: u32,
    cols: u32,
    log: u32,
    _pad: u32,
}

/// Mirrors `Loss` in loss.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct LossParams {
    rows: u32,
    cols: u32,
    kind: u32,
    eps: f32,
    metric: u32,
    threshold: f32,
    _pad: [u32; 2],
}

/// Mirrors `Gather` in gather.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct GatherParams {
    count: u32,
    cols: u32,
    start: u32,
    src_rows: u32,
}

/// Mirrors `GatherPair` in gather.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct GatherPairParams {
    first: GatherParams,
    cols_b: u32,
    src_rows_b: u32,
    _pad: [u32; 2],
}

/// The uniform of a row-wise kernel over `[rows, cols]`.
fn rows_params(op: &str, rows: usize, cols: usize, log: bool) -> Result<SoftmaxParams> {
    Ok(SoftmaxParams {
        rows: u32_of(op, "rows", rows)?,
        cols: u32_of(op, "cols", cols)?,
        log: log.into(),
        _pad: 0,
    })
}

/// Softmax of `[rows, cols]`, `n` elements (as checked by core).
pub fn softmax(
    rec: &Recorder,
    x: &Storage,
    (rows, cols, n): (usize, usize, usize),
    log: bool,
) -> Result<Storage> {
    if n == 0 {
        return rec.pool.storage(0); // no rows to dispatch (however many empty ones)
    }
    let params = rows_params("softmax", rows, cols, log)?;
    let out = rec.pool.storage(n)?;
    rec.dispatch(&kernels::SOFTMAX_FORWARD, &params, &[x, &out], params.rows)?;
    Ok(out)
}

pub fn softmax_backward(
    rec: &Recorder,
    y: &Storage,
    dy: &Storage,
    (rows, cols, n): (usize, usize, usize),
    log: bool,
) -> Result<Storage> {
    if n == 0 {
        return rec.pool.storage(0);
    }
    let params = rows_params("softmax_backward", rows, cols, log)?;
    let out = rec.pool.storage(n)?;
    rec.dispatch(
        &kernels::SOFTMAX_BACKWARD,
        &params,
        &[y, dy, &out],
        params.rows,
    )?;
    Ok(out)
}

fn loss_params(op: &str, kind: LossKind, rows: usize, cols: usize) -> Result<LossParams> {
    let (code, eps) = match kind {
        LossKind::Mse => (0, 0.0),
        LossKind::BceProbs { eps } => (1, eps),
        LossKind::BceLogits => (2, 0.0),
        LossKind::SoftmaxCrossEntropy => (3, 0.0),
    };
    Ok(LossParams {
        rows: u32_of(op, "rows", rows)?,
        cols: u32_of(op, "cols", cols)?,
        kind: code,
        eps,
        metric: 0,
        threshold: 0.0,
        _pad: [0; 2],
    })
}

pub fn loss(
    rec: &Recorder,
    kind: LossKind,
    pred: &Storage,
    target: &Storage,
    rows: usize,
    cols: usize,
) -> Result<Storage> {
    let params = loss_params("loss", kind, rows, cols)?;
    let out = rec.pool.storage(1)?;
    // One kernel per kind, not one that branches on the kind: lavapipe recompiled (and
    // kept) that one at every dispatch, ~240 KB a step (see shaders/loss.wgsl).
    let kernel = match kind {
        LossKind::Mse => &kernels::LOSS_MSE,
        LossKind::BceProbs { .. } => &kernels::LOSS_BCE,
        LossKind::BceLogits => &kernels::LOSS_BCE_LOGITS,
        LossKind::SoftmaxCrossEntropy => &kernels::LOSS_CROSS_ENTROPY,
    };
    rec.dispatch(kernel, &params, &[pred, target, &out], 1)?;
    Ok(out)
}

/// Largest prediction (elements) whose loss and gradient one workgroup computes in one
/// dispatch; larger ones take the loss kernel and then the many-workgroup gradient.
const FUSED_MAX_ELEMENTS: usize = 1 << 16;
/// Most classes for which one invocation per row does a cross-entropy row's gradient.
const FUSED_MAX_CLASSES: usize = 64;

/// The loss and `d loss / d pred` for an upstream gradient of 1, `n` elements (as checked
/// by core): one dispatch for batch-sized predictions, else the two kernels.
pub fn loss_with_gradient(
    rec: &Recorder,
    kind: LossKind,
    (pred, target): (&Storage, &Storage),
    (rows, cols, n): (usize, usize, usize),
    one: &Storage,
) -> Result<(Storage, Storage)> {
    let kernel = match kind {
        _ if n > FUSED_MAX_ELEMENTS => None,
        LossKind::Mse => Some(&kernels::LOSS_MSE_GRAD),
        LossKind::BceProbs { .. } => Some(&kernels::LOSS_BCE_GRAD),
        LossKind::BceLogits => Some(&kernels::LOSS_BCE_LOGITS_GRAD),
        LossKind::SoftmaxCrossEntropy if cols <= FUSED_MAX_CLASSES => {
            Some(&kernels::LOSS_CROSS_ENTROPY_GRAD)
        }
        LossKind::SoftmaxCrossEntropy => None,
    };
    let Some(kernel) = kernel else {
        let out = loss(rec, kind, pred, target, rows, cols)?;
        let dpred = loss_backward(rec, kind, (pred, target, one), (rows, cols, n))?;
        return Ok((out, dpred));
    };
    let params = loss_params("loss", kind, rows, cols)?;
    let out = rec.pool.storage(1)?;
    let dpred = rec.pool.storage(n)?;
    rec.dispatch(kernel, &params, &[pred, target, &out, &dpred], 1)?;
    Ok((out, dpred))
}

/// `d loss / d pred` for `[rows, cols]` predictions, `n` elements (as checked by core).
pub fn loss_backward(
    rec: &Recorder,
    kind: LossKind,
    (pred, target, dloss): (&Storage, &Storage, &Storage),
    (rows, cols, n): (usize, usize, usize),
) -> Result<Storage> {
    if n == 0 {
        return rec.pool.storage(0); // no predictions, no gradient
    }
    let params = loss_params("loss_backward", kind, rows, cols)?;
    let out = rec.pool.storage(n)?;
    let (kernel, groups) = match kind {
        // One workgroup per row: the row's log-sum-exp is reduced once.
        LossKind::SoftmaxCrossEntropy => (&kernels::CROSS_ENTROPY_BACKWARD, params.rows),
        _ => (
            &kernels::LOSS_BACKWARD,
            groups_for(u32_of("loss_backward", "the prediction", n)?),
        ),
    };
    rec.dispatch(kernel, &params, &[pred, target, dloss, &out], groups)?;
    Ok(out)
}

/// Adds the correct predictions of `[rows, cols]` (`n` elements, as checked by core) to
/// `acc[0]` in one dispatch.
pub fn accumulate_correct(
    rec: &Recorder,
    kind: AccuracyKind,
    pred: &Storage,
    target: &Storage,
    (rows, cols, n): (usize, usize, usize),
    acc: &Storage,
) -> Result<()> {
    if n == 0 {
        return Ok(()); // no predictions, nothing correct
    }
    let (metric, threshold) = match kind {
        AccuracyKind::Binary { threshold } => (0, threshold),
        AccuracyKind::Categorical => (1, 0.0),
    };
    let params = LossParams {
        metric,
        threshold,
        ..loss_params("accumulate_correct", LossKind::Mse, rows, cols)?
    };
    rec.dispatch(&kernels::CORRECT_COUNT, &params, &[pred, target, acc], 1)
}

/// Mirrors `Track` in step_check.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct TrackParams {
    n: u32,
    step: u32,
    scale: f32,
    _pad: u32,
}

/// `fit`'s per-step loss sum and divergence watch in one dispatch (see
/// `Backend::track_step`).
pub fn track_step(
    rec: &Recorder,
    sums: &Storage,
    loss: &Storage,
    scale: f32,
    grads: &Storage,
    step: u32,
) -> Result<()> {
    let n = u32_of("track_step", "the gradients", grads.len())?;
    let params = TrackParams {
        n,
        step,
        scale,
        _pad: 0,
    };
    rec.dispatch(
        &kernels::TRACK_STEP,
        &params,
        &[sums, loss, grads],
        groups_for(n).max(1),
    )
}

/// Rows `indices[start..start + count]` of `[_, cols]`, `n = count · cols` elements (as
/// checked by core).
pub fn gather_rows(
    rec: &Recorder,
    (src, cols): (&Storage, usize),
    indices: &Storage,
    (start, count, n): (usize, usize, usize),
) -> Result<Storage> {
    if n == 0 {
        return rec.pool.storage(0);
    }
    const OP: &str = "gather_rows";
    let src_rows = src.len() / cols; // cols > 0: the result is not empty
    let params = GatherParams {
        count: u32_of(OP, "count", count)?,
        cols: u32_of(OP, "cols", cols)?,
        start: u32_of(OP, "start", start)?,
        src_rows: u32_of(OP, "the source rows", src_rows)?,
    };
    let total = u32_of(OP, "the result", n)?;
    let out = rec.pool.storage(n)?;
    rec.dispatch(
        &kernels::GATHER_ROWS,
        &params,
        &[src, indices, &out],
        groups_for(total),
    )?;
    Ok(out)
}

/// [`gather_rows`] of two matrices by the same rows in one dispatch; `n` and `n_b` their
/// result sizes (as checked by core).
pub fn gather_rows_pair(
    rec: &Recorder,
    (a, cols_a, n_a): (&Storage, usize, usize),
    (b, cols_b, n_b): (&Storage, usize, usize),
    indices: &Storage,
    (start, count): (usize, usize),
) -> Result<(Storage, Storage)> {
    if n_a == 0 || n_b == 0 {
        return Ok((
            gather_rows(rec, (a, cols_a), indices, (start, count, n_a))?,
            gather_rows(rec, (b, cols_b), indices, (start, count, n_b))?,
        ));
    }
    const OP: &str = "gather_rows";
    let params = GatherPairParams {
        first: GatherParams {
            count: u32_of(OP, "count", count)?,
            cols: u32_of(OP, "cols", cols_a)?,
            start: u32_of(OP, "start", start)?,
            src_rows: u32_of(OP, "the source rows", a.len() / cols_a)?,
        },
        cols_b: u32_of(OP, "cols", cols_b)?,
        src_rows_b: u32_of(OP, "the source rows", b.len() / cols_b)?,
        _pad: [0; 2],
    };
    let total = n_a.saturating_add(n_b);
    let total = u32_of(OP, "the results", total)?;
    let out_a = rec.pool.storage(n_a)?;
    let out_b = rec.pool.storage(n_b)?;
    rec.dispatch(
        &kernels::GATHER_ROWS_PAIR,
        &params,
        &[a, indices, &out_a, b, &out_b],
        groups_for(total),
    )?;
    Ok((out_a, out_b))
}
