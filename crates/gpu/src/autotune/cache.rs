//! The tuner's choices on disk: one small text file, `matmul-kernels.txt`, in the cache
//! directory, one line per adapter key (`key<TAB>variant name<TAB>ms`). Nothing here ever
//! fails the caller: a file that cannot be read, or a line that does not parse, is a miss;
//! a file that cannot be written is reported as a string and otherwise ignored.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The file's name inside the cache directory.
pub const FILE: &str = "matmul-kernels.txt";

/// A larger file is not ours (or is corrupt): treated as empty.
const MAX_BYTES: u64 = 1 << 20;

const HEADER: &str = "# downhill: the matmul kernel measured fastest per adapter, driver and \
                      version (delete this file to measure again)\n";

/// The directory the cache lives in: `DOWNHILL_CACHE_DIR`, else `$XDG_CACHE_HOME/downhill`,
/// else `$HOME/.cache/downhill`; `None` when none of them is set (nothing is cached then).
pub fn default_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("DOWNHILL_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(xdg) = var("XDG_CACHE_HOME") {
        return Some(PathBuf::from(xdg).join("downhill"));
    }
    var("HOME").map(|home| PathBuf::from(home).join(".cache").join("downhill"))
}

/// A key as it is stored: tabs and line breaks (which would break the format) become spaces.
fn clean(key: &str) -> String {
    key.replace(['\t', '\n', '\r'], " ")
}

/// The file's text, or `None` if it is missing, unreadable, not UTF-8 or too large.
fn read(dir: &Path) -> Option<String> {
    let file = std::fs::File::open(dir.join(FILE)).ok()?;
    let mut text = String::new();
    file.take(MAX_BYTES + 1).read_to_string(&mut text).ok()?;
    (text.len() as u64 <= MAX_BYTES).then_some(text)
}

/// The variant name stored for `key` in `dir`, if a well-formed line holds one.
pub fn lookup(dir: &Path, key: &str) -> Option<String> {
    let key = clean(key);
    read(dir)?.lines().find_map(|line| {
        let mut fields = line.split('\t');
        (fields.next()? == key).then_some(())?;
        let name = fields.next()?.trim();
        (!name.is_empty()).then(|| name.to_string())
    })
}

/// Records `name` (measured in `ms`) for `key` in `dir`, keeping the other keys' lines and
/// dropping lines that do not parse. Written to a temporary file and renamed, so a reader
/// never sees half a file. Errors come back as a sentence, for the caller to report or ignore.
pub fn store(dir: &Path, key: &str, name: &str, ms: f64) -> Result<(), String> {
    let key = clean(key);
    let mut text = String::from(HEADER);
    for line in read(dir).unwrap_or_default().lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() == 3 && fields[0] != key && !fields[0].starts_with('#') {
            text.push_str(line);
            text.push('\n');
        }
    }
    text.push_str(&format!("{key}\t{}\t{ms:.1}\n", clean(name)));
    let fail = |what: &str, e: std::io::Error| format!("{what} {}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(|e| fail("creating", e))?;
    let tmp = dir.join(format!("{FILE}.{}.tmp", std::process::id()));
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .and_then(|()| std::fs::rename(&tmp, dir.join(FILE)));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail("writing the matmul cache in", e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system's temporary one.
    fn temp_dir(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("downhill-cache-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn stores_and_finds_each_key() {
        let dir = temp_dir("roundtrip");
        assert_eq!(lookup(&dir, "a"), None, "no file yet");
        store(&dir, "a", "register", 12.5).unwrap();
        store(&dir, "b\twith tab", "tiled", 3.0).unwrap();
        store(&dir, "a", "register_4x16", 11.0).unwrap();
        assert_eq!(lookup(&dir, "a").as_deref(), Some("register_4x16"));
        assert_eq!(lookup(&dir, "b\twith tab").as_deref(), Some("tiled"));
        assert_eq!(lookup(&dir, "c"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_corrupt_file_is_a_miss_and_is_replaced() {
        let dir = temp_dir("corrupt");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(FILE), [0xff, 0xfe, 0x00, b'\t', b'\n', 0x80]).unwrap();
        assert_eq!(lookup(&dir, "a"), None);
        store(&dir, "a", "register", 1.0).unwrap();
        assert_eq!(lookup(&dir, "a").as_deref(), Some("register"));
        // Lines with the key but no variant, or garbage, are misses too.
        std::fs::write(dir.join(FILE), "a\n\ta\tb\na\t\t\n").unwrap();
        assert_eq!(lookup(&dir, "a"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_unwritable_directory_is_an_error_not_a_panic() {
        let dir = temp_dir("unwritable");
        std::fs::create_dir_all(&dir).unwrap();
        // A regular file where the directory should be: fails even for root.
        let blocked = dir.join("not-a-dir");
        std::fs::write(&blocked, "x").unwrap();
        let err = store(&blocked, "a", "register", 1.0).unwrap_err();
        assert!(err.contains("not-a-dir"), "{err}");
        assert_eq!(lookup(&blocked, "a"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
