//! The reference update loops: one pass over flat parameter, gradient and state buffers,
//! written to follow PyTorch's `torch.optim` single-tensor code operation by operation.
//! The CPU backend runs these directly; the GPU kernels are checked against them.

use super::rule::UpdateRule;
use crate::nan::{maximum, minimum};

/// `a + w·(b - a)`, evaluated as `torch.lerp` does for f32 (both forms computed and one
/// selected: no branch in a vectorised loop).
#[inline(always)]
fn lerp(a: f32, b: f32, w: f32) -> f32 {
    let low = a + w * (b - a);
    let high = b - (b - a) * (1.0 - w);
    if w < 0.5 {
        low
    } else {
        high
    }
}

/// Applies one step in place. `state` must hold `rule.state_buffers()` slices and every
/// slice must be as long as `params`; otherwise nothing changes and the error says why.
pub fn apply(
    rule: &UpdateRule,
    params: &mut [f32],
    grads: &[f32],
    state: &mut [&mut [f32]],
) -> crate::error::Result<()> {
    let n = params.len();
    if state.len() != rule.state_buffers() || grads.len() != n || state.iter().any(|s| s.len() != n)
    {
        return Err(crate::error::Error::shape(
            "optimizer step",
            format!(
                "{} parameters need {} gradients and {} state buffers of that length; got {} \
                 gradients and state lengths {:?}",
                n,
                n,
                rule.state_buffers(),
                grads.len(),
                state.iter().map(|s| s.len()).collect::<Vec<_>>()
            ),
        ));
    }
    apply_checked(rule, params, grads, state);
    Ok(())
}

/// [`apply`] after its checks: the slice patterns below cannot fail.
fn apply_checked(rule: &UpdateRule, params: &mut [f32], grads: &[f32], state: &mut [&mut [f32]]) {
    let signed = |g: f32, maximize: bool| if maximize { -g } else { g };
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
            let mut buf = state.first_mut().map(|b| &mut **b);
            for i in 0..params.len() {
                let p = params[i];
                let mut g = signed(grads[i], maximize);
                if weight_decay != 0.0 {
                    g += weight_decay * p;
                }
                if let Some(buf) = buf.as_deref_mut() {
                    let b = if first_step {
                        g
                    } else {
                        buf[i] * momentum + (1.0 - dampening) * g
                    };
                    buf[i] = b;
                    g = if nesterov { g + momentum * b } else { b };
                }
                params[i] = p - lr * g;
            }
        }
        UpdateRule::Adagrad {
            clr,
            weight_decay,
            eps,
            maximize,
        } => {
            let sum = &mut *state[0];
            for i in 0..params.len() {
                let p = params[i];
                let mut g = signed(grads[i], maximize);
                if weight_decay != 0.0 {
                    g += weight_decay * p;
                }
                sum[i] += g * g;
                params[i] = p - clr * (g / (sum[i].sqrt() + eps));
            }
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
            let (square_avg, rest) = state.split_first_mut().expect("RMSprop state");
            let (grad_avg, rest) = if centered {
                let (g, r) = rest.split_first_mut().expect("centered state");
                (Some(&mut **g), r)
            } else {
                (None, rest)
            };
            let mut buf = rest.first_mut().map(|b| &mut **b);
            let mut grad_avg = grad_avg;
            for i in 0..params.len() {
                let p = params[i];
                let mut g = signed(grads[i], maximize);
                if weight_decay != 0.0 {
                    g += weight_decay * p;
                }
                let sq = square_avg[i] * alpha + (1.0 - alpha) * g * g;
                square_avg[i] = sq;
                let avg = match grad_avg.as_deref_mut() {
                    Some(ga) => {
                        let m = lerp(ga[i], g, 1.0 - alpha);
                        ga[i] = m;
                        (sq - m * m).sqrt() + eps
                    }
                    None => sq.sqrt() + eps,
                };
                params[i] = match buf.as_deref_mut() {
                    Some(b) => {
                        let v = b[i] * momentum + g / avg;
                        b[i] = v;
                        p - lr * v
                    }
                    None => p - lr * (g / avg),
                };
            }
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
            let (m, rest) = state.split_first_mut().expect("Adam state");
            let (v, rest) = rest.split_first_mut().expect("Adam state");
            // One element of the update; the loops below are written as zips over slices
            // without per-element branches on options, so the compiler can vectorise them.
            let update = |p: &mut f32, g: f32, m: &mut f32, v: &mut f32, vmax: Option<&mut f32>| {
                let decayed = *p * decay_factor;
                let mut g = signed(g, maximize);
                if weight_decay != 0.0 {
                    g += weight_decay * decayed;
                }
                *m = lerp(*m, g, 1.0 - beta1);
                *v = *v * beta2 + (1.0 - beta2) * g * g;
                let second = match vmax {
                    Some(vm) => {
                        *vm = maximum(*vm, *v); // torch.maximum: NaN wins
                        *vm
                    }
                    None => *v,
                };
                let denom = second.sqrt() / bias_correction2_sqrt + eps;
                *p = decayed - step_size * (*m / denom);
            };
            let elements = params
                .iter_mut()
                .zip(grads)
                .zip(m.iter_mut())
                .zip(v.iter_mut());
            match rest.first_mut().filter(|_| amsgrad) {
                Some(vmax) => {
                    for ((((p, &g), m), v), vm) in elements.zip(vmax.iter_mut()) {
                        update(p, g, m, v, Some(vm));
                    }
                }
                None => {
                    for (((p, &g), m), v) in elements {
                        update(p, g, m, v, None);
                    }
                }
            }
        }
        UpdateRule::Adamax {
            clr,
            beta1,
            beta2,
            eps,
            weight_decay,
            maximize,
        } => {
            let (m, rest) = state.split_first_mut().expect("Adamax state");
            let u = &mut *rest[0];
            for i in 0..params.len() {
                let p = params[i];
                let mut g = signed(grads[i], maximize);
                if weight_decay != 0.0 {
                    g += weight_decay * p;
                }
                m[i] = lerp(m[i], g, 1.0 - beta1);
                u[i] = maximum(u[i] * beta2, g.abs() + eps); // torch.maximum: NaN wins
                params[i] = p - clr * (m[i] / u[i]);
            }
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
            let (m, rest) = state.split_first_mut().expect("NAdam state");
            let v = &mut *rest[0];
            for i in 0..params.len() {
                let p = params[i] * decay_factor;
                let mut g = signed(grads[i], maximize);
                if weight_decay != 0.0 {
                    g += weight_decay * p;
                }
                m[i] = lerp(m[i], g, 1.0 - beta1);
                v[i] = v[i] * beta2 + (1.0 - beta2) * g * g;
                let denom = (v[i] / bias_correction2).sqrt() + eps;
                params[i] = p - grad_coef * (g / denom) - avg_coef * (m[i] / denom);
            }
        }
        UpdateRule::Adadelta {
            lr,
            rho,
            eps,
            weight_decay,
            maximize,
        } => {
            let (sq, rest) = state.split_first_mut().expect("Adadelta state");
            let acc = &mut *rest[0];
            for i in 0..params.len() {
                let p = params[i];
                let mut g = signed(grads[i], maximize);
                if weight_decay != 0.0 {
                    g += weight_decay * p;
                }
                sq[i] = sq[i] * rho + (1.0 - rho) * g * g;
                let std = (sq[i] + eps).sqrt();
                let delta = (acc[i] + eps).sqrt() / std * g;
                acc[i] = acc[i] * rho + (1.0 - rho) * delta * delta;
                params[i] = p - lr * delta;
            }
        }
    }
}

/// Clips a flat gradient in place (the CPU reference for [`crate::GradClip`]), as
/// `torch.nn.utils.clip_grad_norm_` and `clip_grad_value_` do: the norm is accumulated in
/// f64 (so gradients of 1e20 do not overflow) and rounded to f32; a NaN gradient makes the
/// norm NaN and so every gradient NaN; an infinite one makes the factor 0, so finite
/// gradients become 0 and infinite ones NaN. Clipping by value keeps a NaN.
pub fn clip(grads: &mut [f32], clip: crate::backend::GradClip) {
    match clip {
        crate::backend::GradClip::Norm(max_norm) => {
            let norm = grads
                .iter()
                .map(|&g| (g as f64) * (g as f64))
                .sum::<f64>()
                .sqrt() as f32;
            let coef = minimum(max_norm / (norm + 1e-6), 1.0);
            if coef != 1.0 {
                grads.iter_mut().for_each(|g| *g *= coef);
            }
        }
        crate::backend::GradClip::Value(v) => grads.iter_mut().for_each(|g| *g = g.clamp(-v, v)),
    }
}
