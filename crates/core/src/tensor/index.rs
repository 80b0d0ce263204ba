//! Indexing: `index_select`, `embedding`, `gather`, and `argmax`/`argmin`.
//!
//! Index tensors are f32 tensors holding integers. An index that is not an integer in
//! range (negative, fractional, NaN, ±inf, past the axis) selects NaN on both backends and
//! receives no gradient; PyTorch raises an error instead, which a kernel cannot do (see
//! [`crate::backend::index`]).

use super::Tensor;
use crate::autodiff::Op;
use crate::backend::index::ArgReduceOp;
use crate::backend::ReduceDims;
use crate::error::{Error, Result};
use crate::shape::Shape;

impl Tensor {
    /// The entries of `indices` (a 1-D or 0-D tensor of integer values) along `axis`
    /// (`torch.index_select`): the result has `indices.numel()` entries on that axis. The
    /// backward adds the gradient back into the selected rows, in index order (repeated
    /// indices add up), with one kernel and no atomics, so it is bit-identical run to run.
    pub fn index_select(&self, axis: usize, indices: &Tensor) -> Result<Tensor> {
        self.select_op("index_select", axis, indices, None)
    }

    /// `torch.nn.functional.embedding(input, weight, padding_idx)`: row `input[..]` of the
    /// `[num_embeddings, dim]` matrix `weight` for every id, giving `input.shape + [dim]`.
    /// The row `padding_idx`, if given, receives no gradient.
    pub fn embedding(
        input: &Tensor,
        weight: &Tensor,
        padding_idx: Option<usize>,
    ) -> Result<Tensor> {
        let (num, dim) = weight.shape().as_matrix("embedding")?;
        if let Some(p) = padding_idx.filter(|&p| p >= num) {
            return Err(Error::Config(format!(
                "embedding: padding_idx {p} is not a row of {num} embeddings"
            )));
        }
        let ids = input.reshape([input.numel()])?;
        let rows = weight.select_op("embedding", 0, &ids, padding_idx)?;
        let mut dims = input.dims().to_vec();
        dims.push(dim);
        rows.reshape(dims)
    }

    fn select_op(
        &self,
        op: &'static str,
        axis: usize,
        indices: &Tensor,
        skip: Option<usize>,
    ) -> Result<Tensor> {
        self.check_device(op, indices)?;
        self.shape().check_axis(op, axis)?;
        if indices.rank() > 1 {
            return Err(Error::shape(
                op,
                format!("the indices must be 1-D, got shape {}", indices.shape()),
            ));
        }
        let (outer, len, inner) = self.shape().split_at_axis(axis);
        let dims = ReduceDims { outer, len, inner };
        let mut out_dims = self.dims().to_vec();
        out_dims[axis] = indices.numel();
        let out_shape = Shape::new(out_dims);
        self.device().check_new(op, &out_shape)?;
        let indices = indices.detach(); // no gradient flows into indices
        let out =
            self.device()
                .backend()
                .index_select(&self.storage(), dims, &indices.storage())?;
        Ok(Tensor::from_op(
            self.device(),
            out_shape,
            out,
            Op::IndexSelect { dims, skip },
            &[self, &indices],
            false,
        ))
    }

    /// `torch.gather(self, axis, index)`: `out[.., k, ..] = self[.., index[.., k, ..], ..]`
    /// along `axis`, the result shaped like `index`. `index` must have `self`'s rank and
    /// match it on every other axis (PyTorch also allows smaller sizes there; here that is
    /// [`Error::Shape`]). The backward adds the gradient back at the gathered positions, in
    /// index order, with one kernel and no atomics.
    pub fn gather(&self, axis: usize, index: &Tensor) -> Result<Tensor> {
        const OP: &str = "gather";
        self.check_device(OP, index)?;
        self.shape().check_axis(OP, axis)?;
        let fits = index.rank() == self.rank()
            && (0..self.rank()).all(|d| d == axis || index.dims()[d] == self.dims()[d]);
        if !fits {
            return Err(Error::shape(
                OP,
                format!(
                    "the index {} must match {} on every axis but {axis}",
                    index.shape(),
                    self.shape()
                ),
            ));
        }
        let (outer, len, inner) = self.shape().split_at_axis(axis);
        let dims = ReduceDims { outer, len, inner };
        let k = index.dims()[axis];
        self.device().check_new(OP, index.shape())?;
        let index = index.detach();
        let out = self
            .device()
            .backend()
            .gather(&self.storage(), dims, &index.storage(), k)?;
        Ok(Tensor::from_op(
            self.device(),
            index.shape().clone(),
            out,
            Op::Gather { dims, k },
            &[self, &index],
            false,
        ))
    }

    /// The position of the first maximum along `axis`, as f32 (`torch.argmax`; a NaN
    /// counts as the maximum, so the first NaN wins). With `keep_dim` the axis stays with
    /// size 1. No gradient. An empty axis is [`Error::EmptyData`].
    pub fn argmax(&self, axis: usize, keep_dim: bool) -> Result<Tensor> {
        self.arg_reduce_op(ArgReduceOp::Max, "argmax", axis, keep_dim)
    }

    /// The position of the first minimum along `axis`, as f32 (`torch.argmin`; a NaN
    /// counts as the minimum, as NaN propagates through `torch.min`). As
    /// [`Tensor::argmax`] otherwise.
    pub fn argmin(&self, axis: usize, keep_dim: bool) -> Result<Tensor> {
        self.arg_reduce_op(ArgReduceOp::Min, "argmin", axis, keep_dim)
    }

    fn arg_reduce_op(
        &self,
        op: ArgReduceOp,
        name: &'static str,
        axis: usize,
        keep_dim: bool,
    ) -> Result<Tensor> {
        self.shape().check_axis(name, axis)?;
        let (outer, len, inner) = self.shape().split_at_axis(axis);
        let out_shape = self.shape().reduce_axis(axis, keep_dim);
        if len == 0 && out_shape.numel() > 0 {
            return Err(Error::EmptyData(format!(
                "{name}: axis {axis} of shape {} is empty",
                self.shape()
            )));
        }
        let dims = ReduceDims { outer, len, inner };
        let out = self
            .device()
            .backend()
            .arg_reduce(op, &self.storage(), dims)?;
        Ok(Tensor::leaf(self.device(), out_shape, out, false))
    }
}
