//! `OptimizerConfig`: one optimizer family's hyperparameters (PyTorch's names, defaults and
//! validation) and the rule it makes for each step; `StepContext`, what a step carries on
//! the host between steps.

use super::groups::ParamGroup;
use super::optimizer::Optimizer;
use super::rule::UpdateRule;
use super::state::{HyperparameterField, HyperparameterValue};
use crate::error::Result;
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
    /// The schedule-free optimizers' largest warmed-up learning rate so far (the
    /// reference's `group['lr_max']`, starts at -1).
    pub lr_max: f64,
    /// The schedule-free optimizers' sum of averaging weights so far (the reference's
    /// `group['weight_sum']`, starts at 0).
    pub weight_sum: f64,
}

impl Default for StepContext {
    /// Before the first step: step 0 and every carried value at its start.
    fn default() -> Self {
        StepContext {
            step: 0,
            mu_product: 1.0,
            lr_max: -1.0,
            weight_sum: 0.0,
        }
    }
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
    fn rule(&self, ctx: &mut StepContext) -> Box<dyn UpdateRule>;
    /// The evaluation-point swap, for optimizers whose parameters hold a training point
    /// other than the point to evaluate at (the schedule-free ones, whose parameters hold
    /// `y` while training and `x` is the point to evaluate): the elementwise rule that moves
    /// the parameters to the evaluation point (`to_eval`) or back to the training point,
    /// reading its state. [`Optimizer::eval`] and [`Optimizer::train`] run it over every
    /// parameter stepped at least once. `None` (the default): the parameters are the
    /// evaluation point, and `eval`/`train` do nothing.
    fn evaluation_swap(&self, to_eval: bool) -> Option<Box<dyn UpdateRule>> {
        let _ = to_eval;
        None
    }
    /// How many values of state buffer `name` a parameter of shape `dims` keeps (what
    /// `state_dict` holds for it, from the start of its segment): all its elements, but
    /// for a rule whose state has other shapes (Adafactor's `row_var`, `col_var`).
    fn state_len(&self, name: &str, dims: &[usize]) -> usize {
        let _ = name;
        dims.iter().product()
    }
    /// Initial value of each state buffer (e.g. Adagrad's `initial_accumulator_value`).
    fn initial_state(&self) -> Vec<f32> {
        vec![
            0.0;
            self.rule(&mut StepContext {
                step: 1,
                ..StepContext::default()
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
