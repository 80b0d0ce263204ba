//! Every tensorwise rule (core's `TENSORWISE_LAYOUTS`) against its WGSL file, parsed by
//! naga: the uniform at `@binding(0)` has the Rust struct's size and field offsets (`n4`,
//! `flags`, `nseg` first: the backend writes `n4` and `nseg`), each flag is a `const` of
//! the same value, the storage bindings are `params`, `grads`, the state by PyTorch's
//! names, `segments` and `scalars`, and the kernel table has both entry points.

use downhill_core::optim::TENSORWISE_LAYOUTS;
use downhill_gpu::kernels::{tensorwise, Access, TENSORWISE};
use naga::{Expression, Literal, TypeInner};

#[test]
fn every_tensorwise_rule_struct_is_its_kernels_uniform() {
    let mut errors = Vec::new();
    for (rule, tw) in TENSORWISE_LAYOUTS {
        let name = rule.kernel;
        if tw.kernel != name {
            errors.push(format!("{name}: tensorwise kernel {}", tw.kernel));
        }
        let Some(pair) = tensorwise(name) else {
            errors.push(format!("{name}: not in TENSORWISE"));
            continue;
        };
        let module = naga::front::wgsl::parse_str(pair.elementwise.source).expect("parses");
        let mut uniform = None;
        let mut storage = Vec::new();
        for (_, var) in module.global_variables.iter() {
            match &var.binding {
                Some(b) if b.binding == 0 => uniform = Some(var.ty),
                Some(b) => storage.push((b.binding, var.name.clone().unwrap_or_default())),
                None => {}
            }
        }
        storage.sort();
        let storage: Vec<String> = storage.into_iter().map(|(_, n)| n).collect();
        let TypeInner::Struct { members, span } = &module.types[uniform.expect("uniform")].inner
        else {
            panic!("{name}: the uniform is a struct");
        };
        let fields: Vec<(String, usize)> = members
            .iter()
            .map(|m| (m.name.clone().unwrap_or_default(), m.offset as usize))
            .collect();
        let rust: Vec<(String, usize)> = rule
            .fields
            .iter()
            .map(|&(f, o)| (f.to_string(), o))
            .collect();
        if *span as usize != rule.size || fields != rust {
            errors.push(format!(
                "{name}: WGSL {span} bytes {fields:?}, Rust {} {rust:?}",
                rule.size
            ));
        }
        if rust
            .iter()
            .take(3)
            .map(|(f, _)| f.as_str())
            .collect::<Vec<_>>()
            != ["n4", "flags", "nseg"]
        {
            errors.push(format!("{name}: the first fields must be n4, flags, nseg"));
        }
        let consts: Vec<(String, u32)> = module
            .constants
            .iter()
            .filter_map(|(_, c)| match module.global_expressions[c.init] {
                Expression::Literal(Literal::U32(v)) => Some((c.name.clone()?, v)),
                _ => None,
            })
            .collect();
        for &(flag, bit) in rule.flags {
            if !consts.iter().any(|(n, v)| n == flag && *v == bit) {
                errors.push(format!("{name}: flag {flag} = {bit} is no WGSL const"));
            }
        }
        let mut expected = vec!["params".to_string(), "grads".to_string()];
        expected.extend(rule.state.iter().map(|s| s.to_string()));
        expected.extend(["segments".to_string(), "scalars".to_string()]);
        if storage != expected {
            errors.push(format!(
                "{name}: storage {storage:?}, expected {expected:?}"
            ));
        }
        let mut access = vec![Access::ReadWrite, Access::Read];
        access.extend(rule.state.iter().map(|_| Access::ReadWrite));
        access.extend([Access::Read, Access::ReadWrite]);
        for (kernel, entry) in [
            (&pair.segments, format!("{name}_segments")),
            (&pair.elementwise, name.to_string()),
        ] {
            let has_entry = module.entry_points.iter().any(|e| e.name == entry);
            if kernel.entry != entry || kernel.storage != access.as_slice() || !has_entry {
                errors.push(format!(
                    "{name}: kernel {kernel:?}, expected {entry} {access:?}"
                ));
            }
        }
    }
    assert_eq!(
        TENSORWISE.len(),
        TENSORWISE_LAYOUTS.len(),
        "one kernel pair per rule"
    );
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}
