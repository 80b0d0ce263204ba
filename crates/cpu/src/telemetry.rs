//! Gradient-health reductions (core's `TelemetryOps`): sums of squares per segment in f64,
//! and per-column counts of an activation's units.

use crate::buffer::{read, write};
use crate::CpuBackend;
use downhill_core::backend::telemetry_ops as check;
use downhill_core::optim::SegmentTable;
use downhill_core::{Result, Storage, TelemetryOps, UnitProbe};

impl TelemetryOps for CpuBackend {
    fn accumulate_segment_squares(
        &self,
        x: &Storage,
        minus: Option<&Storage>,
        segments: &SegmentTable,
        acc: &Storage,
        scale: f32,
    ) -> Result<()> {
        check::accumulate_segment_squares(x, minus, segments, acc, scale)?;
        let x = read(x)?;
        let minus = minus.map(read).transpose()?;
        let mut acc = write(acc)?;
        for (slot, seg) in acc.iter_mut().zip(&segments.rows) {
            let range = seg.offset as usize..(seg.offset + seg.len) as usize;
            let sum = match &minus {
                None => sum_squares(&x[range], |v| v),
                Some(m) => {
                    let (x, m) = (&x[range.clone()], &m[range]);
                    let diff: Vec<f32> = x.iter().zip(m).map(|(a, b)| a - b).collect();
                    sum_squares(&diff, |v| v)
                }
            };
            *slot += scale * sum as f32;
        }
        Ok(())
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
        let x = read(x)?;
        let mut counts = vec![0u32; cols];
        let mut count = |test: fn(f32) -> bool| {
            for row in x.chunks_exact(cols.max(1)).take(rows) {
                for (n, &v) in counts.iter_mut().zip(row) {
                    *n += test(v) as u32;
                }
            }
        };
        match probe {
            UnitProbe::Positive => count(|v| UnitProbe::Positive.counts(v)),
            UnitProbe::SigmoidSaturated => count(|v| UnitProbe::SigmoidSaturated.counts(v)),
            UnitProbe::TanhSaturated => count(|v| UnitProbe::TanhSaturated.counts(v)),
        }
        let mut acc = write(acc)?;
        for (slot, n) in acc.iter_mut().zip(counts) {
            *slot += scale * n as f32;
        }
        Ok(())
    }
}

/// `Σ f(v)²` in f64 over eight lanes (so that it vectorises), the lanes added at the end.
fn sum_squares(values: &[f32], f: impl Fn(f32) -> f32) -> f64 {
    let mut lanes = [0.0f64; 8];
    let chunks = values.chunks_exact(8);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            let v = f(v) as f64;
            *lane += v * v;
        }
    }
    let tail: f64 = tail.iter().map(|&v| (f(v) as f64).powi(2)).sum();
    lanes.iter().sum::<f64>() + tail
}
