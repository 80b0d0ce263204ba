//! Parameter groups (PyTorch's `param_groups`, issue 8): per-group hyperparameters against
//! an f64 reference of PyTorch's algorithms, bit-equality with one optimizer per group on
//! both backends, CPU-vs-GPU parity, selection by name inside `fit`, the errors, one GPU
//! dispatch per group, schedules that follow each group's own rate, and checkpoints.
//!
//! The problem of the rule tests (as in tests/optimizers.rs): "weights" of shapes [3, 5]
//! and [7], "biases" of shapes [1] and [5], interleaved as a model holds them, and
//!
//! ```text
//! loss = Σ_k  sum(c_k ⊙ p_k²) / 2 + sum(d_k ⊙ p_k)        so   ∇loss = c ⊙ p + d
//! ```
//!
//! with `c ∈ [0.5, 1.5)` and `d = sign(p) · [0.5, 1.0)`, the gradient taken by the library's
//! autodiff and recomputed by the reference from its own parameters.

mod common;

use common::runs::{bits, model, scratch, snapshot, train};
use common::tolerance::{Checks, Tol, EPS};
use downhill::prelude::*;
use downhill::random::SeededRng;
use downhill::HyperparameterValue;
use ndarray::Array2;

const STEPS: usize = 12;
/// Parameter shapes in the model's order: weight, bias, weight, bias.
const SHAPES: [&[usize]; 4] = [&[3, 5], &[1], &[7], &[5]];
const IS_BIAS: [bool; 4] = [false, true, false, true];
/// The two groups' rates in the schedule test.
const RATES: [f32; 2] = [0.1, 0.02];

/// tests/optimizers.rs derives this bound for 10 steps of f32 updates against an f64
/// reference (about 15 roundings of 2^-24 per element per step on a contracting problem:
/// ≲ 1.2e-6 relative after 10 steps, 2e-6 after 12; rtol 1e-5 leaves a margin of 5×, atol
/// 1e-6 covers components passing near 0). Groups change which hyperparameters apply, not
/// the arithmetic, so the bound carries over.
const REFERENCE: Tol = Tol::new(1e-6, 1e-5);

type Config = Box<dyn OptimizerConfig>;
/// What a test's bias group overrides.
type Overrides = fn(ParamGroup) -> ParamGroup;

fn f(x: f32) -> f64 {
    f64::from(x)
}

/// The parameters (fresh leaves on `device`) and the loss' constants.
struct Problem {
    params: Vec<Tensor>,
    c: Vec<Tensor>,
    d: Vec<Tensor>,
}

impl Problem {
    fn new(device: &Device) -> Problem {
        let mut pr = Problem {
            params: vec![],
            c: vec![],
            d: vec![],
        };
        for (k, &shape) in SHAPES.iter().enumerate() {
            let seed = 700 + 10 * k as u64;
            let p = Tensor::rand_uniform(device, shape, -1.0, 1.0, seed).unwrap();
            let u = Tensor::rand_uniform(device, shape, 0.5, 1.0, seed + 2).unwrap();
            let d: Vec<f32> = (p.to_vec().unwrap().iter().zip(u.to_vec().unwrap()))
                .map(|(&p, u)| if p < 0.0 { -u } else { u })
                .collect();
            pr.c.push(Tensor::rand_uniform(device, shape, 0.5, 1.5, seed + 1).unwrap());
            pr.d.push(device.tensor(d, shape).unwrap());
            pr.params.push(p.param());
        }
        pr
    }

    fn grads(&self) -> Gradients {
        let mut total: Option<Tensor> = None;
        for ((p, c), d) in self.params.iter().zip(&self.c).zip(&self.d) {
            let quad = p.square().unwrap().mul(c).unwrap().sum().unwrap();
            let linear = p.mul(d).unwrap().sum().unwrap();
            let term = quad.mul_scalar(0.5).unwrap().add(&linear).unwrap();
            total = Some(match total {
                None => term,
                Some(t) => t.add(&term).unwrap(),
            });
        }
        total.unwrap().backward().unwrap()
    }

    fn subset(&self, bias: bool) -> Vec<&Tensor> {
        let picked = self.params.iter().zip(IS_BIAS);
        picked.filter(|(_, b)| *b == bias).map(|(p, _)| p).collect()
    }

    /// The optimizer of the rule tests: weights in group 0 (the configuration's values),
    /// biases in group 1 with `biases`' overrides.
    fn grouped(&self, config: &dyn OptimizerConfig, biases: Overrides) -> Optimizer {
        let weights = ParamGroup::new(&self.subset(false));
        let biases = biases(ParamGroup::new(&self.subset(true)));
        Optimizer::with_groups(config.boxed_clone(), vec![weights, biases]).unwrap()
    }
}

fn host(tensors: &[Tensor]) -> Vec<Vec<f64>> {
    let values = tensors.iter().map(|t| t.to_vec().unwrap());
    values.map(|v| v.into_iter().map(f).collect()).collect()
}

/// PyTorch's single-tensor algorithms in f64, for one group's hyperparameters.
#[derive(Clone, Copy, Debug)]
enum Torch {
    /// `torch.optim.SGD(lr, momentum, weight_decay)` (dampening 0, no Nesterov).
    Sgd { lr: f64, momentum: f64, wd: f64 },
    /// `torch.optim.AdamW(lr, betas, eps, weight_decay)`.
    AdamW {
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
        wd: f64,
    },
}

impl Torch {
    /// One step at 1-based step `t` on parameter `p` with state `(m, v)`.
    fn step(self, t: i32, p: &mut [f64], grad: &[f64], m: &mut [f64], v: &mut [f64]) {
        for i in 0..p.len() {
            match self {
                Torch::Sgd { lr, momentum, wd } => {
                    let g = grad[i] + wd * p[i];
                    m[i] = if t == 1 { g } else { momentum * m[i] + g };
                    p[i] -= lr * if momentum != 0.0 { m[i] } else { g };
                }
                Torch::AdamW {
                    lr,
                    beta1,
                    beta2,
                    eps,
                    wd,
                } => {
                    p[i] *= 1.0 - lr * wd;
                    m[i] = beta1 * m[i] + (1.0 - beta1) * grad[i];
                    v[i] = beta2 * v[i] + (1.0 - beta2) * grad[i] * grad[i];
                    let bias_correction2 = 1.0 - beta2.powi(t);
                    let denom = v[i].sqrt() / bias_correction2.sqrt() + eps;
                    p[i] -= lr / (1.0 - beta1.powi(t)) * m[i] / denom;
                }
            }
        }
    }
}

/// Per-group lr and weight decay reproduce PyTorch's `param_groups` at each of STEPS steps: SGD
/// with momentum and L2 decay where the biases take their own rate and no decay, and AdamW
/// with no decay (and other betas) on the biases.
#[test]
fn per_group_hyperparameters_match_pytorch() {
    let (lr, mom, wd) = (f(0.1), f(0.9), f(0.05));
    let (beta1, beta2, eps) = (f(0.9), f(0.999), f(1e-8));
    let cases: Vec<(&str, Config, Overrides, [Torch; 2])> = vec![
        (
            "SGD momentum + weight decay, biases lr 0.02 and no decay",
            Box::new(Sgd::new(0.1).momentum(0.9).weight_decay(0.05)),
            |g| g.lr(0.02).weight_decay(0.0),
            [
                Torch::Sgd {
                    lr,
                    momentum: mom,
                    wd,
                },
                Torch::Sgd {
                    lr: f(0.02),
                    momentum: mom,
                    wd: 0.0,
                },
            ],
        ),
        (
            "AdamW, biases with no decay and betas (0.8, 0.99)",
            Box::new(AdamW::new(0.05).weight_decay(0.2)),
            |g| g.weight_decay(0.0).betas(0.8, 0.99),
            [
                Torch::AdamW {
                    lr: f(0.05),
                    beta1,
                    beta2,
                    eps,
                    wd: f(0.2),
                },
                Torch::AdamW {
                    lr: f(0.05),
                    beta1: f(0.8),
                    beta2: f(0.99),
                    eps,
                    wd: 0.0,
                },
            ],
        ),
    ];
    let mut checks = Checks::default();
    for (name, config, biases, torch) in cases {
        let pr = Problem::new(&Device::cpu());
        let mut opt = pr.grouped(config.as_ref(), biases);
        let mut p = host(&pr.params);
        let (c, d) = (host(&pr.c), host(&pr.d));
        let mut m: Vec<Vec<f64>> = p.iter().map(|x| vec![0.0; x.len()]).collect();
        let mut v = m.clone();
        let p0 = p.clone();
        for t in 1..=STEPS {
            opt.step(&pr.grads()).unwrap();
            for k in 0..SHAPES.len() {
                let g: Vec<f64> = (0..p[k].len())
                    .map(|i| c[k][i] * p[k][i] + d[k][i])
                    .collect();
                let rule = torch[usize::from(IS_BIAS[k])];
                rule.step(t as i32, &mut p[k], &g, &mut m[k], &mut v[k]);
                let want: Vec<f32> = p[k].iter().map(|&x| x as f32).collect();
                let label = format!("{name}: parameter {k} {:?} at step {t}", SHAPES[k]);
                checks.close(&label, &want, &pr.params[k].to_vec().unwrap(), REFERENCE);
            }
        }
        // The biases' overrides matter: the first group's rule takes them elsewhere.
        let mut q = p0;
        m.iter_mut().chain(v.iter_mut()).for_each(|s| s.fill(0.0));
        for t in 1..=STEPS {
            for k in (0..SHAPES.len()).filter(|&k| IS_BIAS[k]) {
                let g: Vec<f64> = (0..q[k].len())
                    .map(|i| c[k][i] * q[k][i] + d[k][i])
                    .collect();
                torch[0].step(t as i32, &mut q[k], &g, &mut m[k], &mut v[k]);
            }
        }
        let apart = (0..SHAPES.len())
            .filter(|&k| IS_BIAS[k])
            .any(|k| p[k].iter().zip(&q[k]).any(|(a, b)| (a - b).abs() > 1e-3));
        assert!(apart, "{name}: the bias group's overrides change nothing");
    }
    checks.finish("per-group hyperparameters against PyTorch");
}

/// Runs `config` with the biases' `overrides` for STEPS steps on `device` twice: as one
/// optimizer with two groups, and as two optimizers (`config` on the weights, `biases` on
/// the biases). Returns both runs' parameters and the grouped run's path (Σ over steps of
/// the largest change) and largest |p|.
fn grouped_and_separate(
    device: &Device,
    config: &dyn OptimizerConfig,
    overrides: Overrides,
    biases: &dyn OptimizerConfig,
) -> (Vec<Vec<f32>>, Vec<Vec<f32>>, f64, f64) {
    let one = Problem::new(device);
    let mut grouped = one.grouped(config, overrides);
    let two = Problem::new(device);
    let mut on_weights = Optimizer::new(config.boxed_clone(), &two.subset(false)).unwrap();
    let mut on_biases = Optimizer::new(biases.boxed_clone(), &two.subset(true)).unwrap();
    let values =
        |pr: &Problem| -> Vec<Vec<f32>> { pr.params.iter().map(|t| t.to_vec().unwrap()).collect() };
    let (mut path, mut max_abs, mut before) = (0.0f64, 0.0f64, values(&one));
    for _ in 0..STEPS {
        grouped.step(&one.grads()).unwrap();
        let grads = two.grads();
        on_weights.step(&grads).unwrap();
        on_biases.step(&grads).unwrap();
        let now = values(&one);
        let moves = now.iter().flatten().zip(before.iter().flatten());
        path += moves.map(|(a, b)| f(*a - *b).abs()).fold(0.0, f64::max);
        max_abs = now
            .iter()
            .flatten()
            .fold(max_abs, |m, &x| m.max(f(x).abs()));
        before = now;
    }
    (values(&one), values(&two), path, max_abs)
}

/// One optimizer with groups steps bit for bit as one optimizer per group (the same rule
/// on the same elements), on the CPU and on the GPU; and the GPU agrees with the CPU within
/// the bound tests/parity.rs derives for 50-step optimizer runs. The cases cover groups
/// whose rules keep different state (momentum 0 in one group: no momentum buffer; amsgrad
/// in one: a third buffer) and a per-group initial state (Adagrad's accumulator).
#[test]
fn groups_step_as_one_optimizer_per_group() {
    let cases: Vec<(&str, Config, Overrides, Config)> = vec![
        (
            "SGD, biases without momentum or decay",
            Box::new(Sgd::new(0.1).momentum(0.9).weight_decay(0.01)),
            |g| g.lr(0.05).momentum(0.0).weight_decay(0.0),
            Box::new(Sgd::new(0.05)),
        ),
        (
            "AdamW, biases with no decay and amsgrad",
            Box::new(AdamW::new(0.05)),
            |g| g.weight_decay(0.0).set("amsgrad", true),
            Box::new(AdamW::new(0.05).weight_decay(0.0).amsgrad(true)),
        ),
        (
            "Adagrad, biases with their own accumulator start and lr decay",
            Box::new(Adagrad::new(0.1)),
            |g| {
                g.set("initial_accumulator_value", 0.5)
                    .set("lr_decay", 0.01)
            },
            Box::new(
                Adagrad::new(0.1)
                    .initial_accumulator_value(0.5)
                    .lr_decay(0.01),
            ),
        ),
    ];
    let mut checks = Checks::default();
    for (name, config, overrides, biases) in &cases {
        let cpu =
            grouped_and_separate(&Device::cpu(), config.as_ref(), *overrides, biases.as_ref());
        let gpu = common::gpu()
            .map(|gpu| grouped_and_separate(&gpu, config.as_ref(), *overrides, biases.as_ref()));
        for (device, run) in [("CPU", Some(&cpu)), ("GPU", gpu.as_ref())] {
            let Some((grouped, separate, _, _)) = run else {
                continue;
            };
            for (k, (a, b)) in grouped.iter().zip(separate).enumerate() {
                assert_eq!(bits(a), bits(b), "{name} on the {device}: parameter {k}");
            }
        }
        let Some((on_gpu, ..)) = &gpu else { continue };
        // tests/parity.rs: |Δp| <= 2·(STEPS·EPS·max|p| + (20 + STEPS)·EPS·path).
        let (reference, _, path, max_abs) = &cpu;
        let steps = STEPS as f64;
        let atol = 2.0 * (steps * EPS * max_abs + (20.0 + steps) * EPS * path);
        for (k, (c, g)) in reference.iter().zip(on_gpu).enumerate() {
            checks.close(&format!("{name}: parameter {k}"), c, g, Tol::abs(atol));
        }
    }
    checks.finish("grouped optimizers, CPU against GPU");
}

fn data() -> Dataset {
    let mut rng = SeededRng::new(9);
    let x = Array2::from_shape_simple_fn((48, 3), || rng.uniform(-1.0, 1.0));
    let y = x
        .map_axis(ndarray::Axis(1), |r| r.sum().sin())
        .insert_axis(ndarray::Axis(1));
    Dataset::new(x, y).unwrap()
}

fn no_decay_on_biases() -> ParamGroup {
    ParamGroup::matching(|name| name.ends_with(".bias")).weight_decay(0.0)
}

/// `fit` with `param_groups` selecting the biases by name trains exactly as a manual loop
/// with the optimizer `Optimizer::with_named_groups` builds (no decay on the biases), and
/// not as the same fit without groups.
#[test]
fn fit_selects_groups_by_name() {
    let device = Device::cpu();
    let config = || FitConfig {
        epochs: 3,
        batch_size: 16,
        shuffle: false,
        verbose: 0,
        ..Default::default()
    };
    let adamw = AdamW::new(0.05).weight_decay(0.5);
    let mut fitted = model(&device, 4);
    let grouped = config().param_group(no_decay_on_biases());
    fitted
        .fit(&data(), Loss::MeanSquaredError, adamw.clone(), grouped)
        .unwrap();

    let manual = model(&device, 4);
    let named = manual.named_parameters().unwrap();
    let groups = vec![no_decay_on_biases()];
    let mut opt = Optimizer::with_named_groups(Box::new(adamw.clone()), &named, groups).unwrap();
    let members: Vec<&[usize]> = opt.groups().iter().map(|g| g.params()).collect();
    assert_eq!(
        members,
        [&[0, 2, 3][..], &[1, 4][..]],
        "weights, then the biases"
    );
    let params: Vec<&Tensor> = named.iter().map(|(_, t)| t).collect();
    assert!(
        opt.param_set().holds_exactly(&params),
        "the model's order is kept"
    );
    let (x, y) = (data().x().to_owned(), data().y().to_owned());
    for _epoch in 0..3 {
        for start in (0..48).step_by(16) {
            let rows = |a: &Array2<f32>| {
                let part = a.slice(ndarray::s![start..start + 16, ..]);
                device
                    .tensor(part.iter().copied().collect(), [16, a.ncols()])
                    .unwrap()
            };
            let pred = manual.forward(&rows(&x)).unwrap();
            let loss = Loss::MeanSquaredError.compute(&pred, &rows(&y)).unwrap();
            opt.step(&loss.backward().unwrap()).unwrap();
        }
    }
    let mut plain = model(&device, 4);
    plain
        .fit(&data(), Loss::MeanSquaredError, adamw, config())
        .unwrap();
    let weights = |m: &Sequential| {
        let named = m.named_parameters().unwrap();
        named
            .into_iter()
            .map(|(n, t)| (n, bits(&t.to_vec().unwrap())))
            .collect::<Vec<_>>()
    };
    assert_eq!(weights(&fitted), weights(&manual));
    let (with, without) = (weights(&fitted), weights(&plain));
    assert_ne!(
        with[1], without[1],
        "the biases' weight decay made no difference"
    );
}

#[test]
fn bad_groups_are_typed_errors() {
    let device = Device::cpu();
    let pr = Problem::new(&device);
    let [w1, b1, w2, _] = [0, 1, 2, 3].map(|k| &pr.params[k]);
    let config = || -> Box<dyn OptimizerConfig> { Box::new(Sgd::new(0.1)) };
    let build = |groups: Vec<ParamGroup>| Optimizer::with_groups(config(), groups).map(|_| ());
    let config_error = |r: downhill::Result<()>, needle: &str| match r {
        Err(Error::Config(m)) => assert!(m.contains(needle), "{m}"),
        other => panic!("expected a Config error with {needle:?}, got {other:?}"),
    };
    let twice = build(vec![ParamGroup::new(&[w1, w2]), ParamGroup::new(&[b1, w1])]);
    config_error(twice, "ParamGroup 0 and ParamGroup 1");
    config_error(
        build(vec![ParamGroup::new(&[w1]), ParamGroup::new(&[])]),
        "no parameters",
    );
    config_error(build(vec![no_decay_on_biases()]), "with_named_groups");
    config_error(
        build(vec![ParamGroup::new(&[w1]).betas(0.9, 0.99)]),
        "beta1",
    );
    config_error(
        build(vec![ParamGroup::new(&[w1]).set("nesterov", 1.0)]),
        "flag",
    );
    for (group, name) in [
        (ParamGroup::new(&[b1]).weight_decay(-0.1), "weight_decay"),
        (ParamGroup::new(&[b1]).lr(f32::NAN), "lr"),
        (ParamGroup::new(&[b1]).momentum(f32::INFINITY), "momentum"),
        (ParamGroup::new(&[b1]).set("dampening", 1.5), "dampening"),
    ] {
        match build(vec![ParamGroup::new(&[w1]), group]) {
            Err(Error::Hyperparameter { name: got, .. }) => assert_eq!(got, name),
            other => panic!("{name}: expected Error::Hyperparameter, got {other:?}"),
        }
    }
    let adam = Optimizer::with_groups(
        Box::new(Adam::new(0.1)),
        vec![ParamGroup::new(&[w1]).betas(1.0, 0.9)],
    )
    .map(|_| ());
    assert!(
        matches!(adam, Err(Error::Hyperparameter { name: "beta1", .. })),
        "{adam:?}"
    );
    // A refused build moved nothing: the parameters still build an optimizer.
    assert!(Sgd::new(0.1).build(&[w1, b1, w2]).is_ok());

    // By name: two groups selecting one parameter, a group selecting none.
    let net = model(&device, 1);
    let named = net.named_parameters().unwrap();
    let by_name = |groups| Optimizer::with_named_groups(config(), &named, groups).map(|_| ());
    let overlap = vec![
        no_decay_on_biases(),
        ParamGroup::matching(|n| n.starts_with("2.")),
    ];
    config_error(
        by_name(overlap),
        "parameter 2.dense.bias is selected by ParamGroup 0 and ParamGroup 1",
    );
    config_error(
        by_name(vec![ParamGroup::matching(|n| n.contains("norm"))]),
        "selects no parameter",
    );
    let foreign = device.scalar(1.0).unwrap().param();
    config_error(
        by_name(vec![ParamGroup::new(&[&foreign])]),
        "not one of the model's parameters",
    );
    // And through fit, before anything trains.
    let mut net = model(&device, 1);
    let fit = FitConfig {
        verbose: 0,
        ..Default::default()
    }
    .param_group(ParamGroup::matching(|_| false));
    let e = net
        .fit(&data(), Loss::MeanSquaredError, Sgd::new(0.1), fit)
        .unwrap_err();
    assert!(
        matches!(e, Error::Config(ref m) if m.contains("selects no parameter")),
        "{e}"
    );
    assert_eq!(net.epochs_trained(), 0);
}

/// On the GPU a step is one dispatch per group: weights and biases interleave in the
/// model's order, but each group's segments lie together, so a model with its weights in
/// one group and its biases in another takes exactly 2 optimizer dispatches (1 without
/// groups).
#[test]
fn one_dispatch_per_group_on_the_gpu() {
    let Some(gpu) = common::private_gpu() else {
        return;
    };
    let net = Sequential::new(&gpu)
        .seed(3)
        .dense(5, 9, Activation::Tanh)
        .dense(9, 4, Activation::Relu)
        .dense(4, 1, Activation::Linear);
    let named = net.named_parameters().unwrap();
    let (x, y) = (
        gpu.tensor(vec![0.5; 15], [3, 5]).unwrap(),
        gpu.tensor(vec![1.0; 3], [3, 1]).unwrap(),
    );
    let dispatches = |opt: &mut Optimizer| -> Vec<u64> {
        (0..3)
            .map(|_| {
                let loss = Loss::MeanSquaredError
                    .compute(&net.forward(&x).unwrap(), &y)
                    .unwrap();
                let grads = loss.backward().unwrap();
                let before = gpu.stats();
                opt.step(&grads).unwrap();
                gpu.stats().since(&before).dispatches
            })
            .collect()
    };
    let config = AdamW::new(0.01);
    let mut grouped =
        Optimizer::with_named_groups(Box::new(config.clone()), &named, vec![no_decay_on_biases()])
            .unwrap();
    let layout = grouped.param_set().layout().to_vec();
    assert_eq!(layout, [0, 2, 4, 1, 3, 5], "weights together, then biases");
    assert_eq!(dispatches(&mut grouped), [2, 2, 2]);
    let refs: Vec<&Tensor> = named.iter().map(|(_, t)| t).collect();
    let mut plain = config.build(&refs).unwrap();
    assert_eq!(dispatches(&mut plain), [1, 1, 1]);
}

/// A schedule on an optimizer with two groups follows in each group from that group's own
/// base rate, as PyTorch's schedulers do: bit for bit as the same schedule on a
/// one-group optimizer at that rate, and PyTorch's closed form within f64 rounding. Also:
/// `set_lr` scales the groups proportionally, and a schedule state round-trips.
#[test]
fn schedules_follow_each_groups_base_rate() {
    let device = Device::cpu();
    let pr = Problem::new(&device);
    let (eta_min, warm, t_max) = (1e-3, 3usize, 8usize);
    let schedule = || {
        SequentialLR::new(
            vec![
                Box::new(LinearLR::new().start_factor(0.1).total_iters(warm)),
                Box::new(CosineAnnealingLR::new(t_max).eta_min(eta_min)),
            ],
            vec![warm],
        )
    };
    let config = Sgd::new(RATES[0]).momentum(0.5);
    let mut opt = pr.grouped(&config, |g| g.lr(RATES[1]));
    let mut scheduled = schedule().build(&mut opt).unwrap();
    let mut alone: Vec<(Optimizer, Box<dyn LrScheduler>)> = RATES
        .iter()
        .map(|&lr| {
            let theta = device.scalar(0.0).unwrap().param();
            let mut o = Sgd::new(lr).momentum(0.5).build(&[&theta]).unwrap();
            let s = schedule().build(&mut o).unwrap();
            (o, s)
        })
        .collect();
    let closed = |base: f64, t: usize| {
        if t < warm {
            base * (0.1 + 0.9 * t as f64 / warm as f64)
        } else {
            let cos = (std::f64::consts::PI * (t - warm) as f64 / t_max as f64).cos();
            eta_min + (base - eta_min) * (1.0 + cos) / 2.0
        }
    };
    let mut halfway = None;
    for t in 0..=warm + t_max {
        for (g, (o, s)) in alone.iter().enumerate() {
            let lr = opt.groups()[g].lr_f64();
            assert_eq!(lr.to_bits(), o.lr_f64().to_bits(), "group {g}, step {t}");
            assert_eq!(scheduled.last_lrs()[g].to_bits(), s.last_lr().to_bits());
            let want = closed(f(RATES[g]), t);
            assert!(
                (lr - want).abs() <= 1e-12 * want,
                "group {g}, step {t}: {lr} vs {want}"
            );
        }
        if t == 5 {
            halfway = Some((scheduled.state(), opt.state_dict().unwrap()));
        }
        opt.step(&pr.grads()).unwrap();
        scheduled.step(&mut opt).unwrap();
        for (o, s) in &mut alone {
            s.step(o).unwrap();
        }
    }
    assert_eq!(opt.lr_f64(), scheduled.last_lr(), "lr() is group 0's");
    assert_eq!(opt.groups()[1].initial_lr(), Some(f(RATES[1])));

    // Resuming at step 5: the state holds one child per group, and continues exactly.
    let (saved, state) = halfway.unwrap();
    assert_eq!(saved.children.len(), 2);
    let again = Problem::new(&device);
    let mut resumed_opt = again.grouped(&config, |g| g.lr(RATES[1]));
    let mut resumed = schedule().build(&mut resumed_opt).unwrap();
    resumed_opt.load_state_dict(&state).unwrap();
    resumed.load_state(&mut resumed_opt, &saved).unwrap();
    for _ in 0..3 {
        resumed.step(&mut resumed_opt).unwrap();
    }
    let mut check = Problem::new(&device).grouped(&config, |g| g.lr(RATES[1]));
    let mut fresh = schedule().build(&mut check).unwrap();
    for _ in 0..8 {
        fresh.step(&mut check).unwrap();
    }
    for g in 0..2 {
        assert_eq!(
            resumed_opt.groups()[g].lr_f64(),
            check.groups()[g].lr_f64(),
            "group {g}"
        );
    }
    // A one-group schedule state does not fit a two-group schedule.
    let theta = device.scalar(0.0).unwrap().param();
    let mut single = config.build(&[&theta]).unwrap();
    let one = schedule().build(&mut single).unwrap().state();
    let e = resumed.load_state(&mut resumed_opt, &one).unwrap_err();
    assert!(
        matches!(e, Error::Config(ref m) if m.contains("param_groups")),
        "{e}"
    );

    // set_lr by hand: group 0 gets the rate, the others their built rate scaled alike.
    let mut opt = pr.grouped(&config, |g| g.lr(RATES[1]));
    opt.set_lr(0.05).unwrap();
    let lrs: Vec<f32> = opt.groups().iter().map(|g| g.lr()).collect();
    assert_eq!(lrs, [0.05, (f(RATES[1]) * (f(0.05) / f(RATES[0]))) as f32]);
    opt.set_group_lr(1, 0.125).unwrap();
    assert_eq!((opt.lr(), opt.groups()[1].lr()), (0.05, 0.125));
    let schedule_error = opt.set_group_lr(2, 0.1).unwrap_err();
    assert!(
        matches!(schedule_error, Error::Config(_)),
        "{schedule_error}"
    );
}

fn groups_for(bias_decay: f32) -> Vec<ParamGroup> {
    vec![ParamGroup::matching(|name| name.ends_with(".bias"))
        .lr(0.005)
        .momentum(0.0)
        .weight_decay(bias_decay)]
}

fn grouped_optimizer(net: &Sequential, groups: Vec<ParamGroup>) -> Optimizer {
    let named = net.named_parameters().unwrap();
    let sgd = Sgd::new(0.02).momentum(0.9).weight_decay(0.01);
    Optimizer::with_named_groups(Box::new(sgd), &named, groups).unwrap()
}

/// A checkpoint records the groups (members, every hyperparameter, each group's rate) and
/// restoring continues bit for bit; an optimizer with other groups is refused with
/// `Error::Mismatch` saying what differs.
#[test]
fn checkpoints_keep_the_groups() {
    let dir = scratch("param-groups");
    for device in common::devices() {
        let net = model(&device, 7);
        let mut opt = grouped_optimizer(&net, groups_for(0.0));
        train(&net, &mut opt, 0..3);
        opt.set_group_lr(1, 0.0075).unwrap(); // a rate no configuration holds
        let path = dir.join("groups.safetensors");
        Checkpoint::capture(&net, &opt, TrainingState::default())
            .unwrap()
            .save(&path)
            .unwrap();
        let state = opt.state_dict().unwrap();
        assert_eq!(state.groups.len(), 2);
        assert_eq!(state.groups[1].params, [1, 4]);
        assert_eq!(state.groups[1].lr, 0.0075);
        let decay = |g: &downhill::GroupState| {
            g.hyperparameters
                .iter()
                .find(|(n, _)| n == "weight_decay")
                .map(|(_, v)| *v)
        };
        assert_eq!(
            decay(&state.groups[1]),
            Some(HyperparameterValue::Number(0.0))
        );
        assert_eq!(
            state.buffers.len(),
            1,
            "a momentum buffer, unused by the biases"
        );
        train(&net, &mut opt, 3..6);

        let checkpoint = Checkpoint::load(&path).unwrap();
        let mut back = model(&device, 99);
        let mut back_opt = grouped_optimizer(&back, groups_for(0.0));
        checkpoint.restore(&mut back, &mut back_opt).unwrap();
        assert_eq!(back_opt.groups()[1].lr_f64(), 0.0075);
        train(&back, &mut back_opt, 3..6);
        assert_eq!(snapshot(&back, &back_opt), snapshot(&net, &opt));

        for (groups, expected) in [
            (
                groups_for(0.01),
                "group 1: weight_decay is 0 there, 0.01 here",
            ),
            (vec![], "it has 2 parameter groups, this optimizer 1"),
            (
                vec![ParamGroup::matching(|n| n.ends_with("weight"))
                    .lr(0.005)
                    .momentum(0.0)],
                "group 1: it holds parameters [1, 4] there, [0, 2, 3] here",
            ),
        ] {
            let mut other = model(&device, 99);
            let mut other_opt = match groups.is_empty() {
                true => common::runs::optimizer(&other, &Sgd::new(0.02).momentum(0.9)),
                false => grouped_optimizer(&other, groups),
            };
            let e = checkpoint.restore(&mut other, &mut other_opt).unwrap_err();
            assert!(matches!(e, Error::Mismatch { .. }), "{e}");
            assert!(e.to_string().contains(expected), "{e}");
        }
        // The same through load_state_dict, in memory.
        let mut plain = common::runs::optimizer(&model(&device, 1), &Sgd::new(0.02).momentum(0.9));
        let e = plain.load_state_dict(&state).unwrap_err();
        assert!(e.to_string().contains("parameter groups"), "{e}");
    }
}
