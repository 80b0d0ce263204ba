//! Learning-rate schedules, as `torch.optim.lr_scheduler` (the table and the exact
//! semantics are in [`optim::schedule`](crate::optim::schedule)).
//!
//! A schedule configuration is built on an optimizer, which applies its step 0 at once;
//! then, as in PyTorch, step the optimizer first and the schedule after it, once per
//! epoch (or per batch for [`OneCycleLR`](crate::OneCycleLR), or any schedule set
//! `.stepped_per(StepUnit::Batch)`). In [`fit`](crate::Sequential::fit), pass the
//! configuration with [`FitConfig::schedule`](crate::FitConfig::schedule) and `fit` does
//! the stepping (last example). [`LinearLR`](crate::LinearLR),
//! [`CosineAnnealingLR`](crate::CosineAnnealingLR) and
//! [`SequentialLR`](crate::SequentialLR) are in the [crate-level example](crate).
//!
//! Each example below records the learning rate every epoch trained with. The epoch is
//! one optimizer step on `(θ − 3)²`; the rates follow from the schedule alone.
//!
//! # StepLR
//!
//! ```
//! use downhill::prelude::*;
//!
//! # fn main() -> downhill::Result<()> {
//! let theta = Device::cpu().scalar(0.0)?.param();
//! let mut opt = Sgd::new(0.1).build(&[&theta])?;
//! // StepLR(opt, step_size=2, gamma=0.5): halve the rate every 2 epochs.
//! let mut schedule = StepLR::new(2).gamma(0.5).build(&mut opt)?;
//! let mut lrs = Vec::new();
//! for _epoch in 0..6 {
//!     lrs.push(opt.lr());
//!     opt.step(&(&theta - 3.0)?.square()?.mean()?.backward()?)?;
//!     schedule.step(&mut opt)?;
//! }
//! assert_eq!(lrs, [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]);
//! # Ok(())
//! # }
//! ```
//!
//! # MultiStepLR
//!
//! ```
//! use downhill::prelude::*;
//!
//! # fn main() -> downhill::Result<()> {
//! let theta = Device::cpu().scalar(0.0)?.param();
//! let mut opt = Sgd::new(1.0).build(&[&theta])?;
//! // MultiStepLR(opt, milestones=[2, 5], gamma=0.1)
//! let mut schedule = MultiStepLR::new([2, 5]).build(&mut opt)?;
//! let mut lrs = Vec::new();
//! for _epoch in 0..7 {
//!     lrs.push(opt.lr());
//!     opt.step(&(&theta - 3.0)?.square()?.mean()?.backward()?)?;
//!     schedule.step(&mut opt)?;
//! }
//! let expected = [1.0, 1.0, 0.1, 0.1, 0.1, 0.01, 0.01];
//! assert!(lrs.iter().zip(expected).all(|(lr, e)| (lr - e).abs() < 1e-7));
//! # Ok(())
//! # }
//! ```
//!
//! # ConstantLR
//!
//! ```
//! use downhill::prelude::*;
//!
//! # fn main() -> downhill::Result<()> {
//! let theta = Device::cpu().scalar(0.0)?.param();
//! let mut opt = Sgd::new(0.1).build(&[&theta])?;
//! // ConstantLR(opt, factor=0.5, total_iters=3): a gentle start, then the base rate.
//! let mut schedule = ConstantLR::new().factor(0.5).total_iters(3).build(&mut opt)?;
//! let mut lrs = Vec::new();
//! for _epoch in 0..5 {
//!     lrs.push(opt.lr());
//!     opt.step(&(&theta - 3.0)?.square()?.mean()?.backward()?)?;
//!     schedule.step(&mut opt)?;
//! }
//! assert_eq!(lrs, [0.05, 0.05, 0.05, 0.1, 0.1]);
//! # Ok(())
//! # }
//! ```
//!
//! # ExponentialLR
//!
//! ```
//! use downhill::prelude::*;
//!
//! # fn main() -> downhill::Result<()> {
//! let theta = Device::cpu().scalar(0.0)?.param();
//! let mut opt = Sgd::new(0.1).build(&[&theta])?;
//! let mut schedule = ExponentialLR::new(0.5).build(&mut opt)?; // ExponentialLR(opt, gamma=0.5)
//! let mut lrs = Vec::new();
//! for _epoch in 0..4 {
//!     lrs.push(opt.lr());
//!     opt.step(&(&theta - 3.0)?.square()?.mean()?.backward()?)?;
//!     schedule.step(&mut opt)?;
//! }
//! assert_eq!(lrs, [0.1, 0.05, 0.025, 0.0125]);
//! # Ok(())
//! # }
//! ```
//!
//! # CosineAnnealingWarmRestarts
//!
//! ```
//! use downhill::prelude::*;
//!
//! # fn main() -> downhill::Result<()> {
//! let theta = Device::cpu().scalar(0.0)?.param();
//! let mut opt = Sgd::new(0.1).build(&[&theta])?;
//! // CosineAnnealingWarmRestarts(opt, T_0=4): a cosine over 4 epochs, then again.
//! let mut schedule = CosineAnnealingWarmRestarts::new(4).build(&mut opt)?;
//! let mut lrs = Vec::new();
//! for _epoch in 0..8 {
//!     lrs.push(opt.lr());
//!     opt.step(&(&theta - 3.0)?.square()?.mean()?.backward()?)?;
//!     schedule.step(&mut opt)?;
//! }
//! assert!((lrs[2] - 0.05).abs() < 1e-7); // half way down the cosine
//! assert_eq!(lrs[4], lrs[0]); // the restart
//! assert_eq!(lrs[..4], lrs[4..]);
//! # Ok(())
//! # }
//! ```
//!
//! # OneCycleLR
//!
//! Stepped per batch: up from `max_lr / 25` to `max_lr` over the first 30 % of the steps,
//! then down to `max_lr / 25 / 1e4`, with the momentum cycling the other way between 0.95
//! and 0.85.
//!
//! ```
//! use downhill::prelude::*;
//!
//! # fn main() -> downhill::Result<()> {
//! let theta = Device::cpu().scalar(0.0)?.param();
//! let mut opt = Sgd::new(0.1).momentum(0.9).build(&[&theta])?;
//! // OneCycleLR(opt, max_lr=1.0, total_steps=10)
//! let mut schedule = OneCycleLR::new(1.0).total_steps(10).build(&mut opt)?;
//! assert!((opt.lr() - 0.04).abs() < 1e-7 && opt.momentum() == Some(0.95));
//! let mut lrs = Vec::new();
//! for _batch in 0..10 {
//!     lrs.push(opt.lr());
//!     opt.step(&(&theta - 3.0)?.square()?.mean()?.backward()?)?;
//!     schedule.step(&mut opt)?;
//! }
//! assert_eq!(lrs[2], 1.0); // the peak, at step 0.3 · 10 − 1
//! assert!((lrs[9] - 0.04 / 1e4).abs() < 1e-9); // the last step's rate
//! assert!(schedule.step(&mut opt).is_err()); // the cycle is over
//! # Ok(())
//! # }
//! ```
//!
//! # ReduceLROnPlateau
//!
//! Stepped with a metric, usually the validation loss: here it stops improving after the
//! second epoch, and with `patience` 2 the third epoch without improvement halves the rate.
//!
//! ```
//! use downhill::prelude::*;
//!
//! # fn main() -> downhill::Result<()> {
//! let theta = Device::cpu().scalar(0.0)?.param();
//! let mut opt = Sgd::new(0.1).build(&[&theta])?;
//! // ReduceLROnPlateau(opt, factor=0.5, patience=2)
//! let mut schedule = ReduceLROnPlateau::new().factor(0.5).patience(2).build(&mut opt)?;
//! let mut lrs = Vec::new();
//! for val_loss in [1.0, 0.5, 0.5, 0.5, 0.5, 0.5] {
//!     opt.step(&(&theta - 3.0)?.square()?.mean()?.backward()?)?;
//!     schedule.step_with_metric(&mut opt, val_loss)?;
//!     lrs.push(opt.lr()); // the rate of the next epoch
//! }
//! assert_eq!(lrs, [0.1, 0.1, 0.1, 0.1, 0.05, 0.05]);
//! # Ok(())
//! # }
//! ```
//!
//! # ChainedScheduler
//!
//! A `ConstantLR` warm-up and an `ExponentialLR` decay stepped together, their factors
//! multiplied: a tenth of the rate for two epochs, and `× 0.9` at every step after the
//! first.
//!
//! ```
//! use downhill::prelude::*;
//!
//! # fn main() -> downhill::Result<()> {
//! let theta = Device::cpu().scalar(0.0)?.param();
//! let mut opt = Sgd::new(1.0).build(&[&theta])?;
//! let mut schedule = ChainedScheduler::new(vec![
//!     Box::new(ConstantLR::new().factor(0.1).total_iters(2)),
//!     Box::new(ExponentialLR::new(0.9)),
//! ])
//! .build(&mut opt)?;
//! let mut lrs = Vec::new();
//! for _epoch in 0..5 {
//!     lrs.push(opt.lr());
//!     opt.step(&(&theta - 3.0)?.square()?.mean()?.backward()?)?;
//!     schedule.step(&mut opt)?;
//! }
//! let expected = [0.1, 0.09, 0.81, 0.729, 0.6561]; // 1 · 0.1, · 0.9, · 10 · 0.9, · 0.9, ...
//! assert!(lrs.iter().zip(expected).all(|(lr, e)| (lr - e).abs() < 1e-6));
//! # Ok(())
//! # }
//! ```
//!
//! # In `fit`
//!
//! `fit` builds the schedule on its optimizer, steps it per epoch (or per batch, as its
//! unit says) and records each epoch's rate in the history.
//!
//! ```
//! use downhill::prelude::*;
//! use ndarray::array;
//!
//! # fn main() -> downhill::Result<()> {
//! let data = Dataset::with_labels(array![[0.0], [1.0], [2.0]], array![1.0, 3.0, 5.0])?;
//! let mut model = Sequential::new(&Device::cpu()).dense(1, 1, Activation::Linear);
//! let config = FitConfig { epochs: 4, verbose: 0, ..Default::default() }
//!     .schedule(StepLR::new(2).gamma(0.5));
//! let history = model.fit(&data, Loss::MeanSquaredError, Sgd::new(0.1), config)?;
//! assert_eq!(history.lr(), [0.1, 0.1, 0.05, 0.05]);
//! # Ok(())
//! # }
//! ```
