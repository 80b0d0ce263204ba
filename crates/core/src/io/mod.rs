//! Files: atomic writes, and JSON that keeps NaN and infinities.

mod atomic;
pub mod json_float;

pub use atomic::write_atomic;
