//! downhill: train neural networks by gradient descent on any GPU, with a CPU backend that
//! is the reference for every result.
//!
//! Two levels, one program for CPU and GPU:
//!
//! ```
//! use downhill::prelude::*;
//!
//! # fn main() -> downhill::Result<()> {
//! let device = Device::cpu();
//! // PyTorch style: a trainable leaf, a loss, backward, step.
//! let theta = device.scalar(0.0)?.param();
//! let mut opt = Sgd::new(0.1).build(&[&theta])?;
//! for _ in 0..100 {
//!     let loss = (&theta - 3.0)?.square()?.mean()?;
//!     let grads = loss.backward()?;
//!     opt.step(&grads)?;
//! }
//! assert!((theta.item()? - 3.0).abs() < 1e-6);
//! # Ok(())
//! # }
//! ```
//!
//! Learning-rate schedules follow `torch.optim.lr_scheduler` (see [`optim::schedule`]):
//! build one on the optimizer, step it after the optimizer.
//!
//! ```
//! use downhill::prelude::*;
//!
//! # fn main() -> downhill::Result<()> {
//! let theta = Device::cpu().scalar(0.0)?.param();
//! let mut opt = Sgd::new(0.1).momentum(0.5).build(&[&theta])?;
//! // Five epochs of linear warm-up from a tenth of the rate, then a cosine over 95.
//! let mut schedule = SequentialLR::new(
//!     vec![
//!         Box::new(LinearLR::new().start_factor(0.1)),
//!         Box::new(CosineAnnealingLR::new(95)),
//!     ],
//!     vec![5],
//! )
//! .build(&mut opt)?;
//! assert!((opt.lr() - 0.01).abs() < 1e-9); // step 0 applies when building
//! for _epoch in 0..100 {
//!     let loss = (&theta - 3.0)?.square()?.mean()?;
//!     opt.step(&loss.backward()?)?;
//!     schedule.step(&mut opt)?;
//! }
//! assert_eq!(opt.lr(), 0.0); // the end of the cosine
//! assert!((theta.item()? - 3.0).abs() < 1e-4);
//! # Ok(())
//! # }
//! ```
//!
//! The [`guide`] has a runnable example for each part: tensors and autodiff, `Sequential`
//! models and `fit`, every optimizer and every schedule.

#![warn(missing_docs)]

pub mod guide;

pub mod doctor;

pub use downhill_core::*;
pub use downhill_cpu::CpuBackend;
/// The GPU backend crate (adapter choice, kernel variants).
pub use downhill_gpu as gpu;

/// Constructors for devices, in scope through the prelude: `Device::cpu()`,
/// `Device::gpu()`, `Device::best()`.
pub trait DeviceExt {
    /// The CPU backend (always available).
    fn cpu() -> Device;
    /// The GPU backend on the preferred adapter (`DOWNHILL_ADAPTER=<substring>` picks
    /// one by name); [`Error::NoAdapter`] says how to get one when none is usable. The
    /// same device is returned on every call.
    fn gpu() -> Result<Device>;
    /// A hardware GPU if one is usable, else the CPU backend (saying why on stderr). A
    /// software adapter (lavapipe, WARP) is never preferred: on the same cores the CPU
    /// backend is 10–50× faster (docs/PERFORMANCE.md). `DOWNHILL_DEVICE=cpu|gpu` forces
    /// the choice; with `gpu` and no usable adapter (a software one counts there) this is
    /// an error, not a quiet fallback. `DOWNHILL_ADAPTER=<name>` also asks for the GPU.
    fn best() -> Result<Device>;
}

impl DeviceExt for Device {
    fn cpu() -> Device {
        CpuBackend::device()
    }

    fn gpu() -> Result<Device> {
        downhill_gpu::device()
    }

    fn best() -> Result<Device> {
        let asked = std::env::var("DOWNHILL_DEVICE").ok();
        match asked.as_deref() {
            Some("cpu") => return Ok(Device::cpu()),
            Some("gpu") => return Device::gpu(),
            Some(other) if !other.is_empty() => {
                return Err(Error::Config(format!(
                    "DOWNHILL_DEVICE={other:?}: expected \"cpu\" or \"gpu\""
                )))
            }
            _ => {}
        }
        if std::env::var("DOWNHILL_ADAPTER").is_ok() {
            return Device::gpu();
        }
        if downhill_gpu::hardware_adapters().is_empty() {
            eprintln!(
                "downhill: no hardware GPU adapter; using the CPU backend (DOWNHILL_DEVICE=gpu \
                 runs a software adapter such as lavapipe)"
            );
            return Ok(Device::cpu());
        }
        match Device::gpu() {
            Ok(d) => Ok(d),
            Err(e) => {
                eprintln!("downhill: {e}; using the CPU backend");
                Ok(Device::cpu())
            }
        }
    }
}

/// Everything a training program needs: `use downhill::prelude::*;`.
pub mod prelude {
    pub use super::DeviceExt;
    pub use downhill_core::Adafactor;
    pub use downhill_core::Adan;
    pub use downhill_core::Asgd;
    pub use downhill_core::Lamb;
    pub use downhill_core::Muon;
    pub use downhill_core::RAdam;
    pub use downhill_core::Rprop;
    pub use downhill_core::{
        no_grad, Activation, Adadelta, Adagrad, Adam, AdamW, Adamax, Average, Batching, Callback,
        Chain, Checkpoint, CsvLogger, Dataset, Dense, Device, EarlyStopping, Error, FitConfig, Gd,
        GradClip, Gradients, Graph, History, Init, LearningRateScheduler, Linear, Lion, Loss,
        Metric, ModelCheckpoint, NAdam, Optimizer, OptimizerConfig, ParamGroup, Reshape, Residual,
        Result, RmsProp, Sequential, Sgd, Tensor, TerminateOnNaN, TrainingState,
    };
    pub use downhill_core::{AdamWScheduleFree, SgdScheduleFree};
    pub use downhill_core::{
        AnnealStrategy, ChainedScheduler, ConstantLR, CosineAnnealingLR,
        CosineAnnealingWarmRestarts, ExponentialLR, LinearLR, LrScheduler, MultiStepLR, OneCycleLR,
        PlateauMode, ReduceLROnPlateau, ScheduleConfig, SequentialLR, StepLR, StepUnit,
        ThresholdMode,
    };
    pub use downhill_core::{
        AvgPool2d, Conv1d, Conv1dOptions, Conv2d, Conv2dOptions, GlobalAvgPool2d, MaxPool2d,
        Padding, Padding1d, Pool2dOptions,
    };
    pub use downhill_core::{BatchNorm1d, BatchNorm2d, Dropout, LayerNorm};
    pub use downhill_core::{Embedding, Flatten};
    pub use downhill_core::{Lbfgs, LbfgsOptimizer, LineSearch};
    pub use downhill_core::{
        LrFindConfig, LrFindStop, LrFinding, LrPoint, LrSuggestion, LrVerdict,
    };
}
