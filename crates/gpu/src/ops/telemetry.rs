//! Gradient-health reductions (core's `TelemetryOps`): one dispatch each, adding into the
//! epoch's sums (`shaders/telemetry.wgsl`, `shaders/telemetry_units.wgsl`).

use super::{groups_for, u32_of};
use crate::kernels;
use crate::GpuBackend;
use bytemuck::{Pod, Zeroable};
use downhill_core::backend::telemetry_ops as check;
use downhill_core::optim::SegmentTable;
use downhill_core::{Result, Storage, TelemetryOps, UnitProbe};

/// Mirrors `Segments` in telemetry.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct SegmentParams {
    nseg: u32,
    _pad0: u32,
    scale: f32,
    _pad1: u32,
}

/// Mirrors `Units` in telemetry_units.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct UnitParams {
    rows: u32,
    cols: u32,
    scale: f32,
    _pad: u32,
}

impl TelemetryOps for GpuBackend {
    fn accumulate_segment_squares(
        &self,
        x: &Storage,
        minus: Option<&Storage>,
        segments: &SegmentTable,
        acc: &Storage,
        scale: f32,
    ) -> Result<()> {
        check::accumulate_segment_squares(x, minus, segments, acc, scale)?;
        const OP: &str = "accumulate_segment_squares";
        u32_of(OP, "x", x.len())?;
        let nseg = u32_of(OP, "the segment count", segments.rows.len())?;
        let params = SegmentParams {
            nseg,
            _pad0: 0,
            scale,
            _pad1: 0,
        };
        let (kernel, minus) = match minus {
            Some(m) => (&kernels::SEGMENT_DIFF_SQUARES, m),
            None => (&kernels::SEGMENT_SQUARES, x), // bound, never read
        };
        self.rec
            .dispatch(kernel, &params, &[x, minus, &segments.device, acc], nseg)
    }

    fn accumulate_column_counts(
        &self,
        probe: UnitProbe,
        x: &Storage,
        (rows, cols): (usize, usize),
        acc: &Storage,
        scale: f32,
    ) -> Result<()> {
        check::accumulate_column_counts(x, (rows, cols), acc, scale)?;
        const OP: &str = "accumulate_column_counts";
        u32_of(OP, "the activation", x.len())?;
        let params = UnitParams {
            rows: u32_of(OP, "the rows", rows)?,
            cols: u32_of(OP, "the columns", cols)?,
            scale,
            _pad: 0,
        };
        let kernel = match probe {
            UnitProbe::Positive => &kernels::COLUMN_POSITIVE,
            UnitProbe::SigmoidSaturated => &kernels::COLUMN_SIGMOID_SATURATED,
            UnitProbe::TanhSaturated => &kernels::COLUMN_TANH_SATURATED,
        };
        if rows == 0 {
            return Ok(()); // nothing counts; the kernel would add 0
        }
        self.rec
            .dispatch(kernel, &params, &[x, acc], groups_for(params.cols))
    }
}
