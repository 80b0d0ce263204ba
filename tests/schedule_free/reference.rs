//! The f64 reference loop (see the crate docs) against both optimizers, 12 steps, every
//! option; then the eval/train swap against the reference and bit for bit against
//! torch.lerp in f32.

use downhill::prelude::*;

const STEPS: u64 = 12;
const SEED: u64 = 20_240_524;
const SHAPES: [&[usize]; 3] = [&[1], &[7], &[3, 5]];

/// One reference optimizer: the hyperparameters (f32 values widened, as the library
/// stores them) and the per-group carried values.
#[derive(Clone, Debug)]
pub struct Reference {
    pub adam: bool,
    pub lr: f64,
    pub beta: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub warmup_steps: f64,
    pub r: f64,
    pub weight_lr_power: f64,
    pub inner_momentum: f64,
    pub k: u64,
    pub lr_max: f64,
    pub weight_sum: f64,
}

impl Reference {
    pub fn adamw(c: &AdamWScheduleFree) -> Reference {
        Reference {
            adam: true,
            lr: c.lr.into(),
            beta: c.betas.0.into(),
            beta2: c.betas.1.into(),
            eps: c.eps.into(),
            weight_decay: c.weight_decay.into(),
            warmup_steps: c.warmup_steps.into(),
            r: c.r.into(),
            weight_lr_power: c.weight_lr_power.into(),
            inner_momentum: c.inner_momentum.into(),
            k: 0,
            lr_max: -1.0,
            weight_sum: 0.0,
        }
    }
    pub fn sgd(c: &SgdScheduleFree) -> Reference {
        Reference {
            adam: false,
            lr: c.lr.into(),
            beta: c.momentum.into(),
            beta2: 0.0,
            eps: 0.0,
            weight_decay: c.weight_decay.into(),
            warmup_steps: c.warmup_steps.into(),
            r: c.r.into(),
            weight_lr_power: c.weight_lr_power.into(),
            inner_momentum: 0.0,
            k: 0,
            lr_max: -1.0,
            weight_sum: 0.0,
        }
    }

    /// One step over every element: `y` the parameters, `z`, `v` (exp_avg_sq), `m`
    /// (exp_avg), `g` the gradient at `y`.
    pub fn step(&mut self, y: &mut [f64], z: &mut [f64], v: &mut [f64], m: &mut [f64], g: &[f64]) {
        let k = self.k as f64;
        let sched = if k < self.warmup_steps {
            (k + 1.0) / self.warmup_steps
        } else {
            1.0
        };
        let bc2 = 1.0 - self.beta2.powf(k + 1.0);
        let bc1 = 1.0 - self.inner_momentum.powf(k + 1.0);
        let lr = self.lr * sched;
        self.lr_max = if lr > self.lr_max { lr } else { self.lr_max };
        let weight = (k + 1.0).powf(self.r) * self.lr_max.powf(self.weight_lr_power);
        self.weight_sum += weight;
        let ckp1 = if self.weight_sum == 0.0 {
            0.0
        } else {
            weight / self.weight_sum
        };
        if self.k == 0 {
            z.copy_from_slice(y);
        }
        for i in 0..y.len() {
            let mut u = g[i];
            if self.adam {
                v[i] = v[i] * self.beta2 + (1.0 - self.beta2) * g[i] * g[i];
                let denom = (v[i] / bc2).sqrt() + self.eps;
                u = if self.inner_momentum != 0.0 {
                    m[i] = m[i] * self.inner_momentum + (1.0 - self.inner_momentum) * g[i];
                    m[i] / bc1 / denom
                } else {
                    g[i] / denom
                };
            }
            u += self.weight_decay * y[i];
            y[i] += ckp1 * (z[i] - y[i]);
            y[i] += lr * (self.beta * (1.0 - ckp1) - 1.0) * u;
            z[i] -= lr * u;
        }
        self.k += 1;
    }

    /// `optimizer.eval()`: `x = lerp(y, z, 1 − 1/β)`.
    pub fn eval(&self, y: &[f64], z: &[f64]) -> Vec<f64> {
        let w = 1.0 - 1.0 / self.beta;
        y.iter().zip(z).map(|(y, z)| y + w * (z - y)).collect()
    }
}

pub struct Problem {
    pub params: Vec<Tensor>,
    c: Vec<Tensor>,
    d: Vec<Tensor>,
    pub p0: Vec<f64>,
    c_host: Vec<f64>,
    d_host: Vec<f64>,
}

pub fn problem() -> anyhow::Result<Problem> {
    let device = Device::cpu();
    let mut pr = Problem {
        params: vec![],
        c: vec![],
        d: vec![],
        p0: vec![],
        c_host: vec![],
        d_host: vec![],
    };
    for (k, &shape) in SHAPES.iter().enumerate() {
        let s = SEED + 10 * k as u64;
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
        pr.d.push(device.tensor(dv, shape)?);
        pr.c.push(c);
        pr.params.push(p.param());
    }
    Ok(pr)
}

impl Problem {
    pub fn loss(&self) -> anyhow::Result<Tensor> {
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

    pub fn grad(&self, p: &[f64]) -> Vec<f64> {
        (0..p.len())
            .map(|i| self.c_host[i] * p[i] + self.d_host[i])
            .collect()
    }

    /// Every parameter, flat in order.
    pub fn values(&self) -> anyhow::Result<Vec<f32>> {
        let mut all = vec![];
        for p in &self.params {
            all.extend(p.to_vec()?);
        }
        Ok(all)
    }
}

/// State buffer `name` of `opt`, flat in the parameters' order (padding dropped).
pub fn state(opt: &Optimizer, name: &str) -> anyhow::Result<Vec<f32>> {
    let k = opt
        .state_names()
        .iter()
        .position(|n| *n == name)
        .ok_or_else(|| anyhow::anyhow!("no state {name}"))?;
    let flat = opt.state_to_vec(k)?;
    let mut all = vec![];
    for seg in opt.param_set().segments() {
        all.extend_from_slice(&flat[seg.offset..seg.offset + seg.len]);
    }
    Ok(all)
}

fn within(got: f32, want: f64) -> bool {
    (f64::from(got) - want).abs() <= 2e-6 + 2e-5 * want.abs()
}

/// The worst `|lib − ref| / allowed` of `got` against `want`, failures recorded.
fn compare(label: &str, what: &str, got: &[f32], want: &[f64], failures: &mut Vec<String>) -> f64 {
    let mut worst = 0.0f64;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        worst = worst.max((f64::from(g) - w).abs() / (2e-6 + 2e-5 * w.abs()));
        if !within(g, w) {
            failures.push(format!(
                "{label}: {what}[{i}]: downhill {g:.9e}, reference {w:.9e}"
            ));
        }
    }
    worst
}

/// Runs `config` for `STEPS` steps beside `reference`, comparing `y`, `z` (and
/// `exp_avg_sq`, `exp_avg`) after every step, then `x` after `eval()` and `y` after
/// `train()`. Returns the reference's final `(y, z)`.
pub fn run(
    label: &str,
    config: &dyn OptimizerConfig,
    mut reference: Reference,
    failures: &mut Vec<String>,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let pr = problem()?;
    let refs: Vec<&Tensor> = pr.params.iter().collect();
    let mut opt = Optimizer::new(config.boxed_clone(), &refs)?;
    let mut y = pr.p0.clone();
    let n = y.len();
    let (mut z, mut v, mut m) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let mut worst = 0.0f64;
    for step in 1..=STEPS {
        if label.contains("lr drop") && step == 7 {
            // A schedule lowers the rate after 6 steps: lr_max keeps the old one.
            let lower = opt.lr() / 4.0;
            opt.set_lr(lower)?;
            reference.lr = f64::from(lower);
        }
        opt.step(&pr.loss()?.backward()?)?;
        let g = pr.grad(&y);
        reference.step(&mut y, &mut z, &mut v, &mut m, &g);
        let at = format!("step {step}");
        worst = worst.max(compare(
            label,
            &format!("{at} y"),
            &pr.values()?,
            &y,
            failures,
        ));
        worst = worst.max(compare(
            label,
            &format!("{at} z"),
            &state(&opt, "z")?,
            &z,
            failures,
        ));
        if reference.adam {
            let got = state(&opt, "exp_avg_sq")?;
            worst = worst.max(compare(
                label,
                &format!("{at} exp_avg_sq"),
                &got,
                &v,
                failures,
            ));
        }
        if reference.inner_momentum != 0.0 {
            let got = state(&opt, "exp_avg")?;
            worst = worst.max(compare(label, &format!("{at} exp_avg"), &got, &m, failures));
        }
        let ctx = &opt.step_contexts()[0];
        if (ctx.step, ctx.lr_max, ctx.weight_sum) != (step, reference.lr_max, reference.weight_sum)
        {
            failures.push(format!(
                "{label}: step {step}: context {ctx:?}, reference lr_max {} weight_sum {}",
                reference.lr_max, reference.weight_sum
            ));
        }
    }
    opt.eval()?;
    let x = reference.eval(&y, &z);
    worst = worst.max(compare(label, "x after eval", &pr.values()?, &x, failures));
    opt.train()?;
    worst = worst.max(compare(label, "y after train", &pr.values()?, &y, failures));
    let moved = y
        .iter()
        .zip(&pr.p0)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    if moved < 1e-3 {
        failures.push(format!("{label}: parameters moved only {moved:e}"));
    }
    eprintln!("{label}: worst |Δ|/allowed {worst:.3}, moved {moved:.3e}");
    Ok((y, z))
}

/// Each option must change the end state well beyond the tolerance.
fn differs(
    label: &str,
    a: &(Vec<f64>, Vec<f64>),
    b: &(Vec<f64>, Vec<f64>),
    failures: &mut Vec<String>,
) {
    let diff =
        a.0.iter()
            .zip(&b.0)
            .chain(a.1.iter().zip(&b.1))
            .map(|(x, y)| (x - y).abs());
    let diff = diff.fold(0.0, f64::max);
    if diff < 1e-3 {
        failures.push(format!("{label}: ends within {diff:e} of the base case"));
    }
}

#[test]
fn adamw_schedule_free_matches_the_reference_over_12_steps_for_every_option() -> anyhow::Result<()>
{
    let mut failures = vec![];
    let d = AdamWScheduleFree::default();
    assert_eq!(
        (
            d.lr,
            d.betas,
            d.eps,
            d.weight_decay,
            d.warmup_steps,
            d.r,
            d.weight_lr_power
        ),
        (0.0025, (0.9, 0.999), 1e-8, 0.0, 0.0, 0.0, 2.0)
    );
    assert_eq!(d.inner_momentum, 0.0);
    run("AdamW defaults", &d, Reference::adamw(&d), &mut failures)?;
    let base = AdamWScheduleFree::new(0.05);
    let end = run(
        "AdamW lr 0.05",
        &base,
        Reference::adamw(&base),
        &mut failures,
    )?;
    let cases: Vec<(&str, AdamWScheduleFree)> = vec![
        // β1 0.5: the eval weight 1 − 1/β1 = −1 takes lerp's other branch.
        ("betas (0.5, 0.9)", base.clone().betas(0.5, 0.9)),
        ("betas (0.95, 0.5)", base.clone().betas(0.95, 0.5)),
        ("eps 0.1", base.clone().eps(0.1)),
        ("weight_decay 0.5", base.clone().weight_decay(0.5)),
        ("warmup_steps 5", base.clone().warmup_steps(5)),
        ("r 2", base.clone().r(2.0)),
        (
            "warmup 5, weight_lr_power 0",
            base.clone().warmup_steps(5).weight_lr_power(0.0),
        ),
        ("inner_momentum 0.9", base.clone().inner_momentum(0.9)),
        ("lr drop after warmup 4", base.clone().warmup_steps(4)),
        (
            "every option",
            base.clone()
                .betas(0.6, 0.95)
                .eps(1e-3)
                .weight_decay(0.2)
                .warmup_steps(3)
                .r(1.0)
                .weight_lr_power(1.0)
                .inner_momentum(0.5),
        ),
    ];
    for (label, config) in &cases {
        let got = run(label, config, Reference::adamw(config), &mut failures)?;
        differs(label, &got, &end, &mut failures);
    }
    // The warmup's power alone changes the averaging weights (without warmup lr_max is
    // constant, so its power cancels in ckp1).
    let warm = base.clone().warmup_steps(5);
    let a = run(
        "warmup 5 again",
        &warm,
        Reference::adamw(&warm),
        &mut failures,
    )?;
    let p0 = warm.clone().weight_lr_power(0.0);
    let b = run(
        "warmup 5 power 0",
        &p0,
        Reference::adamw(&p0),
        &mut failures,
    )?;
    differs("weight_lr_power under warmup", &a, &b, &mut failures);
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    Ok(())
}

#[test]
fn sgd_schedule_free_matches_the_reference_over_12_steps_for_every_option() -> anyhow::Result<()> {
    let mut failures = vec![];
    let d = SgdScheduleFree::new(0.1);
    assert_eq!(
        (
            d.momentum,
            d.weight_decay,
            d.warmup_steps,
            d.r,
            d.weight_lr_power
        ),
        (0.9, 0.0, 0.0, 0.0, 2.0)
    );
    let end = run("SGD lr 0.1", &d, Reference::sgd(&d), &mut failures)?;
    let cases: Vec<(&str, SgdScheduleFree)> = vec![
        ("momentum 0.5", d.clone().momentum(0.5)),
        ("momentum 0.3", d.clone().momentum(0.3)),
        ("weight_decay 0.5", d.clone().weight_decay(0.5)),
        ("warmup_steps 4", d.clone().warmup_steps(4)),
        ("r 1.5", d.clone().r(1.5)),
        ("lr drop", d.clone()),
        (
            "warmup 4, weight_lr_power 0",
            d.clone().warmup_steps(4).weight_lr_power(0.0),
        ),
        (
            "every option",
            d.clone()
                .momentum(0.7)
                .weight_decay(0.3)
                .warmup_steps(6)
                .r(0.5)
                .weight_lr_power(3.0),
        ),
    ];
    for (label, config) in &cases {
        let got = run(label, config, Reference::sgd(config), &mut failures)?;
        differs(label, &got, &end, &mut failures);
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    Ok(())
}

/// torch.lerp's scalar kernel in f32.
fn torch_lerp(a: f32, b: f32, w: f32) -> f32 {
    if w.abs() < 0.5 {
        a + w * (b - a)
    } else {
        b - (b - a) * (1.0 - w)
    }
}

/// eval() and train() give exactly torch.lerp's f32 values with the reference's weights
/// (`1 − 1/β` and `1 − β` in f64, rounded to f32), are idempotent, leave a parameter never
/// stepped alone, refuse a step in between, and do nothing for an optimizer without an
/// evaluation point.
#[test]
fn the_swap_is_the_references_lerp_bit_for_bit() -> anyhow::Result<()> {
    for beta in [0.9f32, 0.5, 0.3] {
        let configs: Vec<Box<dyn OptimizerConfig>> = vec![
            Box::new(AdamWScheduleFree::new(0.05).betas(beta, 0.999)),
            Box::new(SgdScheduleFree::new(0.1).momentum(beta)),
        ];
        for config in configs {
            let pr = problem()?;
            let device = Device::cpu();
            let idle = device.tensor(vec![0.25, -2.0, 3.0], [3])?.param(); // never in the loss
            let mut refs: Vec<&Tensor> = pr.params.iter().collect();
            refs.push(&idle);
            let mut opt = Optimizer::new(config.boxed_clone(), &refs)?;
            assert!(opt.has_evaluation_point() && opt.is_training());
            for _ in 0..5 {
                opt.step(&pr.loss()?.backward()?)?;
            }
            let y = pr.values()?;
            let z = state(&opt, "z")?;
            let w_eval = (1.0 - 1.0 / f64::from(beta)) as f32;
            let w_train = (1.0 - f64::from(beta)) as f32;
            opt.eval()?;
            assert!(!opt.is_training());
            let x: Vec<f32> = y
                .iter()
                .zip(&z)
                .map(|(&y, &z)| torch_lerp(y, z, w_eval))
                .collect();
            assert_eq!(bits(&pr.values()?), bits(&x), "{config:?} β {beta}: x");
            assert_ne!(bits(&x), bits(&y), "x must differ from y");
            assert_eq!(idle.to_vec()?, vec![0.25, -2.0, 3.0], "never stepped: no z");
            opt.eval()?; // idempotent
            assert_eq!(bits(&pr.values()?), bits(&x));
            let grads = pr.loss()?.backward()?;
            assert!(matches!(opt.step(&grads), Err(downhill::Error::Config(_))));
            assert_eq!(
                bits(&pr.values()?),
                bits(&x),
                "a refused step changes nothing"
            );
            opt.train()?;
            opt.train()?; // idempotent
            assert!(opt.is_training());
            let back: Vec<f32> = x
                .iter()
                .zip(&z)
                .map(|(&x, &z)| torch_lerp(x, z, w_train))
                .collect();
            assert_eq!(bits(&pr.values()?), bits(&back), "{config:?} β {beta}: y");
            opt.step(&pr.loss()?.backward()?)?;
        }
    }
    // No evaluation point: eval and train change nothing and steps go on.
    let pr = problem()?;
    let refs: Vec<&Tensor> = pr.params.iter().collect();
    let mut adam = Adam::new(0.1).build(&refs)?;
    adam.step(&pr.loss()?.backward()?)?;
    let before = pr.values()?;
    adam.eval()?;
    assert!(adam.is_training() && !adam.has_evaluation_point());
    assert_eq!(bits(&pr.values()?), bits(&before));
    adam.step(&pr.loss()?.backward()?)?;
    Ok(())
}

pub fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}
