//! The tolerances of CPU-vs-GPU parity, shared by the parity suites (tests/parity.rs,
//! tests/parity_nonfinite.rs and the others, through `tests/common/tolerance.rs`) and by
//! `downhill-doctor`, so both judge a device by the same bounds. Moved here from the tests
//! unchanged.
//!
//! The comparison helpers of the parity suites:
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
    /// The absolute part.
    pub atol: f64,
    /// The part relative to the reference value.
    pub rtol: f64,
}

impl Tol {
    /// `atol + rtol·|cpu|`.
    pub const fn new(atol: f64, rtol: f64) -> Tol {
        Tol { atol, rtol }
    }
    /// An absolute tolerance only.
    pub const fn abs(atol: f64) -> Tol {
        Tol { atol, rtol: 0.0 }
    }
    /// A relative tolerance only.
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

/// |Δ| of two dot products of length `k` with |a| <= `a`, |b| <= `b`: each side is within
/// `γ_k·Σ|a_l·b_l|` of the exact value, `γ_k = kU/(1 − kU)`, in any order and with or
/// without FMA (Higham, *Accuracy and Stability of Numerical Algorithms*, §3.1).
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

// ---- batch norm and layer norm (tests/norm_parity.rs derives these in its module comment)

use crate::NormDims;

/// The longest chain of f32 additions in the GPU's sum of `n` terms: the tree kernels'
/// `depth(n)` for long channels, the serial kernels' blocks of 16 (`16 + ceil(n/16)`) for
/// channels of at most 256 (crates/gpu/src/ops/norm.rs, `SERIAL_MAX`).
pub fn norm_depth(n: usize) -> f64 {
    if n <= 256 {
        (n.min(16) + n.div_ceil(16)) as f64
    } else {
        depth(n)
    }
}

/// |Δ| of a sum of `n` terms at most `term` in magnitude (the GPU's chain, the CPU's final
/// rounding of its f64 sum).
fn norm_sum_atol(n: usize, term: f64) -> f64 {
    (norm_depth(n) + 1.0) * U * n as f64 * term
}

fn max_abs(v: &[f32]) -> f64 {
    v.iter()
        .filter(|v| v.is_finite())
        .fold(0.0f64, |m, &v| m.max(v.abs() as f64))
}

/// `[forward, dx, dγ, dβ]` for input `x` viewed as `dims`, affine parameters per channel
/// (or per inner position with `inner_affine`) and upstream gradient `dy`.
pub fn norm_tolerances(
    x: &[f32],
    d: NormDims,
    affine: Option<(&[f32], &[f32])>,
    inner_affine: bool,
    dy: &[f32],
) -> [Tol; 4] {
    let n = d.outer * d.inner;
    let depth = norm_depth(n);
    // Per-channel statistics in f64: k = max |x|·rstd, x̂ₘ = max |x̂|, rstdₘ.
    let (mut k, mut xhat_max, mut rstd_max) = (0.0f64, 0.0f64, 0.0f64);
    for c in 0..d.channels {
        let vals: Vec<f64> = (0..d.outer)
            .flat_map(|a| (0..d.inner).map(move |b| (a * d.channels + c) * d.inner + b))
            .map(|i| x[i] as f64)
            .filter(|v| v.is_finite())
            .collect();
        let mean = vals.iter().sum::<f64>() / vals.len().max(1) as f64;
        let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / vals.len().max(1) as f64;
        let rstd = 1.0 / (var + 1e-5).sqrt();
        rstd_max = rstd_max.max(rstd);
        for v in &vals {
            k = k.max(v.abs() * rstd);
            xhat_max = xhat_max.max((v - mean).abs() * rstd);
        }
    }
    let (gamma_max, beta_max) = match affine {
        Some((g, b)) => (max_abs(g), max_abs(b)),
        None => (1.0, 0.0),
    };
    let dy_max = max_abs(dy);
    let fwd = Tol::new(
        2.0 * depth * U * k * gamma_max + 4.0 * EPS * (xhat_max * gamma_max + beta_max),
        (depth + 16.0) * EPS,
    );
    let delta = 2.0 * depth * U * k + (depth + 16.0) * EPS * xhat_max;
    let g_max = dy_max * gamma_max;
    let dx = Tol::new(
        rstd_max
            * g_max
            * (depth * U * (1.0 + 2.0 * xhat_max * xhat_max)
                + 2.0 * delta * xhat_max
                + 8.0 * EPS * (1.0 + xhat_max)),
        16.0 * EPS,
    );
    // Terms per affine parameter: per channel n, per inner position A·C.
    let m = if inner_affine {
        d.outer * d.channels
    } else {
        n
    };
    let dgamma = Tol::abs(norm_sum_atol(m, dy_max * xhat_max) + m as f64 * dy_max * delta);
    let dbeta = Tol::abs(norm_sum_atol(m, dy_max));
    [fwd, dx, dgamma, dbeta]
}

// ---- optimizers

/// The parameter tolerance of `steps` optimizer steps from identical gradients, as
/// tests/parity.rs derives it for its elementwise optimizers: per step each side computes
/// an update `u` with at most `roundings` roundings apart (20 there: ~12 for the update,
/// Vulkan's sqrt and division within 3 ulp, a norm clip's 8), the state carries one more
/// ulp per step taken, and `p − u` rounds to one ulp of `p`; weight decay feeding `Δp`
/// back is covered by doubling:
/// `2·(steps·EPS·max|p| + (roundings + steps)·EPS·path)`, with `path` = `Σ_t max|u_t|` of
/// the reference run and `max_abs` its largest |parameter|.
pub fn optimizer_atol(steps: usize, max_abs: f64, path: f64, roundings: f64) -> f64 {
    let s = steps as f64;
    2.0 * (s * EPS * max_abs + (roundings + s) * EPS * path)
}
