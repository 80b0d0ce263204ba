//! Metric statistics (`Backend::accumulate_stats`): one dispatch per batch and metric.

use super::{groups_for, u32_of};
use crate::kernels;
use crate::recorder::Recorder;
use bytemuck::{Pod, Zeroable};
use downhill_core::{AccuracyKind, MetricStats, Result, Storage};

/// Mirrors `Stats` in metrics.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct StatsParams {
    rows: u32,
    cols: u32,
    k: u32,
    threshold: f32,
}

/// Adds `[rows, cols]` predictions' statistics to `acc` (sizes checked by the caller).
pub fn accumulate(
    rec: &Recorder,
    stats: MetricStats,
    pred: &Storage,
    target: &Storage,
    (rows, cols): (usize, usize),
    acc: &Storage,
) -> Result<()> {
    const OP: &str = "accumulate_stats";
    let r = u32_of(OP, "the rows", rows)?;
    let c = u32_of(OP, "the columns", cols)?;
    let n = u32_of(OP, "the predictions", rows * cols)?;
    let (kernel, k, threshold, groups) = match stats {
        MetricStats::Confusion(AccuracyKind::Categorical) => {
            (&kernels::CONFUSION_CATEGORICAL, 0, 0.0, groups_for(r))
        }
        MetricStats::Confusion(AccuracyKind::Binary { threshold }) => {
            (&kernels::CONFUSION_BINARY, 0, threshold, groups_for(n))
        }
        MetricStats::TopK(k) => (&kernels::TOP_K, k, 0.0, groups_for(r)),
        // One workgroup: batch-sized inputs, column by column.
        MetricStats::Errors => (&kernels::ERRORS, 0, 0.0, 1),
    };
    let params = StatsParams {
        rows: r,
        cols: c,
        k,
        threshold,
    };
    rec.dispatch(kernel, &params, &[pred, target, acc], groups)
}
