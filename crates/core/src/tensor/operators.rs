//! `+ - * /` and unary `-` on tensor references. Ops can fail (shapes, devices), so each
//! operator returns `Result<Tensor>`: `let y = (&x * 2.0)?;`.

use super::Tensor;
use crate::error::Result;
use std::ops::{Add, Div, Mul, Neg, Sub};

impl Add for &Tensor {
    type Output = Result<Tensor>;
    fn add(self, rhs: &Tensor) -> Result<Tensor> {
        Tensor::add(self, rhs)
    }
}
impl Sub for &Tensor {
    type Output = Result<Tensor>;
    fn sub(self, rhs: &Tensor) -> Result<Tensor> {
        Tensor::sub(self, rhs)
    }
}
impl Mul for &Tensor {
    type Output = Result<Tensor>;
    fn mul(self, rhs: &Tensor) -> Result<Tensor> {
        Tensor::mul(self, rhs)
    }
}
impl Div for &Tensor {
    type Output = Result<Tensor>;
    fn div(self, rhs: &Tensor) -> Result<Tensor> {
        Tensor::div(self, rhs)
    }
}
impl Add<f32> for &Tensor {
    type Output = Result<Tensor>;
    fn add(self, rhs: f32) -> Result<Tensor> {
        self.add_scalar(rhs)
    }
}
impl Sub<f32> for &Tensor {
    type Output = Result<Tensor>;
    fn sub(self, rhs: f32) -> Result<Tensor> {
        self.sub_scalar(rhs)
    }
}
impl Mul<f32> for &Tensor {
    type Output = Result<Tensor>;
    fn mul(self, rhs: f32) -> Result<Tensor> {
        self.mul_scalar(rhs)
    }
}
impl Div<f32> for &Tensor {
    type Output = Result<Tensor>;
    fn div(self, rhs: f32) -> Result<Tensor> {
        self.div_scalar(rhs)
    }
}
impl Neg for &Tensor {
    type Output = Result<Tensor>;
    fn neg(self) -> Result<Tensor> {
        Tensor::neg(self)
    }
}
