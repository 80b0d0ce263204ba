//! Work counters: dispatches, submissions, new buffers and bind groups, bytes moved.

use downhill_core::DeviceStats;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Default, Debug)]
pub struct Stats {
    pub dispatches: AtomicU64,
    pub submissions: AtomicU64,
    pub buffer_allocations: AtomicU64,
    pub bytes_uploaded: AtomicU64,
    pub bytes_downloaded: AtomicU64,
    pub bind_groups_created: AtomicU64,
    pub bytes_copied: AtomicU64,
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub fn snapshot(&self) -> DeviceStats {
        DeviceStats {
            dispatches: self.dispatches.load(Relaxed),
            submissions: self.submissions.load(Relaxed),
            buffer_allocations: self.buffer_allocations.load(Relaxed),
            bytes_uploaded: self.bytes_uploaded.load(Relaxed),
            bytes_downloaded: self.bytes_downloaded.load(Relaxed),
            bind_groups_created: self.bind_groups_created.load(Relaxed),
            bytes_copied: self.bytes_copied.load(Relaxed),
        }
    }
}
