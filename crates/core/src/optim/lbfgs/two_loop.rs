//! The L-BFGS memory and its two-loop recursion, as PyTorch's `LBFGS.step` computes the
//! direction: `q = -g`; newest to oldest `al_i = ro_i·(s_i·q)`, `q -= al_i·y_i`;
//! `r = H_diag·q`; oldest to newest `be_i = ro_i·(y_i·r)`, `r += (al_i − be_i)·s_i`.
//!
//! The coefficients `al_i`, `be_i` stay on the device (one-element buffers, broadcast in
//! the update): PyTorch passes them as `alpha`, a host sync each; here the recursion
//! needs no download at all.

use super::flat_ops::FlatOps;
use crate::backend::Storage;
use crate::error::Result;

/// The curvature pairs, oldest first (PyTorch's `old_dirs` = y, `old_stps` = s, `ro`),
/// and the initial inverse-Hessian scale `H_diag`.
#[derive(Clone)]
pub(super) struct History {
    pub old_dirs: Vec<Storage>,
    pub old_stps: Vec<Storage>,
    pub ro: Vec<f32>,
    pub h_diag: f32,
}

impl Default for History {
    fn default() -> Self {
        History {
            old_dirs: Vec::new(),
            old_stps: Vec::new(),
            ro: Vec::new(),
            h_diag: 1.0,
        }
    }
}

impl History {
    /// Stores the pair `(y, s)` with `ys = y·s`, `yy = y·y`, if the curvature condition
    /// `ys > 1e-10` holds (PyTorch's test, in f32), dropping the oldest pair when
    /// `history_size` are stored; `H_diag = ys / yy`.
    pub fn update(
        &mut self,
        y: Storage,
        s: Storage,
        ys: f32,
        yy: f32,
        history_size: usize,
    ) -> bool {
        // Not `ys <= 1e-10`: a NaN `ys` stores nothing, as in PyTorch.
        let curved = ys > 1e-10;
        if !curved {
            return false;
        }
        if self.old_dirs.len() == history_size {
            self.old_dirs.remove(0);
            self.old_stps.remove(0);
            self.ro.remove(0);
        }
        self.old_dirs.push(y);
        self.old_stps.push(s);
        self.ro.push(1.0 / ys);
        self.h_diag = ys / yy;
        true
    }

    /// The direction `d = -H·g` by the two-loop recursion, a new buffer.
    pub fn direction(&self, ops: &FlatOps, g: &Storage) -> Result<Storage> {
        let num_old = self.old_dirs.len();
        let mut al = Vec::with_capacity(num_old);
        let mut q = ops.neg(g)?;
        for i in (0..num_old).rev() {
            let a = ops.scale(&ops.dot(&self.old_stps[i], &q)?, self.ro[i])?;
            q = ops.add_scaled_by(&q, &self.old_dirs[i], &a, true)?;
            al.push(a);
        }
        al.reverse();
        let mut r = ops.scale(&q, self.h_diag)?;
        for (i, a) in al.iter().enumerate() {
            let be = ops.scale(&ops.dot(&self.old_dirs[i], &r)?, self.ro[i])?;
            let coef = ops.scalar_sub(a, &be)?;
            r = ops.add_scaled_by(&r, &self.old_stps[i], &coef, false)?;
        }
        Ok(r)
    }
}
