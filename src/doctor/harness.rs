//! The method of the parity checks, as tests/parity.rs has it: a case is a function of
//! some inputs; both devices get the same host data; the forward outputs are compared,
//! then `sum(y · R)` with fixed random weights `R` (magnitudes in [0.5, 1.5], random signs)
//! is differentiated on both devices and the gradients are compared input by input, each
//! with its tolerance ([`super::tolerance`]).

use super::tolerance::{check_close, Tol, EXACT};
use crate::random::SeededRng;
use crate::{Device, Result, Tensor};

/// One input of a case: row-major host data, its shape, and whether a gradient is taken.
#[derive(Clone, Debug)]
pub(crate) struct Input {
    pub data: Vec<f32>,
    pub shape: Vec<usize>,
    pub grad: bool,
}

impl Input {
    /// The same data as a constant (no gradient).
    pub fn constant(mut self) -> Input {
        self.grad = false;
        self
    }
}

/// Seeded host data: a new seed for every draw.
pub(crate) struct Draw(pub u64);

impl Draw {
    fn rng(&mut self) -> SeededRng {
        self.0 += 1;
        SeededRng::new(self.0)
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, shape: &[usize], lo: f32, hi: f32) -> Input {
        let mut rng = self.rng();
        let n = shape.iter().product();
        let data = (0..n).map(|_| rng.uniform(lo, hi)).collect();
        input(shape, data)
    }

    /// Random sign, magnitude uniform in `[lo, hi)`: bounded away from zero.
    pub fn signed(&mut self, shape: &[usize], lo: f32, hi: f32) -> Input {
        let mut rng = self.rng();
        let n = shape.iter().product();
        let data = (0..n)
            .map(|_| {
                let v = rng.uniform(-1.0, 1.0);
                (lo + (hi - lo) * v.abs()).copysign(v)
            })
            .collect();
        input(shape, data)
    }

    /// `n` uniform values with NaN, ±inf, ±0 and values whose square or exponential
    /// overflows (±1e30) spliced in at seeded positions (tests/parity_nonfinite.rs's set).
    pub fn with_specials(&mut self, n: usize, lo: f32, hi: f32) -> Input {
        const SPECIAL: [f32; 8] = [
            f32::NAN,
            f32::INFINITY,
            -f32::INFINITY,
            0.0,
            -0.0,
            1e30,
            -1e30,
            1.0,
        ];
        let mut x = self.uniform(&[n], lo, hi);
        let mut rng = self.rng();
        for s in SPECIAL {
            let i = ((rng.uniform(0.0, 1.0) * n as f32) as usize).min(n - 1);
            x.data[i] = s;
        }
        x
    }

    /// `rows` labels in `0..classes`, shape `[rows]`, as f32 (a constant).
    pub fn labels(&mut self, rows: usize, classes: usize) -> Input {
        let mut rng = self.rng();
        let data = (0..rows)
            .map(|_| ((rng.uniform(0.0, 1.0) * classes as f32) as usize).min(classes - 1) as f32)
            .collect();
        Input {
            data,
            shape: vec![rows],
            grad: false,
        }
    }
}

/// An input with a gradient.
pub(crate) fn input(shape: &[usize], data: Vec<f32>) -> Input {
    Input {
        data,
        shape: shape.to_vec(),
        grad: true,
    }
}

type OpFn = Box<dyn Fn(&[Tensor]) -> Result<Tensor>>;

/// A named function of some inputs, with its forward tolerance and the tolerance of each
/// input's gradient (one for all, or one per input).
pub(crate) struct Case {
    pub name: String,
    pub inputs: Vec<Input>,
    pub f: OpFn,
    pub fwd: Tol,
    pub bwd: Vec<Tol>,
}

/// A case with exact tolerances until told otherwise.
pub(crate) fn case(
    name: impl Into<String>,
    inputs: Vec<Input>,
    f: impl Fn(&[Tensor]) -> Result<Tensor> + 'static,
) -> Case {
    Case {
        name: name.into(),
        inputs,
        f: Box::new(f),
        fwd: EXACT,
        bwd: vec![EXACT],
    }
}

impl Case {
    pub fn fwd(mut self, tol: Tol) -> Case {
        self.fwd = tol;
        self
    }
    pub fn bwd(mut self, tol: Tol) -> Case {
        self.bwd = vec![tol];
        self
    }
    pub fn bwd_each(mut self, tols: Vec<Tol>) -> Case {
        self.bwd = tols;
        self
    }
}

/// A case's results on one device.
struct Outcome {
    y: Vec<f32>,
    grads: Vec<Option<Vec<f32>>>,
}

/// The upstream weights `R` for `n` outputs: magnitudes in [0.5, 1.5], random signs.
pub(crate) fn weights(n: usize) -> Vec<f32> {
    let mut rng = SeededRng::new(0x5EED);
    (0..n)
        .map(|_| {
            let v = rng.uniform(-1.0, 1.0);
            (0.5 + v.abs()).copysign(v)
        })
        .collect()
}

fn run(device: &Device, case: &Case) -> Result<Outcome> {
    let tensors = case
        .inputs
        .iter()
        .map(|i| {
            let t = device.tensor(i.data.clone(), i.shape.clone())?;
            Ok(if i.grad { t.param() } else { t })
        })
        .collect::<Result<Vec<Tensor>>>()?;
    let y = (case.f)(&tensors)?;
    // Comparisons and arg-reductions have no gradient: forward only.
    let grads = if y.requires_grad() {
        let r = device.tensor(weights(y.numel()), y.dims().to_vec())?;
        let grads = y.mul(&r)?.sum()?.backward()?;
        case.inputs
            .iter()
            .zip(&tensors)
            .map(|(i, t)| if i.grad { grads.to_vec(t) } else { Ok(None) })
            .collect::<Result<Vec<_>>>()?
    } else {
        vec![None; case.inputs.len()]
    };
    Ok(Outcome {
        y: y.to_vec()?,
        grads,
    })
}

/// The outcome of one group of checks (one line of the report).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Group {
    /// What the group covers, e.g. `unary ops`.
    pub name: String,
    /// Comparisons made.
    pub checks: usize,
    /// A report per failed comparison: the check, how many elements failed, the worst
    /// element with both values, the tolerance.
    pub failures: Vec<String>,
    /// The largest `|Δ| / allowed` among passing comparisons, and where.
    pub worst: (f64, String),
    /// Wall time of the group, in milliseconds.
    pub ms: f64,
    /// The name of every comparison made, in order.
    pub names: Vec<String>,
}

impl Group {
    pub(crate) fn new(name: &str) -> Group {
        Group {
            name: name.to_string(),
            ..Group::default()
        }
    }

    /// Compares two outputs element by element.
    pub(crate) fn close(&mut self, name: &str, cpu: &[f32], gpu: &[f32], tol: Tol) {
        self.checks += 1;
        self.names.push(name.to_string());
        match check_close(name, cpu, gpu, tol.atol, tol.rtol) {
            Ok(ratio) if ratio > self.worst.0 => self.worst = (ratio, name.to_string()),
            Ok(_) => {}
            Err(report) => self.failures.push(report),
        }
    }

    /// Records a check that could not be made (an error on one side).
    pub(crate) fn fail(&mut self, message: String) {
        self.checks += 1;
        self.failures.push(message);
    }

    /// Runs every case on both devices and compares.
    pub(crate) fn run_cases(&mut self, cpu: &Device, gpu: &Device, cases: &[Case]) {
        for case in cases {
            let reference = match run(cpu, case) {
                Ok(r) => r,
                Err(e) => {
                    self.fail(format!("{}: the CPU reference failed: {e}", case.name));
                    continue;
                }
            };
            let out = match run(gpu, case) {
                Ok(r) => r,
                Err(e) => {
                    self.fail(format!("{}: {e}", case.name));
                    continue;
                }
            };
            self.close(
                &format!("{} forward", case.name),
                &reference.y,
                &out.y,
                case.fwd,
            );
            for (i, (c, g)) in reference.grads.iter().zip(&out.grads).enumerate() {
                let tol = case.bwd[if case.bwd.len() == 1 { 0 } else { i }];
                match (c, g) {
                    (Some(c), Some(g)) => {
                        self.close(&format!("{} d/d input {i}", case.name), c, g, tol)
                    }
                    (None, None) => {}
                    _ => self.fail(format!(
                        "{}: input {i} has a gradient on one device only",
                        case.name
                    )),
                }
            }
        }
    }
}
