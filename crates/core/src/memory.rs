//! Host memory: every size is checked before anything is allocated, so a tensor too large
//! for the machine is an [`Error::TooLarge`] naming what was asked for, never an abort of
//! the process ("memory allocation failed", "capacity overflow") or a visit from the OOM
//! killer.
//!
//! Two checks: the byte count must fit the address space (`isize::MAX`), and an
//! allocation of [`CHECK_AVAILABLE_FROM`] bytes or more must fit in the memory the
//! operating system reports available (Linux `MemAvailable`), less [`HEADROOM`]. Small
//! allocations skip the second check: reading `/proc/meminfo` costs microseconds, which a
//! training step of small tensors cannot afford, and they cannot exhaust memory on their
//! own before a large one is refused.

use crate::error::{Error, Result};
use std::fmt::Display;

/// Bytes of one f32 (or u32) element.
pub const ELEMENT_BYTES: usize = 4;

/// Allocations at least this large are checked against the memory available now.
pub const CHECK_AVAILABLE_FROM: usize = 32 << 20;

/// Memory left to the rest of the system when a large allocation is checked.
pub const HEADROOM: u64 = 256 << 20;

/// The memory the operating system could give this process now without swapping, where it
/// says (Linux: `MemAvailable` of `/proc/meminfo`); `None` elsewhere.
/// Under a cgroup-v2 memory limit (a container, a systemd `MemoryMax`), the room left
/// under the tightest limit of this process's cgroup and its ancestors counts too: past
/// it the kernel kills the process whatever `MemAvailable` says.
///
/// `DOWNHILL_MEMORY_CHECK=off` turns this check off (only the address-space check stays),
/// for systems whose accounting misleads it.
pub fn available_bytes() -> Option<u64> {
    if std::env::var("DOWNHILL_MEMORY_CHECK").as_deref() == Ok("off") {
        return None;
    }
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    let system = kib.checked_mul(1024)?;
    Some(cgroup_room().map_or(system, |room| room.min(system)))
}

/// The least room under any `memory.max` from this process's cgroup (v2) up to the root:
/// `max - current`, with the reclaimable page cache (`inactive_file`) counted as room.
fn cgroup_room() -> Option<u64> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = own.lines().find_map(|l| l.strip_prefix("0::"))?.trim();
    let mut dir = std::path::PathBuf::from(format!("/sys/fs/cgroup{path}"));
    let mut room: Option<u64> = None;
    loop {
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
        // "max" (no limit) does not parse: that level adds no bound.
        if let (Some(max), Some(current)) = (
            read("memory.max").and_then(|v| v.trim().parse::<u64>().ok()),
            read("memory.current").and_then(|v| v.trim().parse::<u64>().ok()),
        ) {
            let cache = read("memory.stat")
                .and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("inactive_file "))
                        .and_then(|v| v.trim().parse::<u64>().ok())
                })
                .unwrap_or(0);
            let here = max.saturating_sub(current.saturating_sub(cache));
            room = Some(room.map_or(here, |r| r.min(here)));
        }
        if dir == std::path::Path::new("/sys/fs/cgroup") || !dir.pop() {
            return room;
        }
    }
}

/// `bytes` in the largest binary unit that keeps it at least 1, e.g. `4.0 TiB`.
pub fn human_bytes(bytes: u128) -> String {
    const UNITS: [&str; 7] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Bytes of `len` elements, or `None` when that overflows the address space.
pub fn element_bytes(len: usize) -> Option<usize> {
    len.checked_mul(ELEMENT_BYTES)
        .filter(|&b| b <= isize::MAX as usize)
}

/// Fails with [`Error::TooLarge`] unless `len` elements can be allocated on the host now;
/// `what` names the allocation in the message (e.g. the op and shape).
pub fn check_host(what: impl Display, len: usize) -> Result<()> {
    let Some(bytes) = element_bytes(len) else {
        return Err(Error::TooLarge(format!(
            "{what}: {len} elements need {} of host memory, more than this machine can address",
            human_bytes(len as u128 * ELEMENT_BYTES as u128)
        )));
    };
    if bytes < CHECK_AVAILABLE_FROM {
        return Ok(());
    }
    match available_bytes() {
        Some(available) if bytes as u64 > available.saturating_sub(HEADROOM) => {
            Err(Error::TooLarge(format!(
                "{what}: {len} elements need {} of host memory; {} is available",
                human_bytes(bytes as u128),
                human_bytes(available as u128)
            )))
        }
        _ => Ok(()),
    }
}

/// An empty vector with room for `len` elements, checked as [`check_host`] does and
/// reserved fallibly (an allocator refusal is an error too).
pub fn host_vec<T>(what: impl Display, len: usize) -> Result<Vec<T>> {
    check_host(&what, len)?;
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|e| {
        Error::TooLarge(format!(
            "{what}: the host refused {} ({e})",
            human_bytes(len as u128 * std::mem::size_of::<T>() as u128)
        ))
    })?;
    Ok(v)
}

/// The values of `f(0..len)` in a vector allocated by [`host_vec`].
pub fn host_collect<T>(
    what: impl Display,
    len: usize,
    f: impl Iterator<Item = T>,
) -> Result<Vec<T>> {
    let mut v = host_vec(what, len)?;
    v.extend(f.take(len));
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_beyond_the_address_space_are_refused() {
        let e = check_host("zeros [2^62]", 1 << 62).unwrap_err();
        assert!(
            matches!(&e, Error::TooLarge(m) if m.contains("zeros [2^62]") && m.contains("16.0 EiB")),
            "{e}"
        );
        assert!(host_vec::<f32>("x", usize::MAX).is_err());
    }

    #[test]
    fn sizes_beyond_available_memory_are_refused() {
        let Some(available) = available_bytes() else {
            return; // not Linux: only the address-space check applies
        };
        let len = (available / ELEMENT_BYTES as u64 + 1) as usize;
        let e = check_host("big", len).unwrap_err();
        assert!(e.to_string().contains("is available"), "{e}");
        assert!(check_host("small", 1000).is_ok());
    }

    #[test]
    fn bytes_read_as_people_write_them() {
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(4 << 40), "4.0 TiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }
}
