//! The checked entry to the reference update loops (each rule's [`UpdateRule::apply`],
//! beside its configuration, follows PyTorch's `torch.optim` single-tensor code operation
//! by operation), and gradient clipping. The CPU backend runs these directly; the GPU
//! kernels are checked against them.

use super::rule::UpdateRule;
use crate::nan::minimum;

/// `a + w·(b - a)`, evaluated as `torch.lerp` does for f32 (both forms computed and one
/// selected: no branch in a vectorised loop).
#[inline(always)]
pub(crate) fn lerp(a: f32, b: f32, w: f32) -> f32 {
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
    rule: &dyn UpdateRule,
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
    rule.apply(params, grads, state);
    Ok(())
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
