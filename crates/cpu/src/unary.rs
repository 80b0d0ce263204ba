//! Elementwise functions of one input and their derivatives: the reference math.

use downhill_core::nan::maximum;
use downhill_core::UnaryOp;

const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// 1 / sqrt(2π)
const INV_SQRT_2PI: f32 = 0.398_942_3;

/// Sigmoid without overflow for large |x|.
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Evaluates `$body` with `$k` bound to a copy of `op` in a match arm of its own variant,
/// so that a loop in `$body` calling [`forward`]`($k, ..)` or [`backward`]`($k, ..)` is
/// compiled once per variant with the per-element `match` folded away (a call and a
/// `match` per element cost more than a ReLU's arithmetic).
macro_rules! per_op {
    ($op:expr, $k:ident => $body:expr) => {
        match $op {
            UnaryOp::Neg => {
                let $k = UnaryOp::Neg;
                $body
            }
            UnaryOp::Square => {
                let $k = UnaryOp::Square;
                $body
            }
            UnaryOp::Sqrt => {
                let $k = UnaryOp::Sqrt;
                $body
            }
            UnaryOp::Exp => {
                let $k = UnaryOp::Exp;
                $body
            }
            UnaryOp::Log => {
                let $k = UnaryOp::Log;
                $body
            }
            UnaryOp::Powf(p) => {
                let $k = UnaryOp::Powf(p);
                $body
            }
            UnaryOp::AddScalar(c) => {
                let $k = UnaryOp::AddScalar(c);
                $body
            }
            UnaryOp::MulScalar(c) => {
                let $k = UnaryOp::MulScalar(c);
                $body
            }
            UnaryOp::RsubScalar(c) => {
                let $k = UnaryOp::RsubScalar(c);
                $body
            }
            UnaryOp::RdivScalar(c) => {
                let $k = UnaryOp::RdivScalar(c);
                $body
            }
            UnaryOp::Relu => {
                let $k = UnaryOp::Relu;
                $body
            }
            UnaryOp::LeakyRelu(a) => {
                let $k = UnaryOp::LeakyRelu(a);
                $body
            }
            UnaryOp::Sigmoid => {
                let $k = UnaryOp::Sigmoid;
                $body
            }
            UnaryOp::Tanh => {
                let $k = UnaryOp::Tanh;
                $body
            }
            UnaryOp::Gelu => {
                let $k = UnaryOp::Gelu;
                $body
            }
            UnaryOp::Clamp(lo, hi) => {
                let $k = UnaryOp::Clamp(lo, hi);
                $body
            }
        }
    };
}

/// `y = op(x)` for every element of `x`, in place.
pub fn forward_in_place(op: UnaryOp, x: &mut [f32]) {
    per_op!(op, k => x.iter_mut().for_each(|v| *v = forward(k, *v)))
}

/// `y = op(x)` into a new vector (`out` has the capacity).
pub fn forward_into(op: UnaryOp, x: &[f32], out: &mut Vec<f32>) {
    per_op!(op, k => out.extend(x.iter().map(|&v| forward(k, v))))
}

/// `dx` for every element (`out` has the capacity).
pub fn backward_into(op: UnaryOp, x: &[f32], y: &[f32], dy: &[f32], out: &mut Vec<f32>) {
    let zipped = x.iter().zip(y).zip(dy);
    per_op!(op, k => out.extend(zipped.map(|((&x, &y), &dy)| backward(k, x, y, dy))))
}

/// `y = op(x)`
#[inline(always)]
pub fn forward(op: UnaryOp, x: f32) -> f32 {
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Square => x * x,
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => x.ln(),
        UnaryOp::Powf(p) => x.powf(p),
        UnaryOp::AddScalar(c) => x + c,
        UnaryOp::MulScalar(c) => x * c,
        UnaryOp::RsubScalar(c) => c - x,
        UnaryOp::RdivScalar(c) => c / x,
        UnaryOp::Relu => maximum(x, 0.0), // NaN stays NaN (f32::max would give 0)
        UnaryOp::LeakyRelu(a) => {
            if x > 0.0 {
                x
            } else {
                a * x
            }
        }
        UnaryOp::Sigmoid => sigmoid(x),
        UnaryOp::Tanh => x.tanh(),
        UnaryOp::Gelu => 0.5 * x * (1.0 + libm::erff(x * FRAC_1_SQRT_2)),
        UnaryOp::Clamp(lo, hi) => x.clamp(lo, hi), // NaN stays NaN
    }
}

/// `dx` given `x`, `y = op(x)` and `dy`.
#[inline(always)]
pub fn backward(op: UnaryOp, x: f32, y: f32, dy: f32) -> f32 {
    match op {
        UnaryOp::Neg => -dy,
        UnaryOp::Square => 2.0 * x * dy,
        UnaryOp::Sqrt => dy / (2.0 * y),
        UnaryOp::Exp => dy * y,
        UnaryOp::Log => dy / x,
        UnaryOp::Powf(p) => {
            if p == 0.0 {
                0.0
            } else {
                dy * p * x.powf(p - 1.0)
            }
        }
        UnaryOp::AddScalar(_) => dy,
        UnaryOp::MulScalar(c) => dy * c,
        UnaryOp::RsubScalar(_) => -dy,
        UnaryOp::RdivScalar(_) => -dy * y / x,
        // PyTorch's threshold_backward: zero where x <= 0 only, so dy passes at NaN.
        UnaryOp::Relu => {
            if x <= 0.0 {
                0.0
            } else {
                dy
            }
        }
        UnaryOp::LeakyRelu(a) => {
            if x > 0.0 {
                dy
            } else {
                a * dy
            }
        }
        UnaryOp::Sigmoid => dy * y * (1.0 - y),
        UnaryOp::Tanh => dy * (1.0 - y * y),
        UnaryOp::Gelu => {
            let cdf = 0.5 * (1.0 + libm::erff(x * FRAC_1_SQRT_2));
            let pdf = INV_SQRT_2PI * (-0.5 * x * x).exp();
            dy * (cdf + x * pdf)
        }
        UnaryOp::Clamp(lo, hi) => {
            if (lo..=hi).contains(&x) {
                dy
            } else {
                0.0
            }
        }
    }
}
