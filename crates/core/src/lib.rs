//! downhill-core: tensors, reverse-mode autodiff, the `Backend` trait, layers, losses,
//! optimizers, data and the training loop. Backends live in `downhill-cpu` and
//! `downhill-gpu`; most users depend on the `downhill` crate, which ties them together.

#![warn(missing_docs)]

pub mod autodiff;
pub mod backend;
pub mod checkpoint;
pub mod data;
pub mod device;
pub mod error;
pub mod io;
pub mod loss;
pub mod memory;
pub mod metric;
pub mod nan;
pub mod nn;
pub mod optim;
pub mod philox;
pub mod random;
pub mod shape;
pub mod surfaces;
pub mod tensor;
pub mod train;

pub use autodiff::{grad_enabled, no_grad, Gradients};
pub use backend::conv::{Conv2dDims, Conv2dSizes, ConvOps, Pool2dDims, Pool2dSizes};
pub use backend::index::{ArgReduceOp, IndexOps};
pub use backend::norm::{Affine, AffineAxis, NormBackward, NormDims, NormForward, NormOps};
pub use backend::optim_ops::OptimOps;
pub use backend::telemetry_ops::{TelemetryOps, UnitProbe};
pub use backend::{
    AccuracyKind, Backend, BackendKind, BinaryOp, DeviceStats, GradClip, LossKind, MatmulDims,
    MetricStats, ReduceDims, ReduceOp, Storage, UnaryOp,
};
pub use checkpoint::{Checkpoint, TrainingState};
pub use data::{
    train_test_split, BatchPlan, Batching, Column, CsvOptions, Dataset, MinMaxScaler, Split,
    StandardScaler,
};
pub use device::Device;
pub use error::{Divergence, Error, Result};
pub use loss::Loss;
pub use metric::functions::Average;
pub use metric::Metric;
pub use nn::{
    Activation, BatchNorm1d, BatchNorm2d, Chain, Dense, Dropout, Graph, Init, Layer, LayerNorm,
    LayerSpec, LeakyReLU, Linear, LogSoftmax, ReLU, Reshape, Residual, Sequential, Sigmoid,
    Softmax, Tanh, GELU,
};
pub use nn::{AvgPool2d, Conv1d, Conv2d, GlobalAvgPool2d, MaxPool2d, Padding, Padding1d, Size2};
pub use nn::{Embedding, Flatten};
pub use optim::schedule::{
    AnnealStrategy, ChainedScheduler, ConstantLR, CosineAnnealingLR, CosineAnnealingWarmRestarts,
    ExponentialLR, LinearLR, LrScheduler, MultiStepLR, OneCycleLR, PlateauMode, ReduceLROnPlateau,
    ScheduleConfig, ScheduleState, SequentialLR, StepLR, StepUnit, ThresholdMode,
};
pub use optim::Adafactor;
pub use optim::Adan;
pub use optim::Asgd;
pub use optim::Lamb;
pub use optim::Lion;
pub use optim::Muon;
pub use optim::RAdam;
pub use optim::Rprop;
pub use optim::{
    Adadelta, Adagrad, Adam, AdamW, Adamax, Gd, GroupState, HyperparameterField,
    HyperparameterValue, NAdam, Optimizer, OptimizerConfig, OptimizerGroup, OptimizerState,
    ParamGroup, ParamSet, RmsProp, Sgd, StateBuffer, StepContext, UpdateRule,
};
pub use optim::{AdamWScheduleFree, SgdScheduleFree};
pub use optim::{Lbfgs, LbfgsOptimizer, LbfgsState, LineSearch};
pub use shape::Shape;
pub use tensor::{BatchNormConfig, RunningStats};
pub use tensor::{Conv1dOptions, Conv2dOptions, Pool2dOptions, Tensor, TensorId};
pub use train::{
    BatchInfo, Callback, CsvLogger, EarlyStopping, EpochRecord, Evaluation, FitConfig, History,
    LearningRateScheduler, LrFindConfig, LrFindStop, LrFinding, LrPoint, LrSuggestion, LrVerdict,
    Mode, ModelCheckpoint, OnDivergence, TerminateOnNaN, TrainContext,
};
pub use train::{Diagnosis, EpochHealth, LayerHealth, Symptom};
