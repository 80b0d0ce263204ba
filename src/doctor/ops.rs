//! The op checks, through tensors and autodiff (so every backward kernel runs too): the
//! cases of tests/parity.rs, tests/parity_nonfinite.rs and the index, conv, pool and norm
//! parity suites, fewer and smaller, with their tolerances. Sizes are awkward on purpose
//! (1, primes, non-multiples of the workgroup sizes).

use super::harness::{case, Case, Draw, Input};
use super::ops_layers as layers;
use super::tolerance::*;
use crate::{Shape, Tensor};

type UnaryFn = fn(&Tensor) -> crate::Result<Tensor>;
/// (name, op, input range, forward, backward)
type UnarySpec = (&'static str, UnaryFn, (f32, f32), Tol, Tol);
type BinaryFn = fn(&Tensor, &Tensor) -> crate::Result<Tensor>;
/// (name, op, range of a, range of b, forward, (grad a, its term bound), (grad b, its term bound))
type BinarySpec = (
    &'static str,
    BinaryFn,
    (f32, f32),
    (f32, f32),
    Tol,
    (Tol, f64),
    (Tol, f64),
);

/// `(name, cases)` of each op group.
pub(crate) fn tables() -> Vec<(&'static str, Vec<Case>)> {
    let mut d = Draw(0xD0C7);
    vec![
        ("matmul and linear", super::ops_matmul::matmul(&mut d)),
        ("unary ops", unary(&mut d)),
        ("binary ops", binary(&mut d)),
        ("reductions and softmax", reductions(&mut d)),
        ("shape and index ops", shape_and_index(&mut d)),
        ("losses", layers::losses(&mut d)),
        ("conv and pool", layers::conv_pool(&mut d)),
        ("norm and dropout", layers::norm(&mut d)),
    ]
}

fn unary(d: &mut Draw) -> Vec<Case> {
    // (name, op, input range, forward, backward): tests/parity.rs's table.
    let table: [UnarySpec; 17] = [
        ("neg", |x| x.neg(), (-2.0, 2.0), EXACT, EXACT),
        ("square", |x| x.square(), (-2.0, 2.0), EXACT, EXACT),
        (
            "add_scalar",
            |x| x.add_scalar(0.75),
            (-2.0, 2.0),
            EXACT,
            EXACT,
        ),
        (
            "mul_scalar",
            |x| x.mul_scalar(-1.5),
            (-2.0, 2.0),
            EXACT,
            EXACT,
        ),
        (
            "rsub_scalar",
            |x| x.rsub_scalar(2.0),
            (-2.0, 2.0),
            EXACT,
            EXACT,
        ),
        ("relu", |x| x.relu(), (-1.0, 1.0), EXACT, EXACT),
        (
            "leaky_relu",
            |x| x.leaky_relu(0.1),
            (-1.0, 1.0),
            EXACT,
            EXACT,
        ),
        ("clamp", |x| x.clamp(-0.5, 0.5), (-1.0, 1.0), EXACT, EXACT),
        (
            "rdiv_scalar",
            |x| x.rdiv_scalar(2.0),
            (0.5, 2.0),
            DIV,
            Tol::rel(9.0 * EPS),
        ),
        ("sqrt", |x| x.sqrt(), (0.25, 4.0), TRANSC, TRANSC_BWD),
        ("exp", |x| x.exp(), (-4.0, 4.0), TRANSC, TRANSC_BWD),
        ("log", |x| x.log(), (0.25, 4.0), TRANSC, DIV),
        ("powf 2.5", |x| x.powf(2.5), (0.5, 2.0), TRANSC, TRANSC_BWD),
        (
            "powf -1.5",
            |x| x.powf(-1.5),
            (0.5, 2.0),
            TRANSC,
            TRANSC_BWD,
        ),
        ("sigmoid", |x| x.sigmoid(), (-6.0, 6.0), TRANSC, TRANSC_BWD),
        ("tanh", |x| x.tanh(), (-4.0, 4.0), TRANSC, TRANSC_BWD),
        ("gelu", |x| x.gelu(), (-4.0, 4.0), TRANSC, TRANSC_BWD),
    ];
    let mut cases = Vec::new();
    for (name, op, (lo, hi), fwd, bwd) in table {
        for n in [1, 1009] {
            let x = d.uniform(&[n], lo, hi);
            cases.push(
                case(format!("{name} [{n}]"), vec![x], move |t| op(&t[0]))
                    .fwd(fwd)
                    .bwd(bwd),
            );
        }
        // tests/parity_nonfinite.rs: NaN and ±inf meet the same class on the other side
        // (powf's NaN cases need its own looser bound and stay in that suite).
        if !name.starts_with("powf") {
            let x = d.with_specials(263, lo, hi);
            cases.push(
                case(format!("{name} with NaN/±inf [263]"), vec![x], move |t| {
                    op(&t[0])
                })
                .fwd(fwd)
                .bwd(bwd),
            );
        }
    }
    cases
}

fn binary(d: &mut Draw) -> Vec<Case> {
    // Division draws b with a random sign, away from zero.
    let specs: [BinarySpec; 5] = [
        (
            "add",
            |a, b| a.add(b),
            (-2.0, 2.0),
            (-2.0, 2.0),
            EXACT,
            (EXACT, 1.5),
            (EXACT, 1.5),
        ),
        (
            "sub",
            |a, b| a.sub(b),
            (-2.0, 2.0),
            (-2.0, 2.0),
            EXACT,
            (EXACT, 1.5),
            (EXACT, 1.5),
        ),
        (
            "mul",
            |a, b| a.mul(b),
            (-2.0, 2.0),
            (-2.0, 2.0),
            EXACT,
            (EXACT, 3.0),
            (EXACT, 3.0),
        ),
        (
            "div",
            |a, b| a.div(b),
            (-2.0, 2.0),
            (0.5, 2.0),
            DIV,
            (DIV, 3.0),
            (Tol::rel(9.0 * EPS), 12.0),
        ),
        (
            "pow",
            |a, b| a.pow(b),
            (0.5, 2.0),
            (-2.0, 2.0),
            TRANSC,
            (Tol::new(3.0 * TRANSC.atol, TRANSC.rtol + 2.0 * EPS), 24.0),
            (Tol::new(6.0 * LOG_ABS, TRANSC.rtol + 3.0 * EPS), 4.2),
        ),
    ];
    let pairs: [(&[usize], &[usize]); 3] = [
        (&[7, 149], &[7, 149]),
        (&[13, 67], &[67]),
        (&[13, 67], &[13, 1]),
    ];
    let mut cases = Vec::new();
    for (name, f, ra, rb, fwd, ga, gb) in specs {
        for (sa, sb) in pairs {
            let a = d.uniform(sa, ra.0, ra.1);
            let b = if name == "div" {
                d.signed(sb, rb.0, rb.1)
            } else {
                d.uniform(sb, rb.0, rb.1)
            };
            let out = Shape::broadcast("doctor", &Shape::new(sa), &Shape::new(sb))
                .map_or(0, |s| s.numel());
            let (ka, kb) = (out / a.data.len(), out / b.data.len());
            cases.push(
                case(format!("{name} {sa:?} with {sb:?}"), vec![a, b], move |t| {
                    f(&t[0], &t[1])
                })
                .fwd(fwd)
                .bwd_each(vec![summed(ka, ga.1, ga.0), summed(kb, gb.1, gb.0)]),
            );
        }
    }
    // Comparisons (1.0/0.0, exact) and `where`, on a grid with ties and NaN.
    let mut a = d.with_specials(211, -1.0, 1.0);
    a.data
        .iter_mut()
        .for_each(|v| *v = (*v * 4.0).round() / 4.0);
    let b = d.uniform(&[211], -1.0, 1.0);
    let grid = |i: Input| Input {
        data: i.data.iter().map(|v| (v * 4.0).round() / 4.0).collect(),
        ..i
    };
    let b = grid(b);
    for (name, f) in [
        ("eq", (|a, b| a.eq(b)) as BinaryFn),
        ("ne", |a, b| a.ne(b)),
        ("lt", |a, b| a.lt(b)),
        ("le", |a, b| a.le(b)),
        ("gt", |a, b| a.gt(b)),
        ("ge", |a, b| a.ge(b)),
    ] {
        let inputs = vec![a.clone().constant(), b.clone().constant()];
        cases.push(case(
            format!("{name} with ties and NaN [211]"),
            inputs,
            move |t| f(&t[0], &t[1]),
        ));
    }
    let cond = a.clone().constant();
    cases.push(case(
        "where [211]",
        vec![
            cond,
            d.uniform(&[211], -1.0, 1.0),
            d.uniform(&[211], -1.0, 1.0),
        ],
        |t| Tensor::where_(&t[0], &t[1], &t[2]),
    ));
    cases
}

fn reductions(d: &mut Draw) -> Vec<Case> {
    let mut cases = Vec::new();
    for n in [1, 1000] {
        let x = d.uniform(&[n], -1.0, 1.0);
        cases.push(
            case(format!("sum [{n}]"), vec![x.clone()], |t| t[0].sum())
                .fwd(Tol::abs(sum_atol(n, 1.0))),
        );
        cases.push(
            case(format!("mean [{n}]"), vec![x], |t| t[0].mean())
                .fwd(Tol::new(sum_atol(n, 1.0) / n as f64, 2.0 * U)),
        );
    }
    let shape = [5usize, 300, 7];
    let x = d.uniform(&shape, -1.0, 1.0);
    for axis in 0..3 {
        let len = shape[axis];
        cases.push(
            case(
                format!("sum_axis {shape:?} axis {axis}"),
                vec![x.clone()],
                move |t| t[0].sum_axis(axis, false),
            )
            .fwd(Tol::abs(sum_atol(len, 1.0))),
        );
        cases.push(
            case(
                format!("mean_axis {shape:?} axis {axis}"),
                vec![x.clone()],
                move |t| t[0].mean_axis(axis, true),
            )
            .fwd(Tol::new(sum_atol(len, 1.0) / len as f64, 2.0 * U)),
        );
        cases.push(case(
            format!("max_axis {shape:?} axis {axis}"),
            vec![x.clone()],
            move |t| t[0].max_axis(axis, false),
        ));
    }
    let x = d.with_specials(7 * 43, -1.0, 1.0);
    cases.push(case("max_axis with NaN/±inf [7, 43]", vec![x], |t| {
        t[0].reshape([7, 43])?.max_axis(1, false)
    }));
    for cols in [7usize, 300] {
        let x = d.uniform(&[3, cols], -3.0, 3.0);
        let rtol = softmax_rtol(cols);
        // tests/parity.rs's softmax backward bound, with max y <= 1.
        cases.push(
            case(format!("softmax [3, {cols}]"), vec![x.clone()], |t| {
                t[0].softmax()
            })
            .fwd(Tol::rel(rtol))
            .bwd(Tol::new(
                1.5 * (depth(cols) + 1.0) * U + 4.5 * rtol,
                2.0 * EPS,
            )),
        );
        // Log-softmax backward: dx = dy − softmax·Σdy, |Σdy| <= 1.5·cols, softmax <= 1 off by
        // y_atol plus exp's ulps (tests/parity.rs's bound with e_max = 1).
        let y_atol = log_softmax_atol(cols);
        let exp_ulps = (3.0 + 2.0 * ((cols as f64).ln() + 12.0)) * EPS;
        let total = 1.5 * cols as f64;
        let atol =
            (depth(cols) + 1.0) * U * total + total * (y_atol + exp_ulps) + EPS * (1.5 + total);
        cases.push(
            case(format!("log_softmax [3, {cols}]"), vec![x], |t| {
                t[0].log_softmax()
            })
            .fwd(Tol::abs(y_atol))
            .bwd(Tol::abs(atol)),
        );
    }
    cases
}

fn shape_and_index(d: &mut Draw) -> Vec<Case> {
    let mut cases = vec![
        case(
            "permute [4, 5, 6] by [1, 2, 0]",
            vec![d.uniform(&[4, 5, 6], -1.0, 1.0)],
            |t| t[0].permute(&[1, 2, 0]),
        ),
        case("t [13, 67]", vec![d.uniform(&[13, 67], -1.0, 1.0)], |t| {
            t[0].t()
        }),
        case(
            "broadcast_to [13, 1] -> [13, 67]",
            vec![d.uniform(&[13, 1], -1.0, 1.0)],
            |t| t[0].broadcast_to([13, 67]),
        )
        .bwd(Tol::abs(sum_atol(67, 1.5))),
        case(
            "pad [5, 7] by (1, 2), (3, 0)",
            vec![d.uniform(&[5, 7], -1.0, 1.0)],
            |t| t[0].pad(&[(1, 2), (3, 0)], 0.5),
        ),
        case(
            "narrow [9, 11] axis 1 from 3, 5",
            vec![d.uniform(&[9, 11], -1.0, 1.0)],
            |t| t[0].narrow(1, 3, 5),
        ),
        case(
            "concat [3, 5] and [3, 2] axis 1",
            vec![d.uniform(&[3, 5], -1.0, 1.0), d.uniform(&[3, 2], -1.0, 1.0)],
            |t| Tensor::concat(&[&t[0], &t[1]], 1),
        ),
    ];
    // Index ops: the scatter-add backward adds in index order on both sides: exact.
    let mut idx = d.labels(23, 17);
    idx.data[3] = 40.0; // out of range: NaN forward, no gradient
    cases.push(case(
        "index_select [17, 6] by 23 rows (one invalid)",
        vec![d.uniform(&[17, 6], -1.0, 1.0), idx.clone()],
        |t| t[0].index_select(0, &t[1]),
    ));
    let mut gi = d.labels(4 * 9, 9);
    gi.shape = vec![4, 9];
    cases.push(case(
        "gather [4, 9] axis 1",
        vec![d.uniform(&[4, 9], -1.0, 1.0), gi],
        |t| t[0].gather(1, &t[1]),
    ));
    let mut rows = d.labels(11, 7);
    rows.shape = vec![11];
    cases.push(case(
        "embedding 7x5, padding_idx 2",
        vec![rows, d.uniform(&[7, 5], -1.0, 1.0)],
        |t| Tensor::embedding(&t[0], &t[1], Some(2)),
    ));
    cases.push(case(
        "argmin [6, 41] axis 0",
        vec![d.with_specials(6 * 41, -1.0, 1.0).constant()],
        |t| t[0].reshape([6, 41])?.argmin(0, false),
    ));
    cases.push(case(
        "argmax + x [6, 41] axis 1",
        vec![d.with_specials(6 * 41, -1.0, 1.0)],
        |t| {
            let x = t[0].reshape([6, 41])?;
            x.argmax(1, true)?.add(&x.detach())
        },
    ));
    cases
}
