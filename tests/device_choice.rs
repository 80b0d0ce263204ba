//! `Device::best()`: a hardware GPU if there is one, never a software adapter over the
//! CPU backend, and `DOWNHILL_DEVICE=gpu` without an adapter is an error (issue 8).
//! Each case runs in a child process (this test binary again), since the choice reads the
//! environment.

use downhill::prelude::*;

/// In a child (run by [`choice`]): prints what `Device::best()` gave, and says so.
fn child_reports_the_choice() -> bool {
    if std::env::var("DOWNHILL_CHOICE_CHILD").is_err() {
        return false;
    }
    match Device::best() {
        Ok(d) => println!("CHOICE {:?}", d.kind()),
        Err(e) => println!("CHOICE error {e}"),
    }
    true
}

/// Runs `test` of this binary again in a child with `env`; what the child chose.
fn choice(test: &str, env: &[(&str, &str)]) -> String {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("DOWNHILL_CHOICE_CHILD", "1")
        .env("XDG_RUNTIME_DIR", "/tmp")
        .env("DOWNHILL_AUTOTUNE", "0") // timing is not this test's concern
        .env_remove("DOWNHILL_DEVICE")
        .env_remove("DOWNHILL_ADAPTER");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.find("CHOICE ").map(|i| l[i + 7..].to_string()))
        .unwrap_or_else(|| panic!("no choice reported: {stdout}"))
}

#[test]
fn best_never_prefers_a_software_adapter_over_the_cpu_backend() {
    if child_reports_the_choice() {
        return;
    }
    let me = "best_never_prefers_a_software_adapter_over_the_cpu_backend";
    let hardware = downhill::gpu::hardware_adapters();
    let expected = if hardware.is_empty() { "Cpu" } else { "Gpu" };
    assert_eq!(choice(me, &[]), expected, "hardware adapters: {hardware:?}");
    assert_eq!(choice(me, &[("DOWNHILL_DEVICE", "cpu")]), "Cpu");
}

#[test]
fn asking_for_a_gpu_without_one_is_an_error_not_a_fallback() {
    if child_reports_the_choice() {
        return;
    }
    let me = "asking_for_a_gpu_without_one_is_an_error_not_a_fallback";
    // No Vulkan driver at all (and only the Vulkan backend).
    let got = choice(
        me,
        &[
            ("DOWNHILL_DEVICE", "gpu"),
            ("WGPU_BACKEND", "vulkan"),
            ("VK_ICD_FILENAMES", "/nonexistent/icd.json"),
            ("VK_DRIVER_FILES", "/nonexistent/icd.json"),
        ],
    );
    assert!(got.starts_with("error no GPU adapter"), "{got}");
    let got = choice(me, &[("DOWNHILL_DEVICE", "tpu")]);
    assert!(got.starts_with("error invalid configuration"), "{got}");
}

#[test]
fn asking_for_a_gpu_takes_a_software_one_when_that_is_all_there_is() {
    if child_reports_the_choice() {
        return;
    }
    if !downhill::gpu::hardware_adapters().is_empty() {
        return; // a machine with a real GPU: covered by the first test
    }
    if std::env::var("DOWNHILL_REQUIRE_GPU").as_deref() != Ok("1") && Device::gpu().is_err() {
        eprintln!("SKIPPED: no GPU adapter at all (set DOWNHILL_REQUIRE_GPU=1 to fail)");
        return;
    }
    let me = "asking_for_a_gpu_takes_a_software_one_when_that_is_all_there_is";
    assert_eq!(choice(me, &[("DOWNHILL_DEVICE", "gpu")]), "Gpu");
}
