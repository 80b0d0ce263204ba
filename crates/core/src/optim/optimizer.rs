//! `Optimizer`: a configuration plus its flat state, stepping all parameters at once.

use super::params::ParamSet;
use super::rule::UpdateRule;
use super::state::{HyperparameterValue, OptimizerState, StateBuffer};
use crate::autodiff::Gradients;
use crate::backend::{GradClip, Storage};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

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
    /// first: what a checkpoint records and [`Optimizer::load_state_dict`] compares.
    fn hyperparameters(&self) -> Vec<(&'static str, HyperparameterValue)>;
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
}

/// Cloning a configuration behind `dyn OptimizerConfig` (any `Clone` configuration has it).
pub trait BoxedClone {
    fn boxed_clone(&self) -> Box<dyn OptimizerConfig>;
}

impl<T: OptimizerConfig + Clone + 'static> BoxedClone for T {
    fn boxed_clone(&self) -> Box<dyn OptimizerConfig> {
        Box::new(self.clone())
    }
}

/// A configured optimizer with its state, ready to `step`.
pub struct Optimizer {
    config: Box<dyn OptimizerConfig>,
    set: ParamSet,
    state: Vec<Storage>,
    flat_grads: Storage,
    /// One per parameter (segment), in the set's order.
    contexts: Vec<StepContext>,
    /// Calls to `step`.
    steps: u64,
    clip: Option<GradClip>,
    /// The learning rate as a schedule last set it, in f64 (PyTorch's `group["lr"]` is a
    /// Python float); `config`'s f32 is this value rounded, and is what the update uses.
    lr: f64,
    /// PyTorch's `group["initial_lr"]`: set by the first schedule attached, read by later
    /// ones as their base learning rate.
    initial_lr: Option<f64>,
}

impl Optimizer {
    /// Validates `config` and lays out `params` and the state in flat buffers.
    pub fn new(config: Box<dyn OptimizerConfig>, params: &[&Tensor]) -> Result<Optimizer> {
        config.validate()?;
        let set = ParamSet::new(params)?;
        let backend = set.device().backend();
        let state = config
            .initial_state()
            .into_iter()
            .map(|v| backend.full(set.flat_len(), v))
            .collect::<Result<Vec<_>>>()?;
        let flat_grads = backend.full(set.flat_len(), 0.0)?;
        Ok(Optimizer {
            lr: f64::from(config.lr()),
            initial_lr: None,
            config,
            state,
            flat_grads,
            contexts: vec![
                StepContext {
                    step: 0,
                    mu_product: 1.0,
                };
                set.params().len()
            ],
            steps: 0,
            clip: None,
            set,
        })
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
    /// the GPU). As in PyTorch, a parameter the loss did not reach is skipped: neither it
    /// nor its state changes, and its own step count stays (the step then runs over the
    /// runs of parameters that have gradients and the same step count, one pass each).
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
        for (start, end) in self.runs(&present) {
            let mut ctx = self.contexts[start].clone();
            ctx.step += 1;
            let rule = self.config.rule(&mut ctx);
            self.contexts[start..end].fill(ctx);
            let segments = self.set.segments();
            let from = segments[start].offset;
            let to = segments.get(end).map_or(self.set.flat_len(), |s| s.offset);
            let view = |s: &Storage| s.slice(from, to - from);
            let state: Vec<Storage> = self.state.iter().map(view).collect::<Result<_>>()?;
            backend.optimizer_step(
                &rule,
                &view(self.set.flat())?,
                &view(&self.flat_grads)?,
                &state,
            )?;
            for param in &self.set.params()[start..end] {
                param.bump_version();
            }
        }
        // The step ends here: a GPU submits forward, backward and update together.
        backend.flush()
    }

    /// Maximal ranges `[start, end)` of parameters that have a gradient and share a step
    /// count: each is one pass. Usually the whole set.
    fn runs(&self, present: &[bool]) -> Vec<(usize, usize)> {
        let mut runs = Vec::new();
        let mut i = 0;
        while i < present.len() {
            if !present[i] {
                i += 1;
                continue;
            }
            let mut j = i + 1;
            while j < present.len() && present[j] && self.contexts[j] == self.contexts[i] {
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

    /// The configuration (optimizer and hyperparameters) it steps with.
    pub fn config(&self) -> &dyn OptimizerConfig {
        self.config.as_ref()
    }

    /// The gradient clipping applied before each step, if any.
    pub fn clip(&self) -> Option<GradClip> {
        self.clip
    }

    /// Calls to `step` so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    pub fn name(&self) -> &'static str {
        self.config.name()
    }

    /// The learning rate the next update uses.
    pub fn lr(&self) -> f32 {
        self.config.lr()
    }

    /// Sets the learning rate (validated: finite and `>= 0`).
    pub fn set_lr(&mut self, lr: f32) -> Result<()> {
        self.config.set_lr(lr)?;
        self.lr = f64::from(lr);
        Ok(())
    }

    /// The learning rate as schedules read and write it: the f64 a schedule last set
    /// ([`Optimizer::set_lr_f64`]), or the f32 one widened. Schedules that chain (each
    /// step multiplies the current rate) go through this value, so their rounding to f32
    /// happens once per write and does not accumulate over steps.
    pub fn lr_f64(&self) -> f64 {
        self.lr
    }

    /// Sets the learning rate from an f64 (as PyTorch's schedules set `group["lr"]`): it
    /// is kept as given for [`Optimizer::lr_f64`], and the update uses it rounded to f32.
    /// Validated: finite and `>= 0`, also once rounded.
    pub fn set_lr_f64(&mut self, lr: f64) -> Result<()> {
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(Error::Hyperparameter {
                name: "lr",
                value: lr as f32,
                reason: "must be a finite number >= 0",
            });
        }
        self.config.set_lr(lr as f32)?;
        self.lr = lr;
        Ok(())
    }

    /// PyTorch's `group["initial_lr"]`: the learning rate when the first schedule was
    /// attached (`OneCycleLR` sets it to `max_lr / div_factor`); `None` before any.
    pub fn initial_lr(&self) -> Option<f64> {
        self.initial_lr
    }

    pub(crate) fn set_initial_lr(&mut self, lr: f64) {
        self.initial_lr = Some(lr);
    }

    /// Records `lr` as the initial learning rate unless one is recorded (PyTorch's
    /// `group.setdefault("initial_lr", lr)`).
    pub(crate) fn record_initial_lr(&mut self, lr: f64) {
        self.initial_lr.get_or_insert(lr);
    }

    /// The momentum a schedule may cycle: `momentum` of SGD and RMSprop, `betas.0` of
    /// Adam, AdamW, Adamax and NAdam; `None` for optimizers without one.
    pub fn momentum(&self) -> Option<f32> {
        self.config.momentum()
    }

    /// Sets [`Optimizer::momentum`], validated like the constructor's value (SGD with
    /// Nesterov needs it `> 0`, a beta lies in `[0, 1)`).
    ///
    /// SGD and RMSprop keep a momentum buffer only while momentum is not 0. Before the
    /// first step the state is laid out again to match (PyTorch creates its buffers at
    /// the first step, so the result is the same); after it, a change that would add or
    /// drop that buffer is refused with [`Error::Config`].
    pub fn set_momentum(&mut self, momentum: f32) -> Result<()> {
        let config = self.config_with_momentum(momentum)?;
        let initial = config.initial_state();
        if initial.len() != self.state.len() {
            if self.steps > 0 {
                return Err(Error::Config(format!(
                    "{}: momentum {momentum} needs {} state buffers, but the optimizer has \
                     stepped with {}; a momentum crossing 0 after the first step is not \
                     supported",
                    config.name(),
                    initial.len(),
                    self.state.len()
                )));
            }
            let backend = self.set.device().backend();
            self.state = initial
                .into_iter()
                .map(|v| backend.full(self.set.flat_len(), v))
                .collect::<Result<Vec<_>>>()?;
        }
        self.config = config;
        Ok(())
    }

    /// The number of state buffers the optimizer would keep with `momentum`, checked as
    /// [`Optimizer::set_momentum`] checks it; nothing changes.
    pub(crate) fn state_buffers_with_momentum(&self, momentum: f32) -> Result<usize> {
        Ok(self.config_with_momentum(momentum)?.initial_state().len())
    }

    /// A validated copy of the configuration with `momentum` set.
    fn config_with_momentum(&self, momentum: f32) -> Result<Box<dyn OptimizerConfig>> {
        let mut config = self.config.boxed_clone();
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

    /// The configuration's hyperparameters (see [`OptimizerConfig::hyperparameters`]).
    pub fn hyperparameters(&self) -> Vec<(&'static str, HyperparameterValue)> {
        self.config.hyperparameters()
    }

    /// The name of each state buffer, in order (e.g. `exp_avg`, `exp_avg_sq`).
    pub fn state_names(&self) -> Vec<&'static str> {
        let mut first = StepContext {
            step: 1,
            mu_product: 1.0,
        };
        self.config.rule(&mut first).state_names()
    }

    /// Everything the optimizer carries between steps, copied to the host (one read-back
    /// per state buffer): the name, hyperparameters, step counts, clip setting and every
    /// state buffer cut into the parameters' segments. PyTorch's `state_dict()`.
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
                    .map(|seg| flat[seg.offset..seg.offset + seg.len].to_vec())
                    .collect();
                Ok(StateBuffer {
                    name: name.to_string(),
                    values,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(OptimizerState {
            name: self.name().to_string(),
            hyperparameters: self
                .hyperparameters()
                .into_iter()
                .map(|(n, v)| (n.to_string(), v))
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
        })
    }

    /// Continues from `state` (taken by [`Optimizer::state_dict`], here or in another
    /// process, on any device): copies every state buffer, the step counts and the
    /// learning rate in. The state must come from the same optimizer over parameters of
    /// the same shapes: its name, every hyperparameter but `lr` and the clip setting must
    /// equal this optimizer's (`lr` is taken from the state, since a schedule may have
    /// changed it). Everything is checked before anything changes: on any difference this
    /// is an [`Error::Mismatch`] listing them, and the optimizer is untouched.
    pub fn load_state_dict(&mut self, state: &OptimizerState) -> Result<()> {
        let problems = self.state_dict_problems(state);
        if !problems.is_empty() {
            return Err(Error::mismatch("optimizer state", &problems));
        }
        self.apply_state_dict(state)
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
        let ours = self.hyperparameters();
        for (name, value) in &ours {
            match state.hyperparameter(name) {
                None => problems.push(format!("hyperparameter {name} is missing from it")),
                Some(saved) if *name == "lr" => match saved {
                    HyperparameterValue::Number(lr) if lr.is_finite() && lr >= 0.0 => {}
                    other => problems.push(format!("its lr {other} is not a valid rate")),
                },
                Some(saved) if saved != *value => {
                    problems.push(format!("{name} is {saved} there, {value} here"))
                }
                Some(_) => {}
            }
        }
        for (name, _) in &state.hyperparameters {
            if !ours.iter().any(|(n, _)| n == name) {
                problems.push(format!(
                    "it has a hyperparameter {name} that {} lacks",
                    self.name()
                ));
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
            for (i, (values, seg)) in buffer.values.iter().zip(self.set.segments()).enumerate() {
                if values.len() != seg.len {
                    problems.push(format!(
                        "state {} of parameter {i} holds {} values, the parameter {}",
                        buffer.name,
                        values.len(),
                        seg.len
                    ));
                }
            }
        }
        problems
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
                        self.state[k].slice(seg.offset, seg.len)?,
                    ));
                }
            }
        }
        for (src, dst) in &copies {
            backend.copy(src, dst)?;
        }
        if let Some(lr) = state.lr() {
            *self.config.lr_mut() = lr;
        }
        self.contexts = state.contexts.clone();
        self.steps = state.steps;
        backend.flush()
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
