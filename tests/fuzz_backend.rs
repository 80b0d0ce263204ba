//! Property test of the promise "bad input is a typed error, never a panic" for the
//! `Backend` trait called directly (`fuzz.rs` drives the Tensor API).

mod common;

use common::fuzz::{self, value, Tally};
use downhill::prelude::*;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

// -------------------------------------------------------------------------------------
// The `Backend` trait called directly
// -------------------------------------------------------------------------------------
//
// `Device::backend()` is public, so a user can call every backend method with sizes that
// do not match the storages, dims whose products overflow, perms that are not
// permutations, views past their buffer, aliased in-place arguments and storages of no
// backend at all. Each call must return `Ok` or an `Error`, never panic, and on the GPU
// nothing invalid may be recorded either: the pending work must still submit cleanly.
//
// Storages are always small (at most 4096 elements); only the size arguments lie, so a
// call whose sizes happen to agree with huge values asks for 4 TiB or more, which every
// machine refuses at once, never for an amount merely slow to allocate.

use downhill::{
    AccuracyKind, Backend, BinaryOp, LossKind, MatmulDims, MetricStats, ReduceDims, ReduceOp,
    Shape, Storage, UnaryOp, UpdateRule,
};
use std::sync::Arc;

/// A size argument: mostly small, sometimes zero, sometimes far too large (a product with
/// it overflows, or its allocation is refused by any machine).
fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        7 => 0usize..6,
        1 => prop::sample::select(vec![8usize, 13]),
        2 => prop::sample::select(vec![
            1usize << 40,
            (1 << 62) + 1,
            usize::MAX / 2 + 1,
            usize::MAX,
        ]),
    ]
}

/// Dimensions for shape arguments (up to rank 4, so a consistent shape stays small).
fn dims() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(size(), 0..5)
}

/// A shape derived from another: its last `keep` axes, each set to 1 where `ones` has
/// its bit set (so it broadcasts to the other), or an unrelated one.
#[derive(Clone, Debug)]
enum Related {
    Broadcastable { keep: usize, ones: u8 },
    Unrelated(Vec<usize>),
}

fn related() -> impl Strategy<Value = Related> {
    prop_oneof![
        3 => (0usize..5, any::<u8>()).prop_map(|(keep, ones)| Related::Broadcastable { keep, ones }),
        1 => dims().prop_map(Related::Unrelated),
    ]
}

impl Related {
    fn from(&self, base: &[usize]) -> Vec<usize> {
        match self {
            Related::Broadcastable { keep, ones } => {
                let tail = &base[base.len() - (*keep).min(base.len())..];
                tail.iter()
                    .enumerate()
                    .map(|(i, &d)| if ones >> (i % 8) & 1 == 1 { 1 } else { d })
                    .collect()
            }
            Related::Unrelated(d) => d.clone(),
        }
    }
}

/// How a storage argument is made.
#[derive(Clone, Copy, Debug)]
enum Arg {
    /// As long as the call's sizes say, where that is small (3 elements otherwise).
    Fits,
    /// This many elements, whatever the sizes say.
    Len(usize),
    /// A view at this element offset into a larger buffer (64 is aligned for a GPU, 1 not).
    At(usize),
    /// The previous storage argument of the call again (aliasing).
    Same,
    /// A view that claims this many elements more than its buffer holds.
    Forged(usize),
    /// A storage whose buffer belongs to no backend.
    Foreign,
}

fn arg() -> impl Strategy<Value = Arg> {
    prop_oneof![
        12 => Just(Arg::Fits),
        2 => (0usize..20).prop_map(Arg::Len),
        1 => prop::sample::select(vec![1usize, 64]).prop_map(Arg::At),
        1 => Just(Arg::Same),
        1 => prop::sample::select(vec![1usize, 1 << 40, usize::MAX / 2]).prop_map(Arg::Forged),
        1 => Just(Arg::Foreign),
    ]
}

fn args(n: usize) -> impl Strategy<Value = Vec<Arg>> {
    prop::collection::vec(arg(), n)
}

/// Values storages are filled with: ordinary numbers, class labels, and the awkward ones.
fn fill_values() -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(
        prop_oneof![
            4 => -3.0f32..3.0,
            2 => prop::sample::select(vec![0.0f32, 1.0, 2.0]),
            1 => prop::sample::select(vec![f32::NAN, f32::INFINITY, -1.0, 0.5, 1e30]),
        ],
        1..4,
    )
}

fn unary_op(code: u8, a: f32, b: f32) -> UnaryOp {
    [
        UnaryOp::Neg,
        UnaryOp::Square,
        UnaryOp::Sqrt,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Powf(a),
        UnaryOp::AddScalar(a),
        UnaryOp::MulScalar(a),
        UnaryOp::RsubScalar(a),
        UnaryOp::RdivScalar(a),
        UnaryOp::Relu,
        UnaryOp::LeakyRelu(a),
        UnaryOp::Sigmoid,
        UnaryOp::Tanh,
        UnaryOp::Gelu,
        UnaryOp::Clamp(a, b), // often an invalid range
    ][code as usize % 16]
}

/// Fusable activations, and a few that are not.
fn activation(code: u8) -> Option<UnaryOp> {
    [
        None,
        Some(UnaryOp::Relu),
        Some(UnaryOp::Sigmoid),
        Some(UnaryOp::Tanh),
        Some(UnaryOp::LeakyRelu(0.1)),
        Some(UnaryOp::LeakyRelu(-1.0)),
        Some(UnaryOp::Exp),
        Some(UnaryOp::Clamp(1.0, -1.0)),
    ][code as usize % 8]
}

fn loss_kind(code: u8, eps: f32) -> LossKind {
    match code % 4 {
        0 => LossKind::Mse,
        1 => LossKind::BceProbs { eps },
        2 => LossKind::BceLogits,
        _ => LossKind::SoftmaxCrossEntropy,
    }
}

/// Update rules of every family, with 0 to 3 state buffers.
fn update_rule(code: u8) -> Box<dyn UpdateRule> {
    use downhill::optim::{
        AdadeltaRule, AdagradRule, AdamRule, AdamaxRule, NAdamRule, RmsPropRule, SgdRule,
    };
    match code % 8 {
        0 => Box::new(SgdRule {
            flags: SgdRule::FIRST_STEP,
            lr: 0.1,
            ..Default::default()
        }),
        1 => Box::new(SgdRule {
            flags: SgdRule::NESTEROV | SgdRule::MAXIMIZE | SgdRule::HAS_MOMENTUM,
            lr: 0.1,
            momentum: 0.9,
            ..Default::default()
        }),
        2 => Box::new(AdagradRule {
            clr: 0.1,
            eps: 1e-10,
            ..Default::default()
        }),
        3 => Box::new(RmsPropRule {
            flags: RmsPropRule::CENTERED | RmsPropRule::HAS_MOMENTUM,
            lr: 0.01,
            alpha: 0.99,
            eps: 1e-8,
            momentum: 0.9,
            ..Default::default()
        }),
        4 => Box::new(AdamRule {
            flags: AdamRule::AMSGRAD,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            decay_factor: 1.0,
            step_size: 1e-3,
            bias_correction2_sqrt: 0.03,
            ..Default::default()
        }),
        5 => Box::new(AdamaxRule {
            clr: 0.002,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            ..Default::default()
        }),
        6 => Box::new(NAdamRule {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            decay_factor: 1.0,
            bias_correction2: 0.001,
            grad_coef: 0.001,
            avg_coef: 0.001,
            ..Default::default()
        }),
        _ => Box::new(AdadeltaRule {
            lr: 1.0,
            rho: 0.9,
            eps: 1e-6,
            ..Default::default()
        }),
    }
}

#[derive(Clone, Debug)]
enum Direct {
    Upload(usize),
    UploadIndices(Vec<u32>),
    Download(Arg),
    Full(usize, f32),
    Fill(Arg, f32),
    Copy(Vec<Arg>),
    Accumulate(Vec<Arg>, f32),
    Linear(Vec<Arg>, bool, [usize; 3], [bool; 2], u8),
    EpilogueBackward(u8, Vec<Arg>, usize, usize),
    Matmul(Vec<Arg>, [usize; 3], [bool; 2]),
    Unary(u8, f32, f32, Arg),
    UnaryBackward(u8, f32, f32, Vec<Arg>),
    /// op, args, out dims, a and b relative to out, whether out is given as is (else
    /// unrelated dims)
    Binary(
        u8,
        Vec<Arg>,
        Vec<usize>,
        Related,
        Related,
        Option<Vec<usize>>,
    ),
    SumTo(Arg, Vec<usize>, Related),
    Expand(Arg, Vec<usize>, Related),
    Reduce(u8, Arg, [usize; 3]),
    MaxBackward(Vec<Arg>, [usize; 3]),
    /// a true permutation (shuffled by the seed) or raw axes
    Permute(Arg, Vec<usize>, Result<u64, Vec<usize>>),
    Softmax(Arg, usize, usize, bool),
    SoftmaxBackward(Vec<Arg>, usize, usize, bool),
    Loss(u8, f32, Vec<Arg>, usize, usize),
    LossBackward(u8, f32, Vec<Arg>, usize, usize),
    AccumulateCorrect(bool, f32, Vec<Arg>, usize, usize),
    /// statistic (0 categorical confusion, 1 binary, 2 top-k, 3 errors), threshold, k
    AccumulateStats(u8, f32, u32, Vec<Arg>, usize, usize),
    TrackStep(Vec<Arg>, f32, usize, u32),
    GatherRows(Arg, usize, usize, Vec<u32>, usize, usize),
    /// rule, args, length, state buffers more (or fewer) than the rule needs
    OptimizerStep(u8, Vec<Arg>, usize, i8),
    ClipGradients(Arg, bool, f32),
    Flush,
}

fn direct() -> impl Strategy<Value = Direct> {
    let mnk = || [size(), size(), size()];
    let flags = || [any::<bool>(), any::<bool>()];
    let small = || prop_oneof![3 => 0usize..6, 1 => Just(8usize)];
    prop_oneof![
        size().prop_map(Direct::Upload),
        prop::collection::vec(0u32..12, 0..12).prop_map(Direct::UploadIndices),
        arg().prop_map(Direct::Download),
        (size(), value()).prop_map(|(n, v)| Direct::Full(n, v)),
        (arg(), value()).prop_map(|(a, v)| Direct::Fill(a, v)),
        args(2).prop_map(Direct::Copy),
        (args(2), value()).prop_map(|(a, v)| Direct::Accumulate(a, v)),
        (args(3), any::<bool>(), mnk(), flags(), any::<u8>())
            .prop_map(|(a, bias, d, t, act)| Direct::Linear(a, bias, d, t, act)),
        (any::<u8>(), args(2), size(), size())
            .prop_map(|(act, a, r, c)| Direct::EpilogueBackward(act, a, r, c)),
        (args(2), mnk(), flags()).prop_map(|(a, d, t)| Direct::Matmul(a, d, t)),
        (any::<u8>(), value(), value(), arg()).prop_map(|(o, a, b, x)| Direct::Unary(o, a, b, x)),
        (any::<u8>(), value(), value(), args(3))
            .prop_map(|(o, a, b, x)| Direct::UnaryBackward(o, a, b, x)),
        (
            0u8..7,
            args(2),
            dims(),
            related(),
            related(),
            prop::option::weighted(0.2, dims())
        )
            .prop_map(|(o, a, out, ra, rb, other)| Direct::Binary(o, a, out, ra, rb, other)),
        (arg(), dims(), related()).prop_map(|(a, from, to)| Direct::SumTo(a, from, to)),
        (arg(), dims(), related()).prop_map(|(a, to, from)| Direct::Expand(a, to, from)),
        (0u8..3, arg(), mnk()).prop_map(|(o, a, d)| Direct::Reduce(o, a, d)),
        (args(3), mnk()).prop_map(|(a, d)| Direct::MaxBackward(a, d)),
        (
            arg(),
            dims(),
            prop_oneof![
                3 => any::<u64>().prop_map(Ok),
                1 => prop::collection::vec(0usize..6, 0..6).prop_map(Err),
            ]
        )
            .prop_map(|(a, s, p)| Direct::Permute(a, s, p)),
        (arg(), size(), size(), any::<bool>()).prop_map(|(a, r, c, l)| Direct::Softmax(a, r, c, l)),
        (args(2), size(), size(), any::<bool>())
            .prop_map(|(a, r, c, l)| Direct::SoftmaxBackward(a, r, c, l)),
        (any::<u8>(), value(), args(2), size(), size())
            .prop_map(|(k, e, a, r, c)| Direct::Loss(k, e, a, r, c)),
        (any::<u8>(), value(), args(3), size(), size())
            .prop_map(|(k, e, a, r, c)| Direct::LossBackward(k, e, a, r, c)),
        (any::<bool>(), value(), args(3), size(), size())
            .prop_map(|(k, t, a, r, c)| Direct::AccumulateCorrect(k, t, a, r, c)),
        (0u8..4, value(), 0u32..6, args(3), size(), size())
            .prop_map(|(s, t, k, a, r, c)| Direct::AccumulateStats(s, t, k, a, r, c)),
        (args(3), value(), size(), any::<u32>())
            .prop_map(|(a, s, n, step)| Direct::TrackStep(a, s, n, step)),
        (
            arg(),
            small(),
            size(),
            prop::collection::vec(prop_oneof![4 => 0u32..6, 1 => Just(u32::MAX)], 0..10),
            size(),
            size()
        )
            .prop_map(|(a, rows, cols, idx, s, c)| Direct::GatherRows(a, rows, cols, idx, s, c)),
        (
            any::<u8>(),
            args(5),
            prop_oneof![3 => Just(8usize), 1 => size()],
            prop_oneof![4 => Just(0i8), 1 => Just(-1i8), 1 => Just(1i8)]
        )
            .prop_map(|(r, a, n, extra)| Direct::OptimizerStep(r, a, n, extra)),
        (arg(), any::<bool>(), value()).prop_map(|(a, norm, v)| Direct::ClipGradients(a, norm, v)),
        Just(Direct::Flush),
    ]
}

/// Makes the storages of a direct call on one backend.
struct Maker<'a> {
    backend: &'a dyn Backend,
    values: &'a [f32],
    previous: Option<Storage>,
}

impl Maker<'_> {
    /// A storage for `arg`, whose call's sizes say `implied` elements (`None` when that
    /// count overflows).
    fn make(&mut self, arg: Arg, implied: Option<usize>) -> downhill::Result<Storage> {
        let fits = implied.filter(|&n| n <= 4096).unwrap_or(3);
        let filled = |len: usize| -> downhill::Result<Storage> {
            let data: Vec<f32> = (0..len)
                .map(|i| self.values[i % self.values.len()])
                .collect();
            self.backend.upload(&data)
        };
        let s = match arg {
            Arg::Fits => filled(fits)?,
            Arg::Len(n) => filled(n)?,
            Arg::At(offset) => filled(offset + fits)?.slice(offset, fits)?,
            Arg::Same => match &self.previous {
                Some(s) => s.clone(),
                None => filled(fits)?,
            },
            Arg::Forged(extra) => {
                let real = filled(fits)?;
                Storage::new(real.buffer().clone(), fits.saturating_add(extra))
            }
            Arg::Foreign => Storage::new(Arc::new(0u8), fits),
        };
        self.previous = Some(s.clone());
        Ok(s)
    }

    fn make_all(
        &mut self,
        args: &[Arg],
        implied: &[Option<usize>],
    ) -> downhill::Result<Vec<Storage>> {
        args.iter()
            .zip(implied)
            .map(|(&a, &n)| self.make(a, n))
            .collect()
    }
}

fn product(factors: &[usize]) -> Option<usize> {
    factors
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// The NumPy broadcast of two dimension lists, if they broadcast.
fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let at = |d: &[usize], i: usize| (i + d.len()).checked_sub(rank).map_or(1, |j| d[j]);
    (0..rank)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

/// A permutation of `0..rank` shuffled by `seed`.
fn shuffled(rank: usize, mut seed: u64) -> Vec<usize> {
    let mut perm: Vec<usize> = (0..rank).collect();
    for i in (1..rank).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        perm.swap(i, (seed >> 33) as usize % (i + 1));
    }
    perm
}

/// Runs one direct call on `backend`.
fn run_direct(backend: &dyn Backend, values: &[f32], call: &Direct) -> downhill::Result<()> {
    let mut m = Maker {
        backend,
        values,
        previous: None,
    };
    let dims3 = |d: [usize; 3]| ReduceDims {
        outer: d[0],
        len: d[1],
        inner: d[2],
    };
    match call.clone() {
        Direct::Upload(n) => {
            // Only small real uploads: a huge size is only ever a lie.
            let data = vec![0.5f32; n.min(4096)];
            backend.upload(&data)?;
        }
        Direct::UploadIndices(idx) => {
            backend.upload_indices(&idx)?;
        }
        Direct::Download(a) => {
            let s = m.make(a, Some(5))?;
            backend.download(&s)?;
        }
        Direct::Full(n, v) => {
            if n <= 4096 || n >= 1 << 40 {
                backend.full(n, v)?;
            }
        }
        Direct::Fill(a, v) => {
            let s = m.make(a, Some(7))?;
            backend.fill(&s, v)?;
        }
        Direct::Copy(a) => {
            let s = m.make_all(&a, &[Some(6), Some(6)])?;
            backend.copy(&s[0], &s[1])?;
        }
        Direct::Accumulate(a, scale) => {
            let s = m.make_all(&a, &[Some(6), Some(6)])?;
            backend.accumulate(&s[0], &s[1], scale)?;
        }
        Direct::Linear(a, with_bias, [m_, k, n], [trans_a, trans_b], act) => {
            let s = m.make_all(&a, &[product(&[m_, k]), product(&[k, n]), Some(n)])?;
            let dims = MatmulDims {
                m: m_,
                k,
                n,
                trans_a,
                trans_b,
            };
            let bias = with_bias.then_some(&s[2]);
            backend.linear(&s[0], &s[1], bias, dims, activation(act))?;
        }
        Direct::EpilogueBackward(act, a, rows, cols) => {
            let n = product(&[rows, cols]);
            let s = m.make_all(&a, &[n, n])?;
            backend.linear_epilogue_backward(activation(act), &s[0], &s[1], rows, cols)?;
        }
        Direct::Matmul(a, [m_, k, n], [trans_a, trans_b]) => {
            let s = m.make_all(&a, &[product(&[m_, k]), product(&[k, n])])?;
            let dims = MatmulDims {
                m: m_,
                k,
                n,
                trans_a,
                trans_b,
            };
            backend.matmul(&s[0], &s[1], dims)?;
        }
        Direct::Unary(op, p, q, a) => {
            let s = m.make(a, Some(9))?;
            backend.unary(unary_op(op, p, q), &s)?;
        }
        Direct::UnaryBackward(op, p, q, a) => {
            let s = m.make_all(&a, &[Some(9); 3])?;
            backend.unary_backward(unary_op(op, p, q), &s[0], &s[1], &s[2])?;
        }
        Direct::Binary(op, a, out, ra, rb, other) => {
            let (sa, sb) = (ra.from(&out), rb.from(&out));
            let out = match other {
                Some(d) => d,
                None => broadcast(&sa, &sb).unwrap_or(out),
            };
            let s = m.make_all(&a, &[product(&sa), product(&sb)])?;
            let op = [
                BinaryOp::Add,
                BinaryOp::Sub,
                BinaryOp::Mul,
                BinaryOp::Div,
                BinaryOp::Pow,
                BinaryOp::PowGradBase,
                BinaryOp::PowGradExponent,
            ][op as usize % 7];
            backend.binary(
                op,
                &s[0],
                &Shape::new(sa),
                &s[1],
                &Shape::new(sb),
                &Shape::new(out),
            )?;
        }
        Direct::SumTo(a, from, to) => {
            let to = to.from(&from);
            let s = m.make(a, product(&from))?;
            backend.sum_to(&s, &Shape::new(from), &Shape::new(to))?;
        }
        Direct::Expand(a, to, from) => {
            let from = from.from(&to);
            let s = m.make(a, product(&from))?;
            backend.expand(&s, &Shape::new(from), &Shape::new(to))?;
        }
        Direct::Reduce(op, a, d) => {
            let s = m.make(a, product(&d))?;
            let op = [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max][op as usize % 3];
            backend.reduce(op, &s, dims3(d))?;
        }
        Direct::MaxBackward(a, d) => {
            let kept = product(&[d[0], d[2]]);
            let s = m.make_all(&a, &[product(&d), kept, kept])?;
            backend.max_backward(&s[0], &s[1], &s[2], dims3(d))?;
        }
        Direct::Permute(a, shape, perm) => {
            let perm = match perm {
                Ok(seed) => shuffled(shape.len(), seed),
                Err(raw) => raw,
            };
            let s = m.make(a, product(&shape))?;
            backend.permute(&s, &Shape::new(shape), &perm)?;
        }
        Direct::Softmax(a, rows, cols, log) => {
            let s = m.make(a, product(&[rows, cols]))?;
            backend.softmax(&s, rows, cols, log)?;
        }
        Direct::SoftmaxBackward(a, rows, cols, log) => {
            let n = product(&[rows, cols]);
            let s = m.make_all(&a, &[n, n])?;
            backend.softmax_backward(&s[0], &s[1], rows, cols, log)?;
        }
        Direct::Loss(kind, eps, a, rows, cols) => {
            let kind = loss_kind(kind, eps);
            let n = product(&[rows, cols]);
            let t = if kind == LossKind::SoftmaxCrossEntropy {
                Some(rows)
            } else {
                n
            };
            let s = m.make_all(&a, &[n, t])?;
            backend.loss(kind, &s[0], &s[1], rows, cols)?;
        }
        Direct::LossBackward(kind, eps, a, rows, cols) => {
            let kind = loss_kind(kind, eps);
            let n = product(&[rows, cols]);
            let t = if kind == LossKind::SoftmaxCrossEntropy {
                Some(rows)
            } else {
                n
            };
            let s = m.make_all(&a, &[n, t, Some(1)])?;
            backend.loss_backward(kind, &s[0], &s[1], &s[2], rows, cols)?;
        }
        Direct::AccumulateCorrect(categorical, threshold, a, rows, cols) => {
            let n = product(&[rows, cols]);
            let (kind, t) = if categorical {
                (AccuracyKind::Categorical, Some(rows))
            } else {
                (AccuracyKind::Binary { threshold }, n)
            };
            let s = m.make_all(&a, &[n, t, Some(1)])?;
            backend.accumulate_correct(kind, &s[0], &s[1], rows, cols, &s[2])?;
        }
        Direct::AccumulateStats(which, threshold, k, a, rows, cols) => {
            let stats = match which {
                0 => MetricStats::Confusion(AccuracyKind::Categorical),
                1 => MetricStats::Confusion(AccuracyKind::Binary { threshold }),
                2 => MetricStats::TopK(k),
                _ => MetricStats::Errors,
            };
            let n = product(&[rows, cols]);
            let t = Some(stats.target_len(rows, cols));
            let acc = Some(stats.len(cols)).filter(|&l| l <= 4096);
            let s = m.make_all(&a, &[n, t, acc])?;
            backend.accumulate_stats(stats, &s[0], &s[1], rows, cols, &s[2])?;
        }
        Direct::TrackStep(a, scale, n, step) => {
            let s = m.make_all(&a, &[Some(3), Some(1), Some(n)])?;
            backend.track_step(&s[0], &s[1], scale, &s[2], step)?;
        }
        Direct::GatherRows(a, rows, cols, idx, start, count) => {
            let src = m.make(a, product(&[rows, cols]))?;
            let indices = backend.upload_indices(&idx)?;
            backend.gather_rows(&src, cols, &indices, start, count)?;
        }
        Direct::OptimizerStep(rule, a, n, extra) => {
            let rule = update_rule(rule);
            // params, grads, then as many state buffers as the rule needs, give or take one
            let wanted = (2 + rule.state_buffers()) as i64 + extra as i64;
            let count = (wanted.max(0) as usize).min(a.len());
            let s = m.make_all(&a[..count], &[Some(n); 5])?;
            let (params, grads) = match (s.first(), s.get(1)) {
                (Some(p), Some(g)) => (p, g),
                _ => return Ok(()),
            };
            backend.optimizer_step(rule.as_ref(), params, grads, &s[2..])?;
        }
        Direct::ClipGradients(a, norm, v) => {
            let s = m.make(a, Some(8))?;
            let clip = if norm {
                downhill::GradClip::Norm(v)
            } else {
                downhill::GradClip::Value(v)
            };
            backend.clip_gradients(&s, clip)?;
        }
        Direct::Flush => backend.flush()?,
    }
    Ok(())
}

/// Runs direct calls; fails if any panics, or if work recorded by calls that returned
/// `Ok` does not submit cleanly.
fn survives_direct(
    device: &Device,
    values: &[f32],
    calls: &[Direct],
    tally: &mut Tally,
) -> Result<(), TestCaseError> {
    let backend = device.backend();
    for call in calls {
        tally.run(call, || run_direct(backend, values, call))?;
        // Nothing a call accepted may fail later, when its work is submitted.
        if let Err(e) = backend.flush() {
            return Err(TestCaseError::fail(format!(
                "{call:?} was accepted but its work failed: {e}"
            )));
        }
    }
    Ok(())
}

fn fuzz_direct(device: &Device, cases: u32) {
    let cases = fuzz::cases(cases);
    let strategy = (fill_values(), prop::collection::vec(direct(), 1..9));
    let what = format!("{} (direct backend calls)", device.name());
    let Tally { ok, err } = fuzz::run_cases(&what, cases, &strategy, |(values, calls), t| {
        survives_direct(device, &values, &calls, t)
    });
    // About a third of the calls get consistent arguments and succeed.
    assert!(ok >= cases as usize, "only {ok} calls succeeded");
    assert!(err >= cases as usize, "only {err} calls were refused");
}

#[test]
fn no_direct_backend_call_panics_on_the_cpu() {
    fuzz_direct(&common::cpu(), 256);
}

#[test]
fn no_direct_backend_call_panics_on_the_gpu() {
    if let Some(gpu) = common::gpu() {
        fuzz_direct(&gpu, 40);
    }
}

/// The direct calls the review reproduced as panics (CPU and GPU), and their neighbours:
/// each is now a typed error.
#[test]
fn inconsistent_direct_calls_are_typed_errors_on_both_backends() {
    let devices: Vec<Device> = std::iter::once(common::cpu())
        .chain(common::gpu())
        .collect();
    for device in devices {
        let be = device.backend();
        let name = device.name();
        let s = |n: usize| be.full(n, 1.0).unwrap();
        let shape = |d: &[usize]| Shape::new(d.to_vec());
        let is_shape = |e: &Error| matches!(e, Error::Shape { .. });
        let is_too_large = |e: &Error| matches!(e, Error::TooLarge(_));
        let expect = |what: &str, r: downhill::Result<()>, kind: &dyn Fn(&Error) -> bool| match r {
            Err(e) if kind(&e) => {}
            other => panic!("{name}: {what} gave {other:?}"),
        };
        let x2 = s(2);
        expect(
            "permute by [5]",
            be.permute(&x2, &shape(&[2]), &[5]).map(drop),
            &is_shape,
        );
        expect(
            "expand [2] to [3]",
            be.expand(&x2, &shape(&[2]), &shape(&[3])).map(drop),
            &is_shape,
        );
        expect(
            "binary [2] + [2] into [3]",
            be.binary(
                BinaryOp::Add,
                &x2,
                &shape(&[2]),
                &x2,
                &shape(&[2]),
                &shape(&[3]),
            )
            .map(drop),
            &is_shape,
        );
        // m · k = 2^64 wraps to 0, which an empty A would match.
        let dims = MatmulDims {
            m: 1 << 62,
            k: 4,
            n: 4,
            trans_a: false,
            trans_b: false,
        };
        expect(
            "linear with m = 2^62",
            be.linear(&s(0), &s(16), None, dims, None).map(drop),
            &is_too_large,
        );
        let wrapped = ReduceDims {
            outer: 1 << 62,
            len: 4,
            inner: 4,
        };
        expect(
            "reduce of 2^64 elements",
            be.reduce(ReduceOp::Sum, &s(0), wrapped).map(drop),
            &is_too_large,
        );
        expect(
            "softmax of 2^62 x 4",
            be.softmax(&s(0), 1 << 62, 4, false).map(drop),
            &is_too_large,
        );
        expect(
            "mse of 2^62 x 4",
            be.loss(LossKind::Mse, &s(0), &s(0), 1 << 62, 4).map(drop),
            &is_too_large,
        );
        expect(
            "clamp into [1, 0]",
            be.unary(UnaryOp::Clamp(1.0, 0.0), &x2).map(drop),
            &|e| matches!(e, Error::Config(_)),
        );
        expect(
            "clip by value -1",
            be.clip_gradients(&s(4), downhill::GradClip::Value(-1.0)),
            &|e| matches!(e, Error::Hyperparameter { .. }),
        );
        let p = s(4);
        let rule = update_rule(0);
        expect(
            "an optimizer step whose gradients are its parameters",
            be.optimizer_step(rule.as_ref(), &p, &p, &[]),
            &is_shape,
        );
        // Still usable, and a consistent call still works.
        let y = be.permute(&x2, &shape(&[2]), &[0]).unwrap();
        assert_eq!(be.download(&y).unwrap(), vec![1.0, 1.0], "{name}");
    }
}
