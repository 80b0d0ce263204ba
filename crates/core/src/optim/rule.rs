//! `UpdateRule`: the seam between an optimizer and a backend. One step's math with every
//! per-step scalar already computed on the host (bias corrections, decayed learning rates),
//! so the device loop or kernel is a bounds check and a few lines per element.
//!
//! Each optimizer's rule is a `#[repr(C)]` plain-data struct beside its configuration: its
//! bytes are the WGSL uniform of its kernel (`shaders/optim/<kernel>.wgsl`) and its
//! [`UpdateRule::apply`] is the CPU loop. A backend knows no optimizer by name: the CPU
//! calls `apply`, the GPU looks the kernel up by [`RuleLayout::kernel`] and binds the
//! uniform bytes and the state buffers. A naga test in the gpu crate checks every
//! [`RuleLayout`] (size, field names and offsets, flag bits, state bindings) against the
//! WGSL file.

use std::fmt;

/// What a rule's kernel looks like, listed once per optimizer (with the crate's `layout!` macro)
/// and checked against the WGSL source by the gpu crate's tests.
#[derive(Debug)]
pub struct RuleLayout {
    /// The kernel's name in the GPU kernel table: the file `shaders/optim/<kernel>.wgsl`
    /// and its entry point.
    pub kernel: &'static str,
    /// `size_of` the rule struct: the WGSL uniform struct's size.
    pub size: usize,
    /// Every field of the rule struct with its byte offset, in order: the WGSL uniform
    /// struct's members. The first is always `n4: u32` (the backend writes the length in
    /// vec4s there), the second `flags: u32`.
    pub fields: &'static [(&'static str, usize)],
    /// The flag bits of `flags`, named as the WGSL file's `const`s.
    pub flags: &'static [(&'static str, u32)],
    /// Every state binding of the kernel in binding order (from `@binding(3)`): PyTorch's
    /// key in `optimizer.state[p]`, as checkpoints name them and the WGSL variable is
    /// named. A rule may leave some unused ([`UpdateRule::uses_state`]).
    pub state: &'static [&'static str],
}

/// A [`RuleLayout`] of a rule struct: `layout!(SgdRule, "sgd", fields { n4, flags, ... },
/// flags { NESTEROV, ... }, state ["momentum_buffer"])`. Flags are associated consts of
/// the struct.
macro_rules! layout {
    ($t:ident, $kernel:literal, fields { $($f:ident),* $(,)? }, flags { $($flag:ident),* $(,)? },
     state [$($s:literal),* $(,)?]) => {
        $crate::optim::RuleLayout {
            kernel: $kernel,
            size: ::std::mem::size_of::<$t>(),
            fields: &[$((stringify!($f), ::std::mem::offset_of!($t, $f))),*],
            flags: &[$((stringify!($flag), $t::$flag)),*],
            state: &[$($s),*],
        }
    };
}
pub(crate) use layout;

/// Bits of `flags` that every rule uses at the same position.
pub mod flags {
    /// PyTorch's `maximize`: negate the gradient first (ascend). Bit 1 in every rule.
    pub const MAXIMIZE: u32 = 2;

    /// `bit` when `on`, else 0.
    pub fn bit(on: bool, bit: u32) -> u32 {
        if on {
            bit
        } else {
            0
        }
    }
}

/// One step of an optimizer, ready to apply to flat buffers: a `#[repr(C)]` plain-data
/// struct that is its kernel's WGSL uniform, with its CPU loop.
pub trait UpdateRule: fmt::Debug + Send + Sync {
    /// The kernel, uniform struct and state bindings this rule's struct matches.
    fn layout(&self) -> &'static RuleLayout;
    /// The struct's bytes (`bytemuck::bytes_of(self)`): the WGSL uniform, whose first
    /// `u32` (`n4`) the GPU backend overwrites with the length in vec4s.
    fn uniform(&self) -> &[u8];
    /// Whether this step keeps the state binding `slot` of [`RuleLayout::state`] (e.g. no
    /// `momentum_buffer` without momentum); the GPU binds a dummy buffer to unused ones.
    fn uses_state(&self, slot: usize) -> bool {
        let _ = slot;
        true
    }
    /// The CPU loop: one step in place over flat slices. `state` holds one slice per
    /// used state binding, in binding order, each as long as `params` and `grads` (the
    /// backend checked this: see `optim::flat::apply`).
    fn apply(&self, params: &mut [f32], grads: &[f32], state: &mut [&mut [f32]]);

    /// The name of each state buffer this step uses, in order: PyTorch's key in
    /// `optimizer.state[p]` (`exp_avg`, `momentum_buffer`, ...), as checkpoints name them.
    fn state_names(&self) -> Vec<&'static str> {
        let layout = self.layout();
        (0..layout.state.len())
            .filter(|&slot| self.uses_state(slot))
            .map(|slot| layout.state[slot])
            .collect()
    }
    /// How many flat state buffers (each as long as the parameter buffer) the step uses.
    fn state_buffers(&self) -> usize {
        (0..self.layout().state.len())
            .filter(|&slot| self.uses_state(slot))
            .count()
    }
    /// A rule whose step needs per-tensor reductions (see [`super::tensorwise`]) returns
    /// itself here: the optimizer then steps it with `OptimOps::tensorwise_step` over a
    /// segment table instead of `optimizer_step`, which refuses it.
    fn tensorwise(&self) -> Option<&dyn super::tensorwise::TensorwiseRule> {
        None
    }
    /// A rule composed of backend ops per tensor (see [`super::tensorwise::ComposedRule`]:
    /// Muon's Newton–Schulz products) returns itself here; `optimizer_step` refuses it.
    fn composed(&self) -> Option<&dyn super::tensorwise::ComposedRule> {
        None
    }
}

#[cfg(test)]
mod tests {
    use crate::optim::{
        Adadelta, Adafactor, Adagrad, Adam, AdamW, AdamWScheduleFree, Adamax, Adan, Asgd, Lamb,
        Lion, NAdam, OptimizerConfig, RAdam, RmsProp, Rprop, Sgd, SgdScheduleFree, StepContext,
    };

    #[test]
    fn every_state_buffer_has_one_name() {
        let configs: Vec<Box<dyn OptimizerConfig>> = vec![
            Box::new(Sgd::new(0.1)),
            Box::new(Sgd::new(0.1).momentum(0.9)),
            Box::new(Adagrad::new(0.1)),
            Box::new(RmsProp::new(0.1)),
            Box::new(RmsProp::new(0.1).centered(true).momentum(0.5)),
            Box::new(RmsProp::new(0.1).momentum(0.5)),
            Box::new(Adam::new(0.1)),
            Box::new(Adam::new(0.1).amsgrad(true)),
            Box::new(AdamW::new(0.1)),
            Box::new(Adamax::new(0.1)),
            Box::new(NAdam::new(0.1)),
            Box::new(Adadelta::new(0.1)),
            Box::new(Lion::new(0.1)),
            Box::new(RAdam::default()),
            Box::new(Rprop::default()),
            Box::new(Asgd::default()),
            Box::new(Adan::default()),
            Box::new(AdamWScheduleFree::default()),
            Box::new(SgdScheduleFree::new(0.1)),
            Box::new(Lamb::default()),
            Box::new(Adafactor::default()),
        ];
        for config in configs {
            let rule = config.rule(&mut StepContext {
                step: 1,
                ..StepContext::default()
            });
            let names = rule.state_names();
            assert_eq!(names.len(), rule.state_buffers(), "{config:?}");
            let mut unique = names.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), names.len(), "{config:?}: {names:?}");
            let layout = rule.layout();
            assert_eq!(rule.uniform().len(), layout.size, "{config:?}");
            assert_eq!(&layout.fields[..2], &[("n4", 0), ("flags", 4)]);
        }
    }
}
