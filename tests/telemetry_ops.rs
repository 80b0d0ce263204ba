//! The telemetry's two device reductions (`TelemetryOps`): against an f64 reference written
//! here, CPU against GPU on awkward sizes with NaN and ±inf, and their argument checks.

mod common;

use common::tolerance::{assert_close, U};
use downhill::optim::{SegmentRow, SegmentTable};
use downhill::prelude::*;
use downhill::random::SeededRng;
use downhill::{Backend, Storage, UnitProbe};

/// Segments of awkward lengths (1, a workgroup ± 1, several thousand) with gaps between.
fn table(backend: &dyn Backend) -> (SegmentTable, usize) {
    let lens = [1usize, 255, 257, 3, 5000, 64];
    let mut rows = Vec::new();
    let mut at = 7;
    for len in lens {
        rows.push(SegmentRow::of(at, &[len]).unwrap());
        at += len + 3;
    }
    (SegmentTable::new(backend, rows).unwrap(), at)
}

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = SeededRng::new(seed);
    (0..n).map(|_| rng.normal() * 3.0).collect()
}

/// acc[s] + scale · Σ (x − minus)² in f64.
fn reference(
    x: &[f32],
    minus: Option<&[f32]>,
    rows: &[SegmentRow],
    acc: &[f32],
    scale: f32,
) -> Vec<f32> {
    rows.iter()
        .zip(acc)
        .map(|(r, &a)| {
            let range = r.offset as usize..(r.offset + r.len) as usize;
            let sum: f64 = range
                .map(|i| {
                    let d = x[i] as f64 - minus.map_or(0.0, |m| m[i] as f64);
                    d * d
                })
                .sum();
            (a as f64 + scale as f64 * sum) as f32
        })
        .collect()
}

fn squares_on(device: &Device, x: &[f32], minus: Option<&[f32]>, scale: f32) -> Vec<f32> {
    let backend = device.backend();
    let (table, _) = table(backend);
    let xs = backend.upload(x).unwrap();
    let ms = minus.map(|m| backend.upload(m).unwrap());
    let start: Vec<f32> = (0..table.rows.len()).map(|i| i as f32 * 0.5).collect();
    let acc = backend.upload(&start).unwrap();
    backend
        .accumulate_segment_squares(&xs, ms.as_ref(), &table, &acc, scale)
        .unwrap();
    backend.download(&acc).unwrap()
}

#[test]
fn segment_squares_match_an_f64_reference_on_both_backends() {
    let cpu = common::cpu();
    let (t, n) = table(cpu.backend());
    let x = random(n, 1);
    let m = random(n, 2);
    let start: Vec<f32> = (0..t.rows.len()).map(|i| i as f32 * 0.5).collect();
    for device in common::devices() {
        for minus in [None, Some(m.as_slice())] {
            let got = squares_on(&device, &x, minus, 0.25);
            let want = reference(&x, minus, &t.rows, &start, 0.25);
            // f32 sums: 256 strided partial sums of at most 20 terms each, then a tree of
            // 8 levels, against a sum in f64: relative error ≤ (20 + 8 + 2)·u.
            assert_close(
                &format!("{} minus {}", device.name(), minus.is_some()),
                &want,
                &got,
                0.0,
                30.0 * U,
            );
        }
    }
}

#[test]
fn segment_squares_propagate_nan_and_infinity_per_segment() {
    let cpu = common::cpu();
    let (t, n) = table(cpu.backend());
    let mut x = random(n, 3);
    // NaN in segment 1, +inf in segment 4, −inf in segment 5: the others stay finite.
    x[t.rows[1].offset as usize + 100] = f32::NAN;
    x[t.rows[4].offset as usize + 4999] = f32::INFINITY;
    x[t.rows[5].offset as usize] = f32::NEG_INFINITY;
    for device in common::devices() {
        let got = squares_on(&device, &x, None, 1.0);
        assert!(got[1].is_nan(), "{}: {got:?}", device.name());
        assert_eq!(got[4], f32::INFINITY, "{}: {got:?}", device.name());
        assert_eq!(got[5], f32::INFINITY, "{}: {got:?}", device.name());
        for s in [0, 2, 3] {
            assert!(got[s].is_finite(), "{}: segment {s} {got:?}", device.name());
        }
    }
}

fn counts_on(device: &Device, probe: UnitProbe, y: &[f32], shape: (usize, usize)) -> Vec<f32> {
    let backend = device.backend();
    let ys = backend.upload(y).unwrap();
    let acc = backend.full(shape.1, 1.0).unwrap();
    backend
        .accumulate_column_counts(probe, &ys, shape, &acc, 0.5)
        .unwrap();
    backend.download(&acc).unwrap()
}

#[test]
fn column_counts_are_exact_and_agree_on_both_backends() {
    let (rows, cols) = (37, 300); // more columns than a workgroup
    let mut rng = SeededRng::new(5);
    let mut y: Vec<f32> = (0..rows * cols).map(|_| rng.uniform(-1.2, 1.2)).collect();
    // Values the probes must treat as the reference does, saturated or not.
    let special = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        1.0,
        0.999,
        0.001,
    ];
    for (i, v) in special.iter().enumerate() {
        y[i * cols + i] = *v;
    }
    for probe in [
        UnitProbe::Positive,
        UnitProbe::SigmoidSaturated,
        UnitProbe::TanhSaturated,
    ] {
        let want: Vec<f32> = (0..cols)
            .map(|c| {
                let n = (0..rows).filter(|r| probe.counts(y[r * cols + c])).count();
                1.0 + 0.5 * n as f32
            })
            .collect();
        for device in common::devices() {
            assert_eq!(
                counts_on(&device, probe, &y, (rows, cols)),
                want,
                "{probe:?} on {}",
                device.name()
            );
        }
    }
    // The probes themselves: NaN never counts; ±inf and exact 0/1 are saturated.
    assert!(!UnitProbe::Positive.counts(f32::NAN));
    assert!(!UnitProbe::SigmoidSaturated.counts(f32::NAN));
    assert!(UnitProbe::SigmoidSaturated.counts(1.0) && UnitProbe::SigmoidSaturated.counts(0.001));
    assert!(!UnitProbe::SigmoidSaturated.counts(0.5) && !UnitProbe::TanhSaturated.counts(0.9));
    assert!(UnitProbe::TanhSaturated.counts(-0.999) && !UnitProbe::Positive.counts(-0.0));
}

#[test]
fn bad_arguments_are_shape_errors_on_both_backends() {
    for device in common::devices() {
        let backend = device.backend();
        let (t, n) = table(backend);
        let x = backend.full(n, 1.0).unwrap();
        let short = backend.full(n - 4, 1.0).unwrap(); // ends inside the last segment
        let acc = backend.full(t.rows.len(), 0.0).unwrap();
        let few = backend.full(2, 0.0).unwrap();
        let name = device.name();
        let shape = |r: Result<()>| matches!(r, Err(Error::Shape { .. }));
        assert!(
            shape(backend.accumulate_segment_squares(&short, None, &t, &acc, 1.0)),
            "{name}"
        );
        assert!(
            shape(backend.accumulate_segment_squares(&x, Some(&short), &t, &acc, 1.0)),
            "{name}"
        );
        assert!(
            shape(backend.accumulate_segment_squares(&x, None, &t, &few, 1.0)),
            "{name}"
        );
        assert!(
            shape(backend.accumulate_segment_squares(&x, None, &t, &acc, f32::NAN)),
            "{name}"
        );
        let alias: Storage = x.slice(0, t.rows.len()).unwrap();
        assert!(
            shape(backend.accumulate_segment_squares(&x, None, &t, &alias, 1.0)),
            "{name}"
        );
        let y = backend.full(12, 1.0).unwrap();
        let cols = backend.full(4, 0.0).unwrap();
        assert!(
            shape(backend.accumulate_column_counts(UnitProbe::Positive, &y, (4, 4), &cols, 1.0)),
            "{name}"
        );
        assert!(
            shape(backend.accumulate_column_counts(UnitProbe::Positive, &y, (3, 4), &few, 1.0)),
            "{name}"
        );
        assert!(
            matches!(
                backend.accumulate_column_counts(
                    UnitProbe::Positive,
                    &y,
                    (usize::MAX, 2),
                    &few,
                    1.0
                ),
                Err(Error::TooLarge(_))
            ),
            "{name}"
        );
        // Nothing was written by a refused call.
        assert_eq!(
            backend.download(&acc).unwrap(),
            vec![0.0; t.rows.len()],
            "{name}"
        );
    }
}
