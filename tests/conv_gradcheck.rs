//! Central finite-difference gradient checks of conv2d (input, weight, bias; groups,
//! stride, dilation, asymmetric padding), conv1d, max_pool2d, avg_pool2d and
//! global_avg_pool on the CPU device, by the checker of `tests/common/gradcheck.rs`
//! (method, step h = 1e-2 and tolerance `1e-3 + 1e-2·|numeric|` derived there).
//!
//! For these ops: convolution and average pooling are linear in each input, so the
//! central difference has no truncation error; what remains is f32 rounding of `F`,
//! `ε·|F| / h ≈ 1.2e-7 · |F| / 1e-2`, with |F| of a few units here: ~1e-4. Max pooling is
//! piecewise linear: inputs are pairwise distinct by more than `2h` ([`Gen::distinct`]),
//! so no step changes a window's maximum. A gradient off by a whole term fails
//! (`a_wrong_gradient_fails`).

mod common;

use common::gradcheck::{assert_detects, case, run_cases_seeded, Gen, Input};
use downhill::prelude::*;

/// Every case here is weighted by the same `R`, drawn from this seed.
const WEIGHT_SEED: u64 = 99;

/// Uniform in [-1, 1), drawn from its own seed.
fn uniform(seed: u64, shape: &[usize]) -> Input {
    Gen::new(seed).uniform(shape, -1.0, 1.0)
}

fn assert_passes(
    name: &str,
    inputs: Vec<Input>,
    f: impl Fn(&[Tensor]) -> Result<Tensor> + 'static,
) {
    run_cases_seeded(&Device::cpu(), vec![case(name, inputs, f)], WEIGHT_SEED);
}

#[test]
fn conv2d_gradients_match_finite_differences() -> Result<()> {
    let plain = Conv2dOptions::default();
    let awkward = Conv2dOptions {
        stride: (2, 1),
        pad_h: (1, 2),
        pad_w: (0, 1),
        dilation: (1, 2),
        groups: 1,
    };
    let grouped = Conv2dOptions {
        stride: (1, 2),
        pad_h: (1, 1),
        pad_w: (1, 1),
        groups: 2,
        ..Default::default()
    };
    // (name, x shape, w shape, options)
    let cases = [
        ("plain", [1, 1, 4, 4], [2, 1, 3, 3], plain),
        (
            "stride, dilation, asymmetric padding",
            [2, 2, 5, 4],
            [3, 2, 2, 2],
            awkward,
        ),
        ("two groups", [1, 4, 4, 5], [4, 2, 3, 3], grouped),
    ];
    for (name, xs, ws, options) in cases {
        let inputs = vec![uniform(1, &xs), uniform(2, &ws), uniform(3, &[ws[0]])];
        assert_passes(name, inputs, move |t| {
            t[0].conv2d(&t[1], Some(&t[2]), options)
        });
    }
    Ok(())
}

#[test]
fn conv1d_gradients_match_finite_differences() -> Result<()> {
    let inputs = vec![uniform(4, &[2, 2, 7]), uniform(5, &[3, 2, 3])];
    let options = Conv1dOptions {
        stride: 2,
        padding: (1, 2),
        ..Default::default()
    };
    assert_passes("conv1d", inputs, move |t| t[0].conv1d(&t[1], None, options));
    Ok(())
}

#[test]
fn pool_gradients_match_finite_differences() -> Result<()> {
    let shape = [2, 2, 5, 6];
    let overlapping = Pool2dOptions {
        stride: Some((1, 2)),
        padding: (1, 1),
        ..Pool2dOptions::new((3, 3))
    };
    let dilated = Pool2dOptions {
        stride: Some((1, 1)),
        dilation: (2, 1),
        ..Pool2dOptions::new((2, 2))
    };
    for (name, options) in [
        ("max 2x2", Pool2dOptions::new((2, 2))),
        ("max overlapping", overlapping),
        ("max dilated", dilated),
    ] {
        let inputs = vec![Gen::new(6).distinct(&shape)];
        assert_passes(name, inputs, move |t| t[0].max_pool2d(options));
    }
    for (name, options) in [
        ("avg 2x2", Pool2dOptions::new((2, 2))),
        ("avg overlapping", overlapping),
    ] {
        assert_passes(name, vec![uniform(7, &shape)], move |t| {
            t[0].avg_pool2d(options)
        });
    }
    assert_passes("global_avg_pool", vec![uniform(8, &shape)], |t| {
        t[0].global_avg_pool()
    });
    Ok(())
}

#[test]
fn a_wrong_gradient_fails() -> Result<()> {
    // The check must be able to fail: `y + detach(y)` is `2·conv(x, w)` to the numeric
    // side, while autodiff differentiates the first term only: every gradient is half.
    let wrong = case(
        "conv2d(x, w) + detach(conv2d(x, w))",
        vec![uniform(9, &[1, 1, 3, 3]), uniform(10, &[1, 1, 2, 2])],
        |t| {
            let y = t[0].conv2d(&t[1], None, Conv2dOptions::default())?;
            y.add(&y.detach())
        },
    );
    assert_detects(&Device::cpu(), &wrong, WEIGHT_SEED)?;
    Ok(())
}
