//! Pins every optimizer's update rule against PyTorch's `torch.optim` algorithms.
//!
//! The reference below is written in this file, in f64, from PyTorch's documented
//! algorithms and its single-tensor (`foreach=False`) code paths (where the two differ,
//! the code wins, because that is what PyTorch computes; see `Torch::step`). It does NOT
//! call `downhill::optim::flat`, which is the code under test.
//!
//! Set-up shared by the rule tests: three parameters of awkward sizes (1, 7 and 3x5, so
//! the flat buffer has padding between segments), seeded random values, and the loss
//!
//! ```text
//! loss = Σ_k  sum(c_k ⊙ p_k²) / 2 + sum(d_k ⊙ p_k)        so   ∇loss = c ⊙ p + d
//! ```
//!
//! with `c ∈ [0.5, 1.5)` and `d = sign(p) · [0.5, 1.0)`. The gradient changes every step,
//! the library gets it from its own autodiff (`square`, `mul`, `sum`, `backward`), and the
//! reference recomputes it from its own parameter values. Because `c > 0` and `d` has the
//! sign of `p`, every initial gradient component has `|g| ≥ 0.5`: the normalising
//! optimizers (Adagrad, RMSprop, Adam...) are never evaluated at a near-zero first
//! gradient, where `g / |g|` would turn f32 rounding into large differences.
//!
//! Hyperparameters: the library stores them as f32, so the reference uses the same
//! f32-rounded numbers widened to f64 (`f64::from(0.999f32)`), not the decimal literal;
//! otherwise `1 - β2` alone would differ by 1.3e-5 relative.
//!
//! Tolerance (`TOL`, used by every rule test unless a case says otherwise): an element
//! passes when `|downhill - reference| <= atol + rtol · |reference|` with rtol 1e-5 and
//! atol 1e-6. Why: the library computes each step in f32, about 15 roundings per element
//! per step (3 in the autodiff gradient, the rest in the rule), each at most 2^-24 ≈ 6e-8
//! relative. An update only adds error of order ulp(|p|) + k·ulp(|Δp|), and the problem
//! is contracting (SGD multiplies the error by |1 - lr·c| < 1) or at most mildly expanding
//! (maximize: ≤ 1.15× per step), so after 10 steps the relative error is ≲ 10 · 2 · 6e-8
//! ≈ 1.2e-6 (measured: the `worst` figure each case prints under `--nocapture` is at
//! most 0.22 of the bound, high-lr cases included). rtol 1e-5 leaves a margin of ~5x;
//! atol 1e-6 covers components passing near 0, where a relative bound means nothing and
//! the absolute error is ~ulp(1) ≈ 1.2e-7. The same tolerance holds for the high-lr
//! cases, which need no looser one: their updates are larger but so are the values.
//! Every step 1..=10 is compared, not just steps 1 and 10.

use downhill::prelude::*;
use downhill::Error;

const STEPS: u64 = 10;
const SEED: u64 = 20_240_601;
/// Parameter shapes: a single value, an odd vector, and a matrix (15 elements).
const SHAPES: [&[usize]; 3] = [&[1], &[7], &[3, 5]];
const ALL: [bool; 3] = [true, true, true];

#[derive(Clone, Copy, Debug)]
struct Tol {
    rtol: f64,
    atol: f64,
}

/// See the module documentation for the derivation.
const TOL: Tol = Tol {
    rtol: 1e-5,
    atol: 1e-6,
};

fn f(x: f32) -> f64 {
    f64::from(x)
}

// ---------------------------------------------------------------------------------------
// The PyTorch reference, in f64. Each struct's `Default` is PyTorch's constructor default.
// ---------------------------------------------------------------------------------------

/// `torch.optim.SGD`.
#[derive(Clone, Copy, Debug)]
struct TorchSgd {
    lr: f32,
    momentum: f32,
    dampening: f32,
    nesterov: bool,
    weight_decay: f32,
    maximize: bool,
}

impl Default for TorchSgd {
    fn default() -> Self {
        TorchSgd {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            maximize: false,
        }
    }
}

/// `torch.optim.Adagrad`.
#[derive(Clone, Copy, Debug)]
struct TorchAdagrad {
    lr: f32,
    lr_decay: f32,
    weight_decay: f32,
    initial_accumulator_value: f32,
    eps: f32,
    maximize: bool,
}

impl Default for TorchAdagrad {
    fn default() -> Self {
        TorchAdagrad {
            lr: 1e-2,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
            maximize: false,
        }
    }
}

/// `torch.optim.RMSprop`.
#[derive(Clone, Copy, Debug)]
struct TorchRmsProp {
    lr: f32,
    alpha: f32,
    eps: f32,
    weight_decay: f32,
    momentum: f32,
    centered: bool,
    maximize: bool,
}

impl Default for TorchRmsProp {
    fn default() -> Self {
        TorchRmsProp {
            lr: 1e-2,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
            maximize: false,
        }
    }
}

/// `torch.optim.Adadelta`.
#[derive(Clone, Copy, Debug)]
struct TorchAdadelta {
    lr: f32,
    rho: f32,
    eps: f32,
    weight_decay: f32,
    maximize: bool,
}

impl Default for TorchAdadelta {
    fn default() -> Self {
        TorchAdadelta {
            lr: 1.0,
            rho: 0.9,
            eps: 1e-6,
            weight_decay: 0.0,
            maximize: false,
        }
    }
}

/// `torch.optim.Adam`; with `decoupled` it is `torch.optim.AdamW` (whose default
/// weight_decay is 1e-2, see `TorchAdam::adamw`).
#[derive(Clone, Copy, Debug)]
struct TorchAdam {
    lr: f32,
    betas: (f32, f32),
    eps: f32,
    weight_decay: f32,
    amsgrad: bool,
    maximize: bool,
    decoupled: bool,
}

impl Default for TorchAdam {
    fn default() -> Self {
        TorchAdam {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
            maximize: false,
            decoupled: false,
        }
    }
}

impl TorchAdam {
    /// `torch.optim.AdamW(lr=lr)`: lr 1e-3 default, betas (0.9, 0.999), eps 1e-8,
    /// weight_decay 1e-2, amsgrad false.
    fn adamw(lr: f32) -> Self {
        TorchAdam {
            lr,
            weight_decay: 1e-2,
            decoupled: true,
            ..TorchAdam::default()
        }
    }
}

/// `torch.optim.Adamax`.
#[derive(Clone, Copy, Debug)]
struct TorchAdamax {
    lr: f32,
    betas: (f32, f32),
    eps: f32,
    weight_decay: f32,
    maximize: bool,
}

impl Default for TorchAdamax {
    fn default() -> Self {
        TorchAdamax {
            lr: 2e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            maximize: false,
        }
    }
}

/// `torch.optim.NAdam`.
#[derive(Clone, Copy, Debug)]
struct TorchNAdam {
    lr: f32,
    betas: (f32, f32),
    eps: f32,
    weight_decay: f32,
    momentum_decay: f32,
    decoupled_weight_decay: bool,
    maximize: bool,
}

impl Default for TorchNAdam {
    fn default() -> Self {
        TorchNAdam {
            lr: 2e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            momentum_decay: 4e-3,
            decoupled_weight_decay: false,
            maximize: false,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Torch {
    Sgd(TorchSgd),
    Adagrad(TorchAdagrad),
    RmsProp(TorchRmsProp),
    Adadelta(TorchAdadelta),
    Adam(TorchAdam),
    Adamax(TorchAdamax),
    NAdam(TorchNAdam),
}

/// Per-element optimizer state of the reference, named per optimizer in `Torch::step`.
struct RefState {
    /// Steps taken (PyTorch's `state['step']`).
    t: u64,
    bufs: [Vec<f64>; 3],
    /// NAdam's `mu_product`.
    mu_product: f64,
}

/// `clip_grad_norm_` / `clip_grad_value_` over all gradients together.
fn torch_clip(g: &mut [f64], clip: GradClip) {
    match clip {
        GradClip::Norm(max_norm) => {
            let total_norm = g.iter().map(|x| x * x).sum::<f64>().sqrt();
            let clip_coef = f(max_norm) / (total_norm + 1e-6);
            let clamped = clip_coef.min(1.0);
            g.iter_mut().for_each(|x| *x *= clamped);
        }
        GradClip::Value(v) => g.iter_mut().for_each(|x| *x = x.clamp(-f(v), f(v))),
    }
}

impl Torch {
    /// PyTorch's class name, which `Optimizer::name` reports too.
    fn name(&self) -> &'static str {
        match self {
            Torch::Sgd(_) => "SGD",
            Torch::Adagrad(_) => "Adagrad",
            Torch::RmsProp(_) => "RMSprop",
            Torch::Adadelta(_) => "Adadelta",
            Torch::Adam(a) if a.decoupled => "AdamW",
            Torch::Adam(_) => "Adam",
            Torch::Adamax(_) => "Adamax",
            Torch::NAdam(_) => "NAdam",
        }
    }

    fn init_state(&self, n: usize) -> RefState {
        // Adagrad: state_sum = full_like(p, initial_accumulator_value); the rest start at 0.
        let first = match self {
            Torch::Adagrad(a) => f(a.initial_accumulator_value),
            _ => 0.0,
        };
        RefState {
            t: 0,
            bufs: [vec![first; n], vec![0.0; n], vec![0.0; n]],
            mu_product: 1.0,
        }
    }

    /// One `optimizer.step()` over all elements. `maximize` negates the gradient first and
    /// weight decay is added to the negated gradient, as in PyTorch's code
    /// (`grad = grad if not maximize else -grad; grad = grad.add(param, alpha=wd)`); the
    /// SGD pseudo-code in PyTorch's docs applies `maximize` at the end instead, which only
    /// differs with weight decay, and the code is what PyTorch runs.
    fn step(&self, st: &mut RefState, p: &mut [f64], grad: &[f64]) {
        st.t += 1;
        let t = st.t;
        let signed = |g: f64, maximize: bool| if maximize { -g } else { g };
        match *self {
            Torch::Sgd(o) => {
                let (lr, mu, tau, wd) = (f(o.lr), f(o.momentum), f(o.dampening), f(o.weight_decay));
                let b = &mut st.bufs[0];
                for i in 0..p.len() {
                    let mut g = signed(grad[i], o.maximize);
                    if wd != 0.0 {
                        g += wd * p[i];
                    }
                    if mu != 0.0 {
                        // First step: the buffer is a copy of the gradient (no dampening).
                        b[i] = if t == 1 {
                            g
                        } else {
                            mu * b[i] + (1.0 - tau) * g
                        };
                        g = if o.nesterov { g + mu * b[i] } else { b[i] };
                    }
                    p[i] -= lr * g;
                }
            }
            Torch::Adagrad(o) => {
                let (lr, wd, eps) = (f(o.lr), f(o.weight_decay), f(o.eps));
                let clr = lr / (1.0 + (t as f64 - 1.0) * f(o.lr_decay));
                let sum = &mut st.bufs[0];
                for i in 0..p.len() {
                    let mut g = signed(grad[i], o.maximize);
                    if wd != 0.0 {
                        g += wd * p[i];
                    }
                    sum[i] += g * g;
                    p[i] -= clr * g / (sum[i].sqrt() + eps);
                }
            }
            Torch::RmsProp(o) => {
                let (lr, alpha, eps, wd, mu) = (
                    f(o.lr),
                    f(o.alpha),
                    f(o.eps),
                    f(o.weight_decay),
                    f(o.momentum),
                );
                let [square_avg, grad_avg, buf] = &mut st.bufs;
                for i in 0..p.len() {
                    let mut g = signed(grad[i], o.maximize);
                    if wd != 0.0 {
                        g += wd * p[i];
                    }
                    square_avg[i] = alpha * square_avg[i] + (1.0 - alpha) * g * g;
                    let mut v = square_avg[i];
                    if o.centered {
                        grad_avg[i] = alpha * grad_avg[i] + (1.0 - alpha) * g;
                        v -= grad_avg[i] * grad_avg[i];
                    }
                    let denom = v.sqrt() + eps;
                    if mu > 0.0 {
                        buf[i] = mu * buf[i] + g / denom;
                        p[i] -= lr * buf[i];
                    } else {
                        p[i] -= lr * g / denom;
                    }
                }
            }
            Torch::Adadelta(o) => {
                let (lr, rho, eps, wd) = (f(o.lr), f(o.rho), f(o.eps), f(o.weight_decay));
                let [square_avg, acc_delta, _] = &mut st.bufs;
                for i in 0..p.len() {
                    let mut g = signed(grad[i], o.maximize);
                    if wd != 0.0 {
                        g += wd * p[i];
                    }
                    square_avg[i] = rho * square_avg[i] + (1.0 - rho) * g * g;
                    let delta = (acc_delta[i] + eps).sqrt() / (square_avg[i] + eps).sqrt() * g;
                    acc_delta[i] = rho * acc_delta[i] + (1.0 - rho) * delta * delta;
                    p[i] -= lr * delta;
                }
            }
            Torch::Adam(o) => {
                let (lr, b1, b2, eps, wd) = (
                    f(o.lr),
                    f(o.betas.0),
                    f(o.betas.1),
                    f(o.eps),
                    f(o.weight_decay),
                );
                let bc1 = 1.0 - b1.powi(t as i32);
                let bc2 = 1.0 - b2.powi(t as i32);
                let [m, v, v_max] = &mut st.bufs;
                for i in 0..p.len() {
                    let mut g = signed(grad[i], o.maximize);
                    if wd != 0.0 {
                        if o.decoupled {
                            p[i] *= 1.0 - lr * wd;
                        } else {
                            g += wd * p[i];
                        }
                    }
                    m[i] = b1 * m[i] + (1.0 - b1) * g;
                    v[i] = b2 * v[i] + (1.0 - b2) * g * g;
                    let m_hat = m[i] / bc1;
                    // amsgrad keeps the maximum of the raw (uncorrected) second moment and
                    // bias-corrects that: torch.maximum(max_exp_avg_sq, exp_avg_sq).
                    let v_hat = if o.amsgrad {
                        v_max[i] = v_max[i].max(v[i]);
                        v_max[i] / bc2
                    } else {
                        v[i] / bc2
                    };
                    p[i] -= lr * m_hat / (v_hat.sqrt() + eps);
                }
            }
            Torch::Adamax(o) => {
                let (lr, b1, b2, eps, wd) = (
                    f(o.lr),
                    f(o.betas.0),
                    f(o.betas.1),
                    f(o.eps),
                    f(o.weight_decay),
                );
                let bc1 = 1.0 - b1.powi(t as i32);
                let [m, u, _] = &mut st.bufs;
                for i in 0..p.len() {
                    let mut g = signed(grad[i], o.maximize);
                    if wd != 0.0 {
                        g += wd * p[i];
                    }
                    m[i] = b1 * m[i] + (1.0 - b1) * g;
                    u[i] = (b2 * u[i]).max(g.abs() + eps);
                    p[i] -= lr / bc1 * m[i] / u[i];
                }
            }
            Torch::NAdam(o) => {
                let (lr, b1, b2, eps, wd, psi) = (
                    f(o.lr),
                    f(o.betas.0),
                    f(o.betas.1),
                    f(o.eps),
                    f(o.weight_decay),
                    f(o.momentum_decay),
                );
                let mu_t = b1 * (1.0 - 0.5 * 0.96f64.powf(t as f64 * psi));
                let mu_next = b1 * (1.0 - 0.5 * 0.96f64.powf((t + 1) as f64 * psi));
                st.mu_product *= mu_t;
                let mu_product = st.mu_product;
                let bc2 = 1.0 - b2.powi(t as i32);
                let [m, v, _] = &mut st.bufs;
                for i in 0..p.len() {
                    let mut g = signed(grad[i], o.maximize);
                    if wd != 0.0 {
                        if o.decoupled_weight_decay {
                            p[i] *= 1.0 - lr * wd;
                        } else {
                            g += wd * p[i];
                        }
                    }
                    m[i] = b1 * m[i] + (1.0 - b1) * g;
                    v[i] = b2 * v[i] + (1.0 - b2) * g * g;
                    let m_hat = mu_next * m[i] / (1.0 - mu_product * mu_next)
                        + (1.0 - mu_t) * g / (1.0 - mu_product);
                    let v_hat = v[i] / bc2;
                    p[i] -= lr * m_hat / (v_hat.sqrt() + eps);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The problem, run with the library and with the reference.
// ---------------------------------------------------------------------------------------

struct Problem {
    params: Vec<Tensor>,
    c: Vec<Tensor>,
    d: Vec<Tensor>,
    /// Host copies, flat (the parameters concatenated without padding).
    p0: Vec<f64>,
    c_host: Vec<f64>,
    d_host: Vec<f64>,
    sizes: Vec<usize>,
}

fn problem(seed: u64) -> anyhow::Result<Problem> {
    let device = Device::cpu();
    let mut pr = Problem {
        params: vec![],
        c: vec![],
        d: vec![],
        p0: vec![],
        c_host: vec![],
        d_host: vec![],
        sizes: vec![],
    };
    for (k, &shape) in SHAPES.iter().enumerate() {
        let s = seed + 10 * k as u64;
        let p = Tensor::rand_uniform(&device, shape, -1.0, 1.0, s)?;
        let c = Tensor::rand_uniform(&device, shape, 0.5, 1.5, s + 1)?;
        let u = Tensor::rand_uniform(&device, shape, 0.5, 1.0, s + 2)?.to_vec()?;
        let pv = p.to_vec()?;
        let dv: Vec<f32> = pv
            .iter()
            .zip(&u)
            .map(|(&p, &u)| if p < 0.0 { -u } else { u })
            .collect();
        pr.p0.extend(pv.iter().map(|&x| f(x)));
        pr.c_host.extend(c.to_vec()?.iter().map(|&x| f(x)));
        pr.d_host.extend(dv.iter().map(|&x| f(x)));
        pr.sizes.push(pv.len());
        pr.d.push(device.tensor(dv, shape)?);
        pr.c.push(c);
        pr.params.push(p.param());
    }
    Ok(pr)
}

impl Problem {
    /// `Σ_k [sum(c_k ⊙ p_k²)/2 + sum(d_k ⊙ p_k)]` over the parameters marked in `include`.
    fn loss(&self, include: &[bool; 3]) -> anyhow::Result<Tensor> {
        let mut total: Option<Tensor> = None;
        for k in (0..3).filter(|&k| include[k]) {
            let p = &self.params[k];
            let quad = p.square()?.mul(&self.c[k])?.sum()?.mul_scalar(0.5)?;
            let term = quad.add(&p.mul(&self.d[k])?.sum()?)?;
            total = Some(match total {
                None => term,
                Some(t) => t.add(&term)?,
            });
        }
        Ok(total.expect("at least one parameter in the loss"))
    }

    /// The closed-form gradient `c ⊙ p + d` at the reference's parameters (zero for a
    /// parameter not in the loss).
    fn ref_grad(&self, p: &[f64], include: &[bool; 3]) -> Vec<f64> {
        let mut g = vec![0.0; p.len()];
        let mut off = 0;
        for (k, &n) in self.sizes.iter().enumerate() {
            if include[k] {
                for i in off..off + n {
                    g[i] = self.c_host[i] * p[i] + self.d_host[i];
                }
            }
            off += n;
        }
        g
    }

    fn offsets(&self) -> Vec<usize> {
        self.sizes
            .iter()
            .scan(0, |acc, &n| {
                let o = *acc;
                *acc += n;
                Some(o)
            })
            .collect()
    }
}

/// Compares every element of every parameter; records failures and the worst
/// `error / bound` ratio seen.
#[allow(clippy::too_many_arguments)]
fn compare(
    failures: &mut Vec<String>,
    worst: &mut f64,
    label: &str,
    step: u64,
    what: &str,
    k: usize,
    got: &[f32],
    want: &[f64],
    tol: Tol,
) {
    assert_eq!(got.len(), want.len(), "{label}: {what} {k} length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (f(g) - w).abs();
        let bound = tol.atol + tol.rtol * w.abs();
        let ratio = err / bound;
        if err.is_nan() || err > bound {
            if failures.len() < 40 {
                failures.push(format!(
                    "{label}: step {step}, {what} {k} index {i}: downhill {g:.9e} vs \
                     PyTorch reference {w:.9e} (|diff| {err:.3e} > {bound:.3e})"
                ));
            }
        } else if ratio > *worst {
            *worst = ratio;
        }
    }
}

struct Case {
    /// What is being exercised, e.g. `momentum 0.9 + dampening 0.5`.
    option: &'static str,
    config: Box<dyn OptimizerConfig>,
    torch: Torch,
    clip: Option<GradClip>,
    tol: Tol,
    /// Whether the case must end away from its table's baseline (false for the cases
    /// that pin the constructor defaults, which may coincide with the baseline).
    contrast: bool,
}

fn case(option: &'static str, config: impl OptimizerConfig + 'static, torch: Torch) -> Case {
    Case {
        option,
        config: Box::new(config),
        torch,
        clip: None,
        tol: TOL,
        contrast: true,
    }
}

impl Case {
    fn clip(mut self, clip: GradClip) -> Case {
        self.clip = Some(clip);
        self
    }

    /// A case that pins constructor defaults: exempt from the baseline contrast.
    fn defaults(mut self) -> Case {
        self.contrast = false;
        self
    }

    fn label(&self) -> String {
        format!("{} [{}]", self.torch.name(), self.option)
    }
}

/// Runs one case for `STEPS` steps with the library and the reference, comparing every
/// parameter element after every step. Returns the reference's final parameters.
fn run_case(case: &Case, failures: &mut Vec<String>) -> anyhow::Result<Vec<f64>> {
    let label = case.label();
    let pr = problem(SEED)?;
    let refs: Vec<&Tensor> = pr.params.iter().collect();
    let mut opt = Optimizer::new(case.config.boxed_clone(), &refs)?;
    if let Some(clip) = case.clip {
        opt = opt.with_clip(clip)?;
    }
    if opt.name() != case.torch.name() {
        failures.push(format!("{label}: optimizer name {:?}", opt.name()));
    }
    let mut p = pr.p0.clone();
    let mut st = case.torch.init_state(p.len());
    let offsets = pr.offsets();
    let mut worst = 0.0f64;
    let before = failures.len();
    for step in 1..=STEPS {
        let grads = pr.loss(&ALL)?.backward()?;
        opt.step(&grads)?;
        let mut g = pr.ref_grad(&p, &ALL);
        if let Some(clip) = case.clip {
            torch_clip(&mut g, clip);
        }
        case.torch.step(&mut st, &mut p, &g);
        for (k, param) in pr.params.iter().enumerate() {
            let want = &p[offsets[k]..offsets[k] + pr.sizes[k]];
            let got = param.to_vec()?;
            compare(
                failures, &mut worst, &label, step, "param", k, &got, want, case.tol,
            );
        }
    }
    // The case must actually move the parameters well beyond the tolerance.
    let moved = p
        .iter()
        .zip(&pr.p0)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    if moved < 1e-3 {
        failures.push(format!(
            "{label}: parameters moved only {moved:e}: case too weak"
        ));
    }
    eprintln!(
        "{label}: worst |diff| / bound = {worst:.3} over {STEPS} steps{}",
        if failures.len() > before {
            " (FAILED)"
        } else {
            ""
        }
    );
    Ok(p)
}

/// Runs a table whose first case is the baseline; every other case must end visibly away
/// from it in the reference (so the option under test changes the trajectory by far more
/// than the tolerance, and a library ignoring it would fail).
fn check_table(cases: Vec<Case>) -> anyhow::Result<()> {
    let mut failures = vec![];
    let mut baseline: Option<Vec<f64>> = None;
    for case in &cases {
        let end = run_case(case, &mut failures)?;
        match &baseline {
            None => baseline = Some(end),
            Some(_) if !case.contrast => {}
            Some(base) => {
                let diff = end
                    .iter()
                    .zip(base)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max);
                if diff < 1e-4 {
                    failures.push(format!(
                        "{}: ends within {diff:e} of the baseline: option has no visible effect",
                        case.label()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Update rules, one test per optimizer.
// ---------------------------------------------------------------------------------------

#[test]
fn sgd_matches_pytorch() -> anyhow::Result<()> {
    let t = |o: TorchSgd| Torch::Sgd(o);
    let d = TorchSgd::default();
    check_table(vec![
        case("plain lr 0.1", Sgd::new(0.1), t(TorchSgd { lr: 0.1, ..d })),
        case(
            "momentum 0.9",
            Sgd::new(0.1).momentum(0.9),
            t(TorchSgd {
                lr: 0.1,
                momentum: 0.9,
                ..d
            }),
        ),
        case(
            "momentum 0.9 + dampening 0.5",
            Sgd::new(0.1).momentum(0.9).dampening(0.5),
            t(TorchSgd {
                lr: 0.1,
                momentum: 0.9,
                dampening: 0.5,
                ..d
            }),
        ),
        case(
            "nesterov, momentum 0.9",
            Sgd::new(0.1).momentum(0.9).nesterov(true),
            t(TorchSgd {
                lr: 0.1,
                momentum: 0.9,
                nesterov: true,
                ..d
            }),
        ),
        case(
            "weight_decay 0.3",
            Sgd::new(0.1).weight_decay(0.3),
            t(TorchSgd {
                lr: 0.1,
                weight_decay: 0.3,
                ..d
            }),
        ),
        case(
            "weight_decay 0.3 + momentum 0.8",
            Sgd::new(0.1).weight_decay(0.3).momentum(0.8),
            t(TorchSgd {
                lr: 0.1,
                weight_decay: 0.3,
                momentum: 0.8,
                ..d
            }),
        ),
        case(
            "maximize",
            Sgd::new(0.1).maximize(true),
            t(TorchSgd {
                lr: 0.1,
                maximize: true,
                ..d
            }),
        ),
        case(
            "maximize + weight_decay 0.3 + nesterov 0.9",
            Sgd::new(0.1)
                .maximize(true)
                .weight_decay(0.3)
                .momentum(0.9)
                .nesterov(true),
            t(TorchSgd {
                lr: 0.1,
                maximize: true,
                weight_decay: 0.3,
                momentum: 0.9,
                nesterov: true,
                ..d
            }),
        ),
        case(
            "high lr 1.2 + momentum 0.5",
            Sgd::new(1.2).momentum(0.5),
            t(TorchSgd {
                lr: 1.2,
                momentum: 0.5,
                ..d
            }),
        ),
        case(
            "Gd alias, lr 0.05",
            Gd::new(0.05),
            t(TorchSgd { lr: 0.05, ..d }),
        ),
    ])
}

#[test]
fn adagrad_matches_pytorch() -> anyhow::Result<()> {
    let t = |o: TorchAdagrad| Torch::Adagrad(o);
    let d = TorchAdagrad::default();
    check_table(vec![
        case(
            "plain lr 0.1",
            Adagrad::new(0.1),
            t(TorchAdagrad { lr: 0.1, ..d }),
        ),
        case("defaults (lr 1e-2)", Adagrad::default(), t(d)).defaults(),
        case(
            "lr_decay 0.5",
            Adagrad::new(0.1).lr_decay(0.5),
            t(TorchAdagrad {
                lr: 0.1,
                lr_decay: 0.5,
                ..d
            }),
        ),
        case(
            "initial_accumulator_value 0.5",
            Adagrad::new(0.1).initial_accumulator_value(0.5),
            t(TorchAdagrad {
                lr: 0.1,
                initial_accumulator_value: 0.5,
                ..d
            }),
        ),
        case(
            "eps 0.5",
            Adagrad::new(0.1).eps(0.5),
            t(TorchAdagrad {
                lr: 0.1,
                eps: 0.5,
                ..d
            }),
        ),
        case(
            "weight_decay 0.5",
            Adagrad::new(0.1).weight_decay(0.5),
            t(TorchAdagrad {
                lr: 0.1,
                weight_decay: 0.5,
                ..d
            }),
        ),
        case(
            "maximize",
            Adagrad::new(0.1).maximize(true),
            t(TorchAdagrad {
                lr: 0.1,
                maximize: true,
                ..d
            }),
        ),
        case(
            "maximize + weight_decay 0.5 + lr_decay 0.2",
            Adagrad::new(0.1)
                .maximize(true)
                .weight_decay(0.5)
                .lr_decay(0.2),
            t(TorchAdagrad {
                lr: 0.1,
                maximize: true,
                weight_decay: 0.5,
                lr_decay: 0.2,
                ..d
            }),
        ),
        case(
            "high lr 1.0",
            Adagrad::new(1.0),
            t(TorchAdagrad { lr: 1.0, ..d }),
        ),
    ])
}

#[test]
fn rmsprop_matches_pytorch() -> anyhow::Result<()> {
    let t = |o: TorchRmsProp| Torch::RmsProp(o);
    let d = TorchRmsProp::default();
    check_table(vec![
        case(
            "plain lr 0.01",
            RmsProp::new(0.01),
            t(TorchRmsProp { lr: 0.01, ..d }),
        ),
        case("defaults (lr 1e-2)", RmsProp::default(), t(d)).defaults(),
        case(
            "alpha 0.9",
            RmsProp::new(0.01).alpha(0.9),
            t(TorchRmsProp {
                lr: 0.01,
                alpha: 0.9,
                ..d
            }),
        ),
        case(
            "eps 0.1",
            RmsProp::new(0.01).eps(0.1),
            t(TorchRmsProp {
                lr: 0.01,
                eps: 0.1,
                ..d
            }),
        ),
        case(
            "momentum 0.9",
            RmsProp::new(0.01).momentum(0.9),
            t(TorchRmsProp {
                lr: 0.01,
                momentum: 0.9,
                ..d
            }),
        ),
        case(
            "centered",
            RmsProp::new(0.01).centered(true),
            t(TorchRmsProp {
                lr: 0.01,
                centered: true,
                ..d
            }),
        ),
        case(
            "centered + momentum 0.9",
            RmsProp::new(0.01).centered(true).momentum(0.9),
            t(TorchRmsProp {
                lr: 0.01,
                centered: true,
                momentum: 0.9,
                ..d
            }),
        ),
        case(
            "weight_decay 0.5",
            RmsProp::new(0.01).weight_decay(0.5),
            t(TorchRmsProp {
                lr: 0.01,
                weight_decay: 0.5,
                ..d
            }),
        ),
        case(
            "maximize",
            RmsProp::new(0.01).maximize(true),
            t(TorchRmsProp {
                lr: 0.01,
                maximize: true,
                ..d
            }),
        ),
        case(
            "maximize + weight_decay 0.5 + centered + momentum 0.5",
            RmsProp::new(0.01)
                .maximize(true)
                .weight_decay(0.5)
                .centered(true)
                .momentum(0.5),
            t(TorchRmsProp {
                lr: 0.01,
                maximize: true,
                weight_decay: 0.5,
                centered: true,
                momentum: 0.5,
                ..d
            }),
        ),
        case(
            "high lr 0.3, alpha 0.9",
            RmsProp::new(0.3).alpha(0.9),
            t(TorchRmsProp {
                lr: 0.3,
                alpha: 0.9,
                ..d
            }),
        ),
    ])
}

#[test]
fn adadelta_matches_pytorch() -> anyhow::Result<()> {
    let t = |o: TorchAdadelta| Torch::Adadelta(o);
    let d = TorchAdadelta::default();
    check_table(vec![
        case("defaults (lr 1.0)", Adadelta::default(), t(d)).defaults(),
        case(
            "rho 0.5",
            Adadelta::new(1.0).rho(0.5),
            t(TorchAdadelta { rho: 0.5, ..d }),
        ),
        case(
            "eps 1e-3",
            Adadelta::new(1.0).eps(1e-3),
            t(TorchAdadelta { eps: 1e-3, ..d }),
        ),
        case(
            "lr 0.5",
            Adadelta::new(0.5),
            t(TorchAdadelta { lr: 0.5, ..d }),
        ),
        case(
            "weight_decay 0.5",
            Adadelta::new(1.0).weight_decay(0.5),
            t(TorchAdadelta {
                weight_decay: 0.5,
                ..d
            }),
        ),
        case(
            "maximize",
            Adadelta::new(1.0).maximize(true),
            t(TorchAdadelta {
                maximize: true,
                ..d
            }),
        ),
        case(
            "maximize + weight_decay 0.5 + rho 0.7",
            Adadelta::new(1.0).maximize(true).weight_decay(0.5).rho(0.7),
            t(TorchAdadelta {
                maximize: true,
                weight_decay: 0.5,
                rho: 0.7,
                ..d
            }),
        ),
        case(
            "high lr 50, eps 1e-4",
            Adadelta::new(50.0).eps(1e-4),
            t(TorchAdadelta {
                lr: 50.0,
                eps: 1e-4,
                ..d
            }),
        ),
    ])
}

#[test]
fn adam_matches_pytorch() -> anyhow::Result<()> {
    let t = |o: TorchAdam| Torch::Adam(o);
    let d = TorchAdam::default();
    check_table(vec![
        case(
            "plain lr 0.01",
            Adam::new(0.01),
            t(TorchAdam { lr: 0.01, ..d }),
        ),
        case("defaults (lr 1e-3)", Adam::default(), t(d)).defaults(),
        case(
            "betas (0.5, 0.9)",
            Adam::new(0.01).betas(0.5, 0.9),
            t(TorchAdam {
                lr: 0.01,
                betas: (0.5, 0.9),
                ..d
            }),
        ),
        case(
            "eps 0.1",
            Adam::new(0.01).eps(0.1),
            t(TorchAdam {
                lr: 0.01,
                eps: 0.1,
                ..d
            }),
        ),
        case(
            "weight_decay 0.5 (L2)",
            Adam::new(0.01).weight_decay(0.5),
            t(TorchAdam {
                lr: 0.01,
                weight_decay: 0.5,
                ..d
            }),
        ),
        case(
            "amsgrad, betas (0.9, 0.5), lr 0.1",
            Adam::new(0.1).amsgrad(true).betas(0.9, 0.5),
            t(TorchAdam {
                lr: 0.1,
                amsgrad: true,
                betas: (0.9, 0.5),
                ..d
            }),
        ),
        case(
            "maximize",
            Adam::new(0.01).maximize(true),
            t(TorchAdam {
                lr: 0.01,
                maximize: true,
                ..d
            }),
        ),
        case(
            "maximize + weight_decay 0.5 + amsgrad",
            Adam::new(0.01)
                .maximize(true)
                .weight_decay(0.5)
                .amsgrad(true),
            t(TorchAdam {
                lr: 0.01,
                maximize: true,
                weight_decay: 0.5,
                amsgrad: true,
                ..d
            }),
        ),
        case("high lr 0.5", Adam::new(0.5), t(TorchAdam { lr: 0.5, ..d })),
    ])
}

#[test]
fn adamw_matches_pytorch() -> anyhow::Result<()> {
    let t = |o: TorchAdam| Torch::Adam(o);
    let w = TorchAdam::adamw;
    check_table(vec![
        case(
            "AdamW::new(0.01), default weight_decay 1e-2",
            AdamW::new(0.01),
            t(w(0.01)),
        ),
        case("AdamW defaults (lr 1e-3)", AdamW::new(1e-3), t(w(1e-3))).defaults(),
        case(
            "weight_decay 0.5 (decoupled)",
            AdamW::new(0.01).weight_decay(0.5),
            t(TorchAdam {
                weight_decay: 0.5,
                ..w(0.01)
            }),
        ),
        case(
            "Adam::decoupled_weight_decay(true) + weight_decay 0.5",
            Adam::new(0.01)
                .decoupled_weight_decay(true)
                .weight_decay(0.5),
            t(TorchAdam {
                weight_decay: 0.5,
                ..w(0.01)
            }),
        ),
        case(
            "amsgrad, betas (0.9, 0.5), lr 0.1, weight_decay 0.5",
            AdamW::new(0.1)
                .amsgrad(true)
                .betas(0.9, 0.5)
                .weight_decay(0.5),
            t(TorchAdam {
                amsgrad: true,
                betas: (0.9, 0.5),
                weight_decay: 0.5,
                ..w(0.1)
            }),
        ),
        case(
            "maximize, weight_decay 0.5",
            AdamW::new(0.01).maximize(true).weight_decay(0.5),
            t(TorchAdam {
                maximize: true,
                weight_decay: 0.5,
                ..w(0.01)
            }),
        ),
        case(
            "high lr 0.5, weight_decay 0.5",
            AdamW::new(0.5).weight_decay(0.5),
            t(TorchAdam {
                weight_decay: 0.5,
                ..w(0.5)
            }),
        ),
    ])
}

#[test]
fn adamax_matches_pytorch() -> anyhow::Result<()> {
    let t = |o: TorchAdamax| Torch::Adamax(o);
    let d = TorchAdamax::default();
    check_table(vec![
        case(
            "plain lr 0.01",
            Adamax::new(0.01),
            t(TorchAdamax { lr: 0.01, ..d }),
        ),
        case("defaults (lr 2e-3)", Adamax::default(), t(d)).defaults(),
        case(
            "betas (0.5, 0.8)",
            Adamax::new(0.01).betas(0.5, 0.8),
            t(TorchAdamax {
                lr: 0.01,
                betas: (0.5, 0.8),
                ..d
            }),
        ),
        case(
            "eps 0.5",
            Adamax::new(0.01).eps(0.5),
            t(TorchAdamax {
                lr: 0.01,
                eps: 0.5,
                ..d
            }),
        ),
        case(
            "weight_decay 0.5",
            Adamax::new(0.01).weight_decay(0.5),
            t(TorchAdamax {
                lr: 0.01,
                weight_decay: 0.5,
                ..d
            }),
        ),
        case(
            "maximize",
            Adamax::new(0.01).maximize(true),
            t(TorchAdamax {
                lr: 0.01,
                maximize: true,
                ..d
            }),
        ),
        case(
            "maximize + weight_decay 0.5",
            Adamax::new(0.01).maximize(true).weight_decay(0.5),
            t(TorchAdamax {
                lr: 0.01,
                maximize: true,
                weight_decay: 0.5,
                ..d
            }),
        ),
        case(
            "high lr 0.5, betas (0.8, 0.7)",
            Adamax::new(0.5).betas(0.8, 0.7),
            t(TorchAdamax {
                lr: 0.5,
                betas: (0.8, 0.7),
                ..d
            }),
        ),
    ])
}

#[test]
fn nadam_matches_pytorch() -> anyhow::Result<()> {
    let t = |o: TorchNAdam| Torch::NAdam(o);
    let d = TorchNAdam::default();
    check_table(vec![
        case(
            "plain lr 0.01",
            NAdam::new(0.01),
            t(TorchNAdam { lr: 0.01, ..d }),
        ),
        case("defaults (lr 2e-3)", NAdam::default(), t(d)).defaults(),
        case(
            "momentum_decay 0.5",
            NAdam::new(0.01).momentum_decay(0.5),
            t(TorchNAdam {
                lr: 0.01,
                momentum_decay: 0.5,
                ..d
            }),
        ),
        case(
            "betas (0.5, 0.9), eps 0.1",
            NAdam::new(0.01).betas(0.5, 0.9).eps(0.1),
            t(TorchNAdam {
                lr: 0.01,
                betas: (0.5, 0.9),
                eps: 0.1,
                ..d
            }),
        ),
        case(
            "weight_decay 0.5 (L2)",
            NAdam::new(0.01).weight_decay(0.5),
            t(TorchNAdam {
                lr: 0.01,
                weight_decay: 0.5,
                ..d
            }),
        ),
        case(
            "decoupled_weight_decay, weight_decay 0.5",
            NAdam::new(0.01)
                .decoupled_weight_decay(true)
                .weight_decay(0.5),
            t(TorchNAdam {
                lr: 0.01,
                decoupled_weight_decay: true,
                weight_decay: 0.5,
                ..d
            }),
        ),
        case(
            "maximize",
            NAdam::new(0.01).maximize(true),
            t(TorchNAdam {
                lr: 0.01,
                maximize: true,
                ..d
            }),
        ),
        case(
            "maximize + decoupled weight_decay 0.5",
            NAdam::new(0.01)
                .maximize(true)
                .decoupled_weight_decay(true)
                .weight_decay(0.5),
            t(TorchNAdam {
                lr: 0.01,
                maximize: true,
                decoupled_weight_decay: true,
                weight_decay: 0.5,
                ..d
            }),
        ),
        case(
            "high lr 0.5",
            NAdam::new(0.5),
            t(TorchNAdam { lr: 0.5, ..d }),
        ),
    ])
}

// ---------------------------------------------------------------------------------------
// Gradient clipping.
// ---------------------------------------------------------------------------------------

/// `clip_grad_norm_` semantics: the global L2 norm over all parameters' gradients, scaled
/// by `max_norm / (norm + 1e-6)` capped at 1, before the optimizer (and so before weight
/// decay is added).
#[test]
fn clip_grad_norm_matches_pytorch() -> anyhow::Result<()> {
    // The global gradient norm starts above 2.4 (23 components, each |g| >= 0.5) and
    // below 12 (each |g| < 2.5), so max_norm 0.5 clips and max_norm 1e3 never does; each
    // clipped case must also end visibly away from the unclipped baseline.
    let sgd = |o: TorchSgd| Torch::Sgd(o);
    check_table(vec![
        case(
            "no clip",
            Sgd::new(0.1),
            sgd(TorchSgd {
                lr: 0.1,
                ..TorchSgd::default()
            }),
        ),
        case(
            "clip norm 0.5",
            Sgd::new(0.1),
            sgd(TorchSgd {
                lr: 0.1,
                ..TorchSgd::default()
            }),
        )
        .clip(GradClip::Norm(0.5)),
        case(
            "clip norm 0.5, momentum 0.9 + weight_decay 0.3",
            Sgd::new(0.1).momentum(0.9).weight_decay(0.3),
            sgd(TorchSgd {
                lr: 0.1,
                momentum: 0.9,
                weight_decay: 0.3,
                ..TorchSgd::default()
            }),
        )
        .clip(GradClip::Norm(0.5)),
        case(
            "clip norm 0.5, Adam lr 0.1 + weight_decay 0.5",
            Adam::new(0.1).weight_decay(0.5),
            Torch::Adam(TorchAdam {
                lr: 0.1,
                weight_decay: 0.5,
                ..TorchAdam::default()
            }),
        )
        .clip(GradClip::Norm(0.5)),
    ])?;
    // A norm far above the gradient's never clips: same as no clipping at all.
    check_table(vec![
        case(
            "no clip",
            Sgd::new(0.1),
            sgd(TorchSgd {
                lr: 0.1,
                ..TorchSgd::default()
            }),
        ),
        case(
            "clip norm 1e3 (inactive), lr 0.2",
            Sgd::new(0.2),
            sgd(TorchSgd {
                lr: 0.2,
                ..TorchSgd::default()
            }),
        )
        .clip(GradClip::Norm(1e3)),
    ])?;

    // The `+ 1e-6` in the coefficient, visible with a tiny gradient: g = (3e-6, -4e-6, 0),
    // |g| = 5e-6, max_norm 1e-6, so coef = 1e-6 / (5e-6 + 1e-6) = 1/6 (it would be 1/5
    // without the 1e-6). One SGD step with lr 1 from 0 gives p = -g/6.
    let device = Device::cpu();
    let p = device.zeros([3])?.param();
    let d = device.tensor(vec![3e-6, -4e-6, 0.0], [3])?;
    let mut opt = Sgd::new(1.0)
        .build(&[&p])?
        .with_clip(GradClip::Norm(1e-6))?;
    opt.step(&p.mul(&d)?.sum()?.backward()?)?;
    let got = p.to_vec()?;
    let want = [-3e-6 / 6.0, 4e-6 / 6.0, 0.0];
    for i in 0..3 {
        let err = (f(got[i]) - want[i]).abs();
        assert!(
            err <= 1e-5 * want[i].abs() + 1e-15,
            "clip norm 1e-6 of a 5e-6 gradient: index {i}: downhill {} vs PyTorch {} \
             (coef max_norm / (norm + 1e-6) = 1/6)",
            got[i],
            want[i]
        );
    }
    Ok(())
}

/// `clip_grad_value_` semantics: every component clamped into `[-v, v]` before the step.
#[test]
fn clip_grad_value_matches_pytorch() -> anyhow::Result<()> {
    // Gradient components start in [0.5, 2.5) in magnitude, both signs: value 1.0 clamps
    // some and leaves others.
    let sgd = |o: TorchSgd| Torch::Sgd(o);
    check_table(vec![
        case(
            "no clip",
            Sgd::new(0.1),
            sgd(TorchSgd {
                lr: 0.1,
                ..TorchSgd::default()
            }),
        ),
        case(
            "clip value 1.0",
            Sgd::new(0.1),
            sgd(TorchSgd {
                lr: 0.1,
                ..TorchSgd::default()
            }),
        )
        .clip(GradClip::Value(1.0)),
        case(
            "clip value 0.7, momentum 0.9 + weight_decay 0.3 + maximize",
            Sgd::new(0.1).momentum(0.9).weight_decay(0.3).maximize(true),
            sgd(TorchSgd {
                lr: 0.1,
                momentum: 0.9,
                weight_decay: 0.3,
                maximize: true,
                ..TorchSgd::default()
            }),
        )
        .clip(GradClip::Value(0.7)),
        case(
            "clip value 1.0, RMSprop lr 0.05 centered",
            RmsProp::new(0.05).centered(true),
            Torch::RmsProp(TorchRmsProp {
                lr: 0.05,
                centered: true,
                ..TorchRmsProp::default()
            }),
        )
        .clip(GradClip::Value(1.0)),
    ])
}

// ---------------------------------------------------------------------------------------
// State inspection.
// ---------------------------------------------------------------------------------------

/// `state_to_vec(i)` returns state buffer `i` in the flat layout (parameters at their
/// segment offsets); it must equal the reference's state.
fn check_state(
    option: &'static str,
    config: impl OptimizerConfig + 'static,
    torch: Torch,
    // (library buffer index, reference buffer index, PyTorch state name)
    map: &[(usize, usize, &str)],
    failures: &mut Vec<String>,
) -> anyhow::Result<RefState> {
    let case = case(option, config, torch);
    let label = case.label();
    let pr = problem(SEED)?;
    let refs: Vec<&Tensor> = pr.params.iter().collect();
    let mut opt = Optimizer::new(case.config.boxed_clone(), &refs)?;
    let mut p = pr.p0.clone();
    let mut st = torch.init_state(p.len());
    let offsets = pr.offsets();
    let mut worst = 0.0;
    for step in 1..=STEPS {
        opt.step(&pr.loss(&ALL)?.backward()?)?;
        let g = pr.ref_grad(&p, &ALL);
        torch.step(&mut st, &mut p, &g);
        for &(lib, r, name) in map {
            let flat = opt.state_to_vec(lib)?;
            for (k, seg) in opt.param_set().segments().iter().enumerate() {
                let want = &st.bufs[r][offsets[k]..offsets[k] + pr.sizes[k]];
                let got = &flat[seg.offset..seg.offset + seg.len];
                compare(failures, &mut worst, &label, step, name, k, got, want, TOL);
            }
        }
    }
    match opt.state_to_vec(map.len()) {
        Err(Error::Config(_)) => {}
        other => failures.push(format!(
            "{label}: state_to_vec({}) should be a Config error, got {other:?}",
            map.len()
        )),
    }
    eprintln!("{label} state: worst |diff| / bound = {worst:.3}");
    Ok(st)
}

#[test]
fn optimizer_state_matches_pytorch() -> anyhow::Result<()> {
    let mut failures = vec![];
    let st = check_state(
        "amsgrad, betas (0.9, 0.5), lr 0.1",
        Adam::new(0.1).amsgrad(true).betas(0.9, 0.5),
        Torch::Adam(TorchAdam {
            lr: 0.1,
            amsgrad: true,
            betas: (0.9, 0.5),
            ..TorchAdam::default()
        }),
        &[
            (0, 0, "exp_avg"),
            (1, 1, "exp_avg_sq"),
            (2, 2, "max_exp_avg_sq"),
        ],
        &mut failures,
    )?;
    // amsgrad must have been exercised: the running max strictly above exp_avg_sq.
    assert!(
        st.bufs[2]
            .iter()
            .zip(&st.bufs[1])
            .any(|(m, v)| *m > v * 1.01),
        "the amsgrad case never lets exp_avg_sq fall below its maximum"
    );
    check_state(
        "defaults",
        Adam::new(0.01),
        Torch::Adam(TorchAdam {
            lr: 0.01,
            ..TorchAdam::default()
        }),
        &[(0, 0, "exp_avg"), (1, 1, "exp_avg_sq")],
        &mut failures,
    )?;
    check_state(
        "momentum 0.9, dampening 0.3",
        Sgd::new(0.1).momentum(0.9).dampening(0.3),
        Torch::Sgd(TorchSgd {
            lr: 0.1,
            momentum: 0.9,
            dampening: 0.3,
            ..TorchSgd::default()
        }),
        &[(0, 0, "momentum_buffer")],
        &mut failures,
    )?;
    check_state(
        "initial_accumulator_value 0.5",
        Adagrad::new(0.1).initial_accumulator_value(0.5),
        Torch::Adagrad(TorchAdagrad {
            lr: 0.1,
            initial_accumulator_value: 0.5,
            ..TorchAdagrad::default()
        }),
        &[(0, 0, "sum")],
        &mut failures,
    )?;
    check_state(
        "centered + momentum 0.9",
        RmsProp::new(0.01).centered(true).momentum(0.9),
        Torch::RmsProp(TorchRmsProp {
            lr: 0.01,
            centered: true,
            momentum: 0.9,
            ..TorchRmsProp::default()
        }),
        &[
            (0, 0, "square_avg"),
            (1, 1, "grad_avg"),
            (2, 2, "momentum_buffer"),
        ],
        &mut failures,
    )?;
    check_state(
        "momentum 0.9 (not centered)",
        RmsProp::new(0.01).momentum(0.9),
        Torch::RmsProp(TorchRmsProp {
            lr: 0.01,
            momentum: 0.9,
            ..TorchRmsProp::default()
        }),
        &[(0, 0, "square_avg"), (1, 2, "momentum_buffer")],
        &mut failures,
    )?;
    check_state(
        "defaults",
        Adadelta::default(),
        Torch::Adadelta(TorchAdadelta::default()),
        &[(0, 0, "square_avg"), (1, 1, "acc_delta")],
        &mut failures,
    )?;
    check_state(
        "lr 0.01",
        Adamax::new(0.01),
        Torch::Adamax(TorchAdamax {
            lr: 0.01,
            ..TorchAdamax::default()
        }),
        &[(0, 0, "exp_avg"), (1, 1, "exp_inf")],
        &mut failures,
    )?;
    check_state(
        "lr 0.01",
        NAdam::new(0.01),
        Torch::NAdam(TorchNAdam {
            lr: 0.01,
            ..TorchNAdam::default()
        }),
        &[(0, 0, "exp_avg"), (1, 1, "exp_avg_sq")],
        &mut failures,
    )?;
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// A parameter missing from the gradients.
// ---------------------------------------------------------------------------------------

/// Runs `STEPS` steps where `include(step)` says which parameters are in the loss. The
/// reference follows PyTorch: a parameter whose `.grad` is None is skipped, its state and
/// its own step count untouched (so each parameter has its own reference state).
fn run_with_missing(
    case: &Case,
    include: impl Fn(u64) -> [bool; 3],
    failures: &mut Vec<String>,
) -> anyhow::Result<Problem> {
    let label = case.label();
    let pr = problem(SEED)?;
    let refs: Vec<&Tensor> = pr.params.iter().collect();
    let mut opt = Optimizer::new(case.config.boxed_clone(), &refs)?;
    let mut p = pr.p0.clone();
    let offsets = pr.offsets();
    let mut states: Vec<_> = pr.sizes.iter().map(|&n| case.torch.init_state(n)).collect();
    let mut worst = 0.0;
    for step in 1..=STEPS {
        let inc = include(step);
        let grads = pr.loss(&inc)?.backward()?;
        for (k, param) in pr.params.iter().enumerate() {
            assert_eq!(
                grads.get(param).is_some(),
                inc[k],
                "{label}: gradient of {k}"
            );
        }
        opt.step(&grads)?;
        let g = pr.ref_grad(&p, &inc);
        for (k, st) in states.iter_mut().enumerate() {
            if inc[k] {
                let range = offsets[k]..offsets[k] + pr.sizes[k];
                case.torch.step(st, &mut p[range.clone()], &g[range]);
            }
        }
        for (k, param) in pr.params.iter().enumerate() {
            let want = &p[offsets[k]..offsets[k] + pr.sizes[k]];
            compare(
                failures,
                &mut worst,
                &label,
                step,
                "param",
                k,
                &param.to_vec()?,
                want,
                case.tol,
            );
        }
    }
    Ok(pr)
}

#[test]
fn parameter_missing_from_gradients() -> anyhow::Result<()> {
    let mut failures = vec![];
    // Parameter 1 is never in the loss: PyTorch skips a parameter whose .grad is None, and
    // so does the library: it stays bit-for-bit unchanged, even with weight decay.
    let never = [
        case(
            "param 1 never in the loss",
            Sgd::new(0.1),
            Torch::Sgd(TorchSgd {
                lr: 0.1,
                ..TorchSgd::default()
            }),
        ),
        case(
            "param 1 never in the loss, momentum 0.9",
            Sgd::new(0.1).momentum(0.9),
            Torch::Sgd(TorchSgd {
                lr: 0.1,
                momentum: 0.9,
                ..TorchSgd::default()
            }),
        ),
        case(
            "param 1 never in the loss",
            Adam::new(0.1),
            Torch::Adam(TorchAdam {
                lr: 0.1,
                ..TorchAdam::default()
            }),
        ),
    ];
    let decay = case(
        "param 1 never in the loss, weight decay 0.1",
        Sgd::new(0.1).weight_decay(0.1),
        Torch::Sgd(TorchSgd {
            lr: 0.1,
            weight_decay: 0.1,
            ..TorchSgd::default()
        }),
    );
    for case in never.iter().chain([&decay]) {
        let pr = run_with_missing(case, |_| [true, false, true], &mut failures)?;
        let off = pr.sizes[0];
        let before: Vec<f32> = pr.p0[off..off + pr.sizes[1]]
            .iter()
            .map(|&x| x as f32)
            .collect();
        let after = pr.params[1].to_vec()?;
        if before != after {
            failures.push(format!(
                "{}: parameter 1 changed: {before:?} -> {after:?}",
                case.label()
            ));
        }
    }

    // Parameter 1 is in the loss for steps 1..=5 only, then again from step 8: PyTorch
    // leaves it where step 5 put it (its moments frozen), and when it returns its own step
    // count (6, not 8) drives the bias correction. SGD's momentum buffer of a parameter
    // first seen late starts as that gradient (no dampening on its first step).
    let adam = case(
        "param 1 out for steps 6-7",
        Adam::new(0.1),
        Torch::Adam(TorchAdam {
            lr: 0.1,
            ..TorchAdam::default()
        }),
    );
    run_with_missing(
        &adam,
        |step| [true, !(6..=7).contains(&step), true],
        &mut failures,
    )?;
    let sgd = case(
        "param 1 first in the loss at step 4, momentum 0.9, dampening 0.5",
        Sgd::new(0.1).momentum(0.9).dampening(0.5),
        Torch::Sgd(TorchSgd {
            lr: 0.1,
            momentum: 0.9,
            dampening: 0.5,
            ..TorchSgd::default()
        }),
    );
    run_with_missing(&sgd, |step| [true, step >= 4, true], &mut failures)?;
    let nadam = case(
        "param 0 out for step 3",
        NAdam::new(0.1),
        Torch::NAdam(TorchNAdam {
            lr: 0.1,
            ..TorchNAdam::default()
        }),
    );
    run_with_missing(&nadam, |step| [step != 3, true, true], &mut failures)?;
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Building: parameter lists and hyperparameter validation.
// ---------------------------------------------------------------------------------------

#[test]
fn building_with_no_parameters_errors() {
    let r = Sgd::new(0.1).build(&[]);
    assert!(matches!(r, Err(Error::EmptyData(_))), "Sgd: {:?}", r.err());
    let r = Adam::new(0.1).build(&[]);
    assert!(matches!(r, Err(Error::EmptyData(_))), "Adam: {:?}", r.err());
}

#[test]
fn building_with_a_parameter_twice_errors() -> anyhow::Result<()> {
    let device = Device::cpu();
    let a = Tensor::rand_uniform(&device, [7], -1.0, 1.0, 1)?.param();
    let b = Tensor::rand_uniform(&device, [3, 5], -1.0, 1.0, 2)?.param();
    let r = Adam::new(0.1).build(&[&a, &b, &a]);
    assert!(
        matches!(&r, Err(Error::Config(m)) if m.contains("twice")),
        "{:?}",
        r.err()
    );
    // A clone is the same tensor.
    let a2 = a.clone();
    let r = Sgd::new(0.1).build(&[&a, &a2]);
    assert!(matches!(r, Err(Error::Config(_))), "{:?}", r.err());
    // Distinct tensors are fine.
    assert!(Sgd::new(0.1).build(&[&a, &b]).is_ok());
    Ok(())
}

/// One build that must fail: what it is, the result, and the expected
/// `Error::Hyperparameter { name, value }` (`value` checked when given; the library
/// reports the offending value).
type Invalid = (
    String,
    downhill::Result<Optimizer>,
    &'static str,
    Option<f32>,
);

fn check_invalid(failures: &mut Vec<String>, (what, r, name, value): Invalid) {
    match r {
        Err(Error::Hyperparameter {
            name: got,
            value: v,
            ..
        }) if got == name
            && value.is_none_or(|want| v == want || (v.is_nan() && want.is_nan())) => {}
        Err(e) => failures.push(format!(
            "{what}: expected Hyperparameter {{ name: {name:?}, value: {value:?} }}, got {e:?}"
        )),
        Ok(_) => failures.push(format!(
            "{what}: expected Hyperparameter {{ name: {name:?} }}, but it built"
        )),
    }
}

fn leaf() -> Tensor {
    Device::cpu()
        .tensor(vec![0.5, -0.25, 1.0], [3])
        .expect("tensor")
        .param()
}

fn build(config: impl OptimizerConfig) -> downhill::Result<Optimizer> {
    config.build(&[&leaf()])
}

#[test]
fn invalid_hyperparameters_are_typed_errors() {
    let mut cases: Vec<Invalid> = vec![];
    let mut add = |name: &'static str, v: f32, builds: Vec<(&str, downhill::Result<Optimizer>)>| {
        for (opt, r) in builds {
            cases.push((format!("{opt} {name} {v}"), r, name, Some(v)));
        }
    };
    // Learning rate: negative, NaN, +/- infinity, for every optimizer.
    for lr in [-0.1, -1e-8, f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        #[rustfmt::skip]
        add("lr", lr, vec![
            ("SGD", build(Sgd::new(lr))),
            ("Adagrad", build(Adagrad::new(lr))),
            ("RMSprop", build(RmsProp::new(lr))),
            ("Adadelta", build(Adadelta::new(lr))),
            ("Adam", build(Adam::new(lr))),
            ("AdamW", build(AdamW::new(lr))),
            ("Adamax", build(Adamax::new(lr))),
            ("NAdam", build(NAdam::new(lr))),
        ]);
    }
    // Betas outside [0, 1) (PyTorch: "Invalid beta parameter at index 0/1").
    for b in [1.0, -0.1, 1.5, f32::NAN] {
        #[rustfmt::skip]
        add("beta1", b, vec![
            ("Adam", build(Adam::new(0.1).betas(b, 0.999))),
            ("AdamW", build(AdamW::new(0.1).betas(b, 0.999))),
            ("Adamax", build(Adamax::new(0.1).betas(b, 0.999))),
            ("NAdam", build(NAdam::new(0.1).betas(b, 0.999))),
        ]);
    }
    for b in [1.0, -0.5, f32::INFINITY] {
        #[rustfmt::skip]
        add("beta2", b, vec![
            ("Adam", build(Adam::new(0.1).betas(0.9, b))),
            ("AdamW", build(AdamW::new(0.1).betas(0.9, b))),
            ("Adamax", build(Adamax::new(0.1).betas(0.9, b))),
            ("NAdam", build(NAdam::new(0.1).betas(0.9, b))),
        ]);
    }
    // eps <= 0 (and NaN).
    for eps in [0.0, -1e-8, f32::NAN] {
        #[rustfmt::skip]
        add("eps", eps, vec![
            ("Adagrad", build(Adagrad::new(0.1).eps(eps))),
            ("RMSprop", build(RmsProp::new(0.1).eps(eps))),
            ("Adadelta", build(Adadelta::new(1.0).eps(eps))),
            ("Adam", build(Adam::new(0.1).eps(eps))),
            ("AdamW", build(AdamW::new(0.1).eps(eps))),
            ("Adamax", build(Adamax::new(0.1).eps(eps))),
            ("NAdam", build(NAdam::new(0.1).eps(eps))),
        ]);
    }
    // Negative (or NaN) weight decay.
    for wd in [-0.1, f32::NAN] {
        #[rustfmt::skip]
        add("weight_decay", wd, vec![
            ("SGD", build(Sgd::new(0.1).weight_decay(wd))),
            ("Adagrad", build(Adagrad::new(0.1).weight_decay(wd))),
            ("RMSprop", build(RmsProp::new(0.1).weight_decay(wd))),
            ("Adadelta", build(Adadelta::new(1.0).weight_decay(wd))),
            ("Adam", build(Adam::new(0.1).weight_decay(wd))),
            ("AdamW", build(AdamW::new(0.1).weight_decay(wd))),
            ("Adamax", build(Adamax::new(0.1).weight_decay(wd))),
            ("NAdam", build(NAdam::new(0.1).weight_decay(wd))),
        ]);
    }
    // Negative (or NaN) momentum.
    for m in [-0.9, f32::NAN] {
        #[rustfmt::skip]
        add("momentum", m, vec![
            ("SGD", build(Sgd::new(0.1).momentum(m))),
            ("RMSprop", build(RmsProp::new(0.1).momentum(m))),
        ]);
    }
    // The other ranges PyTorch checks.
    add(
        "lr_decay",
        -0.1,
        vec![("Adagrad", build(Adagrad::new(0.1).lr_decay(-0.1)))],
    );
    #[rustfmt::skip]
    add("initial_accumulator_value", -0.1, vec![
        ("Adagrad", build(Adagrad::new(0.1).initial_accumulator_value(-0.1))),
    ]);
    add(
        "alpha",
        -0.1,
        vec![("RMSprop", build(RmsProp::new(0.1).alpha(-0.1)))],
    );
    add(
        "rho",
        -0.1,
        vec![("Adadelta", build(Adadelta::new(1.0).rho(-0.1)))],
    );
    add(
        "rho",
        1.5,
        vec![("Adadelta", build(Adadelta::new(1.0).rho(1.5)))],
    );
    #[rustfmt::skip]
    add("momentum_decay", -0.1, vec![
        ("NAdam", build(NAdam::new(0.1).momentum_decay(-0.1))),
    ]);
    // Invalid clipping: 0, negative, NaN, infinite.
    let clipped = |c: GradClip| build(Sgd::new(0.1)).and_then(|o| o.with_clip(c));
    for v in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        add("clip norm", v, vec![("SGD", clipped(GradClip::Norm(v)))]);
        add("clip value", v, vec![("SGD", clipped(GradClip::Value(v)))]);
    }
    // Nesterov needs momentum > 0 and zero dampening (PyTorch: "Nesterov momentum
    // requires a momentum and zero dampening").
    #[rustfmt::skip]
    cases.extend([
        ("SGD nesterov without momentum".to_string(),
         build(Sgd::new(0.1).nesterov(true)), "nesterov", None),
        ("SGD nesterov with dampening 0.1".to_string(),
         build(Sgd::new(0.1).nesterov(true).momentum(0.9).dampening(0.1)), "nesterov", None),
    ]);

    let mut fails = vec![];
    for c in cases {
        check_invalid(&mut fails, c);
    }
    // set_lr is validated like the constructor, and a refused value changes nothing.
    let mut opt = build(Adam::new(0.1)).expect("valid");
    for lr in [-1.0, f32::NAN, f32::INFINITY] {
        match opt.set_lr(lr) {
            Err(Error::Hyperparameter { name: "lr", .. }) => {}
            other => fails.push(format!("set_lr({lr}): expected lr error, got {other:?}")),
        }
    }
    if opt.lr() != 0.1 {
        fails.push(format!("a refused set_lr changed lr to {}", opt.lr()));
    }
    // Edge values PyTorch accepts are accepted.
    #[rustfmt::skip]
    let accepted: Vec<(&str, downhill::Result<Optimizer>)> = vec![
        ("SGD lr 0", build(Sgd::new(0.0))),
        ("SGD dampening 1", build(Sgd::new(0.1).momentum(0.9).dampening(1.0))),
        ("Adam betas (0, 0)", build(Adam::new(0.1).betas(0.0, 0.0))),
        ("Adadelta rho 1", build(Adadelta::new(1.0).rho(1.0))),
        ("RMSprop alpha 0", build(RmsProp::new(0.1).alpha(0.0))),
        ("NAdam momentum_decay 0", build(NAdam::new(0.1).momentum_decay(0.0))),
    ];
    for (what, r) in accepted {
        if let Err(e) = r {
            fails.push(format!("{what}: valid for PyTorch but refused: {e}"));
        }
    }
    assert!(fails.is_empty(), "\n{}", fails.join("\n"));
}

// ---------------------------------------------------------------------------------------
// A figure from PyTorch itself.
// ---------------------------------------------------------------------------------------

/// `torch.optim.Adam([theta], lr=0.01)`, 100 steps of `mse_loss(theta, 3)` from
/// theta = 0, ends at 0.93755 (PyTorch's figure; the f64 reference gives 0.9375536).
#[test]
fn adam_matches_pytorch_figure() -> anyhow::Result<()> {
    const PYTORCH: f64 = 0.93755;
    let device = Device::cpu();
    let theta = device.scalar(0.0)?.param();
    let target = device.scalar(3.0)?;
    let mut opt = Adam::new(0.01).build(&[&theta])?;
    for _ in 0..100 {
        opt.step(&theta.mse(&target)?.backward()?)?;
    }
    let got = f(theta.item()?);

    let torch = Torch::Adam(TorchAdam {
        lr: 0.01,
        ..TorchAdam::default()
    });
    let mut st = torch.init_state(1);
    let mut p = [0.0];
    for _ in 0..100 {
        let g = [2.0 * (p[0] - 3.0)];
        torch.step(&mut st, &mut p, &g);
    }
    assert!(
        (p[0] - PYTORCH).abs() < 1e-4,
        "the reference itself: {} vs PyTorch {PYTORCH}",
        p[0]
    );
    assert!(
        (got - PYTORCH).abs() < 1e-4,
        "Adam lr 0.01, 100 steps of mse(theta, 3): downhill {got} vs PyTorch {PYTORCH}"
    );
    Ok(())
}
