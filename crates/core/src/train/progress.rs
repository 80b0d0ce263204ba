//! What `fit` prints: Keras' verbose levels. 0 nothing; 2 one line per epoch; 1 a live bar
//! within each epoch (indicatif) on a terminal, ending in the epoch's line, and the lines
//! of level 2 elsewhere (a log file, a pipe, CI).
//!
//! The bar's running loss and metrics come from the device's accumulators, read at most
//! every [`REFRESH`]: never more than a few read-backs a second, so it cannot slow a step.

use super::evaluate::Evaluation;
use super::history::EpochRecord;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How often the bar reads the running figures back.
pub const REFRESH: Duration = Duration::from_millis(200);

/// How often the bar is told its position: a step of a small model takes microseconds,
/// and even indicatif's rate-limited update costs about that much when done every step.
pub const TICK: Duration = Duration::from_millis(50);

/// `Epoch 3/50` then `32/32 - 0.04s - 1.2ms/step - loss: 0.6931 - accuracy: 0.5120 ...`
pub fn epoch_line(record: &EpochRecord, epochs: usize, steps: usize, seconds: f64) -> String {
    let per_step = seconds / steps.max(1) as f64;
    let per_step = if per_step >= 1e-3 {
        format!("{:.1}ms/step", per_step * 1e3)
    } else {
        format!("{:.0}us/step", per_step * 1e6)
    };
    let mut line = format!(
        "Epoch {}/{epochs}\n{steps}/{steps} - {seconds:.2}s - {per_step} - loss: {}",
        record.epoch,
        figure(record.loss)
    );
    for (name, value) in &record.metrics {
        line += &format!(" - {name}: {}", figure(*value));
    }
    if let Some(v) = record.val_loss {
        line += &format!(" - val_loss: {}", figure(v));
    }
    for (name, value) in &record.val_metrics {
        line += &format!(" - val_{name}: {}", figure(*value));
    }
    line
}

/// Four decimals, or the word for a value that is not a number.
fn figure(v: f32) -> String {
    if v.is_finite() {
        format!("{v:.4}")
    } else {
        v.to_string() // NaN, inf, -inf
    }
}

/// The running figures as the bar shows them.
fn running_line(e: &Evaluation) -> String {
    let mut line = format!("loss: {}", figure(e.loss));
    for (name, value) in &e.metrics {
        line += &format!(" - {name}: {}", figure(*value));
    }
    line
}

/// Whether verbose level 1 draws a bar: on a terminal, unless `DOWNHILL_PROGRESS=lines`;
/// `DOWNHILL_PROGRESS=bar` asks for it where stdout is not detected as one (some IDE
/// consoles; indicatif then draws only if it finds a terminal after all).
fn bar_wanted() -> bool {
    match std::env::var("DOWNHILL_PROGRESS").as_deref() {
        Ok("bar") => true,
        Ok("lines") => false,
        _ => std::io::stdout().is_terminal(),
    }
}

/// The printer of one `fit` call.
pub struct Progress {
    verbose: u8,
    bar_enabled: bool,
    last_epoch: usize,
    bar: Option<ProgressBar>,
    last_refresh: Instant,
    last_tick: Instant,
}

impl Progress {
    /// `last_epoch`: the number the last epoch of this call will have.
    pub fn new(verbose: u8, last_epoch: usize) -> Progress {
        Progress {
            verbose,
            bar_enabled: verbose == 1 && bar_wanted(),
            last_epoch,
            bar: None,
            last_refresh: Instant::now(),
            last_tick: Instant::now(),
        }
    }

    pub fn start_epoch(&mut self, epoch: usize, steps: usize) {
        if !self.bar_enabled {
            return;
        }
        println!("Epoch {epoch}/{}", self.last_epoch);
        let bar = ProgressBar::with_draw_target(Some(steps as u64), ProgressDrawTarget::stdout());
        let style = ProgressStyle::with_template("{pos}/{len} [{bar:30}] ETA {eta} - {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        self.bar = Some(bar);
        self.last_refresh = Instant::now();
    }

    /// Whether the running figures are due (read them only then).
    pub fn wants_figures(&self) -> bool {
        self.bar.is_some() && self.last_refresh.elapsed() >= REFRESH
    }

    /// After step `done` of the epoch, with the running figures when they were due.
    pub fn step(&mut self, done: usize, figures: Option<Evaluation>) {
        let Some(bar) = &self.bar else {
            return;
        };
        if figures.is_none() && self.last_tick.elapsed() < TICK {
            return;
        }
        self.last_tick = Instant::now();
        bar.set_position(done as u64);
        if let Some(e) = figures {
            bar.set_message(running_line(&e));
            self.last_refresh = Instant::now();
        }
    }

    /// Lines said after an epoch's (the telemetry's diagnoses), at verbose ≥ 1.
    pub fn notes(&self, diagnoses: &[super::Diagnosis]) {
        if self.verbose >= 1 {
            for d in diagnoses {
                println!("  diagnosis: {}", d.message);
            }
        }
    }

    pub fn end_epoch(&mut self, record: &EpochRecord, steps: usize, seconds: f64) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            // The header was printed when the bar started: only the figures remain.
            let line = epoch_line(record, self.last_epoch, steps, seconds);
            println!(
                "{}",
                line.split_once('\n').map_or(line.as_str(), |(_, l)| l)
            );
        } else if self.verbose >= 1 {
            println!("{}", epoch_line(record, self.last_epoch, steps, seconds));
        }
    }
}
