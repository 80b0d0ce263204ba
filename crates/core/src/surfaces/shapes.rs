//! The saddle, an ill-conditioned quadratic and the six-hump camel.

use super::{Bounds, Surface};
use crate::error::Result;
use crate::tensor::Tensor;

/// The saddle `x² − y²`: a stationary point at the origin and no minimum. Started at
/// `(1, 1e-3)`, just off the ridge `y = 0`, a run escapes once it is farther than 2 from
/// the origin.
#[derive(Clone, Copy, Debug, Default)]
pub struct Saddle;

impl Surface for Saddle {
    fn name(&self) -> &'static str {
        "saddle"
    }
    fn loss(&self, x: &Tensor, y: &Tensor) -> Result<Tensor> {
        x.square()?.sub(&y.square()?)
    }
    fn value(&self, x: f64, y: f64) -> f64 {
        x * x - y * y
    }
    fn gradient(&self, x: f64, y: f64) -> (f64, f64) {
        (2.0 * x, -2.0 * y)
    }
    fn start(&self) -> (f64, f64) {
        (1.0, 1e-3)
    }
    fn minima(&self) -> &'static [(f64, f64)] {
        &[]
    }
    fn escape_radius(&self) -> Option<f64> {
        Some(2.0)
    }
    fn bounds(&self) -> Bounds {
        Bounds {
            x: (-1.5, 1.5),
            y: (-2.5, 2.5),
        }
    }
}

/// An ill-conditioned quadratic, condition number 100, its valley along `x = y`:
/// `½ (u² + 100 v²)` with `u = (x + y)/√2`, `v = (x − y)/√2`, i.e.
/// `¼ ((x + y)² + 100 (x − y)²)`. Minimum 0 at the origin; started at `(−4, −2)`.
/// Rotated by 45° so that per-coordinate scaling (Adagrad, Adam) cannot undo it.
#[derive(Clone, Copy, Debug, Default)]
pub struct IllConditioned;

impl Surface for IllConditioned {
    fn name(&self) -> &'static str {
        "ill_conditioned"
    }
    fn loss(&self, x: &Tensor, y: &Tensor) -> Result<Tensor> {
        let u = x.add(y)?.square()?;
        let v = x.sub(y)?.square()?.mul_scalar(100.0)?;
        u.add(&v)?.mul_scalar(0.25)
    }
    fn value(&self, x: f64, y: f64) -> f64 {
        0.25 * ((x + y).powi(2) + 100.0 * (x - y).powi(2))
    }
    fn gradient(&self, x: f64, y: f64) -> (f64, f64) {
        let (s, d) = (0.5 * (x + y), 50.0 * (x - y));
        (s + d, s - d)
    }
    fn start(&self) -> (f64, f64) {
        (-4.0, -2.0)
    }
    fn minima(&self) -> &'static [(f64, f64)] {
        &[(0.0, 0.0)]
    }
    fn bounds(&self) -> Bounds {
        Bounds {
            x: (-5.0, 5.0),
            y: (-5.0, 5.0),
        }
    }
}

/// The six-hump camel `(4 − 2.1x² + x⁴/3) x² + xy + (4y² − 4) y²`: two global minima
/// (≈ −1.0316 at `±(0.0898, −0.7127)`) and four local ones, a polynomial stand-in for
/// Rastrigin's many minima. Started at `(−1.5, −1)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SixHumpCamel;

impl Surface for SixHumpCamel {
    fn name(&self) -> &'static str {
        "six_hump_camel"
    }
    fn loss(&self, x: &Tensor, y: &Tensor) -> Result<Tensor> {
        let x2 = x.square()?;
        let x4 = x2.square()?;
        let poly_x = x4
            .mul_scalar(1.0 / 3.0)?
            .sub(&x2.mul_scalar(2.1)?)?
            .add_scalar(4.0)?;
        let y2 = y.square()?;
        let poly_y = y2.mul_scalar(4.0)?.sub_scalar(4.0)?;
        poly_x.mul(&x2)?.add(&x.mul(y)?)?.add(&poly_y.mul(&y2)?)
    }
    fn value(&self, x: f64, y: f64) -> f64 {
        let x2 = x * x;
        let y2 = y * y;
        (4.0 - 2.1 * x2 + x2 * x2 / 3.0) * x2 + x * y + (4.0 * y2 - 4.0) * y2
    }
    fn gradient(&self, x: f64, y: f64) -> (f64, f64) {
        (
            8.0 * x - 8.4 * x.powi(3) + 2.0 * x.powi(5) + y,
            x - 8.0 * y + 16.0 * y.powi(3),
        )
    }
    fn start(&self) -> (f64, f64) {
        (-1.5, -1.0)
    }
    fn minima(&self) -> &'static [(f64, f64)] {
        &[
            (0.089_842_013_100_3, -0.712_656_403_020_7),
            (-0.089_842_013_100_3, 0.712_656_403_020_7),
        ]
    }
    fn bounds(&self) -> Bounds {
        Bounds {
            x: (-2.0, 2.0),
            y: (-1.2, 1.2),
        }
    }
}
