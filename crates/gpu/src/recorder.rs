//! Recording and submitting work. Ops record dispatches and copies into one pending
//! command encoder; each dispatch's parameters go to a slot of a uniform arena written
//! once per submission. The queue is submitted when the host needs a value (`download`),
//! at the end of a training step (`flush`) or when the arena is full.

use crate::bind_cache::{BindGroupCache, BoundRange};
use crate::context::GpuContext;
use crate::kernels::{Kernel, PipelineCache, UNIFORM_SLOT};
use crate::pool::{resolve, Pool};
use crate::stats::Stats;
use downhill_core::memory::host_vec;
use downhill_core::{Error, Result, Storage};
use std::sync::{Arc, Mutex};

/// Dispatches one submission can hold before the arena forces a submit.
const ARENA_SLOTS: u64 = 4096;

struct Pending {
    encoder: Option<wgpu::CommandEncoder>,
    /// The open compute pass: consecutive dispatches share it (wgpu still places the
    /// barriers they need); a copy, a clear or the submit ends it.
    pass: Option<wgpu::ComputePass<'static>>,
    /// Host image of the uniform arena for the pending submission.
    uniforms: Vec<u8>,
    slots_used: u64,
    /// Bind groups of earlier dispatches, reused when a dispatch binds the same ranges.
    bind_groups: BindGroupCache,
}

/// Owns the device queue and everything recorded but not yet submitted.
pub struct Recorder {
    pub ctx: GpuContext,
    pub pool: Pool,
    pub stats: Arc<Stats>,
    pipelines: PipelineCache,
    arena: wgpu::Buffer,
    pending: Mutex<Pending>,
    /// Most workgroups one dispatch dimension may have.
    max_groups_per_dim: u32,
}

impl Recorder {
    pub fn new(ctx: GpuContext) -> Self {
        let stats = Arc::new(Stats::default());
        let pool = Pool::new(ctx.device.clone(), &ctx.limits, stats.clone());
        let arena = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("downhill uniform arena"),
            size: ARENA_SLOTS * UNIFORM_SLOT,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let max_groups_per_dim = ctx.limits.max_compute_workgroups_per_dimension;
        Recorder {
            ctx,
            pool,
            stats,
            pipelines: PipelineCache::default(),
            arena,
            pending: Mutex::new(Pending {
                encoder: None,
                pass: None,
                uniforms: Vec::new(),
                slots_used: 0,
                bind_groups: BindGroupCache::default(),
            }),
            max_groups_per_dim,
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Pending>> {
        self.pending
            .lock()
            .map_err(|_| Error::backend("gpu", "command recorder poisoned"))
    }

    /// The pending encoder, with any open compute pass ended (for copies and clears).
    fn encoder<'a>(&self, pending: &'a mut Pending) -> &'a mut wgpu::CommandEncoder {
        pending.pass = None;
        pending.encoder.get_or_insert_with(|| {
            self.ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("downhill step"),
                })
        })
    }

    /// Builds every pipeline (see [`PipelineCache::warm_up`]).
    pub fn warm_up(&self) -> Result<()> {
        self.pipelines.warm_up(&self.ctx.device)?;
        self.ctx.check_errors()
    }

    /// Splits `groups` workgroups over x and y so neither exceeds the per-dimension limit;
    /// kernels rebuild the linear index as `wid.x + wid.y * nwg.x`.
    pub fn grid(&self, groups: u32) -> (u32, u32) {
        let x = groups.clamp(1, self.max_groups_per_dim);
        (x, groups.div_ceil(x).max(1))
    }

    /// Records one dispatch of `kernel` over `groups` workgroups with uniform `params` and
    /// the storage `bindings` (in the kernel's binding order).
    pub fn dispatch<P: bytemuck::Pod>(
        &self,
        kernel: &Kernel,
        params: &P,
        bindings: &[&Storage],
        groups: u32,
    ) -> Result<()> {
        debug_assert_eq!(bindings.len(), kernel.storage.len(), "{}", kernel.name);
        if groups == 0 {
            return Ok(());
        }
        let (x, y) = self.grid(groups);
        if y > self.max_groups_per_dim {
            return Err(Error::TooLarge(format!(
                "{}: {groups} workgroups exceed this device's grid of {} x {}",
                kernel.name, self.max_groups_per_dim, self.max_groups_per_dim
            )));
        }
        let pipeline = self.pipelines.get(&self.ctx.device, kernel)?;
        let mut pending = self.lock()?;
        if pending.slots_used == ARENA_SLOTS {
            self.submit(&mut pending)?;
        }
        let slot = pending.slots_used;
        pending.slots_used += 1;
        let bytes = bytemuck::bytes_of(params);
        debug_assert!(bytes.len() as u64 <= UNIFORM_SLOT);
        let start = (slot * UNIFORM_SLOT) as usize;
        pending.uniforms.resize(start + UNIFORM_SLOT as usize, 0);
        pending.uniforms[start..start + bytes.len()].copy_from_slice(bytes);

        let align = self.ctx.limits.min_storage_buffer_offset_alignment as u64;
        let mut ranges = Vec::with_capacity(bindings.len());
        for (i, s) in bindings.iter().enumerate() {
            let (buffer, offset, size) = resolve(s)?;
            // An empty view reads nothing: bound at the buffer's start, it cannot reach
            // past the end (an empty view may sit exactly there).
            let offset = if size == 0 { 0 } else { offset };
            buffer.mark_used();
            if offset % align != 0 {
                return Err(Error::backend(
                    "gpu",
                    format!(
                        "{}: binding {} starts at byte {offset}, not a multiple of {align}",
                        kernel.name,
                        i + 1
                    ),
                ));
            }
            ranges.push((buffer.raw().clone(), offset, size.max(4)));
        }
        let (bind_group, created) =
            pending
                .bind_groups
                .get_or_create(&pipeline.layout, ranges, |ranges| {
                    self.create_bind_group(kernel, &pipeline.layout, ranges)
                });
        if created {
            Stats::add(&self.stats.bind_groups_created, 1);
        }
        if pending.pass.is_none() {
            let pass = self
                .encoder(&mut pending)
                .begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("downhill kernels"),
                    timestamp_writes: None,
                })
                .forget_lifetime();
            pending.pass = Some(pass);
        }
        let pass = pending.pass.as_mut().expect("opened above");
        pass.set_pipeline(&pipeline.pipeline);
        pass.set_bind_group(0, &bind_group, &[(slot * UNIFORM_SLOT) as u32]);
        pass.dispatch_workgroups(x, y, 1);
        Stats::add(&self.stats.dispatches, 1);
        Ok(())
    }

    /// A bind group of the uniform arena's slot (at a dynamic offset) and `ranges`.
    fn create_bind_group(
        &self,
        kernel: &Kernel,
        layout: &wgpu::BindGroupLayout,
        ranges: &[BoundRange],
    ) -> wgpu::BindGroup {
        let uniform = wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &self.arena,
                offset: 0,
                size: wgpu::BufferSize::new(UNIFORM_SLOT),
            }),
        };
        let storage = ranges
            .iter()
            .enumerate()
            .map(|(i, (buffer, offset, size))| wgpu::BindGroupEntry {
                binding: i as u32 + 1,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer,
                    offset: *offset,
                    size: wgpu::BufferSize::new(*size),
                }),
            });
        let entries: Vec<_> = std::iter::once(uniform).chain(storage).collect();
        self.ctx
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(kernel.name),
                layout,
                entries: &entries,
            })
    }

    /// Records a device-to-device copy of a whole view (same lengths).
    pub fn copy(&self, src: &Storage, dst: &Storage) -> Result<()> {
        let (sb, so, size) = resolve(src)?;
        let (db, doff, _) = resolve(dst)?;
        if size == 0 {
            return Ok(());
        }
        let mut pending = self.lock()?;
        // Marked under the lock: no submission can slip between the mark and the record.
        sb.mark_used();
        db.mark_used();
        self.encoder(&mut pending)
            .copy_buffer_to_buffer(sb.raw(), so, db.raw(), doff, size);
        Stats::add(&self.stats.bytes_copied, size);
        Ok(())
    }

    /// Records zeroing a view.
    pub fn clear(&self, dst: &Storage) -> Result<()> {
        let (db, offset, size) = resolve(dst)?;
        if size == 0 {
            return Ok(());
        }
        let mut pending = self.lock()?;
        // Marked under the lock: no submission can slip between the mark and the record.
        db.mark_used();
        self.encoder(&mut pending)
            .clear_buffer(db.raw(), offset, Some(size));
        Ok(())
    }

    /// Writes host data into a pooled buffer (lands before the next submission's commands;
    /// the pool never hands out a buffer that pending commands still use).
    pub fn upload(&self, bytes: &[u8], len: usize) -> Result<Storage> {
        let storage = self.pool.storage(len)?;
        if !bytes.is_empty() {
            let (buffer, _, _) = resolve(&storage)?;
            let _pending = self.lock()?;
            buffer.mark_used();
            self.ctx.queue.write_buffer(buffer.raw(), 0, bytes);
            Stats::add(&self.stats.bytes_uploaded, bytes.len() as u64);
        }
        Ok(storage)
    }

    /// Submits everything recorded so far (no wait).
    pub fn flush(&self) -> Result<()> {
        let mut pending = self.lock()?;
        self.submit(&mut pending)
    }

    /// Submits everything recorded so far and waits until the device has finished it.
    pub fn wait(&self) -> Result<()> {
        self.flush()?;
        self.ctx
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| {
                Error::backend(&self.ctx.info.name, format!("waiting for the device: {e}"))
            })?;
        self.ctx.check_errors()
    }

    fn submit(&self, pending: &mut Pending) -> Result<()> {
        pending.pass = None;
        let Some(encoder) = pending.encoder.take() else {
            return self.ctx.check_errors();
        };
        if pending.slots_used > 0 {
            let used = (pending.slots_used * UNIFORM_SLOT) as usize;
            self.ctx
                .queue
                .write_buffer(&self.arena, 0, &pending.uniforms[..used]);
        }
        self.ctx.queue.submit([encoder.finish()]);
        pending.slots_used = 0;
        Stats::add(&self.stats.submissions, 1);
        self.pool.after_submit();
        self.ctx.check_errors()
    }

    /// Copies a view of f32 (or u32) elements to the host: records a copy into a mappable
    /// buffer, submits, waits, and reads the mapped bytes into a vector allocated
    /// fallibly (memory running out is an error, not an abort).
    pub fn download(&self, src: &Storage) -> Result<Vec<f32>> {
        let (buffer, offset, size) = resolve(src)?;
        if size == 0 {
            return Ok(Vec::new());
        }
        buffer.mark_used();
        let staging = self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("downhill read-back"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        {
            let mut pending = self.lock()?;
            self.encoder(&mut pending).copy_buffer_to_buffer(
                buffer.raw(),
                offset,
                &staging,
                0,
                size,
            );
            self.submit(&mut pending)?;
        }
        let slice = staging.slice(..);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.ctx
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| {
                Error::backend(&self.ctx.info.name, format!("waiting for the device: {e}"))
            })?;
        rx.recv()
            .map_err(|_| Error::backend("gpu", "read-back callback never ran"))?
            .map_err(|e| Error::backend(&self.ctx.info.name, format!("read-back failed: {e}")))?;
        let data = {
            let mapped = slice.get_mapped_range().map_err(|e| {
                Error::backend(&self.ctx.info.name, format!("read-back mapping: {e}"))
            })?;
            let mut data = host_vec("gpu download", mapped.len() / 4)?;
            data.extend(
                mapped
                    .chunks_exact(4)
                    .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
            );
            data
        };
        staging.unmap();
        Stats::add(&self.stats.bytes_downloaded, size);
        self.ctx.check_errors()?;
        Ok(data)
    }
}
