//! CPU buffers: a `Vec<f32>` behind a lock (parameters and optimizer state are updated in
//! place), plus plain index vectors for batching, and the fallible allocation every op
//! output and temporary goes through.

use downhill_core::{memory, Error, Result, Storage};
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The CPU's f32 buffer.
pub struct CpuBuffer(RwLock<Vec<f32>>);

/// The CPU's row-index buffer.
pub struct CpuIndices(pub Vec<u32>);

fn foreign() -> Error {
    Error::backend(
        "cpu",
        "the storage is not a CPU buffer (a tensor from another device?)",
    )
}

fn out_of_bounds(s: &Storage, buffer_len: usize) -> Error {
    Error::shape(
        "cpu",
        format!(
            "a view of elements {}..{} reaches past its buffer of {buffer_len}",
            s.offset(),
            s.offset() as u128 + s.len() as u128
        ),
    )
}

/// An empty vector with room for `len` elements, for an op's output or temporary: checked
/// against the memory available and reserved fallibly ([`memory::host_vec`]), so running
/// out of memory (whether the system's or an address-space limit) is an
/// [`Error::TooLarge`] naming the op, never an abort. Every CPU allocation that grows with
/// a tensor goes through this, [`filled`] or [`collect`]; ops then fill the vector in the
/// one pass they always made (`extend`, `push`), so the check costs no extra pass.
pub fn alloc<T>(op: &str, len: usize) -> Result<Vec<T>> {
    memory::host_vec(format_args!("cpu {op}"), len)
}

/// `len` copies of `value` (zeroed accumulators, outputs written out of order).
pub fn filled<T: Clone>(op: &str, len: usize, value: T) -> Result<Vec<T>> {
    let mut v = alloc(op, len)?;
    v.resize(len, value);
    Ok(v)
}

/// The `len` values of `values` (an exact-size iterator).
pub fn collect<T>(op: &str, len: usize, values: impl Iterator<Item = T>) -> Result<Vec<T>> {
    let mut v = alloc(op, len)?;
    v.extend(values);
    Ok(v)
}

/// Wraps host data as a new storage.
pub fn new_storage(data: Vec<f32>) -> Storage {
    let len = data.len();
    Storage::new(Arc::new(CpuBuffer(RwLock::new(data))), len)
}

pub fn index_storage(data: Vec<u32>) -> Storage {
    let len = data.len();
    Storage::new(Arc::new(CpuIndices(data)), len)
}

fn buffer(s: &Storage) -> Result<&CpuBuffer> {
    s.buffer().downcast_ref::<CpuBuffer>().ok_or_else(foreign)
}

pub fn indices(s: &Storage) -> Result<&[u32]> {
    let idx = s
        .buffer()
        .downcast_ref::<CpuIndices>()
        .ok_or_else(foreign)?;
    let (start, end) = range(s, idx.0.len())?;
    Ok(&idx.0[start..end])
}

/// A read-locked view of a storage's elements.
pub struct ReadView<'a> {
    guard: RwLockReadGuard<'a, Vec<f32>>,
    start: usize,
    end: usize,
}

impl Deref for ReadView<'_> {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.guard[self.start..self.end]
    }
}

/// A write-locked view of a storage's elements.
pub struct WriteView<'a> {
    guard: RwLockWriteGuard<'a, Vec<f32>>,
    start: usize,
    end: usize,
}

impl Deref for WriteView<'_> {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.guard[self.start..self.end]
    }
}

impl DerefMut for WriteView<'_> {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.guard[self.start..self.end]
    }
}

/// The view's element range in a buffer of `buffer_len`, checked once here so that
/// dereferencing a view can never index out of bounds.
fn range(s: &Storage, buffer_len: usize) -> Result<(usize, usize)> {
    match s.offset().checked_add(s.len()) {
        Some(end) if end <= buffer_len => Ok((s.offset(), end)),
        _ => Err(out_of_bounds(s, buffer_len)),
    }
}

pub fn read(s: &Storage) -> Result<ReadView<'_>> {
    let guard = buffer(s)?
        .0
        .read()
        .map_err(|_| Error::backend("cpu", "a buffer lock was poisoned"))?;
    let (start, end) = range(s, guard.len())?;
    Ok(ReadView { guard, start, end })
}

pub fn write(s: &Storage) -> Result<WriteView<'_>> {
    let guard = buffer(s)?
        .0
        .write()
        .map_err(|_| Error::backend("cpu", "a buffer lock was poisoned"))?;
    let (start, end) = range(s, guard.len())?;
    Ok(WriteView { guard, start, end })
}
