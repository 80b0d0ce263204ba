//! Leaf gradients written into their parameter set's flat gradient buffer, so an optimizer
//! step reads them where they lie instead of copying each into the buffer first.
//!
//! A parameter owned by a `ParamSet` knows its view of the set's gradient buffer. Backward
//! writes the parameter's gradient there only when no gradient handed out earlier in
//! that buffer is still alive (the set's own handle is then the buffer's only view):
//! otherwise a second `backward` would overwrite values a caller still holds, so the
//! gradient stays in a buffer of its own, and the step copies it, as before.

use crate::backend::{Backend, Storage};
use crate::error::Result;
use crate::tensor::Tensor;

/// Decides, once per gradient buffer per backward, whether that buffer is free.
#[derive(Default)]
pub(crate) struct SlotPlacer {
    /// Each gradient buffer met in this backward (a view of it) and whether it was free.
    buffers: Vec<(Storage, bool)>,
}

impl SlotPlacer {
    /// Where `leaf`'s finished gradient `grad` ends up: copied into the leaf's slot when
    /// its buffer is free, else `grad` itself.
    pub(crate) fn place(
        &mut self,
        backend: &dyn Backend,
        leaf: &Tensor,
        grad: Storage,
    ) -> Result<Storage> {
        let Some(slot) = leaf.grad_slot() else {
            return Ok(grad);
        };
        if slot.len() != grad.len() {
            return Ok(grad);
        }
        let free = match self.buffers.iter().find(|(b, _)| b.same_buffer(&slot)) {
            Some(&(_, free)) => free,
            None => {
                // The set's own handle and `slot`: no other view of the buffer exists.
                let free = slot.views_of_buffer() == 2;
                self.buffers.push((slot.clone(), free));
                free
            }
        };
        if !free {
            return Ok(grad);
        }
        backend.copy(&grad, &slot)?;
        Ok(slot)
    }
}
