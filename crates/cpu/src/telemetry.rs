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
            let sum: f64 = match &minus {
                None => x[range].iter().map(|&v| (v as f64) * (v as f64)).sum(),
                Some(m) => x[range.clone()]
                    .iter()
                    .zip(&m[range])
                    .map(|(&a, &b)| {
                        let d = (a - b) as f64;
                        d * d
                    })
                    .sum(),
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
        for row in x.chunks_exact(cols.max(1)).take(rows) {
            for (n, &v) in counts.iter_mut().zip(row) {
                *n += probe.counts(v) as u32;
            }
        }
        let mut acc = write(acc)?;
        for (slot, n) in acc.iter_mut().zip(counts) {
            *slot += scale * n as f32;
        }
        Ok(())
    }
}
