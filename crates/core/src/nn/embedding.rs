//! `Embedding`: a lookup table of `num_embeddings` vectors of `embedding_dim` values
//! (`torch.nn.Embedding`).

use super::{Layer, LayerSpec};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::memory;
use crate::random::SeededRng;
use crate::shape::Shape;
use crate::tensor::Tensor;

/// Maps integer ids (an f32 tensor `[N]` or `[N, L]` of whole numbers) to rows of a
/// trainable `[num_embeddings, embedding_dim]` weight, giving `[N, embedding_dim]` or
/// `[N, L, embedding_dim]`. Weights start as N(0, 1), as PyTorch's; the row `padding_idx`,
/// if set, starts at zero and never receives a gradient. An id that is not a whole number
/// in `0..num_embeddings` gives a row of NaN (PyTorch raises an error; a kernel cannot).
#[derive(Clone, Debug)]
pub struct Embedding {
    /// The number of rows (the vocabulary size).
    pub num_embeddings: usize,
    /// The length of each row (the output's last axis).
    pub embedding_dim: usize,
    /// A row that starts at zero and gets no gradient (PyTorch's `padding_idx`); none by
    /// default.
    pub padding_idx: Option<usize>,
}

impl Embedding {
    /// `nn.Embedding(num_embeddings, embedding_dim)`. Sizes of 0 are refused with
    /// [`Error::Config`] when the model is built.
    pub fn new(num_embeddings: usize, embedding_dim: usize) -> Self {
        Embedding {
            num_embeddings,
            embedding_dim,
            padding_idx: None,
        }
    }

    /// Sets the padding row (PyTorch's `padding_idx=`; a row past the table is refused when
    /// the model is built).
    pub fn padding_idx(mut self, padding_idx: usize) -> Self {
        self.padding_idx = Some(padding_idx);
        self
    }
}

impl LayerSpec for Embedding {
    /// None: the input holds ids, not features.
    fn in_features(&self) -> Option<usize> {
        None
    }
    fn out_features(&self) -> Option<usize> {
        Some(self.embedding_dim)
    }
    fn build(&self, device: &Device, seed: u64) -> Result<Box<dyn Layer>> {
        let (num, dim) = (self.num_embeddings, self.embedding_dim);
        let name = format!("Embedding({num}, {dim})");
        if num == 0 || dim == 0 {
            return Err(Error::Config(format!("{name}: sizes must be at least 1")));
        }
        if let Some(p) = self.padding_idx.filter(|&p| p >= num) {
            return Err(Error::Config(format!(
                "{name}: padding_idx {p} is not one of the {num} rows"
            )));
        }
        let n = device.check_new(&format!("{name} weight"), &Shape::new([num, dim]))?;
        let mut rng = SeededRng::new(seed);
        let mut values = memory::host_collect(&name, n, std::iter::repeat_with(|| rng.normal()))?;
        if let Some(p) = self.padding_idx {
            values[p * dim..(p + 1) * dim].fill(0.0);
        }
        let weight = device.tensor(values, [num, dim])?.param();
        Ok(Box::new(EmbeddingLayer {
            spec: self.clone(),
            weight,
        }))
    }
}

/// A built `Embedding` holding its weight.
struct EmbeddingLayer {
    spec: Embedding,
    /// `[num_embeddings, embedding_dim]`
    weight: Tensor,
}

impl Layer for EmbeddingLayer {
    fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        if !matches!(ids.rank(), 1 | 2) {
            return Err(Error::shape(
                "Embedding",
                format!("ids must be [N] or [N, L], got {}", ids.shape()),
            ));
        }
        Tensor::embedding(ids, &self.weight, self.spec.padding_idx)
    }

    fn parameters(&self) -> Vec<Tensor> {
        vec![self.weight.clone()]
    }

    fn parameter_names(&self) -> Vec<String> {
        vec!["embedding.weight".to_string()]
    }

    fn describe(&self) -> String {
        let padding = self
            .spec
            .padding_idx
            .map(|p| format!(", padding_idx={p}"))
            .unwrap_or_default();
        format!(
            "Embedding({}, {}{padding})",
            self.spec.num_embeddings, self.spec.embedding_dim
        )
    }
}
