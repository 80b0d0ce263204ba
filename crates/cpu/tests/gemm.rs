//! The CPU backend's GEMM (`Backend::linear` without bias or activation) against a naive
//! f64 loop, on awkward shapes: ones, primes, every transpose, an empty inner dimension, and
//! products large enough to be split over threads.

use downhill_core::{Backend, MatmulDims};
use downhill_cpu::CpuBackend;

/// Uniform values in [-1, 1) from a seeded LCG (exactly representable in f32).
fn values(seed: u64, len: usize) -> Vec<f32> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 40) as f32) / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// Element (i, j) of op(X) for row-major stored X of op-shape rows x cols.
fn at(x: &[f32], i: usize, j: usize, rows: usize, cols: usize, trans: bool) -> f64 {
    f64::from(if trans {
        x[j * rows + i]
    } else {
        x[i * cols + j]
    })
}

/// Runs one product and compares every element with the f64 loop. Tolerance: a dot product
/// of length k summed in f32 (in any order, with or without FMA) is within
/// `k·ε·Σ|a_ip·b_pj|` of the exact value (Higham, Accuracy and Stability, §3.1: γ_k ≤ k·u/(1−k·u)
/// with u = ε/2, so k·ε covers it for every k here); the f64 reference's own error is ~1e-16
/// relative and each product of two f32 is exact in f64. k = 0 must give exact zeros.
fn check(m: usize, k: usize, n: usize, trans_a: bool, trans_b: bool) {
    let cpu = CpuBackend::new();
    let a = values((m * 131 + k * 7 + n) as u64, m * k);
    let b = values((n * 137 + k * 11 + m + 1) as u64, k * n);
    let d = MatmulDims {
        m,
        k,
        n,
        trans_a,
        trans_b,
    };
    let (sa, sb) = (cpu.upload(&a).unwrap(), cpu.upload(&b).unwrap());
    let c = cpu
        .download(&cpu.linear(&sa, &sb, None, d, None).unwrap())
        .unwrap();
    assert_eq!(c.len(), m * n);
    for i in 0..m {
        for j in 0..n {
            let (mut exact, mut magnitude) = (0.0f64, 0.0f64);
            for p in 0..k {
                let t = at(&a, i, p, m, k, trans_a) * at(&b, p, j, k, n, trans_b);
                exact += t;
                magnitude += t.abs();
            }
            let tol = k as f64 * f64::from(f32::EPSILON) * magnitude;
            let got = f64::from(c[i * n + j]);
            assert!(
                (got - exact).abs() <= tol,
                "[{m},{k}]x[{k},{n}] ta={trans_a} tb={trans_b} at ({i},{j}): {got} vs {exact} (tol {tol:e})"
            );
        }
    }
}

#[test]
fn awkward_shapes_every_transpose() {
    let sizes = [1, 2, 3, 7, 16, 17, 31, 97];
    for &m in &sizes {
        for &k in &[0, 1, 5, 17, 64, 131] {
            for &n in &sizes {
                for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                    check(m, k, n, ta, tb);
                }
            }
        }
    }
}

/// The first five are above the backend's threading cut-off (2^22 multiply-adds), so split
/// over threads on a multi-core machine: W2's shapes, and primes around the kernel's
/// tiles; the last two are long thin products on one thread.
#[test]
fn threaded_sizes() {
    for (m, k, n, ta, tb) in [
        (128, 512, 784, false, true),
        (784, 128, 512, true, false),
        (128, 784, 512, false, false),
        (127, 257, 131, false, false),
        (131, 509, 97, true, true),
        (1, 4099, 257, false, true),
        (257, 3, 1031, true, false),
    ] {
        check(m, k, n, ta, tb);
    }
}

/// NaN and ±inf reach every output they touch, as in PyTorch: a NaN in row i of A makes
/// row i of C NaN; an inf in column j of B (against a nonzero entry) makes column j inf or NaN.
#[test]
fn non_finite_inputs_propagate() {
    let cpu = CpuBackend::new();
    let (m, k, n) = (5, 19, 23);
    let mut a = values(1, m * k);
    let mut b = values(2, k * n);
    a[2 * k + 7] = f32::NAN; // row 2
    b[4 * n + 11] = f32::INFINITY; // column 11
    let d = MatmulDims {
        m,
        k,
        n,
        trans_a: false,
        trans_b: false,
    };
    let c = cpu
        .download(
            &cpu.linear(
                &cpu.upload(&a).unwrap(),
                &cpu.upload(&b).unwrap(),
                None,
                d,
                None,
            )
            .unwrap(),
        )
        .unwrap();
    for j in 0..n {
        assert!(c[2 * n + j].is_nan(), "row 2, column {j}: {}", c[2 * n + j]);
    }
    for i in 0..m {
        assert!(
            !c[i * n + 11].is_finite(),
            "row {i}, column 11: {}",
            c[i * n + 11]
        );
        if i != 2 {
            assert!(c[i * n].is_finite());
        }
    }
}
