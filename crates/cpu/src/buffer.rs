//! CPU buffers: a `Vec<f32>` behind a lock (parameters and optimizer state are updated in
//! place), plus plain index vectors for batching.

use downhill_core::{Error, Result, Storage};
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
    Ok(&idx.0[s.offset()..s.offset() + s.len()])
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

pub fn read(s: &Storage) -> Result<ReadView<'_>> {
    let guard = buffer(s)?
        .0
        .read()
        .map_err(|_| Error::backend("cpu", "a buffer lock was poisoned"))?;
    Ok(ReadView {
        guard,
        start: s.offset(),
        end: s.offset() + s.len(),
    })
}

pub fn write(s: &Storage) -> Result<WriteView<'_>> {
    let guard = buffer(s)?
        .0
        .write()
        .map_err(|_| Error::backend("cpu", "a buffer lock was poisoned"))?;
    Ok(WriteView {
        guard,
        start: s.offset(),
        end: s.offset() + s.len(),
    })
}
