//! The comparison helpers of the parity suites (tests/parity.rs, tests/parity_nonfinite.rs):
//! the tolerances and the checker live in the library (`downhill::doctor::tolerance`, shared
//! with `downhill-doctor`) and are re-exported here; the panicking helpers below are the
//! tests' own.

pub use downhill::doctor::tolerance::*;

/// Panics with [`check_close`]'s report unless every element is within tolerance.
pub fn assert_close(name: &str, cpu: &[f32], gpu: &[f32], atol: f64, rtol: f64) {
    match check_close(name, cpu, gpu, atol, rtol) {
        Ok(worst) => eprintln!("{name}: ok (worst |Δ|/allowed {worst:.3})"),
        Err(report) => panic!("{report}"),
    }
}

/// Collects the outcome of many comparisons, so one run lists every failure.
pub struct Checks {
    count: usize,
    failures: Vec<String>,
    worst: (f64, String),
}

impl Default for Checks {
    fn default() -> Checks {
        Checks {
            count: 0,
            failures: Vec::new(),
            worst: (-1.0, String::new()),
        }
    }
}

impl Checks {
    pub fn close(&mut self, name: &str, cpu: &[f32], gpu: &[f32], tol: Tol) {
        self.count += 1;
        match check_close(name, cpu, gpu, tol.atol, tol.rtol) {
            Ok(ratio) if ratio > self.worst.0 => self.worst = (ratio, name.to_string()),
            Ok(_) => {}
            Err(report) => self.failures.push(report),
        }
    }

    pub fn fail(&mut self, message: String) {
        self.count += 1;
        self.failures.push(message);
    }

    pub fn finish(self, what: &str) {
        eprintln!(
            "{what}: {} comparisons, {} failed; worst passing |Δ|/allowed {:.3} ({})",
            self.count,
            self.failures.len(),
            self.worst.0,
            self.worst.1
        );
        assert!(
            self.failures.is_empty(),
            "{what}: {} of {} comparisons failed:\n{}",
            self.failures.len(),
            self.count,
            self.failures.join("\n")
        );
    }
}
