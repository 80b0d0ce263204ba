//! Central finite-difference gradient checks of every differentiable op and loss on the
//! CPU device, by the checker of `tests/common/gradcheck.rs` (its module comment derives
//! the step h = 1e-2 and the tolerance `1e-3 + 1e-2·|numeric|`).
//!
//! For these ops: every case passes with at most a quarter of that tolerance used (the
//! largest, binary cross-entropy, is truncation error near p = 0.1), while a gradient off
//! by 5% already fails everywhere (`checker_detects_a_wrong_gradient`). Inputs are kept in
//! ranges where `F'''` is moderate (inputs of log/sqrt/pow/fractional powf >= 0.5,
//! divisors with |b| >= 0.5, probabilities in [0.1, 0.9]) and at least 3h away from every
//! kink (relu/leaky_relu at 0, the clamp bounds, ties of max_axis), so neither `x + h` nor
//! `x - h` crosses one.

mod common;

use common::gradcheck::{assert_detects, case, gradcheck, run_cases, two_faced, Gen, Input};
use downhill::prelude::*;

#[test]
fn matmul_all_transposes() {
    let mut g = Gen::new(1);
    let mut cases = Vec::new();
    for (m, k, n) in [(3, 5, 7), (1, 5, 1), (7, 1, 3), (2, 3, 2)] {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a_shape = if ta { [k, m] } else { [m, k] };
            let b_shape = if tb { [n, k] } else { [k, n] };
            cases.push(case(
                format!("matmul_t(ta={ta}, tb={tb}) {m}x{k}x{n}"),
                vec![
                    g.uniform(&a_shape, -1.5, 1.5),
                    g.uniform(&b_shape, -1.5, 1.5),
                ],
                move |t| t[0].matmul_t(&t[1], ta, tb),
            ));
        }
    }
    cases.push(case(
        "matmul 3x5x7",
        vec![g.uniform(&[3, 5], -1.5, 1.5), g.uniform(&[5, 7], -1.5, 1.5)],
        |t| t[0].matmul(&t[1]),
    ));
    run_cases(&Device::cpu(), cases);
}

#[test]
fn binary_ops_with_broadcasting() {
    let mut g = Gen::new(2);
    let shapes: [(&[usize], &[usize]); 10] = [
        (&[3, 5], &[3, 5]),
        (&[3, 5], &[5]),
        (&[5], &[3, 5]),
        (&[3, 5], &[3, 1]),
        (&[3, 1], &[3, 5]),
        (&[3, 5], &[]),
        (&[], &[3, 5]),
        (&[2, 1, 3], &[4, 1]),
        (&[4, 1], &[2, 1, 3]),
        (&[1], &[7]),
    ];
    let mut cases = Vec::new();
    for (sa, sb) in shapes {
        let tag = format!("{sa:?} with {sb:?}");
        cases.push(case(
            format!("add {tag}"),
            vec![g.uniform(sa, -2.0, 2.0), g.uniform(sb, -2.0, 2.0)],
            |t| t[0].add(&t[1]),
        ));
        cases.push(case(
            format!("sub {tag}"),
            vec![g.uniform(sa, -2.0, 2.0), g.uniform(sb, -2.0, 2.0)],
            |t| t[0].sub(&t[1]),
        ));
        cases.push(case(
            format!("mul {tag}"),
            vec![g.signed(sa, 0.2, 2.0), g.signed(sb, 0.2, 2.0)],
            |t| t[0].mul(&t[1]),
        ));
        cases.push(case(
            format!("div {tag}"),
            vec![g.signed(sa, 0.2, 2.0), g.signed(sb, 0.5, 2.0)],
            |t| t[0].div(&t[1]),
        ));
        cases.push(case(
            format!("pow {tag}"),
            vec![g.uniform(sa, 0.5, 2.0), g.signed(sb, 0.2, 2.0)],
            |t| t[0].pow(&t[1]),
        ));
    }
    // The operator forms go through the same ops.
    cases.push(case(
        "&a + &b, &a - &b, &a * &b, &a / &b",
        vec![g.signed(&[3, 5], 0.5, 2.0), g.signed(&[5], 0.5, 2.0)],
        |t| {
            let (a, b) = (&t[0], &t[1]);
            let s = (a + b)?;
            let d = (a - b)?;
            let p = (a * b)?;
            let q = (a / b)?;
            &(&s * &d)? + &(&p - &q)?
        },
    ));
    run_cases(&Device::cpu(), cases);
}

#[test]
fn scalar_ops() {
    let mut g = Gen::new(3);
    let shape = [3, 5];
    let mut cases = vec![
        case("add_scalar(0.7)", vec![g.uniform(&shape, -2.0, 2.0)], |t| {
            t[0].add_scalar(0.7)
        }),
        case("sub_scalar(1.3)", vec![g.uniform(&shape, -2.0, 2.0)], |t| {
            t[0].sub_scalar(1.3)
        }),
        case(
            "mul_scalar(-2.5)",
            vec![g.uniform(&shape, -2.0, 2.0)],
            |t| t[0].mul_scalar(-2.5),
        ),
        case("div_scalar(3)", vec![g.uniform(&shape, -2.0, 2.0)], |t| {
            t[0].div_scalar(3.0)
        }),
        case(
            "rsub_scalar(1.5)",
            vec![g.uniform(&shape, -2.0, 2.0)],
            |t| t[0].rsub_scalar(1.5),
        ),
        case("rdiv_scalar(2)", vec![g.signed(&shape, 0.5, 2.0)], |t| {
            t[0].rdiv_scalar(2.0)
        }),
        case(
            "&x + 0.7, &x - 0.7, &x * 2, &x / 4",
            vec![g.uniform(&[7], -2.0, 2.0)],
            |t| {
                let x = &t[0];
                let a = (x + 0.7)?;
                let b = (x - 0.7)?;
                let c = (x * 2.0)?;
                let d = (x / 4.0)?;
                &(&(&a * &b)? + &c)? + &d
            },
        ),
    ];
    for p in [2.5f32, -1.5, 0.5, 1.0, 3.0] {
        cases.push(case(
            format!("powf({p}) positive base"),
            vec![g.uniform(&[3, 5], 0.5, 2.0)],
            move |t| t[0].powf(p),
        ));
    }
    for p in [2.0f32, 3.0] {
        cases.push(case(
            format!("powf({p}) signed base"),
            vec![g.signed(&[7], 0.2, 2.0)],
            move |t| t[0].powf(p),
        ));
    }
    run_cases(&Device::cpu(), cases);
}

#[test]
fn unary_math() {
    let mut g = Gen::new(4);
    let cases = vec![
        case("neg", vec![g.uniform(&[3, 5], -2.0, 2.0)], |t| t[0].neg()),
        case("-&x", vec![g.uniform(&[7], -2.0, 2.0)], |t| -&t[0]),
        case("square", vec![g.uniform(&[3, 5], -2.0, 2.0)], |t| {
            t[0].square()
        }),
        case("sqrt", vec![g.uniform(&[3, 5], 0.5, 3.0)], |t| t[0].sqrt()),
        case("exp", vec![g.uniform(&[3, 5], -2.0, 2.0)], |t| t[0].exp()),
        case("log", vec![g.uniform(&[3, 5], 0.5, 3.0)], |t| t[0].log()),
        case(
            "clamp(-0.5, 0.5)",
            vec![g.avoiding(&[5, 7], -1.5, 1.5, &[-0.5, 0.5])],
            |t| t[0].clamp(-0.5, 0.5),
        ),
        case(
            "clamp(0, 1)",
            vec![g.avoiding(&[3, 5], -0.5, 1.5, &[0.0, 1.0])],
            |t| t[0].clamp(0.0, 1.0),
        ),
        case("scalar-shaped exp", vec![g.uniform(&[], -1.0, 1.0)], |t| {
            t[0].exp()
        }),
    ];
    run_cases(&Device::cpu(), cases);
}

#[test]
fn activations() {
    let mut g = Gen::new(5);
    let mut cases = vec![
        case("relu", vec![g.avoiding(&[5, 7], -2.0, 2.0, &[0.0])], |t| {
            t[0].relu()
        }),
        case(
            "leaky_relu(0.01)",
            vec![g.avoiding(&[5, 7], -2.0, 2.0, &[0.0])],
            |t| t[0].leaky_relu(0.01),
        ),
        case(
            "leaky_relu(0.2)",
            vec![g.avoiding(&[3, 5], -2.0, 2.0, &[0.0])],
            |t| t[0].leaky_relu(0.2),
        ),
        case("sigmoid", vec![g.uniform(&[5, 7], -4.0, 4.0)], |t| {
            t[0].sigmoid()
        }),
        case("tanh", vec![g.uniform(&[5, 7], -3.0, 3.0)], |t| t[0].tanh()),
        case("gelu", vec![g.uniform(&[5, 7], -3.0, 3.0)], |t| t[0].gelu()),
    ];
    let shapes: [&[usize]; 5] = [&[3, 5], &[7], &[2, 5, 3], &[1, 3], &[5, 2]];
    for shape in shapes {
        cases.push(case(
            format!("softmax {shape:?}"),
            vec![g.uniform(shape, -3.0, 3.0)],
            |t| t[0].softmax(),
        ));
        cases.push(case(
            format!("log_softmax {shape:?}"),
            vec![g.uniform(shape, -3.0, 3.0)],
            |t| t[0].log_softmax(),
        ));
    }
    run_cases(&Device::cpu(), cases);
}

#[test]
fn reductions() {
    let mut g = Gen::new(6);
    let mut cases = Vec::new();
    let whole: [&[usize]; 4] = [&[3, 5], &[2, 5, 3], &[7], &[]];
    for shape in whole {
        cases.push(case(
            format!("sum {shape:?}"),
            vec![g.uniform(shape, -2.0, 2.0)],
            |t| t[0].sum(),
        ));
        cases.push(case(
            format!("mean {shape:?}"),
            vec![g.uniform(shape, -2.0, 2.0)],
            |t| t[0].mean(),
        ));
    }
    let shapes: [&[usize]; 5] = [&[3, 5], &[2, 5, 3], &[7], &[1, 5], &[5, 1]];
    for shape in shapes {
        for axis in 0..shape.len() {
            for keep in [true, false] {
                let tag = format!("{shape:?} axis {axis} keep_dim {keep}");
                cases.push(case(
                    format!("sum_axis {tag}"),
                    vec![g.uniform(shape, -2.0, 2.0)],
                    move |t| t[0].sum_axis(axis, keep),
                ));
                cases.push(case(
                    format!("mean_axis {tag}"),
                    vec![g.uniform(shape, -2.0, 2.0)],
                    move |t| t[0].mean_axis(axis, keep),
                ));
                cases.push(case(
                    format!("max_axis {tag}"),
                    vec![g.distinct(shape)],
                    move |t| t[0].max_axis(axis, keep),
                ));
            }
        }
    }
    run_cases(&Device::cpu(), cases);
}

#[test]
fn shape_ops() {
    let mut g = Gen::new(7);
    let mut cases = vec![
        case(
            "reshape [3,5] -> [15]",
            vec![g.uniform(&[3, 5], -2.0, 2.0)],
            |t| t[0].reshape([15]),
        ),
        case(
            "reshape [2,5,3] -> [6,5]",
            vec![g.uniform(&[2, 5, 3], -2.0, 2.0)],
            |t| t[0].reshape([6, 5]),
        ),
        case(
            "reshape [15] -> [3,1,5]",
            vec![g.uniform(&[15], -2.0, 2.0)],
            |t| t[0].reshape([3, 1, 5]),
        ),
        case(
            "reshape [] -> [1,1]",
            vec![g.uniform(&[], -2.0, 2.0)],
            |t| t[0].reshape([1, 1]),
        ),
        case("t [3,5]", vec![g.uniform(&[3, 5], -2.0, 2.0)], |t| t[0].t()),
        case("t [1,7]", vec![g.uniform(&[1, 7], -2.0, 2.0)], |t| t[0].t()),
        case(
            "transpose(0,1) [3,5]",
            vec![g.uniform(&[3, 5], -2.0, 2.0)],
            |t| t[0].transpose(0, 1),
        ),
        case(
            "transpose(0,2) [2,5,3]",
            vec![g.uniform(&[2, 5, 3], -2.0, 2.0)],
            |t| t[0].transpose(0, 2),
        ),
        case(
            "transpose(2,1) [2,5,3]",
            vec![g.uniform(&[2, 5, 3], -2.0, 2.0)],
            |t| t[0].transpose(2, 1),
        ),
        case(
            "permute [2,0,1] of [2,5,3]",
            vec![g.uniform(&[2, 5, 3], -2.0, 2.0)],
            |t| t[0].permute(&[2, 0, 1]),
        ),
        case(
            "permute [1,2,0] of [2,5,3]",
            vec![g.uniform(&[2, 5, 3], -2.0, 2.0)],
            |t| t[0].permute(&[1, 2, 0]),
        ),
    ];
    let broadcasts: [(&[usize], &[usize]); 6] = [
        (&[5], &[3, 5]),
        (&[3, 1], &[3, 5]),
        (&[], &[2, 3]),
        (&[2, 1, 3], &[2, 4, 3]),
        (&[4, 1], &[2, 4, 3]),
        (&[1, 1], &[3, 5]),
    ];
    for (from, to) in broadcasts {
        let target = to.to_vec();
        cases.push(case(
            format!("broadcast_to {from:?} -> {to:?}"),
            vec![g.uniform(from, -2.0, 2.0)],
            move |t| t[0].broadcast_to(target.clone()),
        ));
    }
    run_cases(&Device::cpu(), cases);
}

#[test]
fn losses() -> downhill::Result<()> {
    let device = Device::cpu();
    let mut g = Gen::new(8);
    let mut cases = Vec::new();

    for shape in [&[3usize, 5][..], &[7][..]] {
        let target = device.tensor(g.uniform(shape, -2.0, 2.0).data, shape.to_vec())?;
        cases.push(case(
            format!("mse {shape:?}"),
            vec![g.uniform(shape, -2.0, 2.0)],
            move |t| t[0].mse(&target),
        ));
    }

    // Probabilities strictly inside (0, 1), far from the 1e-7 clamp; soft and hard targets.
    // Kept in [0.1, 0.9]: the truncation error h^2/6 * 2/p^3 of the central difference
    // grows fast near 0 and 1 (at p = 0.05 it is about 0.03 before the 1/n of the mean).
    for (label, target) in [
        ("soft", g.uniform(&[3, 5], 0.0, 1.0)),
        ("hard", g.binary(&[3, 5])),
    ] {
        let target = device.tensor(target.data, target.shape)?;
        cases.push(case(
            format!("binary_cross_entropy {label} targets"),
            vec![g.uniform(&[3, 5], 0.1, 0.9)],
            move |t| t[0].binary_cross_entropy(&target),
        ));
    }

    for (label, target) in [
        ("soft", g.uniform(&[3, 5], 0.0, 1.0)),
        ("hard", g.binary(&[3, 5])),
    ] {
        let target = device.tensor(target.data, target.shape)?;
        cases.push(case(
            format!("binary_cross_entropy_with_logits {label} targets"),
            vec![g.uniform(&[3, 5], -4.0, 4.0)],
            move |t| t[0].binary_cross_entropy_with_logits(&target),
        ));
    }

    for (rows, classes) in [(5, 3), (7, 5), (1, 4), (3, 2)] {
        let labels = device.tensor(g.labels(rows, classes), [rows])?;
        cases.push(case(
            format!("cross_entropy [{rows}, {classes}]"),
            vec![g.uniform(&[rows, classes], -3.0, 3.0)],
            move |t| t[0].cross_entropy(&labels),
        ));
    }

    // End to end: a two-layer network, every parameter checked at once.
    let x = device.tensor(g.uniform(&[5, 3], -1.0, 1.0).data, [5, 3])?;
    let labels = device.tensor(g.labels(5, 3), [5])?;
    cases.push(case(
        "mlp: tanh(x W1 + b1) W2 + b2 -> cross_entropy",
        vec![
            g.uniform(&[3, 7], -1.0, 1.0),
            g.uniform(&[7], -0.5, 0.5),
            g.uniform(&[7, 3], -1.0, 1.0),
            g.uniform(&[3], -0.5, 0.5),
        ],
        move |t| {
            let h = x.matmul(&t[0])?.add(&t[1])?.tanh()?;
            h.matmul(&t[2])?.add(&t[3])?.cross_entropy(&labels)
        },
    ));
    cases.push(case(
        "sigmoid -> binary_cross_entropy",
        vec![g.uniform(&[3, 5], -3.0, 3.0)],
        {
            let target = device.tensor(g.binary(&[3, 5]).data, [3, 5])?;
            move |t| t[0].sigmoid()?.binary_cross_entropy(&target)
        },
    ));
    run_cases(&device, cases);
    Ok(())
}

#[test]
fn reused_tensor_accumulates() -> downhill::Result<()> {
    let device = Device::cpu();
    let mut g = Gen::new(9);
    run_cases(
        &device,
        vec![
            case("x * x", vec![g.uniform(&[3, 5], -2.0, 2.0)], |t| {
                t[0].mul(&t[0])
            }),
            case("&x + &x", vec![g.uniform(&[3, 5], -2.0, 2.0)], |t| {
                &t[0] + &t[0]
            }),
            case("x * x + x", vec![g.uniform(&[7], -2.0, 2.0)], |t| {
                t[0].mul(&t[0])?.add(&t[0])
            }),
            case(
                "diamond: e = exp(x); e * e + e",
                vec![g.uniform(&[3, 5], -1.0, 1.0)],
                |t| {
                    let e = t[0].exp()?;
                    e.mul(&e)?.add(&e)
                },
            ),
            case(
                "x used by matmul on both sides: x^T x",
                vec![g.uniform(&[5, 3], -1.5, 1.5)],
                |t| t[0].matmul_t(&t[0], true, false),
            ),
            case(
                "bias broadcast and reused: (a + b) * b",
                vec![g.uniform(&[3, 5], -2.0, 2.0), g.uniform(&[5], -2.0, 2.0)],
                |t| t[0].add(&t[1])?.mul(&t[1]),
            ),
        ],
    );

    // And exactly, against the closed forms: d/dx sum(x*x) = 2x, d/dx sum(x + x) = 2.
    let data = g.uniform(&[3, 5], -2.0, 2.0).data;
    let x = device.tensor(data.clone(), [3, 5])?.param();
    let square = x.mul(&x)?.sum()?.backward()?;
    let twice = (&x + &x)?.sum()?.backward()?;
    let square = square.to_vec(&x)?.expect("x * x: no gradient for x");
    let twice = twice.to_vec(&x)?.expect("x + x: no gradient for x");
    for (j, &v) in data.iter().enumerate() {
        assert!(
            (square[j] - 2.0 * v).abs() <= 1e-6 * v.abs().max(1.0),
            "x * x: element {j}: gradient {} != 2x = {}",
            square[j],
            2.0 * v
        );
        assert_eq!(twice[j], 2.0, "x + x: element {j}: gradient {}", twice[j]);
    }
    Ok(())
}

#[test]
fn no_gradient_into_constants() -> downhill::Result<()> {
    let device = Device::cpu();
    let mut g = Gen::new(10);
    let x_data = g.uniform(&[3, 5], -2.0, 2.0).data;
    let c_data = g.uniform(&[3, 5], -2.0, 2.0).data;
    let x = device.tensor(x_data.clone(), [3, 5])?.param();
    let c = device.tensor(c_data.clone(), [3, 5])?;
    assert!(!c.requires_grad());

    // A plain constant operand.
    let grads = x.mul(&c)?.sum()?.backward()?;
    assert!(grads.get(&c).is_none(), "a constant got a gradient");
    assert_eq!(grads.len(), 1, "only x is trainable");
    let gx = grads.to_vec(&x)?.expect("x: no gradient");
    assert_eq!(gx, c_data, "d/dx sum(x * c) must be c");

    // A detached copy of a parameter is a constant: d/dx sum(x * detach(x)) = x, not 2x.
    let d = x.detach();
    let grads = x.mul(&d)?.sum()?.backward()?;
    assert!(grads.get(&d).is_none(), "a detached tensor got a gradient");
    let gx = grads.to_vec(&x)?.expect("x: no gradient");
    assert_eq!(gx, x_data, "d/dx sum(x * detach(x)) must be x");

    // Loss targets are constants, even when they are marked trainable.
    let target = device.tensor(c_data.clone(), [3, 5])?.param();
    let grads = x.mse(&target)?.backward()?;
    assert!(grads.get(&target).is_none(), "an mse target got a gradient");
    assert!(
        grads.get(&x).is_some(),
        "mse: the prediction got no gradient"
    );

    // Ops inside no_grad record nothing.
    let y = no_grad(|| x.mul(&c))?;
    assert!(!y.requires_grad(), "an op inside no_grad was recorded");
    assert!(y.sum()?.backward().is_err(), "backward through no_grad");
    Ok(())
}

/// The checker itself must fail on a wrong gradient: here autodiff sees `2x` while the
/// finite differences see `2.1x` (a 5% error in the slope).
#[test]
fn checker_detects_a_wrong_gradient() -> downhill::Result<()> {
    let device = Device::cpu();
    let mut g = Gen::new(11);
    let wrong = case(
        "2x vs 2.1x",
        vec![g.uniform(&[3, 5], -2.0, 2.0)],
        two_faced(|t| t[0].mul_scalar(2.0), |t| t[0].mul_scalar(2.1)),
    );
    let failures = assert_detects(&device, &wrong, 1)?;
    assert_eq!(
        failures.len(),
        15,
        "the checker missed a 5% error: {failures:?}"
    );
    let right = case("2x", vec![g.uniform(&[3, 5], -2.0, 2.0)], |t| {
        t[0].mul_scalar(2.0)
    });
    let outcome = gradcheck(&device, &right, 1)?;
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    Ok(())
}

/// `[k, n]` weights and an `[n]` bias whose columns alternate between clearly active
/// (z ≥ 0.45 for inputs in [0.5, 1.5]) and clearly inactive (z ≤ −0.45), so the kink of
/// relu-like activations is never within reach of a step h = 1e-2.
fn split_columns(g: &mut Gen, k: usize, n: usize) -> (Input, Input) {
    let sign = |j: usize| if j.is_multiple_of(2) { 1.0 } else { -1.0 };
    let w = (0..k * n)
        .map(|i| sign(i % n) * g.0.uniform(0.1, 0.5))
        .collect();
    let b = (0..n).map(|j| sign(j) * g.0.uniform(0.2, 0.5)).collect();
    (Gen::input(&[k, n], w), Gen::input(&[n], b))
}

#[test]
fn linear_with_fused_bias_and_activation() {
    use downhill::UnaryOp;
    let mut g = Gen::new(11);
    let mut cases = Vec::new();
    for (m, k, n) in [(3, 5, 7), (1, 2, 1), (6, 3, 4)] {
        cases.push(case(
            format!("linear no bias {m}x{k}x{n}"),
            vec![g.uniform(&[m, k], -1.5, 1.5), g.uniform(&[k, n], -1.0, 1.0)],
            |t| t[0].linear(&t[1], None, None),
        ));
        for (name, act) in [
            ("linear", None),
            ("sigmoid", Some(UnaryOp::Sigmoid)),
            ("tanh", Some(UnaryOp::Tanh)),
        ] {
            cases.push(case(
                format!("linear+bias {name} {m}x{k}x{n}"),
                vec![
                    g.uniform(&[m, k], -1.5, 1.5),
                    g.uniform(&[k, n], -1.0, 1.0),
                    g.uniform(&[n], -1.0, 1.0),
                ],
                move |t| t[0].linear(&t[1], Some(&t[2]), act),
            ));
        }
        for (name, act) in [
            ("relu", UnaryOp::Relu),
            ("leaky_relu(0.1)", UnaryOp::LeakyRelu(0.1)),
        ] {
            let (w, b) = split_columns(&mut g, k, n);
            cases.push(case(
                format!("linear+bias {name} {m}x{k}x{n}"),
                vec![g.uniform(&[m, k], 0.5, 1.5), w, b],
                move |t| t[0].linear(&t[1], Some(&t[2]), Some(act)),
            ));
        }
    }
    run_cases(&Device::cpu(), cases);
}

#[test]
fn linear_refuses_an_activation_it_cannot_fuse() {
    let device = Device::cpu();
    let x = device.zeros([2, 3]).unwrap();
    let w = device.zeros([3, 4]).unwrap();
    let err = x
        .linear(&w, None, Some(downhill::UnaryOp::Gelu))
        .unwrap_err();
    assert!(matches!(err, downhill::Error::Config(_)), "{err}");
    let bad_bias = device.zeros([3]).unwrap();
    assert!(matches!(
        x.linear(&w, Some(&bad_bias), None),
        Err(downhill::Error::Shape { .. })
    ));
}

#[test]
fn pow_gradients_at_a_zero_base_follow_pytorch() {
    // d(a^b)/da = b·a^(b−1) is 0 where b = 0; d(a^b)/db = a^b·ln a is 0 where a = 0 and
    // b ≥ 0 (PyTorch's conventions; the raw formulas give 0·∞ = NaN there).
    let device = Device::cpu();
    let a = device
        .tensor(vec![0.0, 0.0, 2.0, 0.0], [4])
        .unwrap()
        .param();
    let b = device
        .tensor(vec![2.0, 0.0, 0.0, 3.0], [4])
        .unwrap()
        .param();
    let grads = a.pow(&b).unwrap().sum().unwrap().backward().unwrap();
    assert_eq!(grads.to_vec(&a).unwrap().unwrap(), vec![0.0, 0.0, 0.0, 0.0]);
    let db = grads.to_vec(&b).unwrap().unwrap();
    assert_eq!(db[..2], [0.0, 0.0]);
    assert!((db[2] - 2f32.ln()).abs() < 1e-6, "{db:?}");
    assert_eq!(db[3], 0.0);
}
