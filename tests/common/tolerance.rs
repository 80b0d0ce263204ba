//! The comparison helpers of the parity suites (tests/parity.rs, tests/parity_nonfinite.rs):
//! tolerances `|gpu − cpu| <= atol + rtol·|cpu|` derived from f32 rounding and Vulkan's
//! precision rules (tests/parity.rs explains each), element-by-element checks that report
//! the worst element, and a collector that lists every failed comparison of a test.
//! Non-finite values match only themselves: NaN where the other side is NaN, the same
//! infinity.

/// f32 unit roundoff, 2^-24.
pub const U: f64 = 5.960_464_477_539_063e-8;
/// One ulp at 1.0, 2^-23.
pub const EPS: f64 = 1.192_092_895_507_812_5e-7;
/// Vulkan's absolute bound for `log` on [0.5, 2], 2^-21.
pub const LOG_ABS: f64 = 4.768_371_582_031_25e-7;

/// `|gpu − cpu| <= atol + rtol·|cpu|`.
#[derive(Clone, Copy, Debug)]
pub struct Tol {
    pub atol: f64,
    pub rtol: f64,
}

impl Tol {
    pub const fn new(atol: f64, rtol: f64) -> Tol {
        Tol { atol, rtol }
    }
    pub const fn abs(atol: f64) -> Tol {
        Tol { atol, rtol: 0.0 }
    }
    pub const fn rel(rtol: f64) -> Tol {
        Tol { atol: 0.0, rtol }
    }
}

/// One correctly rounded operation, a selection or a copy: bit-identical on both sides.
pub const EXACT: Tol = Tol::new(0.0, 0.0);

/// One division (Vulkan: within 2.5 ulp; CPU: correctly rounded, 0.5 ulp) plus at most one
/// correctly rounded operation: 3.5 ulp, rounded up to 4·EPS relative.
pub const DIV: Tol = Tol::rel(4.0 * EPS);

/// exp, log, sqrt, powf, tanh, sigmoid, gelu on the ranges used here (|exp argument| <= 6;
/// gelu's `exp(−x²/2)` reaches −8, but on values below 4e-4 whose 19 ulp are negligible).
/// Vulkan allows exp `3 + 2·6 = 15` ulp, a following division 2.5 ulp, the CPU 1 ulp:
/// about 19 ulp = 2.3e-6 relative; rtol 1e-5 (84 ulp) leaves a factor 4 for pow's
/// `exp2(y·log2 x)` (argument error `|y|·3 ulp·|log2 x|`, |y| <= 3, |log2 x| <= 2). atol
/// 1e-6 covers the absolute errors near zero: log's 2^-21 = 4.8e-7 on [0.5, 2] (where
/// ln x → 0), tanh's `(e^x − e^-x)/(e^x + e^-x)` cancellation (≈ 4e-7 near 0) and gelu's
/// erf approximation (Abramowitz–Stegun 7.1.26, |error| <= 1.5e-7, times 0.5·|x| <= 2 for
/// |x| <= 4: 3e-7).
pub const TRANSC: Tol = Tol::new(1e-6, 1e-5);

/// Backward of the TRANSC ops: `dx = dy·g(x, y)` with the saved output `y` off by at most
/// TRANSC (`1e-6 + 1e-5·|y|`, <= 1.1e-5 where |y| <= 1), |dy| <= 1.5 and `|∂g/∂y| <= 2`
/// (tanh: `1 − y²` → `2|y|`; sigmoid: `y(1 − y)` → `|1 − 2y|`; exp, sqrt, powf and gelu
/// carry it relative): `1.5·2·1.1e-5 = 3.3e-5` absolute, plus TRANSC relative and 4 ulp of
/// the products.
pub const TRANSC_BWD: Tol = Tol::new(3.0 * (TRANSC.atol + TRANSC.rtol), TRANSC.rtol + 4.0 * EPS);

/// Longest chain of additions in a GPU reduction of `n` terms.
pub fn depth(n: usize) -> f64 {
    (n.div_ceil(256) + 8) as f64
}

/// |Δ| of a sum of `n` terms each at most `term` in magnitude: the GPU's `depth(n)·U·Σ|x|`
/// plus the CPU's final rounding of its f64 sum.
pub fn sum_atol(n: usize, term: f64) -> f64 {
    (depth(n) + 1.0) * U * n as f64 * term
}

/// |Δ| of two dot products of length `k` with |a| <= `a`, |b| <= `b` (module comment).
pub fn dot_atol(k: usize, a: f64, b: f64) -> f64 {
    let kf = k as f64;
    2.0 * (kf * U / (1.0 - kf * U)) * kf * a * b
}

/// The tolerance of an input gradient that is a sum over `len` broadcast positions of terms
/// at most `term` in magnitude, each carrying the elementwise error `per`.
pub fn summed(len: usize, term: f64, per: Tol) -> Tol {
    if len == 1 {
        per
    } else {
        Tol::abs(sum_atol(len, term) + len as f64 * (per.atol + per.rtol * term))
    }
}

/// Softmax forward, relative: exp(x − max) with |x − max| <= 6 (15 ulp on Vulkan), the
/// row sum of positive terms (its own 15 ulp plus depth(cols)·U), a division (2.5 ulp) and
/// the CPU's 1.5 ulp: 34 ulp + depth·U.
pub fn softmax_rtol(cols: usize) -> f64 {
    34.0 * EPS + depth(cols) * U
}

/// Log-softmax forward, absolute: y = (x − max) − ln s, where x − max rounds identically on
/// both sides; ln s is off by s's relative error (15 ulp + depth·U) plus log's own 3 ulp of
/// ln s <= ln(cols) + 6 (or 2^-21 on [0.5, 2]), and the final subtraction rounds to half an
/// ulp of |y| <= ln(cols) + 12 on each side.
pub fn log_softmax_atol(cols: usize) -> f64 {
    let ln = (cols as f64).ln();
    15.0 * EPS + depth(cols) * U + (3.0 * EPS * (ln + 6.0)).max(LOG_ABS) + EPS * (ln + 12.0)
}

/// Checks `|gpu − cpu| <= atol + rtol·|cpu|` for every element. `Ok` holds the worst
/// `|Δ| / allowed` ratio (diagnostics); `Err` a report: how many elements fail, the worst
/// one (by that ratio) and the largest absolute error. Non-finite values match only
/// themselves (both NaN, or the same infinity).
pub fn check_close(
    name: &str,
    cpu: &[f32],
    gpu: &[f32],
    atol: f64,
    rtol: f64,
) -> Result<f64, String> {
    if cpu.len() != gpu.len() {
        return Err(format!(
            "{name}: the CPU gave {} elements, the GPU {}",
            cpu.len(),
            gpu.len()
        ));
    }
    let mut failures = 0usize;
    let (mut max_abs, mut max_abs_at) = (0.0f64, 0usize);
    let (mut worst, mut worst_at) = (0.0f64, 0usize);
    for (i, (&c, &g)) in cpu.iter().zip(gpu).enumerate() {
        // The tolerance applies to finite pairs only: with a non-finite reference,
        // `rtol·|cpu|` would be NaN or infinite and let any value through.
        let (diff, allowed) = if c.is_finite() && g.is_finite() {
            ((g as f64 - c as f64).abs(), atol + rtol * (c as f64).abs())
        } else if (c.is_nan() && g.is_nan()) || c == g {
            (0.0, 0.0)
        } else {
            (f64::INFINITY, 0.0)
        };
        let ratio = if diff == 0.0 {
            0.0
        } else if allowed > 0.0 {
            diff / allowed
        } else {
            f64::INFINITY
        };
        if diff > allowed {
            failures += 1;
        }
        if diff > max_abs {
            (max_abs, max_abs_at) = (diff, i);
        }
        if ratio > worst {
            (worst, worst_at) = (ratio, i);
        }
    }
    if failures == 0 {
        return Ok(worst);
    }
    Err(format!(
        "{name}: {failures} of {} elements outside |gpu - cpu| <= {atol:.3e} + {rtol:.3e}·|cpu|; \
         worst at index {worst_at}: cpu {} gpu {} (|Δ| {:.3e}, {worst:.3} × allowed); \
         max |Δ| {max_abs:.3e} at index {max_abs_at} (cpu {} gpu {})",
        cpu.len(),
        cpu[worst_at],
        gpu[worst_at],
        (gpu[worst_at] as f64 - cpu[worst_at] as f64).abs(),
        cpu[max_abs_at],
        gpu[max_abs_at],
    ))
}

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
