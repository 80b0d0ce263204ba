//! Checkpoints: a model's weights, and a whole training run, as safetensors files.
//!
//! # Two kinds of file
//!
//! - **Weights**: [`Sequential::save_weights`](crate::nn::Sequential::save_weights) /
//!   [`Sequential::load_weights`](crate::nn::Sequential::load_weights), the
//!   parameters only (Keras' names for exactly this; Keras' `save`/`load` and PyTorch's
//!   `torch.save(model)` also store the architecture, which a weights file does not: the
//!   model is built in code and the file fills it).
//! - **Training checkpoints**: [`Checkpoint`], the parameters plus everything needed to
//!   continue the run bit for bit: every optimizer state buffer, each parameter's step
//!   count, the hyperparameters, the clip setting, the epoch, the shuffle's seed, an opaque
//!   slot for the learning-rate schedule and the [`History`](crate::train::History) so far.
//!   [`Checkpoint::capture`] + [`Checkpoint::save`] write one; [`Checkpoint::load`] +
//!   [`Checkpoint::restore`] continue from it, in the same process or a new one, on either
//!   device (a checkpoint saved on a GPU restores on the CPU and the other way round).
//!
//! # Layout
//!
//! A standard safetensors file (8-byte little-endian header length, JSON header, raw data).
//! Every tensor is `F32`, little-endian, row-major, in downhill's own layout:
//!
//! | tensor | shape | holds |
//! |---|---|---|
//! | `<layer>.dense.weight` | `[in, out]` | a `Dense` kernel `W` of `y = act(x · W + b)` |
//! | `<layer>.dense.bias` | `[out]` | its bias (absent with `use_bias(false)`) |
//! | `optimizer.<buffer>.<parameter>` | the parameter's | checkpoints only: state buffer `<buffer>` (PyTorch's key: `exp_avg`, `exp_avg_sq`, `max_exp_avg_sq`, `momentum_buffer`, `sum`, `square_avg`, `grad_avg`, `acc_delta`, `exp_inf`) of that parameter |
//!
//! `<layer>` is the layer's index in the `Sequential`, so names read like PyTorch's
//! `state_dict()` keys: `0.dense.weight`, `optimizer.exp_avg.1.dense.bias`. The values
//! are bit for bit those on the device, NaN payloads included.
//!
//! `__metadata__` holds one key, `downhill` (one key, so that saving the same state twice
//! writes the same bytes), whose value is a JSON document:
//!
//! ```json
//! {"format_version": 1, "kind": "checkpoint",
//!  "layers": ["Dense(2 -> 8, tanh)", "Dense(8 -> 1, linear)"],
//!  "parameters": ["0.dense.weight", "0.dense.bias", "1.dense.weight", "1.dense.bias"],
//!  "optimizer": {"name": "Adam", "steps": 20, "clip": null,
//!                "hyperparameters": {"amsgrad": true, "beta1": 0.9, "beta2": 0.999,
//!                                    "decoupled_weight_decay": false, "eps": 1e-8,
//!                                    "lr": 0.01, "maximize": false, "weight_decay": 0.0},
//!                "buffers": ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
//!                "contexts": [{"step": 20, "mu_product": 1.0}, ...],
//!                "param_groups": [{"params": [0, 1, 2, 3], "lr": 0.01,
//!                                  "hyperparameters": {"amsgrad": true, ...}}]},
//!  "training": {"epoch": 3, "shuffle_seed": 42, "schedule": null,
//!               "history": {"records": [...], "seconds": [...]}, "extra": {}}}
//! ```
//!
//! `kind` is `weights` or `checkpoint`; a weights file has no `optimizer` or `training`.
//! `param_groups` are the optimizer's parameter groups (PyTorch's `param_groups`): each
//! group's parameters as indices into `parameters`, its learning rate as schedules keep it
//! (f64) and every hyperparameter in force; the top-level `hyperparameters` are group 0's. A
//! file without `param_groups` holds one group with those.
//! `contexts` follow `parameters`' order (each parameter's step count, as PyTorch keeps
//! `state[p]["step"]`, NAdam's `mu_product`, and the schedule-free optimizers' `lr_max`
//! and `weight_sum`, written only when not at their start values -1 and 0); a
//! schedule-free optimizer saved at its evaluation point (after `eval()`) has
//! `"train_mode": false` (absent means true); `clip` is `{"norm": v}`, `{"value": v}`
//! or `null`; `history` is [`History::to_json`](crate::train::History::to_json)'s document
//! (NaN and infinities as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`); `schedule`
//! and `extra` are kept as given. A file of a later `format_version` is refused, not
//! misread.
//!
//! # PyTorch
//!
//! PyTorch's `nn.Linear` computes `x · Wᵀ + b` with `weight` of shape `[out, in]`; ours is
//! `[in, out]`. So `0.dense.weight` is `linear.weight.T`, and the biases are the same:
//!
//! ```python
//! import json, torch
//! from safetensors import safe_open
//! from safetensors.torch import load_file, save_file
//!
//! tensors = load_file("model.safetensors")             # weights or checkpoint file
//! with safe_open("model.safetensors", "pt") as f:
//!     meta = json.loads(f.metadata()["downhill"])       # layers, parameters, ...
//! net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
//! with torch.no_grad():
//!     for i, linear in [(0, net[0]), (1, net[2])]:
//!         linear.weight.copy_(tensors[f"{i}.dense.weight"].T)   # [in, out] -> [out, in]
//!         linear.bias.copy_(tensors[f"{i}.dense.bias"])
//!
//! # And back: a file `Sequential::load_weights` reads (no metadata needed).
//! save_file({f"{i}.dense.{name}": (p.T if name == "weight" else p).detach().contiguous()
//!            for i, linear in [(0, net[0]), (1, net[2])]
//!            for name, p in linear.named_parameters()}, "from_torch.safetensors")
//! ```
//!
//! An optimizer buffer `optimizer.exp_avg.0.dense.weight` is likewise the transpose of
//! `torch.optim.Adam`'s `state[net[0].weight]["exp_avg"]`.
//!
//! # Loading: everything is checked before anything changes
//!
//! Every tensor's name, dtype and shape (and, for a checkpoint, the layers, the optimizer's
//! name, hyperparameters, clip setting and state buffers) is checked against the model and
//! optimizer first; only when all fit are values copied in. So a file that does not fit
//! leaves the model and the optimizer exactly as they were. Two errors:
//!
//! - [`Error::Corrupt`](crate::Error::Corrupt): the file is not a whole safetensors file
//!   (truncated at any point, random bytes, a header that does not add up) or its
//!   metadata contradicts itself.
//! - [`Error::Mismatch`](crate::Error::Mismatch): a whole file that does not fit, listing
//!   every difference: `tensor 1.dense.bias is missing`, `tensor 0.dense.weight has shape
//!   [3, 2] in the file, [2, 3] in the model (its transpose: ...)`, `tensor 2.dense.weight
//!   is in the file but not in the model`, `tensor 0.dense.weight is F16; downhill loads
//!   F32`, `it was saved by SGD, this optimizer is Adam`, `beta2 is 0.99 there, 0.999 here`.
//!
//! A weights file's `layers` are a record, not a check (weights of the same shapes load
//! into a model with other activations, as in Keras and PyTorch); a checkpoint's layers
//! must match the model's, since resuming a run into another model is a mistake. A weights
//! file without downhill metadata (one PyTorch wrote) loads by tensor names alone; a
//! checkpoint file loads as weights too (its `optimizer.` tensors are skipped).
//!
//! # NaN and infinities
//!
//! Values load as they are, NaN and ±inf included: a checkpoint of a run that diverged
//! must round-trip, to be inspected. Training does not start from them: `fit` refuses
//! non-finite parameters with [`Error::NonFinite`](crate::Error::NonFinite) naming the first.
//!
//! # Writes
//!
//! Through [`write_atomic`](crate::io::write_atomic): a temporary file of its own in the
//! same directory, fsync, rename over the target, fsync of the directory. A reader sees the
//! old file or the new one, never a part; a failed write leaves the old file as it was and
//! no temporary file behind.

mod file;
mod header;
mod training;
mod weights;

pub use file::NamedTensor;
pub use header::FORMAT_VERSION;
pub use training::{Checkpoint, TrainingState};

use crate::error::Result;
use crate::tensor::Tensor;
use std::collections::BTreeMap;

/// Tensor names of optimizer state buffers start with this.
pub const OPTIMIZER_PREFIX: &str = "optimizer.";

/// What differs between the tensors a model has (`expected`: name and shape) and those a
/// file holds (`found`), in words; `there` names the file's side (`in the file`).
fn shape_problems(
    expected: &[(String, Vec<usize>)],
    found: &BTreeMap<String, Vec<usize>>,
    there: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, shape) in expected {
        match found.get(name) {
            None => problems.push(format!(
                "tensor {name} is missing (the model's is {shape:?})"
            )),
            Some(theirs) if theirs != shape => {
                let mut problem =
                    format!("tensor {name} has shape {theirs:?} {there}, {shape:?} in the model");
                let mut transposed = theirs.clone();
                transposed.reverse();
                if theirs.len() == 2 && &transposed == shape {
                    problem += " (its transpose: PyTorch's nn.Linear.weight is [out, in], \
                                downhill's Dense weight [in, out]; save weight.T)";
                }
                problems.push(problem);
            }
            Some(_) => {}
        }
    }
    for name in found.keys() {
        if !expected.iter().any(|(n, _)| n == name) {
            problems.push(format!("tensor {name} is {there} but not in the model"));
        }
    }
    problems
}

/// Copies `values[i]` into parameter `i`: every upload first, then the copies, so a device
/// that cannot hold the uploads changes nothing. Each parameter's version is bumped (a graph
/// recorded before refuses to differentiate with the new values).
fn write_parameters(params: &[Tensor], values: &[&[f32]]) -> Result<()> {
    let Some(first) = params.first() else {
        return Ok(());
    };
    let backend = first.device().backend();
    let uploads = values
        .iter()
        .map(|v| (!v.is_empty()).then(|| backend.upload(v)).transpose())
        .collect::<Result<Vec<_>>>()?;
    for (param, upload) in params.iter().zip(&uploads) {
        if let Some(src) = upload {
            backend.copy(src, &param.storage())?;
        }
        param.bump_version();
    }
    backend.flush()
}
