//! `Optimizer::state_dict` and `load_state_dict`: the optimizer's state as host values,
//! and the checks that a state fits before it is loaded.

use super::{Optimizer, OptimizerGroup};
use crate::backend::GradClip;
use crate::error::{Error, Result};
use crate::optim::state::{GroupState, HyperparameterValue, OptimizerState, StateBuffer};

/// The hyperparameters a schedule may have changed since the optimizer was built
/// (`OneCycleLR` cycles `momentum`, or `beta1` in the Adam family): restored from a state,
/// not compared with the configuration.
const CYCLED: [&str; 2] = ["momentum", "beta1"];

impl Optimizer {
    /// Everything the optimizer carries between steps, copied to the host (one read-back
    /// per state buffer): the name, hyperparameters, parameter groups, step counts, clip
    /// setting and every state buffer cut into the parameters' segments. PyTorch's
    /// `state_dict()`.
    pub fn state_dict(&self) -> Result<OptimizerState> {
        let backend = self.set.device().backend();
        let buffers = self
            .state
            .iter()
            .zip(self.state_names())
            .map(|(buffer, name)| {
                let flat = backend.download(buffer)?;
                let values = self
                    .set
                    .segments()
                    .iter()
                    .zip(self.state_lens(name))
                    .map(|(seg, len)| flat[seg.offset..seg.offset + len].to_vec())
                    .collect();
                Ok(StateBuffer {
                    name: name.to_string(),
                    values,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let owned = |list: Vec<(&'static str, HyperparameterValue)>| {
            list.into_iter()
                .map(|(n, v)| (n.to_string(), v))
                .collect::<Vec<_>>()
        };
        Ok(OptimizerState {
            name: self.name().to_string(),
            hyperparameters: owned(self.hyperparameters()),
            groups: self
                .groups
                .iter()
                .map(|g| GroupState {
                    params: g.params.clone(),
                    hyperparameters: owned(g.config.hyperparameters()),
                    lr: g.lr,
                })
                .collect(),
            steps: self.steps,
            clip: self.clip,
            shapes: self
                .set
                .params()
                .iter()
                .map(|p| p.dims().to_vec())
                .collect(),
            contexts: self.contexts.clone(),
            buffers,
            train_mode: self.train_mode,
        })
    }

    /// Continues from `state` (taken by [`Optimizer::state_dict`], here or in another
    /// process, on any device): copies every state buffer, the step counts, the
    /// learning rates and the mode ([`Optimizer::is_training`], which says where the
    /// parameters of a schedule-free optimizer are: restore them with the state, as a
    /// checkpoint does) in. The state must come from the same optimizer over parameters of
    /// the same shapes, in the same groups: its name, every group's members and every
    /// hyperparameter but `lr`, and the clip setting must equal this optimizer's (`lr` is
    /// taken from the state, since a schedule may have changed it). Everything is checked
    /// before anything changes: on any difference this is an [`Error::Mismatch`] listing
    /// them, and the optimizer is untouched.
    pub fn load_state_dict(&mut self, state: &OptimizerState) -> Result<()> {
        let problems = self.state_dict_problems(state);
        if !problems.is_empty() {
            return Err(Error::mismatch("optimizer state", &problems));
        }
        self.apply_state_dict(state)
    }

    /// How many values of state buffer `name` each parameter keeps (its group's
    /// [`OptimizerConfig::state_len`](crate::optim::OptimizerConfig::state_len)).
    fn state_lens(&self, name: &str) -> Vec<usize> {
        self.set
            .params()
            .iter()
            .enumerate()
            .map(|(i, p)| {
                self.groups[self.group_of[i]]
                    .config
                    .state_len(name, p.dims())
            })
            .collect()
    }

    /// What keeps `state` from loading into this optimizer (empty: it fits).
    pub(crate) fn state_dict_problems(&self, state: &OptimizerState) -> Vec<String> {
        let mut problems = Vec::new();
        if state.name != self.name() {
            problems.push(format!(
                "it was saved by {}, this optimizer is {}",
                state.name,
                self.name()
            ));
            return problems;
        }
        let saved_groups = state.param_groups();
        if saved_groups.len() != self.groups.len() {
            problems.push(format!(
                "it has {} parameter groups, this optimizer {}",
                saved_groups.len(),
                self.groups.len()
            ));
        } else {
            let several = self.groups.len() > 1;
            for (g, (saved, ours)) in saved_groups.iter().zip(&self.groups).enumerate() {
                let prefix = if several {
                    format!("group {g}: ")
                } else {
                    String::new()
                };
                if saved.params != ours.params {
                    problems.push(format!(
                        "{prefix}it holds parameters {:?} there, {:?} here",
                        saved.params, ours.params
                    ));
                }
                let before = problems.len();
                self.hyperparameter_problems(&mut problems, &prefix, saved, ours);
                let valid =
                    saved.lr.is_finite() && saved.lr >= 0.0 && (saved.lr as f32).is_finite();
                if !state.groups.is_empty() && !valid && problems.len() == before {
                    problems.push(format!("{prefix}its lr {} is not a valid rate", saved.lr));
                }
            }
        }
        if state.clip != self.clip {
            let show = |c: Option<GradClip>| c.map_or("none".to_string(), |c| format!("{c:?}"));
            problems.push(format!(
                "gradient clipping is {} there, {} here",
                show(state.clip),
                show(self.clip)
            ));
        }
        let params = self.set.params();
        if state.shapes.len() != params.len() {
            problems.push(format!(
                "it holds {} parameters, this optimizer {}",
                state.shapes.len(),
                params.len()
            ));
            return problems;
        }
        for (i, (shape, param)) in state.shapes.iter().zip(params).enumerate() {
            if shape.as_slice() != param.dims() {
                problems.push(format!(
                    "parameter {i} has shape {shape:?} there, {:?} here",
                    param.dims()
                ));
            }
        }
        if state.contexts.len() != params.len() {
            problems.push(format!(
                "it holds {} step counts for {} parameters",
                state.contexts.len(),
                params.len()
            ));
        }
        if let Some(c) = state.contexts.iter().find(|c| c.step > state.steps) {
            problems.push(format!(
                "a parameter was stepped {} times in {} calls to step",
                c.step, state.steps
            ));
        }
        let names: Vec<&str> = state.buffers.iter().map(|b| b.name.as_str()).collect();
        if names != self.state_names() {
            problems.push(format!(
                "its state buffers are {names:?}, this optimizer's {:?}",
                self.state_names()
            ));
        }
        for buffer in &state.buffers {
            if buffer.values.len() != params.len() {
                problems.push(format!(
                    "state {} holds {} parameters' values, not {}",
                    buffer.name,
                    buffer.values.len(),
                    params.len()
                ));
                continue;
            }
            let lens = self.state_lens(&buffer.name);
            for (i, (values, &len)) in buffer.values.iter().zip(&lens).enumerate() {
                if values.len() != len {
                    problems.push(format!(
                        "state {} of parameter {i} holds {} values, the parameter {len}",
                        buffer.name,
                        values.len(),
                    ));
                }
            }
        }
        problems
    }

    /// Where `saved`'s hyperparameters differ from group `ours`' (its `lr` need only be a
    /// valid rate).
    fn hyperparameter_problems(
        &self,
        problems: &mut Vec<String>,
        prefix: &str,
        saved: &GroupState,
        ours: &OptimizerGroup,
    ) {
        let find = |name: &str| {
            saved
                .hyperparameters
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| *v)
        };
        let ours = ours.config.hyperparameters();
        for (name, value) in &ours {
            match find(name) {
                None => problems.push(format!("{prefix}hyperparameter {name} is missing from it")),
                Some(saved) if *name == "lr" => match saved {
                    HyperparameterValue::Number(lr) if lr.is_finite() && lr >= 0.0 => {}
                    other => problems.push(format!("{prefix}its lr {other} is not a valid rate")),
                },
                // A momentum OneCycleLR cycles is restored like the rate, as long as it
                // keeps the same state buffers (nonzero on both sides).
                Some(HyperparameterValue::Number(s))
                    if CYCLED.contains(name)
                        && matches!(value, HyperparameterValue::Number(v) if *v != 0.0)
                        && s != 0.0
                        && s.is_finite() => {}
                Some(saved) if saved != *value => {
                    problems.push(format!("{prefix}{name} is {saved} there, {value} here"))
                }
                Some(_) => {}
            }
        }
        for (name, _) in &saved.hyperparameters {
            if !ours.iter().any(|(n, _)| n == name) {
                problems.push(format!(
                    "{prefix}it has a hyperparameter {name} that {} lacks",
                    self.name()
                ));
            }
        }
    }

    /// [`Optimizer::load_state_dict`] after its checks: every upload first, then the copies
    /// (so a device that cannot hold the uploads changes nothing), then the host values.
    pub(crate) fn apply_state_dict(&mut self, state: &OptimizerState) -> Result<()> {
        let backend = self.set.device().backend();
        let mut copies = Vec::new();
        for (k, buffer) in state.buffers.iter().enumerate() {
            for (values, seg) in buffer.values.iter().zip(self.set.segments()) {
                if !values.is_empty() {
                    copies.push((
                        backend.upload(values)?,
                        self.state[k].slice(seg.offset, values.len())?,
                    ));
                }
            }
        }
        for (src, dst) in &copies {
            backend.copy(src, dst)?;
        }
        for (group, saved) in self.groups.iter_mut().zip(state.param_groups()) {
            group.set_lr(saved.lr)?;
            let cycled = saved.hyperparameters.iter().find_map(|(n, v)| match v {
                HyperparameterValue::Number(x) if CYCLED.contains(&n.as_str()) => Some(*x),
                _ => None,
            });
            if let (Some(m), Some(field)) = (cycled, group.config.momentum_mut()) {
                *field = m;
            }
        }
        self.contexts = state.contexts.clone();
        self.steps = state.steps;
        // The parameters a checkpoint restores are at the point it was saved at.
        self.train_mode = state.train_mode || !self.has_evaluation_point();
        backend.flush()
    }
}
