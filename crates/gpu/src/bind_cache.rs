//! Bind groups kept by what they bind. A training step dispatches the same kernels over
//! the same pooled buffers every time (the pool hands a step's buffers back in the same
//! order), so after the first step every dispatch finds its bind group here instead of
//! creating one: on lavapipe a bind group costs about as much as a small kernel.
//!
//! Keeping a bind group keeps its buffers alive; the pool never destroys a buffer (a
//! freed one waits in its free list for reuse), so the cache holds no memory the pool
//! would have given back.

use std::collections::HashMap;

/// One storage binding: the buffer and the byte range bound.
pub type BoundRange = (wgpu::Buffer, u64, u64);

/// Past this many bind groups the cache starts over: a step's working set is a few
/// hundred; more means shapes keep changing (e.g. a new batch size each call).
const CAPACITY: usize = 4096;

#[derive(Default)]
pub struct BindGroupCache {
    groups: HashMap<(wgpu::BindGroupLayout, Vec<BoundRange>), wgpu::BindGroup>,
}

impl BindGroupCache {
    /// The bind group of `layout` over `ranges`, made by `create` if not kept yet;
    /// whether it was made.
    pub fn get_or_create(
        &mut self,
        layout: &wgpu::BindGroupLayout,
        ranges: Vec<BoundRange>,
        create: impl FnOnce(&[BoundRange]) -> wgpu::BindGroup,
    ) -> (wgpu::BindGroup, bool) {
        let key = (layout.clone(), ranges);
        if let Some(group) = self.groups.get(&key) {
            return (group.clone(), false);
        }
        if self.groups.len() >= CAPACITY {
            self.groups.clear();
        }
        let group = create(&key.1);
        self.groups.insert(key, group.clone());
        (group, true)
    }
}
