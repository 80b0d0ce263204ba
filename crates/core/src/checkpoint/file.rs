//! The safetensors side: named f32 tensors and one JSON document in `__metadata__`, to
//! and from a file. Everything here is about the file itself; whether its tensors fit a
//! model is decided by the callers.

use crate::error::{Error, Result};
use crate::io::write_atomic;
use safetensors::{Dtype, SafeTensorError, SafeTensors};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The `__metadata__` key holding downhill's JSON document. One key only: safetensors
/// keeps metadata in a hash map, so with one key the file's bytes are the same on every
/// save of the same state.
pub const METADATA_KEY: &str = "downhill";

/// A tensor as it is written: a name, a shape and row-major values.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// The tensor's name in the file, e.g. `0.dense.weight`.
    pub name: String,
    /// Its dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Its elements, row-major.
    pub values: Vec<f32>,
}

/// A tensor as it was read. `values` holds the elements when the dtype is F32 (the only
/// one downhill loads) and is empty otherwise.
pub struct ReadTensor {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// A file as it was read: its `downhill` metadata (None for a file another tool wrote) and
/// every tensor by name.
pub struct ReadFile {
    pub metadata: Option<String>,
    pub tensors: BTreeMap<String, ReadTensor>,
}

/// Writes `tensors` and `metadata` as a safetensors file, atomically (see
/// [`write_atomic`]).
pub fn write(path: &Path, tensors: &[NamedTensor], metadata: String) -> Result<()> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|t| t.values.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| {
            let view = safetensors::tensor::TensorView::new(Dtype::F32, t.shape.clone(), b)
                .map_err(|e| invalid_write(path, &t.name, e))?;
            Ok((t.name.as_str(), view))
        })
        .collect::<Result<Vec<_>>>()?;
    let metadata = HashMap::from([(METADATA_KEY.to_string(), metadata)]);
    let file = safetensors::serialize(views, Some(metadata))
        .map_err(|e| invalid_write(path, "the header", e))?;
    write_atomic(path, &file)
}

fn invalid_write(path: &Path, what: &str, e: SafeTensorError) -> Error {
    Error::Io {
        path: path.display().to_string(),
        detail: format!("cannot encode {what} as safetensors: {e}"),
    }
}

/// Reads a whole safetensors file. A file that is not one (truncated, random bytes, a
/// header that does not add up) is [`Error::Corrupt`] saying what is wrong.
pub fn read(path: &Path) -> Result<ReadFile> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| Error::Io {
        path: shown.clone(),
        detail: e.to_string(),
    })?;
    let corrupt = |detail: String| Error::Corrupt {
        path: shown.clone(),
        detail,
    };
    // `read_metadata` checks the header against the file: offsets contiguous, each
    // tensor's bytes matching its shape and dtype, the data ending where the file ends.
    let (header_len, header) =
        SafeTensors::read_metadata(&bytes).map_err(|e| corrupt(explain(&e, &bytes)))?;
    let data = &bytes[8 + header_len..];
    let metadata = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(METADATA_KEY).cloned());
    let mut tensors = BTreeMap::new();
    for (name, info) in header.tensors() {
        let (start, end) = info.data_offsets;
        let bytes = data.get(start..end).ok_or_else(|| {
            corrupt(format!(
                "tensor {name}'s data lies past the end of the file"
            ))
        })?;
        let values = if info.dtype == Dtype::F32 {
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        } else {
            Vec::new()
        };
        let tensor = ReadTensor {
            dtype: info.dtype,
            shape: info.shape.clone(),
            values,
        };
        tensors.insert(name, tensor);
    }
    Ok(ReadFile { metadata, tensors })
}

/// What a safetensors error means for a file of `bytes`.
fn explain(e: &SafeTensorError, bytes: &[u8]) -> String {
    let declared = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]));
    let len = bytes.len();
    match (e, declared) {
        (SafeTensorError::HeaderTooSmall, _) => {
            format!("{len} bytes, too short for a safetensors header length (8 bytes): truncated")
        }
        (SafeTensorError::InvalidHeaderLength, Some(n)) => {
            format!("its header is {n} bytes but the file holds {len} bytes in all: truncated")
        }
        (SafeTensorError::HeaderTooLarge, Some(n)) => format!(
            "its first 8 bytes give a header of {n} bytes, over safetensors' limit: not a \
             safetensors file"
        ),
        (
            SafeTensorError::InvalidHeader(_) | SafeTensorError::InvalidHeaderDeserialization(_),
            _,
        ) => {
            format!("its header is not the JSON of a safetensors file ({e}): truncated or not a safetensors file")
        }
        (SafeTensorError::MetadataIncompleteBuffer, _) => format!(
            "its header describes tensor data that does not end where the file ends ({len} \
             bytes): truncated or appended to"
        ),
        _ => format!("not a valid safetensors file: {e}"),
    }
}
