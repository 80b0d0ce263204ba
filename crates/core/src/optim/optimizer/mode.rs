//! `Optimizer::eval` and `Optimizer::train`: the evaluation-point swap of optimizers whose
//! parameters hold a training point (the schedule-free ones: `y` while training, `x` to
//! evaluate at), as the reference's `optimizer.eval()` / `optimizer.train()`.

use super::Optimizer;
use crate::error::{Error, Result};

impl Optimizer {
    /// Moves the parameters to the evaluation point, as the schedule-free reference's
    /// `optimizer.eval()`: for `AdamWScheduleFree` and `SgdScheduleFree` the parameters
    /// then hold `x` (`p ← lerp(y, z, 1 − 1/β1)`), the average to validate, predict and
    /// save. One elementwise pass (one GPU dispatch) per run of parameters of one group
    /// stepped at least once (a parameter never stepped has no `z` and stays, as in the
    /// reference). Idempotent: in evaluation mode already, nothing happens. A no-op for
    /// optimizers without an evaluation point ([`OptimizerConfig::evaluation_swap`] is
    /// `None`), which stay in training mode. `step` is refused until [`Optimizer::train`].
    ///
    /// [`OptimizerConfig::evaluation_swap`]: super::OptimizerConfig::evaluation_swap
    pub fn eval(&mut self) -> Result<()> {
        self.swap(true)
    }

    /// Moves the parameters back to the training point, as the reference's
    /// `optimizer.train()` (`p ← lerp(x, z, 1 − β1)`); see [`Optimizer::eval`].
    /// Idempotent, and a no-op for optimizers without an evaluation point. The round
    /// trip `eval` then `train` rounds as the reference's does (a few ulps), so a run
    /// that swaps is not bitwise the run that does not.
    pub fn train(&mut self) -> Result<()> {
        self.swap(false)
    }

    /// Whether the parameters hold the training point (where `step` may run): false only
    /// between [`Optimizer::eval`] and [`Optimizer::train`] of an optimizer with an
    /// evaluation point. A new optimizer is in training mode. Checkpoints record it.
    pub fn is_training(&self) -> bool {
        self.train_mode
    }

    /// Whether the optimizer has an evaluation point apart from its training point (the
    /// schedule-free optimizers), so that [`Optimizer::eval`] moves the parameters.
    pub fn has_evaluation_point(&self) -> bool {
        self.defaults.evaluation_swap(true).is_some()
    }

    /// [`Error::Config`] unless in training mode.
    pub(super) fn check_training(&self) -> Result<()> {
        if self.train_mode {
            return Ok(());
        }
        Err(Error::Config(format!(
            "{}: step called in evaluation mode (the parameters hold the evaluation point \
             x after eval()); call train() before stepping",
            self.name()
        )))
    }

    fn swap(&mut self, to_eval: bool) -> Result<()> {
        if self.train_mode != to_eval || !self.has_evaluation_point() {
            return Ok(());
        }
        self.set.check_owned()?;
        let backend = self.set.device().backend();
        let layout = self.set.layout();
        let segments = self.set.segments();
        let stepped = |i: usize| self.contexts[i].step > 0;
        let mut start = 0;
        while start < layout.len() {
            let lead = layout[start];
            let mut end = start + 1;
            while end < layout.len()
                && stepped(layout[end]) == stepped(lead)
                && self.group_of[layout[end]] == self.group_of[lead]
            {
                end += 1;
            }
            if stepped(lead) {
                let config = self.groups[self.group_of[lead]].config.as_ref();
                let rule = config.evaluation_swap(to_eval).ok_or_else(|| {
                    Error::Config(format!("{}: a group has no evaluation point", self.name()))
                })?;
                let from = segments[lead].offset;
                let to = layout
                    .get(end)
                    .map_or(self.set.flat_len(), |&i| segments[i].offset);
                let view = |s: &crate::backend::Storage| s.slice(from, to - from);
                let state = rule
                    .state_names()
                    .iter()
                    .map(
                        |name| match self.state_names.iter().position(|n| n == name) {
                            Some(k) => view(&self.state[k]),
                            None => Err(Error::Config(format!(
                                "{}: no state buffer {name} is laid out",
                                self.name()
                            ))),
                        },
                    )
                    .collect::<Result<Vec<_>>>()?;
                backend.optimizer_step(
                    rule.as_ref(),
                    &view(self.set.flat())?,
                    &view(self.set.flat_grads())?,
                    &state,
                )?;
                for &i in &layout[start..end] {
                    self.set.params()[i].bump_version();
                }
            }
            start = end;
        }
        self.train_mode = !to_eval;
        backend.flush()
    }
}
