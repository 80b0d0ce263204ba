//! The fused optimizer step: ONE dispatch of the rule's kernel updates every parameter in
//! the flat buffer, 4 per invocation, for any rule (no optimizer is named here). Unused
//! state bindings get a small dummy buffer.

use super::{groups_for, u32_of};
use crate::kernels;
use crate::recorder::Recorder;
use bytemuck::{Pod, Zeroable};
use downhill_core::{Error, GradClip, Result, Storage, UpdateRule};

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
    if !s.len().is_multiple_of(4) {
        return Err(Error::backend(
            "gpu",
            format!("flat buffer of {} elements is not a multiple of 4", s.len()),
        ));
    }
    u32_of("optimizer_step", "the vec4 length", s.len() / 4)
}

/// One optimizer step of any rule: its kernel (looked up by name in the kernel table), its
/// struct's bytes as the uniform with the length in vec4s written over the first `u32`
/// (`n4`), then the parameters, the gradients and one buffer per state binding (the dummy
/// where the rule leaves a binding unused).
pub fn step(
    rec: &Recorder,
    rule: &dyn UpdateRule,
    params: &Storage,
    grads: &Storage,
    state: &[Storage],
    dummy: &Storage,
) -> Result<()> {
    // (Core's check gave `state` the rule's count, every buffer `params`' length and a
    // uniform of the layout's size, 8 to 256 bytes.)
    let n4 = vec4_len(params)?;
    let layout = rule.layout();
    let kernel = kernels::optimizer(layout.kernel).ok_or_else(|| {
        Error::backend(
            "gpu",
            format!(
                "no optimizer kernel {:?} in the kernel table",
                layout.kernel
            ),
        )
    })?;
    let bytes = rule.uniform();
    let mut uniform = [0u32; UNIFORM_WORDS];
    bytemuck::cast_slice_mut::<u32, u8>(&mut uniform)[..bytes.len()].copy_from_slice(bytes);
    uniform[0] = n4;
    let mut used = state.iter();
    let mut bindings = vec![params, grads];
    for slot in 0..layout.state.len() {
        bindings.push(if rule.uses_state(slot) {
            used.next().unwrap_or(dummy)
        } else {
            dummy
        });
    }
    if bindings.len() != kernel.storage.len() {
        return Err(Error::backend(
            "gpu",
            format!(
                "{}: the rule has {} state bindings, the kernel {}",
                kernel.name,
                layout.state.len(),
                kernel.storage.len() - 2
            ),
        ));
    }
    rec.dispatch(kernel, &uniform, &bindings, groups_for(n4))
}

/// A uniform slot in `u32`s: every rule struct fits (core's check).
const UNIFORM_WORDS: usize = (kernels::UNIFORM_SLOT / 4) as usize;

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
