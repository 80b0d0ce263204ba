//! `downhill-doctor`'s library: for now the parity tolerances it shares with the tests.

pub mod tolerance;
