//! Two-dimensional test functions for optimizers, as differentiable tensor expressions:
//! the classic surfaces on which gradient descent's failures are easy to see (the curved
//! valley of [`Rosenbrock`], the flat plateaus of [`Beale`], the four minima of
//! [`Himmelblau`], the [`Saddle`] `x² − y²`, an [`IllConditioned`] quadratic and the
//! local minima of the [`SixHumpCamel`]).
//!
//! Each is a [`Surface`]: its loss on two scalar tensors (for autodiff and any
//! optimizer), its value and analytic gradient in `f64` (for contour plots and checks), a
//! standard start point, its known minima and the region worth plotting.
//!
//! ```
//! use downhill_core::surfaces::{Rosenbrock, Surface};
//!
//! let s = Rosenbrock;
//! assert_eq!(s.value(1.0, 1.0), 0.0);
//! assert_eq!(s.gradient(1.0, 1.0), (0.0, 0.0));
//! assert_eq!(s.start(), (-1.2, 1.0));
//! ```
//!
//! Rastrigin is not here: its `cos` has no tensor op yet.

mod classic;
mod shapes;

pub use classic::{Beale, Himmelblau, Rosenbrock};
pub use shapes::{IllConditioned, Saddle, SixHumpCamel};

use crate::error::Result;
use crate::tensor::Tensor;

/// The rectangle `[x.0, x.1] × [y.0, y.1]` a surface is plotted over.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bounds {
    /// The range of `x`: `(low, high)`.
    pub x: (f64, f64),
    /// The range of `y`: `(low, high)`.
    pub y: (f64, f64),
}

impl Bounds {
    /// Whether `(x, y)` lies inside (edges included).
    pub fn contains(&self, x: f64, y: f64) -> bool {
        (self.x.0..=self.x.1).contains(&x) && (self.y.0..=self.y.1).contains(&y)
    }
}

/// A differentiable function of two variables to minimise.
pub trait Surface: Send + Sync {
    /// A short name, e.g. `"rosenbrock"` (used in file names).
    fn name(&self) -> &'static str;

    /// The loss at the scalar tensors `x` and `y` (any shape that broadcasts; the
    /// result has their broadcast shape), built from differentiable ops.
    fn loss(&self, x: &Tensor, y: &Tensor) -> Result<Tensor>;

    /// The same function in `f64`, for contour plots and for measuring convergence.
    fn value(&self, x: f64, y: f64) -> f64;

    /// The analytic gradient `(∂f/∂x, ∂f/∂y)` in `f64`.
    fn gradient(&self, x: f64, y: f64) -> (f64, f64);

    /// The standard start point.
    fn start(&self) -> (f64, f64);

    /// The known global minima (empty when the function is unbounded below).
    fn minima(&self) -> &'static [(f64, f64)];

    /// The global minimum value, `None` when the function is unbounded below.
    fn min_value(&self) -> Option<f64> {
        self.minima().first().map(|&(x, y)| self.value(x, y))
    }

    /// For a surface without a minimum (the saddle): the distance from the origin past
    /// which a run counts as having escaped. `None` for the others.
    fn escape_radius(&self) -> Option<f64> {
        None
    }

    /// The region worth plotting: the start, the minima and the interesting features.
    fn bounds(&self) -> Bounds;

    /// How far `value(x, y)` is above the global minimum (`None` without one).
    fn gap(&self, x: f64, y: f64) -> Option<f64> {
        self.min_value().map(|m| self.value(x, y) - m)
    }

    /// Whether `(x, y)` counts as having escaped (see [`Surface::escape_radius`]).
    fn escaped(&self, x: f64, y: f64) -> bool {
        self.escape_radius().is_some_and(|r| x.hypot(y) > r)
    }
}

/// Every surface of this module, in the order the `surfaces` example plots them.
pub fn all() -> Vec<Box<dyn Surface>> {
    vec![
        Box::new(Rosenbrock),
        Box::new(Beale),
        Box::new(Himmelblau),
        Box::new(Saddle),
        Box::new(IllConditioned),
        Box::new(SixHumpCamel),
    ]
}

/// The surface of that [`Surface::name`], if any.
pub fn by_name(name: &str) -> Option<Box<dyn Surface>> {
    all().into_iter().find(|s| s.name() == name)
}

#[cfg(test)]
mod tests;
