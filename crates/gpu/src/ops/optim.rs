//! The fused optimizer step: ONE dispatch of the family's kernel updates every parameter
//! in the flat buffer, 4 per invocation. Unused state bindings get a small dummy buffer.

use super::{groups_for, u32_of};
use crate::kernels;
use crate::recorder::Recorder;
use bytemuck::{Pod, Zeroable};
use downhill_core::{Error, GradClip, Result, Storage, UpdateRule};

const NESTEROV: u32 = 1;
const CENTERED: u32 = 1;
const AMSGRAD: u32 = 1;
const MAXIMIZE: u32 = 2;
const FIRST_STEP: u32 = 4;
const HAS_MOMENTUM: u32 = 8;

fn flag(on: bool, bit: u32) -> u32 {
    if on {
        bit
    } else {
        0
    }
}

/// Mirrors `Sgd` in optim/sgd.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct SgdParams {
    n4: u32,
    flags: u32,
    lr: f32,
    momentum: f32,
    dampening: f32,
    weight_decay: f32,
    _pad: [u32; 2],
}

/// Mirrors `Adagrad` in optim/adagrad.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct AdagradParams {
    n4: u32,
    flags: u32,
    clr: f32,
    weight_decay: f32,
    eps: f32,
    _pad: [u32; 3],
}

/// Mirrors `RmsProp` in optim/rmsprop.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct RmsPropParams {
    n4: u32,
    flags: u32,
    lr: f32,
    alpha: f32,
    eps: f32,
    weight_decay: f32,
    momentum: f32,
    _pad: u32,
}

/// Mirrors `Adam` in optim/adam.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct AdamParams {
    n4: u32,
    flags: u32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    decay_factor: f32,
    step_size: f32,
    bias_correction2_sqrt: f32,
    _pad: [u32; 3],
}

/// Mirrors `Adamax` in optim/adamax.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct AdamaxParams {
    n4: u32,
    flags: u32,
    clr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    _pad: u32,
}

/// Mirrors `NAdam` in optim/nadam.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct NAdamParams {
    n4: u32,
    flags: u32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    decay_factor: f32,
    bias_correction2: f32,
    grad_coef: f32,
    avg_coef: f32,
    _pad: [u32; 2],
}

/// Mirrors `Adadelta` in optim/adadelta.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct AdadeltaParams {
    n4: u32,
    flags: u32,
    lr: f32,
    rho: f32,
    eps: f32,
    weight_decay: f32,
    _pad: [u32; 2],
}

/// Mirrors `Clip` in optim/clip.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ClipParams {
    n4: u32,
    limit: f32,
    _pad: [u32; 2],
}

/// Length in vec4s; the flat layout guarantees a multiple of 4.
fn vec4_len(s: &Storage) -> Result<u32> {
    if s.len() % 4 != 0 {
        return Err(Error::backend(
            "gpu",
            format!("flat buffer of {} elements is not a multiple of 4", s.len()),
        ));
    }
    u32_of("optimizer_step", "the vec4 length", s.len() / 4)
}

pub fn step(
    rec: &Recorder,
    rule: &UpdateRule,
    params: &Storage,
    grads: &Storage,
    state: &[Storage],
    dummy: &Storage,
) -> Result<()> {
    // (Core's check gave `state` the rule's count and every buffer `params`' length.)
    let n4 = vec4_len(params)?;
    // State in binding order, the dummy standing in for buffers the options leave unused.
    let slot = |i: usize| state.get(i).unwrap_or(dummy);
    let groups = groups_for(n4);
    match *rule {
        UpdateRule::Sgd {
            lr,
            momentum,
            dampening,
            nesterov,
            weight_decay,
            maximize,
            first_step,
        } => {
            let has_momentum = momentum != 0.0;
            let flags = flag(nesterov, NESTEROV)
                | flag(maximize, MAXIMIZE)
                | flag(first_step, FIRST_STEP)
                | flag(has_momentum, HAS_MOMENTUM);
            let u = SgdParams {
                n4,
                flags,
                lr,
                momentum,
                dampening,
                weight_decay,
                _pad: [0; 2],
            };
            rec.dispatch(&kernels::SGD, &u, &[params, grads, slot(0)], groups)
        }
        UpdateRule::Adagrad {
            clr,
            weight_decay,
            eps,
            maximize,
        } => {
            let u = AdagradParams {
                n4,
                flags: flag(maximize, MAXIMIZE),
                clr,
                weight_decay,
                eps,
                _pad: [0; 3],
            };
            rec.dispatch(&kernels::ADAGRAD, &u, &[params, grads, &state[0]], groups)
        }
        UpdateRule::RmsProp {
            lr,
            alpha,
            eps,
            weight_decay,
            momentum,
            centered,
            maximize,
        } => {
            let has_momentum = momentum > 0.0;
            let flags = flag(centered, CENTERED)
                | flag(maximize, MAXIMIZE)
                | flag(has_momentum, HAS_MOMENTUM);
            let grad_avg = if centered { slot(1) } else { dummy };
            let buffer = if has_momentum {
                slot(1 + usize::from(centered))
            } else {
                dummy
            };
            let u = RmsPropParams {
                n4,
                flags,
                lr,
                alpha,
                eps,
                weight_decay,
                momentum,
                _pad: 0,
            };
            rec.dispatch(
                &kernels::RMSPROP,
                &u,
                &[params, grads, &state[0], grad_avg, buffer],
                groups,
            )
        }
        UpdateRule::Adam {
            beta1,
            beta2,
            eps,
            weight_decay,
            decay_factor,
            step_size,
            bias_correction2_sqrt,
            amsgrad,
            maximize,
        } => {
            let flags = flag(amsgrad, AMSGRAD) | flag(maximize, MAXIMIZE);
            let u = AdamParams {
                n4,
                flags,
                beta1,
                beta2,
                eps,
                weight_decay,
                decay_factor,
                step_size,
                bias_correction2_sqrt,
                _pad: [0; 3],
            };
            rec.dispatch(
                &kernels::ADAM,
                &u,
                &[params, grads, &state[0], &state[1], slot(2)],
                groups,
            )
        }
        UpdateRule::Adamax {
            clr,
            beta1,
            beta2,
            eps,
            weight_decay,
            maximize,
        } => {
            let u = AdamaxParams {
                n4,
                flags: flag(maximize, MAXIMIZE),
                clr,
                beta1,
                beta2,
                eps,
                weight_decay,
                _pad: 0,
            };
            rec.dispatch(
                &kernels::ADAMAX,
                &u,
                &[params, grads, &state[0], &state[1]],
                groups,
            )
        }
        UpdateRule::NAdam {
            beta1,
            beta2,
            eps,
            weight_decay,
            decay_factor,
            bias_correction2,
            grad_coef,
            avg_coef,
            maximize,
        } => {
            let u = NAdamParams {
                n4,
                flags: flag(maximize, MAXIMIZE),
                beta1,
                beta2,
                eps,
                weight_decay,
                decay_factor,
                bias_correction2,
                grad_coef,
                avg_coef,
                _pad: [0; 2],
            };
            rec.dispatch(
                &kernels::NADAM,
                &u,
                &[params, grads, &state[0], &state[1]],
                groups,
            )
        }
        UpdateRule::Adadelta {
            lr,
            rho,
            eps,
            weight_decay,
            maximize,
        } => {
            let u = AdadeltaParams {
                n4,
                flags: flag(maximize, MAXIMIZE),
                lr,
                rho,
                eps,
                weight_decay,
                _pad: [0; 2],
            };
            rec.dispatch(
                &kernels::ADADELTA,
                &u,
                &[params, grads, &state[0], &state[1]],
                groups,
            )
        }
    }
}

pub fn clip(rec: &Recorder, grads: &Storage, clip: GradClip) -> Result<()> {
    let n4 = vec4_len(grads)?;
    if n4 == 0 {
        return Ok(()); // nothing to clip (and nothing to bind as vec4s)
    }
    let groups = groups_for(n4);
    match clip {
        GradClip::Norm(max_norm) => {
            let coef = rec.pool.storage(1)?;
            let u = ClipParams {
                n4,
                limit: max_norm,
                _pad: [0; 2],
            };
            rec.dispatch(&kernels::CLIP_NORM_COEF, &u, &[grads, &coef], 1)?;
            rec.dispatch(&kernels::CLIP_SCALE, &u, &[grads, &coef], groups)
        }
        GradClip::Value(v) => {
            let u = ClipParams {
                n4,
                limit: v,
                _pad: [0; 2],
            };
            rec.dispatch(&kernels::CLIP_VALUE, &u, &[grads], groups)
        }
    }
}
