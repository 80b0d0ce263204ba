//! conv2d on both backends against a naive f64 reference of PyTorch's definition
//! (`tests/conv_ref`): the forward, and through `backward` the input, weight and bias
//! gradients, over awkward sizes (1, primes, sizes that are no multiple of a workgroup,
//! groups, depthwise, dilation, stride, asymmetric padding, one large case), NaN and ±inf
//! inputs, and bit-identical results run to run. Tolerances: `conv_ref`'s module comment
//! (a per-element bound `2·(k + 2)·u·Σ|terms|` from the summation error of `k` terms).

mod common;

use common::devices;
mod conv_ref;

use conv_ref::{check, conv_backward, conv_forward, random, Case};
use downhill::prelude::*;

fn case(n: usize, c_in: usize, hw: (usize, usize), c_out: usize, k: (usize, usize)) -> Case {
    Case {
        n,
        c_in,
        h: hw.0,
        w: hw.1,
        c_out,
        k,
        stride: (1, 1),
        pad_h: (0, 0),
        pad_w: (0, 0),
        dilation: (1, 1),
        groups: 1,
        bias: true,
    }
}

fn cases() -> Vec<Case> {
    vec![
        // everything 1
        case(1, 1, (1, 1), 1, (1, 1)),
        case(1, 1, (5, 5), 1, (3, 3)),
        // primes, stride, asymmetric padding, dilation along the width
        Case {
            stride: (2, 1),
            pad_h: (1, 2),
            pad_w: (0, 1),
            dilation: (1, 2),
            ..case(2, 3, (7, 6), 5, (3, 2))
        },
        // two groups, stride 2, no bias
        Case {
            stride: (2, 2),
            pad_h: (1, 1),
            pad_w: (1, 1),
            groups: 2,
            bias: false,
            ..case(3, 6, (9, 11), 4, (3, 3))
        },
        // depthwise with a channel multiplier of 2, a 1×5 kernel, 'same'-like padding
        Case {
            pad_w: (2, 2),
            groups: 4,
            ..case(2, 4, (3, 13), 8, (1, 5))
        },
        // 1×1 kernel, stride 3 (pixels no output reads)
        Case {
            stride: (3, 3),
            ..case(2, 5, (10, 7), 3, (1, 1))
        },
        // dilation 2 both ways with PyTorch's odd 'same' padding split (2 before, 2 after)
        Case {
            pad_h: (2, 2),
            pad_w: (2, 2),
            dilation: (2, 2),
            ..case(1, 2, (13, 13), 3, (3, 3))
        },
        // an even kernel with 'same' padding: PyTorch puts the extra row after (0, 1)
        Case {
            pad_h: (0, 1),
            pad_w: (0, 1),
            ..case(2, 3, (6, 5), 2, (2, 2))
        },
        // large: 102,400 outputs, 18,432 weight elements summed over 3,200 pixels
        Case {
            pad_h: (1, 1),
            pad_w: (1, 1),
            ..case(8, 16, (20, 20), 32, (3, 3))
        },
    ]
}

struct Run {
    y: Vec<f32>,
    dx: Vec<f32>,
    dw: Vec<f32>,
    db: Option<Vec<f32>>,
}

fn run(device: &Device, c: &Case, x: &[f32], w: &[f32], b: &[f32], dy: &[f32]) -> Result<Run> {
    let (oh, ow) = c.out();
    let xt = device.tensor(x.to_vec(), [c.n, c.c_in, c.h, c.w])?.param();
    let wt = device
        .tensor(w.to_vec(), [c.c_out, c.c_in / c.groups, c.k.0, c.k.1])?
        .param();
    let bt = device.tensor(b.to_vec(), [c.c_out])?.param();
    let y = xt.conv2d(&wt, c.bias.then_some(&bt), c.options())?;
    assert_eq!(y.dims(), [c.n, c.c_out, oh, ow]);
    // sum(y · dy): its gradient with respect to y is dy.
    let weights = device.tensor(dy.to_vec(), [c.n, c.c_out, oh, ow])?;
    let grads = y.mul(&weights)?.sum()?.backward()?;
    let get = |t: &Tensor| grads.to_vec(t).map(|g| g.expect("a gradient"));
    Ok(Run {
        y: y.to_vec()?,
        dx: get(&xt)?,
        dw: get(&wt)?,
        db: if c.bias { Some(get(&bt)?) } else { None },
    })
}

fn check_case(device: &Device, c: &Case, seed: u64, x: &[f32], w: &[f32]) -> Result<Run> {
    let b = random(seed + 2, c.c_out);
    let dy = random(seed + 3, c.y_len());
    let got = run(device, c, x, w, &b, &dy)?;
    let name = |what: &str| format!("{} {what} {c:?}", device.name());
    check(
        &name("y"),
        &got.y,
        &conv_forward(c, x, w, c.bias.then_some(&b)),
    );
    let (dx, dw, db) = conv_backward(c, x, w, &dy);
    check(&name("dx"), &got.dx, &dx);
    check(&name("dw"), &got.dw, &dw);
    if let Some(got_db) = &got.db {
        check(&name("db"), got_db, &db);
    }
    Ok(got)
}

#[test]
fn conv2d_matches_the_reference_on_both_backends() -> Result<()> {
    for device in devices() {
        for (i, c) in cases().iter().enumerate() {
            let seed = 100 * i as u64;
            let (x, w) = (random(seed, c.x_len()), random(seed + 1, c.w_len()));
            check_case(&device, c, seed, &x, &w)?;
        }
    }
    Ok(())
}

#[test]
fn conv2d_propagates_nan_and_infinities_as_the_zero_padded_sum() -> Result<()> {
    // NaN and ±inf in the input and the weight: an infinite weight meets padding zeros
    // (0·inf = NaN) and finite inputs (±inf), opposite infinities cancel to NaN.
    let c = Case {
        pad_h: (1, 1),
        pad_w: (1, 1),
        ..case(2, 2, (5, 6), 3, (3, 3))
    };
    let mut x = random(7, c.x_len());
    x[3] = f32::NAN;
    x[17] = f32::INFINITY;
    x[40] = f32::NEG_INFINITY;
    let mut w = random(8, c.w_len());
    w[0] = f32::INFINITY;
    w[30] = f32::NAN;
    for device in devices() {
        let got = check_case(&device, &c, 9, &x, &w)?;
        assert!(got.y.iter().any(|v| v.is_nan()) && got.y.iter().any(|v| v.is_finite()));
    }
    Ok(())
}

#[test]
fn conv2d_gives_the_same_bits_run_to_run() -> Result<()> {
    let c = cases()[8];
    let (x, w) = (random(1, c.x_len()), random(2, c.w_len()));
    let (b, dy) = (random(3, c.c_out), random(4, c.y_len()));
    for device in devices() {
        let first = run(&device, &c, &x, &w, &b, &dy)?;
        let again = run(&device, &c, &x, &w, &b, &dy)?;
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&first.y), bits(&again.y));
        assert_eq!(bits(&first.dx), bits(&again.dx));
        assert_eq!(bits(&first.dw), bits(&again.dw));
        assert_eq!(
            bits(first.db.as_ref().unwrap()),
            bits(again.db.as_ref().unwrap())
        );
    }
    Ok(())
}

#[test]
fn the_reference_catches_a_shifted_tap() -> Result<()> {
    // The check must be able to fail: a kernel flipped left to right (a correlation read
    // as a convolution) is far outside the bound.
    let c = case(1, 1, (5, 5), 1, (3, 3));
    let (x, w) = (random(11, c.x_len()), random(12, c.w_len()));
    let y = common::cpu()
        .tensor(x.clone(), [1, 1, 5, 5])?
        .conv2d(
            &common::cpu().tensor(w.clone(), [1, 1, 3, 3])?,
            None,
            c.options(),
        )?
        .to_vec()?;
    let flipped: Vec<f32> = w.chunks(3).flat_map(|r| r.iter().rev().copied()).collect();
    let wrong = conv_forward(&c, &x, &flipped, None);
    let caught = std::panic::catch_unwind(|| check("flipped", &y, &wrong));
    assert!(caught.is_err(), "a flipped kernel passed the check");
    Ok(())
}

#[test]
fn conv1d_is_conv2d_at_height_one() -> Result<()> {
    let (n, c_in, l, c_out, k) = (3, 4, 11, 6, 3);
    let x = random(21, n * c_in * l);
    let w = random(22, c_out * c_in / 2 * k);
    let b = random(23, c_out);
    let c = Case {
        stride: (1, 2),
        pad_w: (2, 1),
        dilation: (1, 2),
        groups: 2,
        ..case(n, c_in, (1, l), c_out, (1, k))
    };
    let want = conv_forward(&c, &x, &w, Some(&b));
    for device in devices() {
        let y = device.tensor(x.clone(), [n, c_in, l])?.conv1d(
            &device.tensor(w.clone(), [c_out, c_in / 2, k])?,
            Some(&device.tensor(b.clone(), [c_out])?),
            Conv1dOptions {
                stride: 2,
                padding: (2, 1),
                dilation: 2,
                groups: 2,
            },
        )?;
        assert_eq!(y.dims(), [n, c_out, c.out().1]);
        check("conv1d", &y.to_vec()?, &want);
    }
    Ok(())
}

#[test]
fn an_empty_batch_gives_empty_outputs_and_zero_weight_gradients() -> Result<()> {
    for device in devices() {
        for groups in [1, 2] {
            let options = Conv2dOptions {
                pad_h: (1, 1),
                pad_w: (1, 1),
                groups,
                ..Default::default()
            };
            let x = device.zeros([0, 4, 5, 5])?;
            let w = device.tensor(random(1, 6 * 4 / groups * 9), [6, 4 / groups, 3, 3])?;
            let b = device.tensor(random(2, 6), [6])?.param();
            let w = w.param();
            let y = x.conv2d(&w, Some(&b), options)?;
            assert_eq!(y.dims(), [0, 6, 5, 5]);
            let be = device.backend();
            let dims = downhill::Conv2dDims {
                batch: 0,
                in_channels: 4,
                in_size: (5, 5),
                out_channels: 6,
                kernel: (3, 3),
                stride: (1, 1),
                pad_h: (1, 1),
                pad_w: (1, 1),
                dilation: (1, 1),
                groups,
            };
            let (dw, db) = be.conv2d_backward_weight(&x.storage(), &y.storage(), &dims, true)?;
            assert_eq!(be.download(&dw)?, vec![0.0; 6 * 4 / groups * 9]);
            assert_eq!(be.download(&db.expect("asked for"))?, vec![0.0; 6]);
            let dx = be.conv2d_backward_input(&y.storage(), &w.storage(), &dims)?;
            assert!(dx.is_empty());
        }
    }
    Ok(())
}
