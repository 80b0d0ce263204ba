//! `CsvLogger`: the history so far as a CSV file after every epoch.

use crate::error::Result;
use crate::io::write_atomic;
use crate::train::callback::{Callback, TrainContext};
use crate::train::history::{EpochRecord, History};
use std::path::PathBuf;

/// Keras' `CSVLogger`: after each epoch, writes the epochs so far to `path` in
/// [`History::to_csv`]'s layout (atomically: a reader sees the previous epoch's file or
/// this one's, never half of one). With `append`, the rows follow those already in the
/// file (its header is kept), as when training resumes.
#[derive(Clone, Debug)]
pub struct CsvLogger {
    path: PathBuf,
    append: bool,
    /// The file's earlier rows, read at the start of training when appending.
    earlier: String,
    history: History,
}

impl CsvLogger {
    /// Writes the history to `path` after every epoch, replacing what the file held.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        CsvLogger {
            path: path.into(),
            append: false,
            earlier: String::new(),
            history: History::default(),
        }
    }

    /// Keep the rows already in the file and add this run's after them.
    pub fn append(mut self, append: bool) -> Self {
        self.append = append;
        self
    }
}

impl Callback for CsvLogger {
    fn on_train_begin(&mut self, _ctx: &mut TrainContext) -> Result<()> {
        self.history = History::default();
        self.earlier = match std::fs::read_to_string(&self.path) {
            Ok(text) if self.append => text,
            _ => String::new(),
        };
        Ok(())
    }

    fn on_epoch_end(&mut self, record: &EpochRecord, ctx: &mut TrainContext) -> Result<()> {
        self.history.records.push(record.clone());
        // The context's history already holds this epoch, with its time.
        let seconds = ctx.history.seconds.last().copied().unwrap_or(0.0);
        self.history.seconds.push(seconds);
        let csv = self.history.to_csv();
        let text = if self.earlier.is_empty() {
            csv
        } else {
            // The header is already in the file.
            let rows = csv.split_once('\n').map_or("", |(_, rows)| rows);
            format!("{}{rows}", self.earlier)
        };
        write_atomic(&self.path, text.as_bytes())
    }
}
