//! Region ops: `narrow`, `pad`, `concat`, `stack`, and the reshapes `flatten`, `unsqueeze`,
//! `squeeze`. Narrow and pad are one backend op (padding by a negative amount crops), whose
//! backward is the opposite padding; concat's backward is one crop per part.

use super::Tensor;
use crate::autodiff::Op;
use crate::error::{Error, Result};
use crate::shape::Shape;

/// `v` as an `i64` padding amount (any real size fits; a larger one is too large).
fn signed(op: &str, v: usize) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::TooLarge(format!("{op}: a size of {v}")))
}

impl Tensor {
    /// Pads (or, for negative amounts, crops) with `value`, one `(before, after)` pair per
    /// axis; records the op for backward.
    fn pad_op(&self, op: &'static str, padding: Vec<(i64, i64)>, value: f32) -> Result<Tensor> {
        let be = self.device().backend();
        let out_shape = crate::backend::index::check_pad(&self.storage(), self.shape(), &padding)
            .map_err(|e| e.context(op))?;
        self.device().check_new(op, &out_shape)?;
        let out = be.pad(&self.storage(), self.shape(), &padding, value)?;
        Ok(Tensor::from_op(
            self.device(),
            out_shape,
            out,
            Op::Pad(padding),
            &[self],
            false,
        ))
    }

    /// The elements `start..start + length` along `axis` (`torch.narrow`, a slice); the
    /// gradient flows back into that range, zero elsewhere. An axis or range out of bounds
    /// is [`Error::Shape`].
    pub fn narrow(&self, axis: usize, start: usize, length: usize) -> Result<Tensor> {
        self.shape().check_axis("narrow", axis)?;
        let size = self.dims()[axis];
        if start.checked_add(length).is_none_or(|end| end > size) {
            return Err(Error::shape(
                "narrow",
                format!(
                    "elements {start}..{} of axis {axis} of {} (size {size})",
                    start as u128 + length as u128,
                    self.shape()
                ),
            ));
        }
        let mut padding = vec![(0, 0); self.rank()];
        padding[axis] = (
            -signed("narrow", start)?,
            -signed("narrow", size - start - length)?,
        );
        self.pad_op("narrow", padding, 0.0)
    }

    /// Pads with the constant `value`: `padding[d] = (before, after)` elements added before
    /// and after axis `d`, from the first axis on (fewer pairs than axes leave the rest
    /// unpadded). `torch.nn.functional.pad(x, pad, value=value)` in constant mode, except
    /// that torch lists its pairs from the last axis. The gradient is the gradient's
    /// interior (the padding gets none). More pairs than axes is [`Error::Shape`].
    pub fn pad(&self, padding: &[(usize, usize)], value: f32) -> Result<Tensor> {
        if padding.len() > self.rank() {
            return Err(Error::shape(
                "pad",
                format!(
                    "{} (before, after) pairs for the {} axes of {}",
                    padding.len(),
                    self.rank(),
                    self.shape()
                ),
            ));
        }
        let mut signed_padding = vec![(0, 0); self.rank()];
        for (slot, &(before, after)) in signed_padding.iter_mut().zip(padding) {
            *slot = (signed("pad", before)?, signed("pad", after)?);
        }
        self.pad_op("pad", signed_padding, value)
    }

    /// Joins tensors along `axis` (`torch.cat`): they must share the device, the rank and
    /// every other dimension. One kernel per part on the GPU; the backward gives each part
    /// its slice of the gradient. No tensors, or ones that do not fit together, is
    /// [`Error::Shape`].
    pub fn concat(tensors: &[&Tensor], axis: usize) -> Result<Tensor> {
        const OP: &str = "concat";
        let Some(first) = tensors.first() else {
            return Err(Error::shape(OP, "needs at least one tensor"));
        };
        first.shape().check_axis(OP, axis)?;
        let mut lens = Vec::with_capacity(tensors.len());
        for t in tensors {
            first.check_device(OP, t)?;
            let fits = t.rank() == first.rank()
                && (0..first.rank()).all(|d| d == axis || t.dims()[d] == first.dims()[d]);
            if !fits {
                return Err(Error::shape(
                    OP,
                    format!(
                        "{} and {} differ outside axis {axis}",
                        first.shape(),
                        t.shape()
                    ),
                ));
            }
            lens.push(t.dims()[axis]);
        }
        let total = lens
            .iter()
            .try_fold(0usize, |acc, &l| acc.checked_add(l))
            .ok_or_else(|| Error::TooLarge(format!("{OP}: the lengths {lens:?} overflow")))?;
        let mut dims = first.dims().to_vec();
        dims[axis] = total;
        let out_shape = Shape::new(dims);
        first.device().check_new(OP, &out_shape)?;
        let (outer, _, inner) = first.shape().split_at_axis(axis);
        let storages: Vec<_> = tensors.iter().map(|t| t.storage()).collect();
        let refs: Vec<_> = storages.iter().collect();
        let out = first
            .device()
            .backend()
            .concat(&refs, outer, &lens, inner)?;
        Ok(Tensor::from_op(
            first.device(),
            out_shape,
            out,
            Op::Concat { outer, lens, inner },
            tensors,
            false,
        ))
    }

    /// Stacks tensors of one shape along a new axis at `axis` (`torch.stack`: each is
    /// unsqueezed there, then concatenated). `axis` may be the rank (a new last axis).
    pub fn stack(tensors: &[&Tensor], axis: usize) -> Result<Tensor> {
        let Some(first) = tensors.first() else {
            return Err(Error::shape("stack", "needs at least one tensor"));
        };
        if let Some(t) = tensors.iter().find(|t| t.shape() != first.shape()) {
            return Err(Error::shape(
                "stack",
                format!("shapes {} and {} differ", first.shape(), t.shape()),
            ));
        }
        let expanded = tensors
            .iter()
            .map(|t| t.unsqueeze(axis))
            .collect::<Result<Vec<_>>>()?;
        Tensor::concat(&expanded.iter().collect::<Vec<_>>(), axis)
    }

    /// Merges axes `start_dim..=end_dim` into one (`torch.flatten`; a reshape, no copy). A
    /// scalar becomes `[1]`. Axes out of range or `start_dim > end_dim` are
    /// [`Error::Shape`].
    pub fn flatten(&self, start_dim: usize, end_dim: usize) -> Result<Tensor> {
        if self.rank() == 0 && start_dim == 0 && end_dim == 0 {
            return self.reshape([1]);
        }
        self.shape().check_axis("flatten", start_dim)?;
        self.shape().check_axis("flatten", end_dim)?;
        if start_dim > end_dim {
            return Err(Error::shape(
                "flatten",
                format!("start_dim {start_dim} comes after end_dim {end_dim}"),
            ));
        }
        let d = self.dims();
        let mut dims = d[..start_dim].to_vec();
        dims.push(d[start_dim..=end_dim].iter().product());
        dims.extend_from_slice(&d[end_dim + 1..]);
        self.reshape(dims)
    }

    /// Inserts an axis of size 1 at `dim` (`torch.unsqueeze`; `dim` may equal the rank).
    pub fn unsqueeze(&self, dim: usize) -> Result<Tensor> {
        if dim > self.rank() {
            return Err(Error::shape(
                "unsqueeze",
                format!(
                    "axis {dim} is out of range for {} (rank + 1 at most)",
                    self.shape()
                ),
            ));
        }
        let mut dims = self.dims().to_vec();
        dims.insert(dim, 1);
        self.reshape(dims)
    }

    /// Removes axis `dim` if its size is 1, else returns the tensor unchanged
    /// (`torch.squeeze(x, dim)`). An axis out of range is [`Error::Shape`].
    pub fn squeeze(&self, dim: usize) -> Result<Tensor> {
        self.shape().check_axis("squeeze", dim)?;
        if self.dims()[dim] != 1 {
            return Ok(self.clone());
        }
        let mut dims = self.dims().to_vec();
        dims.remove(dim);
        self.reshape(dims)
    }
}
