//! The optimizer seam is open: `Backend::optimizer_step` takes any `UpdateRule`, so a rule
//! defined outside downhill runs on the CPU (its own `apply`), and where it is wrong for
//! the GPU (no kernel of its name, a uniform of the wrong size) the call is a typed error,
//! not a panic, with nothing changed.

mod common;

use downhill::optim::{RuleLayout, SgdRule};
use downhill::{Backend, Error, UpdateRule};

/// `p ← p − lr·g` with one state buffer counting the steps: a rule no backend knows. Its
/// uniform (n4, flags, lr, padding) is kept as bytes.
#[derive(Clone, Copy, Debug)]
struct Halve {
    lr: f32,
    bytes: [u8; 16],
}

impl Halve {
    fn new(lr: f32) -> Halve {
        let mut bytes = [0u8; 16];
        bytes[8..12].copy_from_slice(&lr.to_le_bytes());
        Halve { lr, bytes }
    }
}

const HALVE: RuleLayout = RuleLayout {
    kernel: "no_such_kernel",
    size: 16,
    fields: &[("n4", 0), ("flags", 4), ("lr", 8), ("_pad0", 12)],
    flags: &[],
    state: &["count"],
};

impl UpdateRule for Halve {
    fn layout(&self) -> &'static RuleLayout {
        &HALVE
    }
    fn uniform(&self) -> &[u8] {
        &self.bytes
    }
    fn apply(&self, params: &mut [f32], grads: &[f32], state: &mut [&mut [f32]]) {
        for i in 0..params.len() {
            params[i] -= self.lr * grads[i];
            state[0][i] += 1.0;
        }
    }
}

/// A rule whose uniform is not the size its layout says.
#[derive(Debug)]
struct Lying(SgdRule);

impl UpdateRule for Lying {
    fn layout(&self) -> &'static RuleLayout {
        &SgdRule::LAYOUT
    }
    fn uniform(&self) -> &[u8] {
        &self.0.uniform()[..12]
    }
    fn apply(&self, params: &mut [f32], grads: &[f32], state: &mut [&mut [f32]]) {
        self.0.apply(params, grads, state)
    }
    fn uses_state(&self, slot: usize) -> bool {
        self.0.uses_state(slot)
    }
}

fn setup(be: &dyn Backend) -> [downhill::Storage; 3] {
    let p = be.upload(&[1.0, 2.0, 3.0, 4.0]).unwrap();
    let g = be.upload(&[0.5, 0.5, -1.0, 2.0]).unwrap();
    let s = be.full(4, 0.0).unwrap();
    [p, g, s]
}

#[test]
fn a_rule_defined_outside_downhill_runs_on_the_cpu() {
    let cpu = common::cpu();
    let be = cpu.backend();
    let [p, g, s] = setup(be);
    let rule = Halve::new(0.5);
    be.optimizer_step(&rule, &p, &g, std::slice::from_ref(&s))
        .unwrap();
    assert_eq!(be.download(&p).unwrap(), vec![0.75, 1.75, 3.5, 3.0]);
    assert_eq!(be.download(&s).unwrap(), vec![1.0; 4]);
    // The state count is checked against the rule's layout.
    assert!(matches!(
        be.optimizer_step(&rule, &p, &g, &[]),
        Err(Error::Shape { .. })
    ));
}

#[test]
fn a_rule_without_a_kernel_is_a_typed_error_on_the_gpu() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let be = gpu.backend();
    let [p, g, s] = setup(be);
    let rule = Halve::new(0.5);
    match be.optimizer_step(&rule, &p, &g, std::slice::from_ref(&s)) {
        Err(Error::Backend { .. }) => {}
        other => panic!("expected a Backend error naming the kernel, got {other:?}"),
    }
    assert_eq!(be.download(&p).unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn a_uniform_of_the_wrong_size_is_a_typed_error_on_every_backend() {
    let rule = Lying(SgdRule {
        lr: 0.1,
        ..Default::default()
    });
    for device in std::iter::once(common::cpu()).chain(common::gpu()) {
        let be = device.backend();
        let [p, g, _] = setup(be);
        assert!(
            matches!(
                be.optimizer_step(&rule, &p, &g, &[]),
                Err(Error::Shape { .. })
            ),
            "{device:?}"
        );
        assert_eq!(be.download(&p).unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
    }
}
