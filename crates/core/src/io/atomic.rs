//! Atomic file writes: a reader sees the old file or the new one, never half of one, and
//! two writers never share a temporary file.

use crate::error::{Error, Result};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `bytes` to `path` through a temporary file of its own in the same directory
/// (so the rename cannot cross file systems): write, fsync, rename over `path`, fsync the
/// directory. On any failure the temporary file is removed and `path` is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |e: std::io::Error| Error::Io {
        path: path.display().to_string(),
        detail: e.to_string(),
    };
    let name = path.file_name().ok_or_else(|| Error::Io {
        path: path.display().to_string(),
        detail: "the path names no file".into(),
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = dir.join(temporary_name(name));
    let result = write_synced(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(io);
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return result;
    }
    // The rename itself is durable once the directory is synced (best effort: some file
    // systems cannot open a directory for syncing).
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn write_synced(tmp: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true) // never reuse another writer's file
        .open(tmp)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// `.<name>.<pid>.<n>.tmp`: unique per process and call, hidden, beside the target. The
/// name part is cut to 200 bytes (at a character boundary), so a target name near the
/// file system's 255-byte limit still gets a temporary file.
fn temporary_name(name: &std::ffi::OsStr) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = name.to_string_lossy();
    let mut cut = name.len().min(200);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(".{}.{}.{n}.tmp", &name[..cut], std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("downhill-atomic-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = scratch("replace");
        let path = dir.join("h.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert!(leftovers(&dir).is_empty());
    }

    #[test]
    fn a_failed_rename_removes_the_temporary_and_keeps_the_target() {
        let dir = scratch("fail");
        // A directory in the target's place: the rename over it fails.
        let path = dir.join("taken");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("inside"), b"kept").unwrap();
        let e = write_atomic(&path, b"new").unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
        assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
        assert_eq!(std::fs::read(path.join("inside")).unwrap(), b"kept");
    }

    #[test]
    fn a_name_near_the_length_limit_still_writes() {
        let dir = scratch("long");
        let path = dir.join("h".repeat(250));
        write_atomic(&path, b"long").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"long");
        assert!(leftovers(&dir).is_empty());
    }

    #[test]
    fn concurrent_writers_of_two_files_never_corrupt_either() {
        let dir = scratch("race");
        let (a, b) = (dir.join("h.json"), dir.join("h.csv"));
        std::thread::scope(|s| {
            for (path, text) in [(&a, "a".repeat(10_000)), (&b, "b".repeat(20_000))] {
                s.spawn(move || {
                    for _ in 0..50 {
                        write_atomic(path, text.as_bytes()).unwrap();
                    }
                });
            }
            s.spawn(|| {
                for _ in 0..200 {
                    for (path, c, len) in [(&a, b'a', 10_000), (&b, b'b', 20_000)] {
                        if let Ok(read) = std::fs::read(path) {
                            assert_eq!(read.len(), len);
                            assert!(read.iter().all(|&x| x == c));
                        }
                    }
                }
            });
        });
        assert!(leftovers(&dir).is_empty());
    }
}
