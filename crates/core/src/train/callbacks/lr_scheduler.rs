//! `LearningRateScheduler`: the learning rate of each epoch from a function, as Keras'.

use crate::error::Result;
use crate::train::callback::{Callback, TrainContext};
use std::fmt;
use std::sync::Arc;

/// Keras' `LearningRateScheduler`: before each epoch, sets the learning rate to
/// `schedule(epoch, lr)`, with `epoch` 0-based (counting every epoch the model trained,
/// earlier `fit` calls included) and `lr` the current rate. For PyTorch's schedules, use
/// `FitConfig::schedule`.
#[derive(Clone)]
pub struct LearningRateScheduler {
    schedule: Arc<dyn Fn(usize, f32) -> f32 + Send + Sync>,
}

impl LearningRateScheduler {
    /// Sets the learning rate to `schedule(epoch, lr)` before each epoch (`epoch` 0-based,
    /// `lr` the current rate), e.g. `|epoch, lr| if epoch < 10 { lr } else { lr * 0.9 }`.
    pub fn new(schedule: impl Fn(usize, f32) -> f32 + Send + Sync + 'static) -> Self {
        LearningRateScheduler {
            schedule: Arc::new(schedule),
        }
    }
}

impl fmt::Debug for LearningRateScheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LearningRateScheduler(..)")
    }
}

impl Callback for LearningRateScheduler {
    fn on_epoch_begin(&mut self, epoch: usize, ctx: &mut TrainContext) -> Result<()> {
        let lr = (self.schedule)(epoch - 1, ctx.lr());
        ctx.set_lr(lr)
    }
}
