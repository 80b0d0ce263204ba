//! The test objectives, each both as tensors (for the library) and in f64 with its
//! gradient by hand (for the reference): Rosenbrock in 2-D (two parameters of one
//! element), Rosenbrock in 6-D (one `[6, 1]` parameter, the neighbours picked out by
//! matrix products), and a small least-squares fit (a `[3, 1]` weight and a `[1]` bias).

use downhill::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Problem {
    Rosenbrock2,
    Rosenbrock6,
    LeastSquares,
    /// `e^{3x} + e^{-x}` in 1-D: so asymmetric that cubic fits miss, which drives the
    /// line search's zoom into its rarer branches.
    Exponentials,
}

const N: usize = 6;
/// Least squares: 6 samples of 3 features.
const X: [[f64; 3]; 6] = [
    [0.5, -1.0, 0.25],
    [1.5, 0.5, -0.75],
    [-0.5, 2.0, 1.0],
    [0.0, -0.5, 1.5],
    [1.0, 1.0, -1.0],
    [-1.5, 0.25, 0.5],
];
const Y: [f64; 6] = [0.3, -1.2, 2.5, 0.8, -0.4, 1.1];

impl Problem {
    /// The starting point, in PyTorch's flat order.
    pub fn start(self) -> Vec<f64> {
        match self {
            Problem::Rosenbrock2 => vec![-1.5, 2.0],
            Problem::Rosenbrock6 => vec![-1.2, 1.0, -0.5, 0.8, 1.3, -0.9],
            Problem::LeastSquares => vec![0.1, -0.2, 0.3, 0.0],
            Problem::Exponentials => vec![0.6],
        }
    }

    pub fn shapes(self) -> Vec<Vec<usize>> {
        match self {
            Problem::Rosenbrock2 => vec![vec![1], vec![1]],
            Problem::Rosenbrock6 => vec![vec![N, 1]],
            Problem::LeastSquares => vec![vec![3, 1], vec![1]],
            Problem::Exponentials => vec![vec![1]],
        }
    }

    /// Trainable parameters at `x` (f32-rounded) on `device`.
    pub fn params(self, device: &Device, x: &[f64]) -> Vec<Tensor> {
        let mut at = 0;
        self.shapes()
            .into_iter()
            .map(|shape| {
                let n: usize = shape.iter().product();
                let v = x[at..at + n].iter().map(|&v| v as f32).collect();
                at += n;
                device.tensor(v, shape).unwrap().param()
            })
            .collect()
    }

    /// The loss as a tensor.
    pub fn loss(self, p: &[Tensor]) -> downhill::Result<Tensor> {
        let device = p[0].device();
        match self {
            Problem::Rosenbrock2 => rosenbrock(&p[0], &p[1]),
            Problem::Rosenbrock6 => {
                // a = x[0..N-1], b = x[1..N] as products with selection matrices.
                let pick = |shift: usize| {
                    let mut m = vec![0.0; (N - 1) * N];
                    for i in 0..N - 1 {
                        m[i * N + i + shift] = 1.0;
                    }
                    device.tensor(m, [N - 1, N])
                };
                let a = pick(0)?.matmul(&p[0])?;
                let b = pick(1)?.matmul(&p[0])?;
                rosenbrock(&a, &b)
            }
            Problem::LeastSquares => {
                let x = device.tensor(X.iter().flatten().map(|&v| v as f32).collect(), [6, 3])?;
                let y = device.tensor(Y.iter().map(|&v| v as f32).collect(), [6, 1])?;
                (&x.matmul(&p[0])? + &p[1])?.mse(&y)
            }
            Problem::Exponentials => {
                let up = p[0].mul_scalar(3.0)?.exp()?;
                let down = p[0].neg()?.exp()?;
                (&up + &down)?.sum()
            }
        }
    }

    /// The loss and its gradient in f64.
    pub fn eval(self, x: &[f64]) -> (f64, Vec<f64>) {
        match self {
            Problem::Rosenbrock2 | Problem::Rosenbrock6 => {
                let mut f = 0.0;
                let mut g = vec![0.0; x.len()];
                for i in 0..x.len() - 1 {
                    let (a, b) = (x[i], x[i + 1]);
                    f += (1.0 - a) * (1.0 - a) + 100.0 * (b - a * a) * (b - a * a);
                    g[i] += -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
                    g[i + 1] += 200.0 * (b - a * a);
                }
                (f, g)
            }
            Problem::LeastSquares => {
                let mut f = 0.0;
                let mut g = vec![0.0; 4];
                for (row, y) in X.iter().zip(Y) {
                    let r = row[0] * x[0] + row[1] * x[1] + row[2] * x[2] + x[3] - y;
                    f += r * r / 6.0;
                    for k in 0..3 {
                        g[k] += 2.0 * r * row[k] / 6.0;
                    }
                    g[3] += 2.0 * r / 6.0;
                }
                (f, g)
            }
            Problem::Exponentials => {
                let (up, down) = ((3.0 * x[0]).exp(), (-x[0]).exp());
                (up + down, vec![3.0 * up - down])
            }
        }
    }
}

/// `Σ (1 − a)² + 100·(b − a²)²`.
fn rosenbrock(a: &Tensor, b: &Tensor) -> downhill::Result<Tensor> {
    let first = a.rsub_scalar(1.0)?.square()?;
    let second = (b - &a.square()?)?.square()?.mul_scalar(100.0)?;
    (&first + &second)?.sum()
}

/// The parameters' values in PyTorch's flat order.
pub fn flat(params: &[Tensor]) -> Vec<f32> {
    params.iter().flat_map(|p| p.to_vec().unwrap()).collect()
}
