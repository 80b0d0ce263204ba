//! `Sequential::save_weights` / `load_weights`: the parameters alone.

use super::file::{self, NamedTensor};
use super::header::{Header, Kind, FORMAT_VERSION};
use super::{shape_problems, write_parameters, OPTIMIZER_PREFIX};
use crate::error::{Error, Result};
use crate::nn::Sequential;
use crate::tensor::Tensor;
use safetensors::Dtype;
use std::collections::BTreeMap;
use std::path::Path;

impl Sequential {
    /// Every parameter with its name, `<layer index>.<name>` (`0.dense.weight`), in the
    /// order of [`Sequential::parameters`]: PyTorch's `named_parameters()`.
    pub fn named_parameters(&self) -> Result<Vec<(String, Tensor)>> {
        Ok(self
            .layers()?
            .iter()
            .enumerate()
            .flat_map(|(i, layer)| {
                layer
                    .parameter_names()
                    .into_iter()
                    .zip(layer.parameters())
                    .map(move |(name, t)| (format!("{i}.{name}"), t))
            })
            .collect())
    }

    /// Every parameter, then every buffer, with its name: PyTorch's `state_dict()`, what
    /// [`Sequential::save_weights`] writes.
    pub fn state_tensors(&self) -> Result<Vec<(String, Tensor)>> {
        let mut named = self.named_parameters()?;
        named.extend(self.buffers()?);
        Ok(named)
    }

    /// `Layer::describe` of each layer (building the model if it is not built).
    pub(crate) fn layer_descriptions(&self) -> Result<Vec<String>> {
        Ok(self.layers()?.iter().map(|l| l.describe()).collect())
    }

    /// Writes the parameters and buffers to `path` as a safetensors file (layout in
    /// [`crate::checkpoint`]), atomically: one F32 tensor per parameter or buffer (batch
    /// norm's running statistics), named `<layer index>.<name>` and in downhill's layout (a
    /// `Dense` weight is `[in, out]`). Keras' `save_weights`; PyTorch's
    /// `save_file(model.state_dict())`.
    pub fn save_weights(&self, path: impl AsRef<Path>) -> Result<()> {
        let named = self.state_tensors()?;
        let buffers = self.buffers()?.into_iter().map(|(n, _)| n).collect();
        let tensors = named
            .iter()
            .map(|(name, t)| {
                Ok(NamedTensor {
                    name: name.clone(),
                    shape: t.dims().to_vec(),
                    values: t.to_vec()?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let header = Header {
            format_version: FORMAT_VERSION,
            kind: Kind::Weights,
            layers: self.layer_descriptions()?,
            parameters: self
                .named_parameters()?
                .into_iter()
                .map(|(n, _)| n)
                .collect(),
            buffers,
            optimizer: None,
            training: None,
        };
        file::write(path.as_ref(), &tensors, header.to_json()?)
    }

    /// Reads parameters and buffers written by [`Sequential::save_weights`] (or a checkpoint, or a
    /// file PyTorch wrote with our names and layout) into this model. Every name, dtype and
    /// shape is checked before any value is copied: a file that does not fit is
    /// [`Error::Mismatch`] listing what differs, a damaged one [`Error::Corrupt`], and
    /// the model is untouched. Values load as they are, NaN and ±inf included. An
    /// optimizer built over the model keeps its state (PyTorch's `load_state_dict` on the
    /// model alone).
    pub fn load_weights(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let read = file::read(path)?;
        let header = read
            .metadata
            .as_deref()
            .map(|m| Header::parse(m, &shown))
            .transpose()?;
        let mut tensors = read.tensors;
        if header.is_some_and(|h| h.kind == Kind::Checkpoint) {
            tensors.retain(|name, _| !name.starts_with(OPTIMIZER_PREFIX));
        }
        let named = self.state_tensors()?;
        let expected: Vec<(String, Vec<usize>)> = named
            .iter()
            .map(|(n, t)| (n.clone(), t.dims().to_vec()))
            .collect();
        let mut problems: Vec<String> = tensors
            .iter()
            .filter(|(_, t)| t.dtype != Dtype::F32)
            .map(|(name, t)| {
                format!(
                    "tensor {name} is {}; downhill loads F32 (convert it, e.g. `.float()` in \
                     PyTorch)",
                    t.dtype
                )
            })
            .collect();
        let shapes: BTreeMap<String, Vec<usize>> = tensors
            .iter()
            .map(|(n, t)| (n.clone(), t.shape.clone()))
            .collect();
        problems.extend(shape_problems(&expected, &shapes, "in the file"));
        if !problems.is_empty() {
            return Err(Error::mismatch(format!("weights file {shown}"), &problems));
        }
        let params: Vec<Tensor> = named.iter().map(|(_, t)| t.clone()).collect();
        // Every name was found above.
        let values: Vec<&[f32]> = named
            .iter()
            .map(|(n, _)| tensors.get(n).map_or(&[][..], |t| t.values.as_slice()))
            .collect();
        write_parameters(&params, &values)
    }
}
