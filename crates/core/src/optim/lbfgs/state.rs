//! `LbfgsState`: everything an [`LbfgsOptimizer`] carries between steps, on the host,
//! and loading it back (PyTorch's `state_dict` / `load_state_dict` for LBFGS).

use super::optimizer::LbfgsOptimizer;
use super::two_loop::History;
use super::Lbfgs;
use crate::backend::Storage;
use crate::error::{Error, Result};

/// L-BFGS's state as host values. Every vector is in PyTorch's flat layout: the
/// parameters' values one after another in the order given to [`Lbfgs::build`], row-major
/// each, without the flat buffer's padding. Loading it into an optimizer over parameters
/// of the same shapes (with the parameters' values restored too, e.g. from a weights
/// checkpoint) continues the run exactly. It serialises with serde (e.g. to JSON with
/// `serde_json`), NaN and infinities included: every number reads back as the same f32
/// or f64 (a NaN as a NaN).
#[derive(Clone, Debug, PartialEq)]
pub struct LbfgsState {
    /// The configuration in force (PyTorch's `param_groups[0]`).
    pub config: Lbfgs,
    /// The shape of each parameter.
    pub shapes: Vec<Vec<usize>>,
    /// `func_evals`: closure evaluations over every step.
    pub func_evals: u64,
    /// `n_iter`: iterations over every step.
    pub n_iter: u64,
    /// `d`: the last direction (absent before the first iteration).
    pub d: Option<Vec<f32>>,
    /// `t`: the last step length.
    pub t: Option<f64>,
    /// `old_dirs`: the gradient differences `y`, oldest first.
    pub old_dirs: Vec<Vec<f32>>,
    /// `old_stps`: the steps `s`, oldest first.
    pub old_stps: Vec<Vec<f32>>,
    /// `ro`: `1 / (y·s)` of each pair.
    pub ro: Vec<f32>,
    /// `H_diag`: the initial inverse-Hessian scale `y·s / y·y` of the newest pair.
    pub h_diag: f32,
    /// `prev_flat_grad`: the gradient at the start of the last iteration.
    pub prev_flat_grad: Option<Vec<f32>>,
    /// `prev_loss`: the loss at the start of the last iteration.
    pub prev_loss: Option<f64>,
}

impl LbfgsOptimizer {
    /// Everything the optimizer carries between steps, copied to the host (one download
    /// per vector).
    pub fn state_dict(&self) -> Result<LbfgsState> {
        let pack = |s: &Storage| self.pack(s);
        let opt = |s: &Option<Storage>| s.as_ref().map(pack).transpose();
        Ok(LbfgsState {
            config: self.config.clone(),
            shapes: self
                .set
                .params()
                .iter()
                .map(|p| p.dims().to_vec())
                .collect(),
            func_evals: self.func_evals,
            n_iter: self.n_iter,
            d: opt(&self.d)?,
            t: self.t,
            old_dirs: self
                .history
                .old_dirs
                .iter()
                .map(pack)
                .collect::<Result<_>>()?,
            old_stps: self
                .history
                .old_stps
                .iter()
                .map(pack)
                .collect::<Result<_>>()?,
            ro: self.history.ro.clone(),
            h_diag: self.history.h_diag,
            prev_flat_grad: opt(&self.prev_flat_grad)?,
            prev_loss: self.prev_loss,
        })
    }

    /// Continues from `state` (taken by [`LbfgsOptimizer::state_dict`], here or in another
    /// process, on any device), configuration included. The parameters' shapes must be
    /// the state's, every vector as long as they hold, the history as long in `y`, `s`
    /// and `ro` and no longer than its `history_size`, and its configuration valid:
    /// otherwise an [`Error::Mismatch`] (or the configuration's
    /// [`Error::Hyperparameter`]) and the optimizer is untouched.
    pub fn load_state_dict(&mut self, state: &LbfgsState) -> Result<()> {
        state.config.validate()?;
        let n = self.set.num_scalars();
        let mut problems = Vec::new();
        let shapes: Vec<Vec<usize>> = self
            .set
            .params()
            .iter()
            .map(|p| p.dims().to_vec())
            .collect();
        if shapes != state.shapes {
            problems.push(format!(
                "parameter shapes: the optimizer has {shapes:?}, the state {:?}",
                state.shapes
            ));
        }
        let vectors = state
            .d
            .iter()
            .map(|v| ("d", v))
            .chain(state.prev_flat_grad.iter().map(|v| ("prev_flat_grad", v)))
            .chain(state.old_dirs.iter().map(|v| ("old_dirs", v)))
            .chain(state.old_stps.iter().map(|v| ("old_stps", v)));
        for (name, v) in vectors {
            if v.len() != n {
                problems.push(format!("{name}: {} values for {n} parameters", v.len()));
            }
        }
        let pairs = state.old_dirs.len();
        if state.old_stps.len() != pairs || state.ro.len() != pairs {
            problems.push(format!(
                "history: {pairs} old_dirs, {} old_stps, {} ro",
                state.old_stps.len(),
                state.ro.len()
            ));
        }
        if pairs > state.config.history_size {
            problems.push(format!(
                "history: {pairs} pairs for history_size {}",
                state.config.history_size
            ));
        }
        if !problems.is_empty() {
            return Err(Error::mismatch("LBFGS state", &problems));
        }
        let unpack = |v: &Vec<f32>| self.unpack(v);
        let opt = |v: &Option<Vec<f32>>| v.as_ref().map(unpack).transpose();
        let history = History {
            old_dirs: state.old_dirs.iter().map(unpack).collect::<Result<_>>()?,
            old_stps: state.old_stps.iter().map(unpack).collect::<Result<_>>()?,
            ro: state.ro.clone(),
            h_diag: state.h_diag,
        };
        let d = opt(&state.d)?;
        let prev_flat_grad = opt(&state.prev_flat_grad)?;
        self.config = state.config.clone();
        self.func_evals = state.func_evals;
        self.n_iter = state.n_iter;
        self.d = d;
        self.t = state.t;
        self.history = history;
        self.prev_flat_grad = prev_flat_grad;
        self.prev_loss = state.prev_loss;
        Ok(())
    }

    /// A flat (padded) buffer's values in PyTorch's layout.
    fn pack(&self, s: &Storage) -> Result<Vec<f32>> {
        let flat = self.set.device().backend().download(s)?;
        Ok(self
            .set
            .segments()
            .iter()
            .flat_map(|seg| flat[seg.offset..seg.offset + seg.len].iter().copied())
            .collect())
    }

    /// Values in PyTorch's layout as a new flat buffer (0 in the padding).
    fn unpack(&self, v: &[f32]) -> Result<Storage> {
        let mut flat = vec![0.0; self.set.flat_len()];
        let mut at = 0;
        for seg in self.set.segments() {
            flat[seg.offset..seg.offset + seg.len].copy_from_slice(&v[at..at + seg.len]);
            at += seg.len;
        }
        self.set.device().backend().upload(&flat)
    }
}
