//! `Checkpoint`: a training run that can continue bit for bit, in this process or another.

use super::file::{self, NamedTensor};
use super::header::{
    ContextSection, Header, Kind, OptimizerSection, TrainingSection, FORMAT_VERSION,
};
use super::{shape_problems, write_parameters, OPTIMIZER_PREFIX};
use crate::error::{Error, Result};
use crate::nn::Sequential;
use crate::optim::{Optimizer, OptimizerState, StateBuffer, StepContext};
use crate::tensor::Tensor;
use crate::train::History;
use safetensors::Dtype;
use std::collections::BTreeMap;
use std::path::Path;

/// Where the training loop stands, kept in a checkpoint beside the model and optimizer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainingState {
    /// Epochs completed: the resumed run starts at this 0-based epoch (Keras'
    /// `initial_epoch`).
    pub epoch: usize,
    /// The seed the shuffles are drawn from. Epoch `e`'s order is
    /// `BatchPlan::new(rows, batch_size, shuffle, shuffle_seed, e, drop_last)`, a pure
    /// function of `(shuffle_seed, e)`: with [`TrainingState::epoch`] this is the shuffle's
    /// whole RNG position.
    pub shuffle_seed: u64,
    /// The learning-rate schedule's own state, opaque here (`None`: no schedule). The
    /// learning rate in force is restored with the optimizer either way.
    pub schedule: Option<serde_json::Value>,
    /// The history of the epochs so far.
    pub history: History,
    /// Anything else the caller keeps with the run (e.g. `fit`'s batch size, to check it on
    /// resume), by name.
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// A training run at one point: the model's parameters, the optimizer's whole state and
/// the loop's position. See [`crate::checkpoint`] for the file layout.
///
/// ```
/// # use downhill_core::{checkpoint::{Checkpoint, TrainingState}, Sequential, Adam, OptimizerConfig, Tensor, Activation};
/// # fn run(device: &downhill_core::Device, dir: &std::path::Path) -> downhill_core::Result<()> {
/// let model = Sequential::new(device).dense(2, 1, Activation::Linear);
/// let params = model.parameters()?;
/// let opt = Adam::new(0.01).build(&params.iter().collect::<Vec<&Tensor>>())?;
/// // ... train ...
/// let training = TrainingState { epoch: 3, shuffle_seed: 42, ..Default::default() };
/// Checkpoint::capture(&model, &opt, training)?.save(dir.join("run.safetensors"))?;
///
/// // Later, maybe in another process: the same model and optimizer, freshly built.
/// let mut model = Sequential::new(device).dense(2, 1, Activation::Linear);
/// let params = model.parameters()?;
/// let mut opt = Adam::new(0.01).build(&params.iter().collect::<Vec<&Tensor>>())?;
/// let checkpoint = Checkpoint::load(dir.join("run.safetensors"))?;
/// checkpoint.restore(&mut model, &mut opt)?;
/// assert_eq!(checkpoint.training.epoch, 3);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// `Layer::describe` of each layer.
    pub layers: Vec<String>,
    /// The parameters, named `<layer index>.<name>`, in the model's order.
    pub parameters: Vec<NamedTensor>,
    /// The model's buffers (batch norm's running statistics), named and ordered likewise.
    pub buffers: Vec<NamedTensor>,
    /// The optimizer's state; its parameter `i` is `parameters[i]`.
    pub optimizer: OptimizerState,
    /// Where the training loop stood: epoch, shuffle seed, schedule state and history.
    pub training: TrainingState,
    /// Where it came from, for messages: the file's path, or `(captured)`.
    origin: String,
}

impl Checkpoint {
    /// Copies the run's state to the host: the parameters (one read-back of the flat
    /// buffer), every optimizer state buffer and host value, and `training`. `opt` must be
    /// the optimizer over `model`'s parameters, in the model's order (as `fit` builds it).
    pub fn capture(model: &Sequential, opt: &Optimizer, training: TrainingState) -> Result<Self> {
        check_pairing(model, opt)?;
        let named = model.named_parameters()?;
        let set = opt.param_set();
        let flat = set.device().backend().download(set.flat())?;
        let parameters = named
            .iter()
            .zip(set.segments())
            .map(|((name, t), seg)| NamedTensor {
                name: name.clone(),
                shape: t.dims().to_vec(),
                values: flat[seg.offset..seg.offset + seg.len].to_vec(),
            })
            .collect();
        let buffers = model
            .buffers()?
            .into_iter()
            .map(|(name, t)| {
                Ok(NamedTensor {
                    name,
                    shape: t.dims().to_vec(),
                    values: t.to_vec()?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Checkpoint {
            layers: model.layer_descriptions()?,
            parameters,
            buffers,
            optimizer: opt.state_dict()?,
            training,
            origin: "(captured)".into(),
        })
    }

    /// Writes the checkpoint to `path` atomically (layout in [`crate::checkpoint`]).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let problems = self.inconsistencies();
        if !problems.is_empty() {
            return Err(Error::Config(format!(
                "checkpoint {} cannot be saved: {}",
                self.origin,
                problems.join("; ")
            )));
        }
        let mut tensors = self.parameters.clone();
        tensors.extend(self.buffers.iter().cloned());
        for buffer in &self.optimizer.buffers {
            for (param, values) in self.parameters.iter().zip(&buffer.values) {
                tensors.push(NamedTensor {
                    name: format!("{OPTIMIZER_PREFIX}{}.{}", buffer.name, param.name),
                    shape: param.shape.clone(),
                    values: values.clone(),
                });
            }
        }
        let opt = &self.optimizer;
        let header = Header {
            format_version: FORMAT_VERSION,
            kind: Kind::Checkpoint,
            layers: self.layers.clone(),
            parameters: self.parameters.iter().map(|p| p.name.clone()).collect(),
            buffers: self.buffers.iter().map(|b| b.name.clone()).collect(),
            optimizer: Some(OptimizerSection {
                name: opt.name.clone(),
                hyperparameters: opt.hyperparameters.iter().cloned().collect(),
                steps: opt.steps,
                clip: opt.clip.map(Into::into),
                buffers: opt.buffers.iter().map(|b| b.name.clone()).collect(),
                contexts: opt.contexts.iter().map(ContextSection::from).collect(),
                param_groups: opt.groups.iter().map(Into::into).collect(),
                train_mode: opt.train_mode,
            }),
            training: Some(TrainingSection::new(&self.training)),
        };
        file::write(path.as_ref(), &tensors, header.to_json()?)
    }

    /// Reads a checkpoint written by [`Checkpoint::save`]. A file that is not a whole one
    /// (truncated, random bytes, metadata that contradicts its tensors) is
    /// [`Error::Corrupt`]; a weights file, another tool's file or a later format version is
    /// [`Error::Mismatch`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let corrupt = |detail: String| Error::Corrupt {
            path: shown.clone(),
            detail,
        };
        let not_one = |why: &str| Error::mismatch(format!("file {shown}"), &[why.to_string()]);
        let read = file::read(path)?;
        let Some(text) = read.metadata.as_deref() else {
            return Err(not_one(
                "it has no downhill metadata: not a downhill checkpoint",
            ));
        };
        let header = Header::parse(text, &shown)?;
        if header.kind != Kind::Checkpoint {
            return Err(not_one(
                "it is a weights file, not a training checkpoint: read it with \
                 Sequential::load_weights",
            ));
        }
        let (Some(opt), Some(training)) = (header.optimizer, header.training) else {
            return Err(corrupt(
                "its metadata lacks the optimizer or training section".into(),
            ));
        };
        let mut tensors = read.tensors;
        let dtypes: Vec<String> = tensors
            .iter()
            .filter(|(_, t)| t.dtype != Dtype::F32)
            .map(|(name, t)| format!("tensor {name} is {}; downhill loads F32", t.dtype))
            .collect();
        if !dtypes.is_empty() {
            return Err(Error::mismatch(format!("checkpoint {shown}"), &dtypes));
        }
        let mut take = |name: &str| {
            tensors.remove(name).ok_or_else(|| {
                corrupt(format!(
                    "its metadata lists tensor {name}, the file has none"
                ))
            })
        };
        // The tensors a list of the header names, in its order.
        let mut named = |names: &[String]| {
            names
                .iter()
                .map(|name| {
                    let t = take(name)?;
                    Ok(NamedTensor {
                        name: name.clone(),
                        shape: t.shape,
                        values: t.values,
                    })
                })
                .collect::<Result<Vec<_>>>()
        };
        let parameters = named(&header.parameters)?;
        let model_buffers = named(&header.buffers)?;
        let buffers = opt
            .buffers
            .iter()
            .map(|buffer| {
                let values = parameters
                    .iter()
                    .map(|p| {
                        let t = take(&format!("{OPTIMIZER_PREFIX}{buffer}.{}", p.name))?;
                        if t.shape != p.shape {
                            return Err(corrupt(format!(
                                "state {buffer} of {} has shape {:?}, the parameter {:?}",
                                p.name, t.shape, p.shape
                            )));
                        }
                        Ok(t.values)
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(StateBuffer {
                    name: buffer.clone(),
                    values,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if let Some(name) = tensors.keys().next() {
            return Err(corrupt(format!(
                "it holds tensor {name}, which its metadata does not list"
            )));
        }
        let checkpoint = Checkpoint {
            layers: header.layers,
            optimizer: OptimizerState {
                name: opt.name,
                hyperparameters: opt.hyperparameters.into_iter().collect(),
                groups: opt.param_groups.into_iter().map(Into::into).collect(),
                steps: opt.steps,
                clip: opt.clip.map(Into::into),
                shapes: parameters.iter().map(|p| p.shape.clone()).collect(),
                contexts: opt.contexts.iter().map(StepContext::from).collect(),
                buffers,
                train_mode: opt.train_mode,
            },
            parameters,
            buffers: model_buffers,
            training: training.into_state(&shown)?,
            origin: shown.clone(),
        };
        let problems = checkpoint.inconsistencies();
        if !problems.is_empty() {
            return Err(corrupt(problems.join("; ")));
        }
        Ok(checkpoint)
    }

    /// Puts the run's state into `model` and `opt`: the same model (layers, parameter names
    /// and shapes) and an optimizer over its parameters with the same name, hyperparameters
    /// (but `lr`, which is restored) and clip setting, typically freshly built. Everything
    /// is checked first: on any difference this is [`Error::Mismatch`] listing them, and
    /// neither is changed. Then the parameters, every state buffer, the step counts and the
    /// learning rate are copied in; the next step computes what the next step of the saved
    /// run would have, bit for bit. [`Checkpoint::training`] says where the loop stands.
    pub fn restore(&self, model: &mut Sequential, opt: &mut Optimizer) -> Result<()> {
        check_pairing(model, opt)?;
        let mut problems = Vec::new();
        let layers = model.layer_descriptions()?;
        if layers.len() != self.layers.len() {
            problems.push(format!(
                "it has {} layers, the model {}",
                self.layers.len(),
                layers.len()
            ));
        }
        for (i, (theirs, ours)) in self.layers.iter().zip(&layers).enumerate() {
            if theirs != ours {
                problems.push(format!(
                    "layer {i} is {theirs} in the checkpoint, {ours} in the model"
                ));
            }
        }
        let named = model.named_parameters()?;
        let expected: Vec<(String, Vec<usize>)> = named
            .iter()
            .map(|(n, t)| (n.clone(), t.dims().to_vec()))
            .collect();
        let found: BTreeMap<String, Vec<usize>> = self
            .parameters
            .iter()
            .map(|p| (p.name.clone(), p.shape.clone()))
            .collect();
        let tensor_problems = shape_problems(&expected, &found, "in the checkpoint");
        let order_differs = tensor_problems.is_empty()
            && self
                .parameters
                .iter()
                .zip(&named)
                .any(|(p, (n, _))| &p.name != n);
        problems.extend(tensor_problems);
        if order_differs {
            problems.push("its parameters are in another order than the model's".into());
        }
        let model_buffers = model.buffers()?;
        let expected: Vec<(String, Vec<usize>)> = model_buffers
            .iter()
            .map(|(n, t)| (n.clone(), t.dims().to_vec()))
            .collect();
        let found: BTreeMap<String, Vec<usize>> = self
            .buffers
            .iter()
            .map(|b| (b.name.clone(), b.shape.clone()))
            .collect();
        problems.extend(shape_problems(&expected, &found, "in the checkpoint"));
        if problems.is_empty() {
            problems.extend(opt.state_dict_problems(&self.optimizer));
        }
        if !problems.is_empty() {
            return Err(Error::mismatch(
                format!("checkpoint {}", self.origin),
                &problems,
            ));
        }
        let params: Vec<Tensor> = named.into_iter().map(|(_, t)| t).collect();
        let values: Vec<&[f32]> = self
            .parameters
            .iter()
            .map(|p| p.values.as_slice())
            .collect();
        write_parameters(&params, &values)?;
        // Every buffer name was found above.
        let by_name: BTreeMap<&str, &[f32]> = self
            .buffers
            .iter()
            .map(|b| (b.name.as_str(), b.values.as_slice()))
            .collect();
        let (buffers, values): (Vec<Tensor>, Vec<&[f32]>) = model_buffers
            .iter()
            .map(|(n, t)| (t.clone(), by_name.get(n.as_str()).copied().unwrap_or(&[])))
            .unzip();
        write_parameters(&buffers, &values)?;
        opt.apply_state_dict(&self.optimizer)
    }

    /// Where the run stands (also the public field `training`).
    pub fn training(&self) -> &TrainingState {
        &self.training
    }

    /// What in this checkpoint contradicts itself (its fields are public): value counts that
    /// do not fill shapes, state for another number of parameters.
    fn inconsistencies(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for p in self.parameters.iter().chain(&self.buffers) {
            let n = p.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
            if n != Some(p.values.len()) {
                problems.push(format!(
                    "parameter {} holds {} values for shape {:?}",
                    p.name,
                    p.values.len(),
                    p.shape
                ));
            }
        }
        let opt = &self.optimizer;
        let n = self.parameters.len();
        if opt.shapes.len() != n || opt.contexts.len() != n {
            problems.push(format!(
                "{n} parameters but optimizer state for {} (with {} step counts)",
                opt.shapes.len(),
                opt.contexts.len()
            ));
        }
        let mut grouped = vec![0usize; n];
        for group in &opt.groups {
            for &i in &group.params {
                match grouped.get_mut(i) {
                    Some(count) => *count += 1,
                    None => problems.push(format!("a parameter group lists parameter {i} of {n}")),
                }
            }
        }
        if !opt.groups.is_empty() && grouped.iter().any(|&count| count != 1) {
            problems.push("its parameter groups do not hold every parameter once".into());
        }
        for buffer in &opt.buffers {
            let fits = buffer.values.len() == n
                && buffer
                    .values
                    .iter()
                    .zip(&self.parameters)
                    .all(|(v, p)| v.len() == p.values.len());
            if !fits {
                problems.push(format!(
                    "optimizer state {} does not have the parameters' sizes",
                    buffer.name
                ));
            }
        }
        problems
    }
}

/// Fails unless `opt` steps exactly `model`'s parameters, in the model's order (groups
/// may lay them out otherwise in the flat buffer).
fn check_pairing(model: &Sequential, opt: &Optimizer) -> Result<()> {
    let params = model.parameters()?;
    let refs: Vec<&Tensor> = params.iter().collect();
    if opt.param_set().holds_exactly(&refs) {
        Ok(())
    } else {
        Err(Error::Config(
            "the optimizer was not built over this model's parameters in the model's order \
             (build it with `config.build(&model.parameters()?.iter().collect::<Vec<_>>())`, \
             or with groups `Optimizer::with_named_groups(config, \
             &model.named_parameters()?, groups)`, after the model and before restoring)"
                .into(),
        ))
    }
}
