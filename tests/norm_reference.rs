//! Batch norm, layer norm and dropout against references written here independently:
//! naive f64 loops for the normalisations (forward, the backward through the full
//! Jacobian, evaluation mode, three steps of running statistics with PyTorch's formulas),
//! Random123's published known-answer vectors and a u64 implementation for Philox, and a
//! statistical test of dropout's keep fraction. Each runs on the CPU and on the GPU.
//!
//! PyTorch's formulas (torch.nn.BatchNorm1d/2d, torch.nn.LayerNorm, F.dropout):
//! * training: `y = (x − μ_B) / sqrt(σ²_B + eps)·γ + β` with the batch mean `μ_B` and
//!   biased variance `σ²_B` per channel over `n = N·(H·W)` values;
//! * running statistics: `r_μ ← (1 − m)·r_μ + m·μ_B`, `r_σ² ← (1 − m)·r_σ² + m·σ²_B·n/(n − 1)`
//!   with `m = momentum`, or `m = 1 / num_batches_tracked` (after its increment) for
//!   `momentum=None`; evaluation: `y = (x − r_μ) / sqrt(r_σ² + eps)·γ + β`;
//! * layer norm: the same per sample over the trailing `normalized_shape`, `γ`, `β` of
//!   that shape, no running statistics;
//! * dropout: `x · mask / (1 − p)` with `P(mask = 1) = 1 − p`.
//!
//! Tolerances: the GPU's, from tests/common/norm.rs (derived in tests/norm_parity.rs); an
//! f64 reference is closer to the CPU than the CPU is to the GPU, so the same bound holds.

mod common;

use common::devices;

use common::norm::{norm_tolerances, normal, uniform};
use common::tolerance::*;
use downhill::philox::{dropout_bits, philox4x32_10};
use downhill::prelude::*;
use downhill::{BatchNormConfig, NormDims, RunningStats};

// ---------------------------------------------------------------- naive f64 normalisation

/// The reference of one channel's normalisation: x̂ in f64 and rstd.
fn normalise(values: &[f64], eps: f64) -> (Vec<f64>, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    let rstd = 1.0 / (var + eps).sqrt();
    (values.iter().map(|v| (v - mean) * rstd).collect(), rstd)
}

/// The indices of channel `c` in `[A, C, B]`.
fn channel(d: NormDims, c: usize) -> Vec<usize> {
    (0..d.outer)
        .flat_map(|a| (0..d.inner).map(move |b| (a * d.channels + c) * d.inner + b))
        .collect()
}

/// Forward and backward in f64: y, dx (through the Jacobian
/// `∂x̂_j/∂x_i = rstd·(δ_ij − 1/n − x̂_i·x̂_j/n)`, summed term by term), dγ, dβ. `gamma_of`
/// maps (channel, flat index) to the parameter index.
struct Reference {
    y: Vec<f32>,
    dx: Vec<f32>,
    dgamma: Vec<f32>,
    dbeta: Vec<f32>,
}

fn reference(
    x: &[f32],
    d: NormDims,
    affine: Option<(&[f32], &[f32])>,
    param_of: impl Fn(usize, usize) -> usize,
    dy: &[f32],
) -> Reference {
    let plen = affine.map_or(0, |(g, _)| g.len());
    let (mut y, mut dx) = (vec![0.0f64; x.len()], vec![0.0f64; x.len()]);
    let (mut dgamma, mut dbeta) = (vec![0.0f64; plen], vec![0.0f64; plen]);
    for c in 0..d.channels {
        let idx = channel(d, c);
        let values: Vec<f64> = idx.iter().map(|&i| x[i] as f64).collect();
        let (xhat, rstd) = normalise(&values, 1e-5);
        let n = idx.len() as f64;
        let gamma = |i: usize| affine.map_or(1.0, |(g, _)| g[param_of(c, i)] as f64);
        for (j, &i) in idx.iter().enumerate() {
            y[i] = xhat[j] * gamma(i) + affine.map_or(0.0, |(_, b)| b[param_of(c, i)] as f64);
            if affine.is_some() {
                dgamma[param_of(c, i)] += dy[i] as f64 * xhat[j];
                dbeta[param_of(c, i)] += dy[i] as f64;
            }
        }
        for (a, &ia) in idx.iter().enumerate() {
            let mut sum = 0.0;
            for (b, &ib) in idx.iter().enumerate() {
                let delta = if a == b { 1.0 } else { 0.0 };
                let jacobian = rstd * (delta - 1.0 / n - xhat[a] * xhat[b] / n);
                sum += dy[ib] as f64 * gamma(ib) * jacobian;
            }
            dx[ia] = sum;
        }
    }
    let narrow = |v: Vec<f64>| v.into_iter().map(|v| v as f32).collect();
    Reference {
        y: narrow(y),
        dx: narrow(dx),
        dgamma: narrow(dgamma),
        dbeta: narrow(dbeta),
    }
}

impl Reference {
    /// Fails unless `y` and the gradients of `x`, `γ` and `β` (in that order) match the
    /// reference: `y` and `dx` within `tol[0]` and `tol[1]`, `dγ` and `dβ` within the
    /// absolute bounds `tol[2]` and `tol[3]`.
    fn assert_matches(
        &self,
        name: &str,
        y: &Tensor,
        grads: &Gradients,
        [x, gamma, beta]: [&Tensor; 3],
        tol: &[Tol; 4],
    ) {
        let grad = |t: &Tensor| grads.to_vec(t).unwrap().unwrap();
        let y = y.to_vec().unwrap();
        assert_close(&format!("{name} y"), &self.y, &y, tol[0].atol, tol[0].rtol);
        let dx = grad(x);
        assert_close(
            &format!("{name} dx"),
            &self.dx,
            &dx,
            tol[1].atol,
            tol[1].rtol,
        );
        let dg = grad(gamma);
        assert_close(
            &format!("{name} dgamma"),
            &self.dgamma,
            &dg,
            tol[2].atol,
            0.0,
        );
        let db = grad(beta);
        assert_close(&format!("{name} dbeta"), &self.dbeta, &db, tol[3].atol, 0.0);
    }
}

#[test]
fn batch_norm_training_matches_the_f64_reference() {
    for shape in [vec![9usize, 4], vec![5, 3, 7], vec![3, 2, 5, 4]] {
        let d = NormDims {
            outer: shape[0],
            channels: shape[1],
            inner: shape[2..].iter().product(),
        };
        let n: usize = shape.iter().product();
        let x = normal(n, -4.0, 3.0, 1);
        let gamma = uniform(d.channels, 0.5, 1.5, 2);
        let beta = uniform(d.channels, -1.0, 1.0, 3);
        let dy = uniform(n, -1.0, 1.0, 4);
        let want = reference(&x, d, Some((&gamma, &beta)), |c, _| c, &dy);
        let tol = norm_tolerances(&x, d, Some((&gamma, &beta)), false, &dy);
        for device in devices() {
            let xt = device.tensor(x.clone(), shape.clone()).unwrap().param();
            let g = device.tensor(gamma.clone(), [d.channels]).unwrap().param();
            let b = device.tensor(beta.clone(), [d.channels]).unwrap().param();
            let y = xt
                .batch_norm(None, Some(&g), Some(&b), BatchNormConfig::default())
                .unwrap();
            let r = device.tensor(dy.clone(), shape.clone()).unwrap();
            let grads = y.mul(&r).unwrap().sum().unwrap().backward().unwrap();
            let name = format!("batch_norm {shape:?} on {}", device.name());
            want.assert_matches(&name, &y, &grads, [&xt, &g, &b], &tol);
        }
    }
}

#[test]
fn layer_norm_matches_the_f64_reference() {
    for (shape, k) in [(vec![6usize, 11], 1usize), (vec![2, 3, 4, 5], 2)] {
        let inner: usize = shape[shape.len() - k..].iter().product();
        let n: usize = shape.iter().product();
        let d = NormDims {
            outer: 1,
            channels: n / inner,
            inner,
        };
        let normalized = shape[shape.len() - k..].to_vec();
        let x = normal(n, 5.0, 0.5, 11);
        let gamma = uniform(inner, 0.5, 1.5, 12);
        let beta = uniform(inner, -1.0, 1.0, 13);
        let dy = uniform(n, -1.0, 1.0, 14);
        let want = reference(&x, d, Some((&gamma, &beta)), |_, i| i % inner, &dy);
        let tol = norm_tolerances(&x, d, Some((&gamma, &beta)), true, &dy);
        for device in devices() {
            let xt = device.tensor(x.clone(), shape.clone()).unwrap().param();
            let g = device
                .tensor(gamma.clone(), normalized.clone())
                .unwrap()
                .param();
            let b = device
                .tensor(beta.clone(), normalized.clone())
                .unwrap()
                .param();
            let y = xt
                .layer_norm(&normalized, Some(&g), Some(&b), 1e-5)
                .unwrap();
            let r = device.tensor(dy.clone(), shape.clone()).unwrap();
            let grads = y.mul(&r).unwrap().sum().unwrap().backward().unwrap();
            let name = format!("layer_norm {shape:?} on {}", device.name());
            want.assert_matches(&name, &y, &grads, [&xt, &g, &b], &tol);
        }
    }
}

#[test]
fn identical_values_normalise_to_zero_and_nan_stays_in_its_row() {
    // Row 0: all 2.5 (variance exactly 0: x̂ = 0, so y = β); row 1: a NaN; row 2: finite.
    let mut x = vec![2.5f32; 7];
    x.extend([1.0, f32::NAN, 3.0, 0.0, 2.0, 5.0, -1.0]);
    x.extend(normal(7, 0.0, 1.0, 5));
    let beta = uniform(7, -1.0, 1.0, 6);
    for device in devices() {
        let xt = device.tensor(x.clone(), [3, 7]).unwrap().param();
        let g = Tensor::full(&device, [7], 2.0).unwrap().param();
        let b = device.tensor(beta.clone(), [7]).unwrap().param();
        let y = xt.layer_norm(&[7], Some(&g), Some(&b), 1e-5).unwrap();
        let yv = y.to_vec().unwrap();
        assert_eq!(
            &yv[..7],
            &beta[..],
            "{}: a constant row gives β",
            device.name()
        );
        assert!(yv[7..14].iter().all(|v| v.is_nan()), "{}", device.name());
        assert!(yv[14..].iter().all(|v| v.is_finite()), "{}", device.name());
        let grads = y.sum().unwrap().backward().unwrap();
        let dx = grads.to_vec(&xt).unwrap().unwrap();
        assert!(
            dx[..7].iter().all(|v| v.is_finite()),
            "{}: {dx:?}",
            device.name()
        );
        assert!(dx[7..14].iter().all(|v| v.is_nan()), "{}", device.name());
        // Batch norm of a constant channel, likewise.
        let bn = device.tensor(vec![4.0; 6], [3, 2]).unwrap();
        let out = bn
            .batch_norm(None, None, None, BatchNormConfig::default())
            .unwrap();
        assert_eq!(out.to_vec().unwrap(), vec![0.0; 6], "{}", device.name());
    }
}

#[test]
fn evaluation_mode_uses_the_running_statistics() {
    let (n, c, l) = (4usize, 3usize, 5usize);
    let x = normal(n * c * l, 1.0, 2.0, 21);
    let rm = vec![0.5f32, -1.0, 2.0];
    let rv = vec![0.25f32, 4.0, 1.5];
    let gamma = vec![1.5f32, -0.5, 0.8];
    let beta = vec![0.1f32, 0.2, -0.3];
    let dy = uniform(n * c * l, -1.0, 1.0, 22);
    let ch = |i: usize| (i / l) % c;
    let scale = |i: usize| gamma[ch(i)] as f64 / (rv[ch(i)] as f64 + 1e-5).sqrt();
    let want: Vec<f32> = (0..x.len())
        .map(|i| ((x[i] as f64 - rm[ch(i)] as f64) * scale(i) + beta[ch(i)] as f64) as f32)
        .collect();
    let want_dx: Vec<f32> = (0..x.len())
        .map(|i| (dy[i] as f64 * scale(i)) as f32)
        .collect();
    let mut want_dgamma = vec![0.0f64; c];
    for i in 0..x.len() {
        let xhat = (x[i] as f64 - rm[ch(i)] as f64) / (rv[ch(i)] as f64 + 1e-5).sqrt();
        want_dgamma[ch(i)] += dy[i] as f64 * xhat;
    }
    let want_dgamma: Vec<f32> = want_dgamma.iter().map(|&v| v as f32).collect();
    // Six elementwise ops, each within 4.5 ulp on Vulkan (sqrt, division) of values at most
    // |x − r_μ|·|scale| + |β| <= 20: 32 ulp of 20; dγ sums 20 terms of |dy·x̂| <= 20.
    let atol = 32.0 * EPS * 20.0;
    for device in devices() {
        let xt = device.tensor(x.clone(), [n, c, l]).unwrap().param();
        let mean = device.tensor(rm.clone(), [c]).unwrap();
        let var = device.tensor(rv.clone(), [c]).unwrap();
        let tracked = Tensor::full(&device, [], 0.0).unwrap();
        let g = device.tensor(gamma.clone(), [c]).unwrap().param();
        let b = device.tensor(beta.clone(), [c]).unwrap().param();
        let running = RunningStats {
            mean: &mean,
            var: &var,
            num_batches_tracked: &tracked,
        };
        let eval = BatchNormConfig {
            training: false,
            ..Default::default()
        };
        let y = xt
            .batch_norm(Some(running), Some(&g), Some(&b), eval)
            .unwrap();
        let name = format!("eval batch_norm on {}", device.name());
        assert_close(&name, &want, &y.to_vec().unwrap(), atol, 0.0);
        let r = device.tensor(dy.clone(), [n, c, l]).unwrap();
        let grads = y.mul(&r).unwrap().sum().unwrap().backward().unwrap();
        let dx = grads.to_vec(&xt).unwrap().unwrap();
        assert_close(&format!("{name} dx"), &want_dx, &dx, atol, 0.0);
        let dg = grads.to_vec(&g).unwrap().unwrap();
        assert_close(
            &format!("{name} dgamma"),
            &want_dgamma,
            &dg,
            sum_atol(20, 20.0) + 20.0 * atol,
            0.0,
        );
        // Evaluation reads the running statistics and leaves them as they were.
        assert_eq!(mean.to_vec().unwrap(), rm);
        assert_eq!(var.to_vec().unwrap(), rv);
        assert_eq!(tracked.to_vec().unwrap(), vec![0.0]);
    }
}

#[test]
fn running_statistics_follow_pytorch_over_three_steps() {
    let (n, c) = (10usize, 4usize);
    for momentum in [Some(0.1f32), Some(0.7), None] {
        let batches: Vec<Vec<f32>> = (0..3)
            .map(|s| normal(n * c, s as f32, 1.0 + s as f32, 30 + s))
            .collect();
        // The reference: PyTorch's update in f64.
        let (mut rm, mut rv) = (vec![0.0f64; c], vec![1.0f64; c]);
        for (t, batch) in batches.iter().enumerate() {
            let factor = momentum.map_or(1.0 / (t + 1) as f64, |m| m as f64);
            for ch in 0..c {
                let v: Vec<f64> = (0..n).map(|r| batch[r * c + ch] as f64).collect();
                let mean = v.iter().sum::<f64>() / n as f64;
                let unbiased = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
                rm[ch] = (1.0 - factor) * rm[ch] + factor * mean;
                rv[ch] = (1.0 - factor) * rv[ch] + factor * unbiased;
            }
        }
        let want_mean: Vec<f32> = rm.iter().map(|&v| v as f32).collect();
        let want_var: Vec<f32> = rv.iter().map(|&v| v as f32).collect();
        for device in devices() {
            let mean = Tensor::full(&device, [c], 0.0).unwrap();
            let var = Tensor::full(&device, [c], 1.0).unwrap();
            let tracked = Tensor::full(&device, [], 0.0).unwrap();
            let ids = (mean.id(), var.id());
            for batch in &batches {
                let x = device.tensor(batch.clone(), [n, c]).unwrap();
                let running = RunningStats {
                    mean: &mean,
                    var: &var,
                    num_batches_tracked: &tracked,
                };
                let config = BatchNormConfig {
                    momentum,
                    ..Default::default()
                };
                x.batch_norm(Some(running), None, None, config).unwrap();
            }
            // The variance comes from rstd (1/rstd² − eps: a few ulp of var + eps) and the
            // mean from an f32 sum of 10 values below 12 in magnitude: 64 ulp relative and
            // 1e-6 absolute cover three blends.
            let name = format!("momentum {momentum:?} on {}", device.name());
            assert_close(
                &format!("{name} running_mean"),
                &want_mean,
                &mean.to_vec().unwrap(),
                1e-6,
                64.0 * EPS,
            );
            assert_close(
                &format!("{name} running_var"),
                &want_var,
                &var.to_vec().unwrap(),
                1e-6,
                64.0 * EPS,
            );
            assert_eq!(tracked.to_vec().unwrap(), vec![3.0]);
            assert_eq!((mean.id(), var.id()), ids, "updated in place");
        }
    }
}

// ---------------------------------------------------------------- Philox

/// An independent Philox4x32-10: 64-bit products, the key schedule precomputed.
fn philox_u64(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let keys: Vec<(u64, u64)> = (0..10u64)
        .map(|r| {
            (
                (key[0] as u64 + r * 0x9E37_79B9) & 0xFFFF_FFFF,
                (key[1] as u64 + r * 0xBB67_AE85) & 0xFFFF_FFFF,
            )
        })
        .collect();
    let mut c = counter.map(u64::from);
    for (k0, k1) in keys {
        let p0 = 0xD251_1F53u64 * c[0];
        let p1 = 0xCD9E_8D57u64 * c[2];
        c = [
            (p1 >> 32) ^ c[1] ^ k0,
            p1 & 0xFFFF_FFFF,
            (p0 >> 32) ^ c[3] ^ k1,
            p0 & 0xFFFF_FFFF,
        ];
    }
    c.map(|v| v as u32)
}

#[test]
fn philox_matches_random123s_known_answers() {
    // Random123's kat_vectors for philox4x32 with 10 rounds.
    let kat = [
        (
            [0u32; 4],
            [0u32; 2],
            [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8],
        ),
        (
            [u32::MAX; 4],
            [u32::MAX; 2],
            [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd],
        ),
        (
            [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
            [0xa409_3822, 0x299f_31d0],
            [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1],
        ),
    ];
    for (counter, key, want) in kat {
        assert_eq!(philox4x32_10(counter, key), want, "{counter:x?} {key:x?}");
        assert_eq!(philox_u64(counter, key), want, "the test's reference");
    }
    let words = uniform(6 * 1000, 0.0, 1.0, 77);
    for w in words.chunks(6) {
        let u = |v: f32| (v as f64 * 4_294_967_296.0) as u32;
        let (counter, key) = ([u(w[0]), u(w[1]), u(w[2]), u(w[3])], [u(w[4]), u(w[5])]);
        assert_eq!(philox4x32_10(counter, key), philox_u64(counter, key));
    }
}

// ---------------------------------------------------------------- dropout

#[test]
fn dropout_mask_follows_philox_and_keeps_one_minus_p() {
    let n = 200_003usize;
    let ones = vec![1.0f32; n];
    for device in devices() {
        let x = device.tensor(ones.clone(), [n]).unwrap();
        for (p, seed, offset) in [(0.1f32, 3u64, 0u64), (0.5, 1 << 33, 5), (0.9, 17, 1 << 35)] {
            let y = x.dropout(p, seed, offset).unwrap().to_vec().unwrap();
            let scale = 1.0 / (1.0 - p);
            let kept = y.iter().filter(|&&v| v != 0.0).count();
            assert!(
                y.iter().all(|&v| v == 0.0 || v == scale),
                "{p}: values 0 or 1/(1-p)"
            );
            // The keep decision, element by element, from the test's own Philox.
            for (i, &v) in y.iter().enumerate().step_by(97) {
                let word = philox_u64(
                    [(i / 4) as u32, 0, offset as u32, (offset >> 32) as u32],
                    [seed as u32, (seed >> 32) as u32],
                )[i % 4];
                assert_eq!(dropout_bits(seed, offset, i as u64), word);
                let keep = (word >> 8) as f64 / 16_777_216.0 >= p as f64;
                assert_eq!(v != 0.0, keep, "element {i}, p {p}, {}", device.name());
            }
            // Binomial(n, 1 − p): within 5 standard deviations (a 1-in-1.7-million miss).
            let expected = n as f64 * (1.0 - p as f64);
            let sd = (n as f64 * p as f64 * (1.0 - p as f64)).sqrt();
            let z = (kept as f64 - expected) / sd;
            assert!(z.abs() < 5.0, "p {p}: kept {kept} of {n}, z = {z:.2}");
            // Another offset draws an independent mask: both kept in (1 − p)² of places.
            let other = x.dropout(p, seed, offset + 1).unwrap().to_vec().unwrap();
            let both = y
                .iter()
                .zip(&other)
                .filter(|(a, b)| **a != 0.0 && **b != 0.0)
                .count();
            let q = (1.0 - p as f64).powi(2);
            let z = (both as f64 - n as f64 * q) / (n as f64 * q * (1.0 - q)).sqrt();
            assert!(
                z.abs() < 5.0,
                "p {p}: masks at offsets {offset} and +1 agree too often"
            );
        }
    }
}

#[test]
fn dropout_of_zero_is_the_identity_and_of_one_is_zero() {
    let x = normal(1001, 0.0, 3.0, 50);
    for device in devices() {
        let t = device.tensor(x.clone(), [7, 143]).unwrap();
        assert_eq!(t.dropout(0.0, 1, 2).unwrap().to_vec().unwrap(), x);
        assert_eq!(
            t.dropout(1.0, 1, 2).unwrap().to_vec().unwrap(),
            vec![0.0; 1001]
        );
    }
}

#[test]
fn bad_arguments_are_typed_errors() {
    for device in devices() {
        let x = Tensor::full(&device, [4, 3], 1.0).unwrap();
        for p in [-0.1f32, 1.1, f32::NAN, f32::INFINITY] {
            assert!(
                matches!(x.dropout(p, 0, 0), Err(Error::Config(_))),
                "p = {p}"
            );
        }
        let e = x.layer_norm(&[4], None, None, 1e-5).unwrap_err();
        assert!(matches!(e, Error::Shape { .. }), "{e}");
        let wrong = Tensor::full(&device, [2], 1.0).unwrap();
        let e = x.layer_norm(&[3], Some(&wrong), None, 1e-5).unwrap_err();
        assert!(matches!(e, Error::Shape { .. }), "{e}");
        let e = x.layer_norm(&[3], None, None, -1.0).unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e}");
        let e = x.layer_norm(&[3], None, None, f32::NAN).unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e}");
        // Batch norm: one value per channel in training, as PyTorch refuses.
        let one = Tensor::full(&device, [1, 3], 1.0).unwrap();
        let e = one
            .batch_norm(None, None, None, BatchNormConfig::default())
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("Expected more than 1 value per channel"),
            "{e}"
        );
        let e = Tensor::full(&device, [1, 3, 1, 1], 1.0)
            .unwrap()
            .batch_norm(None, None, None, BatchNormConfig::default())
            .unwrap_err();
        assert!(matches!(e, Error::Shape { .. }), "{e}");
        let eval = BatchNormConfig {
            training: false,
            ..Default::default()
        };
        let e = x.batch_norm(None, None, None, eval).unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e}");
        let e = Tensor::full(&device, [3], 1.0)
            .unwrap()
            .batch_norm(None, None, None, BatchNormConfig::default())
            .unwrap_err();
        assert!(matches!(e, Error::Shape { .. }), "{e}");
        let bad = BatchNormConfig {
            momentum: Some(1.5),
            ..Default::default()
        };
        let (m, v, t) = (
            Tensor::full(&device, [3], 0.0).unwrap(),
            Tensor::full(&device, [3], 1.0).unwrap(),
            Tensor::full(&device, [], 0.0).unwrap(),
        );
        let running = RunningStats {
            mean: &m,
            var: &v,
            num_batches_tracked: &t,
        };
        let e = x.batch_norm(Some(running), None, None, bad).unwrap_err();
        assert!(matches!(e, Error::Hyperparameter { .. }), "{e}");
        let short = RunningStats {
            mean: &wrong,
            ..running
        };
        let e = x
            .batch_norm(Some(short), None, None, BatchNormConfig::default())
            .unwrap_err();
        assert!(matches!(e, Error::Shape { .. }), "{e}");
        // Direct backend calls with inconsistent sizes: errors, not panics.
        let be = device.backend();
        let s = |n: usize| be.upload(&vec![1.0; n]).unwrap();
        let d = NormDims {
            outer: 2,
            channels: 3,
            inner: 2,
        };
        assert!(be.norm_forward(&s(11), d, None, 1e-5).is_err());
        let too_big = NormDims {
            outer: usize::MAX,
            channels: 2,
            inner: 2,
        };
        assert!(matches!(
            be.norm_forward(&s(12), too_big, None, 1e-5),
            Err(Error::TooLarge(_))
        ));
        let (g, b) = (s(2), s(3));
        let affine = downhill::Affine {
            gamma: &g,
            beta: &b,
            axis: downhill::AffineAxis::Channel,
        };
        assert!(be.norm_forward(&s(12), d, Some(affine), 1e-5).is_err());
        assert!(be
            .norm_backward(&s(12), &s(2), &s(3), &s(12), d, None)
            .is_err());
        assert!(be
            .norm_backward(&s(12), &s(3), &s(3), &s(11), d, None)
            .is_err());
        let g = s(3);
        let inner = Some((&g, downhill::AffineAxis::Inner));
        assert!(be
            .norm_backward(&s(12), &s(3), &s(3), &s(12), d, inner)
            .is_err());
        let (rm, rv, nt, mean, rstd) = (s(3), s(3), s(1), s(3), s(3));
        assert!(be
            .norm_update_running(&rm, &rv, &nt, &mean, &rstd, 1, Some(0.1), 1e-5)
            .is_err());
        assert!(be
            .norm_update_running(&rm, &rm, &nt, &mean, &rstd, 4, Some(0.1), 1e-5)
            .is_err());
        assert!(be
            .norm_update_running(&rm, &rv, &nt, &rm, &rstd, 4, Some(0.1), 1e-5)
            .is_err());
        assert!(be
            .norm_update_running(&rm, &rv, &s(2), &mean, &rstd, 4, Some(0.1), 1e-5)
            .is_err());
        assert!(be
            .norm_update_running(&rm, &rv, &nt, &mean, &rstd, 4, Some(-0.1), 1e-5)
            .is_err());
        assert!(be
            .norm_update_running(&rm, &rv, &nt, &mean, &rstd, 4, Some(0.1), 1e-5)
            .is_ok());
        assert!(matches!(
            be.dropout(&s(3), f32::NAN, 0, 0),
            Err(Error::Config(_))
        ));
    }
}
