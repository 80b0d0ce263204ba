//! CPU ↔ GPU parity of the region, indexing and selection ops, forward and backward, on
//! seeded random inputs of awkward sizes (1, primes, sizes around and past the workgroup
//! of 256, one large case) with NaN and ±inf among the values; the CPU results checked
//! against naive references written here; the dispatch count of each op on the GPU.
//!
//! Method (as tests/parity.rs): the same host data goes to both devices; the outputs are
//! compared, then `sum(y · R)` with fixed weights `R` is differentiated on both and the
//! gradients compared input by input.
//!
//! Tolerances: every forward here is a copy or a selection (pad, narrow, concat, stack,
//! index_select, gather, where, masked_fill), a position (argmax, argmin) or a comparison
//! (1.0/0.0): bit-identical, `EXACT`. The backward of the copies is a copy (the opposite
//! pad) or a selection, also `EXACT`; the scatter-add of index_select and gather adds in
//! f32 in the same order on both backends (each `(outer, inner)` column adds its rows in
//! index order, one GPU invocation per column, no atomics), so it is `EXACT` as well. The
//! one exception is `where` with a broadcast operand, whose gradient is summed down by
//! `sum_to` (an f32 tree on the GPU, f64 on the CPU): `summed(len, 1.5, EXACT)` from
//! tests/common/tolerance.rs, `(depth(len) + 1)·U·len·1.5`.

mod common;

use common::tolerance::*;
use downhill::prelude::*;
use downhill::random::SeededRng;
use downhill::{ArgReduceOp, ReduceDims};

/// One input of a case: host data, shape, and whether a gradient is taken.
#[derive(Clone)]
struct Input {
    data: Vec<f32>,
    shape: Vec<usize>,
    grad: bool,
}

/// Uniform values in [-2, 2) with NaN, +inf and −inf at a few seeded places when
/// `specials` (at least one of each where the tensor has three elements).
fn values(shape: &[usize], seed: u64, specials: bool) -> Input {
    let n: usize = shape.iter().product();
    let mut rng = SeededRng::new(seed);
    let mut data: Vec<f32> = (0..n).map(|_| rng.uniform(-2.0, 2.0)).collect();
    if specials && n >= 3 {
        for (k, v) in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY]
            .into_iter()
            .enumerate()
        {
            let at = (rng.uniform(0.0, 1.0) * n as f32) as usize % n;
            data[(at + k) % n] = v;
        }
    }
    Input {
        data,
        shape: shape.to_vec(),
        grad: true,
    }
}

/// `count` integer indices in `0..len` (repeats likely), as a constant input.
fn indices(shape: &[usize], len: usize, seed: u64) -> Input {
    let n: usize = shape.iter().product();
    let mut rng = SeededRng::new(seed);
    let data = (0..n)
        .map(|_| ((rng.uniform(0.0, 1.0) * len as f32) as usize).min(len - 1) as f32)
        .collect();
    constant(shape, data)
}

fn constant(shape: &[usize], data: Vec<f32>) -> Input {
    Input {
        data,
        shape: shape.to_vec(),
        grad: false,
    }
}

type OpFn = Box<dyn Fn(&[Tensor]) -> downhill::Result<Tensor>>;

struct Case {
    name: String,
    inputs: Vec<Input>,
    f: OpFn,
    /// The tolerance of each input's gradient (one for all when it holds one).
    bwd: Vec<Tol>,
}

fn case(
    name: impl Into<String>,
    inputs: Vec<Input>,
    f: impl Fn(&[Tensor]) -> downhill::Result<Tensor> + 'static,
) -> Case {
    Case {
        name: name.into(),
        inputs,
        f: Box::new(f),
        bwd: vec![EXACT],
    }
}

struct Outcome {
    y: Vec<f32>,
    grads: Vec<Option<Vec<f32>>>,
}

fn weights(n: usize) -> Vec<f32> {
    let mut rng = SeededRng::new(77);
    (0..n)
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

fn run(device: &Device, case: &Case) -> downhill::Result<Outcome> {
    let tensors = case
        .inputs
        .iter()
        .map(|i| {
            let t = device.tensor(i.data.clone(), i.shape.clone())?;
            Ok(if i.grad { t.param() } else { t })
        })
        .collect::<downhill::Result<Vec<_>>>()?;
    let y = (case.f)(&tensors)?;
    let mut grads = vec![None; tensors.len()];
    if y.requires_grad() {
        let r = device.tensor(weights(y.numel()), y.dims().to_vec())?;
        let g = y.mul(&r)?.sum()?.backward()?;
        for (slot, (t, i)) in grads.iter_mut().zip(tensors.iter().zip(&case.inputs)) {
            if i.grad {
                *slot = g.to_vec(t)?;
            }
        }
    }
    Ok(Outcome {
        y: y.to_vec()?,
        grads,
    })
}

fn run_cases(what: &str, cases: &[Case]) {
    let Some(gpu) = common::gpu() else { return };
    let cpu = common::cpu();
    let mut checks = Checks::default();
    for case in cases {
        let reference =
            run(&cpu, case).unwrap_or_else(|e| panic!("{}: the CPU failed: {e}", case.name));
        match run(&gpu, case) {
            Ok(out) => {
                checks.close(
                    &format!("{} forward", case.name),
                    &reference.y,
                    &out.y,
                    EXACT,
                );
                for (i, (c, g)) in reference.grads.iter().zip(&out.grads).enumerate() {
                    let tol = case.bwd[i.min(case.bwd.len() - 1)];
                    match (c, g) {
                        (Some(c), Some(g)) => {
                            checks.close(&format!("{} d/d input {i}", case.name), c, g, tol)
                        }
                        (None, None) => {}
                        _ => {
                            checks.fail(format!("{}: input {i}: a gradient on one side", case.name))
                        }
                    }
                }
            }
            Err(e) => checks.fail(format!("{}: the GPU failed: {e}", case.name)),
        }
    }
    checks.finish(what);
}

#[test]
fn narrow_pad_concat_and_stack_match() {
    let mut cases = Vec::new();
    for (shape, axis, start, len) in [
        (vec![1], 0, 0, 1),
        (vec![7, 13], 1, 3, 5),
        (vec![3, 5, 257], 2, 100, 150),
        (vec![4, 300, 3], 1, 0, 300),
        (vec![1000, 129], 0, 17, 900),
    ] {
        let name = format!("narrow {shape:?} axis {axis} {start}+{len}");
        cases.push(case(name, vec![values(&shape, 1, true)], move |t| {
            t[0].narrow(axis, start, len)
        }));
    }
    for (shape, padding, value) in [
        (vec![13], vec![(2, 3)], 0.5),
        (vec![1], vec![(0, 0)], 0.0),
        (vec![3, 5, 7], vec![(1, 0), (0, 2), (3, 3)], -1.0),
        (vec![2, 1, 1], vec![(0, 0), (1, 1)], f32::NAN),
        (vec![257, 301], vec![(1, 1), (2, 255)], f32::INFINITY),
    ] {
        let name = format!("pad {shape:?} by {padding:?} with {value}");
        cases.push(case(name, vec![values(&shape, 2, true)], move |t| {
            t[0].pad(&padding, value)
        }));
    }
    for (shapes, axis) in [
        (vec![vec![2, 3, 5], vec![2, 1, 5], vec![2, 7, 5]], 1),
        (vec![vec![1, 4], vec![3, 4]], 0),
        (vec![vec![3, 2], vec![3, 259]], 1),
        (vec![vec![11]], 0),
        ((1..=11).map(|k| vec![3, k]).collect(), 1),
    ] {
        let inputs: Vec<Input> = (0..shapes.len())
            .map(|k| values(&shapes[k], 10 + k as u64, true))
            .collect();
        let name = format!("concat of {} parts along {axis}", shapes.len());
        cases.push(case(name, inputs, move |t| {
            Tensor::concat(&t.iter().collect::<Vec<_>>(), axis)
        }));
    }
    cases.push(case(
        "concat of a tensor with itself",
        vec![values(&[5, 3], 20, true)],
        |t| Tensor::concat(&[&t[0], &t[0], &t[0]], 1),
    ));
    for axis in 0..=2 {
        let inputs = (0..3).map(|k| values(&[5, 7], 30 + k, true)).collect();
        cases.push(case(format!("stack of 3 along {axis}"), inputs, move |t| {
            Tensor::stack(&[&t[0], &t[1], &t[2]], axis)
        }));
    }
    run_cases("region ops", &cases);
}

#[test]
fn index_select_gather_and_embedding_match() {
    let mut cases = Vec::new();
    for (shape, axis, k) in [
        (vec![10, 7], 0, 5),
        (vec![1], 0, 1),
        (vec![4, 13, 5], 1, 17),
        (vec![3, 2, 263], 2, 301),
        (vec![1000, 64], 0, 5000),
    ] {
        let len = shape[axis];
        let name = format!("index_select {shape:?} axis {axis} with {k} indices");
        let inputs = vec![values(&shape, 40, true), indices(&[k], len, 41)];
        cases.push(case(name, inputs, move |t| t[0].index_select(axis, &t[1])));
    }
    // Invalid indices select NaN and receive no gradient (both backends).
    let bad = vec![-1.0, 2.5, f32::NAN, f32::INFINITY, 10.0, 3.0, -0.0];
    cases.push(case(
        "index_select with invalid indices",
        vec![values(&[10, 3], 42, false), constant(&[7], bad.clone())],
        |t| t[0].index_select(0, &t[1]),
    ));
    for (shape, axis, k) in [
        (vec![7, 11], 1, 4),
        (vec![7, 11], 0, 5),
        (vec![3, 9, 4], 1, 20),
        (vec![1, 1], 0, 1),
        (vec![2, 300, 3], 1, 257),
    ] {
        let mut index_shape = shape.clone();
        index_shape[axis] = k;
        let name = format!("gather {shape:?} axis {axis} index {index_shape:?}");
        let inputs = vec![
            values(&shape, 50, true),
            indices(&index_shape, shape[axis], 51),
        ];
        cases.push(case(name, inputs, move |t| t[0].gather(axis, &t[1])));
    }
    cases.push(case(
        "gather with invalid indices",
        vec![
            values(&[2, 4], 52, false),
            constant(&[2, 3], bad[..6].to_vec()),
        ],
        |t| t[0].gather(1, &t[1]),
    ));
    for (ids_shape, padding) in [
        (vec![6, 9], Some(0)),
        (vec![37], None),
        (vec![64, 31], Some(3)),
    ] {
        let name = format!("embedding ids {ids_shape:?} padding {padding:?}");
        let inputs = vec![values(&[50, 8], 60, true), indices(&ids_shape, 50, 61)];
        cases.push(case(name, inputs, move |t| {
            Tensor::embedding(&t[1], &t[0], padding)
        }));
    }
    run_cases("indexing ops", &cases);
}

/// Rows with ties, NaN and infinities for argmax/argmin.
fn arg_rows() -> Input {
    let (nan, inf) = (f32::NAN, f32::INFINITY);
    #[rustfmt::skip]
    let data = vec![
        1.0, 3.0, 3.0, -1.0, 0.0,
        nan, 5.0, nan, 1.0, 2.0,
        -inf, -inf, -inf, -inf, -inf,
        2.0, inf, 7.0, inf, nan,
        0.0, -0.0, 0.0, 1.0, 1.0,
        -2.0, -3.0, -3.0, 4.0, -inf,
    ];
    constant(&[6, 5], data)
}

#[test]
fn argmax_argmin_comparisons_and_where_match() {
    let mut cases = Vec::new();
    for axis in 0..2 {
        cases.push(case(
            format!("argmax axis {axis}"),
            vec![arg_rows()],
            move |t| t[0].argmax(axis, false),
        ));
        cases.push(case(
            format!("argmin axis {axis}"),
            vec![arg_rows()],
            move |t| t[0].argmin(axis, true),
        ));
    }
    let mut big = values(&[3, 1031, 7], 70, true);
    big.grad = false;
    cases.push(case("argmax [3, 1031, 7] axis 1", vec![big.clone()], |t| {
        t[0].argmax(1, false)
    }));
    cases.push(case("argmin [3, 1031, 7] axis 2", vec![big], |t| {
        t[0].argmin(2, false)
    }));
    // Every pair of special values, broadcast [7, 1] against [7].
    let special = vec![
        f32::NAN,
        f32::NEG_INFINITY,
        -1.0,
        -0.0,
        0.0,
        1.0,
        f32::INFINITY,
    ];
    type Compare = fn(&Tensor, &Tensor) -> downhill::Result<Tensor>;
    let compares: [(&str, Compare); 6] = [
        ("eq", Tensor::eq),
        ("ne", Tensor::ne),
        ("lt", Tensor::lt),
        ("le", Tensor::le),
        ("gt", Tensor::gt),
        ("ge", Tensor::ge),
    ];
    for (name, op) in compares {
        let inputs = vec![
            constant(&[7, 1], special.clone()),
            constant(&[7], special.clone()),
        ];
        cases.push(case(format!("{name} of special pairs"), inputs, move |t| {
            op(&t[0], &t[1])
        }));
        let inputs = vec![values(&[5, 263], 80, true), values(&[263], 81, true)];
        cases.push(case(
            format!("{name} of [5, 263] and [263]"),
            inputs,
            move |t| op(&t[0], &t[1]),
        ));
    }
    // where: the unselected branch holds NaN and ±inf, which must not leak.
    let cond = vec![1.0, 0.0, f32::NAN, -0.0, 2.0, 0.0, f32::INFINITY];
    cases.push(case(
        "where of [7] with non-finite branches",
        vec![
            constant(&[7], cond.clone()),
            values(&[7], 90, true),
            values(&[7], 91, true),
        ],
        |t| Tensor::where_(&t[0], &t[1], &t[2]),
    ));
    let mut broadcast = case(
        "where [7, 1] cond, [263] a, [7, 263] b",
        vec![
            constant(&[7, 1], cond),
            values(&[263], 92, true),
            values(&[7, 263], 93, true),
        ],
        |t| Tensor::where_(&t[0], &t[1], &t[2]),
    );
    broadcast.bwd = vec![EXACT, summed(7, 1.5, EXACT), EXACT];
    cases.push(broadcast);
    let mask: Vec<f32> = (0..263).map(|i| (i % 3 == 0) as u8 as f32).collect();
    cases.push(case(
        "masked_fill [5, 263] with a [263] mask",
        vec![values(&[5, 263], 94, true), constant(&[263], mask)],
        |t| t[0].masked_fill(&t[1], -7.5),
    ));
    run_cases("argmax, comparisons and where", &cases);
}

/// The CPU against naive references written here (PyTorch's semantics), so parity is not
/// agreement on a shared mistake.
#[test]
fn the_cpu_matches_naive_references() -> downhill::Result<()> {
    let cpu = common::cpu();
    let x: Vec<f32> = (0..24).map(|v| v as f32).collect();
    let t = cpu.tensor(x.clone(), [2, 3, 4])?;
    let at = |a: usize, b: usize, c: usize| x[(a * 3 + b) * 4 + c];
    // narrow(2, 1, 2): x[:, :, 1:3]
    let want: Vec<f32> = (0..2)
        .flat_map(|a| (0..3).flat_map(move |b| (1..3).map(move |c| (a, b, c))))
        .map(|(a, b, c)| at(a, b, c))
        .collect();
    assert_eq!(t.narrow(2, 1, 2)?.to_vec()?, want);
    // pad [(0, 0), (1, 0), (0, 1)] with 9: F.pad(x, (0, 1, 1, 0), value=9)
    let mut want = Vec::new();
    for a in 0..2 {
        for b in 0..4 {
            for c in 0..5 {
                want.push(if b == 0 || c == 4 {
                    9.0
                } else {
                    at(a, b - 1, c)
                });
            }
        }
    }
    let padded = t.pad(&[(0, 0), (1, 0), (0, 1)], 9.0)?;
    assert_eq!(padded.dims(), [2, 4, 5]);
    assert_eq!(padded.to_vec()?, want);
    // cat([x, x[:, :1]], dim=1)
    let first = t.narrow(1, 0, 1)?;
    let mut want = Vec::new();
    for a in 0..2 {
        for b in 0..4 {
            for c in 0..4 {
                want.push(at(a, if b < 3 { b } else { 0 }, c));
            }
        }
    }
    assert_eq!(Tensor::concat(&[&t, &first], 1)?.to_vec()?, want);
    // stack([x, x], dim=3)[a, b, c, s] = x[a, b, c]
    let stacked = Tensor::stack(&[&t, &t], 3)?;
    assert_eq!(stacked.dims(), [2, 3, 4, 2]);
    let want: Vec<f32> = x.iter().flat_map(|&v| [v, v]).collect();
    assert_eq!(stacked.to_vec()?, want);
    // index_select(1, [2, 0, 2])
    let idx = cpu.tensor(vec![2.0, 0.0, 2.0], [3])?;
    let mut want = Vec::new();
    for a in 0..2 {
        for &b in &[2, 0, 2] {
            for c in 0..4 {
                want.push(at(a, b, c));
            }
        }
    }
    assert_eq!(t.index_select(1, &idx)?.to_vec()?, want);
    // gather(2, index)[a, b, k] = x[a, b, index[a, b, k]]
    let index: Vec<f32> = (0..12).map(|v| ((v * 7) % 4) as f32).collect();
    let index_t = cpu.tensor(index.clone(), [2, 3, 2])?;
    let want: Vec<f32> = (0..12)
        .map(|p| at(p / 6, (p / 2) % 3, index[p] as usize))
        .collect();
    assert_eq!(t.gather(2, &index_t)?.to_vec()?, want);
    // argmax / argmin rows of arg_rows() (first occurrence, NaN wins)
    let rows = arg_rows();
    let r = cpu.tensor(rows.data, [6, 5])?;
    assert_eq!(
        r.argmax(1, false)?.to_vec()?,
        vec![1.0, 0.0, 0.0, 4.0, 3.0, 3.0]
    );
    assert_eq!(
        r.argmin(1, false)?.to_vec()?,
        vec![3.0, 0.0, 0.0, 4.0, 0.0, 4.0]
    );
    // comparisons: IEEE
    let special = [f32::NAN, -1.0, 0.0, -0.0, f32::INFINITY];
    let (a, b) = (
        cpu.tensor(special.to_vec(), [5, 1])?,
        cpu.tensor(special.to_vec(), [5])?,
    );
    type Pair = (
        fn(&Tensor, &Tensor) -> downhill::Result<Tensor>,
        fn(f32, f32) -> bool,
    );
    let ops: [Pair; 6] = [
        (Tensor::eq, |p, q| p == q),
        (Tensor::ne, |p, q| p != q),
        (Tensor::lt, |p, q| p < q),
        (Tensor::le, |p, q| p <= q),
        (Tensor::gt, |p, q| p > q),
        (Tensor::ge, |p, q| p >= q),
    ];
    for (op, reference) in ops {
        let want: Vec<f32> = special
            .iter()
            .flat_map(|&p| special.iter().map(move |&q| reference(p, q) as u8 as f32))
            .collect();
        assert_eq!(op(&a, &b)?.to_vec()?, want);
    }
    // where: no leak from the unselected branch
    let cond = cpu.tensor(vec![1.0, 0.0, f32::NAN, -0.0], [4])?;
    let on = cpu.tensor(vec![1.0, f32::NAN, 3.0, f32::INFINITY], [4])?;
    let off = cpu.tensor(vec![f32::NEG_INFINITY, 20.0, f32::NAN, 40.0], [4])?;
    assert_eq!(
        Tensor::where_(&cond, &on, &off)?.to_vec()?,
        vec![1.0, 20.0, 3.0, 40.0]
    );
    Ok(())
}

/// Each op is a bounded number of kernel dispatches on the GPU, and its results are the
/// same bits on every run (the scatter-add is deterministic).
#[test]
fn each_op_is_a_bounded_number_of_dispatches() -> downhill::Result<()> {
    let Some(gpu) = common::private_gpu() else {
        return Ok(());
    };
    let count = |f: &dyn Fn() -> downhill::Result<Tensor>| -> downhill::Result<u64> {
        let before = gpu.stats();
        let y = f()?;
        let dispatches = gpu.stats().since(&before).dispatches;
        drop(y);
        Ok(dispatches)
    };
    let x = gpu.tensor(values(&[6, 10, 5], 100, false).data, [6, 10, 5])?;
    let parts: Vec<Tensor> = (0..5)
        .map(|k| gpu.tensor(values(&[6, k + 1, 5], k as u64, false).data, [6, k + 1, 5]))
        .collect::<downhill::Result<_>>()?;
    let refs: Vec<&Tensor> = parts.iter().collect();
    let ids = gpu.tensor(indices(&[40], 10, 5).data, [40])?;
    assert_eq!(count(&|| x.narrow(1, 2, 5))?, 1, "narrow");
    assert_eq!(
        count(&|| x.pad(&[(1, 1), (2, 0), (0, 3)], 0.5))?,
        1,
        "pad of three axes"
    );
    assert_eq!(count(&|| Tensor::concat(&refs, 1))?, 5, "concat of 5 parts");
    assert_eq!(count(&|| x.index_select(1, &ids))?, 1, "index_select");
    assert_eq!(count(&|| x.argmax(1, false))?, 1, "argmax");
    assert_eq!(count(&|| x.gt(&parts[0]))?, 1, "gt");
    assert_eq!(count(&|| Tensor::where_(&x, &x, &x))?, 1, "where");
    // Backward: index_select's is one dispatch (plus a buffer clear, not a kernel).
    let dims = ReduceDims {
        outer: 6,
        len: 10,
        inner: 5,
    };
    let dy = gpu.tensor(values(&[6, 40, 5], 101, false).data, [6, 40, 5])?;
    let be = gpu.backend();
    let before = gpu.stats();
    let first = be.index_select_backward(&dy.storage(), dims, &ids.storage(), None)?;
    assert_eq!(
        gpu.stats().since(&before).dispatches,
        1,
        "index_select backward"
    );
    let again = be.index_select_backward(&dy.storage(), dims, &ids.storage(), None)?;
    let (a, b) = (be.download(&first)?, be.download(&again)?);
    assert!(
        a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()),
        "the scatter-add is not bit-identical run to run"
    );
    let before = gpu.stats();
    be.arg_reduce(ArgReduceOp::Min, &x.storage(), dims)?;
    assert_eq!(gpu.stats().since(&before).dispatches, 1, "argmin");
    // A whole training step of concat's backward: one crop per part that needs a gradient.
    let leaves: Vec<Tensor> = parts.iter().map(Tensor::param).collect();
    let joined = Tensor::concat(&leaves.iter().collect::<Vec<_>>(), 1)?;
    let loss = joined.sum()?;
    let before = gpu.stats();
    let grads = loss.backward()?;
    let backward = gpu.stats().since(&before).dispatches;
    // backward's seed gradient (a fill of 1), sum's backward (an expand), 5 crops.
    assert!(backward <= 7, "concat backward took {backward} dispatches");
    assert_eq!(grads.len(), 5);
    Ok(())
}

/// `pad` with signed amounts (negative ones crop, as `F.pad`), called on the backend
/// directly with random shapes and amounts, against a naive reference on both devices:
/// output coordinate `c` reads input `c − before` when inside, else the value.
#[test]
fn signed_pads_match_a_naive_reference_on_both_devices() -> downhill::Result<()> {
    let mut devices = vec![common::cpu()];
    devices.extend(common::gpu());
    let mut rng = SeededRng::new(123);
    let mut draw = |lo: i64, hi: i64| lo + (rng.uniform(0.0, 1.0) * (hi - lo + 1) as f32) as i64;
    let mut checked = 0;
    for _ in 0..200 {
        let rank = draw(1, 3) as usize;
        let dims: Vec<usize> = (0..rank).map(|_| draw(0, 4) as usize).collect();
        let padding: Vec<(i64, i64)> = dims
            .iter()
            .map(|&d| loop {
                let (b, a) = (draw(-3, 3), draw(-3, 3));
                if d as i64 + b + a >= 0 {
                    break (b, a);
                }
            })
            .collect();
        let out: Vec<usize> = dims
            .iter()
            .zip(&padding)
            .map(|(&d, &(b, a))| (d as i64 + b + a) as usize)
            .collect();
        let n: usize = dims.iter().product();
        let x: Vec<f32> = (0..n).map(|v| v as f32 + 1.0).collect();
        // The reference: every output coordinate, row-major.
        let mut want = Vec::new();
        let total: usize = out.iter().product();
        for p in 0..total {
            let mut rest = p;
            let mut coord = vec![0i64; rank];
            for d in (0..rank).rev() {
                coord[d] = (rest % out[d]) as i64;
                rest /= out[d];
            }
            let source: Vec<i64> = coord
                .iter()
                .zip(&padding)
                .map(|(&c, &(b, _))| c - b)
                .collect();
            let inside = source
                .iter()
                .zip(&dims)
                .all(|(&s, &d)| (0..d as i64).contains(&s));
            want.push(if inside {
                let flat = source
                    .iter()
                    .zip(&dims)
                    .fold(0usize, |acc, (&s, &d)| acc * d + s as usize);
                x[flat]
            } else {
                -9.0
            });
        }
        for d in &devices {
            let be = d.backend();
            let got = be.pad(
                &be.upload(&x)?,
                &downhill::Shape::new(dims.clone()),
                &padding,
                -9.0,
            )?;
            assert_eq!(
                be.download(&got)?,
                want,
                "{}: {dims:?} padded by {padding:?}",
                d.name()
            );
            checked += 1;
        }
    }
    eprintln!("{checked} signed pads checked");
    Ok(())
}
