//! Comparisons (`eq ne lt le gt ge`, 1.0/0.0 results without gradient) and selection
//! (`where_`, `masked_fill`), with NumPy broadcasting.

use super::Tensor;
use crate::autodiff::Op;
use crate::backend::BinaryOp;
use crate::error::{Error, Result};
use crate::shape::Shape;

impl Tensor {
    fn compare_op(&self, op: BinaryOp, name: &'static str, other: &Tensor) -> Result<Tensor> {
        let (out_shape, out) = self.broadcast_binary(op, name, other)?;
        // A comparison is a constant: torch's bool results carry no gradient either.
        Ok(Tensor::leaf(self.device(), out_shape, out, false))
    }

    /// `self == other` elementwise with broadcasting, as 1.0 or 0.0 (`torch.eq`; a NaN
    /// equals nothing, itself included). No gradient.
    pub fn eq(&self, other: &Tensor) -> Result<Tensor> {
        self.compare_op(BinaryOp::Eq, "eq", other)
    }
    /// `self != other` as 1.0 or 0.0 (`torch.ne`; 1.0 where either side is NaN).
    pub fn ne(&self, other: &Tensor) -> Result<Tensor> {
        self.compare_op(BinaryOp::Ne, "ne", other)
    }
    /// `self < other` as 1.0 or 0.0 (`torch.lt`; 0.0 where either side is NaN).
    pub fn lt(&self, other: &Tensor) -> Result<Tensor> {
        self.compare_op(BinaryOp::Lt, "lt", other)
    }
    /// `self <= other` as 1.0 or 0.0 (`torch.le`; 0.0 where either side is NaN).
    pub fn le(&self, other: &Tensor) -> Result<Tensor> {
        self.compare_op(BinaryOp::Le, "le", other)
    }
    /// `self > other` as 1.0 or 0.0 (`torch.gt`; 0.0 where either side is NaN).
    pub fn gt(&self, other: &Tensor) -> Result<Tensor> {
        self.compare_op(BinaryOp::Gt, "gt", other)
    }
    /// `self >= other` as 1.0 or 0.0 (`torch.ge`; 0.0 where either side is NaN).
    pub fn ge(&self, other: &Tensor) -> Result<Tensor> {
        self.compare_op(BinaryOp::Ge, "ge", other)
    }

    /// `torch.where(cond, a, b)`: `a` where `cond` is nonzero (NaN counts as true, as
    /// `bool(nan)`), `b` elsewhere, all three broadcast together. The unselected value is
    /// never read into the result, so a NaN or inf there does not leak (unlike
    /// `a·c + b·(1 − c)`). The gradient flows to `a` and `b` only.
    pub fn where_(cond: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        const OP: &str = "where";
        cond.check_device(OP, a)?;
        cond.check_device(OP, b)?;
        let out_shape = Shape::broadcast(OP, cond.shape(), a.shape())
            .and_then(|ca| Shape::broadcast(OP, &ca, b.shape()))?;
        cond.device().check_new(OP, &out_shape)?;
        let cond = cond.detach();
        let out = cond.device().backend().where_cond(
            &cond.storage(),
            cond.shape(),
            &a.storage(),
            a.shape(),
            &b.storage(),
            b.shape(),
            &out_shape,
        )?;
        Ok(Tensor::from_op(
            cond.device(),
            out_shape,
            out,
            Op::Where,
            &[&cond, a, b],
            false,
        ))
    }

    /// `value` where `mask` is nonzero, `self` elsewhere (`torch.Tensor.masked_fill`); the
    /// mask must broadcast to `self`'s shape. The gradient flows to `self` where the mask
    /// is zero.
    pub fn masked_fill(&self, mask: &Tensor, value: f32) -> Result<Tensor> {
        let joint = Shape::broadcast("masked_fill", mask.shape(), self.shape())?;
        if &joint != self.shape() {
            return Err(Error::shape(
                "masked_fill",
                format!(
                    "the mask {} does not broadcast to {}",
                    mask.shape(),
                    self.shape()
                ),
            ));
        }
        let fill = self.device().scalar(value)?;
        Tensor::where_(mask, &fill, self)
    }
}
