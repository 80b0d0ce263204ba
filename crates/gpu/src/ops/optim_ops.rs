//! Tensorwise optimizer steps (core's `optim::tensorwise`): the rule's `<kernel>_segments`
//! with one workgroup per segment, writing its per-segment numbers to a pooled buffer,
//! then its elementwise `<kernel>` reading them: two dispatches, no read-back.

use super::{groups_for, u32_of};
use crate::kernels;
use crate::GpuBackend;
use downhill_core::backend::optim_ops as check;
use downhill_core::optim::{SegmentTable, TensorwiseRule};
use downhill_core::{Error, OptimOps, Result, Storage};

impl OptimOps for GpuBackend {
    fn tensorwise_step(
        &self,
        rule: &dyn TensorwiseRule,
        params: &Storage,
        grads: &Storage,
        state: &[Storage],
        segments: &SegmentTable,
    ) -> Result<()> {
        check::tensorwise_step(rule, params, grads, state, segments)?;
        const OP: &str = "tensorwise_step";
        if !params.len().is_multiple_of(4) {
            return Err(Error::backend(
                "gpu",
                format!("a run of {} elements is not a multiple of 4", params.len()),
            ));
        }
        let n4 = u32_of(OP, "the vec4 length", params.len() / 4)?;
        let nseg = u32_of(OP, "the segment count", segments.rows.len())?;
        let name = rule.tensorwise_layout().kernel;
        let pair = kernels::tensorwise(name).ok_or_else(|| {
            Error::backend(
                "gpu",
                format!("no tensorwise kernels {name:?} in the table"),
            )
        })?;
        let layout = rule.layout();
        let bytes = rule.uniform();
        let mut uniform = [0u32; (kernels::UNIFORM_SLOT / 4) as usize];
        bytemuck::cast_slice_mut::<u32, u8>(&mut uniform)[..bytes.len()].copy_from_slice(bytes);
        // The layout's convention: n4, flags, nseg.
        uniform[0] = n4;
        uniform[2] = nseg;
        let per = rule.tensorwise_layout().scalars.max(1);
        let scalars = self.rec.pool.storage(segments.rows.len() * per)?;
        let mut used = state.iter();
        let mut bindings = vec![params, grads];
        for slot in 0..layout.state.len() {
            bindings.push(if rule.uses_state(slot) {
                used.next().unwrap_or(&self.dummy)
            } else {
                &self.dummy
            });
        }
        bindings.push(&segments.device);
        bindings.push(&scalars);
        if bindings.len() != pair.segments.storage.len() {
            return Err(Error::backend(
                "gpu",
                format!(
                    "{name}: the rule has {} state bindings, the kernels {}",
                    layout.state.len(),
                    pair.segments.storage.len() - 4
                ),
            ));
        }
        self.rec
            .dispatch(&pair.segments, &uniform, &bindings, nseg)?;
        self.rec
            .dispatch(&pair.elementwise, &uniform, &bindings, groups_for(n4))
    }
}
