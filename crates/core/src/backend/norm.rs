//! `NormOps`: the normalisation kernels (batch norm, layer norm) and dropout, forward and
//! backward, with the argument checks every implementation runs first.
//!
//! A normalisation views `x` as `[A, C, B]` and takes statistics per `C` over the `A·B`
//! elements of each channel: layer norm is `A = 1, C = rows, B = normalised elements`,
//! `BatchNorm1d` on `[N, F]` is `A = N, C = F, B = 1`, `BatchNorm2d` on `[N, C, H, W]` is
//! `A = N, C = C, B = H·W`. The optional affine map `y = x̂·γ + β` is fused into the kernels,
//! its parameters indexed by the channel (batch norm) or by the position in `B` (layer norm).

use super::check::{elements, len};
use super::Storage;
use crate::error::{Error, Result};

/// The `[outer, channels, inner]` view of a normalisation (`[A, C, B]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NormDims {
    /// `A`: the product of the axes before the channel axis.
    pub outer: usize,
    /// `C`: the number of independent statistics (channels, or rows for layer norm).
    pub channels: usize,
    /// `B`: the product of the axes after the channel axis.
    pub inner: usize,
}

impl NormDims {
    /// `A·C·B`, the element count, or [`Error::TooLarge`] when it overflows.
    pub fn elements(&self) -> Result<usize> {
        elements(
            "norm",
            "[outer, channels, inner]",
            &[self.outer, self.channels, self.inner],
        )
    }

    /// `A·B`, the elements each statistic is taken over.
    pub fn count(&self) -> usize {
        self.outer.saturating_mul(self.inner)
    }
}

/// Which index of `[A, C, B]` the affine parameters `γ`, `β` follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AffineAxis {
    /// One `γ`, `β` per channel `C` (batch norm's `weight`, `bias`).
    Channel,
    /// One `γ`, `β` per position in `B` (layer norm's `elementwise_affine`).
    Inner,
}

impl AffineAxis {
    /// The length `γ` and `β` must have for `dims`.
    pub fn params(&self, dims: NormDims) -> usize {
        match self {
            AffineAxis::Channel => dims.channels,
            AffineAxis::Inner => dims.inner,
        }
    }
}

/// The affine parameters of a normalisation: `y = x̂·γ + β`.
#[derive(Clone, Copy, Debug)]
pub struct Affine<'a> {
    /// `γ` (PyTorch's `weight`).
    pub gamma: &'a Storage,
    /// `β` (PyTorch's `bias`).
    pub beta: &'a Storage,
    /// Whether they are per channel or per inner position.
    pub axis: AffineAxis,
}

/// What a normalisation's forward returns: the output and the statistics its backward
/// uses.
#[derive(Clone, Debug)]
pub struct NormForward {
    /// `x̂ = (x − mean)·rstd`, or `x̂·γ + β` with an affine map; `[A, C, B]`.
    pub y: Storage,
    /// The mean of each channel, `[C]`.
    pub mean: Storage,
    /// `1 / sqrt(var + eps)` of each channel with the biased variance, `[C]`.
    pub rstd: Storage,
}

/// The gradients of a normalisation.
#[derive(Clone, Debug)]
pub struct NormBackward {
    /// `dx = rstd·(g − mean(g) − x̂·mean(g·x̂))` with `g = dy·γ` (or `dy`).
    pub dx: Storage,
    /// `dγ = Σ dy·x̂` and `dβ = Σ dy` over the positions sharing each parameter, when the
    /// forward had an affine map.
    pub affine: Option<(Storage, Storage)>,
}

/// Normalisation and dropout kernels, forward and backward; a supertrait of
/// [`Backend`](super::Backend).
pub trait NormOps {
    /// Normalises `x` (`[A, C, B]`) per channel with the biased variance (two passes, so a
    /// channel of identical values gives `x̂ = 0`; a NaN makes its channel NaN), then
    /// applies the affine map if given.
    fn norm_forward(
        &self,
        x: &Storage,
        dims: NormDims,
        affine: Option<Affine<'_>>,
        eps: f32,
    ) -> Result<NormForward>;

    /// The backward of [`NormOps::norm_forward`] from its input `x`, the saved statistics
    /// and the upstream `dy` (`x̂` is recomputed from `x`, `mean` and `rstd`).
    #[allow(clippy::too_many_arguments)]
    fn norm_backward(
        &self,
        x: &Storage,
        mean: &Storage,
        rstd: &Storage,
        dy: &Storage,
        dims: NormDims,
        affine: Option<(&Storage, AffineAxis)>,
    ) -> Result<NormBackward>;

    /// Batch norm's running statistics, in place (one pass, no host round-trip):
    /// `num_batches_tracked += 1`, then with `factor = momentum` (or `1 / num_batches_tracked`
    /// for `None`, PyTorch's cumulative average) `running_mean ← (1 − factor)·running_mean +
    /// factor·mean` and `running_var ← (1 − factor)·running_var + factor·var·n/(n − 1)`,
    /// where `var = 1/rstd² − eps` is the batch's biased variance and `n` the elements per
    /// channel. `num_batches_tracked` is one f32 (exact up to 2^24 batches).
    #[allow(clippy::too_many_arguments)]
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
    ) -> Result<()>;

    /// Inverted dropout (PyTorch's): `x · mask / (1 − p)`, the mask drawn by Philox4x32-10
    /// from `(seed, offset)` ([`crate::philox`]), the same bits on every backend. Its own
    /// backward: the gradient is `dropout(dy)` with the same `p`, `seed` and `offset`.
    fn dropout(&self, x: &Storage, p: f32, seed: u64, offset: u64) -> Result<Storage>;
}

// ---- checks, one per method ----

/// Fails for an `eps` that is negative or not a number.
fn eps_ok(op: &'static str, eps: f32) -> Result<()> {
    if eps >= 0.0 && eps.is_finite() {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "{op}: eps = {eps} must be a finite number >= 0"
        )))
    }
}

/// The element count `A·C·B` of `x`, `y` and `dx`.
pub fn norm_forward(
    x: &Storage,
    dims: NormDims,
    affine: Option<Affine<'_>>,
    eps: f32,
) -> Result<usize> {
    const OP: &str = "norm_forward";
    eps_ok(OP, eps)?;
    let n = dims.elements()?;
    len(OP, "x [outer, channels, inner]", x, n)?;
    if let Some(a) = affine {
        len(OP, "gamma", a.gamma, a.axis.params(dims))?;
        len(OP, "beta", a.beta, a.axis.params(dims))?;
    }
    Ok(n)
}

/// The element count `A·C·B`.
pub fn norm_backward(
    x: &Storage,
    mean: &Storage,
    rstd: &Storage,
    dy: &Storage,
    dims: NormDims,
    affine: Option<(&Storage, AffineAxis)>,
) -> Result<usize> {
    const OP: &str = "norm_backward";
    let n = dims.elements()?;
    len(OP, "x [outer, channels, inner]", x, n)?;
    len(OP, "dy [outer, channels, inner]", dy, n)?;
    len(OP, "mean [channels]", mean, dims.channels)?;
    len(OP, "rstd [channels]", rstd, dims.channels)?;
    if let Some((gamma, axis)) = affine {
        len(OP, "gamma", gamma, axis.params(dims))?;
    }
    Ok(n)
}

/// Fails unless the four per-channel storages hold as many elements as `mean`,
/// `num_batches_tracked` holds one, the updated buffers share no buffer with each other or
/// with the statistics, `count >= 2` (an unbiased variance needs two values) and the
/// momentum lies in `[0, 1]`. Returns Bessel's correction `count / (count − 1)` as f32
/// (the factor turning the biased batch variance into the unbiased one), rounded once
/// here so that every backend applies the same value.
#[allow(clippy::too_many_arguments)]
pub fn norm_update_running(
    running_mean: &Storage,
    running_var: &Storage,
    num_batches_tracked: &Storage,
    mean: &Storage,
    rstd: &Storage,
    count: usize,
    momentum: Option<f32>,
    eps: f32,
) -> Result<f32> {
    const OP: &str = "norm_update_running";
    eps_ok(OP, eps)?;
    let c = mean.len();
    len(OP, "rstd", rstd, c)?;
    len(OP, "running_mean", running_mean, c)?;
    len(OP, "running_var", running_var, c)?;
    len(OP, "num_batches_tracked", num_batches_tracked, 1)?;
    if count < 2 {
        return Err(Error::Config(format!(
            "{OP}: an unbiased variance needs more than 1 value per channel, got {count}"
        )));
    }
    if let Some(m) = momentum {
        if !(0.0..=1.0).contains(&m) {
            return Err(Error::Hyperparameter {
                name: "momentum",
                value: m,
                reason: "must lie in [0, 1]",
            });
        }
    }
    let written = [
        ("running_mean", running_mean),
        ("running_var", running_var),
        ("num_batches_tracked", num_batches_tracked),
    ];
    let read = [("mean", mean), ("rstd", rstd)];
    for (i, w) in written.iter().enumerate() {
        for other in written[..i].iter().chain(&read) {
            if w.1.same_buffer(other.1) {
                return Err(Error::shape(
                    OP,
                    format!(
                        "{} and {} share a buffer; the buffers updated in place must be apart",
                        w.0, other.0
                    ),
                ));
            }
        }
    }
    Ok(count as f32 / (count - 1) as f32)
}

/// Fails unless `0 <= p <= 1` (NaN is refused): [`Error::Config`], as PyTorch's
/// "dropout probability has to be between 0 and 1".
pub fn dropout(_x: &Storage, p: f32) -> Result<()> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "dropout: the probability p = {p} has to be between 0 and 1"
        )))
    }
}

/// The multiplier of a kept element, `1 / (1 − p)` rounded to f32 once on the host, so
/// both backends scale by the same number (`inf` for `p = 1`, where nothing is kept).
pub fn dropout_scale(p: f32) -> f32 {
    1.0 / (1.0 - p)
}

/// Whether Philox's 32-bit word `bits` keeps its element: its top 24 bits as a uniform
/// `u` in `[0, 1)` (exact in f32), kept when `u >= p`, so `P(keep) = 1 − p` (exactly, for
/// `p` a multiple of 2^-24). The GPU kernel compares the same f32 values.
pub fn dropout_keeps(bits: u32, p: f32) -> bool {
    let u = (bits >> 8) as f32 * (1.0 / 16_777_216.0);
    u >= p
}
