//! Tensorwise rules: optimizer steps that need a quantity of each parameter tensor (a
//! norm, a row or column mean), not only of each element. The seam beside
//! [`UpdateRule`] for them (LAMB's trust ratio, Adafactor's factored
//! moments and RMS clipping).
//!
//! A tensorwise rule is still one `#[repr(C)]` uniform struct and one WGSL file, but its
//! step over a run of parameters is two kernels over the same bindings, both looked up by
//! name ([`TensorwiseLayout::kernel`]):
//!
//! 1. `<kernel>_segments`: ONE dispatch of one workgroup per parameter tensor (segment),
//!    which reduces what the rule needs over its tensor (and may update state that needs
//!    a reduction first, such as Adafactor's `row_var`) and writes
//!    [`TensorwiseLayout::scalars`] numbers per segment into a small device buffer;
//! 2. `<kernel>`: ONE elementwise dispatch over the run (a `vec4` per invocation) that
//!    finds each element's segment in the segment table by binary search and reads that
//!    segment's numbers.
//!
//! Bindings: the uniform at 0, `params` (read-write) at 1, `grads` (read) at 2, the
//! state buffers from 3 (as an [`UpdateRule`]'s), then `segments` (the
//! [`SegmentRow`]s, read) and `scalars` (read-write in the first kernel, read in the
//! second). No value comes back to the host: two dispatches per run, per step. The CPU
//! backend runs [`TensorwiseRule::apply_segments`], the reference loop.

use super::rule::UpdateRule;
use crate::backend::Storage;
use crate::error::{Error, Result};

/// One row of a segment table: where one parameter tensor lies in a run's flat buffers
/// and its shape as the kernels use it (`[batches, rows, cols]`: the last two axes and the
/// product of the leading ones; a vector is `[1, 1, len]`, a scalar `[1, 1, 1]`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SegmentRow {
    /// The first element, relative to the run's start.
    pub offset: u32,
    /// Elements of the tensor (padding excluded): `batches · rows · cols`.
    pub len: u32,
    /// The tensor's number of dimensions.
    pub rank: u32,
    /// The product of the axes before the last two (1 for rank < 3).
    pub batches: u32,
    /// The second-to-last axis (1 for rank < 2).
    pub rows: u32,
    /// The last axis (1 for a scalar).
    pub cols: u32,
    /// Padding to 32 bytes.
    pub _pad0: u32,
    /// Padding.
    pub _pad1: u32,
}

impl SegmentRow {
    /// The row of a tensor of shape `dims` starting `offset` elements into the run.
    pub fn of(offset: usize, dims: &[usize]) -> Result<SegmentRow> {
        let big = || Error::TooLarge(format!("a segment at {offset} of shape {dims:?}"));
        let u = |v: usize| u32::try_from(v).map_err(|_| big());
        let len: usize = dims.iter().product();
        let (batches, rows, cols) = match dims.len() {
            0 => (1, 1, 1),
            1 => (1, 1, dims[0]),
            r => (dims[..r - 2].iter().product(), dims[r - 2], dims[r - 1]),
        };
        Ok(SegmentRow {
            offset: u(offset)?,
            len: u(len)?,
            rank: u(dims.len())?,
            batches: u(batches)?,
            rows: u(rows)?,
            cols: u(cols)?,
            _pad0: 0,
            _pad1: 0,
        })
    }

    /// `[offset, offset + len)` as `usize`s.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset as usize..(self.offset + self.len) as usize
    }
}

/// The segments of one run: the rows on the host (for checks and the CPU) and on the
/// device (the GPU kernels' `segments` binding; 8 `u32`s per row).
#[derive(Clone, Debug)]
pub struct SegmentTable {
    /// One row per tensor, ascending offsets.
    pub rows: Vec<SegmentRow>,
    /// The rows' `u32`s, uploaded with [`crate::Backend::upload_indices`].
    pub device: Storage,
}

impl SegmentTable {
    /// Uploads `rows` to `backend`.
    pub fn new(backend: &dyn crate::Backend, rows: Vec<SegmentRow>) -> Result<SegmentTable> {
        let device = backend.upload_indices(bytemuck::cast_slice(&rows))?;
        Ok(SegmentTable { rows, device })
    }
}

/// What a tensorwise rule's kernels look like: checked against the WGSL file by the gpu
/// crate's tests, as [`RuleLayout`](super::RuleLayout) is (which the rule also has, for its
/// uniform and state).
#[derive(Debug)]
pub struct TensorwiseLayout {
    /// The file `shaders/optim/<kernel>.wgsl`, its entry points `<kernel>_segments` and
    /// `<kernel>` (the same as the rule's `RuleLayout::kernel`).
    pub kernel: &'static str,
    /// Numbers per segment the first kernel writes and the second reads.
    pub scalars: usize,
}

/// A step whose math needs per-tensor reductions: an [`UpdateRule`] (uniform, state
/// names) whose [`UpdateRule::tensorwise`] returns itself.
pub trait TensorwiseRule: UpdateRule {
    /// The kernels and the per-segment numbers.
    fn tensorwise_layout(&self) -> &'static TensorwiseLayout;
    /// The CPU reference: one step in place over a run, tensor by tensor. `state` holds
    /// one slice per used state buffer, each as long as `params`; `segments` lie within
    /// them (the backend checked both).
    fn apply_segments(
        &self,
        params: &mut [f32],
        grads: &[f32],
        state: &mut [&mut [f32]],
        segments: &[SegmentRow],
    );
}

/// A step composed of backend ops per tensor, for math that a pair of kernels does not
/// express (Muon's Newton–Schulz iteration: matrix products of each 2-D update). It runs
/// the same code on every backend through the [`crate::Backend`] trait (matmul, binary,
/// reduce, accumulate on views of the run's buffers), so the backend still knows no
/// optimizer and nothing is read back. [`UpdateRule::composed`] returns it.
pub trait ComposedRule: UpdateRule {
    /// One step in place over a run: `params`, `grads` and each of `state` (the buffers
    /// of the rule's `state_names`) are the run's flat views, `segments` says where each
    /// tensor lies in them.
    fn step_run(
        &self,
        backend: &dyn crate::Backend,
        params: &Storage,
        grads: &Storage,
        state: &[Storage],
        segments: &[SegmentRow],
    ) -> Result<()>;
}

/// Fails unless every row lies within `len` elements, in ascending order without overlap,
/// with a consistent shape, and there are rows.
pub fn check_rows(op: &'static str, rows: &[SegmentRow], len: usize) -> Result<()> {
    if rows.is_empty() {
        return Err(Error::shape(op, "a segment table needs at least one row"));
    }
    let mut end = 0u64;
    for (i, r) in rows.iter().enumerate() {
        let product = r.batches as u64 * r.rows as u64 * r.cols as u64;
        let (from, to) = (r.offset as u64, r.offset as u64 + r.len as u64);
        if from < end || to > len as u64 || product != r.len as u64 {
            return Err(Error::shape(
                op,
                format!(
                    "segment {i} ({r:?}) overlaps the one before, leaves the {len} elements \
                     of the buffers or is not batches·rows·cols long"
                ),
            ));
        }
        end = to;
    }
    Ok(())
}

/// The segment table of each run a tensorwise rule has stepped, by its positions in the
/// buffer's layout: built and uploaded the first time, reused after (no upload per step).
#[derive(Debug, Default)]
pub(crate) struct TableCache {
    tables: Vec<(Vec<usize>, SegmentTable)>,
}

impl TableCache {
    /// The table of the run of parameters `run` (indices into `set.params()`) starting at
    /// element `from` of the flat buffer.
    pub(crate) fn get(
        &mut self,
        set: &super::ParamSet,
        run: &[usize],
        from: usize,
    ) -> Result<&SegmentTable> {
        let k = match self.tables.iter().position(|(r, _)| r == run) {
            Some(k) => k,
            None => {
                let rows = run
                    .iter()
                    .map(|&i| {
                        SegmentRow::of(set.segments()[i].offset - from, set.params()[i].dims())
                    })
                    .collect::<Result<Vec<_>>>()?;
                let table = SegmentTable::new(set.device().backend(), rows)?;
                self.tables.push((run.to_vec(), table));
                self.tables.len() - 1
            }
        };
        Ok(&self.tables[k].1)
    }
}
