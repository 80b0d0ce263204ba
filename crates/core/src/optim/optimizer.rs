//! `Optimizer`: a configuration plus its flat state, stepping all parameters at once.

use super::groups::{self, Grouping, OptimizerGroup, ParamGroup};
use super::params::ParamSet;
use super::rule::UpdateRule;
use super::state::{HyperparameterField, HyperparameterValue};
use crate::autodiff::Gradients;
use crate::backend::{GradClip, Storage};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

mod state_dict;

/// Host-side values an optimizer carries between steps besides its device state, kept per
/// parameter as PyTorch keeps `state['step']`: a parameter that had no gradient in a step
/// was not stepped.
#[derive(Clone, Debug, PartialEq)]
pub struct StepContext {
    /// The 1-based number of the step being taken.
    pub step: u64,
    /// NAdam's running product of momentum coefficients (starts at 1).
    pub mu_product: f64,
}

/// Hyperparameters of one optimizer family. Validation happens in `build`, so an invalid
/// value is a typed error before any state exists.
pub trait OptimizerConfig: BoxedClone + std::fmt::Debug + Send + Sync {
    /// The name shown in logs, e.g. `Adam`.
    fn name(&self) -> &'static str;
    /// Checks every hyperparameter's range.
    fn validate(&self) -> Result<()>;
    /// Every hyperparameter by PyTorch's name (`betas` as `beta1` and `beta2`), `lr`
    /// first, as a field to read or write: the one list behind
    /// [`OptimizerConfig::hyperparameters`] (what a checkpoint records and
    /// [`Optimizer::load_state_dict`] compares) and the [`ParamGroup`] overrides.
    fn hyperparameter_fields(&mut self) -> Vec<(&'static str, HyperparameterField<'_>)>;
    /// Every hyperparameter by name with its value, in
    /// [`OptimizerConfig::hyperparameter_fields`]' order.
    fn hyperparameters(&self) -> Vec<(&'static str, HyperparameterValue)> {
        let mut copy = self.boxed_clone();
        copy.hyperparameter_fields()
            .into_iter()
            .map(|(name, field)| (name, field.get()))
            .collect()
    }
    /// The learning rate, where the configuration keeps it.
    fn lr_mut(&mut self) -> &mut f32;
    /// The learning rate.
    fn lr(&self) -> f32;
    /// Changes the learning rate (for schedules); validated like the constructor's.
    fn set_lr(&mut self, lr: f32) -> Result<()> {
        super::validate::non_negative("lr", lr)?;
        *self.lr_mut() = lr;
        Ok(())
    }
    /// The momentum a schedule may cycle (`OneCycleLR`), where PyTorch's optimizer has one:
    /// `momentum` (SGD, RMSprop) or `betas[0]` (the Adam family). `None` elsewhere.
    fn momentum(&self) -> Option<f32> {
        None
    }
    /// The field behind [`OptimizerConfig::momentum`]; set it through
    /// [`Optimizer::set_momentum`], which validates the result.
    fn momentum_mut(&mut self) -> Option<&mut f32> {
        None
    }
    /// The rule for step `ctx.step`, updating `ctx`'s carried values.
    fn rule(&self, ctx: &mut StepContext) -> UpdateRule;
    /// Initial value of each state buffer (e.g. Adagrad's `initial_accumulator_value`).
    fn initial_state(&self) -> Vec<f32> {
        vec![
            0.0;
            self.rule(&mut StepContext {
                step: 1,
                mu_product: 1.0
            })
            .state_buffers()
        ]
    }

    /// Builds an optimizer for `params`, moving them into one flat buffer.
    fn build(&self, params: &[&Tensor]) -> Result<Optimizer>
    where
        Self: Sized,
    {
        Optimizer::new(self.boxed_clone(), params)
    }

    /// Builds an optimizer over parameter groups (see [`Optimizer::with_groups`]).
    fn build_groups(&self, groups: Vec<ParamGroup>) -> Result<Optimizer>
    where
        Self: Sized,
    {
        Optimizer::with_groups(self.boxed_clone(), groups)
    }
}

/// Cloning a configuration behind `dyn OptimizerConfig` (any `Clone` configuration has it).
pub trait BoxedClone {
    /// A copy of the configuration, boxed.
    fn boxed_clone(&self) -> Box<dyn OptimizerConfig>;
}

impl<T: OptimizerConfig + Clone + 'static> BoxedClone for T {
    fn boxed_clone(&self) -> Box<dyn OptimizerConfig> {
        Box::new(self.clone())
    }
}

/// A configured optimizer with its state, ready to `step`.
///
/// # Parameter groups
///
/// As PyTorch's `param_groups`, the parameters may be split into groups that override some
/// hyperparameters ([`Optimizer::with_groups`], [`Optimizer::with_named_groups`],
/// `FitConfig::param_groups`). Every group lives in the one flat buffer, each group's
/// segments together; a step computes one [`UpdateRule`] per group and runs one pass (one
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
    flat_grads: Storage,
    /// One per parameter (segment), in the set's order.
    contexts: Vec<StepContext>,
    /// Calls to `step`.
    steps: u64,
    clip: Option<GradClip>,
    /// The group a schedule is being applied to: while set, the learning-rate and momentum
    /// methods address that group alone (see `schedule::per_group`).
    scheduled_group: Option<usize>,
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
        let backend = set.device().backend();
        let flat_grads = backend.full(set.flat_len(), 0.0)?;
        let mut optimizer = Optimizer {
            defaults: config,
            groups,
            group_of: grouping.group_of,
            state_names: Vec::new(),
            state: Vec::new(),
            flat_grads,
            contexts: vec![
                StepContext {
                    step: 0,
                    mu_product: 1.0,
                };
                params.len()
            ],
            steps: 0,
            clip: None,
            scheduled_group: None,
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

    /// Clips gradients before every step (by global norm or by value).
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
    /// the GPU) per parameter group. As in PyTorch, a parameter the loss did not reach is
    /// skipped: neither it nor its state changes, and its own step count stays (the step
    /// then runs over the runs of parameters that have gradients, the same group and the
    /// same step count, one pass each).
    pub fn step(&mut self, grads: &Gradients) -> Result<()> {
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
        for (param, seg) in self.set.params().iter().zip(self.set.segments()) {
            let dst = self.flat_grads.slice(seg.offset, seg.len)?;
            match grads.get(param) {
                Some(g) => backend.copy(&g.storage(), &dst)?,
                // Zero, so a global-norm clip counts only real gradients.
                None => backend.fill(&dst, 0.0)?,
            }
        }
        if let Some(clip) = self.clip {
            backend.clip_gradients(&self.flat_grads, clip)?;
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
            backend.optimizer_step(
                &rule,
                &view(self.set.flat())?,
                &view(&self.flat_grads)?,
                &state,
            )?;
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
        &self.flat_grads
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

    /// The group the learning-rate and momentum methods address: the one a schedule is
    /// being applied to, else group 0.
    fn target(&self) -> usize {
        self.scheduled_group.unwrap_or(0)
    }

    /// The learning rate the next update uses (group 0's).
    pub fn lr(&self) -> f32 {
        self.groups[self.target()].config.lr()
    }

    /// Sets the learning rate (validated: finite and `>= 0`); with several groups, group 0
    /// gets `lr` and every other group `lr` times its own built rate over group 0's (see
    /// [`Optimizer::set_lr_f64`]).
    pub fn set_lr(&mut self, lr: f32) -> Result<()> {
        self.set_lr_f64(f64::from(lr))
    }

    /// The learning rate as schedules read and write it: the f64 a schedule last set
    /// ([`Optimizer::set_lr_f64`]), or the f32 one widened (group 0's). Schedules that
    /// chain (each step multiplies the current rate) go through this value, so their
    /// rounding to f32 happens once per write and does not accumulate over steps.
    pub fn lr_f64(&self) -> f64 {
        self.groups[self.target()].lr
    }

    /// Sets the learning rate from an f64 (as PyTorch's schedules set `group["lr"]`): it
    /// is kept as given for [`Optimizer::lr_f64`], and the update uses it rounded to f32.
    /// Validated: finite and `>= 0`, also once rounded.
    ///
    /// With several groups, group 0 gets `lr` and group `g` gets
    /// `base_g · (lr / base_0)`, `base` being each group's rate when the optimizer was
    /// built: every group follows a manual schedule from its own rate, as PyTorch code
    /// scales each `group["lr"]` (an [`Error::Config`] if group 0 was built with rate 0;
    /// set each group with [`Optimizer::set_group_lr`] then). Schedules
    /// ([`crate::optim::schedule`]) do not go through this: they run in each group.
    pub fn set_lr_f64(&mut self, lr: f64) -> Result<()> {
        groups::check_lr(lr)?;
        if self.groups.len() == 1 || self.scheduled_group.is_some() {
            let target = self.target();
            return self.groups[target].set_lr(lr);
        }
        let base = self.groups[0].base_lr;
        if base == 0.0 {
            return Err(Error::Config(format!(
                "{}: set_lr scales every parameter group by the new rate over group 0's \
                 built rate, which is 0; set each group's rate with set_group_lr",
                self.name()
            )));
        }
        let rates: Vec<f64> = self
            .groups
            .iter()
            .enumerate()
            .map(|(g, group)| {
                if g == 0 {
                    lr
                } else {
                    group.base_lr * (lr / base)
                }
            })
            .collect();
        rates.iter().try_for_each(|&r| groups::check_lr(r))?;
        for (group, rate) in self.groups.iter_mut().zip(rates) {
            group.set_lr(rate)?;
        }
        Ok(())
    }

    /// Sets the learning rate of group `group` alone (PyTorch's
    /// `optimizer.param_groups[group]["lr"] = lr`); validated as [`Optimizer::set_lr_f64`].
    pub fn set_group_lr(&mut self, group: usize, lr: f64) -> Result<()> {
        let count = self.groups.len();
        self.groups
            .get_mut(group)
            .ok_or_else(|| {
                Error::Config(format!("there is no parameter group {group} of {count}"))
            })?
            .set_lr(lr)
    }

    /// PyTorch's `group["initial_lr"]`: the learning rate when the first schedule was
    /// attached (`OneCycleLR` sets it to `max_lr / div_factor`); `None` before any
    /// (group 0's; [`OptimizerGroup::initial_lr`] for each group).
    pub fn initial_lr(&self) -> Option<f64> {
        self.groups[self.target()].initial_lr
    }

    pub(crate) fn set_initial_lr(&mut self, lr: f64) {
        let target = self.target();
        self.groups[target].initial_lr = Some(lr);
    }

    /// Records `lr` as the initial learning rate unless one is recorded (PyTorch's
    /// `group.setdefault("initial_lr", lr)`).
    pub(crate) fn record_initial_lr(&mut self, lr: f64) {
        let target = self.target();
        self.groups[target].initial_lr.get_or_insert(lr);
    }

    /// The group a schedule is being applied to (see `schedule::per_group`).
    pub(crate) fn scheduled_group(&self) -> Option<usize> {
        self.scheduled_group
    }

    /// Makes the learning-rate and momentum methods address `group` alone (`None`: back
    /// to the optimizer as a whole).
    pub(crate) fn schedule_group(&mut self, group: Option<usize>) {
        self.scheduled_group = group;
    }

    /// Every group's configuration, learning rate and initial rate.
    pub(crate) fn schedule_snapshot(&self) -> ScheduleSnapshot {
        ScheduleSnapshot {
            groups: self
                .groups
                .iter()
                .map(|g| (g.config.boxed_clone(), g.lr, g.initial_lr))
                .collect(),
        }
    }

    /// Puts back what [`Optimizer::schedule_snapshot`] took (and the state's layout, which
    /// a momentum change can alter only before the first step).
    pub(crate) fn restore_schedule_snapshot(&mut self, snapshot: ScheduleSnapshot) -> Result<()> {
        let names_before: Vec<Vec<&'static str>> = self
            .groups
            .iter()
            .map(|g| groups::state_names(g.config.as_ref()))
            .collect();
        for (group, (config, lr, initial_lr)) in self.groups.iter_mut().zip(snapshot.groups) {
            (group.config, group.lr, group.initial_lr) = (config, lr, initial_lr);
        }
        let changed = self
            .groups
            .iter()
            .zip(&names_before)
            .any(|(g, before)| groups::state_names(g.config.as_ref()) != *before);
        if changed && self.steps == 0 {
            self.lay_out_state()?;
        }
        Ok(())
    }

    /// The momentum a schedule may cycle: `momentum` of SGD and RMSprop, `betas.0` of
    /// Adam, AdamW, Adamax and NAdam; `None` for optimizers without one (group 0's).
    pub fn momentum(&self) -> Option<f32> {
        self.groups[self.target()].config.momentum()
    }

    /// Sets [`Optimizer::momentum`] in every group, validated like the constructor's value
    /// (SGD with Nesterov needs it `> 0`, a beta lies in `[0, 1)`).
    ///
    /// SGD and RMSprop keep a momentum buffer only while momentum is not 0. Before the
    /// first step the state is laid out again to match (PyTorch creates its buffers at
    /// the first step, so the result is the same); after it, a change that would add or
    /// drop that buffer is refused with [`Error::Config`].
    pub fn set_momentum(&mut self, momentum: f32) -> Result<()> {
        let targets = self.momentum_targets();
        let configs = targets
            .clone()
            .map(|g| self.config_with_momentum(g, momentum))
            .collect::<Result<Vec<_>>>()?;
        let mut changed = false;
        for (g, config) in targets.clone().zip(&configs) {
            let before = groups::state_names(self.groups[g].config.as_ref());
            let after = groups::state_names(config.as_ref());
            if before != after {
                if self.steps > 0 {
                    return Err(Error::Config(format!(
                        "{}: momentum {momentum} needs {} state buffers, but the optimizer \
                         has stepped with {}; a momentum crossing 0 after the first step is \
                         not supported",
                        config.name(),
                        after.len(),
                        before.len()
                    )));
                }
                changed = true;
            }
        }
        for (g, config) in targets.zip(configs) {
            self.groups[g].config = config;
        }
        if changed {
            self.lay_out_state()?;
        }
        Ok(())
    }

    /// The groups [`Optimizer::set_momentum`] changes: the scheduled one, else all.
    fn momentum_targets(&self) -> std::ops::Range<usize> {
        match self.scheduled_group {
            Some(g) => g..g + 1,
            None => 0..self.groups.len(),
        }
    }

    /// The number of state buffers the optimizer would keep with `momentum` (in the
    /// scheduled group, else in all), checked as [`Optimizer::set_momentum`] checks it;
    /// nothing changes.
    pub(crate) fn state_buffers_with_momentum(&self, momentum: f32) -> Result<usize> {
        let mut names: Vec<&'static str> = Vec::new();
        for g in self.momentum_targets() {
            for name in groups::state_names(self.config_with_momentum(g, momentum)?.as_ref()) {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        Ok(names.len())
    }

    /// A validated copy of group `group`'s configuration with `momentum` set.
    fn config_with_momentum(
        &self,
        group: usize,
        momentum: f32,
    ) -> Result<Box<dyn OptimizerConfig>> {
        let mut config = self.groups[group].config.boxed_clone();
        let Some(field) = config.momentum_mut() else {
            return Err(Error::Config(format!(
                "{} has no momentum or beta1 to set",
                self.name()
            )));
        };
        *field = momentum;
        config.validate()?;
        Ok(config)
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
