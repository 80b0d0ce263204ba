//! The matrix-product checks: every transpose combination at awkward sizes and the fused
//! linear with every epilogue, with tests/parity.rs's dot-product bounds.

use super::harness::{case, Case, Draw, Input};
use super::tolerance::*;
use crate::UnaryOp;

pub(super) fn matmul(d: &mut Draw) -> Vec<Case> {
    let mut cases = Vec::new();
    for (m, k, n) in [(1, 1, 1), (17, 31, 13), (65, 129, 67)] {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = d.uniform(&if ta { [k, m] } else { [m, k] }, -1.0, 1.0);
            let b = d.uniform(&if tb { [n, k] } else { [k, n] }, -1.0, 1.0);
            cases.push(
                case(
                    format!("matmul {m}x{k}x{n} trans_a={ta} trans_b={tb}"),
                    vec![a, b],
                    move |t| t[0].matmul_t(&t[1], ta, tb),
                )
                .fwd(Tol::abs(dot_atol(k, 1.0, 1.0)))
                .bwd_each(vec![
                    Tol::abs(dot_atol(n, 1.5, 1.0)),
                    Tol::abs(dot_atol(m, 1.0, 1.5)),
                ]),
            );
        }
    }
    let (m, k, n) = (37, 19, 48);
    let epilogues = [
        None,
        Some(UnaryOp::Relu),
        Some(UnaryOp::LeakyRelu(0.1)),
        Some(UnaryOp::Sigmoid),
        Some(UnaryOp::Tanh),
    ];
    for act in epilogues {
        let x = d.uniform(&[m, k], -1.0, 1.0);
        let w = d.uniform(&[k, n], -0.5, 0.5);
        // tests/parity.rs's fused-linear bounds: z is a dot of k + 1 terms; sigmoid and
        // tanh add TRANSC; their backward from the saved output adds `ddz` per term.
        let dz = dot_atol(k + 1, 1.0, 0.5);
        let b = match act {
            // The selections' backward tests y > 0 on the saved output: a pre-activation
            // within rounding distance of 0 could legitimately flip, so (as tests/parity.rs)
            // the bias keeps every z at least twice the worst-case |Δz| away from 0.
            Some(UnaryOp::Relu | UnaryOp::LeakyRelu(_)) => {
                bias_avoiding_kinks(&x.data, &w.data, (m, k, n), 2.0 * dz, d)
            }
            _ => d.uniform(&[n], -0.5, 0.5),
        };
        let (fwd, ddz) = match act {
            Some(_) => {
                let fwd = Tol::new(dz + TRANSC.atol, TRANSC.rtol);
                (fwd, 3.0 * (fwd.atol + fwd.rtol) + 2.0 * EPS * 1.5)
            }
            None => (Tol::abs(dz), 0.0),
        };
        cases.push(
            case(
                format!("linear {m}x{k}x{n} with bias, activation {act:?}"),
                vec![x, w, b],
                move |t| t[0].linear(&t[1], Some(&t[2]), act),
            )
            .fwd(fwd)
            .bwd_each(vec![
                Tol::abs(dot_atol(n, 1.5, 0.5) + n as f64 * 0.5 * ddz),
                Tol::abs(dot_atol(m, 1.0, 1.5) + m as f64 * ddz),
                Tol::abs(sum_atol(m, 1.5) + m as f64 * ddz),
            ]),
        );
    }
    cases
}

/// A bias `[n]` in [-0.5, 0.5) for `x [m, k] · w [k, n]`, each entry redrawn until every
/// pre-activation of its column is more than `margin` away from 0 (computed in f64).
fn bias_avoiding_kinks(
    x: &[f32],
    w: &[f32],
    (m, k, n): (usize, usize, usize),
    margin: f64,
    d: &mut Draw,
) -> Input {
    let xw: Vec<f64> = (0..m * n)
        .map(|e| {
            let (i, j) = (e / n, e % n);
            (0..k)
                .map(|l| x[i * k + l] as f64 * w[l * n + j] as f64)
                .sum()
        })
        .collect();
    let mut bias = d.uniform(&[n], -0.5, 0.5);
    for j in 0..n {
        while (0..m).any(|i| (xw[i * n + j] + bias.data[j] as f64).abs() <= margin) {
            bias.data[j] = d.uniform(&[1], -0.5, 0.5).data[0];
        }
    }
    bias
}
