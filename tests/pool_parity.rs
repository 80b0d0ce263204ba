//! max_pool2d, avg_pool2d and global_avg_pool on both backends against naive references of
//! PyTorch's definitions (`tests/conv_ref`): forward and, through `backward`, the input
//! gradient, over awkward sizes (1, primes, overlapping windows, padding, dilation, one
//! large case), NaN and ±inf inputs, ties, and bit-identical results run to run.
//!
//! Tolerances: max pooling selects and routes values, so its forward is exact; its backward
//! sums at most `⌈KH/SH⌉·⌈KW/SW⌉` routed `dy` values per input element (`conv_ref`'s
//! summation bound). Average pooling's bounds are `conv_ref`'s, counting each division as
//! one more rounding (Vulkan divides within 2.5 ulp).

mod common;

use common::devices;
mod conv_ref;

use conv_ref::{avg_pool, avg_pool_backward, check, exact, max_pool, random, Exact, PoolCase};
use downhill::prelude::*;

fn pool(n: usize, c: usize, hw: (usize, usize), k: (usize, usize)) -> PoolCase {
    PoolCase {
        n,
        c,
        h: hw.0,
        w: hw.1,
        k,
        stride: k,
        pad: (0, 0),
        dilation: (1, 1),
    }
}

fn max_cases() -> Vec<PoolCase> {
    vec![
        pool(1, 1, (1, 1), (1, 1)),
        pool(2, 3, (8, 8), (2, 2)),
        // odd sizes: the last row and column are left out (floor mode)
        pool(1, 2, (7, 5), (2, 2)),
        // overlapping windows with padding (-inf) and a non-square kernel
        PoolCase {
            stride: (1, 2),
            pad: (1, 1),
            ..pool(2, 3, (7, 6), (3, 2))
        },
        // dilation
        PoolCase {
            stride: (1, 1),
            pad: (1, 0),
            dilation: (2, 3),
            ..pool(1, 2, (9, 11), (3, 2))
        },
        // large: 65,536 inputs, 3×3 windows of stride 2 that overlap
        PoolCase {
            stride: (2, 2),
            pad: (1, 1),
            ..pool(4, 16, (32, 32), (3, 3))
        },
    ]
}

fn avg_cases() -> Vec<PoolCase> {
    max_cases()
        .into_iter()
        .filter(|p| p.dilation == (1, 1))
        .collect()
}

/// `dx` of max pooling: each window's `dy` to the position PyTorch picks.
fn max_backward_ref(p: &PoolCase, x: &[f32], dy: &[f32]) -> Vec<Exact> {
    let (_, arg) = max_pool(p, x);
    let mut dx = vec![Exact::default(); p.x_len()];
    for (o, a) in arg.iter().enumerate() {
        if let Some(k) = a {
            let e = &mut dx[*k];
            e.value += dy[o] as f64;
            e.abs_sum += (dy[o] as f64).abs();
            e.terms += 1;
        }
    }
    dx
}

/// (y, dx) of a pool with the upstream gradient `dy`.
fn run(
    device: &Device,
    p: &PoolCase,
    x: &[f32],
    dy: &[f32],
    max: bool,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let xt = device.tensor(x.to_vec(), [p.n, p.c, p.h, p.w])?.param();
    let y = if max {
        xt.max_pool2d(p.options())?
    } else {
        xt.avg_pool2d(p.options())?
    };
    let (oh, ow) = p.out();
    assert_eq!(y.dims(), [p.n, p.c, oh, ow]);
    let weights = device.tensor(dy.to_vec(), [p.n, p.c, oh, ow])?;
    let grads = y.mul(&weights)?.sum()?.backward()?;
    Ok((y.to_vec()?, grads.to_vec(&xt)?.expect("a gradient")))
}

/// Inputs with ties: values on a grid of 1/8 in [-1, 1], so windows often hold equal
/// maxima (the first must win).
fn tied(seed: u64, len: usize) -> Vec<f32> {
    random(seed, len)
        .into_iter()
        .map(|v| (v * 8.0).round() / 8.0)
        .collect()
}

#[test]
fn max_pool2d_matches_pytorch_on_both_backends() -> Result<()> {
    for device in devices() {
        for (i, p) in max_cases().iter().enumerate() {
            let x = tied(10 * i as u64, p.x_len());
            let dy = random(10 * i as u64 + 1, p.y_len());
            let (y, dx) = run(&device, p, &x, &dy, true)?;
            let name = |what: &str| format!("{} max_pool2d {what} {p:?}", device.name());
            check(&name("y"), &y, &exact(&max_pool(p, &x).0));
            check(&name("dx"), &dx, &max_backward_ref(p, &x, &dy));
        }
    }
    Ok(())
}

#[test]
fn max_pool2d_routes_nan_as_pytorch() -> Result<()> {
    // Windows with one NaN, two NaNs (the last one takes the gradient), +inf, all -inf
    // (the first tap takes it), and padding (-inf, never chosen).
    let p = PoolCase {
        stride: (1, 1),
        pad: (1, 1),
        ..pool(1, 2, (4, 5), (3, 3))
    };
    let mut x = tied(5, p.x_len());
    x[1] = f32::NAN;
    x[7] = f32::NAN;
    x[12] = f32::INFINITY;
    for v in &mut x[20..30] {
        *v = f32::NEG_INFINITY;
    }
    x[33] = f32::NAN;
    let dy = random(6, p.y_len());
    for device in devices() {
        let (y, dx) = run(&device, &p, &x, &dy, true)?;
        check("max_pool2d y with NaN", &y, &exact(&max_pool(&p, &x).0));
        check(
            "max_pool2d dx with NaN",
            &dx,
            &max_backward_ref(&p, &x, &dy),
        );
        assert!(y.iter().any(|v| v.is_nan()));
        // The first of the two NaNs takes no gradient from the windows holding both.
        assert!(dx[7] != 0.0);
    }
    Ok(())
}

#[test]
fn avg_pool2d_matches_pytorch_on_both_backends() -> Result<()> {
    for device in devices() {
        for (i, p) in avg_cases().iter().enumerate() {
            let x = random(20 * i as u64, p.x_len());
            let dy = random(20 * i as u64 + 1, p.y_len());
            let (y, dx) = run(&device, p, &x, &dy, false)?;
            let name = |what: &str| format!("{} avg_pool2d {what} {p:?}", device.name());
            check(&name("y"), &y, &avg_pool(p, &x));
            check(&name("dx"), &dx, &avg_pool_backward(p, &dy));
        }
    }
    Ok(())
}

#[test]
fn avg_pool2d_counts_padding_and_propagates_nan() -> Result<()> {
    // count_include_pad: a corner window of a 3×3 pool with padding 1 over ones holds 4
    // ones and 5 zeros, so it averages 4/9.
    let p = PoolCase {
        stride: (1, 1),
        pad: (1, 1),
        ..pool(1, 1, (4, 4), (3, 3))
    };
    let mut x = vec![1.0; 16];
    for device in devices() {
        let (y, _) = run(&device, &p, &x, &vec![1.0; p.y_len()], false)?;
        assert!((y[0] - 4.0 / 9.0).abs() < 1e-6, "{}", y[0]);
    }
    x[5] = f32::NAN;
    x[10] = f32::INFINITY;
    let dy = random(3, p.y_len());
    for device in devices() {
        let (y, dx) = run(&device, &p, &x, &dy, false)?;
        check("avg_pool2d y with NaN", &y, &avg_pool(&p, &x));
        check("avg_pool2d dx", &dx, &avg_pool_backward(&p, &dy));
    }
    Ok(())
}

#[test]
fn pools_give_the_same_bits_run_to_run() -> Result<()> {
    let p = max_cases()[5];
    let (x, dy) = (tied(1, p.x_len()), random(2, p.y_len()));
    for device in devices() {
        for max in [true, false] {
            let first = run(&device, &p, &x, &dy, max)?;
            let again = run(&device, &p, &x, &dy, max)?;
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&first.0), bits(&again.0));
            assert_eq!(bits(&first.1), bits(&again.1));
        }
    }
    Ok(())
}

#[test]
fn global_avg_pool_is_the_mean_of_each_plane() -> Result<()> {
    let (n, c, h, w) = (3, 5, 7, 3);
    let x = random(31, n * c * h * w);
    let want: Vec<Exact> = x
        .chunks(h * w)
        .map(|plane| {
            let sum: f64 = plane.iter().map(|&v| v as f64).sum();
            let abs: f64 = plane.iter().map(|&v| (v as f64).abs()).sum();
            Exact {
                value: sum / (h * w) as f64,
                abs_sum: abs / (h * w) as f64,
                terms: h * w + 1,
            }
        })
        .collect();
    for device in devices() {
        let xt = device.tensor(x.clone(), [n, c, h, w])?.param();
        let y = xt.global_avg_pool()?;
        assert_eq!(y.dims(), [n, c]);
        check("global_avg_pool", &y.to_vec()?, &want);
        let dx = y.sum()?.backward()?.to_vec(&xt)?.expect("a gradient");
        let share = 1.0 / (h * w) as f32;
        assert!(dx
            .iter()
            .all(|&g| (g - share).abs() <= 4.0 * f32::EPSILON * share));
    }
    Ok(())
}
