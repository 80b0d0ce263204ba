//! Optimizers, as `torch.optim`: the same names, defaults and update formulas.
//!
//! An optimizer configuration (`Adam::new(lr)` and builder methods for the rest, with
//! PyTorch's defaults) is built on the parameters with
//! [`build`](crate::OptimizerConfig::build), which validates every hyperparameter (an
//! out-of-range value is [`Error::Hyperparameter`](crate::Error::Hyperparameter)) and
//! moves the parameters into one flat buffer: each [`step`](crate::Optimizer::step) is a
//! single pass over it. The same configurations are what [`fit`](crate::Sequential::fit)
//! takes.
//!
//! Every example minimises `(θ − 3)²` from `θ = 0` (the gradient at 0 is −6) and checks
//! the first step against the optimizer's formula, then that θ approaches 3.
//!
//! # SGD
//!
//! `θ ← θ − lr · g`, here with heavy-ball momentum (`torch.optim.SGD(lr=0.1,
//! momentum=0.9)`; `nesterov`, `dampening`, `weight_decay` are builder methods too).
//! [`Gd`](crate::Gd) is the same optimizer under the lessons' name.
//!
//! ```
//! use downhill::prelude::*;
//!
//! # fn main() -> downhill::Result<()> {
//! let theta = Device::cpu().scalar(0.0)?.param();
//! let mut opt = Sgd::new(0.1).momentum(0.9).build(&[&theta])?;
//! let step = |opt: &mut Optimizer| -> downhill::Result<()> {
//!     let loss = (&theta - 3.0)?.square()?.mean()?;
//!     opt.step(&loss.backward()?)
//! };
//! step(&mut opt)?;
//! assert!((theta.item()? - 0.6).abs() < 1e-6); // 0 − 0.1 · (−6): the buffer starts at g
//! for _ in 0..300 {
//!     step(&mut opt)?;
//! }
//! assert!((theta.item()? - 3.0).abs() < 1e-4);
//! # Ok(())
//! # }
//! ```
//!
//! # Adagrad
//!
//! Each coordinate's step is divided by the root of its summed squared gradients, so
//! steps shrink over time: the first is `lr` whatever the gradient's scale.
//!
//! ```
//! use downhill::prelude::*;
//!
//! # fn main() -> downhill::Result<()> {
//! let theta = Device::cpu().scalar(0.0)?.param();
//! let mut opt = Adagrad::new(0.5).build(&[&theta])?; // torch.optim.Adagrad(lr=0.5)
//! let step = |opt: &mut Optimizer| -> downhill::Result<()> {
//!     let loss = (&theta - 3.0)?.square()?.mean()?;
//!     opt.step(&loss.backward()?)
//! };
//! step(&mut opt)?;
//! assert!((theta.item()? - 0.5).abs() < 1e-6); // 0.5 · 6 / √36
//! for _ in 0..200 {
//!     step(&mut opt)?;
//! }
//! assert!((theta.item()? - 3.0).abs() < 1e-3);
//! # Ok(())
//! # }
//! ```
//!
//! # RMSprop
//!
//! Steps divided by a running root mean square of the gradients (`alpha`, default 0.99,
//! is its decay). The average starts at 0, so the first step is `lr / √(1 − alpha)`, ten
//! times `lr` by default.
//!
//! ```
//! use downhill::prelude::*;
//!
//! # fn main() -> downhill::Result<()> {
//! let theta = Device::cpu().scalar(0.0)?.param();
//! let mut opt = RmsProp::new(0.01).build(&[&theta])?; // torch.optim.RMSprop(lr=0.01)
//! let step = |opt: &mut Optimizer| -> downhill::Result<()> {
//!     let loss = (&theta - 3.0)?.square()?.mean()?;
//!     opt.step(&loss.backward()?)
//! };
//! step(&mut opt)?;
//! assert!((theta.item()? - 0.1).abs() < 1e-5); // 0.01 · 6 / √(0.01 · 36)
//! for _ in 0..500 {
//!     step(&mut opt)?;
//! }
//! assert!((theta.item()? - 3.0).abs() < 1e-2);
//! # Ok(())
//! # }
//! ```
//!
//! # Adadelta
//!
//! Steps scaled by the ratio of a running RMS of past updates to a running RMS of the
//! gradients, so the unit of `lr` hardly matters (PyTorch's default is 1.0). The update
//! average starts at 0, so the first steps are of the order of `√eps` and grow from there:
//! a slow start.
//!
//! ```
//! use downhill::prelude::*;
//!
//! # fn main() -> downhill::Result<()> {
//! let theta = Device::cpu().scalar(0.0)?.param();
//! let mut opt = Adadelta::new(1.0).build(&[&theta])?; // torch.optim.Adadelta()
//! let step = |opt: &mut Optimizer| -> downhill::Result<()> {
//!     let loss = (&theta - 3.0)?.square()?.mean()?;
//!     opt.step(&loss.backward()?)
//! };
//! step(&mut opt)?;
//! let first = theta.item()?; // √1e-6 / √(0.1 · 36) · 6
//! assert!((first - 1e-3 * 6.0 / 3.6f32.sqrt()).abs() < 1e-6);
//! for _ in 0..1200 {
//!     step(&mut opt)?; // θ ≈ 1.3 after 300 steps, 2.8 after 700
//! }
//! assert!((theta.item()? - 3.0).abs() < 1e-2);
//! # Ok(())
//! # }
//! ```
//!
//! # Adam
//!
//! Bias-corrected running averages of the gradient and its square: the first step is
//! `lr` in the direction against the gradient, whatever the gradient's size.
//!
//! ```
//! use downhill::prelude::*;
//!
//! # fn main() -> downhill::Result<()> {
//! let theta = Device::cpu().scalar(0.0)?.param();
//! let mut opt = Adam::new(0.1).build(&[&theta])?; // torch.optim.Adam(lr=0.1)
//! let step = |opt: &mut Optimizer| -> downhill::Result<()> {
//!     let loss = (&theta - 3.0)?.square()?.mean()?;
//!     opt.step(&loss.backward()?)
//! };
//! step(&mut opt)?;
//! assert!((theta.item()? - 0.1).abs() < 1e-6);
//! for _ in 0..300 {
//!     step(&mut opt)?;
//! }
//! assert!((theta.item()? - 3.0).abs() < 1e-2);
//! # Ok(())
//! # }
//! ```
//!
//! # AdamW
//!
//! Adam with decoupled weight decay: every step multiplies each parameter by
//! `1 − lr · weight_decay` (default decay 1e-2) apart from the gradient step. A
//! coordinate the loss ignores shows it alone: its gradient is 0, so only the decay moves
//! it.
//!
//! ```
//! use downhill::prelude::*;
//!
//! # fn main() -> downhill::Result<()> {
//! let device = Device::cpu();
//! let theta = device.tensor(vec![0.0, 5.0], [2])?.param();
//! let mut opt = AdamW::new(0.1).build(&[&theta])?; // torch.optim.AdamW(lr=0.1)
//! let mask = device.tensor(vec![1.0, 0.0], [2])?; // the loss sees θ₀ only
//! for _ in 0..100 {
//!     let loss = (&theta - 3.0)?.mul(&mask)?.square()?.sum()?;
//!     opt.step(&loss.backward()?)?;
//! }
//! let t = theta.to_vec()?;
//! assert!((t[0] - 3.0).abs() < 0.1); // approaching the optimum
//! assert!((t[1] - 5.0 * 0.999f32.powi(100)).abs() < 1e-3); // decayed: 5 → 4.52
//! # Ok(())
//! # }
//! ```
//!
//! # Adamax
//!
//! Adam with an infinity norm (a running maximum of `|g|`) in place of the average of
//! `g²`: again a first step of `lr`.
//!
//! ```
//! use downhill::prelude::*;
//!
//! # fn main() -> downhill::Result<()> {
//! let theta = Device::cpu().scalar(0.0)?.param();
//! let mut opt = Adamax::new(0.1).build(&[&theta])?; // torch.optim.Adamax(lr=0.1)
//! let step = |opt: &mut Optimizer| -> downhill::Result<()> {
//!     let loss = (&theta - 3.0)?.square()?.mean()?;
//!     opt.step(&loss.backward()?)
//! };
//! step(&mut opt)?;
//! assert!((theta.item()? - 0.1).abs() < 1e-6);
//! for _ in 0..300 {
//!     step(&mut opt)?;
//! }
//! assert!((theta.item()? - 3.0).abs() < 1e-2);
//! # Ok(())
//! # }
//! ```
//!
//! # NAdam
//!
//! Adam with Nesterov momentum (it looks ahead along the averaged gradient) and a
//! momentum-decay schedule (`momentum_decay`, default 4e-3).
//!
//! ```
//! use downhill::prelude::*;
//!
//! # fn main() -> downhill::Result<()> {
//! let theta = Device::cpu().scalar(0.0)?.param();
//! let mut opt = NAdam::new(0.1).build(&[&theta])?; // torch.optim.NAdam(lr=0.1)
//! let step = |opt: &mut Optimizer| -> downhill::Result<()> {
//!     let loss = (&theta - 3.0)?.square()?.mean()?;
//!     opt.step(&loss.backward()?)
//! };
//! step(&mut opt)?;
//! assert!(theta.item()? > 0.0); // moved against the gradient
//! for _ in 0..300 {
//!     step(&mut opt)?;
//! }
//! assert!((theta.item()? - 3.0).abs() < 1e-2);
//! # Ok(())
//! # }
//! ```
