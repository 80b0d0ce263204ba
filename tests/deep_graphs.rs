//! Deep graphs: building, back-propagating and dropping very long chains of ops never
//! overflows the stack (issue 7, class 3). Each chain runs on a thread with a 1 MiB stack,
//! smaller than a test thread's default, so a recursive drop or walk would fail here first.

mod common;

use downhill::prelude::*;

fn on_small_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn_scoped(s, f)
            .unwrap()
            .join()
            .unwrap()
    })
}

/// `(1 + ε)^n` as the chain computes it: `n` roundings of an f32 product.
fn expected(n: usize) -> f32 {
    (0..n).fold(1.0f32, |h, _| h * (1.0 + 1e-6))
}

/// `x · (1 + ε)^n` through `n` ops, its gradient, then the whole graph dropped.
fn chain(device: &Device, n: usize) -> (f32, f32) {
    let x = device.scalar(1.0).unwrap().param();
    let mut h = x.clone();
    for _ in 0..n {
        h = h.mul_scalar(1.0 + 1e-6).unwrap();
    }
    let value = h.item().unwrap();
    let grads = h.backward().unwrap();
    let dx = grads.to_vec(&x).unwrap().unwrap()[0];
    drop(h); // the chain's last owner: the whole graph goes here
    (value, dx)
}

#[test]
fn a_chain_of_100k_ops_builds_backpropagates_and_drops_on_both_backends() {
    let n = 100_000;
    let expected = expected(n); // ≈ 1.105
    let (v, dx) = on_small_stack(|| chain(&common::cpu(), n));
    assert_eq!((v, dx), (expected, expected));
    if let Some(gpu) = common::gpu() {
        let (v, dx) = on_small_stack(|| chain(&gpu, n));
        // The GPU rounds each product as the CPU does (IEEE f32 multiply).
        assert_eq!((v, dx), (expected, expected), "gpu");
    }
}

#[test]
fn backward_over_a_million_op_chain_works_on_the_cpu() {
    let n = 1_000_000;
    let expected = expected(n); // ≈ 2.59 (e, after a million f32 roundings)
    let (v, dx) = on_small_stack(|| chain(&common::cpu(), n));
    assert_eq!((v, dx), (expected, expected));
}

#[test]
fn a_shared_input_survives_the_drop_of_a_graph_that_used_it() {
    on_small_stack(|| {
        let device = common::cpu();
        let x = device.scalar(2.0).unwrap().param();
        let shared = x.square().unwrap();
        let mut h = shared.clone();
        for _ in 0..50_000 {
            h = h.add_scalar(0.0).unwrap();
        }
        drop(h);
        // `shared` and its own graph are intact: backward still reaches `x`.
        let g = shared.backward().unwrap();
        assert_eq!(g.to_vec(&x).unwrap().unwrap(), vec![4.0]);
    });
}
