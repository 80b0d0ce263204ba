//! The matmul tuner at device open (crates/gpu/src/autotune.rs): it measures once, caches
//! the choice in the directory it is given (a temporary one here, never the user's home),
//! reads it back on the next open, and never fails opening the device over its cache
//! (corrupt file, unwritable directory). Run with `--nocapture` to see the tuner's time.

mod common;

use downhill::gpu::autotune::BUDGET;
use downhill::gpu::{ChosenBy, GpuBackend, MatmulChoice, MatmulKernel, MatmulSelect};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A fresh, empty directory for this test's cache.
fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("downhill-autotune-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Opens a device that tunes with its cache in `dir` for at most `budget`; the choice and
/// the wall time of the whole open.
fn open_tuned(dir: &Path, budget: Duration) -> (MatmulChoice, f64) {
    let adapter = std::env::var("DOWNHILL_ADAPTER").ok();
    let t = Instant::now();
    let backend = GpuBackend::open_with(
        adapter.as_deref(),
        MatmulSelect::Tune {
            cache_dir: Some(dir.to_path_buf()),
            budget,
        },
    )
    .expect("opening the device never fails over the tuner");
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    (backend.matmul_choice().clone(), open_ms)
}

#[test]
fn measures_once_then_reads_the_cache_and_survives_a_bad_one() {
    if common::gpu().is_none() {
        return;
    }
    let dir = temp_dir("cache");
    let file = dir.join("matmul-kernels.txt");

    // 1. Nothing cached, the default budget: measured within it (plus at most one product
    //    in flight; a loaded machine measures fewer variants and then caches nothing).
    let (first, open_ms) = open_tuned(&dir, BUDGET);
    println!("default budget: {open_ms:.0} ms for the whole open; matmul kernel {first}");
    let ChosenBy::Measured { ms, gflops, .. } = &first.how else {
        panic!("expected a measurement, got {first}");
    };
    assert!(gflops.iter().any(|(v, _)| *v == first.variant), "{first}");
    // Generous for a loaded machine, which is all this can check without being flaky.
    assert!(*ms < 2000.0, "the tuner took {ms:.0} ms");

    // 2. A budget that fits every variant even on a loaded machine: measured and saved...
    let _ = std::fs::remove_file(&file);
    let (full, _) = open_tuned(&dir, Duration::from_secs(20));
    println!("large budget: matmul kernel {full}");
    let ChosenBy::Measured { gflops, saved, .. } = &full.how else {
        panic!("expected a measurement, got {full}");
    };
    assert_eq!(saved.as_ref(), Ok(&file), "{full}");
    assert_eq!(
        gflops.len(),
        MatmulKernel::ALL.len(),
        "every variant ran: {full}"
    );
    // ... then read back, with no measurement.
    let (second, open_ms) = open_tuned(&dir, BUDGET);
    println!("cached: {open_ms:.0} ms for the whole open; matmul kernel {second}");
    assert_eq!(second.variant, full.variant);
    assert_eq!(second.how, ChosenBy::Cached(file.clone()), "{second}");

    // 3. A corrupt file: measured again, and the file replaced by a good one.
    std::fs::write(&file, [0xff, 0x00, b'\t', 0x80, b'\n', b'x']).unwrap();
    let (third, _) = open_tuned(&dir, Duration::from_secs(20));
    println!("after corrupting the cache: matmul kernel {third}");
    let ChosenBy::Measured { saved, .. } = &third.how else {
        panic!("a corrupt cache must mean measuring again, got {third}");
    };
    assert_eq!(saved.as_ref(), Ok(&file), "{third}");
    let text = std::fs::read_to_string(&file).expect("the cache was rewritten as text");
    assert!(text.contains(third.variant.name()), "{text}");

    // 4. An unwritable cache directory (a regular file stands where it should be, which
    //    defeats even root): measured, not saved, the device open all the same.
    let blocked = dir.join("blocked");
    std::fs::write(&blocked, "not a directory").unwrap();
    let (fourth, _) = open_tuned(&blocked, BUDGET);
    println!("with an unwritable cache: matmul kernel {fourth}");
    let ChosenBy::Measured { saved, .. } = &fourth.how else {
        panic!("an unwritable cache must mean measuring, got {fourth}");
    };
    assert!(saved.is_err(), "{fourth}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_choice_is_in_the_description() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    // common::gpu() opens with DOWNHILL_AUTOTUNE=0 unless the environment said otherwise.
    let text = gpu.describe();
    assert!(text.contains("matmul kernel "), "{text}");
    assert!(
        [
            "adapter-type default",
            "DOWNHILL_MATMUL",
            "measured",
            "cached"
        ]
        .iter()
        .any(|how| text.contains(how)),
        "{text}"
    );
}

/// Set in the child process of [`an_unknown_kernel_name_fails_the_open_with_a_config_error`].
const CHILD: &str = "DOWNHILL_AUTOTUNE_TEST_CHILD";

#[test]
fn an_unknown_kernel_name_fails_the_open_with_a_config_error() {
    if std::env::var_os(CHILD).is_some() {
        // The child: DOWNHILL_MATMUL names no kernel.
        match downhill::gpu::GpuBackend::new() {
            Err(downhill::Error::Config(msg)) => println!("CONFIG ERROR: {msg}"),
            Err(e) => println!("OTHER ERROR: {e}"),
            Ok(_) => println!("OPENED"),
        }
        return;
    }
    if common::gpu().is_none() {
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "an_unknown_kernel_name_fails_the_open_with_a_config_error",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("DOWNHILL_MATMUL", "fastest")
        .env("XDG_RUNTIME_DIR", "/tmp")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("ERROR") || l.contains("OPENED"))
        .unwrap_or_else(|| panic!("the child said nothing: {stdout}"));
    assert!(line.contains("CONFIG ERROR"), "{line}");
    for name in ["tiled", "register", "register_4x16", "auto", "fastest"] {
        assert!(line.contains(name), "{line}");
    }
}
