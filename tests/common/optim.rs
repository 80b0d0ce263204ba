//! The harness of the per-optimizer test files (tests/radam.rs, tests/rprop.rs,
//! tests/asgd.rs, tests/adan.rs): the quadratic problem an f64 reference follows step by
//! step and the comparison loop, and the linear problem of the CPU-vs-GPU parity runs
//! (the checks every optimizer passes alike are in `optim_checks.rs`). Each file keeps
//! its reference, its cases and its tolerances.

use downhill::prelude::*;

/// The reference problem's parameter shapes: a single element, 7, and 3x5.
pub const SHAPES: [&[usize]; 3] = [&[1], &[7], &[3, 5]];

/// The reference problem's number of elements (a reference's state buffers' length).
pub fn elements() -> usize {
    SHAPES.iter().map(|s| s.iter().product::<usize>()).sum()
}

/// Three parameters with `loss = Σ sum(c ⊙ p²)/2 + sum(d ⊙ p)`, so `∇ = c ⊙ p + d`, with
/// `c ∈ [0.5, 1.5)` and `d = sign(p)·[0.5, 1)` (as tests/lion.rs); the host copies let a
/// reference recompute the gradient from its own parameters.
pub struct Problem {
    pub params: Vec<Tensor>,
    c: Vec<Tensor>,
    d: Vec<Tensor>,
    pub p0: Vec<f64>,
    c_host: Vec<f64>,
    d_host: Vec<f64>,
    pub sizes: Vec<usize>,
}

impl Problem {
    /// The problem drawn from `seed`, on the CPU.
    pub fn new(seed: u64) -> downhill::Result<Problem> {
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
            pr.p0.extend(pv.iter().map(|&x| f64::from(x)));
            pr.c_host.extend(c.to_vec()?.iter().map(|&x| f64::from(x)));
            pr.d_host.extend(dv.iter().map(|&x| f64::from(x)));
            pr.sizes.push(pv.len());
            pr.d.push(device.tensor(dv, shape)?);
            pr.c.push(c);
            pr.params.push(p.param());
        }
        Ok(pr)
    }

    /// The loss of the library's parameters.
    pub fn loss(&self) -> downhill::Result<Tensor> {
        let mut total: Option<Tensor> = None;
        for k in 0..SHAPES.len() {
            let p = &self.params[k];
            let quad = p.square()?.mul(&self.c[k])?.sum()?.mul_scalar(0.5)?;
            let term = quad.add(&p.mul(&self.d[k])?.sum()?)?;
            total = Some(match total {
                None => term,
                Some(t) => t.add(&term)?,
            });
        }
        Ok(total.expect("parameters"))
    }

    /// The gradient at the reference's parameters `p`, in f64.
    pub fn grad(&self, p: &[f64]) -> Vec<f64> {
        (0..p.len())
            .map(|i| self.c_host[i] * p[i] + self.d_host[i])
            .collect()
    }
}

/// What [`against_reference`] compares and returns.
pub struct ReferenceRun {
    /// The reference's final parameters, then each state buffer, concatenated.
    pub end: Vec<f64>,
    /// The largest `|lib − ref| / (atol + rtol·|ref|)` seen (at most 1 passes).
    pub worst: f64,
}

/// Runs `config` on [`Problem::new`]`(seed)` for `steps` steps beside `step` (the
/// reference: step number from 1, its parameters, its state buffers, the gradient at its
/// parameters), comparing every parameter and every element of the state buffers named
/// `state` (starting at `init`) after every step with `|lib − ref| ≤ atol + rtol·|ref|`.
/// Failures, a wrong name or state list and a run that barely moves (< 5e-3) are pushed
/// to `failures`.
#[allow(clippy::too_many_arguments)]
pub fn against_reference(
    label: &str,
    config: &dyn OptimizerConfig,
    (name, state): (&str, &[&str]),
    init: Vec<Vec<f64>>,
    (seed, steps): (u64, u64),
    (atol, rtol): (f64, f64),
    mut step: impl FnMut(u64, &mut [f64], &mut [Vec<f64>], &[f64]),
    failures: &mut Vec<String>,
) -> downhill::Result<ReferenceRun> {
    let pr = Problem::new(seed)?;
    let refs: Vec<&Tensor> = pr.params.iter().collect();
    let mut opt = Optimizer::new(config.boxed_clone(), &refs)?;
    if opt.name() != name || opt.state_names() != state {
        failures.push(format!(
            "{label}: name {:?}, state {:?}",
            opt.name(),
            opt.state_names()
        ));
    }
    let mut p = pr.p0.clone();
    let mut buffers = init;
    let mut worst = 0.0f64;
    for t in 1..=steps {
        opt.step(&pr.loss()?.backward()?)?;
        let g = pr.grad(&p);
        step(t, &mut p, &mut buffers, &g);
        let got_state = (0..state.len())
            .map(|k| opt.state_to_vec(k))
            .collect::<downhill::Result<Vec<_>>>()?;
        let mut offset = 0;
        for (k, (param, seg)) in pr.params.iter().zip(opt.param_set().segments()).enumerate() {
            let got_p = param.to_vec()?;
            for i in 0..pr.sizes[k] {
                let j = offset + i;
                let mut pairs = vec![("p", got_p[i], p[j])];
                for (b, name) in state.iter().enumerate() {
                    pairs.push((name, got_state[b][seg.offset + i], buffers[b][j]));
                }
                for (what, got, want) in pairs {
                    let r = (f64::from(got) - want).abs() / (atol + rtol * want.abs());
                    worst = worst.max(r);
                    if r.is_nan() || r > 1.0 {
                        failures.push(format!(
                            "{label}: step {t}, parameter {k} index {i}: {what} downhill \
                             {got:.9e}, reference {want:.9e}"
                        ));
                    }
                }
            }
            offset += pr.sizes[k];
        }
    }
    let moved = p
        .iter()
        .zip(&pr.p0)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    if moved < 5e-3 {
        failures.push(format!("{label}: parameters moved only {moved:e}"));
    }
    eprintln!("{label}: worst error/tolerance {worst:.3}, moved {moved:.3e}");
    let mut end = p;
    end.extend(buffers.concat());
    Ok(ReferenceRun { end, worst })
}

/// The largest `|a − b|` of two end states.
pub fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Steps of a parity run.
pub const PARITY_STEPS: usize = 50;
/// Flat segments padded to 64: a single element, non-multiples of 4 and 256.
pub const PARITY_SHAPES: [&[usize]; 5] = [&[3], &[7, 5], &[1], &[65], &[13, 11]];

/// Seeded uniform values in `[lo, hi)`.
pub fn seeded(shape: &[usize], lo: f32, hi: f32, seed: u64) -> Vec<f32> {
    Tensor::rand_uniform(&Device::cpu(), shape, lo, hi, seed)
        .and_then(|t| t.to_vec())
        .expect("random values")
}

/// The parity runs' initial parameters and per-step gradients (each in `[-1, 1)`).
pub fn parity_inputs() -> (Vec<Vec<f32>>, Vec<Vec<Vec<f32>>>) {
    let init = PARITY_SHAPES
        .iter()
        .enumerate()
        .map(|(i, s)| seeded(s, -1.0, 1.0, 3000 + i as u64))
        .collect();
    let pushes = (0..PARITY_STEPS)
        .map(|t| {
            PARITY_SHAPES
                .iter()
                .enumerate()
                .map(|(i, s)| seeded(s, -1.0, 1.0, 10_000 + (t * 16 + i) as u64))
                .collect()
        })
        .collect();
    (init, pushes)
}

/// What a parity run leaves: every parameter, every state buffer, and the largest finite
/// change of any parameter in one step.
pub struct End {
    pub params: Vec<Vec<f32>>,
    pub state: Vec<Vec<f32>>,
    pub max_step: f64,
}

impl End {
    /// The largest finite |parameter|.
    pub fn p_max(&self) -> f64 {
        self.params
            .iter()
            .flatten()
            .filter(|v| v.is_finite())
            .fold(0.0f64, |m, &v| m.max(f64::from(v).abs()))
    }

    /// Every parameter and state value.
    pub fn values(&self) -> impl Iterator<Item = &f32> {
        self.params.iter().chain(&self.state).flatten()
    }
}

/// `pushes.len()` steps of `loss = Σ sum(p ⊙ c_t)` on `device` (gradient exactly `c_t` on
/// both devices, so only the update kernels differ).
pub fn optimize(
    device: &Device,
    config: &dyn OptimizerConfig,
    init: &[Vec<f32>],
    pushes: &[Vec<Vec<f32>>],
) -> downhill::Result<End> {
    let params = init
        .iter()
        .zip(PARITY_SHAPES)
        .map(|(v, s)| Ok(device.tensor(v.clone(), s)?.param()))
        .collect::<downhill::Result<Vec<Tensor>>>()?;
    let refs: Vec<&Tensor> = params.iter().collect();
    let mut opt = Optimizer::new(config.boxed_clone(), &refs)?;
    let mut before: Vec<Vec<f32>> = init.to_vec();
    let mut max_step = 0.0f64;
    for push in pushes {
        let mut loss: Option<Tensor> = None;
        for ((p, c), s) in params.iter().zip(push).zip(PARITY_SHAPES) {
            let term = p.mul(&device.tensor(c.clone(), s)?)?.sum()?;
            loss = Some(match loss {
                None => term,
                Some(l) => l.add(&term)?,
            });
        }
        opt.step(&loss.expect("parameters").backward()?)?;
        let now = params
            .iter()
            .map(Tensor::to_vec)
            .collect::<downhill::Result<Vec<_>>>()?;
        for (a, b) in now.iter().flatten().zip(before.iter().flatten()) {
            let d = f64::from(*a) - f64::from(*b);
            if d.is_finite() {
                max_step = max_step.max(d.abs());
            }
        }
        before = now;
    }
    let state = (0..opt.state_names().len())
        .map(|k| opt.state_to_vec(k))
        .collect::<downhill::Result<_>>()?;
    Ok(End {
        params: before,
        state,
        max_step,
    })
}

/// The bits of `v`.
pub fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}
