//! The one error type of the library: every fallible call returns [`Result`].

use thiserror::Error;

/// Everything that can go wrong in downhill, each variant naming what was wrong.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum Error {
    /// Two shapes do not fit an operation, e.g.
    /// `matmul: [32, 20] x [64, 1]: inner dimensions 20 and 64 differ`.
    #[error("{op}: {detail}")]
    Shape {
        /// The operation that refused its inputs (`matmul`, `binary`, `fit`, …).
        op: &'static str,
        /// The shapes involved and why they do not fit.
        detail: String,
    },

    /// A data set, batch or tensor that must hold at least one element holds none.
    #[error("empty data: {0}")]
    EmptyData(String),

    /// Input data holds a NaN or an infinity where finite values are required.
    #[error("non-finite value: {0}")]
    NonFinite(String),

    /// Training diverged: a loss or a gradient turned NaN or infinite. `fit` watches every
    /// step (see `FitConfig::check_every`) and stops at the first bad one; `reason` says
    /// what was non-finite first, where, and what to try. `history` holds every epoch up
    /// to and including that one (the last one partial), so the run that blew up can still
    /// be plotted and inspected.
    #[error("{reason}")]
    Diverged {
        /// The 1-based epoch in which it happened.
        epoch: usize,
        /// The optimizer step (1-based) whose loss or gradient was first non-finite; for a
        /// validation loss, the optimizer's step count at the end of the epoch.
        step: u64,
        /// What was non-finite first.
        cause: Divergence,
        /// The epoch's mean training loss over the steps run before the record was read:
        /// up to the failing step on the CPU (or with `check_every: Some(1)`), up to the
        /// end of the epoch on a GPU by default.
        loss: f32,
        /// The message: what, where, and what to try.
        reason: String,
        /// Every epoch up to and including the one that diverged (the last one partial).
        history: Box<crate::train::History>,
    },

    /// An optimizer or training hyperparameter is out of its valid range.
    #[error("invalid hyperparameter {name} = {value}: {reason}")]
    Hyperparameter {
        /// The hyperparameter's name (`lr`, `momentum`, `clip norm`, …).
        name: &'static str,
        /// As given (printed as the f32 it is: `-0.001`, not its f64 widening).
        value: f32,
        /// The valid range, e.g. `must be a number >= 0`.
        reason: &'static str,
    },

    /// A configuration value that is not a number is invalid (batch size 0, a split of 1.5...).
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A tensor was used with a device other than the one it lives on.
    #[error("device mismatch: {0}")]
    DeviceMismatch(String),

    /// `backward` was called on something that cannot start a backward pass.
    #[error("autodiff: {0}")]
    Autodiff(String),

    /// An optimizer was stepped after its parameters were moved into another optimizer.
    #[error("stale parameters: {0}")]
    StaleParameters(String),

    /// No GPU adapter could be found; the message says how to get one.
    #[error("no GPU adapter: {0}")]
    NoAdapter(String),

    /// The device refused or failed an operation (validation, out of memory, lost device).
    #[error("backend {backend}: {detail}")]
    Backend {
        /// The backend that failed (`cpu`, `gpu`).
        backend: String,
        /// What failed and why.
        detail: String,
    },

    /// A tensor larger than the device can hold or bind.
    #[error("too large for the device: {0}")]
    TooLarge(String),

    /// A file could not be read or written.
    #[error("i/o error on {}: {detail}", shown_path(path))]
    Io {
        /// The file (or directory) concerned.
        path: String,
        /// What went wrong: the operating system's message, or why the content could not be
        /// encoded.
        detail: String,
    },

    /// A file was read but its content is not what it should be: not a safetensors file,
    /// truncated, or metadata that contradicts itself.
    #[error("corrupt file {path}: {detail}")]
    Corrupt {
        /// The file that was read.
        path: String,
        /// What is wrong with its content.
        detail: String,
    },

    /// Saved state that is whole but does not fit what it is loaded into: a checkpoint or
    /// weights file of another model (a missing or unexpected tensor, another shape or
    /// dtype), an optimizer state of another optimizer or with other hyperparameters.
    /// `what` names the source (`checkpoint run/ckpt.safetensors`, `optimizer state`),
    /// `detail` every difference found (the first few, and how many more). Nothing was
    /// changed.
    #[error("{what} does not fit: {detail}")]
    Mismatch {
        /// The source that was loaded (`checkpoint run/ckpt.safetensors`, `optimizer state`).
        what: String,
        /// The differences found: the first six, then how many more.
        detail: String,
    },
}

/// A path as a message shows it: an empty one says so instead of vanishing.
fn shown_path(path: &str) -> String {
    if path.is_empty() {
        "an empty path".into()
    } else {
        path.to_string()
    }
}

/// What turned non-finite first when training diverged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Divergence {
    /// The training loss of a step.
    Loss,
    /// A gradient, while that step's loss was still finite (exploding gradients).
    Gradient,
    /// The validation loss at the end of an epoch.
    ValidationLoss,
    /// A parameter, written by the last update of a run (no later step's loss or
    /// gradient could show it).
    Parameter,
}

/// `Result` with downhill's [`Error`](enum@Error).
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Shorthand for [`Error::Shape`].
    pub fn shape(op: &'static str, detail: impl Into<String>) -> Self {
        Error::Shape {
            op,
            detail: detail.into(),
        }
    }

    /// The same error about the part of a call named `what`, e.g. "validation data": its
    /// message gains that prefix (errors that carry no free text are returned as they are).
    pub fn context(self, what: &str) -> Error {
        let prefix = |s: String| format!("{what}: {s}");
        match self {
            Error::Shape { op, detail } => Error::Shape {
                op,
                detail: prefix(detail),
            },
            Error::EmptyData(s) => Error::EmptyData(prefix(s)),
            Error::NonFinite(s) => Error::NonFinite(prefix(s)),
            Error::Config(s) => Error::Config(prefix(s)),
            Error::DeviceMismatch(s) => Error::DeviceMismatch(prefix(s)),
            Error::TooLarge(s) => Error::TooLarge(prefix(s)),
            other => other,
        }
    }

    /// An [`Error::Mismatch`] listing `problems` (the first six, then how many more).
    pub fn mismatch(what: impl Into<String>, problems: &[String]) -> Self {
        const SHOWN: usize = 6;
        let mut detail = problems[..problems.len().min(SHOWN)].join("; ");
        if problems.len() > SHOWN {
            detail += &format!("; and {} more", problems.len() - SHOWN);
        }
        Error::Mismatch {
            what: what.into(),
            detail,
        }
    }

    /// Shorthand for [`Error::Backend`].
    pub fn backend(backend: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Backend {
            backend: backend.into(),
            detail: detail.into(),
        }
    }
}
