//! Layer norm, batch norm and dropout on tensors (PyTorch's `F.layer_norm`,
//! `F.batch_norm`, `F.dropout`): each one backend kernel forward and one (or two) backward.

use super::Tensor;
use crate::autodiff::Op;
use crate::backend::norm::{self as check, Affine, AffineAxis, NormDims};
use crate::error::{Error, Result};
use crate::shape::Shape;

/// Batch norm's running statistics, updated in place in training mode and used in
/// evaluation mode (PyTorch's `running_mean`, `running_var`, `num_batches_tracked`
/// buffers). Each is a plain tensor (no gradient): `mean` and `var` hold one value per
/// channel, `num_batches_tracked` one value (an f32 count, exact up to 2^24 batches).
#[derive(Clone, Copy, Debug)]
pub struct RunningStats<'a> {
    /// The running mean of each channel, `[C]`.
    pub mean: &'a Tensor,
    /// The running (unbiased) variance of each channel, `[C]`.
    pub var: &'a Tensor,
    /// Batches seen in training mode, one element.
    pub num_batches_tracked: &'a Tensor,
}

/// How [`Tensor::batch_norm`] normalises and what it updates (PyTorch's `F.batch_norm`
/// arguments after the tensors; defaults: eval mode off, momentum 0.1, eps 1e-5).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormConfig {
    /// Normalise with the batch's statistics (and update the running ones) rather than
    /// with the running statistics.
    pub training: bool,
    /// The weight of the new batch in the running statistics, in `[0, 1]`; `None` for a
    /// cumulative average (`1 / num_batches_tracked`), as PyTorch's `momentum=None`.
    pub momentum: Option<f32>,
    /// Added to the variance before the square root.
    pub eps: f32,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        BatchNormConfig {
            training: true,
            momentum: Some(0.1),
            eps: 1e-5,
        }
    }
}

/// The constant stand-in for a missing `γ` (ones) or `β` (zeros) when only one is given
/// (the kernels take both or neither).
fn stand_in(like: &Tensor, value: f32) -> Result<Tensor> {
    Tensor::full(like.device(), like.shape().clone(), value)
}

impl Tensor {
    /// Normalises `self` viewed as `dims`, with `γ`, `β` along `axis`: the op behind
    /// layer norm and batch norm in training mode.
    fn norm_op(
        &self,
        op: &'static str,
        dims: NormDims,
        affine: Option<(&Tensor, &Tensor, AffineAxis)>,
        eps: f32,
    ) -> Result<(Tensor, NormStatsView)> {
        self.device().check_new(op, self.shape())?;
        let stored = affine.map(|(g, b, _)| (g.storage(), b.storage()));
        let view = match (&stored, affine) {
            (Some((gamma, beta)), Some((_, _, axis))) => Some(Affine { gamma, beta, axis }),
            _ => None,
        };
        let out = self
            .device()
            .backend()
            .norm_forward(&self.storage(), dims, view, eps)?;
        let stats = NormStatsView {
            mean: out.mean.clone(),
            rstd: out.rstd.clone(),
        };
        let mut inputs = vec![self];
        if let Some((g, b, _)) = affine {
            inputs.extend([g, b]);
        }
        let y = Tensor::from_op(
            self.device(),
            self.shape().clone(),
            out.y,
            Op::Norm {
                dims,
                axis: affine.map(|(_, _, axis)| axis),
                mean: out.mean,
                rstd: out.rstd,
            },
            &inputs,
            false,
        );
        Ok((y, stats))
    }

    /// `γ` and `β` of shape `shape` on this tensor's device, either may be missing
    /// (replaced by a constant), or `None` when both are.
    fn affine_pair(
        &self,
        op: &'static str,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        shape: &Shape,
    ) -> Result<Option<(Tensor, Tensor)>> {
        for (name, t) in [("weight", weight), ("bias", bias)] {
            if let Some(t) = t {
                self.check_device(op, t)?;
                if t.shape() != shape {
                    return Err(Error::shape(
                        op,
                        format!("{name} has shape {}, expected {shape}", t.shape()),
                    ));
                }
            }
        }
        Ok(match (weight, bias) {
            (None, None) => None,
            (Some(w), Some(b)) => Some((w.clone(), b.clone())),
            (Some(w), None) => Some((w.clone(), stand_in(w, 0.0)?)),
            (None, Some(b)) => Some((stand_in(b, 1.0)?, b.clone())),
        })
    }

    /// Layer normalisation over the last `normalized_shape.len()` axes, which must equal
    /// `normalized_shape` (PyTorch's `F.layer_norm`): `(x − mean) / sqrt(var + eps)·γ + β`
    /// with the biased variance of each slice; `weight` (`γ`) and `bias` (`β`), when given,
    /// have shape `normalized_shape`. One kernel forward, two backward (the input's gradient,
    /// then `γ`'s and `β`'s). Mismatched shapes are [`Error::Shape`], a negative or NaN `eps`
    /// [`Error::Config`].
    pub fn layer_norm(
        &self,
        normalized_shape: &[usize],
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f32,
    ) -> Result<Tensor> {
        const OP: &str = "layer_norm";
        let k = normalized_shape.len();
        if k > self.rank() || self.dims()[self.rank() - k..] != *normalized_shape {
            return Err(Error::shape(
                OP,
                format!(
                    "normalized_shape {normalized_shape:?} is not the trailing shape of {}",
                    self.shape()
                ),
            ));
        }
        let inner: usize = normalized_shape.iter().product();
        let rows: usize = self.dims()[..self.rank() - k].iter().product();
        let dims = NormDims {
            outer: 1,
            channels: rows,
            inner,
        };
        let shape = Shape::new(normalized_shape.to_vec());
        let pair = self.affine_pair(OP, weight, bias, &shape)?;
        let affine = pair.as_ref().map(|(g, b)| (g, b, AffineAxis::Inner));
        Ok(self.norm_op(OP, dims, affine, eps)?.0)
    }

    /// Batch normalisation of `[N, C, *]` per channel `C` (PyTorch's `F.batch_norm`):
    /// `(x − mean) / sqrt(var + eps)·γ + β`. In training mode the mean and biased variance
    /// are the batch's, and `running`, when given, is updated in place on the device (one
    /// kernel: `running ← (1 − momentum)·running + momentum·batch`, with the unbiased
    /// variance, and `num_batches_tracked += 1`); a batch with one value per channel is
    /// [`Error::Shape`] ("Expected more than 1 value per channel when training", as
    /// PyTorch). In evaluation mode the running statistics normalise (they are required:
    /// [`Error::Config`] without them). `weight` and `bias` have shape `[C]`.
    pub fn batch_norm(
        &self,
        running: Option<RunningStats<'_>>,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        config: BatchNormConfig,
    ) -> Result<Tensor> {
        const OP: &str = "batch_norm";
        if self.rank() < 2 {
            return Err(Error::shape(
                OP,
                format!("expected an input [N, C, *], got {}", self.shape()),
            ));
        }
        let channels = self.dims()[1];
        let dims = NormDims {
            outer: self.dims()[0],
            channels,
            inner: self.dims()[2..].iter().product(),
        };
        let param_shape = Shape::new([channels]);
        if let Some(r) = running {
            for (name, t) in [("running_mean", r.mean), ("running_var", r.var)] {
                self.check_device(OP, t)?;
                if t.numel() != channels {
                    return Err(Error::shape(
                        OP,
                        format!("{name} has shape {}, expected [{channels}]", t.shape()),
                    ));
                }
            }
            self.check_device(OP, r.num_batches_tracked)?;
        }
        let pair = self.affine_pair(OP, weight, bias, &param_shape)?;
        if !config.training {
            let Some(r) = running else {
                return Err(Error::Config(format!(
                    "{OP}: evaluation mode normalises with running statistics; none were given"
                )));
            };
            return self.batch_norm_eval(dims, r, pair.as_ref(), config.eps);
        }
        if dims.count() <= 1 {
            return Err(Error::shape(
                OP,
                format!(
                    "Expected more than 1 value per channel when training, got input size {}",
                    self.shape()
                ),
            ));
        }
        let affine = pair.as_ref().map(|(g, b)| (g, b, AffineAxis::Channel));
        let (y, stats) = self.norm_op(OP, dims, affine, config.eps)?;
        if let Some(r) = running {
            self.device().backend().norm_update_running(
                &r.mean.storage(),
                &r.var.storage(),
                &r.num_batches_tracked.storage(),
                &stats.mean,
                &stats.rstd,
                dims.count(),
                config.momentum,
                config.eps,
            )?;
            for t in [r.mean, r.var, r.num_batches_tracked] {
                t.bump_version();
            }
        }
        Ok(y)
    }

    /// Evaluation-mode batch norm from existing differentiable ops, as PyTorch computes it:
    /// `(x − running_mean)·scale + β` with `scale = γ / sqrt(running_var + eps)`, the
    /// per-channel vectors broadcast as `[C, 1]` over `[N, C, B]` (six small kernels).
    fn batch_norm_eval(
        &self,
        dims: NormDims,
        running: RunningStats<'_>,
        affine: Option<&(Tensor, Tensor)>,
        eps: f32,
    ) -> Result<Tensor> {
        check::norm_forward(&self.storage(), dims, None, eps)?;
        let column = [dims.channels, 1];
        let view = self.reshape([dims.outer, dims.channels, dims.inner])?;
        let std = running.var.detach().add_scalar(eps)?.sqrt()?;
        let scale = match affine {
            Some((gamma, _)) => gamma.div(&std)?,
            None => std.rdiv_scalar(1.0)?,
        };
        let centred = view.sub(&running.mean.detach().reshape(column)?)?;
        let scaled = centred.mul(&scale.reshape(column)?)?;
        let y = match affine {
            Some((_, beta)) => scaled.add(&beta.reshape(column)?)?,
            None => scaled,
        };
        y.reshape(self.shape().clone())
    }

    /// Inverted dropout (PyTorch's `F.dropout` in training mode): each element is zeroed
    /// with probability `p` and the rest scaled by `1 / (1 − p)`. The mask comes from
    /// Philox4x32-10 keyed by `seed` at counter `offset` ([`crate::philox`]): the same bits on
    /// the CPU and the GPU, reproducible from `(seed, offset)`; a model advances `offset`
    /// once per call. `p = 0` is the identity, `p = 1` gives zeros (NaN stays NaN, since
    /// dropped elements are `x·0`, as in PyTorch). `p` outside `[0, 1]` or NaN is
    /// [`Error::Config`]. One kernel forward and one backward (the same mask on `dy`).
    pub fn dropout(&self, p: f32, seed: u64, offset: u64) -> Result<Tensor> {
        check::dropout(&self.storage(), p)?;
        self.device().check_new("dropout", self.shape())?;
        let out = self
            .device()
            .backend()
            .dropout(&self.storage(), p, seed, offset)?;
        Ok(Tensor::from_op(
            self.device(),
            self.shape().clone(),
            out,
            Op::Dropout { p, seed, offset },
            &[self],
            false,
        ))
    }
}

/// The statistics a training-mode normalisation computed, `[C]` each.
struct NormStatsView {
    mean: crate::backend::Storage,
    rstd: crate::backend::Storage,
}
