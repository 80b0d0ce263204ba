//! Normalisation (batch norm, layer norm) and dropout: the reference the GPU kernels are
//! checked against. Statistics are two-pass sums in f64 (mean, then the squared deviations
//! from it), so a channel of identical values has a variance of exactly 0 and `x̂ = 0`.

use crate::buffer::{alloc, filled, new_storage, read, write};
use crate::CpuBackend;
use downhill_core::backend::norm::{self as check, Affine, AffineAxis, NormBackward};
use downhill_core::{philox, NormDims, NormForward, NormOps, Result, Storage};

/// The flat index of `(a, c, b)` in `[A, C, B]`.
#[inline]
fn at(d: NormDims, a: usize, c: usize, b: usize) -> usize {
    (a * d.channels + c) * d.inner + b
}

/// Every `(flat index, b)` of channel `c`.
fn channel(d: NormDims, c: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..d.outer).flat_map(move |a| (0..d.inner).map(move |b| (at(d, a, c, b), b)))
}

/// The parameter of `(c, b)` under `axis`.
#[inline]
fn param(values: &[f32], axis: AffineAxis, c: usize, b: usize) -> f32 {
    match axis {
        AffineAxis::Channel => values[c],
        AffineAxis::Inner => values[b],
    }
}

impl NormOps for CpuBackend {
    fn norm_forward(
        &self,
        x: &Storage,
        dims: NormDims,
        affine: Option<Affine<'_>>,
        eps: f32,
    ) -> Result<NormForward> {
        let n = check::norm_forward(x, dims, affine, eps)?;
        let x = read(x)?;
        let params = match affine {
            Some(a) => Some((read(a.gamma)?, read(a.beta)?, a.axis)),
            None => None,
        };
        let mut y = filled("norm_forward", n, 0.0f32)?;
        let mut means = alloc("norm_forward", dims.channels)?;
        let mut rstds = alloc("norm_forward", dims.channels)?;
        // A count of 0 gives 0/0 = NaN statistics (the mean of nothing), as PyTorch.
        let count = dims.count() as f64;
        for c in 0..dims.channels {
            let mean = channel(dims, c).map(|(i, _)| x[i] as f64).sum::<f64>() / count;
            let var = channel(dims, c)
                .map(|(i, _)| (x[i] as f64 - mean).powi(2))
                .sum::<f64>()
                / count;
            let rstd = 1.0 / (var + eps as f64).sqrt();
            for (i, b) in channel(dims, c) {
                let xhat = ((x[i] as f64 - mean) * rstd) as f32;
                y[i] = match &params {
                    Some((gamma, beta, axis)) => {
                        xhat * param(gamma, *axis, c, b) + param(beta, *axis, c, b)
                    }
                    None => xhat,
                };
            }
            means.push(mean as f32);
            rstds.push(rstd as f32);
        }
        Ok(NormForward {
            y: new_storage(y),
            mean: new_storage(means),
            rstd: new_storage(rstds),
        })
    }

    fn norm_backward(
        &self,
        x: &Storage,
        mean: &Storage,
        rstd: &Storage,
        dy: &Storage,
        dims: NormDims,
        affine: Option<(&Storage, AffineAxis)>,
    ) -> Result<NormBackward> {
        let n = check::norm_backward(x, mean, rstd, dy, dims, affine)?;
        let (x, mean, rstd, dy) = (read(x)?, read(mean)?, read(rstd)?, read(dy)?);
        let gamma = match affine {
            Some((g, axis)) => Some((read(g)?, axis)),
            None => None,
        };
        let plen = affine.map_or(0, |(_, axis)| axis.params(dims));
        let mut dx = filled("norm_backward", n, 0.0f32)?;
        let (mut dgamma, mut dbeta) = (
            filled("norm_backward", plen, 0.0f64)?,
            filled("norm_backward", plen, 0.0f64)?,
        );
        let count = dims.count() as f64;
        for c in 0..dims.channels {
            let (m, r) = (mean[c] as f64, rstd[c] as f64);
            let xhat = |i: usize| (x[i] as f64 - m) * r;
            let g = |i: usize, b: usize| match &gamma {
                Some((gamma, axis)) => dy[i] as f64 * param(gamma, *axis, c, b) as f64,
                None => dy[i] as f64,
            };
            let (mut sum_g, mut sum_gx) = (0.0f64, 0.0f64);
            for (i, b) in channel(dims, c) {
                let (gi, xi) = (g(i, b), xhat(i));
                sum_g += gi;
                sum_gx += gi * xi;
                if let Some((_, axis)) = &gamma {
                    let k = match axis {
                        AffineAxis::Channel => c,
                        AffineAxis::Inner => b,
                    };
                    dgamma[k] += dy[i] as f64 * xi;
                    dbeta[k] += dy[i] as f64;
                }
            }
            let (mean_g, mean_gx) = (sum_g / count, sum_gx / count);
            for (i, b) in channel(dims, c) {
                dx[i] = (r * (g(i, b) - mean_g - xhat(i) * mean_gx)) as f32;
            }
        }
        let narrow = |v: Vec<f64>| new_storage(v.into_iter().map(|s| s as f32).collect());
        Ok(NormBackward {
            dx: new_storage(dx),
            affine: gamma.map(|_| (narrow(dgamma), narrow(dbeta))),
        })
    }

    fn norm_update_running(
        &self,
        running_mean: &Storage,
        running_var: &Storage,
        num_batches_tracked: &Storage,
        mean: &Storage,
        rstd: &Storage,
        count: usize,
        momentum: Option<f32>,
        eps: f32,
    ) -> Result<()> {
        let bessel = check::norm_update_running(
            running_mean,
            running_var,
            num_batches_tracked,
            mean,
            rstd,
            count,
            momentum,
            eps,
        )?;
        let (mean, rstd) = (read(mean)?, read(rstd)?);
        let mut tracked = write(num_batches_tracked)?;
        tracked[0] += 1.0;
        // f32 as the kernel computes it, in the same order.
        let factor = momentum.unwrap_or(1.0 / tracked[0]);
        let (mut rm, mut rv) = (write(running_mean)?, write(running_var)?);
        for c in 0..mean.len() {
            let var = 1.0 / (rstd[c] * rstd[c]) - eps;
            rm[c] = (1.0 - factor) * rm[c] + factor * mean[c];
            rv[c] = (1.0 - factor) * rv[c] + factor * (var * bessel);
        }
        Ok(())
    }

    fn dropout(&self, x: &Storage, p: f32, seed: u64, offset: u64) -> Result<Storage> {
        check::dropout(x, p)?;
        let x = read(x)?;
        let scale = check::dropout_scale(p);
        let key = philox::dropout_key(seed);
        let mut out = alloc("dropout", x.len())?;
        for (block, chunk) in x.chunks(4).enumerate() {
            let words = philox::philox4x32_10(philox::dropout_counter(block as u64, offset), key);
            // x·0 for a dropped element, so NaN and ±inf stay NaN (PyTorch's `x * mask`).
            out.extend(chunk.iter().zip(words).map(|(&v, bits)| {
                v * if check::dropout_keeps(bits, p) {
                    scale
                } else {
                    0.0
                }
            }));
        }
        Ok(new_storage(out))
    }
}
