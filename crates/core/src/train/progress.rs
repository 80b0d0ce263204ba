//! The line `fit` prints after each epoch, in Keras' layout.

use super::history::EpochRecord;

/// `Epoch 3/50` then `32/32 - 0.04s - 1.2ms/step - loss: 0.6931 - accuracy: 0.5120 ...`
pub fn epoch_line(record: &EpochRecord, epochs: usize, steps: usize, seconds: f64) -> String {
    let per_step = seconds / steps.max(1) as f64;
    let per_step = if per_step >= 1e-3 {
        format!("{:.1}ms/step", per_step * 1e3)
    } else {
        format!("{:.0}us/step", per_step * 1e6)
    };
    let mut line = format!(
        "Epoch {}/{epochs}\n{steps}/{steps} - {seconds:.2}s - {per_step} - loss: {:.4}",
        record.epoch, record.loss
    );
    for (name, value) in &record.metrics {
        line += &format!(" - {name}: {value:.4}");
    }
    if let Some(v) = record.val_loss {
        line += &format!(" - val_loss: {v:.4}");
    }
    for (name, value) in &record.val_metrics {
        line += &format!(" - val_{name}: {value:.4}");
    }
    line
}
