//! Central finite-difference gradient checks of batch norm (training and evaluation mode,
//! with and without the affine map), layer norm and dropout on the CPU device, by the
//! checker of `tests/common/gradcheck.rs` (its module comment derives the step h = 1e-2 and
//! the tolerance `1e-3 + 1e-2·|numeric|`, applied element by element of every input).
//!
//! Step and tolerance for these ops: the normalisations are smooth (rational functions of
//! `x` with `var + eps` bounded away from 0: every channel holds at least 3 values drawn
//! from [-2, 2]), their third derivatives scale with `rstd³·|R|`, so the truncation error
//! `h²/6·|F'''|` stays near 1e-4; the f32 rounding of the perturbed channel's outputs is
//! `EPS·Σ|y·R|/h`, about 1e-4 for the at most 24 outputs of |y| <= 2 a channel has here.
//! Dropout is linear in `x` for a fixed `(seed, offset)`, so its differences are exact up
//! to rounding. `checker_detects_a_wrong_gradient` shows that a wrong gradient fails.

mod common;

use common::gradcheck::{assert_detects, case, run_cases, two_faced, Gen};
use downhill::prelude::*;
use downhill::{BatchNormConfig, RunningStats};

const EPS: f32 = 1e-5;

fn train() -> BatchNormConfig {
    BatchNormConfig::default()
}

#[test]
fn batch_norm_training_mode() {
    let mut g = Gen::new(21);
    let mut cases = Vec::new();
    for shape in [vec![5usize, 3], vec![3, 2, 4], vec![2, 3, 2, 2]] {
        let c = shape[1];
        cases.push(case(
            format!("batch_norm {shape:?} affine"),
            vec![
                g.uniform(&shape, -2.0, 2.0),
                g.signed(&[c], 0.5, 1.5),
                g.uniform(&[c], -1.0, 1.0),
            ],
            |t| t[0].batch_norm(None, Some(&t[1]), Some(&t[2]), train()),
        ));
        cases.push(case(
            format!("batch_norm {shape:?}"),
            vec![g.uniform(&shape, -2.0, 2.0)],
            |t| t[0].batch_norm(None, None, None, train()),
        ));
    }
    // γ alone (β a constant zero).
    cases.push(case(
        "batch_norm [4, 3] weight only",
        vec![g.uniform(&[4, 3], -2.0, 2.0), g.signed(&[3], 0.5, 1.5)],
        |t| t[0].batch_norm(None, Some(&t[1]), None, train()),
    ));
    run_cases(&Device::cpu(), cases);
}

#[test]
fn batch_norm_evaluation_mode() {
    let device = Device::cpu();
    let mean = device.tensor(vec![0.5, -1.0, 0.2], [3]).unwrap();
    let var = device.tensor(vec![0.8, 2.0, 0.5], [3]).unwrap();
    let tracked = device.zeros([]).unwrap();
    let mut g = Gen::new(22);
    let eval = BatchNormConfig {
        training: false,
        ..Default::default()
    };
    let cases = vec![case(
        "batch_norm eval [4, 3, 2] affine",
        vec![
            g.uniform(&[4, 3, 2], -2.0, 2.0),
            g.signed(&[3], 0.5, 1.5),
            g.uniform(&[3], -1.0, 1.0),
        ],
        move |t| {
            let running = RunningStats {
                mean: &mean,
                var: &var,
                num_batches_tracked: &tracked,
            };
            t[0].batch_norm(Some(running), Some(&t[1]), Some(&t[2]), eval)
        },
    )];
    run_cases(&device, cases);
}

#[test]
fn layer_norm() {
    let mut g = Gen::new(23);
    let mut cases = Vec::new();
    for (shape, normalized) in [
        (vec![4usize, 5], vec![5usize]),
        (vec![2, 3, 4], vec![3, 4]),
        (vec![3], vec![3]),
    ] {
        let affine = normalized.clone();
        cases.push(case(
            format!("layer_norm {shape:?} over {normalized:?} affine"),
            vec![
                g.uniform(&shape, -2.0, 2.0),
                g.signed(&normalized, 0.5, 1.5),
                g.uniform(&normalized, -1.0, 1.0),
            ],
            move |t| t[0].layer_norm(&affine, Some(&t[1]), Some(&t[2]), EPS),
        ));
        cases.push(case(
            format!("layer_norm {shape:?} over {normalized:?}"),
            vec![g.uniform(&shape, -2.0, 2.0)],
            move |t| t[0].layer_norm(&normalized, None, None, EPS),
        ));
    }
    run_cases(&Device::cpu(), cases);
}

#[test]
fn dropout() {
    let mut g = Gen::new(24);
    let cases = vec![
        case("dropout(0.3)", vec![g.uniform(&[5, 7], -2.0, 2.0)], |t| {
            t[0].dropout(0.3, 99, 4)
        }),
        case("dropout(0)", vec![g.uniform(&[9], -2.0, 2.0)], |t| {
            t[0].dropout(0.0, 1, 0)
        }),
        // Through a layer norm: the mask scales the gradient reaching the normalisation.
        case(
            "layer_norm then dropout(0.5)",
            vec![g.uniform(&[3, 6], -2.0, 2.0)],
            |t| t[0].layer_norm(&[6], None, None, EPS)?.dropout(0.5, 7, 1),
        ),
    ];
    run_cases(&Device::cpu(), cases);
}

#[test]
fn checker_detects_a_wrong_gradient() {
    // Batch norm's gradient taken as if the statistics were constants (the gradient of
    // (x − c)·s for fixed c, s): wrong by the terms through the mean and variance.
    let device = Device::cpu();
    let mut g = Gen::new(25);
    let wrong = case(
        "batch_norm with frozen statistics",
        vec![g.uniform(&[5, 2], -2.0, 2.0)],
        two_faced(
            |t| {
                let y = t[0].batch_norm(None, None, None, train())?.detach();
                // y + (x − x.detach()): the value of y with the gradient of the identity.
                let shift = t[0].sub(&t[0].detach())?;
                y.add(&shift)
            },
            |t| t[0].batch_norm(None, None, None, train()),
        ),
    );
    assert_detects(&device, &wrong, 1).unwrap();
}
