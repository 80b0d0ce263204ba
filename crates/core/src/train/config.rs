//! `FitConfig`: how `fit` runs.

use super::callback::Callback;
use crate::backend::GradClip;
use crate::data::{Batching, Dataset};
use crate::metric::Metric;
use crate::optim::schedule::ScheduleConfig;
use crate::optim::ParamGroup;

/// Options of `fit`, with Keras' defaults where Keras has one.
#[derive(Clone, Debug)]
pub struct FitConfig {
    /// Passes over the training data (default 1).
    pub epochs: usize,
    /// Rows per gradient step (default 32, Keras' default). 1 is stochastic gradient
    /// descent; `usize::MAX` (or any size ≥ the data) is full-batch gradient descent.
    pub batch_size: usize,
    /// Reshuffle the rows every epoch (default true).
    pub shuffle: bool,
    /// Skip a last batch smaller than `batch_size` (default false).
    pub drop_last: bool,
    /// Seed for shuffling; `None` uses the model's initialisation seed.
    pub seed: Option<u64>,
    /// Hold out this last fraction of the data for validation (Keras' `validation_split`);
    /// 0 for none. Ignored when `validation_data` is given.
    pub validation_split: f32,
    /// Data to evaluate on after every epoch (Keras' `validation_data`); its loss and metrics
    /// are the `val_` figures of the history.
    pub validation_data: Option<Dataset>,
    /// Figures to report beside the loss, on the training batches and on the validation data
    /// (Keras' `metrics=`); none by default.
    pub metrics: Vec<Metric>,
    /// Clip gradients before each step.
    pub clip: Option<GradClip>,
    /// Parameter groups (PyTorch's `param_groups`), usually selected by name with
    /// [`ParamGroup::matching`], e.g. no weight decay on biases:
    /// `vec![ParamGroup::matching(|name| name.ends_with(".bias")).weight_decay(0.0)]`.
    /// The parameters no group selects form group 0 with the optimizer's own values; a
    /// parameter two groups select, or a group that selects none, is an error. Empty (the
    /// default): one group. Used when `fit` builds the optimizer (see
    /// [`crate::optim::Optimizer::with_named_groups`]).
    pub param_groups: Vec<ParamGroup>,
    /// Keras' levels: 0 silent, 1 a live progress bar within each epoch (steps done, ETA,
    /// running loss and metrics) ending in the epoch's line, 2 one line per epoch. Where
    /// stdout is not a terminal, 1 prints what 2 does. Default 1.
    pub verbose: u8,
    /// The epoch numbering starts after this one (Keras' `initial_epoch`): the epochs run
    /// are `initial_epoch + 1 ..= initial_epoch + epochs`, and the shuffle continues from
    /// there. `None` (the default) continues from the model's own count, so calling `fit`
    /// again picks up where the last call ended.
    pub initial_epoch: Option<usize>,
    /// Hooks run during training, in order (see [`Callback`]).
    pub callbacks: Vec<Box<dyn Callback>>,
    /// A learning-rate schedule (`torch.optim.lr_scheduler`'s), built on the optimizer
    /// when training starts and stepped after every batch or every epoch, as the
    /// schedule's unit says; `ReduceLROnPlateau` is stepped with `schedule_monitor`.
    /// Calling `fit` again with the same schedule and optimizer continues the schedule.
    pub schedule: Option<Box<dyn ScheduleConfig>>,
    /// Continue a run from a training checkpoint (`ModelCheckpoint` or `Checkpoint::save`
    /// wrote it): the model's parameters, the optimizer's state and step counts, the epoch
    /// count, the shuffle and the schedule's state are restored before the first step, so
    /// the run continues bit for bit. The checkpoint must come from the same model and
    /// optimizer configuration (anything else is an error that changes nothing).
    pub resume_from: Option<std::path::PathBuf>,
    /// The figure a metric-driven schedule watches (a name `EpochRecord::get` knows).
    /// `None`: `val_loss` when there is validation data, else `loss`.
    pub schedule_monitor: Option<String>,
    /// Read the device's divergence record every this many steps: a NaN or infinite loss
    /// or gradient is recorded on the device in the step it happens (no read-back), and
    /// `fit` stops with `Error::Diverged` when it reads the record. `None` (the default)
    /// reads it every step on the CPU backend, where that is free, and at the end of each
    /// epoch on a GPU, where each read waits for the device.
    pub check_every: Option<usize>,
    /// Record each layer's gradient health every epoch (gradient norm, weight norm,
    /// update/weight ratio, dead ReLU units, saturated sigmoid/tanh outputs) in
    /// `History::health`, and diagnose vanishing or exploding gradients, dead ReLUs,
    /// saturation and a learning rate too high or too low (`History::diagnoses`, printed at
    /// verbose ≥ 1). Measured on the device: one dispatch per step for the gradient norms,
    /// one per ReLU/sigmoid/tanh layer, a copy of the parameters before each epoch's first
    /// step (into one extra buffer the size of the parameters), four small dispatches and
    /// one read-back per epoch. Off by default.
    pub telemetry: bool,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            epochs: 1,
            batch_size: 32,
            shuffle: true,
            drop_last: false,
            seed: None,
            validation_split: 0.0,
            validation_data: None,
            metrics: Vec::new(),
            clip: None,
            param_groups: Vec::new(),
            verbose: 1,
            check_every: None,
            telemetry: false,
            initial_epoch: None,
            callbacks: Vec::new(),
            schedule: None,
            schedule_monitor: None,
            resume_from: None,
        }
    }
}

impl FitConfig {
    /// Sets the learning-rate schedule.
    pub fn schedule(mut self, schedule: impl ScheduleConfig + 'static) -> Self {
        self.schedule = Some(Box::new(schedule));
        self
    }

    /// Adds a parameter group (see [`FitConfig::param_groups`]).
    pub fn param_group(mut self, group: ParamGroup) -> Self {
        self.param_groups.push(group);
        self
    }

    /// Adds a callback.
    pub fn callback(mut self, callback: impl Callback + 'static) -> Self {
        self.callbacks.push(Box::new(callback));
        self
    }

    /// Sets the batch size from one of the three descent modes.
    pub fn batching(mut self, batching: Batching) -> Self {
        self.batch_size = match batching {
            Batching::Full => usize::MAX,
            Batching::Stochastic => 1,
            Batching::MiniBatch(k) => k,
        };
        self
    }
}
