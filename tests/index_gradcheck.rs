//! Central finite-difference gradient checks of the region and indexing ops (narrow, pad,
//! concat, stack, flatten/unsqueeze/squeeze, index_select, embedding with padding_idx,
//! gather, where, masked_fill) on the CPU device, by the checker of
//! `tests/common/gradcheck.rs` (method, step h = 1e-2 and tolerance
//! `1e-3 + 1e-2·|numeric|` derived there).
//!
//! For these ops: every one is piecewise linear in its differentiable inputs (a copy, a
//! selection or a sum of selected values), so `F''' = 0` and the central difference has no
//! truncation error; what remains is rounding, `eps_f32·|F|/h` with only the perturbed
//! element's terms differing (about 1.2e-5 · 1.5 · (number of copies of the element, at
//! most 4 here) ≈ 1e-4), well inside the tolerance, which a gradient off by 5% fails
//! (`checker_detects_a_wrong_gradient`). Index tensors are constants captured by the case;
//! `where`'s condition is a constant too. Values are kept 3h from each other only where a
//! selection depends on them (none of these ops select by value).

mod common;

use common::gradcheck::{assert_detects, case, run_cases_seeded, two_faced, Gen, Input};
use downhill::prelude::*;

/// The first weight seed of each test's cases.
const WEIGHT_SEED: u64 = 9_000;

/// Uniform in [-2, 2).
fn uniform(g: &mut Gen, shape: &[usize]) -> Input {
    g.uniform(shape, -2.0, 2.0)
}

fn run(device: &Device, cases: Vec<common::gradcheck::Case>) {
    run_cases_seeded(device, cases, WEIGHT_SEED);
}

#[test]
fn region_ops() {
    let device = Device::cpu();
    let mut g = Gen::new(1);
    let cases = vec![
        case("narrow axis 1", vec![uniform(&mut g, &[3, 7, 2])], |t| {
            t[0].narrow(1, 2, 4)
        }),
        case("narrow axis 0, whole", vec![uniform(&mut g, &[5])], |t| {
            t[0].narrow(0, 0, 5)
        }),
        case("pad two axes", vec![uniform(&mut g, &[2, 3, 4])], |t| {
            t[0].pad(&[(1, 0), (0, 2)], 0.7)
        }),
        case("pad last axis", vec![uniform(&mut g, &[3, 2])], |t| {
            t[0].pad(&[(0, 0), (2, 1)], -1.0)
        }),
        case(
            "concat of three along axis 1",
            vec![
                uniform(&mut g, &[2, 1, 3]),
                uniform(&mut g, &[2, 4, 3]),
                uniform(&mut g, &[2, 2, 3]),
            ],
            |t| Tensor::concat(&[&t[0], &t[1], &t[2]], 1),
        ),
        case(
            "concat of a tensor with itself",
            vec![uniform(&mut g, &[3, 2])],
            |t| Tensor::concat(&[&t[0], &t[0]], 0),
        ),
        case(
            "stack along a new last axis",
            vec![uniform(&mut g, &[2, 3]), uniform(&mut g, &[2, 3])],
            |t| Tensor::stack(&[&t[0], &t[1]], 2),
        ),
        case(
            "flatten, unsqueeze, squeeze",
            vec![uniform(&mut g, &[2, 3, 2])],
            |t| {
                t[0].flatten(1, 2)?
                    .unsqueeze(0)?
                    .squeeze(0)?
                    .narrow(1, 1, 4)
            },
        ),
    ];
    run(&device, cases);
}

#[test]
fn indexing_ops() {
    let device = Device::cpu();
    let mut g = Gen::new(2);
    // Repeated indices: their gradients add up.
    let rows = device.tensor(vec![3.0, 0.0, 3.0, 1.0, 3.0], [5]).unwrap();
    let cols = device.tensor(vec![2.0, 2.0, 0.0], [3]).unwrap();
    let gather_index = device
        .tensor(vec![0.0, 2.0, 2.0, 1.0, 1.0, 1.0, 0.0, 0.0], [2, 4])
        .unwrap();
    let ids = device
        .tensor(vec![1.0, 0.0, 4.0, 1.0, 0.0, 2.0], [2, 3])
        .unwrap();
    let cases = vec![
        case(
            "index_select axis 0",
            vec![uniform(&mut g, &[4, 3])],
            move |t| t[0].index_select(0, &rows),
        ),
        case(
            "index_select axis 1",
            vec![uniform(&mut g, &[2, 3, 2])],
            move |t| t[0].index_select(1, &cols),
        ),
        case("gather axis 1", vec![uniform(&mut g, &[2, 3])], move |t| {
            t[0].gather(1, &gather_index)
        }),
        case(
            "embedding of [2, 3] ids",
            vec![uniform(&mut g, &[5, 3])],
            move |t| Tensor::embedding(&ids, &t[0], None),
        ),
    ];
    run(&device, cases);
}

#[test]
fn selection_ops() {
    let device = Device::cpu();
    let mut g = Gen::new(3);
    let cond = device
        .tensor(vec![1.0, 0.0, f32::NAN, -0.0, 2.0, 0.0], [2, 3])
        .unwrap();
    let mask = device.tensor(vec![0.0, 1.0, 0.0], [3]).unwrap();
    let cases = vec![
        case(
            "where, same shapes",
            vec![uniform(&mut g, &[2, 3]), uniform(&mut g, &[2, 3])],
            {
                let cond = cond.clone();
                move |t| Tensor::where_(&cond, &t[0], &t[1])
            },
        ),
        case(
            "where, broadcast operands",
            vec![uniform(&mut g, &[3]), uniform(&mut g, &[2, 1])],
            move |t| Tensor::where_(&cond, &t[0], &t[1]),
        ),
        case("masked_fill", vec![uniform(&mut g, &[4, 3])], move |t| {
            t[0].masked_fill(&mask, 9.0)
        }),
    ];
    run(&device, cases);
}

#[test]
fn padding_row_gets_exactly_no_gradient() -> downhill::Result<()> {
    let device = Device::cpu();
    let weight = device
        .tensor((0..12).map(|v| v as f32).collect(), [4, 3])?
        .param();
    let ids = device.tensor(vec![2.0, 1.0, 2.0, 3.0], [4])?;
    let loss = Tensor::embedding(&ids, &weight, Some(2))?.sum()?;
    let grad = loss.backward()?.to_vec(&weight)?.unwrap();
    // Row 0 unused, row 1 once, row 2 is the padding row (twice, but no gradient), row 3 once.
    assert_eq!(grad, vec![0., 0., 0., 1., 1., 1., 0., 0., 0., 1., 1., 1.]);
    Ok(())
}

#[test]
fn checker_detects_a_wrong_gradient() -> downhill::Result<()> {
    let device = Device::cpu();
    let mut g = Gen::new(4);
    // The forward scales by 1.05 only when not differentiated: the gradient is 5% off.
    let wrong = case(
        "narrow vs 1.05·narrow",
        vec![uniform(&mut g, &[3, 4])],
        two_faced(
            |t| t[0].narrow(1, 1, 2),
            |t| t[0].narrow(1, 1, 2)?.mul_scalar(1.05),
        ),
    );
    assert_detects(&device, &wrong, 1)?;
    Ok(())
}
