//! Property test of "bad input is a typed error, never a panic" for the index ops
//! ([`IndexOps`](downhill::IndexOps)) called directly on both backends: sizes that do not
//! match the storages, products that overflow, paddings that cut more than an axis holds,
//! too many axes, views past their buffer or at unaligned offsets, and index values of
//! every kind (NaN, ±inf, negative, fractional, huge). Each call returns `Ok` or an
//! `Error`; on the GPU the recorded work must still submit cleanly.

mod common;

use common::fuzz::{self, value, Tally};
use downhill::prelude::*;
use downhill::{ArgReduceOp, ReduceDims, Shape, Storage};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// Mostly small sizes, sometimes zero or far too large.
fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        8 => 0usize..6,
        1 => Just(13usize),
        1 => prop::sample::select(vec![1usize << 40, usize::MAX / 2 + 1, usize::MAX]),
    ]
}

/// A storage argument: as long as the sizes say (when small), a given length, a view at
/// an offset (64 aligned on a GPU, 1 not), or one claiming more than its buffer holds.
#[derive(Clone, Copy, Debug)]
enum Arg {
    Fits,
    Len(usize),
    At(usize),
    Forged,
}

fn arg() -> impl Strategy<Value = Arg> {
    prop_oneof![
        8 => Just(Arg::Fits),
        2 => (0usize..30).prop_map(Arg::Len),
        1 => prop::sample::select(vec![1usize, 64]).prop_map(Arg::At),
        1 => Just(Arg::Forged),
    ]
}

#[derive(Clone, Debug)]
enum Call {
    Pad(Vec<usize>, Vec<(i64, i64)>, f32),
    Concat(usize, Vec<usize>, usize),
    IndexSelect(ReduceDims, usize, Option<usize>),
    Gather(ReduceDims, usize),
    ArgReduce(ReduceDims, bool),
    Where(Vec<usize>, Vec<usize>, Vec<usize>),
}

fn reduce_dims() -> impl Strategy<Value = ReduceDims> {
    (size(), size(), size()).prop_map(|(outer, len, inner)| ReduceDims { outer, len, inner })
}

/// Shapes of up to 4 axes (a consistent one stays small), or 9 axes of sizes 0 and 1 (past
/// the GPU's 8).
fn shape() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        6 => prop::collection::vec(size(), 0..5),
        1 => prop::collection::vec(0usize..2, 9),
    ]
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        (
            shape(),
            prop::collection::vec((-3i64..3, -3i64..3), 0..10),
            value()
        )
            .prop_map(|(s, p, v)| Call::Pad(s, p, v)),
        (size(), prop::collection::vec(size(), 0..4), size())
            .prop_map(|(o, l, i)| Call::Concat(o, l, i)),
        (reduce_dims(), size(), prop::option::of(0usize..6))
            .prop_map(|(d, k, s)| Call::IndexSelect(d, k, s)),
        (reduce_dims(), size()).prop_map(|(d, k)| Call::Gather(d, k)),
        (reduce_dims(), any::<bool>()).prop_map(|(d, max)| Call::ArgReduce(d, max)),
        (shape(), shape(), shape()).prop_map(|(c, a, b)| Call::Where(c, a, b)),
    ]
}

/// Index values: valid rows, and every kind of invalid one.
fn index_values() -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(
        prop_oneof![
            4 => (0u8..6).prop_map(f32::from),
            1 => prop::sample::select(vec![f32::NAN, f32::INFINITY, -1.0, 0.5, 5e9, -0.0]),
        ],
        1..5,
    )
}

/// A storage of `wanted` elements (3 when that is large), shaped by `arg`.
fn storage(be: &dyn downhill::Backend, wanted: usize, arg: Arg, fill: &[f32]) -> Storage {
    let small = if wanted <= 4096 { wanted } else { 3 };
    let make = |n: usize| {
        let data: Vec<f32> = (0..n).map(|i| fill[i % fill.len()]).collect();
        be.upload(&data).expect("a small upload")
    };
    match arg {
        Arg::Fits => make(small),
        Arg::Len(n) => make(n),
        Arg::At(offset) => make(small + offset).slice(offset, small).expect("inside"),
        Arg::Forged => Storage::new(make(small).buffer().clone(), small + 5),
    }
}

fn count(dims: &[usize]) -> usize {
    dims.iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .unwrap_or(usize::MAX)
}

fn run_call(
    device: &Device,
    call: &Call,
    args: &[Arg],
    fill: &[f32],
    tally: &mut Tally,
) -> Result<(), TestCaseError> {
    let be = device.backend();
    let s = |i: usize, wanted: usize| storage(be, wanted, args[i % args.len()], fill);
    tally.run(call, || -> downhill::Result<()> {
        match call {
            Call::Pad(dims, padding, value) => {
                let x = s(0, count(dims));
                be.pad(&x, &Shape::new(dims.clone()), padding, *value)?;
            }
            Call::Concat(outer, lens, inner) => {
                let parts: Vec<Storage> = lens
                    .iter()
                    .enumerate()
                    .map(|(k, &l)| s(k, count(&[*outer, l, *inner])))
                    .collect();
                be.concat(&parts.iter().collect::<Vec<_>>(), *outer, lens, *inner)?;
            }
            Call::IndexSelect(dims, k, skip) => {
                let x = s(0, count(&[dims.outer, dims.len, dims.inner]));
                let idx = s(1, *k);
                be.index_select(&x, *dims, &idx)?;
                let dy = s(2, count(&[dims.outer, *k, dims.inner]));
                be.index_select_backward(&dy, *dims, &idx, *skip)?;
            }
            Call::Gather(dims, k) => {
                let x = s(0, count(&[dims.outer, dims.len, dims.inner]));
                let idx = s(1, count(&[dims.outer, *k, dims.inner]));
                be.gather(&x, *dims, &idx, *k)?;
                be.gather_backward(&idx, *dims, &idx, *k)?;
            }
            Call::ArgReduce(dims, max) => {
                let x = s(0, count(&[dims.outer, dims.len, dims.inner]));
                let op = if *max {
                    ArgReduceOp::Max
                } else {
                    ArgReduceOp::Min
                };
                be.arg_reduce(op, &x, *dims)?;
            }
            Call::Where(c, a, b) => {
                let out = Shape::broadcast("fuzz", &Shape::new(c.clone()), &Shape::new(a.clone()))
                    .and_then(|ca| Shape::broadcast("fuzz", &ca, &Shape::new(b.clone())))
                    .unwrap_or_else(|_| Shape::new(c.clone()));
                let (sc, sa, sb) = (s(0, count(c)), s(1, count(a)), s(2, count(b)));
                let shapes = [c, a, b].map(|d| Shape::new(d.clone()));
                be.where_cond(&sc, &shapes[0], &sa, &shapes[1], &sb, &shapes[2], &out)?;
            }
        }
        Ok(())
    })?;
    // Nothing invalid may have been recorded: the pending work submits cleanly.
    be.flush()
        .map_err(|e| TestCaseError::fail(format!("{call:?}: the flush failed: {e}")))
}

#[test]
fn direct_index_op_calls_never_panic() {
    let mut devices = vec![common::cpu()];
    devices.extend(common::gpu());
    let strategy = (call(), prop::collection::vec(arg(), 1..4), index_values());
    for device in devices {
        let tally = fuzz::run_cases(
            &format!("index ops on {}", device.name()),
            fuzz::cases(300),
            &strategy,
            |(call, args, fill), tally| run_call(&device, &call, &args, &fill, tally),
        );
        assert!(
            tally.ok > 20 && tally.err > 20,
            "too few of one kind: {} ok, {} refused",
            tally.ok,
            tally.err
        );
    }
}
