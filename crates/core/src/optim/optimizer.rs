//! `Optimizer`: a configuration plus its flat state, stepping all parameters at once.

use super::params::ParamSet;
use super::rule::UpdateRule;
use crate::autodiff::Gradients;
use crate::backend::{GradClip, Storage};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Host-side values an optimizer carries between steps besides its device state.
#[derive(Clone, Debug)]
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
    ctx: StepContext,
    clip: Option<GradClip>,
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
            config,
            set,
            state,
            flat_grads,
            ctx: StepContext {
                step: 0,
                mu_product: 1.0,
            },
            clip: None,
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

    /// Updates every parameter from `grads` in one pass. A parameter the loss did not
    /// depend on gets a zero gradient (PyTorch would skip it; with stateful optimizers its
    /// momentum still moves it).
    pub fn step(&mut self, grads: &Gradients) -> Result<()> {
        self.set.check_owned()?;
        let backend = self.set.device().backend();
        for (param, seg) in self.set.params().iter().zip(self.set.segments()) {
            let dst = self.flat_grads.slice(seg.offset, seg.len);
            match grads.get(param) {
                Some(g) => backend.copy(&g.storage(), &dst)?,
                None => backend.fill(&dst, 0.0)?,
            }
        }
        if let Some(clip) = self.clip {
            backend.clip_gradients(&self.flat_grads, clip)?;
        }
        self.ctx.step += 1;
        let rule = self.config.rule(&mut self.ctx);
        backend.optimizer_step(&rule, self.set.flat(), &self.flat_grads, &self.state)?;
        for param in self.set.params() {
            param.bump_version();
        }
        // The step ends here: a GPU submits forward, backward and update together.
        backend.flush()
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.ctx.step
    }

    pub fn name(&self) -> &'static str {
        self.config.name()
    }

    pub fn lr(&self) -> f32 {
        self.config.lr()
    }

    pub fn set_lr(&mut self, lr: f32) -> Result<()> {
        self.config.set_lr(lr)
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
