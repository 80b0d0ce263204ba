//! The runs of `examples/surfaces.rs`, included by `#[path]` in that example and in its
//! test (`tests/surfaces.rs`), so both run the same code: every optimizer from the same
//! start on each 2-D test surface of `downhill::surfaces`, on the CPU, recording the
//! path and the loss after every step.

#![allow(dead_code)] // each includer uses what it needs

use downhill::prelude::*;
use downhill::surfaces::Surface;

/// A run counts as converged once the loss is within this of the surface's minimum.
pub const TOLERANCE: f64 = 1e-6;

/// One optimizer: its name and a learning rate per surface.
pub struct Entry {
    /// The name in the table and the legends.
    pub name: &'static str,
    /// Builds the configuration at a learning rate.
    make: fn(f32) -> Box<dyn OptimizerConfig>,
    /// The learning rate on each surface, in the order of `downhill::surfaces::all()`:
    /// rosenbrock, beale, himmelblau, saddle, ill_conditioned, six_hump_camel.
    rates: [f32; 6],
}

/// L-BFGS's entry (stepped with a closure, one iteration per step), not an [`Entry`].
pub const LBFGS: &str = "L-BFGS";

/// Every optimizer compared, one line each. The rates were picked by hand from a few
/// runs per surface: about the largest that does not diverge for SGD (below 2/λ_max of
/// the Hessian along the way), the momentum methods at a tenth of it, the adaptive ones
/// at a step of 1e-2 to 1e-1 in parameter units. AdamW keeps PyTorch's weight decay
/// 1e-2, which moves its minimum away from the surface's.
#[rustfmt::skip]
pub fn entries() -> Vec<Entry> {
    fn sgd(lr: f32) -> Box<dyn OptimizerConfig> { Box::new(Sgd::new(lr)) }
    fn momentum(lr: f32) -> Box<dyn OptimizerConfig> { Box::new(Sgd::new(lr).momentum(0.9)) }
    fn nesterov(lr: f32) -> Box<dyn OptimizerConfig> { Box::new(Sgd::new(lr).momentum(0.9).nesterov(true)) }
    fn adagrad(lr: f32) -> Box<dyn OptimizerConfig> { Box::new(Adagrad::new(lr)) }
    fn rmsprop(lr: f32) -> Box<dyn OptimizerConfig> { Box::new(RmsProp::new(lr)) }
    fn adam(lr: f32) -> Box<dyn OptimizerConfig> { Box::new(Adam::new(lr)) }
    fn adamw(lr: f32) -> Box<dyn OptimizerConfig> { Box::new(AdamW::new(lr)) }
    fn nadam(lr: f32) -> Box<dyn OptimizerConfig> { Box::new(NAdam::new(lr)) }
    fn lion(lr: f32) -> Box<dyn OptimizerConfig> { Box::new(Lion::new(lr)) }
    vec![
        //                                            rosen  beale  himm   saddle ill    camel
        Entry { name: "SGD", make: sgd,              rates: [1e-3, 1e-2, 1e-2, 1e-2, 1.5e-2, 1e-2] },
        Entry { name: "SGD momentum 0.9", make: momentum, rates: [1e-4, 1e-3, 1e-3, 1e-3, 1.5e-3, 1e-3] },
        Entry { name: "Nesterov 0.9", make: nesterov, rates: [1e-4, 1e-3, 1e-3, 1e-3, 1.5e-3, 1e-3] },
        Entry { name: "Adagrad", make: adagrad,      rates: [0.5, 0.5, 0.5, 0.1, 0.5, 0.1] },
        Entry { name: "RMSprop", make: rmsprop,      rates: [1e-2, 1e-2, 1e-2, 1e-2, 1e-2, 1e-2] },
        Entry { name: "Adam", make: adam,            rates: [2e-2, 2e-2, 5e-2, 1e-2, 5e-2, 2e-2] },
        Entry { name: "AdamW", make: adamw,          rates: [2e-2, 2e-2, 5e-2, 1e-2, 5e-2, 2e-2] },
        Entry { name: "NAdam", make: nadam,          rates: [2e-2, 2e-2, 5e-2, 1e-2, 5e-2, 2e-2] },
        Entry { name: "Lion", make: lion,            rates: [3e-3, 3e-3, 1e-2, 3e-3, 1e-2, 3e-3] },
    ]
}

impl Entry {
    /// Its learning rate on the surface at `index` in `downhill::surfaces::all()`.
    pub fn lr(&self, index: usize) -> f32 {
        self.rates.get(index).copied().unwrap_or(self.rates[0])
    }
}

/// What one optimizer did on one surface.
#[derive(Clone, Debug)]
pub struct Run {
    /// The optimizer's name.
    pub optimizer: &'static str,
    /// Its learning rate.
    pub lr: f32,
    /// The point after each step, the start first.
    pub path: Vec<(f64, f64)>,
    /// The loss (the surface's `f64` value) at each point of `path`.
    pub losses: Vec<f64>,
    /// The first step after which the loss was within [`TOLERANCE`] of the minimum.
    pub reached: Option<usize>,
    /// For the saddle: the first step after which the run had escaped.
    pub escaped: Option<usize>,
    /// Whether the point turned NaN or infinite.
    pub diverged: bool,
}

impl Run {
    fn new(optimizer: &'static str, lr: f32) -> Run {
        Run {
            optimizer,
            lr,
            path: Vec::new(),
            losses: Vec::new(),
            reached: None,
            escaped: None,
            diverged: false,
        }
    }

    /// Records the point after `step` steps; false once the run should stop (diverged or,
    /// on the saddle, escaped).
    fn record(&mut self, surface: &dyn Surface, step: usize, x: f64, y: f64) -> bool {
        let loss = surface.value(x, y);
        if !(x.is_finite() && y.is_finite() && loss.is_finite()) {
            self.diverged = true;
            return false;
        }
        self.path.push((x, y));
        self.losses.push(loss);
        if self.reached.is_none() && surface.gap(x, y).is_some_and(|g| g <= TOLERANCE) {
            self.reached = Some(step);
        }
        if surface.escaped(x, y) {
            self.escaped = Some(step);
            return false;
        }
        true
    }

    /// The loss after the last step (NaN when diverged).
    pub fn final_loss(&self) -> f64 {
        match self.losses.last() {
            Some(&l) if !self.diverged => l,
            _ => f64::NAN,
        }
    }
}

fn point(device: &Device, surface: &dyn Surface) -> downhill::Result<(Tensor, Tensor)> {
    let (sx, sy) = surface.start();
    Ok((
        device.scalar(sx as f32)?.param(),
        device.scalar(sy as f32)?.param(),
    ))
}

/// `entry` for at most `steps` steps on the surface at `index` of `surfaces::all()`.
pub fn run(
    entry: &Entry,
    surface: &dyn Surface,
    index: usize,
    steps: usize,
) -> downhill::Result<Run> {
    let device = Device::cpu();
    let (x, y) = point(&device, surface)?;
    let lr = entry.lr(index);
    let mut opt = Optimizer::new((entry.make)(lr), &[&x, &y])?;
    let mut run = Run::new(entry.name, lr);
    let (sx, sy) = surface.start();
    run.record(surface, 0, sx, sy);
    for step in 1..=steps {
        let grads = surface.loss(&x, &y)?.backward()?;
        opt.step(&grads)?;
        if !run.record(surface, step, x.item()? as f64, y.item()? as f64) {
            break;
        }
    }
    Ok(run)
}

/// L-BFGS (strong Wolfe, history 10, PyTorch's lr 1) for at most `steps` iterations: one
/// closure step of `max_iter` 1 per recorded point. It stops early when its own
/// tolerances say it has converged (the point no longer moves).
pub fn run_lbfgs(surface: &dyn Surface, steps: usize) -> downhill::Result<Run> {
    let device = Device::cpu();
    let (x, y) = point(&device, surface)?;
    let config = Lbfgs::new(1.0)
        .max_iter(1)
        .history_size(10)
        .line_search_fn(LineSearch::StrongWolfe);
    let mut opt = config.build(&[&x, &y])?;
    let mut run = Run::new(LBFGS, 1.0);
    let (sx, sy) = surface.start();
    run.record(surface, 0, sx, sy);
    for step in 1..=steps {
        opt.step(|| surface.loss(&x, &y))?;
        let p = (x.item()? as f64, y.item()? as f64);
        if !run.record(surface, step, p.0, p.1) {
            break;
        }
        let n = run.path.len();
        if n >= 3 && run.path[n - 1] == run.path[n - 2] && run.path[n - 2] == run.path[n - 3] {
            break; // converged: L-BFGS's tolerances stop it moving
        }
    }
    Ok(run)
}

/// Every entry (and L-BFGS when `lbfgs`) on the surface at `index` of `surfaces::all()`.
pub fn run_all(
    entries: &[Entry],
    surface: &dyn Surface,
    index: usize,
    steps: usize,
    lbfgs: bool,
) -> downhill::Result<Vec<Run>> {
    let mut runs = Vec::new();
    for entry in entries {
        runs.push(run(entry, surface, index, steps)?);
    }
    if lbfgs {
        runs.push(run_lbfgs(surface, steps)?);
    }
    Ok(runs)
}

/// The table's header (Markdown).
pub fn table_header(steps: usize) -> String {
    format!(
        "| surface | optimizer | lr | final loss | steps to within {TOLERANCE:e} of the minimum \
         (of {steps}) | escaped saddle |\n|---|---|---|---|---|---|\n"
    )
}

/// One surface's rows of the table (Markdown).
pub fn table_rows(surface: &dyn Surface, runs: &[Run]) -> String {
    let mut out = String::new();
    let saddle = surface.escape_radius().is_some();
    for r in runs {
        let reached = r.reached.map_or("—".to_string(), |s| s.to_string());
        let escaped = match (saddle, r.escaped) {
            (false, _) => "n/a".to_string(),
            (true, Some(s)) => format!("yes (step {s})"),
            (true, None) => "no".to_string(),
        };
        let loss = if r.diverged {
            "diverged".to_string()
        } else {
            format!("{:.3e}", r.final_loss())
        };
        out += &format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            surface.name(),
            r.optimizer,
            r.lr,
            loss,
            reached,
            escaped
        );
    }
    out
}
