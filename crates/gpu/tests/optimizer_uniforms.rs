//! Every optimizer rule struct (core's `RULE_LAYOUTS`) against its WGSL kernel, parsed by
//! naga (no adapter needed): the uniform struct at `@binding(0)` has the Rust struct's size
//! and its field names at its offsets, each named flag bit is a WGSL `const` of the same
//! value, the storage bindings are `params`, `grads` and the state buffers by PyTorch's
//! names, and the kernel table has exactly one kernel per rule with that many bindings.

use downhill_core::optim::{RuleLayout, RULE_LAYOUTS};
use downhill_gpu::kernels::{optimizer, Access, OPTIMIZERS};
use naga::{Expression, Literal, TypeInner};

/// What the WGSL file says about one kernel, in the terms of a [`RuleLayout`].
#[derive(Debug, PartialEq)]
struct Wgsl {
    size: usize,
    fields: Vec<(String, usize)>,
    /// Every `u32` const of the file with its value.
    consts: Vec<(String, u32)>,
    /// Storage bindings from 1, by variable name.
    storage: Vec<String>,
}

fn parse(source: &str) -> Wgsl {
    let module = naga::front::wgsl::parse_str(source).expect("every shader parses");
    let mut uniform = None;
    let mut storage = Vec::new();
    for (_, var) in module.global_variables.iter() {
        let Some(binding) = &var.binding else {
            continue;
        };
        assert_eq!(binding.group, 0);
        if binding.binding == 0 {
            uniform = Some(var.ty);
        } else {
            storage.push((binding.binding, var.name.clone().unwrap_or_default()));
        }
    }
    storage.sort();
    let ty = uniform.expect("a uniform at @binding(0)");
    let TypeInner::Struct { members, span } = &module.types[ty].inner else {
        panic!("the uniform is a struct");
    };
    let fields = members
        .iter()
        .map(|m| (m.name.clone().unwrap_or_default(), m.offset as usize))
        .collect();
    let consts = module
        .constants
        .iter()
        .filter_map(|(_, c)| match module.global_expressions[c.init] {
            Expression::Literal(Literal::U32(v)) => Some((c.name.clone()?, v)),
            _ => None,
        })
        .collect();
    Wgsl {
        size: *span as usize,
        fields,
        consts,
        storage: storage.into_iter().map(|(_, n)| n).collect(),
    }
}

fn check(layout: &RuleLayout) -> Vec<String> {
    let mut errors = Vec::new();
    let Some(kernel) = optimizer(layout.kernel) else {
        return vec![format!("{}: no kernel in OPTIMIZERS", layout.kernel)];
    };
    let wgsl = parse(kernel.source);
    let name = layout.kernel;
    if wgsl.size != layout.size {
        errors.push(format!(
            "{name}: WGSL uniform {} bytes, Rust {}",
            wgsl.size, layout.size
        ));
    }
    let rust: Vec<(String, usize)> = layout
        .fields
        .iter()
        .map(|&(f, o)| (f.to_string(), o))
        .collect();
    if wgsl.fields != rust {
        errors.push(format!(
            "{name}: WGSL fields {:?}\n  Rust fields {rust:?}",
            wgsl.fields
        ));
    }
    if rust.first().map(|(f, o)| (f.as_str(), *o)) != Some(("n4", 0)) {
        errors.push(format!("{name}: the first field must be n4 at offset 0"));
    }
    for &(flag, bit) in layout.flags {
        match wgsl.consts.iter().find(|(n, _)| n == flag) {
            Some(&(_, v)) if v == bit => {}
            found => errors.push(format!(
                "{name}: flag {flag} is {bit} in Rust, {found:?} in WGSL"
            )),
        }
    }
    for (n, _) in &wgsl.consts {
        if !layout.flags.iter().any(|(f, _)| f == n) && !nonfinite_const(n) {
            errors.push(format!(
                "{name}: WGSL const {n} is no flag of the Rust rule"
            ));
        }
    }
    let mut expected = vec!["params".to_string(), "grads".to_string()];
    expected.extend(layout.state.iter().map(|s| s.to_string()));
    if wgsl.storage != expected {
        errors.push(format!(
            "{name}: WGSL storage bindings {:?}, expected {expected:?}",
            wgsl.storage
        ));
    }
    let mut access = vec![Access::ReadWrite, Access::Read];
    access.extend(layout.state.iter().map(|_| Access::ReadWrite));
    if kernel.storage != access.as_slice() || kernel.entry != name {
        errors.push(format!(
            "{name}: kernel table entry {kernel:?}, expected entry {name} and {access:?}"
        ));
    }
    errors
}

/// The `u32` consts `shaders/nonfinite.wgsl` (appended to every kernel) declares.
fn nonfinite_const(name: &str) -> bool {
    parse_consts(downhill_gpu::kernels::NONFINITE).contains(&name.to_string())
}

fn parse_consts(source: &str) -> Vec<String> {
    let module = naga::front::wgsl::parse_str(source).expect("nonfinite.wgsl parses");
    module
        .constants
        .iter()
        .filter_map(|(_, c)| c.name.clone())
        .collect()
}

#[test]
fn every_rule_struct_is_its_kernels_uniform() {
    let errors: Vec<String> = RULE_LAYOUTS.iter().flat_map(|l| check(l)).collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn every_optimizer_kernel_has_one_rule() {
    for kernel in OPTIMIZERS {
        let rules = RULE_LAYOUTS
            .iter()
            .filter(|l| l.kernel == kernel.name)
            .count();
        assert_eq!(rules, 1, "kernel {} has {rules} rule layouts", kernel.name);
    }
    assert_eq!(OPTIMIZERS.len(), RULE_LAYOUTS.len());
}

#[test]
fn the_check_catches_a_wrong_layout() {
    // A rule whose offsets, flag value and state name disagree with sgd.wgsl.
    let wrong = RuleLayout {
        kernel: "sgd",
        size: 28,
        fields: &[("n4", 0), ("flags", 4), ("momentum", 8)],
        flags: &[("NESTEROV", 2)],
        state: &["velocity"],
    };
    let errors = check(&wrong);
    assert!(errors.iter().any(|e| e.contains("28")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("fields")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("NESTEROV")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("velocity")), "{errors:?}");
}
