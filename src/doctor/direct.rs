//! Checks of the backend methods that `fit` calls directly rather than through tensors:
//! memory ops, the fused loss with its gradient, metric counters and statistics, the
//! per-step bookkeeping (`track_step`), mini-batch gathering, gradient clipping and the
//! telemetry's reductions; the tolerances of tests/parity.rs, tests/metrics.rs and
//! tests/telemetry_ops.rs.

use super::harness::{Draw, Group};
use super::tolerance::*;
use crate::optim::{SegmentRow, SegmentTable};
use crate::{AccuracyKind, Backend, Device, GradClip, LossKind, MetricStats, Result, UnitProbe};

/// Runs `f` on both backends and compares what it returns.
fn pair(
    group: &mut Group,
    (cpu, gpu): (&Device, &Device),
    name: &str,
    tol: Tol,
    f: impl Fn(&dyn Backend) -> Result<Vec<f32>>,
) {
    match (f(cpu.backend()), f(gpu.backend())) {
        (Ok(c), Ok(g)) => group.close(name, &c, &g, tol),
        (Err(e), _) => group.fail(format!("{name}: the CPU reference failed: {e}")),
        (_, Err(e)) => group.fail(format!("{name}: {e}")),
    }
}

/// The group of direct backend calls, CPU against `gpu`.
pub(crate) fn check(cpu: &Device, gpu: &Device) -> Group {
    let mut group = Group::new("memory, metrics, step bookkeeping");
    let g = &mut group;
    let both = (cpu, gpu);
    let mut d = Draw(0xD1EC);
    let n = 1009;
    let x = d.with_specials(n, -1.0, 1.0).data;
    // 0.25 + 0.5·x is one rounding on either side (0.5·x is exact): exact.
    pair(
        g,
        both,
        "upload, full, accumulate, download [1009]",
        EXACT,
        |b| {
            let (a, acc) = (b.upload(&x)?, b.full(n, 0.25)?);
            b.accumulate(&acc, &a, 0.5)?;
            b.download(&acc)
        },
    );
    pair(g, both, "fill, copy [1009]", EXACT, |b| {
        let (a, c) = (b.upload(&x)?, b.full(n, 0.0)?);
        // A view at an offset of 96 elements (bindings start on 32-byte boundaries).
        b.fill(&a.slice(96, 500)?, -1.5)?;
        b.copy(&a, &c)?;
        b.download(&c)
    });
    // The fused loss and its gradient: tests/parity.rs's MSE bounds.
    let (rows, cols) = (37, 3);
    let (p, t) = (
        d.uniform(&[rows, cols], -2.0, 2.0).data,
        d.uniform(&[rows, cols], -2.0, 2.0).data,
    );
    let nn = rows * cols;
    pair(
        g,
        both,
        "loss_with_gradient MSE [37, 3]: the loss",
        Tol::rel((depth(nn) + 3.0) * U),
        |b| {
            let (l, _) =
                b.loss_with_gradient(LossKind::Mse, &b.upload(&p)?, &b.upload(&t)?, rows, cols)?;
            b.download(&l)
        },
    );
    pair(
        g,
        both,
        "loss_with_gradient MSE [37, 3]: the gradient",
        Tol::rel(DIV.rtol + EPS),
        |b| {
            let (_, dp) =
                b.loss_with_gradient(LossKind::Mse, &b.upload(&p)?, &b.upload(&t)?, rows, cols)?;
            b.download(&dp)
        },
    );
    // The loss alone and its backward (tests/parity.rs's logits bounds, upstream 1.5).
    let z = d.with_specials(nn, -6.0, 6.0).data;
    let nf = nn as f64;
    let bce = LossKind::BceLogits;
    let fwd = Tol::new(
        12.0 * U + 15.0 * EPS + LOG_ABS + 14.0 * U,
        (depth(nn) + 2.0) * U,
    );
    let bwd = Tol::new(1.5 * (TRANSC.atol + TRANSC.rtol) / nf, 3.0 * EPS);
    let binary_t: Vec<f32> = t.iter().map(|&v| (v > 0.0) as u8 as f32).collect();
    pair(g, both, "loss BCE with logits, finite [37, 3]", fwd, |b| {
        b.download(&b.loss(bce, &b.upload(&p)?, &b.upload(&binary_t)?, rows, cols)?)
    });
    pair(
        g,
        both,
        "loss_backward BCE with logits with NaN/±inf [37, 3]",
        bwd,
        |b| {
            let dl = b.full(1, 1.5)?;
            b.download(&b.loss_backward(
                bce,
                &b.upload(&z)?,
                &b.upload(&binary_t)?,
                &dl,
                rows,
                cols,
            )?)
        },
    );
    // Counters: exact (tests/parity.rs, tests/metrics.rs); sums of errors within 1e-4.
    let (rows, cols) = (31, 10);
    let mut scores = d.uniform(&[rows, cols], -3.0, 3.0).data;
    scores[17] = f32::NAN;
    let labels = d.labels(rows, cols).data;
    let values = d.uniform(&[rows, cols], -1.0, 1.0).data;
    let binary: Vec<f32> = values.iter().map(|&v| (v > 0.0) as u8 as f32).collect();
    let stats: [(MetricStats, &[f32], Tol); 4] = [
        (
            MetricStats::Confusion(AccuracyKind::Categorical),
            &labels,
            EXACT,
        ),
        (
            MetricStats::Confusion(AccuracyKind::Binary { threshold: 0.0 }),
            &binary,
            EXACT,
        ),
        (MetricStats::TopK(3), &labels, EXACT),
        (MetricStats::Errors, &values, Tol::new(1e-4, 1e-4)),
    ];
    for (s, target, tol) in stats {
        pair(
            g,
            both,
            &format!("accumulate_stats {s:?} [31, 10]"),
            tol,
            |b| {
                let acc = b.full(s.len(cols), 0.0)?;
                let (pr, ta) = (b.upload(&scores)?, b.upload(target)?);
                for _ in 0..2 {
                    b.accumulate_stats(s, &pr, &ta, rows, cols, &acc)?;
                }
                b.download(&acc)
            },
        );
    }
    for (kind, target) in [
        (AccuracyKind::Categorical, &labels),
        (AccuracyKind::Binary { threshold: 0.0 }, &binary),
    ] {
        // Binary counts over several columns add fractions: 16 U (tests/parity.rs).
        let tol = if matches!(kind, AccuracyKind::Binary { .. }) {
            Tol::rel(16.0 * U)
        } else {
            EXACT
        };
        pair(
            g,
            both,
            &format!("accumulate_correct {kind:?} [31, 10]"),
            tol,
            |b| {
                let acc = b.full(1, 0.5)?;
                b.accumulate_correct(
                    kind,
                    &b.upload(&scores)?,
                    &b.upload(target)?,
                    rows,
                    cols,
                    &acc,
                )?;
                b.download(&acc)
            },
        );
    }
    // track_step: the loss sum and the first NaN loss / non-finite gradient steps.
    pair(
        g,
        both,
        "track_step with a NaN loss and an infinite gradient",
        EXACT,
        |b| {
            let sums = b.full(3, 0.0)?;
            let finite = b.upload(&[0.5, -1.0, 2.0, 0.25, 1.0])?;
            let infinite = b.upload(&[0.5, -1.0, f32::INFINITY, 0.25, 1.0])?;
            for step in 1..=4u32 {
                let loss = b.full(
                    1,
                    if step == 3 {
                        f32::NAN
                    } else {
                        0.75 * step as f32
                    },
                )?;
                let grads = if step == 4 { &infinite } else { &finite };
                b.track_step(&sums, &loss, 0.25, grads, step)?;
            }
            b.download(&sums)
        },
    );
    // Mini-batches gathered on the device by a shuffled index buffer: copies, exact.
    let src = d.uniform(&[23, 7], -1.0, 1.0).data;
    let other = d.uniform(&[23, 2], -1.0, 1.0).data;
    let order: Vec<u32> = (0..23u32).map(|i| (i * 17 + 5) % 23).collect();
    pair(
        g,
        both,
        "gather_rows and gather_rows_pair, 9 of 23 rows",
        EXACT,
        |b| {
            let idx = b.upload_indices(&order)?;
            let (s, o) = (b.upload(&src)?, b.upload(&other)?);
            let one = b.gather_rows(&s, 7, &idx, 4, 9)?;
            let (pa, pb) = b.gather_rows_pair((&s, 7), (&o, 2), &idx, 11, 9)?;
            let mut out = b.download(&one)?;
            out.extend(b.download(&pa)?);
            out.extend(b.download(&pb)?);
            Ok(out)
        },
    );
    // Clipping: tests/parity.rs's bounds (1324 = 4·331 elements, norm ≈ 21).
    let grads = d.uniform(&[1324], -1.0, 1.0).data;
    for (clip, tol) in [
        (GradClip::Norm(1.0), Tol::rel(16.0 * EPS)),
        (GradClip::Value(0.3), EXACT),
    ] {
        pair(
            g,
            both,
            &format!("clip_gradients {clip:?} [1324]"),
            tol,
            |b| {
                let s = b.upload(&grads)?;
                b.clip_gradients(&s, clip)?;
                b.download(&s)
            },
        );
    }
    telemetry(g, both, &mut d);
    group
}

/// The telemetry's reductions (tests/telemetry_ops.rs's bounds): sums of squares per
/// segment (f32 partial sums on a GPU against f64: 30 u relative) with a NaN in one
/// segment, and per-column counts (exact) with NaN and ±inf among the values.
fn telemetry(g: &mut Group, both: (&Device, &Device), d: &mut Draw) {
    let x = d.with_specials(1200, -3.0, 3.0).data;
    let y = d.uniform(&[1200], -3.0, 3.0).data;
    let rows = [(5, 1), (9, 255), (270, 257), (600, 590)];
    pair(
        g,
        both,
        "accumulate_segment_squares, 4 segments of 1..590",
        Tol::rel(30.0 * U),
        |b| {
            let table = SegmentTable::new(
                b,
                rows.iter()
                    .map(|&(at, len)| SegmentRow::of(at, &[len]))
                    .collect::<Result<_>>()?,
            )?;
            let (xs, ys) = (b.upload(&x)?, b.upload(&y)?);
            // Two regions of one buffer, as fit's telemetry lays them (64 elements apart: a
            // GPU binds views on 32-byte boundaries only).
            let acc = b.full(64 + rows.len(), 0.5)?;
            let (squares, diff) = (acc.slice(0, rows.len())?, acc.slice(64, rows.len())?);
            b.accumulate_segment_squares(&xs, None, &table, &squares, 0.25)?;
            b.accumulate_segment_squares(&xs, Some(&ys), &table, &diff, 1.0)?;
            b.download(&acc)
        },
    );
    for probe in [
        UnitProbe::Positive,
        UnitProbe::SigmoidSaturated,
        UnitProbe::TanhSaturated,
    ] {
        pair(
            g,
            both,
            &format!("accumulate_column_counts {probe:?} [40, 30]"),
            EXACT,
            |b| {
                let xs = b.upload(&x[..1200])?;
                let acc = b.full(30, 1.0)?;
                b.accumulate_column_counts(probe, &xs, (40, 30), &acc, 0.5)?;
                b.download(&acc)
            },
        );
    }
}
