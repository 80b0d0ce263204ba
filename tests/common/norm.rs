//! The tolerances of batch norm and layer norm against the CPU (tests/norm_parity.rs
//! derives them in its module comment) or against an f64 reference
//! (tests/norm_reference.rs), computed from a case's data.

use super::tolerance::{depth, Tol, EPS, U};
use downhill::prelude::*;
use downhill::NormDims;

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
fn sum_atol(n: usize, term: f64) -> f64 {
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
    let dgamma = Tol::abs(sum_atol(m, dy_max * xhat_max) + m as f64 * dy_max * delta);
    let dbeta = Tol::abs(sum_atol(m, dy_max));
    [fwd, dx, dgamma, dbeta]
}

/// `n` seeded normal values (the library's generator, on the CPU).
pub fn normal(n: usize, mean: f32, std: f32, seed: u64) -> Vec<f32> {
    Tensor::rand_normal(&super::cpu(), [n], mean, std, seed)
        .unwrap()
        .to_vec()
        .unwrap()
}

/// `n` seeded values uniform in `[lo, hi)` (the library's generator, on the CPU).
pub fn uniform(n: usize, lo: f32, hi: f32, seed: u64) -> Vec<f32> {
    Tensor::rand_uniform(&super::cpu(), [n], lo, hi, seed)
        .unwrap()
        .to_vec()
        .unwrap()
}
