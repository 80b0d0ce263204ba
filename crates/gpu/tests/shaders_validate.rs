//! Every WGSL file parses and validates with naga (the compiler wgpu uses), with no
//! adapter needed: a broken shader fails here on any machine.

use downhill_gpu::kernels::{all_kernels, all_sources};

#[test]
fn every_shader_file_validates() {
    let mut failures = Vec::new();
    for (name, source) in all_sources() {
        let module = match naga::front::wgsl::parse_str(source) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!(
                    "{name}: parse error:\n{}",
                    e.emit_to_string(source)
                ));
                continue;
            }
        };
        let mut validator = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::default(),
        );
        if let Err(e) = validator.validate(&module) {
            failures.push(format!(
                "{name}: validation error:\n{}",
                e.emit_to_string(source)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_shader_file_on_disk_is_embedded() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut on_disk = Vec::new();
    for sub in ["", "optim"] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "wgsl") {
                let name = path.file_name().unwrap().to_string_lossy().to_string();
                on_disk.push(if sub.is_empty() {
                    name
                } else {
                    format!("{sub}/{name}")
                });
            }
        }
    }
    on_disk.sort();
    let mut embedded: Vec<String> = all_sources().map(|(n, _)| n).collect();
    embedded.sort();
    assert_eq!(on_disk, embedded);
}

#[test]
fn every_entry_point_has_a_kernel_and_every_kernel_an_entry_point() {
    let sources: Vec<_> = all_sources().collect();
    let mut entry_points = Vec::new();
    for (name, source) in &sources {
        let module = naga::front::wgsl::parse_str(source).expect("validated above");
        for ep in &module.entry_points {
            entry_points.push((name.clone(), ep.name.clone()));
        }
    }
    for (file, entry) in &entry_points {
        let source = sources.iter().find(|(n, _)| n == file).unwrap().1;
        assert!(
            all_kernels().any(|k| k.entry == entry && k.source == source),
            "{file}:{entry} has no Kernel in kernels.rs"
        );
    }
    for kernel in all_kernels() {
        assert!(
            entry_points.iter().any(|(file, entry)| {
                let source = sources.iter().find(|(n, _)| n == file).unwrap().1;
                entry == kernel.entry && kernel.source == source
            }),
            "kernel {} names a missing entry point",
            kernel.name
        );
    }
}
