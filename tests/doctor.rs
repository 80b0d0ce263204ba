//! downhill-doctor: its library entry on the CPU and every adapter (lavapipe in CI) passes
//! and covers every backend method and every optimizer (the lists come from the trait, the
//! library's kernel tables and README's optimizer table, not from the doctor); figures are
//! finite and positive; a backend that gets one op wrong fails the checks naming that op
//! with exit status 1; the binary runs and says so in its exit status and output.

mod common;

use downhill::doctor::{self, Mode, Options, Probe, Report};
use downhill::gpu::GpuBackend;
use std::sync::Arc;

/// The optimizers of README's table (`| \`Name\` ... |` rows under `| optimizer | options |`),
/// lower-case letters and digits only.
fn readme_optimizers() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table = readme
        .split("| optimizer | options |")
        .nth(1)
        .expect("README's optimizer table");
    table
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| normal(l.split('`').nth(1).expect("a `Name` in the row")))
        .collect()
}

fn normal(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_lowercase()
}

fn figures_ok(what: &str, m: &doctor::Measurements) {
    let mut all = vec![m.dispatch_us, m.round_trip_us, m.adam_ms, m.adam_gbs];
    all.extend(m.matmul_gflops.iter().map(|&(_, g)| g));
    assert!(
        all.iter().all(|v| v.is_finite() && *v > 0.0),
        "{what}: {m:?}"
    );
    assert!(
        !m.matmul_gflops.is_empty() && m.adam_params > 0,
        "{what}: {m:?}"
    );
}

#[test]
fn every_adapter_passes_and_every_op_and_optimizer_is_covered() {
    // Opens the adapters as common::gpu() would (tuner off), or fails under
    // DOWNHILL_REQUIRE_GPU=1 when there is none.
    let have_gpu = common::gpu().is_some();
    let report = doctor::run(&Options {
        mode: Mode::Quick,
        ..Options::default()
    });
    figures_ok(
        "cpu",
        report.cpu_measurements.as_ref().unwrap().as_ref().unwrap(),
    );
    if !have_gpu {
        assert_eq!(report.exit_code(), 2, "no GPU device: exit status 2");
        return;
    }
    assert!(report.devices().count() >= 1);
    let optimizers = readme_optimizers();
    assert!(optimizers.len() >= 19, "README's table: {optimizers:?}");
    for d in report.devices() {
        assert_eq!(d.failures(), 0, "{}:\n{}", d.name, report.to_text());
        assert!(
            d.uncovered.is_empty(),
            "{}: methods not reached: {:?}",
            d.name,
            d.uncovered
        );
        assert!(
            d.kernels_missing.is_empty(),
            "{}: kernels not run: {:?}",
            d.name,
            d.kernels_missing
        );
        assert_eq!(d.kernels_run, doctor::optimizer_kernels().len());
        let stepped: Vec<String> = d
            .groups
            .iter()
            .find(|g| g.name == "optimizers")
            .expect("an optimizer group")
            .names
            .iter()
            .map(|n| normal(n.split([' ', ':']).next().unwrap_or("")))
            .collect();
        for o in &optimizers {
            assert!(
                stepped.contains(o),
                "{}: README's {o} not checked; checked {stepped:?}",
                d.name
            );
        }
        // Forward and backward of every group were compared, and something passed.
        assert!(d
            .groups
            .iter()
            .all(|g| g.checks > 0 && g.checks == g.names.len()));
        let m = d.measurements.as_ref().unwrap().as_ref().unwrap();
        figures_ok(&d.name, m);
        // The dispatch figure comes with the device's own counts: every tiny dispatch
        // recorded, and submitted (at least once) before the wait.
        let stats = m.dispatch_stats;
        assert!(
            stats.dispatches as usize >= Mode::Quick.sizes().dispatches,
            "{stats:?}"
        );
        assert!(stats.submissions >= 1, "{stats:?}");
    }
    assert_eq!(report.exit_code(), 0);
    let text = report.to_text();
    assert!(
        text.contains("recommendation:") && text.contains("exit status 0"),
        "{text}"
    );
    let json = report.to_json();
    assert_eq!(json["passed"], true);
    assert!(json["adapters"].as_array().is_some_and(|a| !a.is_empty()));
}

/// The group that fails and what its report names, for one perturbed backend method.
fn perturbed(method: &str) -> Vec<(String, Vec<String>)> {
    let gpu = Arc::new(GpuBackend::new().expect("a GPU"));
    let d = doctor::check_device(&common::cpu(), gpu, Some(method), None);
    d.groups
        .into_iter()
        .filter(|g| !g.failures.is_empty())
        .map(|g| (g.name, g.failures))
        .collect()
}

#[test]
fn a_backend_with_one_wrong_op_fails_naming_it() {
    if common::gpu().is_none() {
        return;
    }
    // (backend method, the group that must fail, a word its failure reports contain)
    for (method, group, named) in [
        ("conv2d", "conv and pool", "conv2d"),
        ("softmax", "reductions and softmax", "softmax"),
        ("optimizer_step", "optimizers", "Adam"),
    ] {
        let failed = perturbed(method);
        let (_, reports) = failed
            .iter()
            .find(|(g, _)| g == group)
            .unwrap_or_else(|| panic!("{method} perturbed: {group} passed; failed: {failed:?}"));
        assert!(
            reports.iter().any(|r| r.contains(named)),
            "{method}: {reports:?}"
        );
        // Each report names the worst element, both values and the tolerance.
        let r = reports
            .iter()
            .find(|r| r.contains("worst at index"))
            .expect("an element report");
        assert!(
            r.contains("cpu ") && r.contains("gpu ") && r.contains("·|cpu|"),
            "{r}"
        );
    }
    // Through the library entry: exit status 1.
    let options = Options {
        no_measure: true,
        inject: Some("gather".into()),
        ..Options::default()
    };
    let report: Report = doctor::run(&options);
    assert_eq!(report.exit_code(), 1);
    assert!(report.to_text().contains("FAIL shape and index ops"));
    assert!(Probe::methods().contains(&"gather"));
}

#[test]
fn bad_arguments_are_config_errors() {
    for args in [
        &["--inject", "no_such_op"][..],
        &["--frobnicate"],
        &["--adapter"],
    ] {
        let e = Options::parse(args.iter().map(|s| s.to_string())).unwrap_err();
        assert!(matches!(e, downhill::Error::Config(_)), "{args:?}: {e}");
    }
    let o = Options::parse(["--full", "--json"].map(String::from)).unwrap();
    assert_eq!((o.mode, o.json), (Mode::Full, true));
}

#[test]
fn the_binary_reports_and_sets_its_exit_status() {
    let have_gpu = common::gpu().is_some();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_downhill-doctor"))
        .args(["--quick"])
        .env("DOWNHILL_AUTOTUNE", "0")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let expected = if have_gpu { 0 } else { 2 };
    assert_eq!(
        out.status.code(),
        Some(expected),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("adapters wgpu sees") && text.contains("summary:"),
        "{text}"
    );
    if have_gpu {
        assert!(
            text.contains("ok   matmul and linear") && !text.contains("FAIL"),
            "{text}"
        );
        assert!(text.contains("GFLOP/s") && text.contains("GB/s"), "{text}");
    }
}

/// A report of one GPU device with these figures (and `failures` failed checks).
fn synthetic(dispatch_us: f64, gflops: f64, gbs: f64, failures: usize) -> doctor::DeviceReport {
    let mut group = doctor::Group {
        name: "ops".into(),
        checks: 1,
        ..Default::default()
    };
    group.failures = vec!["op: wrong".into(); failures];
    doctor::DeviceReport {
        name: format!("gpu {gflops}"),
        groups: vec![group],
        measurements: Some(Ok(figures(dispatch_us, gflops, gbs))),
        ..Default::default()
    }
}

fn figures(dispatch_us: f64, gflops: f64, gbs: f64) -> doctor::Measurements {
    doctor::Measurements {
        dispatch_us,
        round_trip_us: 2.0 * dispatch_us,
        matmul_gflops: vec![(256, gflops / 2.0), (1024, gflops)],
        adam_params: 1 << 20,
        adam_ms: 1.0,
        adam_gbs: gbs,
        ..Default::default()
    }
}

#[test]
fn the_recommendation_follows_the_step_cost_model() {
    let adapter = |device: doctor::DeviceReport| doctor::AdapterReport {
        summary: downhill::gpu::AdapterSummary {
            index: 0,
            name: device.name.clone(),
            backend: "Vulkan".into(),
            device_type: "DiscreteGpu".into(),
            is_cpu: false,
            driver: String::new(),
            compute: true,
            max_buffer_size: 1 << 30,
            max_storage_binding: 1 << 30,
            max_workgroups_per_dimension: 65535,
            max_invocations_per_workgroup: 1024,
            max_workgroup_storage: 32768,
        },
        skipped: false,
        opened: Ok(1.0),
        device: Some(device),
    };
    let report = Report {
        adapters: vec![
            // 100x the CPU's matmul rate and 10x its bandwidth, 20 us per dispatch: wins
            // above some size.
            adapter(synthetic(20.0, 10_000.0, 200.0, 0)),
            // Slower per parameter than the CPU: never.
            adapter(synthetic(20.0, 10.0, 2.0, 0)),
            // Fast but wrong: not recommended.
            adapter(synthetic(20.0, 20_000.0, 400.0, 1)),
        ],
        cpu_name: "cpu".into(),
        cpu_measurements: Some(Ok(figures(0.1, 100.0, 20.0))),
        seconds: 1.0,
    };
    let lines = doctor::recommend(&report);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0].contains("parameters") && lines[0].contains("the CPU wins"),
        "{lines:?}"
    );
    assert!(lines[1].contains("faster at every model size"), "{lines:?}");
    assert!(lines[2].contains("do not use"), "{lines:?}");
    assert_eq!(report.exit_code(), 1, "a failed check fails the run");
    // The crossover is where the two step-cost lines meet.
    let (cf, cp) = doctor::step_cost(&figures(0.1, 100.0, 20.0));
    let (gf, gp) = doctor::step_cost(&figures(20.0, 10_000.0, 200.0));
    let p = (gf - cf) / (cp - gp);
    assert!((cf + cp * p - (gf + gp * p)).abs() < 1e-12 && p > 0.0);
    assert!(
        cf + cp * 2.0 * p > gf + gp * 2.0 * p,
        "the GPU is cheaper above it"
    );
}

#[test]
fn adapters_are_listed_with_their_limits_and_a_bad_index_is_an_error() {
    let have_gpu = common::gpu().is_some();
    let list = downhill::gpu::adapters();
    assert!(!have_gpu || list.iter().any(|a| a.compute), "{list:?}");
    for (i, a) in list.iter().enumerate() {
        assert_eq!(a.index, i);
        assert!(!a.name.is_empty() && !a.backend.is_empty(), "{a:?}");
        assert!(
            a.max_storage_binding > 0 && a.max_workgroups_per_dimension > 0,
            "{a:?}"
        );
    }
    let select = downhill::gpu::MatmulSelect::Default;
    match downhill::gpu::open_adapter(list.len(), select) {
        Err(downhill::Error::NoAdapter(m)) => assert!(m.contains("no longer listed"), "{m}"),
        other => panic!("adapter {} of {}: {other:?}", list.len(), list.len()),
    }
}
