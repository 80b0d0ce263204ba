//! What the property tests (`fuzz.rs`, `fuzz_backend.rs`) share: values, running one call
//! under `catch_unwind`, and the tally that shows a run did real work.

use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use std::fmt::Debug;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A value: mostly small, sometimes NaN, ±inf, ±3e38, ±0, the smallest subnormal or 1e20.
pub fn value() -> impl Strategy<Value = f32> {
    prop_oneof![
        6 => -4.0f32..4.0,
        1 => prop::sample::select(vec![
            f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 3e38, -3e38, 0.0, -0.0, 1e-45, 1e20,
        ]),
    ]
}

/// Calls that returned `Ok` and `Err` over a whole run, to show the programs did real
/// work and really gave bad input.
#[derive(Default)]
pub struct Tally {
    pub ok: usize,
    pub err: usize,
}

impl Tally {
    /// Runs `f` for `call`, counting its result; a panic fails the case with its message.
    pub fn run<C: Debug, T>(
        &mut self,
        call: &C,
        f: impl FnOnce() -> downhill::Result<T>,
    ) -> Result<(), TestCaseError> {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(Ok(_)) => self.ok += 1,
            Ok(Err(_)) => self.err += 1,
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                return Err(TestCaseError::fail(format!("{call:?} panicked: {msg}")));
            }
        }
        Ok(())
    }
}

/// `cases`, or `DOWNHILL_FUZZ_CASES=N` for a longer hunt than CI's.
pub fn cases(default: u32) -> u32 {
    std::env::var("DOWNHILL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `cases` cases of `strategy` through `case` (which counts into the tally), panics
/// with the shrunk failure, and returns the tally.
pub fn run_cases<S: Strategy>(
    what: &str,
    cases: u32,
    strategy: &S,
    case: impl Fn(S::Value, &mut Tally) -> Result<(), TestCaseError>,
) -> Tally {
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        ..ProptestConfig::default()
    });
    let tally = std::cell::RefCell::new(Tally::default());
    if let Err(e) = runner.run(strategy, |v| case(v, &mut tally.borrow_mut())) {
        panic!("{what}: {e}");
    }
    let t = tally.into_inner();
    eprintln!("{what}: {} calls succeeded, {} were refused", t.ok, t.err);
    t
}
