//! The one error type of the library: every fallible call returns [`Result`].

use thiserror::Error;

/// Everything that can go wrong in downhill, each variant naming what was wrong.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum Error {
    /// Two shapes do not fit an operation, e.g.
    /// `matmul: [32, 20] x [64, 1]: inner dimensions 20 and 64 differ`.
    #[error("{op}: {detail}")]
    Shape { op: &'static str, detail: String },

    /// A data set, batch or tensor that must hold at least one element holds none.
    #[error("empty data: {0}")]
    EmptyData(String),

    /// Input data holds a NaN or an infinity where finite values are required.
    #[error("non-finite value: {0}")]
    NonFinite(String),

    /// Training diverged: the loss of an epoch was NaN or infinite (usually a learning rate
    /// too high). `history` holds every epoch up to and including that one, so the run
    /// that blew up can still be plotted and inspected.
    #[error(
        "the training loss became {loss} in epoch {epoch}: the run diverged (is the learning \
         rate too high?)"
    )]
    Diverged {
        epoch: usize,
        loss: f32,
        history: Box<crate::train::History>,
    },

    /// An optimizer or training hyperparameter is out of its valid range.
    #[error("invalid hyperparameter {name} = {value}: {reason}")]
    Hyperparameter {
        name: &'static str,
        value: f64,
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
    Backend { backend: String, detail: String },

    /// A tensor larger than the device can hold or bind.
    #[error("too large for the device: {0}")]
    TooLarge(String),

    /// A file could not be read or written.
    #[error("i/o error on {path}: {detail}")]
    Io { path: String, detail: String },

    /// A file was read but its content is not what it should be.
    #[error("corrupt file {path}: {detail}")]
    Corrupt { path: String, detail: String },
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

    /// Shorthand for [`Error::Backend`].
    pub fn backend(backend: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Backend {
            backend: backend.into(),
            detail: detail.into(),
        }
    }
}
