//! `History`: the per-epoch figures `fit` returns, writable as CSV or JSON.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The figures of one epoch. Equal seeds and data give equal records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches, weighted by batch size.
    pub loss: f32,
    /// `(name, value)` for each requested metric, over the epoch's training batches.
    pub metrics: Vec<(String, f32)>,
    pub val_loss: Option<f32>,
    pub val_metrics: Vec<(String, f32)>,
}

/// Everything `fit` measured: one record per epoch and its wall time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub records: Vec<EpochRecord>,
    /// Wall-clock seconds of each epoch (kept apart: timings differ between runs).
    pub seconds: Vec<f64>,
}

impl History {
    /// The training loss per epoch.
    pub fn loss(&self) -> Vec<f32> {
        self.records.iter().map(|r| r.loss).collect()
    }

    /// The validation loss per epoch (empty without validation data).
    pub fn val_loss(&self) -> Vec<f32> {
        self.records.iter().filter_map(|r| r.val_loss).collect()
    }

    /// A training metric per epoch by name, e.g. `"accuracy"`; `val_` prefixes read the
    /// validation figures.
    pub fn metric(&self, name: &str) -> Vec<f32> {
        let (validation, key) = match name.strip_prefix("val_") {
            Some(rest) => (true, rest),
            None => (false, name),
        };
        self.records
            .iter()
            .filter_map(|r| {
                let list = if validation {
                    &r.val_metrics
                } else {
                    &r.metrics
                };
                list.iter().find(|(n, _)| n == key).map(|(_, v)| *v)
            })
            .collect()
    }

    /// One row per epoch: `epoch,loss,<metrics>,val_loss,<val metrics>,seconds`.
    pub fn to_csv(&self) -> String {
        let Some(first) = self.records.first() else {
            return "epoch,loss,seconds\n".into();
        };
        let mut header = vec!["epoch".to_string(), "loss".into()];
        header.extend(first.metrics.iter().map(|(n, _)| n.clone()));
        if first.val_loss.is_some() {
            header.push("val_loss".into());
            header.extend(first.val_metrics.iter().map(|(n, _)| format!("val_{n}")));
        }
        header.push("seconds".into());
        let mut out = header.join(",") + "\n";
        for (r, secs) in self.records.iter().zip(&self.seconds) {
            let mut row = vec![r.epoch.to_string(), r.loss.to_string()];
            row.extend(r.metrics.iter().map(|(_, v)| v.to_string()));
            if let Some(v) = r.val_loss {
                row.push(v.to_string());
                row.extend(r.val_metrics.iter().map(|(_, v)| v.to_string()));
            }
            row.push(format!("{secs:.6}"));
            out += &(row.join(",") + "\n");
        }
        out
    }

    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| Error::Config(e.to_string()))
    }

    /// Reads a history written by [`History::write_json`].
    pub fn from_json(text: &str) -> Result<History> {
        serde_json::from_str(text).map_err(|e| Error::Corrupt {
            path: "<history json>".into(),
            detail: e.to_string(),
        })
    }

    pub fn write_csv(&self, path: impl AsRef<Path>) -> Result<()> {
        write_file(path.as_ref(), &self.to_csv())
    }

    pub fn write_json(&self, path: impl AsRef<Path>) -> Result<()> {
        write_file(path.as_ref(), &self.to_json()?)
    }
}

/// Writes through a temporary file and a rename, so a crash never leaves half a file.
fn write_file(path: &Path, text: &str) -> Result<()> {
    let io = |e: std::io::Error| Error::Io {
        path: path.display().to_string(),
        detail: e.to_string(),
    };
    let tmp = path.with_extension("tmp-downhill");
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}
