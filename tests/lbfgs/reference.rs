//! PyTorch's `torch.optim.LBFGS.step` (with `_strong_wolfe` and `_cubic_interpolate`)
//! written again in f64 on plain vectors, statement for statement from
//! `torch/optim/lbfgs.py`, for the tests to compare the library against. Python's
//! `min`/`max` (first argument unless the second compares smaller/larger) and its NaN
//! comparisons (false) are kept, so a NaN takes PyTorch's branch.

#![allow(clippy::too_many_arguments)]

use std::cell::Cell;

thread_local! {
    /// How often the zoom phase took its rarer branches on this thread: the old high
    /// point became the low one, a trial point was moved away from a bracket end, and
    /// one was kept near an end (insufficient progress marked).
    pub static ZOOM_BRANCHES: Cell<[u64; 3]> = const { Cell::new([0; 3]) };
    /// For the tests' own check that those branches matter: `[0]` skips the first,
    /// `[1]` ignores the insufficient-progress mark.
    pub static ZOOM_SKIP: Cell<[bool; 2]> = const { Cell::new([false; 2]) };
}

fn skip(k: usize) -> bool {
    ZOOM_SKIP.with(|c| c.get()[k])
}

fn hit(k: usize) {
    ZOOM_BRANCHES.with(|c| {
        let mut v = c.get();
        v[k] += 1;
        c.set(v);
    });
}

/// The objective: loss and gradient at a point.
pub type Objective<'a> = dyn FnMut(&[f64]) -> (f64, Vec<f64>) + 'a;

#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub lr: f64,
    pub max_iter: usize,
    pub max_eval: usize,
    pub tolerance_grad: f64,
    pub tolerance_change: f64,
    pub history_size: usize,
    pub strong_wolfe: bool,
}

/// `self.state[p]`.
#[derive(Clone, Debug, Default)]
pub struct State {
    pub func_evals: u64,
    pub n_iter: u64,
    pub d: Vec<f64>,
    pub t: f64,
    pub old_dirs: Vec<Vec<f64>>,
    pub old_stps: Vec<Vec<f64>>,
    pub ro: Vec<f64>,
    pub h_diag: f64,
    pub prev_flat_grad: Vec<f64>,
    pub prev_loss: f64,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
/// `x.abs().max()`, NaN if any is NaN (as `torch.max`).
fn abs_max(x: &[f64]) -> f64 {
    x.iter().fold(0.0, |m: f64, v| {
        if v.is_nan() || m.is_nan() {
            f64::NAN
        } else {
            m.max(v.abs())
        }
    })
}
fn py_max(a: f64, b: f64) -> f64 {
    if b > a {
        b
    } else {
        a
    }
}
fn py_min(a: f64, b: f64) -> f64 {
    if b < a {
        b
    } else {
        a
    }
}
/// `x + t·d`.
fn moved(x: &[f64], t: f64, d: &[f64]) -> Vec<f64> {
    x.iter().zip(d).map(|(a, b)| a + t * b).collect()
}

pub fn cubic_interpolate(
    x1: f64,
    f1: f64,
    g1: f64,
    x2: f64,
    f2: f64,
    g2: f64,
    bounds: Option<(f64, f64)>,
) -> f64 {
    let (xmin_bound, xmax_bound) = match bounds {
        Some(b) => b,
        None => {
            if x1 <= x2 {
                (x1, x2)
            } else {
                (x2, x1)
            }
        }
    };
    let d1 = g1 + g2 - 3.0 * (f1 - f2) / (x1 - x2);
    let d2_square = d1.powi(2) - g1 * g2;
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

/// `_strong_wolfe(obj_func, x, t, d, f, g, gtd)`: `(f_new, g_new, t, ls_func_evals)`.
pub fn strong_wolfe(
    obj: &mut Objective,
    x: &[f64],
    mut t: f64,
    d: &[f64],
    f: f64,
    g: &[f64],
    gtd: f64,
    tolerance_change: f64,
) -> (f64, Vec<f64>, f64, u64) {
    let (c1, c2, max_ls) = (1e-4, 0.9, 25);
    let d_norm = abs_max(d);
    let mut eval = |t: f64| {
        let (f, g) = obj(&moved(x, t, d));
        let gtd = dot(&g, d);
        (f, g, gtd)
    };
    let (mut f_new, mut g_new, mut gtd_new) = eval(t);
    let mut ls_func_evals = 1;
    let (mut t_prev, mut f_prev, mut g_prev, mut gtd_prev) = (0.0, f, g.to_vec(), gtd);
    let mut done = false;
    let mut ls_iter = 0;
    let mut bracket: Vec<f64> = vec![];
    let mut bracket_f: Vec<f64> = vec![];
    let mut bracket_g: Vec<Vec<f64>> = vec![];
    let mut bracket_gtd: Vec<f64> = vec![];
    while ls_iter < max_ls {
        if f_new > (f + c1 * t * gtd) || (ls_iter > 1 && f_new >= f_prev) {
            bracket = vec![t_prev, t];
            bracket_f = vec![f_prev, f_new];
            bracket_g = vec![g_prev.clone(), g_new.clone()];
            bracket_gtd = vec![gtd_prev, gtd_new];
            break;
        }
        if gtd_new.abs() <= -c2 * gtd {
            bracket = vec![t];
            bracket_f = vec![f_new];
            bracket_g = vec![g_new.clone()];
            done = true;
            break;
        }
        if gtd_new >= 0.0 {
            bracket = vec![t_prev, t];
            bracket_f = vec![f_prev, f_new];
            bracket_g = vec![g_prev.clone(), g_new.clone()];
            bracket_gtd = vec![gtd_prev, gtd_new];
            break;
        }
        let min_step = t + 0.01 * (t - t_prev);
        let max_step = t * 10.0;
        let tmp = t;
        t = cubic_interpolate(
            t_prev,
            f_prev,
            gtd_prev,
            t,
            f_new,
            gtd_new,
            Some((min_step, max_step)),
        );
        t_prev = tmp;
        f_prev = f_new;
        g_prev = g_new.clone();
        gtd_prev = gtd_new;
        (f_new, g_new, gtd_new) = eval(t);
        ls_func_evals += 1;
        ls_iter += 1;
    }
    if ls_iter == max_ls {
        bracket = vec![0.0, t];
        bracket_f = vec![f, f_new];
        bracket_g = vec![g.to_vec(), g_new.clone()];
    }
    let mut insuf_progress = false;
    let last = bracket_f.len() - 1;
    let (mut low_pos, mut high_pos) = if bracket_f[0] <= bracket_f[last] {
        (0, 1)
    } else {
        (1, 0)
    };
    while !done && ls_iter < max_ls {
        if (bracket[1] - bracket[0]).abs() * d_norm < tolerance_change {
            break;
        }
        t = cubic_interpolate(
            bracket[0],
            bracket_f[0],
            bracket_gtd[0],
            bracket[1],
            bracket_f[1],
            bracket_gtd[1],
            None,
        );
        let (bmax, bmin) = (
            py_max(bracket[0], bracket[1]),
            py_min(bracket[0], bracket[1]),
        );
        let eps = 0.1 * (bmax - bmin);
        if py_min(bmax - t, t - bmin) < eps {
            if (insuf_progress && !skip(1)) || t >= bmax || t <= bmin {
                if (t - bmax).abs() < (t - bmin).abs() {
                    t = bmax - eps;
                } else {
                    t = bmin + eps;
                }
                insuf_progress = false;
                hit(1);
            } else {
                insuf_progress = true;
                hit(2);
            }
        } else {
            insuf_progress = false;
        }
        (f_new, g_new, gtd_new) = eval(t);
        ls_func_evals += 1;
        ls_iter += 1;
        if f_new > (f + c1 * t * gtd) || f_new >= bracket_f[low_pos] {
            bracket[high_pos] = t;
            bracket_f[high_pos] = f_new;
            bracket_g[high_pos] = g_new.clone();
            bracket_gtd[high_pos] = gtd_new;
            (low_pos, high_pos) = if bracket_f[0] <= bracket_f[1] {
                (0, 1)
            } else {
                (1, 0)
            };
        } else {
            if gtd_new.abs() <= -c2 * gtd {
                done = true;
            } else if gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0.0 && !skip(0) {
                hit(0);
                bracket[high_pos] = bracket[low_pos];
                bracket_f[high_pos] = bracket_f[low_pos];
                bracket_g[high_pos] = bracket_g[low_pos].clone();
                bracket_gtd[high_pos] = bracket_gtd[low_pos];
            }
            bracket[low_pos] = t;
            bracket_f[low_pos] = f_new;
            bracket_g[low_pos] = g_new.clone();
            bracket_gtd[low_pos] = gtd_new;
        }
    }
    let low_pos = low_pos.min(bracket.len() - 1); // PyTorch: IndexError (NaN loss only)
    (
        bracket_f[low_pos],
        bracket_g[low_pos].clone(),
        bracket[low_pos],
        ls_func_evals,
    )
}

/// `LBFGS.step(closure)` on the parameters `x`; returns `orig_loss`.
pub fn step(cfg: &Config, state: &mut State, x: &mut Vec<f64>, obj: &mut Objective) -> f64 {
    let (orig_loss, mut flat_grad) = obj(x);
    let mut loss = orig_loss;
    let mut current_evals = 1;
    state.func_evals += 1;
    let mut opt_cond = abs_max(&flat_grad) <= cfg.tolerance_grad;
    if opt_cond {
        return orig_loss;
    }
    let mut d = state.d.clone();
    let mut t = state.t;
    let mut old_dirs = state.old_dirs.clone();
    let mut old_stps = state.old_stps.clone();
    let mut ro = state.ro.clone();
    let mut h_diag = state.h_diag;
    let mut prev_flat_grad = state.prev_flat_grad.clone();
    let mut prev_loss = state.prev_loss;
    let mut n_iter = 0;
    while n_iter < cfg.max_iter {
        n_iter += 1;
        state.n_iter += 1;
        if state.n_iter == 1 {
            d = flat_grad.iter().map(|g| -g).collect();
            old_dirs.clear();
            old_stps.clear();
            ro.clear();
            h_diag = 1.0;
        } else {
            let y: Vec<f64> = flat_grad
                .iter()
                .zip(&prev_flat_grad)
                .map(|(a, b)| a - b)
                .collect();
            let s: Vec<f64> = d.iter().map(|v| v * t).collect();
            let ys = dot(&y, &s);
            if ys > 1e-10 {
                if old_dirs.len() == cfg.history_size {
                    old_dirs.remove(0);
                    old_stps.remove(0);
                    ro.remove(0);
                }
                h_diag = ys / dot(&y, &y);
                old_dirs.push(y);
                old_stps.push(s);
                ro.push(1.0 / ys);
            }
            let num_old = old_dirs.len();
            let mut al = vec![0.0; cfg.history_size];
            let mut q: Vec<f64> = flat_grad.iter().map(|g| -g).collect();
            for i in (0..num_old).rev() {
                al[i] = dot(&old_stps[i], &q) * ro[i];
                for (qj, yj) in q.iter_mut().zip(&old_dirs[i]) {
                    *qj += -al[i] * yj;
                }
            }
            let mut r: Vec<f64> = q.iter().map(|v| v * h_diag).collect();
            for i in 0..num_old {
                let be_i = dot(&old_dirs[i], &r) * ro[i];
                for (rj, sj) in r.iter_mut().zip(&old_stps[i]) {
                    *rj += (al[i] - be_i) * sj;
                }
            }
            d = r;
        }
        prev_flat_grad = flat_grad.clone();
        prev_loss = loss;
        t = if state.n_iter == 1 {
            let l1: f64 = flat_grad.iter().map(|g| g.abs()).sum();
            py_min(1.0, 1.0 / l1) * cfg.lr
        } else {
            cfg.lr
        };
        let gtd = dot(&flat_grad, &d);
        if gtd > -cfg.tolerance_change {
            break;
        }
        let mut ls_func_evals = 0;
        if cfg.strong_wolfe {
            let x_init = x.clone();
            let (l, g, t_ls, evals) = strong_wolfe(
                obj, &x_init, t, &d, loss, &flat_grad, gtd,
                1e-9, // `_strong_wolfe`'s default: step() passes no tolerance_change
            );
            (loss, flat_grad, t, ls_func_evals) = (l, g, t_ls, evals);
            *x = moved(&x_init, t, &d);
            opt_cond = abs_max(&flat_grad) <= cfg.tolerance_grad;
        } else {
            *x = moved(x, t, &d);
            if n_iter != cfg.max_iter {
                let (l, g) = obj(x);
                (loss, flat_grad) = (l, g);
                opt_cond = abs_max(&flat_grad) <= cfg.tolerance_grad;
                ls_func_evals = 1;
            }
        }
        current_evals += ls_func_evals;
        state.func_evals += ls_func_evals;
        if n_iter == cfg.max_iter {
            break;
        }
        if current_evals >= cfg.max_eval as u64 {
            break;
        }
        if opt_cond {
            break;
        }
        if abs_max(&d.iter().map(|v| v * t).collect::<Vec<_>>()) <= cfg.tolerance_change {
            break;
        }
        if (loss - prev_loss).abs() < cfg.tolerance_change {
            break;
        }
    }
    state.d = d;
    state.t = t;
    state.old_dirs = old_dirs;
    state.old_stps = old_stps;
    state.ro = ro;
    state.h_diag = h_diag;
    state.prev_flat_grad = prev_flat_grad;
    state.prev_loss = prev_loss;
    orig_loss
}
