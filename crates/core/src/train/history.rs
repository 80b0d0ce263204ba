//! `History`: the per-epoch figures `fit` returns, writable as CSV or JSON.

use super::diagnosis::Diagnosis;
use super::health::EpochHealth;
use crate::error::{Error, Result};
use crate::io::write_atomic;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The figures of one epoch. Equal seeds and data give equal records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches, weighted by batch size.
    #[serde(with = "crate::io::json_float")]
    pub loss: f32,
    /// `(name, value)` for each requested metric, over the epoch's training batches.
    #[serde(with = "crate::io::json_float::named")]
    pub metrics: Vec<(String, f32)>,
    /// Mean loss on the validation data after the epoch; `None` without validation data.
    #[serde(with = "crate::io::json_float::option")]
    pub val_loss: Option<f32>,
    /// `(name, value)` for each requested metric on the validation data (empty without it).
    #[serde(with = "crate::io::json_float::named")]
    pub val_metrics: Vec<(String, f32)>,
    /// The learning rate of the epoch's first step, as a schedule or callback set it (with
    /// a schedule stepped per epoch, the rate of every step of the epoch).
    #[serde(with = "crate::io::json_float", default = "no_lr")]
    pub lr: f32,
}

/// `lr` of a record written before the field existed.
fn no_lr() -> f32 {
    f32::NAN
}

impl EpochRecord {
    /// A figure by Keras' log name: `loss`, `val_loss`, `lr`, a metric (`accuracy`) or a
    /// validation metric (`val_accuracy`).
    pub fn get(&self, name: &str) -> Option<f32> {
        match name {
            "loss" => Some(self.loss),
            "val_loss" => self.val_loss,
            "lr" | "learning_rate" => Some(self.lr),
            _ => {
                let (list, key) = match name.strip_prefix("val_") {
                    Some(rest) => (&self.val_metrics, rest),
                    None => (&self.metrics, name),
                };
                list.iter().find(|(n, _)| n == key).map(|(_, v)| *v)
            }
        }
    }
}

/// Everything `fit` measured: one record per epoch and its wall time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// One record per epoch, in order (Keras' `history.history`, by epoch rather than by name).
    pub records: Vec<EpochRecord>,
    /// Wall-clock seconds of each epoch (kept apart: timings differ between runs).
    #[serde(with = "crate::io::json_float::list")]
    pub seconds: Vec<f64>,
    /// Why training ended before its last epoch, when it did (e.g. `EarlyStopping`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    /// Per-layer gradient health of each epoch, when `FitConfig::telemetry` was on (empty
    /// otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health: Vec<EpochHealth>,
    /// What the telemetry diagnosed (see [`crate::train::diagnosis`]): each symptom of each
    /// layer once, at the first epoch it showed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnoses: Vec<Diagnosis>,
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

    /// The learning rate per epoch.
    pub fn lr(&self) -> Vec<f32> {
        self.records.iter().map(|r| r.lr).collect()
    }

    /// One row per epoch: `epoch,loss,<metrics>,val_loss,<val metrics>,lr,seconds`.
    pub fn to_csv(&self) -> String {
        let Some(first) = self.records.first() else {
            return "epoch,loss,lr,seconds\n".into();
        };
        let mut header = vec!["epoch".to_string(), "loss".into()];
        header.extend(first.metrics.iter().map(|(n, _)| n.clone()));
        if first.val_loss.is_some() {
            header.push("val_loss".into());
            header.extend(first.val_metrics.iter().map(|(n, _)| format!("val_{n}")));
        }
        header.push("lr".into());
        header.push("seconds".into());
        let mut out = header.join(",") + "\n";
        for (r, secs) in self.records.iter().zip(&self.seconds) {
            let mut row = vec![r.epoch.to_string(), r.loss.to_string()];
            row.extend(r.metrics.iter().map(|(_, v)| v.to_string()));
            if let Some(v) = r.val_loss {
                row.push(v.to_string());
                row.extend(r.val_metrics.iter().map(|(_, v)| v.to_string()));
            }
            row.push(r.lr.to_string());
            row.push(format!("{secs:.6}"));
            out += &(row.join(",") + "\n");
        }
        out
    }

    /// The history as JSON. NaN and infinite values (a diverged run) are written as the
    /// strings `"NaN"`, `"Infinity"` and `"-Infinity"`, so they read back as they were.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| Error::Config(e.to_string()))
    }

    /// Reads a history written by [`History::to_json`], checking that it is whole: one
    /// timing per record, epochs counting up by one, the same metrics in every record.
    pub fn from_json(text: &str) -> Result<History> {
        Self::parse(text, "<history json>")
    }

    /// Reads a history file written by [`History::write_json`].
    pub fn read_json(path: impl AsRef<Path>) -> Result<History> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    fn parse(text: &str, path: &str) -> Result<History> {
        let corrupt = |detail: String| Error::Corrupt {
            path: path.to_string(),
            detail,
        };
        let history: History = serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
        history.validate().map_err(corrupt)?;
        Ok(history)
    }

    /// What is inconsistent in this history, if anything.
    fn validate(&self) -> std::result::Result<(), String> {
        if self.seconds.len() != self.records.len() {
            return Err(format!(
                "{} records but {} epoch timings",
                self.records.len(),
                self.seconds.len()
            ));
        }
        if let Some(s) = self.seconds.iter().find(|s| !(s.is_finite() && **s >= 0.0)) {
            return Err(format!("an epoch timing of {s} seconds"));
        }
        let names = |m: &[(String, f32)]| m.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        for pair in self.records.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            if b.epoch != a.epoch + 1 {
                return Err(format!("epoch {} follows epoch {}", b.epoch, a.epoch));
            }
            if names(&a.metrics) != names(&b.metrics)
                || names(&a.val_metrics) != names(&b.val_metrics)
                || a.val_loss.is_some() != b.val_loss.is_some()
            {
                return Err(format!(
                    "epoch {} records other figures than epoch {}",
                    b.epoch, a.epoch
                ));
            }
        }
        match self.records.first() {
            Some(r) if r.epoch == 0 => Err("epochs are numbered from 1".into()),
            _ => Ok(()),
        }
    }

    /// Writes [`History::to_csv`] atomically (see [`crate::io::write_atomic`]).
    pub fn write_csv(&self, path: impl AsRef<Path>) -> Result<()> {
        write_atomic(path.as_ref(), self.to_csv().as_bytes())
    }

    /// Writes [`History::to_json`] atomically (see [`crate::io::write_atomic`]).
    pub fn write_json(&self, path: impl AsRef<Path>) -> Result<()> {
        write_atomic(path.as_ref(), self.to_json()?.as_bytes())
    }
}
