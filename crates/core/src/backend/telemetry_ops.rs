//! `TelemetryOps`: the two reductions `fit`'s gradient-health telemetry runs on the device
//! (`FitConfig::telemetry`), accumulating into the epoch's sums so that they come back with
//! the epoch's one read-back, and the argument checks every implementation runs first.

use super::Storage;
use crate::error::{Error, Result};
use crate::optim::tensorwise::{check_rows, SegmentTable};

/// What a unit of an activation's output counts for in
/// [`TelemetryOps::accumulate_column_counts`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnitProbe {
    /// `x > 0`: a ReLU unit that is alive on this row (NaN is not).
    Positive,
    /// A sigmoid output `y` in the flat tails: `y·(1 − y) < 0.25 · SATURATION`.
    SigmoidSaturated,
    /// A tanh output `y` in the flat tails: `1 − y² < SATURATION`.
    TanhSaturated,
}

impl UnitProbe {
    /// Whether `y` counts (the CPU's test; the GPU kernel computes the same in f32).
    pub fn counts(self, y: f32) -> bool {
        let s = crate::train::SATURATION;
        match self {
            UnitProbe::Positive => y > 0.0,
            UnitProbe::SigmoidSaturated => y * (1.0 - y) < 0.25 * s,
            UnitProbe::TanhSaturated => 1.0 - y * y < s,
        }
    }

    /// The kernels' code for the probe.
    pub fn code(self) -> u32 {
        match self {
            UnitProbe::Positive => 0,
            UnitProbe::SigmoidSaturated => 1,
            UnitProbe::TanhSaturated => 2,
        }
    }
}

/// Reductions for gradient-health telemetry. A GPU runs each as one dispatch.
pub trait TelemetryOps {
    /// For every segment `s` of the table: `acc[s] += scale · Σ (x[i] − minus[i])²` over the
    /// segment's elements (`minus` absent: `Σ x[i]²`). The GPU sums each segment in one
    /// workgroup (256 partial sums, then a tree), the CPU in f64: they agree to f32 rounding.
    fn accumulate_segment_squares(
        &self,
        x: &Storage,
        minus: Option<&Storage>,
        segments: &SegmentTable,
        acc: &Storage,
        scale: f32,
    ) -> Result<()>;

    /// For every column `c` of the `[rows, cols]` matrix `x`:
    /// `acc[c] += scale · #{r : probe counts x[r, c]}`.
    fn accumulate_column_counts(
        &self,
        probe: UnitProbe,
        x: &Storage,
        shape: (usize, usize),
        acc: &Storage,
        scale: f32,
    ) -> Result<()>;
}

fn apart(op: &'static str, acc: &Storage, inputs: &[(&str, &Storage)]) -> Result<()> {
    match inputs.iter().find(|(_, s)| s.same_buffer(acc)) {
        Some((what, _)) => Err(Error::shape(
            op,
            format!("the accumulator shares a buffer with {what}"),
        )),
        None => Ok(()),
    }
}

/// The checks of [`TelemetryOps::accumulate_segment_squares`]: `minus` as long as `x`, the
/// segments inside `x` (ascending) with 8 `u32`s per row on the device, one accumulator
/// per segment, the accumulator apart from the inputs, a finite scale.
pub fn accumulate_segment_squares(
    x: &Storage,
    minus: Option<&Storage>,
    segments: &SegmentTable,
    acc: &Storage,
    scale: f32,
) -> Result<()> {
    const OP: &str = "accumulate_segment_squares";
    if let Some(m) = minus.filter(|m| m.len() != x.len()) {
        return Err(Error::shape(
            OP,
            format!("minus holds {} elements, x {}", m.len(), x.len()),
        ));
    }
    check_rows(OP, &segments.rows, x.len())?;
    if segments.device.len() != segments.rows.len() * 8 {
        return Err(Error::shape(
            OP,
            format!(
                "the device segment table holds {} values for {} rows of 8",
                segments.device.len(),
                segments.rows.len()
            ),
        ));
    }
    if acc.len() != segments.rows.len() {
        return Err(Error::shape(
            OP,
            format!(
                "{} accumulators for {} segments",
                acc.len(),
                segments.rows.len()
            ),
        ));
    }
    if !scale.is_finite() {
        return Err(Error::shape(OP, format!("a scale of {scale}")));
    }
    let mut inputs = vec![("x", x), ("the segment table", &segments.device)];
    inputs.extend(minus.map(|m| ("minus", m)));
    apart(OP, acc, &inputs)
}

/// The checks of [`TelemetryOps::accumulate_column_counts`]: `x` holds `rows · cols`
/// elements (no overflow), one accumulator per column, apart from `x`, a finite scale.
pub fn accumulate_column_counts(
    x: &Storage,
    (rows, cols): (usize, usize),
    acc: &Storage,
    scale: f32,
) -> Result<()> {
    const OP: &str = "accumulate_column_counts";
    let n = rows
        .checked_mul(cols)
        .ok_or_else(|| Error::TooLarge(format!("{OP}: {rows} × {cols} elements")))?;
    if x.len() != n {
        return Err(Error::shape(
            OP,
            format!("x holds {} elements, not {rows} × {cols}", x.len()),
        ));
    }
    if acc.len() != cols {
        return Err(Error::shape(
            OP,
            format!("{} accumulators for {cols} columns", acc.len()),
        ));
    }
    if !scale.is_finite() {
        return Err(Error::shape(OP, format!("a scale of {scale}")));
    }
    apart(OP, acc, &[("x", x)])
}
