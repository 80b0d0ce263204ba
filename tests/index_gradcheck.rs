//! Central finite-difference gradient checks of the region and indexing ops (narrow, pad,
//! concat, stack, flatten/unsqueeze/squeeze, index_select, embedding with padding_idx,
//! gather, where, masked_fill) on the CPU device.
//!
//! Method (as tests/gradcheck.rs): the checked objective is `F = sum(y · R)` with fixed
//! random weights `R` (magnitudes in [0.5, 1.5], random signs); autodiff's `dF/dx` is
//! compared element by element with `(F(x + h) − F(x − h)) / ((x + h) − (x − h))`, `F`
//! evaluated from host vectors in f64.
//!
//! Step and tolerance: every op here is piecewise linear in its differentiable inputs (a
//! copy, a selection or a sum of selected values), so `F''' = 0` and the central
//! difference has no truncation error; what remains is rounding, `eps_f32·|F|/h` with only
//! the perturbed element's terms differing (about 1.2e-5 · 1.5 · (number of copies of the
//! element, at most 4 here) ≈ 1e-4). We accept `|auto − numeric| <= 1e-3 + 1e-2·|numeric|`
//! as tests/gradcheck.rs does, which a gradient off by 5% fails
//! (`checker_detects_a_wrong_gradient`). Index tensors are constants captured by the case;
//! `where`'s condition is a constant too. Values are kept 3h from each other only where a
//! selection depends on them (none of these ops select by value).

use downhill::prelude::*;
use downhill::random::SeededRng;

const H: f32 = 1e-2;
const ATOL: f64 = 1e-3;
const RTOL: f64 = 1e-2;

type OpFn = Box<dyn Fn(&[Tensor]) -> downhill::Result<Tensor>>;

struct Case {
    name: String,
    inputs: Vec<(Vec<f32>, Vec<usize>)>,
    f: OpFn,
}

fn uniform(rng: &mut SeededRng, shape: &[usize]) -> (Vec<f32>, Vec<usize>) {
    let n = shape.iter().product();
    let data = (0..n).map(|_| rng.uniform(-2.0, 2.0)).collect();
    (data, shape.to_vec())
}

fn case(
    name: &str,
    inputs: Vec<(Vec<f32>, Vec<usize>)>,
    f: impl Fn(&[Tensor]) -> downhill::Result<Tensor> + 'static,
) -> Case {
    Case {
        name: name.to_string(),
        inputs,
        f: Box::new(f),
    }
}

/// Failure messages of one case (empty when it passed).
fn gradcheck(device: &Device, case: &Case, seed: u64) -> downhill::Result<Vec<String>> {
    let params = case
        .inputs
        .iter()
        .map(|(d, s)| Ok(device.tensor(d.clone(), s.clone())?.param()))
        .collect::<downhill::Result<Vec<_>>>()?;
    let y = (case.f)(&params)?;
    let mut rng = SeededRng::new(seed);
    let weights: Vec<f32> = (0..y.numel())
        .map(|_| {
            let m = rng.uniform(0.5, 1.5);
            if rng.uniform(0.0, 1.0) < 0.5 {
                -m
            } else {
                m
            }
        })
        .collect();
    let r = device.tensor(weights.clone(), y.dims().to_vec())?;
    let grads = y.mul(&r)?.sum()?.backward()?;
    let objective = |inputs: &[(Vec<f32>, Vec<usize>)]| -> downhill::Result<f64> {
        let consts = inputs
            .iter()
            .map(|(d, s)| device.tensor(d.clone(), s.clone()))
            .collect::<downhill::Result<Vec<_>>>()?;
        let y = (case.f)(&consts)?;
        Ok(y.to_vec()?
            .iter()
            .zip(&weights)
            .map(|(&v, &w)| v as f64 * w as f64)
            .sum())
    };
    let mut failures = Vec::new();
    for (k, ((data, _), param)) in case.inputs.iter().zip(&params).enumerate() {
        let Some(grad) = grads.get(param) else {
            failures.push(format!("{}: input {k} got no gradient", case.name));
            continue;
        };
        let auto = grad.to_vec()?;
        let mut largest = 0.0f64;
        for (j, (&x, &a)) in data.iter().zip(&auto).enumerate() {
            let (xp, xm) = (x + H, x - H);
            let mut moved = case.inputs.clone();
            moved[k].0[j] = xp;
            let fp = objective(&moved)?;
            moved[k].0[j] = xm;
            let fm = objective(&moved)?;
            let numeric = (fp - fm) / (xp as f64 - xm as f64);
            largest = largest.max(numeric.abs());
            let tol = ATOL + RTOL * numeric.abs();
            if !a.is_finite() || (a as f64 - numeric).abs() > tol {
                failures.push(format!(
                    "{}: input {k} element {j}: autodiff {a} vs numeric {numeric:.6}",
                    case.name
                ));
            }
        }
        if largest < 1e-3 {
            failures.push(format!("{}: input {k} has an all-zero gradient", case.name));
        }
    }
    Ok(failures)
}

fn run(device: &Device, cases: Vec<Case>) {
    let mut failures = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        match gradcheck(device, c, 9_000 + i as u64) {
            Ok(f) => failures.extend(f),
            Err(e) => failures.push(format!("{}: error {e}", c.name)),
        }
    }
    eprintln!("{} cases checked", cases.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn region_ops() {
    let device = Device::cpu();
    let mut g = SeededRng::new(1);
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
    let mut g = SeededRng::new(2);
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
    let mut g = SeededRng::new(3);
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
    let mut g = SeededRng::new(4);
    // The forward scales by 1.05 only when not differentiated: the gradient is 5% off.
    let wrong = case(
        "narrow vs 1.05·narrow",
        vec![uniform(&mut g, &[3, 4])],
        |t| {
            let y = t[0].narrow(1, 1, 2)?;
            if t[0].requires_grad() {
                Ok(y)
            } else {
                y.mul_scalar(1.05)
            }
        },
    );
    assert!(!gradcheck(&device, &wrong, 1)?.is_empty());
    Ok(())
}
