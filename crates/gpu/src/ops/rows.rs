//! Row-wise kernels: softmax, the fused losses, accuracy counts and row gathering.

use super::groups_for;
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

pub fn softmax(
    rec: &Recorder,
    x: &Storage,
    rows: usize,
    cols: usize,
    log: bool,
) -> Result<Storage> {
    let out = rec.pool.storage(rows * cols)?;
    let params = SoftmaxParams {
        rows: rows as u32,
        cols: cols as u32,
        log: log.into(),
        _pad: 0,
    };
    rec.dispatch(&kernels::SOFTMAX_FORWARD, &params, &[x, &out], rows as u32)?;
    Ok(out)
}

pub fn softmax_backward(
    rec: &Recorder,
    y: &Storage,
    dy: &Storage,
    rows: usize,
    cols: usize,
    log: bool,
) -> Result<Storage> {
    let out = rec.pool.storage(rows * cols)?;
    let params = SoftmaxParams {
        rows: rows as u32,
        cols: cols as u32,
        log: log.into(),
        _pad: 0,
    };
    rec.dispatch(
        &kernels::SOFTMAX_BACKWARD,
        &params,
        &[y, dy, &out],
        rows as u32,
    )?;
    Ok(out)
}

fn loss_params(kind: LossKind, rows: usize, cols: usize) -> LossParams {
    let (code, eps) = match kind {
        LossKind::Mse => (0, 0.0),
        LossKind::BceProbs { eps } => (1, eps),
        LossKind::BceLogits => (2, 0.0),
        LossKind::SoftmaxCrossEntropy => (3, 0.0),
    };
    LossParams {
        rows: rows as u32,
        cols: cols as u32,
        kind: code,
        eps,
        metric: 0,
        threshold: 0.0,
        _pad: [0; 2],
    }
}

pub fn loss(
    rec: &Recorder,
    kind: LossKind,
    pred: &Storage,
    target: &Storage,
    rows: usize,
    cols: usize,
) -> Result<Storage> {
    let out = rec.pool.storage(1)?;
    // One kernel per kind, not one that branches on the kind: lavapipe recompiled (and
    // kept) that one at every dispatch, ~240 KB a step (see shaders/loss.wgsl).
    let kernel = match kind {
        LossKind::Mse => &kernels::LOSS_MSE,
        LossKind::BceProbs { .. } => &kernels::LOSS_BCE,
        LossKind::BceLogits => &kernels::LOSS_BCE_LOGITS,
        LossKind::SoftmaxCrossEntropy => &kernels::LOSS_CROSS_ENTROPY,
    };
    rec.dispatch(
        kernel,
        &loss_params(kind, rows, cols),
        &[pred, target, &out],
        1,
    )?;
    Ok(out)
}

pub fn loss_backward(
    rec: &Recorder,
    kind: LossKind,
    pred: &Storage,
    target: &Storage,
    dloss: &Storage,
    rows: usize,
    cols: usize,
) -> Result<Storage> {
    let out = rec.pool.storage(rows * cols)?;
    let params = loss_params(kind, rows, cols);
    let (kernel, groups) = match kind {
        // One workgroup per row: the row's log-sum-exp is reduced once.
        LossKind::SoftmaxCrossEntropy => (&kernels::CROSS_ENTROPY_BACKWARD, rows as u32),
        _ => (&kernels::LOSS_BACKWARD, groups_for(rows * cols)),
    };
    rec.dispatch(kernel, &params, &[pred, target, dloss, &out], groups)?;
    Ok(out)
}

/// Adds the correct predictions of `[rows, cols]` to `acc[0]` in one dispatch.
pub fn accumulate_correct(
    rec: &Recorder,
    kind: AccuracyKind,
    pred: &Storage,
    target: &Storage,
    (rows, cols): (usize, usize),
    acc: &Storage,
) -> Result<()> {
    let (metric, threshold) = match kind {
        AccuracyKind::Binary { threshold } => (0, threshold),
        AccuracyKind::Categorical => (1, 0.0),
    };
    let params = LossParams {
        metric,
        threshold,
        ..loss_params(LossKind::Mse, rows, cols)
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
    let params = TrackParams {
        n: grads.len() as u32,
        step,
        scale,
        _pad: 0,
    };
    rec.dispatch(
        &kernels::TRACK_STEP,
        &params,
        &[sums, loss, grads],
        groups_for(grads.len()).max(1),
    )
}

pub fn gather_rows(
    rec: &Recorder,
    src: &Storage,
    cols: usize,
    indices: &Storage,
    start: usize,
    count: usize,
) -> Result<Storage> {
    let out = rec.pool.storage(count * cols)?;
    let src_rows = src.len().checked_div(cols).unwrap_or(0);
    let params = GatherParams {
        count: count as u32,
        cols: cols as u32,
        start: start as u32,
        src_rows: src_rows as u32,
    };
    rec.dispatch(
        &kernels::GATHER_ROWS,
        &params,
        &[src, indices, &out],
        groups_for(count * cols),
    )?;
    Ok(out)
}
