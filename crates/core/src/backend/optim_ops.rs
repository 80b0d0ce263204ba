//! `OptimOps`: optimizer steps beyond the elementwise [`UpdateRule`](crate::UpdateRule)
//! pass, with the argument checks every implementation runs first. See
//! [`crate::optim::tensorwise`] for the seam.

use super::Storage;
use crate::error::{Error, Result};
use crate::optim::tensorwise::{check_rows, SegmentTable, TensorwiseRule};

/// Steps of rules that reduce over each parameter tensor. The backend knows no optimizer:
/// it runs the rule's CPU loop or its two named kernels.
pub trait OptimOps {
    /// One step of a tensorwise rule over a run of parameters: `params`, `grads` and each
    /// of `state` (the buffers of the rule's `state_names`, in order) are the run's flat
    /// views; `segments` says where each tensor lies in them. A CPU backend runs
    /// [`TensorwiseRule::apply_segments`]; a GPU backend dispatches `<kernel>_segments`
    /// (one workgroup per segment, writing the per-segment numbers to a pooled buffer)
    /// then `<kernel>` (elementwise): two dispatches, no read-back.
    fn tensorwise_step(
        &self,
        rule: &dyn TensorwiseRule,
        params: &Storage,
        grads: &Storage,
        state: &[Storage],
        segments: &SegmentTable,
    ) -> Result<()>;
}

/// The checks of [`OptimOps::tensorwise_step`]: as many state buffers as the rule uses,
/// each (and the gradients) as long as `params` and apart from the others, a uniform of
/// its layout's size within a GPU's uniform slot, and a segment table whose rows lie in
/// the buffers (ascending, each `batches·rows·cols` long) with 8 `u32`s per row on the
/// device.
pub fn tensorwise_step(
    rule: &dyn TensorwiseRule,
    params: &Storage,
    grads: &Storage,
    state: &[Storage],
    segments: &SegmentTable,
) -> Result<()> {
    const OP: &str = "tensorwise_step";
    let n = params.len();
    if state.len() != rule.state_buffers() {
        return Err(Error::shape(
            OP,
            format!(
                "{rule:?} needs {} state buffers, got {}",
                rule.state_buffers(),
                state.len()
            ),
        ));
    }
    let (bytes, layout) = (rule.uniform().len(), rule.layout());
    if bytes != layout.size || bytes % 4 != 0 || !(8..=256).contains(&bytes) {
        return Err(Error::shape(
            OP,
            format!(
                "{rule:?}: a uniform of {bytes} bytes for a layout of {}",
                layout.size
            ),
        ));
    }
    let mut named: Vec<(&str, &Storage)> = vec![("the parameters", params)];
    named.push(("the gradients", grads));
    named.extend(state.iter().map(|s| ("a state buffer", s)));
    for (i, &(what, s)) in named.iter().enumerate() {
        if s.len() != n {
            return Err(Error::shape(
                OP,
                format!(
                    "{what} should hold {n} elements, the storage holds {}",
                    s.len()
                ),
            ));
        }
        if let Some(&(other, _)) = named[..i].iter().find(|(_, o)| o.same_buffer(s)) {
            return Err(Error::shape(
                OP,
                format!("{what} and {other} share a buffer; each must be apart"),
            ));
        }
    }
    check_rows(OP, &segments.rows, n)?;
    if segments.device.len() != segments.rows.len() * 8 {
        return Err(Error::shape(
            OP,
            format!(
                "the device segment table holds {} values for {} rows of 8",
                segments.device.len(),
                segments.rows.len()
            ),
        ));
    }
    Ok(())
}
