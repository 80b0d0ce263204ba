//! `downhill::surfaces` and the `surfaces` example's core: the tensor gradient of every
//! surface against its analytic gradient, zero gradient at the minima, and a short run
//! of 2 surfaces × 2 optimizers through the table and the figures.

#[path = "../examples/models/surface_plots.rs"]
mod surface_plots;

use downhill::prelude::*;
use downhill::surfaces::{self, Surface};
use surface_plots::surface_runs::{entries, run_all, table_header, table_rows};

/// The tensor gradient (CPU, f32) at `(x, y)`.
fn tensor_gradient(s: &dyn Surface, x: f64, y: f64) -> (f64, f64) {
    let device = Device::cpu();
    let tx = device.scalar(x as f32).unwrap().param();
    let ty = device.scalar(y as f32).unwrap().param();
    let loss = s.loss(&tx, &ty).unwrap();
    assert!(
        (loss.item().unwrap() as f64 - s.value(x as f32 as f64, y as f32 as f64)).abs()
            < 1e-4 * (1.0 + s.value(x, y).abs())
    );
    let grads = loss.backward().unwrap();
    let gx = grads.to_vec(&tx).unwrap().unwrap()[0] as f64;
    let gy = grads.to_vec(&ty).unwrap().unwrap()[0] as f64;
    (gx, gy)
}

#[test]
fn tensor_gradients_match_analytic_gradients() {
    let points = [(0.25, -0.75), (-1.125, 0.5), (1.5, 1.25), (-0.5, -1.0)];
    for s in surfaces::all() {
        let mut all = points.to_vec();
        all.push(s.start());
        for (x, y) in all {
            let (tx, ty) = tensor_gradient(s.as_ref(), x, y);
            let (ax, ay) = s.gradient(x, y);
            let tol = 1e-4 * (1.0 + ax.abs().max(ay.abs()));
            assert!(
                (tx - ax).abs() < tol,
                "{} ∂x at ({x}, {y}): {tx} vs {ax}",
                s.name()
            );
            assert!(
                (ty - ay).abs() < tol,
                "{} ∂y at ({x}, {y}): {ty} vs {ay}",
                s.name()
            );
        }
    }
}

#[test]
fn tensor_gradient_vanishes_at_the_minima() {
    for s in surfaces::all() {
        for &(x, y) in s.minima() {
            let (gx, gy) = tensor_gradient(s.as_ref(), x, y);
            // f32 rounding of the point and of the ops: relative to the terms' size.
            assert!(
                gx.hypot(gy) < 1e-3,
                "{} at ({x}, {y}): {gx}, {gy}",
                s.name()
            );
        }
    }
}

#[test]
fn example_core_writes_table_and_figures() {
    let out = std::env::temp_dir().join(format!("downhill-surfaces-{}", std::process::id()));
    let chosen = ["himmelblau", "saddle"];
    let picked: Vec<_> = entries()
        .into_iter()
        .filter(|e| e.name == "SGD" || e.name == "Adam")
        .collect();
    assert_eq!(picked.len(), 2);
    let steps = 500;
    let mut table = table_header(steps);
    for (index, s) in surfaces::all().iter().enumerate() {
        if !chosen.contains(&s.name()) {
            continue;
        }
        let runs = run_all(&picked, s.as_ref(), index, steps, false).unwrap();
        assert_eq!(runs.len(), 2);
        for r in &runs {
            assert!(!r.diverged, "{} on {}", r.optimizer, s.name());
            assert_eq!(r.path.first().copied(), Some(s.start()));
        }
        table += &table_rows(s.as_ref(), &runs);
        let files = surface_plots::write_figures(&out, s.as_ref(), &runs).unwrap();
        assert_eq!(files.len(), 4);
        for f in &files {
            let bytes = std::fs::read(f).unwrap();
            assert!(!bytes.is_empty(), "{}", f.display());
            if f.extension().is_some_and(|e| e == "svg") {
                let text = String::from_utf8(bytes).unwrap();
                assert!(text.starts_with("<svg"), "{}", f.display());
                assert!(text.trim_end().ends_with("</svg>"), "{}", f.display());
            } else {
                assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", f.display());
            }
        }
    }
    let rows: Vec<&str> = table.lines().skip(2).collect();
    assert_eq!(rows.len(), 4, "{table}");
    // Himmelblau from the origin: SGD at 0.01 and Adam at 0.05 both converge within 500 steps.
    for row in &rows[..2] {
        assert!(row.starts_with("| himmelblau |"), "{row}");
        assert!(row.ends_with("| n/a |"), "{row}");
        assert!(!row.contains("| — |"), "{row}");
    }
    // The saddle: both escape (SGD at step 384, Adam at 139), no minimum to reach.
    for row in &rows[2..] {
        assert!(row.starts_with("| saddle |"), "{row}");
        assert!(row.contains("| — | yes (step "), "{row}");
    }
    std::fs::remove_dir_all(&out).ok();
}
