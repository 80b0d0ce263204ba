//! Differentiable ops on tensors. Each checks shapes, calls the backend once and records
//! itself for backward; the backward rules live in `autodiff::rules`.

use super::Tensor;
use crate::autodiff::Op;
use crate::backend::{BinaryOp, MatmulDims, ReduceDims, ReduceOp, UnaryOp};
use crate::error::{Error, Result};
use crate::shape::Shape;

impl Tensor {
    fn unary_op(&self, op: UnaryOp) -> Result<Tensor> {
        self.device().check_new("unary op", self.shape())?;
        let out = self.device().backend().unary(op, &self.storage())?;
        Ok(Tensor::from_op(
            self.device(),
            self.shape().clone(),
            out,
            Op::Unary(op),
            &[self],
            true,
        ))
    }

    /// The backend's `op` of `self` and `other` broadcast together, and its shape (shared
    /// by the recorded arithmetic ops and the gradient-free comparisons).
    pub(super) fn broadcast_binary(
        &self,
        op: BinaryOp,
        name: &'static str,
        other: &Tensor,
    ) -> Result<(Shape, crate::backend::Storage)> {
        self.check_device(name, other)?;
        let out_shape = Shape::broadcast(name, self.shape(), other.shape())?;
        self.device().check_new(name, &out_shape)?;
        let out = self.device().backend().binary(
            op,
            &self.storage(),
            self.shape(),
            &other.storage(),
            other.shape(),
            &out_shape,
        )?;
        Ok((out_shape, out))
    }

    fn binary_op(&self, op: BinaryOp, name: &'static str, other: &Tensor) -> Result<Tensor> {
        let (out_shape, out) = self.broadcast_binary(op, name, other)?;
        Ok(Tensor::from_op(
            self.device(),
            out_shape,
            out,
            Op::Binary(op),
            &[self, other],
            false,
        ))
    }

    // ---- elementwise with broadcasting ----
    /// `self + other`, elementwise with NumPy broadcasting (`&a + &b` does the same). Shapes
    /// that do not broadcast are [`Error::Shape`], tensors on different devices
    /// [`Error::DeviceMismatch`].
    pub fn add(&self, other: &Tensor) -> Result<Tensor> {
        self.binary_op(BinaryOp::Add, "add", other)
    }
    /// `self - other`, elementwise with broadcasting (as [`Tensor::add`]).
    pub fn sub(&self, other: &Tensor) -> Result<Tensor> {
        self.binary_op(BinaryOp::Sub, "sub", other)
    }
    /// `self · other`, elementwise with broadcasting (as [`Tensor::add`]; not a matrix
    /// product, see [`Tensor::matmul`]).
    pub fn mul(&self, other: &Tensor) -> Result<Tensor> {
        self.binary_op(BinaryOp::Mul, "mul", other)
    }
    /// `self / other`, elementwise with broadcasting (as [`Tensor::add`]).
    pub fn div(&self, other: &Tensor) -> Result<Tensor> {
        self.binary_op(BinaryOp::Div, "div", other)
    }
    /// `self^exponent`, elementwise with broadcasting (the base should be positive where the
    /// exponent is not an integer, as in PyTorch).
    pub fn pow(&self, exponent: &Tensor) -> Result<Tensor> {
        self.binary_op(BinaryOp::Pow, "pow", exponent)
    }

    // ---- elementwise with a scalar ----
    /// `self + c`, elementwise.
    pub fn add_scalar(&self, c: f32) -> Result<Tensor> {
        self.unary_op(UnaryOp::AddScalar(c))
    }
    /// `self - c`, elementwise.
    pub fn sub_scalar(&self, c: f32) -> Result<Tensor> {
        self.unary_op(UnaryOp::AddScalar(-c))
    }
    /// `self · c`, elementwise.
    pub fn mul_scalar(&self, c: f32) -> Result<Tensor> {
        self.unary_op(UnaryOp::MulScalar(c))
    }
    /// `self / c`, elementwise (computed as `self · (1 / c)`).
    pub fn div_scalar(&self, c: f32) -> Result<Tensor> {
        self.unary_op(UnaryOp::MulScalar(1.0 / c))
    }
    /// `c - self`
    pub fn rsub_scalar(&self, c: f32) -> Result<Tensor> {
        self.unary_op(UnaryOp::RsubScalar(c))
    }
    /// `c / self`
    pub fn rdiv_scalar(&self, c: f32) -> Result<Tensor> {
        self.unary_op(UnaryOp::RdivScalar(c))
    }
    /// `self^p` for a constant exponent.
    pub fn powf(&self, p: f32) -> Result<Tensor> {
        self.unary_op(UnaryOp::Powf(p))
    }
    /// Clamps every element into `[lo, hi]` (`torch.clamp`; a NaN stays NaN); the gradient
    /// passes inside the range only. A NaN bound or `lo > hi` is [`Error::Config`].
    pub fn clamp(&self, lo: f32, hi: f32) -> Result<Tensor> {
        if lo.is_nan() || hi.is_nan() || lo > hi {
            return Err(Error::Config(format!("clamp: invalid range [{lo}, {hi}]")));
        }
        self.unary_op(UnaryOp::Clamp(lo, hi))
    }

    // ---- elementwise math ----
    /// `-self`, elementwise.
    pub fn neg(&self) -> Result<Tensor> {
        self.unary_op(UnaryOp::Neg)
    }
    /// `self²`, elementwise.
    pub fn square(&self) -> Result<Tensor> {
        self.unary_op(UnaryOp::Square)
    }
    /// `√self`, elementwise (NaN for negative elements).
    pub fn sqrt(&self) -> Result<Tensor> {
        self.unary_op(UnaryOp::Sqrt)
    }
    /// `e^self`, elementwise.
    pub fn exp(&self) -> Result<Tensor> {
        self.unary_op(UnaryOp::Exp)
    }
    /// The natural logarithm, elementwise (NaN for negative elements, `-inf` at 0).
    pub fn log(&self) -> Result<Tensor> {
        self.unary_op(UnaryOp::Log)
    }

    // ---- activations ----
    /// `max(x, 0)`, elementwise (a NaN stays NaN; the gradient at 0 is 0, as in PyTorch).
    pub fn relu(&self) -> Result<Tensor> {
        self.unary_op(UnaryOp::Relu)
    }
    /// `x` for `x > 0`, else `alpha · x` (PyTorch's default alpha is 0.01).
    pub fn leaky_relu(&self, alpha: f32) -> Result<Tensor> {
        if !alpha.is_finite() {
            return Err(Error::NonFinite(format!(
                "leaky_relu: the slope {alpha} is not a finite number"
            )));
        }
        self.unary_op(UnaryOp::LeakyRelu(alpha))
    }
    /// The logistic function `1 / (1 + e^-x)`, elementwise.
    pub fn sigmoid(&self) -> Result<Tensor> {
        self.unary_op(UnaryOp::Sigmoid)
    }
    /// The hyperbolic tangent, elementwise.
    pub fn tanh(&self) -> Result<Tensor> {
        self.unary_op(UnaryOp::Tanh)
    }
    /// Exact GELU (erf form).
    pub fn gelu(&self) -> Result<Tensor> {
        self.unary_op(UnaryOp::Gelu)
    }
    /// Softmax along the last axis.
    pub fn softmax(&self) -> Result<Tensor> {
        self.softmax_op(false)
    }
    /// Log-softmax along the last axis (stable: `x - max - ln Σ e^(x - max)`).
    pub fn log_softmax(&self) -> Result<Tensor> {
        self.softmax_op(true)
    }

    fn softmax_op(&self, log: bool) -> Result<Tensor> {
        if self.rank() == 0 {
            return Err(Error::shape(
                "softmax",
                "needs at least one axis, got a scalar",
            ));
        }
        self.device().check_new("softmax", self.shape())?;
        let (rows, cols) = self.shape().rows_cols();
        let out = self
            .device()
            .backend()
            .softmax(&self.storage(), rows, cols, log)?;
        Ok(Tensor::from_op(
            self.device(),
            self.shape().clone(),
            out,
            Op::Softmax { log, rows, cols },
            &[self],
            true,
        ))
    }

    // ---- matrix product ----
    /// `self · other` for 2-D tensors: `[m, k] x [k, n] -> [m, n]`.
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        self.matmul_t(other, false, false)
    }

    /// `op(self) · op(other)` where `op` transposes when its flag is set, without
    /// materialising the transpose.
    pub fn matmul_t(&self, other: &Tensor, trans_a: bool, trans_b: bool) -> Result<Tensor> {
        self.check_device("matmul", other)?;
        let (ar, ac) = self.shape().as_matrix("matmul")?;
        let (br, bc) = other.shape().as_matrix("matmul")?;
        let (m, k) = if trans_a { (ac, ar) } else { (ar, ac) };
        let (k2, n) = if trans_b { (bc, br) } else { (br, bc) };
        let name = if trans_a || trans_b {
            "matmul_t"
        } else {
            "matmul"
        };
        if k != k2 {
            let operand = |t: &Tensor, transposed: bool| {
                if transposed {
                    format!("{} transposed", t.shape())
                } else {
                    t.shape().to_string()
                }
            };
            return Err(Error::shape(
                name,
                format!(
                    "{} x {}: inner dimensions {k} and {k2} differ",
                    operand(self, trans_a),
                    operand(other, trans_b)
                ),
            ));
        }
        self.device().check_new(name, &Shape::new([m, n]))?;
        let dims = MatmulDims {
            m,
            k,
            n,
            trans_a,
            trans_b,
        };
        let out = self
            .device()
            .backend()
            .matmul(&self.storage(), &other.storage(), dims)?;
        Ok(Tensor::from_op(
            self.device(),
            Shape::new([m, n]),
            out,
            Op::Matmul(dims),
            &[self, other],
            false,
        ))
    }

    /// `activation(self · weight + bias)` in one fused op (one kernel on the GPU):
    /// `self` is `[m, k]`, `weight` `[k, n]`, `bias` `[n]`. The activation, if any, must be
    /// [`UnaryOp::fusable`] (relu, leaky relu with a positive slope, sigmoid, tanh).
    pub fn linear(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        activation: Option<UnaryOp>,
    ) -> Result<Tensor> {
        self.check_device("linear", weight)?;
        let (m, k) = self.shape().as_matrix("linear")?;
        let (k2, n) = weight.shape().as_matrix("linear")?;
        if k != k2 {
            return Err(Error::shape(
                "linear",
                format!(
                    "{} x {}: inner dimensions {k} and {k2} differ",
                    self.shape(),
                    weight.shape()
                ),
            ));
        }
        if let Some(b) = bias {
            self.check_device("linear", b)?;
            if b.dims() != [n] {
                return Err(Error::shape(
                    "linear",
                    format!("bias {} does not match {n} outputs", b.shape()),
                ));
            }
        }
        self.device().check_new("linear", &Shape::new([m, n]))?;
        if let Some(act) = activation.filter(|a| !a.fusable()) {
            return Err(Error::Config(format!(
                "linear: {act:?} cannot be fused (its derivative needs its input); apply it after"
            )));
        }
        let dims = MatmulDims {
            m,
            k,
            n,
            trans_a: false,
            trans_b: false,
        };
        let bias_storage = bias.map(Tensor::storage);
        let out = self.device().backend().linear(
            &self.storage(),
            &weight.storage(),
            bias_storage.as_ref(),
            dims,
            activation,
        )?;
        let mut inputs = vec![self, weight];
        inputs.extend(bias);
        Ok(Tensor::from_op(
            self.device(),
            Shape::new([m, n]),
            out,
            Op::Linear { dims, activation },
            &inputs,
            activation.is_some(),
        ))
    }

    // ---- reductions ----
    /// Sum of all elements, as a scalar tensor.
    pub fn sum(&self) -> Result<Tensor> {
        self.reshape([self.numel()])?
            .reduce_op(ReduceOp::Sum, "sum", 0, false)
    }
    /// Mean of all elements, as a scalar tensor.
    pub fn mean(&self) -> Result<Tensor> {
        self.reshape([self.numel()])?
            .reduce_op(ReduceOp::Mean, "mean", 0, false)
    }
    /// Sum along `axis`; with `keep_dim` the axis stays, with size 1 (PyTorch's `keepdim`).
    /// An axis out of range is [`Error::Shape`], an empty one [`Error::EmptyData`].
    pub fn sum_axis(&self, axis: usize, keep_dim: bool) -> Result<Tensor> {
        self.reduce_op(ReduceOp::Sum, "sum_axis", axis, keep_dim)
    }
    /// Mean along `axis`; `keep_dim` and errors as [`Tensor::sum_axis`].
    pub fn mean_axis(&self, axis: usize, keep_dim: bool) -> Result<Tensor> {
        self.reduce_op(ReduceOp::Mean, "mean_axis", axis, keep_dim)
    }
    /// Maximum along an axis; the gradient flows to the first maximal element.
    pub fn max_axis(&self, axis: usize, keep_dim: bool) -> Result<Tensor> {
        self.reduce_op(ReduceOp::Max, "max_axis", axis, keep_dim)
    }

    fn reduce_op(
        &self,
        op: ReduceOp,
        name: &'static str,
        axis: usize,
        keep_dim: bool,
    ) -> Result<Tensor> {
        self.shape().check_axis(name, axis)?;
        let (outer, len, inner) = self.shape().split_at_axis(axis);
        if len == 0 {
            return Err(Error::EmptyData(format!(
                "{name}: axis {axis} of shape {} is empty",
                self.shape()
            )));
        }
        let dims = ReduceDims { outer, len, inner };
        let out = self.device().backend().reduce(op, &self.storage(), dims)?;
        Ok(Tensor::from_op(
            self.device(),
            self.shape().reduce_axis(axis, keep_dim),
            out,
            Op::Reduce { op, dims },
            &[self],
            op == ReduceOp::Max,
        ))
    }

    // ---- shape ----
    /// The same elements under another shape with the same number of elements.
    pub fn reshape(&self, shape: impl Into<Shape>) -> Result<Tensor> {
        let shape = shape.into();
        shape.elements("reshape")?;
        if shape.numel() != self.numel() {
            return Err(Error::shape(
                "reshape",
                format!("cannot reshape {} into {shape}", self.shape()),
            ));
        }
        Ok(Tensor::from_op(
            self.device(),
            shape,
            self.storage(),
            Op::Reshape,
            &[self],
            false,
        ))
    }

    /// Swaps two axes (copies the data into the new order).
    pub fn transpose(&self, axis_a: usize, axis_b: usize) -> Result<Tensor> {
        self.shape().check_axis("transpose", axis_a)?;
        self.shape().check_axis("transpose", axis_b)?;
        let mut perm: Vec<usize> = (0..self.rank()).collect();
        perm.swap(axis_a, axis_b);
        self.permute(&perm)
    }

    /// The transpose of a 2-D tensor.
    pub fn t(&self) -> Result<Tensor> {
        self.shape().as_matrix("t")?;
        self.transpose(0, 1)
    }

    /// Reorders axes: output axis `i` is input axis `perm[i]`.
    pub fn permute(&self, perm: &[usize]) -> Result<Tensor> {
        let mut seen = vec![false; self.rank()];
        let valid = perm.len() == self.rank()
            && perm
                .iter()
                .all(|&p| p < seen.len() && !std::mem::replace(&mut seen[p], true));
        if !valid {
            return Err(Error::shape(
                "permute",
                format!(
                    "{perm:?} is not a permutation of the axes of {}",
                    self.shape()
                ),
            ));
        }
        let dims: Vec<usize> = perm.iter().map(|&p| self.dims()[p]).collect();
        let out = self
            .device()
            .backend()
            .permute(&self.storage(), self.shape(), perm)?;
        Ok(Tensor::from_op(
            self.device(),
            Shape::new(dims),
            out,
            Op::Permute(perm.to_vec()),
            &[self],
            false,
        ))
    }

    /// Broadcasts to a larger shape (NumPy rules).
    pub fn broadcast_to(&self, shape: impl Into<Shape>) -> Result<Tensor> {
        let shape = shape.into();
        let joint = Shape::broadcast("broadcast_to", self.shape(), &shape)?;
        if joint != shape {
            return Err(Error::shape(
                "broadcast_to",
                format!("{} cannot be broadcast to {shape}", self.shape()),
            ));
        }
        self.device().check_new("broadcast_to", &shape)?;
        let out = self
            .device()
            .backend()
            .expand(&self.storage(), self.shape(), &shape)?;
        Ok(Tensor::from_op(
            self.device(),
            shape,
            out,
            Op::Expand,
            &[self],
            false,
        ))
    }
}
