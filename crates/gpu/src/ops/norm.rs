//! Batch norm, layer norm and dropout (shaders/norm.wgsl, shaders/dropout.wgsl): one
//! dispatch for a normalisation's forward, one for its backward (two with layer norm's
//! affine gradients, which reduce across channels), one for the running statistics and
//! one for dropout.

use super::{groups_for, u32_of};
use crate::kernels;
use crate::GpuBackend;
use bytemuck::{Pod, Zeroable};
use downhill_core::backend::norm::{self as check, Affine, AffineAxis, NormBackward};
use downhill_core::{philox, NormDims, NormForward, NormOps, Result, Storage};

/// Mirrors `Norm` in norm.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct NormParams {
    outer: u32,
    channels: u32,
    inner: u32,
    eps: f32,
    affine: u32,
    _pad: [u32; 3],
}

/// Mirrors `Running` in norm.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct RunningParams {
    channels: u32,
    cumulative: u32,
    momentum: f32,
    eps: f32,
    bessel: f32,
    _pad: [u32; 3],
}

/// Mirrors `Dropout` in dropout.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct DropoutParams {
    n: u32,
    p: f32,
    scale: f32,
    _pad: u32,
    key: [u32; 2],
    offset: [u32; 2],
}

fn affine_code(axis: Option<AffineAxis>) -> u32 {
    match axis {
        None => 0,
        Some(AffineAxis::Channel) => 1,
        Some(AffineAxis::Inner) => 2,
    }
}

fn norm_params(op: &str, d: NormDims, eps: f32, axis: Option<AffineAxis>) -> Result<NormParams> {
    // Checked by core: A·C·B fits a usize; each factor and A·B must fit the kernel's u32.
    u32_of(op, "the tensor", d.outer * d.channels * d.inner)?;
    Ok(NormParams {
        outer: u32_of(op, "outer", d.outer)?,
        channels: u32_of(op, "channels", d.channels)?,
        inner: u32_of(op, "inner", d.inner)?,
        eps,
        affine: affine_code(axis),
        _pad: [0; 3],
    })
}

impl NormOps for GpuBackend {
    fn norm_forward(
        &self,
        x: &Storage,
        dims: NormDims,
        affine: Option<Affine<'_>>,
        eps: f32,
    ) -> Result<NormForward> {
        let n = check::norm_forward(x, dims, affine, eps)?;
        let rec = &self.rec;
        let params = norm_params("norm_forward", dims, eps, affine.map(|a| a.axis))?;
        let (y, mean, rstd) = (
            rec.pool.storage(n)?,
            rec.pool.storage(dims.channels)?,
            rec.pool.storage(dims.channels)?,
        );
        let (gamma, beta) = affine.map_or((&self.dummy, &self.dummy), |a| (a.gamma, a.beta));
        rec.dispatch(
            &kernels::NORM_FORWARD,
            &params,
            &[x, gamma, beta, &y, &mean, &rstd],
            params.channels,
        )?;
        Ok(NormForward { y, mean, rstd })
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
        const OP: &str = "norm_backward";
        let rec = &self.rec;
        let axis = affine.map(|(_, axis)| axis);
        let params = norm_params(OP, dims, 0.0, axis)?;
        let dx = rec.pool.storage(n)?;
        let gamma = affine.map_or(&self.dummy, |(g, _)| g);
        // Written only with per-channel parameters; otherwise small stand-ins (a buffer may
        // not be bound both read-only and writable, so not the read-only dummy).
        let per_channel = axis == Some(AffineAxis::Channel);
        let plen = if per_channel { dims.channels } else { 1 };
        let (dgamma, dbeta) = (rec.pool.storage(plen)?, rec.pool.storage(plen)?);
        rec.dispatch(
            &kernels::NORM_BACKWARD,
            &params,
            &[x, mean, rstd, dy, gamma, &dx, &dgamma, &dbeta],
            params.channels,
        )?;
        let grads = match axis {
            None => None,
            Some(AffineAxis::Channel) => Some((dgamma, dbeta)),
            Some(AffineAxis::Inner) => {
                let (dgamma, dbeta) =
                    (rec.pool.storage(dims.inner)?, rec.pool.storage(dims.inner)?);
                rec.dispatch(
                    &kernels::NORM_AFFINE_BACKWARD,
                    &params,
                    &[x, mean, rstd, dy, &dgamma, &dbeta],
                    params.inner,
                )?;
                Some((dgamma, dbeta))
            }
        };
        Ok(NormBackward { dx, affine: grads })
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
        check::norm_update_running(
            running_mean,
            running_var,
            num_batches_tracked,
            mean,
            rstd,
            count,
            momentum,
            eps,
        )?;
        let params = RunningParams {
            channels: u32_of("norm_update_running", "channels", mean.len())?,
            cumulative: u32::from(momentum.is_none()),
            momentum: momentum.unwrap_or(0.0),
            eps,
            // As the CPU rounds it.
            bessel: count as f32 / (count - 1) as f32,
            _pad: [0; 3],
        };
        // One workgroup: it bumps the count once and every channel reads the new one.
        self.rec.dispatch(
            &kernels::NORM_UPDATE_RUNNING,
            &params,
            &[mean, rstd, running_mean, running_var, num_batches_tracked],
            1,
        )
    }

    fn dropout(&self, x: &Storage, p: f32, seed: u64, offset: u64) -> Result<Storage> {
        check::dropout(x, p)?;
        let rec = &self.rec;
        let n = u32_of("dropout", "the tensor", x.len())?;
        let out = rec.pool.storage(x.len())?;
        let counter = philox::dropout_counter(0, offset);
        let params = DropoutParams {
            n,
            p,
            scale: check::dropout_scale(p),
            _pad: 0,
            key: philox::dropout_key(seed),
            offset: [counter[2], counter[3]],
        };
        rec.dispatch(
            &kernels::DROPOUT,
            &params,
            &[x, &out],
            groups_for(n.div_ceil(4)),
        )?;
        Ok(out)
    }
}
