//! Property test of the promise "bad input is a typed error, never a panic": random
//! programs over the public API, with shapes from empty to near `usize::MAX`, values
//! including NaN, ±inf and 3e38, and hyperparameters in and out of range, on both
//! backends. Every call must return `Ok` or an `Error`; a panic anywhere fails the case.
//! Bounded for CI: 256 cases of up to 8 calls on the CPU, 40 on the GPU. Direct calls of
//! the `Backend` trait are `fuzz_backend.rs`.

mod common;

use common::fuzz::{self, value, Tally};
use downhill::prelude::*;
use downhill::GradClip;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// A dimension: mostly small and awkward, sometimes zero, sometimes far too large for any
/// machine (never a size in between that would merely be slow to allocate).
fn dim() -> impl Strategy<Value = usize> {
    prop_oneof![
        6 => 1usize..8,
        2 => Just(0usize),
        1 => prop::sample::select(vec![13usize, 17, 31]),
        2 => prop::sample::select(vec![1usize << 40, 1 << 62, usize::MAX / 2, usize::MAX]),
    ]
}

fn shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(dim(), 0..4)
}

#[derive(Clone, Debug)]
enum Call {
    Full(Vec<usize>, f32),
    FromVec(Vec<f32>, Vec<usize>),
    Reshape(usize, Vec<usize>),
    BroadcastTo(usize, Vec<usize>),
    Unary(usize, u8, f32, f32),
    Binary(usize, usize, u8),
    Matmul(usize, usize, bool, bool),
    Linear(usize, usize, Option<usize>, u8),
    Reduce(usize, u8, usize, bool),
    Permute(usize, Vec<usize>),
    Loss(usize, usize, u8),
    Backward(usize),
    Train(usize, u8, f32, f32, f32, Option<f32>),
    Slice(usize, usize, usize),
    Item(usize),
}

fn call() -> impl Strategy<Value = Call> {
    let ix = || 0usize..8;
    prop_oneof![
        (shape(), value()).prop_map(|(s, v)| Call::Full(s, v)),
        (prop::collection::vec(value(), 0..40), shape()).prop_map(|(d, s)| Call::FromVec(d, s)),
        (ix(), shape()).prop_map(|(i, s)| Call::Reshape(i, s)),
        (ix(), shape()).prop_map(|(i, s)| Call::BroadcastTo(i, s)),
        (ix(), 0u8..20, value(), value()).prop_map(|(i, op, a, b)| Call::Unary(i, op, a, b)),
        (ix(), ix(), 0u8..5).prop_map(|(a, b, op)| Call::Binary(a, b, op)),
        (ix(), ix(), any::<bool>(), any::<bool>())
            .prop_map(|(a, b, ta, tb)| Call::Matmul(a, b, ta, tb)),
        (ix(), ix(), prop::option::of(ix()), 0u8..6)
            .prop_map(|(a, b, c, act)| Call::Linear(a, b, c, act)),
        (ix(), 0u8..5, 0usize..4, any::<bool>())
            .prop_map(|(i, op, ax, k)| Call::Reduce(i, op, ax, k)),
        (ix(), prop::collection::vec(0usize..4, 0..4)).prop_map(|(i, p)| Call::Permute(i, p)),
        (ix(), ix(), 0u8..4).prop_map(|(a, b, k)| Call::Loss(a, b, k)),
        ix().prop_map(Call::Backward),
        (
            ix(),
            0u8..8,
            value(),
            value(),
            value(),
            prop::option::of(value())
        )
            .prop_map(|(i, o, lr, a, b, clip)| Call::Train(i, o, lr, a, b, clip)),
        (ix(), 0usize..64, prop_oneof![0usize..64, Just(usize::MAX)])
            .prop_map(|(i, o, l)| Call::Slice(i, o, l)),
        ix().prop_map(Call::Item),
    ]
}

/// Runs one call against the pool of tensors made so far; new tensors join the pool.
fn run(device: &Device, pool: &mut Vec<Tensor>, call: &Call) -> downhill::Result<()> {
    let pick = |i: usize| pool.get(i % pool.len().max(1)).cloned();
    let made = match call.clone() {
        Call::Full(s, v) => Some(Tensor::full(device, s, v)?),
        Call::FromVec(d, s) => Some(device.tensor(d, s)?),
        Call::Reshape(i, s) => pick(i).map(|t| t.reshape(s)).transpose()?,
        Call::BroadcastTo(i, s) => pick(i).map(|t| t.broadcast_to(s)).transpose()?,
        Call::Unary(i, op, a, b) => match pick(i) {
            None => None,
            Some(t) => Some(match op {
                0 => t.neg()?,
                1 => t.square()?,
                2 => t.sqrt()?,
                3 => t.exp()?,
                4 => t.log()?,
                5 => t.powf(a)?,
                6 => t.add_scalar(a)?,
                7 => t.mul_scalar(a)?,
                8 => t.div_scalar(a)?,
                9 => t.rsub_scalar(a)?,
                10 => t.rdiv_scalar(a)?,
                11 => t.relu()?,
                12 => t.leaky_relu(a)?,
                13 => t.sigmoid()?,
                14 => t.tanh()?,
                15 => t.gelu()?,
                16 => t.clamp(a, b)?,
                17 => t.softmax()?,
                18 => t.log_softmax()?,
                _ => t.param(),
            }),
        },
        Call::Binary(a, b, op) => match (pick(a), pick(b)) {
            (Some(x), Some(y)) => Some(match op {
                0 => x.add(&y)?,
                1 => x.sub(&y)?,
                2 => x.mul(&y)?,
                3 => x.div(&y)?,
                _ => x.pow(&y)?,
            }),
            _ => None,
        },
        Call::Matmul(a, b, ta, tb) => match (pick(a), pick(b)) {
            (Some(x), Some(y)) => Some(x.matmul_t(&y, ta, tb)?),
            _ => None,
        },
        Call::Linear(a, w, bias, act) => match (pick(a), pick(w)) {
            (Some(x), Some(w)) => {
                let bias = bias.and_then(pick);
                let act = [
                    None,
                    Some(downhill::UnaryOp::Relu),
                    Some(downhill::UnaryOp::Sigmoid),
                    Some(downhill::UnaryOp::Tanh),
                    Some(downhill::UnaryOp::LeakyRelu(0.1)),
                    Some(downhill::UnaryOp::Exp),
                ][act as usize];
                Some(x.linear(&w, bias.as_ref(), act)?)
            }
            _ => None,
        },
        Call::Reduce(i, op, axis, keep) => match pick(i) {
            None => None,
            Some(t) => Some(match op {
                0 => t.sum()?,
                1 => t.mean()?,
                2 => t.sum_axis(axis, keep)?,
                3 => t.mean_axis(axis, keep)?,
                _ => t.max_axis(axis, keep)?,
            }),
        },
        Call::Permute(i, p) => pick(i).map(|t| t.permute(&p)).transpose()?,
        Call::Loss(a, b, kind) => match (pick(a), pick(b)) {
            (Some(p), Some(t)) => Some(match kind {
                0 => p.mse(&t)?,
                1 => p.binary_cross_entropy(&t)?,
                2 => p.binary_cross_entropy_with_logits(&t)?,
                _ => p.cross_entropy(&t)?,
            }),
            _ => None,
        },
        Call::Backward(i) => {
            if let Some(t) = pick(i) {
                t.backward()?;
            }
            None
        }
        Call::Train(i, kind, lr, a, b, clip) => {
            let Some(t) = pick(i) else { return Ok(()) };
            let p = t.detach().param();
            let config: Box<dyn OptimizerConfig> = match kind {
                0 => Box::new(Sgd::new(lr).momentum(a).dampening(b)),
                1 => Box::new(Adam::new(lr).betas(a, b).amsgrad(true)),
                2 => Box::new(AdamW::new(lr).weight_decay(a)),
                3 => Box::new(RmsProp::new(lr).alpha(a).eps(b).centered(true)),
                4 => Box::new(Adagrad::new(lr).lr_decay(a)),
                5 => Box::new(Adadelta::new(lr).rho(a)),
                6 => Box::new(Adamax::new(lr).betas(a, b)),
                _ => Box::new(NAdam::new(lr).momentum_decay(a)),
            };
            let mut opt = Optimizer::new(config, &[&p])?;
            if let Some(c) = clip {
                let clip = if c >= 0.0 {
                    GradClip::Norm(c)
                } else {
                    GradClip::Value(-c)
                };
                opt = opt.with_clip(clip)?;
            }
            for _ in 0..2 {
                let loss = p.square()?.sum()?;
                opt.step(&loss.backward()?)?;
            }
            Some(p)
        }
        Call::Slice(i, offset, len) => {
            if let Some(t) = pick(i) {
                let view = t.storage().slice(offset, len)?;
                device.backend().download(&view)?;
            }
            None
        }
        Call::Item(i) => {
            if let Some(t) = pick(i) {
                t.item()?;
                t.to_vec()?;
            }
            None
        }
    };
    pool.extend(made);
    Ok(())
}

/// Runs a program; fails with the panic message if any call panicked.
fn survives(device: &Device, calls: &[Call], tally: &mut Tally) -> Result<(), TestCaseError> {
    let mut pool = Vec::new();
    for call in calls {
        tally.run(call, || run(device, &mut pool, call))?;
    }
    Ok(())
}

fn fuzz(device: &Device, cases: u32) {
    let cases = fuzz::cases(cases);
    let strategy = prop::collection::vec(call(), 1..9);
    let Tally { ok, err } = fuzz::run_cases(&device.name(), cases, &strategy, |calls, t| {
        survives(device, &calls, t)
    });
    // Most calls succeed (about 4 per case) and some are refused (about 1 in 4 cases);
    // far fewer of either would mean the generator no longer reaches the code it tests.
    assert!(ok >= cases as usize, "only {ok} calls succeeded");
    assert!(err >= cases as usize / 8, "only {err} calls were refused");
}

#[test]
fn no_program_panics_on_the_cpu() {
    fuzz(&common::cpu(), 256);
}

#[test]
fn no_program_panics_on_the_gpu() {
    if let Some(gpu) = common::gpu() {
        fuzz(&gpu, 40);
    }
}
