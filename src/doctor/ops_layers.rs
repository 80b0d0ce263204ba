//! The op checks of losses, convolutions, pools, normalisations and dropout (the rest of
//! [`super::ops`]), with the bounds of tests/parity.rs, the conv and pool suites
//! (`tests/conv_ref`'s summation bounds) and tests/norm_parity.rs.

use super::harness::{case, Case, Draw, Input};
use super::tolerance::*;
use crate::{BatchNormConfig, RunningStats, Tensor};
use crate::{Conv2dOptions, Pool2dOptions};

pub(super) fn losses(d: &mut Draw) -> Vec<Case> {
    let mut cases = Vec::new();
    for shape in [&[1usize, 1][..], &[37, 3]] {
        let n: usize = shape.iter().product();
        let nf = n as f64;
        // tests/parity.rs's every_loss_forward_and_gradient bounds.
        cases.push(
            case(
                format!("mse {shape:?}"),
                vec![
                    d.uniform(shape, -2.0, 2.0),
                    d.uniform(shape, -2.0, 2.0).constant(),
                ],
                |t| t[0].mse(&t[1]),
            )
            .fwd(Tol::rel((depth(n) + 3.0) * U))
            .bwd(Tol::rel(DIV.rtol + EPS)),
        );
        cases.push(
            case(
                format!("binary_cross_entropy {shape:?}"),
                vec![
                    d.uniform(shape, 0.02, 0.98),
                    d.uniform(shape, 0.0, 1.0).constant(),
                ],
                |t| t[0].binary_cross_entropy(&t[1]),
            )
            .fwd(Tol::new(LOG_ABS, (depth(n) + 3.0) * U + 3.0 * EPS))
            .bwd(Tol::new(3.0 * EPS * 50.0 / nf * 1.5, 4.0 * EPS)),
        );
        cases.push(
            case(
                format!("binary_cross_entropy_with_logits {shape:?}"),
                vec![
                    d.uniform(shape, -6.0, 6.0),
                    d.uniform(shape, 0.0, 1.0).constant(),
                ],
                |t| t[0].binary_cross_entropy_with_logits(&t[1]),
            )
            .fwd(Tol::new(
                12.0 * U + 15.0 * EPS + LOG_ABS + 14.0 * U,
                (depth(n) + 2.0) * U,
            ))
            .bwd(Tol::new(1.5 * (TRANSC.atol + TRANSC.rtol) / nf, 3.0 * EPS)),
        );
    }
    for (rows, cols) in [(5, 2), (31, 10)] {
        let ln = (cols as f64).ln();
        let row_atol =
            cols as f64 * U + 15.0 * EPS + (3.0 * EPS * ln).max(LOG_ABS) + 2.0 * EPS * (3.0 + ln);
        let grad_atol = 1.5 * (row_atol + (15.0 + 2.0 * ln) * EPS) / rows as f64;
        cases.push(
            case(
                format!("cross_entropy [{rows}, {cols}]"),
                vec![d.uniform(&[rows, cols], -3.0, 3.0), d.labels(rows, cols)],
                |t| t[0].cross_entropy(&t[1]),
            )
            .fwd(Tol::new(row_atol, (depth(rows) + 2.0) * U))
            .bwd(Tol::new(grad_atol, 3.0 * EPS)),
        );
    }
    cases
}

pub(super) fn conv_pool(d: &mut Draw) -> Vec<Case> {
    // conv: each output a dot of k = C_in/groups·KH·KW terms plus the bias (|x| <= 1,
    // |w|, |b| <= 0.5), bounded as a matmul's dot (dot_atol); dx sums C_out/groups·KH·KW
    // terms of dy·w, dw and db sum N·OH·OW terms.
    let (n, c_in, h, w, c_out, kh, kw, groups) = (2, 4, 7, 6, 6, 3, 2, 2);
    let options = Conv2dOptions {
        stride: (2, 1),
        pad_h: (1, 1),
        pad_w: (0, 1),
        dilation: (1, 2),
        groups,
    };
    let (oh, ow) = ((h + 2 - 3) / 2 + 1, (w + 1 - 3) + 1);
    let k = c_in / groups * kh * kw;
    let positions = n * oh * ow;
    let conv = case(
        "conv2d [2, 4, 7, 6] * [6, 2, 3, 2], stride (2, 1), dilation (1, 2), 2 groups",
        vec![
            d.uniform(&[n, c_in, h, w], -1.0, 1.0),
            d.uniform(&[c_out, c_in / groups, kh, kw], -0.5, 0.5),
            d.uniform(&[c_out], -0.5, 0.5),
        ],
        move |t| t[0].conv2d(&t[1], Some(&t[2]), options),
    )
    .fwd(Tol::abs(dot_atol(k + 1, 1.0, 0.5)))
    .bwd_each(vec![
        Tol::abs(dot_atol(c_out / groups * kh * kw, 1.5, 0.5)),
        Tol::abs(dot_atol(positions, 1.0, 1.5)),
        Tol::abs(sum_atol(positions, 1.5)),
    ]);
    // Without a bias (conv2d_backward_weight's other path): a 1x1 kernel, 7 channels.
    let plain = Conv2dOptions::default();
    let no_bias = case(
        "conv2d [3, 7, 5, 4] * [2, 7, 1, 1], no bias",
        vec![
            d.uniform(&[3, 7, 5, 4], -1.0, 1.0),
            d.uniform(&[2, 7, 1, 1], -0.5, 0.5),
        ],
        move |t| t[0].conv2d(&t[1], None, plain),
    )
    .fwd(Tol::abs(dot_atol(7, 1.0, 0.5)))
    .bwd_each(vec![
        Tol::abs(dot_atol(2, 1.5, 0.5)),
        Tol::abs(dot_atol(3 * 5 * 4, 1.0, 1.5)),
    ]);
    // Max pooling selects (exact forward) and routes at most ⌈3/2⌉² = 4 dy per input
    // element; average pooling over disjoint 2x2 windows: a sum of 4 and a division.
    let overlap = Pool2dOptions {
        kernel: (3, 3),
        stride: Some((2, 2)),
        padding: (1, 1),
        dilation: (1, 1),
    };
    let disjoint = Pool2dOptions {
        kernel: (2, 2),
        stride: None,
        padding: (0, 0),
        dilation: (1, 1),
    };
    vec![
        conv,
        no_bias,
        case(
            "max_pool2d 3x3 stride 2 pad 1 on [2, 3, 9, 7] with NaN/±inf",
            vec![pooled(d)],
            move |t| t[0].reshape([2, 3, 9, 7])?.max_pool2d(overlap),
        )
        .bwd(Tol::abs(sum_atol(4, 1.5))),
        case(
            "avg_pool2d 2x2 on [2, 3, 9, 7]",
            vec![d.uniform(&[2, 3, 9, 7], -1.0, 1.0)],
            move |t| t[0].avg_pool2d(disjoint),
        )
        .fwd(Tol::new(sum_atol(4, 1.0) / 4.0, DIV.rtol))
        .bwd(DIV),
    ]
}

fn pooled(d: &mut Draw) -> Input {
    d.with_specials(2 * 3 * 9 * 7, -1.0, 1.0)
}

pub(super) fn norm(d: &mut Draw) -> Vec<Case> {
    use crate::NormDims;
    let (rows, feat) = (13, 37);
    let x = d.uniform(&[rows, feat], -2.0, 2.0);
    let (g, b) = (d.uniform(&[feat], 0.5, 1.5), d.uniform(&[feat], -0.5, 0.5));
    let r = super::harness::weights(rows * feat);
    let dims = NormDims {
        outer: 1,
        channels: rows,
        inner: feat,
    };
    let [fwd, dx, dg, db] = norm_tolerances(&x.data, dims, Some((&g.data, &b.data)), true, &r);
    let layer = case("layer_norm [13, 37] with affine", vec![x, g, b], |t| {
        t[0].layer_norm(&[37], Some(&t[1]), Some(&t[2]), 1e-5)
    })
    .fwd(fwd)
    .bwd_each(vec![dx, dg, db]);
    let (batch, ch) = (29, 5);
    let x = d.uniform(&[batch, ch], -2.0, 2.0);
    let (g, b) = (d.uniform(&[ch], 0.5, 1.5), d.uniform(&[ch], -0.5, 0.5));
    let r = super::harness::weights(batch * ch);
    let dims = NormDims {
        outer: batch,
        channels: ch,
        inner: 1,
    };
    let [fwd, dx, dg, db] = norm_tolerances(&x.data, dims, Some((&g.data, &b.data)), false, &r);
    // Training mode with running statistics: norm_update_running runs too, and the
    // updated running mean and variance are compared after the output (their errors,
    // 0.1·mean and 0.9 + 0.1·var·n/(n − 1), are far inside the forward bound).
    let bn = case(
        "batch_norm [29, 5] training, with running stats",
        vec![x, g, b],
        move |t| {
            let device = t[0].device();
            let mean = Tensor::full(device, [ch], 0.0)?;
            let var = Tensor::full(device, [ch], 1.0)?;
            let tracked = Tensor::full(device, [1], 0.0)?;
            let running = RunningStats {
                mean: &mean,
                var: &var,
                num_batches_tracked: &tracked,
            };
            let config = BatchNormConfig {
                training: true,
                momentum: Some(0.1),
                eps: 1e-5,
            };
            let y = t[0].batch_norm(Some(running), Some(&t[1]), Some(&t[2]), config)?;
            let flat = y.reshape([batch * ch])?;
            Tensor::concat(&[&flat, &mean.detach(), &var.detach()], 0)
        },
    )
    .fwd(fwd)
    .bwd_each(vec![dx, dg, db]);
    let x = d.uniform(&[1031], -1.0, 1.0);
    let drop = case("dropout p=0.3 [1031]", vec![x], |t| {
        t[0].dropout(0.3, 42, 7)
    });
    vec![layer, bn, drop]
}
