//! Rosenbrock, Beale and Himmelblau: the classic optimizer test functions.

use super::{Bounds, Surface};
use crate::error::Result;
use crate::tensor::Tensor;

/// Rosenbrock's banana `(1 − x)² + 100 (y − x²)²`: a narrow curved valley, minimum 0 at
/// `(1, 1)`, from the standard start `(−1.2, 1)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rosenbrock;

impl Surface for Rosenbrock {
    fn name(&self) -> &'static str {
        "rosenbrock"
    }
    fn loss(&self, x: &Tensor, y: &Tensor) -> Result<Tensor> {
        let a = x.rsub_scalar(1.0)?.square()?;
        let b = y.sub(&x.square()?)?.square()?.mul_scalar(100.0)?;
        a.add(&b)
    }
    fn value(&self, x: f64, y: f64) -> f64 {
        (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2)
    }
    fn gradient(&self, x: f64, y: f64) -> (f64, f64) {
        let r = y - x * x;
        (-2.0 * (1.0 - x) - 400.0 * x * r, 200.0 * r)
    }
    fn start(&self) -> (f64, f64) {
        (-1.2, 1.0)
    }
    fn minima(&self) -> &'static [(f64, f64)] {
        &[(1.0, 1.0)]
    }
    fn bounds(&self) -> Bounds {
        Bounds {
            x: (-2.0, 2.0),
            y: (-1.0, 3.0),
        }
    }
}

/// Beale's function `(1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²`: flat
/// plateaus and steep walls, minimum 0 at `(3, 0.5)`; started at `(1, 1.5)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Beale;

impl Beale {
    const C: [f64; 3] = [1.5, 2.25, 2.625];
}

impl Surface for Beale {
    fn name(&self) -> &'static str {
        "beale"
    }
    fn loss(&self, x: &Tensor, y: &Tensor) -> Result<Tensor> {
        let mut xy_k = x.mul(y)?; // x·yᵏ for k = 1, 2, 3
        let mut total: Option<Tensor> = None;
        for c in Self::C {
            let term = xy_k.sub(x)?.add_scalar(c as f32)?.square()?;
            total = Some(match total {
                Some(t) => t.add(&term)?,
                None => term,
            });
            xy_k = xy_k.mul(y)?;
        }
        // Three terms were added: `total` is always set.
        total.map_or_else(|| x.mul_scalar(0.0), Ok)
    }
    fn value(&self, x: f64, y: f64) -> f64 {
        (1..=3)
            .map(|k| (Self::C[k - 1] - x + x * y.powi(k as i32)).powi(2))
            .sum()
    }
    fn gradient(&self, x: f64, y: f64) -> (f64, f64) {
        let mut g = (0.0, 0.0);
        for k in 1..=3 {
            let r = Self::C[k - 1] - x + x * y.powi(k as i32);
            g.0 += 2.0 * r * (y.powi(k as i32) - 1.0);
            g.1 += 2.0 * r * x * k as f64 * y.powi(k as i32 - 1);
        }
        g
    }
    fn start(&self) -> (f64, f64) {
        (1.0, 1.5)
    }
    fn minima(&self) -> &'static [(f64, f64)] {
        &[(3.0, 0.5)]
    }
    fn bounds(&self) -> Bounds {
        Bounds {
            x: (-0.5, 4.5),
            y: (-1.5, 2.0),
        }
    }
}

/// Himmelblau's function `(x² + y − 11)² + (x + y² − 7)²`: four minima of value 0;
/// started at the origin, next to its local maximum.
#[derive(Clone, Copy, Debug, Default)]
pub struct Himmelblau;

impl Surface for Himmelblau {
    fn name(&self) -> &'static str {
        "himmelblau"
    }
    fn loss(&self, x: &Tensor, y: &Tensor) -> Result<Tensor> {
        let a = x.square()?.add(y)?.sub_scalar(11.0)?.square()?;
        let b = y.square()?.add(x)?.sub_scalar(7.0)?.square()?;
        a.add(&b)
    }
    fn value(&self, x: f64, y: f64) -> f64 {
        (x * x + y - 11.0).powi(2) + (x + y * y - 7.0).powi(2)
    }
    fn gradient(&self, x: f64, y: f64) -> (f64, f64) {
        let a = x * x + y - 11.0;
        let b = x + y * y - 7.0;
        (4.0 * x * a + 2.0 * b, 2.0 * a + 4.0 * y * b)
    }
    fn start(&self) -> (f64, f64) {
        (0.0, 0.0)
    }
    fn minima(&self) -> &'static [(f64, f64)] {
        &[
            (3.0, 2.0),
            (-2.805_118_086_952_745, 3.131_312_518_250_573),
            (-3.779_310_253_377_747, -3.283_185_991_286_17),
            (3.584_428_340_330_492, -1.848_126_526_964_404),
        ]
    }
    fn min_value(&self) -> Option<f64> {
        Some(0.0)
    }
    fn bounds(&self) -> Bounds {
        Bounds {
            x: (-5.0, 5.0),
            y: (-5.0, 5.0),
        }
    }
}
