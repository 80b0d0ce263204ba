//! PyTorch's `_strong_wolfe` line search and `_cubic_interpolate` (ported there from
//! `torch/optim`'s `lswolfe.lua` and `polyinterp.lua`): bracket a step satisfying the
//! strong Wolfe conditions (`c1` 1e-4, `c2` 0.9), then zoom into the bracket by cubic
//! interpolation, at most `max_ls` (25) evaluations after the first; the bracket is
//! given up when narrower than `tolerance_change` 1e-9 (relative to `max |d|`).
//!
//! Every scalar here is on the host, as PyTorch branches on each. The comparisons are
//! written exactly as PyTorch's, so a NaN takes the same branch (a comparison with NaN
//! is false), and `min`/`max` are Python's (the first argument unless the second
//! compares smaller/larger).

use crate::backend::Storage;
use crate::error::Result;

/// Sufficient decrease (Armijo) constant.
const C1: f64 = 1e-4;
/// Curvature constant.
const C2: f64 = 0.9;
/// The bracket-width tolerance: `_strong_wolfe`'s default, which `LBFGS.step` does not
/// override, so the configuration's `tolerance_change` does not reach the line search.
const TOLERANCE_CHANGE: f64 = 1e-9;

/// One evaluation of the objective along the direction: the loss, the flat gradient, its
/// directional derivative `g·d` and `max |g|` (fetched with the loss in one download,
/// so the optimality test after the search needs none).
#[derive(Clone)]
pub(super) struct Point {
    pub f: f64,
    pub g: Storage,
    pub gtd: f64,
    pub g_max: f32,
}

/// Python's `max(a, b)`: `a` unless `b > a`.
pub(super) fn py_max(a: f64, b: f64) -> f64 {
    if b > a {
        b
    } else {
        a
    }
}

/// Python's `min(a, b)`: `a` unless `b < a`.
pub(super) fn py_min(a: f64, b: f64) -> f64 {
    if b < a {
        b
    } else {
        a
    }
}

/// PyTorch's `_cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds)`: the minimiser of the
/// cubic through two points with values `f` and derivatives `g`, clamped to `bounds`
/// (by default the interval between the points); the bounds' midpoint when the cubic
/// has no real minimiser.
pub(super) fn cubic_interpolate(
    (x1, f1, g1): (f64, f64, f64),
    (x2, f2, g2): (f64, f64, f64),
    bounds: Option<(f64, f64)>,
) -> f64 {
    let (xmin_bound, xmax_bound) = match bounds {
        Some(b) => b,
        None if x1 <= x2 => (x1, x2),
        None => (x2, x1),
    };
    let d1 = g1 + g2 - 3.0 * (f1 - f2) / (x1 - x2);
    let d2_square = d1 * d1 - g1 * g2;
    if d2_square >= 0.0 {
        let d2 = d2_square.sqrt();
        let min_pos = if x1 <= x2 {
            x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2.0 * d2))
        } else {
            x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2.0 * d2))
        };
        py_min(py_max(min_pos, xmin_bound), xmax_bound)
    } else {
        (xmin_bound + xmax_bound) / 2.0
    }
}

/// What the search found: the point, its step `t` and the evaluations it took.
pub(super) struct Found {
    pub point: Point,
    pub t: f64,
    pub evals: u64,
}

/// PyTorch's `_strong_wolfe(obj_func, x, t, d, f, g, gtd)` from the point `start` (at
/// step 0) with the initial step `t`; `eval(t)` evaluates the objective at `x + t·d`
/// and puts the parameters back at `x`; `d_norm` is `max |d|`.
pub(super) fn strong_wolfe<F>(
    eval: &mut F,
    mut t: f64,
    d_norm: f64,
    start: &Point,
    max_ls: usize,
) -> Result<Found>
where
    F: FnMut(f64) -> Result<Point>,
{
    let (f, gtd) = (start.f, start.gtd);
    let mut new = eval(t)?;
    let mut evals = 1;
    let (mut t_prev, mut prev) = (0.0, start.clone());
    let mut done = false;
    let mut ls_iter = 0;
    // (step, point) pairs: PyTorch's bracket, bracket_f, bracket_g and bracket_gtd.
    let mut bracket: Vec<(f64, Point)> = Vec::new();
    while ls_iter < max_ls {
        if new.f > f + C1 * t * gtd || (ls_iter > 1 && new.f >= prev.f) {
            bracket = vec![(t_prev, prev.clone()), (t, new.clone())];
            break;
        }
        if new.gtd.abs() <= -C2 * gtd {
            bracket = vec![(t, new.clone())];
            done = true;
            break;
        }
        if new.gtd >= 0.0 {
            bracket = vec![(t_prev, prev.clone()), (t, new.clone())];
            break;
        }
        let min_step = t + 0.01 * (t - t_prev);
        let max_step = t * 10.0;
        let tmp = t;
        t = cubic_interpolate(
            (t_prev, prev.f, prev.gtd),
            (t, new.f, new.gtd),
            Some((min_step, max_step)),
        );
        t_prev = tmp;
        prev = new;
        new = eval(t)?;
        evals += 1;
        ls_iter += 1;
    }
    if ls_iter == max_ls {
        bracket = vec![(0.0, start.clone()), (t, new.clone())];
    }

    let order = |b: &[(f64, Point)]| {
        if b[0].1.f <= b[b.len() - 1].1.f {
            (0, 1)
        } else {
            (1, 0)
        }
    };
    let mut insuf_progress = false;
    let (mut low, mut high) = order(&bracket);
    while !done && ls_iter < max_ls {
        if (bracket[1].0 - bracket[0].0).abs() * d_norm < TOLERANCE_CHANGE {
            break;
        }
        let (a, b) = (&bracket[0], &bracket[1]);
        t = cubic_interpolate((a.0, a.1.f, a.1.gtd), (b.0, b.1.f, b.1.gtd), None);
        let (hi, lo) = (py_max(a.0, b.0), py_min(a.0, b.0));
        let eps = 0.1 * (hi - lo);
        if py_min(hi - t, t - lo) < eps {
            // Too close to a boundary: move 0.1 of the bracket away from it.
            if insuf_progress || t >= hi || t <= lo {
                t = if (t - hi).abs() < (t - lo).abs() {
                    hi - eps
                } else {
                    lo + eps
                };
                insuf_progress = false;
            } else {
                insuf_progress = true;
            }
        } else {
            insuf_progress = false;
        }
        new = eval(t)?;
        evals += 1;
        ls_iter += 1;
        if new.f > f + C1 * t * gtd || new.f >= bracket[low].1.f {
            bracket[high] = (t, new.clone());
            (low, high) = order(&bracket);
        } else {
            if new.gtd.abs() <= -C2 * gtd {
                done = true;
            } else if new.gtd * (bracket[high].0 - bracket[low].0) >= 0.0 {
                bracket[high] = bracket[low].clone();
            }
            bracket[low] = (t, new.clone());
        }
    }
    // A one-point bracket whose loss is NaN orders as (1, 0): PyTorch then fails with an
    // IndexError; the one point is the answer here.
    let (t, point) = bracket.swap_remove(low.min(bracket.len() - 1));
    Ok(Found { point, t, evals })
}
