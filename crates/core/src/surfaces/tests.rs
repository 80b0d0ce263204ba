//! Checks that need no backend: the analytic gradient against central differences of
//! `value`, and zero gradient at every known minimum.

use super::{all, by_name};

fn points() -> [(f64, f64); 4] {
    [(0.3, -0.7), (-1.1, 0.4), (1.7, 1.2), (-0.5, -1.3)]
}

#[test]
fn analytic_gradients_match_finite_differences() {
    for s in all() {
        for (x, y) in points() {
            let h = 1e-6;
            let fx = (s.value(x + h, y) - s.value(x - h, y)) / (2.0 * h);
            let fy = (s.value(x, y + h) - s.value(x, y - h)) / (2.0 * h);
            let (gx, gy) = s.gradient(x, y);
            let tol = 1e-5 * (1.0 + gx.abs().max(gy.abs()));
            assert!(
                (fx - gx).abs() < tol,
                "{} ∂x at ({x}, {y}): {fx} vs {gx}",
                s.name()
            );
            assert!(
                (fy - gy).abs() < tol,
                "{} ∂y at ({x}, {y}): {fy} vs {gy}",
                s.name()
            );
        }
    }
}

#[test]
fn minima_are_stationary_and_lowest() {
    for s in all() {
        let min = s.min_value();
        for &(x, y) in s.minima() {
            let (gx, gy) = s.gradient(x, y);
            assert!(
                gx.hypot(gy) < 1e-9,
                "{} at ({x}, {y}): {gx}, {gy}",
                s.name()
            );
            assert!(s.bounds().contains(x, y), "{}", s.name());
            let m = min.unwrap_or(f64::NAN);
            assert!((s.value(x, y) - m).abs() < 1e-12, "{}", s.name());
        }
        let (sx, sy) = s.start();
        assert!(s.bounds().contains(sx, sy), "{} start", s.name());
        if let Some(m) = min {
            assert!(s.value(sx, sy) > m, "{} starts at its minimum", s.name());
        }
        assert_eq!(
            s.minima().is_empty(),
            s.escape_radius().is_some(),
            "{}",
            s.name()
        );
    }
}

#[test]
fn names_are_unique_and_found() {
    for s in all() {
        assert_eq!(by_name(s.name()).map(|f| f.name()), Some(s.name()));
    }
    assert!(by_name("rastrigin").is_none());
}
