//! The vector operations L-BFGS needs on the flat buffers, as existing backend ops on the
//! parameters' device: a dot product is a multiply and a sum, `|x|` is
//! `relu(x) + relu(-x)` (exact, and NaN stays NaN), an axpy is the backend's scaled
//! accumulate, or a broadcast multiply where the coefficient stays on the device.
//!
//! Every buffer here spans the whole flat parameter buffer, padding between segments
//! included: the padding of a gradient is 0, so it adds nothing to a dot product, a sum or
//! a maximum of absolute values.

use crate::backend::{Backend, BinaryOp, ReduceDims, ReduceOp, Storage, UnaryOp};
use crate::error::Result;
use crate::shape::Shape;
use std::cell::Cell;

/// Vector ops over buffers of `n` elements on one backend.
pub(super) struct FlatOps<'a> {
    pub backend: &'a dyn Backend,
    pub n: usize,
    /// Downloads so far.
    pub reads: Cell<u64>,
}

impl FlatOps<'_> {
    fn shape(&self) -> Shape {
        Shape::new([self.n])
    }

    fn binary(&self, op: BinaryOp, a: &Storage, b: &Storage) -> Result<Storage> {
        let s = self.shape();
        self.backend.binary(op, a, &s, b, &s, &s)
    }

    fn reduce(&self, op: ReduceOp, x: &Storage) -> Result<Storage> {
        let dims = ReduceDims {
            outer: 1,
            len: self.n,
            inner: 1,
        };
        self.backend.reduce(op, x, dims)
    }

    /// `a · b` as a one-element buffer.
    pub fn dot(&self, a: &Storage, b: &Storage) -> Result<Storage> {
        self.reduce(ReduceOp::Sum, &self.binary(BinaryOp::Mul, a, b)?)
    }

    /// `|x|` elementwise.
    fn abs(&self, x: &Storage) -> Result<Storage> {
        let pos = self.backend.unary(UnaryOp::Relu, x)?;
        let neg = self.backend.unary(UnaryOp::Relu, &self.neg(x)?)?;
        self.binary(BinaryOp::Add, &pos, &neg)
    }

    /// `max |x|` (NaN if any element is NaN), one element.
    pub fn abs_max(&self, x: &Storage) -> Result<Storage> {
        self.reduce(ReduceOp::Max, &self.abs(x)?)
    }

    /// `Σ |x|`, one element.
    pub fn abs_sum(&self, x: &Storage) -> Result<Storage> {
        self.reduce(ReduceOp::Sum, &self.abs(x)?)
    }

    /// `-x`, a new buffer.
    pub fn neg(&self, x: &Storage) -> Result<Storage> {
        self.backend.unary(UnaryOp::Neg, x)
    }

    /// `a - b`, a new buffer.
    pub fn sub(&self, a: &Storage, b: &Storage) -> Result<Storage> {
        self.binary(BinaryOp::Sub, a, b)
    }

    /// `a - b` of one-element buffers.
    pub fn scalar_sub(&self, a: &Storage, b: &Storage) -> Result<Storage> {
        let one = Shape::new([1]);
        self.backend.binary(BinaryOp::Sub, a, &one, b, &one, &one)
    }

    /// `x · c`, a new buffer.
    pub fn scale(&self, x: &Storage, c: f32) -> Result<Storage> {
        self.backend.unary(UnaryOp::MulScalar(c), x)
    }

    /// `acc + x · c` for a coefficient `c` that stays on the device (one element), a new
    /// buffer (`acc - x · c` when `sub`).
    pub fn add_scaled_by(
        &self,
        acc: &Storage,
        x: &Storage,
        c: &Storage,
        sub: bool,
    ) -> Result<Storage> {
        let s = self.shape();
        let one = Shape::new([1]);
        let term = self.backend.binary(BinaryOp::Mul, x, &s, c, &one, &s)?;
        self.binary(if sub { BinaryOp::Sub } else { BinaryOp::Add }, acc, &term)
    }

    /// `acc += c · x` in place (PyTorch's `add_(x, alpha=c)`).
    pub fn axpy(&self, acc: &Storage, x: &Storage, c: f32) -> Result<()> {
        self.backend.accumulate(acc, x, c)
    }

    /// A copy of `x` in a new buffer.
    pub fn clone_of(&self, x: &Storage) -> Result<Storage> {
        let out = self.backend.full(x.len(), 0.0)?;
        self.backend.copy(x, &out)?;
        Ok(out)
    }

    /// The values of one-element buffers on the host, in ONE download: each is copied
    /// into a small buffer first (on a GPU a download waits for the queue, the copies do
    /// not).
    pub fn fetch(&self, scalars: &[&Storage]) -> Result<Vec<f32>> {
        self.reads.set(self.reads.get() + 1);
        if let [one] = scalars {
            return self.backend.download(one);
        }
        let packed = self.backend.full(scalars.len(), 0.0)?;
        for (k, s) in scalars.iter().enumerate() {
            self.backend.copy(s, &packed.slice(k, 1)?)?;
        }
        self.backend.download(&packed)
    }
}
