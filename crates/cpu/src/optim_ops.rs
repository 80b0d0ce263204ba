//! Tensorwise optimizer steps: the rule's own reference loop over the segment table.

use crate::buffer::{read, write};
use crate::CpuBackend;
use downhill_core::backend::optim_ops as check;
use downhill_core::optim::{SegmentTable, TensorwiseRule};
use downhill_core::{OptimOps, Result, Storage};

impl OptimOps for CpuBackend {
    fn tensorwise_step(
        &self,
        rule: &dyn TensorwiseRule,
        params: &Storage,
        grads: &Storage,
        state: &[Storage],
        segments: &SegmentTable,
    ) -> Result<()> {
        check::tensorwise_step(rule, params, grads, state, segments)?;
        let grads = read(grads)?;
        let mut p = write(params)?;
        let mut guards = state.iter().map(write).collect::<Result<Vec<_>>>()?;
        let mut slices: Vec<&mut [f32]> = guards.iter_mut().map(|g| &mut **g).collect();
        rule.apply_segments(&mut p, &grads, &mut slices, &segments.rows);
        Ok(())
    }
}
