//! `Optimizer`: a configuration plus its flat state, stepping all parameters at once.

use super::groups::{self, Grouping, OptimizerGroup, ParamGroup};
use super::params::ParamSet;
use super::state::HyperparameterValue;
use crate::autodiff::Gradients;
use crate::backend::{GradClip, Storage};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

pub use super::config::{BoxedClone, OptimizerConfig, StepContext};

mod mode;
mod rates;
mod state_dict;

/// A configured optimizer with its state, ready to `step`.
///
/// # Parameter groups
///
/// As PyTorch's `param_groups`, the parameters may be split into groups that override some
/// hyperparameters ([`Optimizer::with_groups`], [`Optimizer::with_named_groups`],
/// `FitConfig::param_groups`). Every group lives in the one flat buffer, each group's
/// segments together; a step computes one [`UpdateRule`](super::UpdateRule) per group and runs one pass (one
/// GPU dispatch) per run of consecutive parameters of one group that share a step count:
/// one per group in the common case. Without groups there is one group over every
/// parameter with the configuration's values.
///
/// The learning-rate methods address group 0 ([`Optimizer::lr`]) or scale every group
/// ([`Optimizer::set_lr`]); [`Optimizer::groups`] and [`Optimizer::set_group_lr`] reach
/// each group. A schedule built on an optimizer with several groups follows in each group
/// from that group's own learning rate, as PyTorch's schedulers do.
pub struct Optimizer {
    /// The configuration as given: each group's values but its overrides.
    defaults: Box<dyn OptimizerConfig>,
    /// The parameter groups; every parameter is in exactly one.
    groups: Vec<OptimizerGroup>,
    set: ParamSet,
    /// `group_of[i]`: the group of parameter `i` (the set's order).
    group_of: Vec<usize>,
    /// The name of each state buffer: every buffer a group's rule keeps, in the order the
    /// groups first name them (with one group, the rule's own order).
    state_names: Vec<&'static str>,
    state: Vec<Storage>,
    /// One per parameter (segment), in the set's order.
    contexts: Vec<StepContext>,
    /// Calls to `step`.
    steps: u64,
    clip: Option<GradClip>,
    /// The group a schedule is being applied to: while set, the learning-rate and momentum
    /// methods address that group alone (see `schedule::per_group`).
    scheduled_group: Option<usize>,
    /// Whether the parameters hold the training point (see [`Optimizer::eval`]).
    train_mode: bool,
    /// The segment tables of tensorwise rules' runs, uploaded once per run.
    tables: super::tensorwise::TableCache,
}

/// What a schedule may change in an optimizer, to put back when it fails part-way.
pub(crate) struct ScheduleSnapshot {
    groups: Vec<(Box<dyn OptimizerConfig>, f64, Option<f64>)>,
}

impl Optimizer {
    /// Validates `config` and lays out `params` and the state in flat buffers: one group
    /// over every parameter.
    pub fn new(config: Box<dyn OptimizerConfig>, params: &[&Tensor]) -> Result<Optimizer> {
        Optimizer::assemble(config, params, Grouping::single(params.len()))
    }

    /// An optimizer over parameter groups (PyTorch's `Optimizer(param_groups, **defaults)`):
    /// the parameters are the groups' tensors, group after group (as in PyTorch's
    /// `state_dict`), and each group uses `config` with its overrides. A parameter in two
    /// groups, a group with no parameters or one that selects by name is
    /// [`Error::Config`]; an override the family lacks is [`Error::Config`], one out of
    /// range [`Error::Hyperparameter`]. Nothing is moved unless the whole build succeeds.
    pub fn with_groups(config: Box<dyn OptimizerConfig>, groups: Vec<ParamGroup>) -> Result<Self> {
        let (params, grouping) = Grouping::of_tensors(&groups)?;
        let refs: Vec<&Tensor> = params.iter().collect();
        Optimizer::assemble(config, &refs, grouping)
    }

    /// An optimizer over `named` parameters (e.g. [`Sequential::named_parameters`]) in
    /// that order, grouped by `groups` ([`ParamGroup::matching`] tests the names): the
    /// parameters no group selects form group 0 with `config`'s own values (absent when
    /// every parameter is selected), and `groups[k]` is the next group. A parameter
    /// selected by two groups, or a group that selects none, is [`Error::Config`].
    /// `fit` builds its optimizer so from `FitConfig::param_groups`.
    ///
    /// [`Sequential::named_parameters`]: crate::nn::Sequential::named_parameters
    pub fn with_named_groups(
        config: Box<dyn OptimizerConfig>,
        named: &[(String, Tensor)],
        groups: Vec<ParamGroup>,
    ) -> Result<Self> {
        let grouping = Grouping::of_named(named, &groups)?;
        Optimizer::with_grouping(config, named, grouping)
    }

    /// [`Optimizer::with_named_groups`] with the groups already resolved.
    pub(crate) fn with_grouping(
        config: Box<dyn OptimizerConfig>,
        named: &[(String, Tensor)],
        grouping: Grouping,
    ) -> Result<Self> {
        let refs: Vec<&Tensor> = named.iter().map(|(_, t)| t).collect();
        Optimizer::assemble(config, &refs, grouping)
    }

    /// Checks everything, then moves `params` into one flat buffer with each group's
    /// segments together, and lays out the state.
    fn assemble(
        config: Box<dyn OptimizerConfig>,
        params: &[&Tensor],
        grouping: Grouping,
    ) -> Result<Optimizer> {
        config.validate()?;
        let configs = grouping
            .overrides
            .iter()
            .map(|overrides| groups::configure(config.as_ref(), overrides))
            .collect::<Result<Vec<_>>>()?;
        let mut layout: Vec<usize> = (0..params.len()).collect();
        layout.sort_by_key(|&i| grouping.group_of[i]); // stable: each group in the given order
        let set = ParamSet::with_layout(params, &layout)?;
        let groups = configs
            .into_iter()
            .zip(grouping.overrides)
            .enumerate()
            .map(|(g, (config, overrides))| {
                let members = (0..params.len())
                    .filter(|&i| grouping.group_of[i] == g)
                    .collect();
                OptimizerGroup::new(members, overrides, config)
            })
            .collect();
        let mut optimizer = Optimizer {
            defaults: config,
            groups,
            group_of: grouping.group_of,
            state_names: Vec::new(),
            state: Vec::new(),
            contexts: vec![StepContext::default(); params.len()],
            steps: 0,
            clip: None,
            scheduled_group: None,
            train_mode: true,
            tables: Default::default(),
            set,
        };
        optimizer.lay_out_state()?;
        Ok(optimizer)
    }

    /// Allocates every state buffer at its initial value: each group's range holds its
    /// own rule's initial value (e.g. Adagrad's `initial_accumulator_value`), or 0 for a
    /// buffer its rule does not keep.
    fn lay_out_state(&mut self) -> Result<()> {
        let mut names: Vec<&'static str> = Vec::new();
        for group in &self.groups {
            for name in groups::state_names(group.config.as_ref()) {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        let backend = self.set.device().backend();
        let len = self.set.flat_len();
        let ranges = self.group_ranges();
        let mut state = Vec::with_capacity(names.len());
        for name in &names {
            let values: Vec<f32> = self
                .groups
                .iter()
                .map(|group| {
                    let own = groups::state_names(group.config.as_ref());
                    own.iter()
                        .position(|n| n == name)
                        .map_or(0.0, |k| group.config.initial_state()[k])
                })
                .collect();
            let buffer = if values.iter().all(|v| v.to_bits() == values[0].to_bits()) {
                backend.full(len, values[0])?
            } else {
                let buffer = backend.full(len, 0.0)?;
                for (&(from, to), &v) in ranges.iter().zip(&values) {
                    if v != 0.0 {
                        backend.fill(&buffer.slice(from, to - from)?, v)?;
                    }
                }
                buffer
            };
            state.push(buffer);
        }
        self.state_names = names;
        self.state = state;
        Ok(())
    }

    /// Each group's range `[from, to)` of the flat buffer (its segments and their padding).
    fn group_ranges(&self) -> Vec<(usize, usize)> {
        let segments = self.set.segments();
        let mut starts = vec![None; self.groups.len()];
        for &i in self.set.layout() {
            starts[self.group_of[i]].get_or_insert(segments[i].offset);
        }
        let starts: Vec<usize> = starts.into_iter().map(|s| s.unwrap_or(0)).collect();
        (0..starts.len())
            .map(|g| {
                let to = starts.get(g + 1).copied().unwrap_or(self.set.flat_len());
                (starts[g], to)
            })
            .collect()
    }

    /// Clips gradients before every step (by global norm or by value). The clip works on
    /// the flat gradient buffer, where backward wrote the gradients: as PyTorch's
    /// `clip_grad_norm_` changes `p.grad`, the [`Gradients`] given to `step` then hold the
    /// clipped values.
    pub fn with_clip(mut self, clip: GradClip) -> Result<Self> {
        let (name, v) = match clip {
            GradClip::Norm(v) => ("clip norm", v),
            GradClip::Value(v) => ("clip value", v),
        };
        super::validate::positive(name, v)?;
        self.clip = Some(clip);
        Ok(self)
    }

    /// Updates every parameter from `grads`: one pass over the flat buffers (one kernel on
    /// the GPU) per parameter group. Gradients backward wrote into this optimizer's flat
    /// gradient buffer are read where they lie; any other (one computed while an earlier
    /// gradient was still held) is copied in first. As in PyTorch, a parameter the loss did not reach is
    /// skipped: neither it nor its state changes, and its own step count stays (the step
    /// then runs over the runs of parameters that have gradients, the same group and the
    /// same step count, one pass each).
    ///
    /// An optimizer with an evaluation point must be in training mode: a step after
    /// [`Optimizer::eval`] and before [`Optimizer::train`] is [`Error::Config`], as the
    /// schedule-free reference asserts.
    pub fn step(&mut self, grads: &Gradients) -> Result<()> {
        self.check_training()?;
        self.set.check_owned()?;
        if let Some(other) = grads.foreign_device(self.set.device()) {
            return Err(Error::DeviceMismatch(format!(
                "{} step: the optimizer's parameters live on {}, the gradients on {other}",
                self.name(),
                self.set.device().name()
            )));
        }
        let backend = self.set.device().backend();
        let present: Vec<bool> = self
            .set
            .params()
            .iter()
            .map(|p| grads.get(p).is_some())
            .collect();
        let flat_grads = self.set.flat_grads();
        for (param, seg) in self.set.params().iter().zip(self.set.segments()) {
            let dst = flat_grads.slice(seg.offset, seg.len)?;
            match grads.get(param) {
                // Backward wrote it in place (the usual case): nothing to move.
                Some(g) if g.storage().same_view(&dst) => {}
                Some(g) => backend.copy(&g.storage(), &dst)?,
                // Zero, so a global-norm clip counts only real gradients.
                None => backend.fill(&dst, 0.0)?,
            }
        }
        if let Some(clip) = self.clip {
            backend.clip_gradients(flat_grads, clip)?;
        }
        self.steps += 1;
        let layout = self.set.layout();
        for (start, end) in self.runs(&present) {
            let lead = layout[start];
            let mut ctx = self.contexts[lead].clone();
            ctx.step += 1;
            let rule = self.groups[self.group_of[lead]].config.rule(&mut ctx);
            for &i in &layout[start..end] {
                self.contexts[i] = ctx.clone();
            }
            let segments = self.set.segments();
            let from = segments[lead].offset;
            let to = layout
                .get(end)
                .map_or(self.set.flat_len(), |&i| segments[i].offset);
            let view = |s: &Storage| s.slice(from, to - from);
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
            let (params, grads) = (view(self.set.flat())?, view(self.set.flat_grads())?);
            match (rule.tensorwise(), rule.composed()) {
                (Some(rule), _) => {
                    let table = self.tables.get(&self.set, &layout[start..end], from)?;
                    backend.tensorwise_step(rule, &params, &grads, &state, table)?
                }
                (None, Some(rule)) => {
                    let table = self.tables.get(&self.set, &layout[start..end], from)?;
                    rule.step_run(backend, &params, &grads, &state, &table.rows)?
                }
                (None, None) => backend.optimizer_step(rule.as_ref(), &params, &grads, &state)?,
            }
            for &i in &layout[start..end] {
                self.set.params()[i].bump_version();
            }
        }
        // The step ends here: a GPU submits forward, backward and update together.
        backend.flush()
    }

    /// Maximal ranges `[start, end)` of positions in the buffer's layout whose parameters
    /// have a gradient, are in one group and share a step count: each is one pass. Usually
    /// one per group.
    fn runs(&self, present: &[bool]) -> Vec<(usize, usize)> {
        let layout = self.set.layout();
        let joins = |a: usize, b: usize| {
            present[b]
                && self.group_of[b] == self.group_of[a]
                && self.contexts[b] == self.contexts[a]
        };
        let mut runs = Vec::new();
        let mut i = 0;
        while i < layout.len() {
            if !present[layout[i]] {
                i += 1;
                continue;
            }
            let mut j = i + 1;
            while j < layout.len() && joins(layout[i], layout[j]) {
                j += 1;
            }
            runs.push((i, j));
            i = j;
        }
        runs
    }

    /// The flat gradient buffer of the last step (after clipping), for `fit`'s watch.
    pub(crate) fn flat_gradients(&self) -> &Storage {
        self.set.flat_grads()
    }

    /// Group 0's configuration (with one group, the optimizer's), with the learning rate
    /// (and a cycled momentum) in force.
    pub fn config(&self) -> &dyn OptimizerConfig {
        self.groups[0].config.as_ref()
    }

    /// The configuration the optimizer was built from: every group's values but those it
    /// overrides (and the learning rate and momentum as built, before any schedule).
    pub fn defaults(&self) -> &dyn OptimizerConfig {
        self.defaults.as_ref()
    }

    /// The parameter groups, in order (one, over every parameter, without groups).
    pub fn groups(&self) -> &[OptimizerGroup] {
        &self.groups
    }

    /// The gradient clipping applied before each step, if any.
    pub fn clip(&self) -> Option<GradClip> {
        self.clip
    }

    /// Calls to `step` so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The optimizer family's name, [`OptimizerConfig::name`] of the configuration built from
    /// (e.g. `AdamW`).
    pub fn name(&self) -> &'static str {
        self.defaults.name()
    }

    /// Each parameter's step count (and NAdam's momentum product), in the set's order.
    pub fn step_contexts(&self) -> &[StepContext] {
        &self.contexts
    }

    /// Group 0's hyperparameters (see [`OptimizerConfig::hyperparameters`]).
    pub fn hyperparameters(&self) -> Vec<(&'static str, HyperparameterValue)> {
        self.config().hyperparameters()
    }

    /// The name of each state buffer, in order (e.g. `exp_avg`, `exp_avg_sq`): the rule's,
    /// or with groups whose rules keep different buffers every buffer any group keeps.
    pub fn state_names(&self) -> Vec<&'static str> {
        self.state_names.clone()
    }

    /// The parameters, which now live in one flat buffer.
    pub fn param_set(&self) -> &ParamSet {
        &self.set
    }

    /// A copy of state buffer `i` (e.g. Adam's first moment), for inspection and tests.
    pub fn state_to_vec(&self, i: usize) -> Result<Vec<f32>> {
        let buf = self.state.get(i).ok_or_else(|| {
            Error::Config(format!(
                "{} has {} state buffers",
                self.name(),
                self.state.len()
            ))
        })?;
        self.set.device().backend().download(buf)
    }
}
