//! Parameter groups, as PyTorch's `param_groups`: sets of parameters that use their own
//! values of some hyperparameters (a learning rate, no weight decay on biases) while
//! sharing one optimizer, one flat buffer and one step.
//!
//! A [`ParamGroup`] names its parameters (tensors, or a test on the names
//! [`Sequential::named_parameters`](crate::nn::Sequential::named_parameters) gives) and
//! overrides hyperparameters by their [`OptimizerConfig::hyperparameters`] names, so every
//! hyperparameter of every family can be set per group without a case per optimizer. The
//! optimizer lays out each group's parameters together in the flat buffer, so a step is one
//! pass (one kernel dispatch) per group.

use super::optimizer::{OptimizerConfig, StepContext};
use super::state::HyperparameterValue;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::fmt;
use std::sync::Arc;

/// A test on a parameter's name (`0.dense.weight`, `1.dense.bias`).
type NameTest = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Which parameters a group holds.
#[derive(Clone)]
enum Selection {
    Tensors(Vec<Tensor>),
    Matching(NameTest),
}

/// A set of parameters and the hyperparameters they use instead of the optimizer's own:
/// one entry of PyTorch's `param_groups`. A hyperparameter the group does not override
/// takes the optimizer configuration's value.
///
/// ```
/// use downhill_core::{Device, OptimizerConfig, ParamGroup, Result, Sgd};
///
/// fn build(device: &Device) -> Result<()> {
///     let w = device.tensor(vec![1.0, 2.0], [2])?.param();
///     let b = device.scalar(0.5)?.param();
///     // SGD with momentum and weight decay on `w`; on `b` no decay and a smaller rate.
///     let optimizer = Sgd::new(0.1).momentum(0.9).weight_decay(1e-4).build_groups(vec![
///         ParamGroup::new(&[&w]),
///         ParamGroup::new(&[&b]).weight_decay(0.0).lr(0.01),
///     ])?;
///     assert_eq!(optimizer.groups().len(), 2);
///     Ok(())
/// }
/// ```
///
/// For a model, select by name ([`ParamGroup::matching`]) and pass the groups to `fit`
/// (`FitConfig::param_groups`) or to [`Optimizer::with_named_groups`]: the parameters no
/// group selects form a first group with the configuration's own values.
///
/// [`Optimizer::with_named_groups`]: super::Optimizer::with_named_groups
#[derive(Clone)]
pub struct ParamGroup {
    selection: Selection,
    overrides: Vec<(String, HyperparameterValue)>,
}

impl ParamGroup {
    /// A group of these parameters, in this order.
    pub fn new(params: &[&Tensor]) -> Self {
        ParamGroup {
            selection: Selection::Tensors(params.iter().map(|p| (*p).clone()).collect()),
            overrides: Vec::new(),
        }
    }

    /// A group of the parameters whose name passes `select`, e.g.
    /// `ParamGroup::matching(|name| name.ends_with(".bias"))`. Names are those of
    /// [`Sequential::named_parameters`](crate::nn::Sequential::named_parameters):
    /// `<layer index>.<layer's name for it>`, e.g. `0.dense.weight`, `1.dense.bias`.
    pub fn matching(select: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        ParamGroup {
            selection: Selection::Matching(Arc::new(select)),
            overrides: Vec::new(),
        }
    }

    /// Overrides hyperparameter `name` (its name in
    /// [`OptimizerConfig::hyperparameters`]: `lr`, `weight_decay`, `momentum`, `beta1`,
    /// `eps`, `nesterov`, `amsgrad`, ...) for this group. Checked when the optimizer is
    /// built: a name the optimizer lacks or a value of the wrong kind is
    /// [`Error::Config`], a value out of range [`Error::Hyperparameter`]. Setting a name
    /// twice keeps the last value.
    pub fn set(mut self, name: &str, value: impl Into<HyperparameterValue>) -> Self {
        let value = value.into();
        match self.overrides.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 = value,
            None => self.overrides.push((name.to_string(), value)),
        }
        self
    }

    /// The group's learning rate (`lr`).
    pub fn lr(self, lr: f32) -> Self {
        self.set("lr", lr)
    }

    /// The group's `weight_decay` (0 for none, as for biases and norm parameters).
    pub fn weight_decay(self, weight_decay: f32) -> Self {
        self.set("weight_decay", weight_decay)
    }

    /// The group's `momentum` (SGD, RMSprop).
    pub fn momentum(self, momentum: f32) -> Self {
        self.set("momentum", momentum)
    }

    /// The group's `betas` (`beta1`, `beta2`: the Adam family).
    pub fn betas(self, beta1: f32, beta2: f32) -> Self {
        self.set("beta1", beta1).set("beta2", beta2)
    }

    /// The group's `eps`.
    pub fn eps(self, eps: f32) -> Self {
        self.set("eps", eps)
    }

    /// The hyperparameters the group overrides, in the order first set.
    pub fn overrides(&self) -> &[(String, HyperparameterValue)] {
        &self.overrides
    }

    /// Whether the group selects its parameters by name ([`ParamGroup::matching`]).
    pub fn selects_by_name(&self) -> bool {
        matches!(self.selection, Selection::Matching(_))
    }
}

impl fmt::Debug for ParamGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("ParamGroup");
        match &self.selection {
            Selection::Tensors(t) => {
                s.field("params", &t.iter().map(|p| p.id()).collect::<Vec<_>>())
            }
            Selection::Matching(_) => s.field("params", &"matching(<fn>)"),
        };
        s.field("overrides", &self.overrides).finish()
    }
}

/// Groups resolved against a list of parameters: which group each parameter is in, and
/// what each group overrides. Every group holds at least one parameter.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Grouping {
    /// `group_of[i]`: the group of parameter `i`.
    pub group_of: Vec<usize>,
    /// Each group's overrides.
    pub overrides: Vec<Vec<(String, HyperparameterValue)>>,
}

impl Grouping {
    /// One group of `n` parameters, with no overrides.
    pub fn single(n: usize) -> Grouping {
        Grouping {
            group_of: vec![0; n],
            overrides: vec![Vec::new()],
        }
    }

    /// Groups of tensors: the parameters are the groups' tensors one group after another
    /// (PyTorch's order), and group `g` is `groups[g]`.
    pub fn of_tensors(groups: &[ParamGroup]) -> Result<(Vec<Tensor>, Grouping)> {
        let mut params: Vec<Tensor> = Vec::new();
        let mut group_of = Vec::new();
        for (g, group) in groups.iter().enumerate() {
            let Selection::Tensors(tensors) = &group.selection else {
                return Err(Error::Config(format!(
                    "ParamGroup {g} selects its parameters by name: build the optimizer with \
                     Optimizer::with_named_groups (or pass the groups to fit), which knows \
                     the names"
                )));
            };
            if tensors.is_empty() {
                return Err(Error::Config(format!("ParamGroup {g} has no parameters")));
            }
            for t in tensors {
                if let Some(i) = params.iter().position(|p| p.id() == t.id()) {
                    return Err(Error::Config(format!(
                        "a parameter ({:?}) is in ParamGroup {} and ParamGroup {g}: a \
                         parameter belongs to one group",
                        t.dims(),
                        group_of[i]
                    )));
                }
                params.push(t.clone());
                group_of.push(g);
            }
        }
        let overrides = groups.iter().map(|g| g.overrides.clone()).collect();
        Ok((
            params,
            Grouping {
                group_of,
                overrides,
            },
        ))
    }

    /// Groups over `named` parameters (in that order): each parameter is in the group that
    /// selects it (by tensor or by name); the ones no group selects form group 0 with no
    /// overrides (absent when there are none), and `groups[k]` follows as the next group.
    /// A parameter selected twice, or a group that selects nothing, is an error.
    pub fn of_named(named: &[(String, Tensor)], groups: &[ParamGroup]) -> Result<Grouping> {
        let mut chosen: Vec<Option<usize>> = vec![None; named.len()];
        for (k, group) in groups.iter().enumerate() {
            let mut any = false;
            match &group.selection {
                Selection::Tensors(tensors) => {
                    if tensors.is_empty() {
                        return Err(Error::Config(format!("ParamGroup {k} has no parameters")));
                    }
                    for t in tensors {
                        let i = named
                            .iter()
                            .position(|(_, p)| p.id() == t.id())
                            .ok_or_else(|| {
                                Error::Config(format!(
                                    "ParamGroup {k} holds a tensor ({:?}) that is not one of the \
                                 model's parameters",
                                    t.dims()
                                ))
                            })?;
                        select(&mut chosen, named, i, k)?;
                        any = true;
                    }
                }
                Selection::Matching(test) => {
                    for (i, (name, _)) in named.iter().enumerate() {
                        if test(name) {
                            select(&mut chosen, named, i, k)?;
                            any = true;
                        }
                    }
                }
            }
            if !any {
                let names: Vec<&str> = named.iter().map(|(n, _)| n.as_str()).collect();
                return Err(Error::Config(format!(
                    "ParamGroup {k} selects no parameter (the parameters are {names:?})"
                )));
            }
        }
        let default = chosen.iter().any(Option::is_none);
        let shift = usize::from(default);
        let group_of = chosen.iter().map(|c| c.map_or(0, |k| k + shift)).collect();
        let overrides = default
            .then(Vec::new)
            .into_iter()
            .chain(groups.iter().map(|g| g.overrides.clone()))
            .collect();
        Ok(Grouping {
            group_of,
            overrides,
        })
    }
}

/// Puts parameter `i` into group `k`, unless another group has it.
fn select(
    chosen: &mut [Option<usize>],
    named: &[(String, Tensor)],
    i: usize,
    k: usize,
) -> Result<()> {
    match chosen[i] {
        Some(other) if other != k => Err(Error::Config(format!(
            "parameter {} is selected by ParamGroup {other} and ParamGroup {k}: a parameter \
             belongs to one group",
            named[i].0
        ))),
        Some(_) => Err(Error::Config(format!(
            "parameter {} is listed twice in ParamGroup {k}",
            named[i].0
        ))),
        None => {
            chosen[i] = Some(k);
            Ok(())
        }
    }
}

/// A copy of `defaults` with `overrides` applied, validated.
pub(crate) fn configure(
    defaults: &dyn OptimizerConfig,
    overrides: &[(String, HyperparameterValue)],
) -> Result<Box<dyn OptimizerConfig>> {
    let mut config = defaults.boxed_clone();
    for (name, value) in overrides {
        let name_list = config
            .hyperparameters()
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>();
        let family = config.name();
        let mut fields = config.hyperparameter_fields();
        let Some((_, field)) = fields.iter_mut().find(|(n, _)| n == name) else {
            return Err(Error::Config(format!(
                "{family} has no hyperparameter {name:?} to set for a parameter group (it has \
                 {name_list:?})"
            )));
        };
        let before = field.get();
        if !field.set(*value) {
            return Err(Error::Config(format!(
                "{family}'s {name} is {before} (a {}), a parameter group sets it to {value}",
                match before {
                    HyperparameterValue::Flag(_) => "flag",
                    HyperparameterValue::Number(_) => "number",
                }
            )));
        }
    }
    config.validate()?;
    Ok(config)
}

/// The names of the state buffers `config`'s rule keeps.
pub(crate) fn state_names(config: &dyn OptimizerConfig) -> Vec<&'static str> {
    config
        .rule(&mut StepContext {
            step: 1,
            ..StepContext::default()
        })
        .state_names()
}

/// One parameter group of a built [`Optimizer`](super::Optimizer): its parameters, what
/// it overrides, its configuration and its learning rate as schedules set it.
pub struct OptimizerGroup {
    pub(crate) params: Vec<usize>,
    pub(crate) overrides: Vec<(String, HyperparameterValue)>,
    pub(crate) config: Box<dyn OptimizerConfig>,
    /// The learning rate the group was built with: what [`Optimizer::set_lr`] scales.
    ///
    /// [`Optimizer::set_lr`]: super::Optimizer::set_lr
    pub(crate) base_lr: f64,
    /// The learning rate as a schedule last set it, in f64 (PyTorch's `group["lr"]`);
    /// `config`'s f32 is this value rounded, and is what the update uses.
    pub(crate) lr: f64,
    /// PyTorch's `group["initial_lr"]`: set by the first schedule attached.
    pub(crate) initial_lr: Option<f64>,
}

impl OptimizerGroup {
    pub(crate) fn new(
        params: Vec<usize>,
        overrides: Vec<(String, HyperparameterValue)>,
        config: Box<dyn OptimizerConfig>,
    ) -> Self {
        let lr = f64::from(config.lr());
        OptimizerGroup {
            params,
            overrides,
            config,
            base_lr: lr,
            lr,
            initial_lr: None,
        }
    }

    /// The group's parameters, as indices into the optimizer's
    /// [`ParamSet::params`](super::ParamSet::params), ascending.
    pub fn params(&self) -> &[usize] {
        &self.params
    }

    /// The hyperparameters the group overrides, as its [`ParamGroup`] set them.
    pub fn overrides(&self) -> &[(String, HyperparameterValue)] {
        &self.overrides
    }

    /// The group's configuration: the optimizer's with the overrides applied, and the
    /// learning rate (and a cycled momentum) in force.
    pub fn config(&self) -> &dyn OptimizerConfig {
        self.config.as_ref()
    }

    /// The learning rate the group's next update uses.
    pub fn lr(&self) -> f32 {
        self.config.lr()
    }

    /// The group's learning rate as schedules keep it (f64).
    pub fn lr_f64(&self) -> f64 {
        self.lr
    }

    /// The group's PyTorch `initial_lr` (see [`Optimizer::initial_lr`]).
    ///
    /// [`Optimizer::initial_lr`]: super::Optimizer::initial_lr
    pub fn initial_lr(&self) -> Option<f64> {
        self.initial_lr
    }

    /// Sets the learning rate; validated (finite, `>= 0`, also once rounded to f32).
    pub(crate) fn set_lr(&mut self, lr: f64) -> Result<()> {
        check_lr(lr)?;
        self.config.set_lr(lr as f32)?;
        self.lr = lr;
        Ok(())
    }
}

impl fmt::Debug for OptimizerGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OptimizerGroup")
            .field("params", &self.params)
            .field("overrides", &self.overrides)
            .field("lr", &self.lr)
            .finish()
    }
}

/// A learning rate is finite and `>= 0`, also once rounded to f32.
pub(crate) fn check_lr(lr: f64) -> Result<()> {
    if lr.is_finite() && lr >= 0.0 && (lr as f32).is_finite() {
        Ok(())
    } else {
        Err(Error::Hyperparameter {
            name: "lr",
            value: lr as f32,
            reason: "must be a finite number >= 0",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::configure;
    use crate::error::Error;
    use crate::optim::{
        Adadelta, Adagrad, Adam, AdamW, Adamax, HyperparameterValue, NAdam, OptimizerConfig,
        RmsProp, Sgd,
    };

    fn families() -> Vec<Box<dyn OptimizerConfig>> {
        vec![
            Box::new(Sgd::new(0.1).momentum(0.5)),
            Box::new(Adagrad::new(0.1)),
            Box::new(RmsProp::new(0.1)),
            Box::new(Adam::new(0.1)),
            Box::new(AdamW::new(0.1)),
            Box::new(Adamax::new(0.1)),
            Box::new(NAdam::new(0.1)),
            Box::new(Adadelta::new(0.1)),
        ]
    }

    /// Every hyperparameter a family lists can be overridden by its name, and the override
    /// lands in that hyperparameter alone.
    #[test]
    fn every_hyperparameter_is_an_override() {
        for defaults in families() {
            let listed = defaults.hyperparameters();
            for (name, value) in &listed {
                let changed = match *value {
                    // Inside every range a family accepts: lr, decays, betas, eps, alpha.
                    HyperparameterValue::Number(x) => {
                        HyperparameterValue::Number(if x == 0.25 { 0.125 } else { 0.25 })
                    }
                    HyperparameterValue::Flag(b) => HyperparameterValue::Flag(!b),
                };
                let overrides = [(name.to_string(), changed)];
                let config = match configure(defaults.as_ref(), &overrides) {
                    Ok(config) => config,
                    // Flags with preconditions (Nesterov needs dampening 0 and momentum).
                    Err(Error::Hyperparameter { .. }) => continue,
                    Err(e) => panic!("{}: {name}: {e}", defaults.name()),
                };
                for ((n, before), (m, after)) in listed.iter().zip(config.hyperparameters()) {
                    assert_eq!(*n, m);
                    let want = if n == name { changed } else { *before };
                    assert_eq!(
                        after,
                        want,
                        "{}: override {name}, read {n}",
                        defaults.name()
                    );
                }
            }
        }
    }

    #[test]
    fn unknown_and_mistyped_overrides_are_config_errors() {
        let sgd = Sgd::new(0.1);
        let unknown = [("beta1".to_string(), HyperparameterValue::Number(0.9))];
        let e = configure(&sgd, &unknown).map(|_| ()).unwrap_err();
        assert!(
            matches!(e, Error::Config(ref m) if m.contains("beta1")),
            "{e}"
        );
        let mistyped = [("nesterov".to_string(), HyperparameterValue::Number(1.0))];
        let e = configure(&sgd, &mistyped).map(|_| ()).unwrap_err();
        assert!(
            matches!(e, Error::Config(ref m) if m.contains("flag")),
            "{e}"
        );
        let negative = [(
            "weight_decay".to_string(),
            HyperparameterValue::Number(-1.0),
        )];
        let e = configure(&sgd, &negative).map(|_| ()).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Hyperparameter {
                    name: "weight_decay",
                    ..
                }
            ),
            "{e}"
        );
    }
}
