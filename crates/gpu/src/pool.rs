//! A size-bucketed pool of storage buffers. Each buffer remembers the submission that
//! last used it. When its last `Storage` drops, a buffer whose uses were all submitted is
//! free at once; one still used by the pending (unsubmitted) commands waits in limbo until
//! they are submitted, because an upload (`queue.write_buffer`) lands before the next
//! submission's commands and would overwrite what those commands still have to read.
//!
//! A free buffer is handed out lowest number first (buffers are numbered as created), not
//! in the order buffers happened to be freed: a training step then gets the same buffers
//! for the same tensors every time, which lets dispatches reuse their bind groups.

use crate::stats::Stats;
use downhill_core::memory::human_bytes;
use downhill_core::{Error, Result, Storage};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Smallest bucket: 256 bytes, also the binding-offset alignment.
const MIN_BUCKET: u64 = 256;

/// A device buffer on loan from the pool; it goes back when dropped.
pub struct GpuBuffer {
    buffer: Option<wgpu::Buffer>,
    /// The buffer's number, in creation order.
    number: u64,
    bucket: u64,
    /// The submission (by number) whose commands last used this buffer.
    last_use: AtomicU64,
    shared: Arc<PoolShared>,
}

impl GpuBuffer {
    pub fn raw(&self) -> &wgpu::Buffer {
        self.buffer.as_ref().expect("present until drop")
    }

    /// Records that the pending submission uses this buffer.
    pub fn mark_used(&self) {
        self.last_use.store(
            self.shared.submission.load(Ordering::Acquire),
            Ordering::Release,
        );
    }
}

impl Drop for GpuBuffer {
    fn drop(&mut self) {
        if let (Some(buffer), Ok(mut lists)) = (self.buffer.take(), self.shared.lists.lock()) {
            let pending = self.last_use.load(Ordering::Acquire)
                >= self.shared.submission.load(Ordering::Acquire);
            if pending {
                lists.limbo.push((self.bucket, self.number, buffer));
            } else {
                lists.release(self.bucket, self.number, buffer);
            }
        }
    }
}

#[derive(Default)]
struct Lists {
    /// Free buffers by bucket, by number.
    available: HashMap<u64, BTreeMap<u64, wgpu::Buffer>>,
    /// Freed while pending commands may still use them: (bucket, number, buffer).
    limbo: Vec<(u64, u64, wgpu::Buffer)>,
    /// Buffers created so far: the next one's number.
    created: u64,
}

impl Lists {
    fn release(&mut self, bucket: u64, number: u64, buffer: wgpu::Buffer) {
        self.available
            .entry(bucket)
            .or_default()
            .insert(number, buffer);
    }
}

struct PoolShared {
    lists: Mutex<Lists>,
    /// Number of the pending submission (submissions made so far).
    submission: AtomicU64,
}

/// Hands out storage buffers by size bucket (powers of two from 256 bytes).
pub struct Pool {
    device: wgpu::Device,
    shared: Arc<PoolShared>,
    stats: Arc<Stats>,
    /// The largest buffer one binding may see.
    max_bytes: u64,
}

impl Pool {
    pub fn new(device: wgpu::Device, limits: &wgpu::Limits, stats: Arc<Stats>) -> Self {
        Pool {
            device,
            shared: Arc::new(PoolShared {
                lists: Mutex::new(Lists::default()),
                submission: AtomicU64::new(0),
            }),
            stats,
            max_bytes: limits
                .max_storage_buffer_binding_size
                .min(limits.max_buffer_size),
        }
    }

    /// The largest tensor one buffer (and one binding) may hold.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    fn bucket(bytes: u64) -> u64 {
        bytes.max(MIN_BUCKET).next_power_of_two()
    }

    /// A buffer of at least `bytes` bytes, reused when one is free.
    pub fn take(&self, bytes: u64) -> Result<Arc<GpuBuffer>> {
        if bytes > self.max_bytes {
            return Err(Error::TooLarge(format!(
                "a tensor of {} ({bytes} bytes) exceeds this device's binding limit of {}",
                human_bytes(bytes as u128),
                human_bytes(self.max_bytes as u128)
            )));
        }
        let bucket = Self::bucket(bytes).min(self.max_bytes.max(bytes));
        let mut lists = self
            .shared
            .lists
            .lock()
            .map_err(|_| Error::backend("gpu", "buffer pool poisoned"))?;
        let reused = lists
            .available
            .get_mut(&bucket)
            .and_then(BTreeMap::pop_first);
        let (number, buffer) = match reused {
            Some(free) => free,
            None => {
                let buffer = self.create(bucket)?;
                lists.created += 1;
                (lists.created - 1, buffer)
            }
        };
        drop(lists);
        Ok(Arc::new(GpuBuffer {
            buffer: Some(buffer),
            number,
            bucket,
            // Taken for the pending submission (an upload lands there).
            last_use: AtomicU64::new(self.shared.submission.load(Ordering::Acquire)),
            shared: self.shared.clone(),
        }))
    }

    /// A new device buffer of `bucket` bytes. Out of memory is caught in an error scope
    /// and returned with the size asked for (wgpu would otherwise report it later, with
    /// no size, through the device's error callback).
    fn create(&self, bucket: u64) -> Result<wgpu::Buffer> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("downhill tensor"),
            size: bucket,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::TooLarge(format!(
                "the device is out of memory allocating {} for a tensor: {e}",
                human_bytes(bucket as u128)
            )));
        }
        Stats::add(&self.stats.buffer_allocations, 1);
        Ok(buffer)
    }

    /// After a submission: buffers released before it may be handed out again.
    pub fn after_submit(&self) {
        if let Ok(mut lists) = self.shared.lists.lock() {
            self.shared.submission.fetch_add(1, Ordering::AcqRel);
            let limbo = std::mem::take(&mut lists.limbo);
            for (bucket, number, buffer) in limbo {
                lists.release(bucket, number, buffer);
            }
        }
    }

    /// A storage of `len` f32 (or u32) elements on a pooled buffer.
    pub fn storage(&self, len: usize) -> Result<Storage> {
        let bytes = (len as u64).checked_mul(4).ok_or_else(|| {
            Error::TooLarge(format!(
                "a tensor of {len} elements needs more bytes than a 64-bit size can count"
            ))
        })?;
        let buffer = self.take(bytes.max(4))?;
        Ok(Storage::new(buffer, len))
    }
}

/// The pooled buffer behind a storage, and the view's byte range in it. A view reaching
/// past its buffer (a `Storage::new` with a length the buffer does not have) is an error
/// here, before wgpu sees the range.
pub fn resolve(s: &Storage) -> Result<(&GpuBuffer, u64, u64)> {
    let buffer = s.buffer().downcast_ref::<GpuBuffer>().ok_or_else(|| {
        Error::backend(
            "gpu",
            "the storage is not a GPU buffer (a tensor from another device?)",
        )
    })?;
    let (offset, len) = (s.offset() as u128 * 4, s.len() as u128 * 4);
    if offset + len > buffer.bucket as u128 {
        return Err(Error::shape(
            "gpu",
            format!(
                "a view of elements {}..{} reaches past its buffer of {}",
                s.offset(),
                s.offset() as u128 + s.len() as u128,
                buffer.bucket / 4
            ),
        ));
    }
    Ok((buffer, offset as u64, len as u64))
}
