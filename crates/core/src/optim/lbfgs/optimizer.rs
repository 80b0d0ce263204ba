//! `LbfgsOptimizer`: the parameters in one flat buffer, L-BFGS's state, and PyTorch's
//! `LBFGS.step(closure)`.

use super::flat_ops::FlatOps;
use super::strong_wolfe::{self, Point};
use super::two_loop::History;
use super::{Lbfgs, LineSearch};
use crate::backend::Storage;
use crate::error::{Error, Result};
use crate::optim::ParamSet;
use crate::tensor::Tensor;

/// PyTorch's `max_ls`: line-search evaluations after the first.
const MAX_LS: usize = 25;

/// An L-BFGS optimizer over parameters moved into one flat buffer; built by
/// [`Lbfgs::build`], stepped by [`LbfgsOptimizer::step`] with a closure.
pub struct LbfgsOptimizer {
    pub(super) config: Lbfgs,
    pub(super) set: ParamSet,
    /// PyTorch's `state['func_evals']`: closure evaluations over every step.
    pub(super) func_evals: u64,
    /// PyTorch's `state['n_iter']`: iterations over every step.
    pub(super) n_iter: u64,
    /// The last direction and step length.
    pub(super) d: Option<Storage>,
    pub(super) t: Option<f64>,
    pub(super) history: History,
    pub(super) prev_flat_grad: Option<Storage>,
    pub(super) prev_loss: Option<f64>,
    downloads: u64,
}

impl LbfgsOptimizer {
    /// Validates `config` and moves `params` into one flat buffer.
    pub fn new(config: Lbfgs, params: &[&Tensor]) -> Result<LbfgsOptimizer> {
        config.validate()?;
        Ok(LbfgsOptimizer {
            config,
            set: ParamSet::new(params)?,
            func_evals: 0,
            n_iter: 0,
            d: None,
            t: None,
            history: History::default(),
            prev_flat_grad: None,
            prev_loss: None,
            downloads: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Lbfgs {
        &self.config
    }

    /// The parameters, which now live in one flat buffer.
    pub fn param_set(&self) -> &ParamSet {
        &self.set
    }

    /// Closure evaluations so far, over every step (PyTorch's `state['func_evals']`).
    pub fn func_evals(&self) -> u64 {
        self.func_evals
    }

    /// Iterations so far, over every step (PyTorch's `state['n_iter']`).
    pub fn n_iter(&self) -> u64 {
        self.n_iter
    }

    /// Curvature pairs stored (at most `history_size`).
    pub fn history_len(&self) -> usize {
        self.history.old_dirs.len()
    }

    /// Reads from the device to the host so far (each one wait for the device): what
    /// the module docs count per iteration.
    pub fn downloads(&self) -> u64 {
        self.downloads
    }

    /// One L-BFGS step (PyTorch's `LBFGS.step(closure)`): up to `max_iter` iterations
    /// and `max_eval` evaluations of `closure`, which computes the loss (a one-element
    /// tensor) at the parameters' current values; the optimizer runs `backward` on it
    /// and takes the gradients of its own parameters (one the loss does not reach counts
    /// as 0, as PyTorch's `_gather_flat_grad`). Returns the loss of the first evaluation
    /// (PyTorch's `orig_loss`).
    ///
    /// An error from the closure (or its `backward`) ends the step and is returned; the
    /// parameters are then where that evaluation saw them, except inside the line
    /// search, which puts them back at the point the search started from.
    ///
    /// NaN and ±inf propagate as in PyTorch: a comparison with NaN is false, so a NaN
    /// gradient neither passes the `tolerance_grad` test nor stores a pair, the step runs
    /// until `max_iter` or `max_eval` and the parameters become NaN. One case differs: a
    /// NaN loss at a trial point that passes the strong Wolfe curvature test while
    /// bracketing makes PyTorch's line search fail with an `IndexError` (its one-point
    /// bracket is ordered as if it had two); here the search returns that point.
    pub fn step<F>(&mut self, mut closure: F) -> Result<f32>
    where
        F: FnMut() -> Result<Tensor>,
    {
        self.set.check_owned()?;
        let device = self.set.device().clone();
        let ops = FlatOps {
            backend: device.backend(),
            n: self.set.flat_len(),
            reads: Default::default(),
        };
        let result = self.run(&mut closure, &ops);
        // Counted on errors too: the downloads happened.
        self.downloads += ops.reads.get();
        result
    }

    /// [`LbfgsOptimizer::step`], PyTorch's `step` statement by statement.
    fn run(&mut self, closure: &mut dyn FnMut() -> Result<Tensor>, ops: &FlatOps) -> Result<f32> {
        let cfg = self.config.clone();
        // Compared with f32 device values as PyTorch compares a tensor with a float: in f32.
        let tolerance_grad = cfg.tolerance_grad as f32;
        let tolerance_change = cfg.tolerance_change;
        let max_eval = cfg.max_eval_or_default() as u64;
        let (loss_s, mut flat_grad) = self.evaluate(closure)?;
        let g_max = ops.abs_max(&flat_grad)?;
        // `‖g‖₁` sizes the first iteration's step: fetched with the loss when it comes.
        let first = self.n_iter == 0;
        let scalars = if first {
            ops.fetch(&[&loss_s, &g_max, &ops.abs_sum(&flat_grad)?])?
        } else {
            ops.fetch(&[&loss_s, &g_max])?
        };
        let orig_loss = scalars[0];
        let mut loss = f64::from(orig_loss);
        let mut current_evals = 1;
        self.func_evals += 1;
        let mut opt_cond = scalars[1] <= tolerance_grad;
        if opt_cond {
            return Ok(orig_loss);
        }

        let mut d = self.d.clone();
        let mut t = self.t.unwrap_or(cfg.lr);
        let mut history = self.history.clone();
        let mut prev_flat_grad = self.prev_flat_grad.clone();
        let mut prev_loss = self.prev_loss;

        let mut n_iter = 0;
        let outcome = loop {
            if n_iter >= cfg.max_iter {
                break Ok(());
            }
            n_iter += 1;
            self.n_iter += 1;

            // The direction.
            let dir = match (&d, &prev_flat_grad) {
                (Some(old_d), Some(prev_g)) if self.n_iter != 1 => {
                    let y = ops.sub(&flat_grad, prev_g)?;
                    let s = ops.scale(old_d, t as f32)?;
                    let v = ops.fetch(&[&ops.dot(&y, &s)?, &ops.dot(&y, &y)?])?;
                    history.update(y, s, v[0], v[1], cfg.history_size);
                    history.direction(ops, &flat_grad)?
                }
                _ => {
                    history = History::default();
                    ops.neg(&flat_grad)?
                }
            };
            prev_flat_grad = Some(flat_grad.clone());
            prev_loss = Some(loss);

            // The step length.
            t = if self.n_iter == 1 {
                // `min(1., 1. / abs_sum) * lr`, the quotient an f32 tensor.
                let inv = 1.0 / scalars[2];
                if inv < 1.0 {
                    f64::from(inv * cfg.lr as f32)
                } else {
                    cfg.lr
                }
            } else {
                cfg.lr
            };
            let v = ops.fetch(&[&ops.dot(&flat_grad, &dir)?, &ops.abs_max(&dir)?])?;
            let (gtd, d_norm) = (v[0], v[1]);
            d = Some(dir.clone());
            if gtd > -(tolerance_change as f32) {
                break Ok(());
            }

            let mut ls_func_evals = 0;
            match cfg.line_search_fn {
                LineSearch::StrongWolfe => {
                    let x_init = ops.clone_of(self.set.flat())?;
                    let start = Point {
                        f: loss,
                        g: flat_grad.clone(),
                        gtd: f64::from(gtd),
                        g_max: 0.0,
                    };
                    let found = {
                        let mut eval = |step: f64| {
                            self.directional_evaluate(closure, ops, &x_init, step, &dir)
                        };
                        strong_wolfe::strong_wolfe(&mut eval, t, f64::from(d_norm), &start, MAX_LS)
                    };
                    let found = match found {
                        Ok(found) => found,
                        Err(e) => {
                            self.set_flat(ops, &x_init)?;
                            break Err(e);
                        }
                    };
                    loss = found.point.f;
                    flat_grad = found.point.g;
                    t = found.t;
                    ls_func_evals = found.evals;
                    self.add_grad(ops, t, &dir)?;
                    opt_cond = found.point.g_max <= tolerance_grad;
                }
                LineSearch::None => {
                    self.add_grad(ops, t, &dir)?;
                    if n_iter != cfg.max_iter {
                        // Re-evaluated unless this is the last iteration.
                        let (loss_s, g) = self.evaluate(closure)?;
                        let v = ops.fetch(&[&loss_s, &ops.abs_max(&g)?])?;
                        loss = f64::from(v[0]);
                        flat_grad = g;
                        opt_cond = v[1] <= tolerance_grad;
                        ls_func_evals = 1;
                    }
                }
            }
            current_evals += ls_func_evals;
            self.func_evals += ls_func_evals;

            // The stopping tests, in PyTorch's order.
            if n_iter == cfg.max_iter || current_evals >= max_eval || opt_cond {
                break Ok(());
            }
            // `d.mul(t).abs().max()`: scaling by |t| commutes with the rounded maximum.
            if d_norm * (t as f32).abs() <= tolerance_change as f32 {
                break Ok(());
            }
            if (loss - prev_loss.unwrap_or(f64::NAN)).abs() < tolerance_change {
                break Ok(());
            }
        };
        self.d = d;
        self.t = Some(t);
        self.history = history;
        self.prev_flat_grad = prev_flat_grad;
        self.prev_loss = prev_loss;
        outcome.map(|()| orig_loss)
    }

    /// Runs the closure and its backward: the loss (one element, on the device) and the
    /// flat gradient in a new buffer (0 where a parameter has none, and in the padding).
    fn evaluate(&self, closure: &mut dyn FnMut() -> Result<Tensor>) -> Result<(Storage, Storage)> {
        let loss = closure()?;
        let grads = loss.backward()?;
        if let Some(other) = grads.foreign_device(self.set.device()) {
            return Err(Error::DeviceMismatch(format!(
                "LBFGS step: the optimizer's parameters live on {}, the gradients on {other}",
                self.set.device().name()
            )));
        }
        let backend = self.set.device().backend();
        let flat = backend.full(self.set.flat_len(), 0.0)?;
        for (param, seg) in self.set.params().iter().zip(self.set.segments()) {
            if let Some(g) = grads.get(param) {
                backend.copy(&g.storage(), &flat.slice(seg.offset, seg.len)?)?;
            }
        }
        Ok((loss.storage(), flat))
    }

    /// PyTorch's `_directional_evaluate`: the loss and gradient at `x + t·d`, then the
    /// parameters back at `x`; one download (`loss`, `g·d`, `max|g|`).
    fn directional_evaluate(
        &self,
        closure: &mut dyn FnMut() -> Result<Tensor>,
        ops: &FlatOps,
        x: &Storage,
        t: f64,
        d: &Storage,
    ) -> Result<Point> {
        self.add_grad(ops, t, d)?;
        let (loss_s, g) = self.evaluate(closure)?;
        let v = ops.fetch(&[&loss_s, &ops.dot(&g, d)?, &ops.abs_max(&g)?])?;
        self.set_flat(ops, x)?;
        Ok(Point {
            f: f64::from(v[0]),
            g,
            gtd: f64::from(v[1]),
            g_max: v[2],
        })
    }

    /// PyTorch's `_add_grad(t, d)`: `p += t·d`, `t` rounded to the parameters' f32.
    fn add_grad(&self, ops: &FlatOps, t: f64, d: &Storage) -> Result<()> {
        ops.axpy(self.set.flat(), d, t as f32)?;
        self.bump_versions();
        Ok(())
    }

    /// PyTorch's `_set_param(x)`.
    fn set_flat(&self, ops: &FlatOps, x: &Storage) -> Result<()> {
        ops.backend.copy(x, self.set.flat())?;
        self.bump_versions();
        Ok(())
    }

    fn bump_versions(&self) {
        for p in self.set.params() {
            p.bump_version();
        }
    }
}
