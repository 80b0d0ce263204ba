//! Central finite-difference gradient checks of conv2d (input, weight, bias; groups,
//! stride, dilation, asymmetric padding), conv1d, max_pool2d, avg_pool2d and
//! global_avg_pool on the CPU device, by the method of `tests/gradcheck.rs`: the objective
//! `F = Σ y·R` with fixed random weights `R` (|R| in [0.5, 1.5], random signs), autodiff's
//! `dF/dx` against `(F(x + h) − F(x − h)) / ((x + h) − (x − h))` evaluated from fresh
//! constant tensors and summed on the host in f64.
//!
//! Step and tolerance: convolution and average pooling are linear in each input, so the
//! central difference has no truncation error; what remains is f32 rounding of `F`,
//! `ε·|F| / h ≈ 1.2e-7 · |F| / 1e-2`, with |F| of a few units here: ~1e-4. Max pooling is
//! piecewise linear: inputs are pairwise distinct by more than `2h` (a shuffled grid of
//! spacing 0.1), so no step changes a window's maximum. Accepted:
//! `|auto − numeric| ≤ 1e-3 + 1e-2·|numeric|`, as `tests/gradcheck.rs`; a gradient off by a
//! whole term fails (`a_wrong_gradient_fails`).

use downhill::prelude::*;
use downhill::random::SeededRng;

const H: f32 = 1e-2;
const ATOL: f64 = 1e-3;
const RTOL: f64 = 1e-2;

type OpFn = dyn Fn(&[Tensor]) -> Result<Tensor>;

fn uniform(seed: u64, len: usize) -> Vec<f32> {
    let mut rng = SeededRng::new(seed);
    (0..len).map(|_| rng.uniform(-1.0, 1.0)).collect()
}

fn signed_weights(seed: u64, len: usize) -> Vec<f32> {
    let mut rng = SeededRng::new(seed);
    (0..len)
        .map(|_| {
            let m = rng.uniform(0.5, 1.5);
            if rng.uniform(0.0, 1.0) < 0.5 {
                -m
            } else {
                m
            }
        })
        .collect()
}

/// Pairwise distinct values 0.1 apart (plus a jitter below 0.02), shuffled.
fn distinct(seed: u64, len: usize) -> Vec<f32> {
    let mut rng = SeededRng::new(seed);
    rng.permutation(len)
        .into_iter()
        .map(|k| (k as f32 - len as f32 / 2.0) * 0.1 + rng.uniform(0.0, 0.02))
        .collect()
}

/// The failures (empty when every element of every input passes).
fn gradcheck(inputs: &[(Vec<f32>, Vec<usize>)], f: &OpFn) -> Result<Vec<String>> {
    let device = Device::cpu();
    let params = inputs
        .iter()
        .map(|(d, s)| Ok(device.tensor(d.clone(), s.clone())?.param()))
        .collect::<Result<Vec<_>>>()?;
    let y = f(&params)?;
    let shape = y.dims().to_vec();
    let weights = signed_weights(99, y.numel());
    let grads = y
        .mul(&device.tensor(weights.clone(), shape)?)?
        .sum()?
        .backward()?;
    let objective = |values: &[Vec<f32>]| -> Result<f64> {
        let consts = values
            .iter()
            .zip(inputs)
            .map(|(d, (_, s))| device.tensor(d.clone(), s.clone()))
            .collect::<Result<Vec<_>>>()?;
        Ok(f(&consts)?
            .to_vec()?
            .iter()
            .zip(&weights)
            .map(|(&v, &w)| v as f64 * w as f64)
            .sum())
    };
    let mut failures = Vec::new();
    for (which, param) in params.iter().enumerate() {
        let auto = grads.to_vec(param)?.expect("every input gets a gradient");
        for k in 0..auto.len() {
            let mut values: Vec<Vec<f32>> = inputs.iter().map(|(d, _)| d.clone()).collect();
            let x = values[which][k];
            let (up, down) = (x + H, x - H);
            values[which][k] = up;
            let f_up = objective(&values)?;
            values[which][k] = down;
            let f_down = objective(&values)?;
            let numeric = (f_up - f_down) / (up as f64 - down as f64);
            let diff = (auto[k] as f64 - numeric).abs();
            if diff > ATOL + RTOL * numeric.abs() {
                failures.push(format!(
                    "input {which}[{k}]: autodiff {} vs numeric {numeric}",
                    auto[k]
                ));
            }
        }
    }
    Ok(failures)
}

fn assert_passes(name: &str, inputs: &[(Vec<f32>, Vec<usize>)], f: &OpFn) -> Result<()> {
    let failures = gradcheck(inputs, f)?;
    assert!(
        failures.is_empty(),
        "{name}: {} failures: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    Ok(())
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
        let inputs = vec![
            (uniform(1, xs.iter().product()), xs.to_vec()),
            (uniform(2, ws.iter().product()), ws.to_vec()),
            (uniform(3, ws[0]), vec![ws[0]]),
        ];
        let f = move |t: &[Tensor]| t[0].conv2d(&t[1], Some(&t[2]), options);
        assert_passes(name, &inputs, &f)?;
    }
    Ok(())
}

#[test]
fn conv1d_gradients_match_finite_differences() -> Result<()> {
    let inputs = vec![
        (uniform(4, 2 * 2 * 7), vec![2, 2, 7]),
        (uniform(5, 3 * 2 * 3), vec![3, 2, 3]),
    ];
    let options = Conv1dOptions {
        stride: 2,
        padding: (1, 2),
        ..Default::default()
    };
    assert_passes("conv1d", &inputs, &move |t: &[Tensor]| {
        t[0].conv1d(&t[1], None, options)
    })
}

#[test]
fn pool_gradients_match_finite_differences() -> Result<()> {
    let shape = vec![2, 2, 5, 6];
    let n: usize = shape.iter().product();
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
        let inputs = vec![(distinct(6, n), shape.clone())];
        assert_passes(name, &inputs, &move |t: &[Tensor]| t[0].max_pool2d(options))?;
    }
    for (name, options) in [
        ("avg 2x2", Pool2dOptions::new((2, 2))),
        ("avg overlapping", overlapping),
    ] {
        let inputs = vec![(uniform(7, n), shape.clone())];
        assert_passes(name, &inputs, &move |t: &[Tensor]| t[0].avg_pool2d(options))?;
    }
    let inputs = vec![(uniform(8, n), shape.clone())];
    assert_passes("global_avg_pool", &inputs, &|t: &[Tensor]| {
        t[0].global_avg_pool()
    })
}

#[test]
fn a_wrong_gradient_fails() -> Result<()> {
    // The check must be able to fail: `y + detach(y)` is `2·conv(x, w)` to the numeric
    // side, while autodiff differentiates the first term only: every gradient is half.
    let inputs = vec![
        (uniform(9, 9), vec![1, 1, 3, 3]),
        (uniform(10, 4), vec![1, 1, 2, 2]),
    ];
    let f = |t: &[Tensor]| -> Result<Tensor> {
        let y = t[0].conv2d(&t[1], None, Conv2dOptions::default())?;
        y.add(&y.detach())
    };
    assert!(!gradcheck(&inputs, &f)?.is_empty());
    Ok(())
}
