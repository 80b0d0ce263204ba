// NaN and infinities, shared by every kernel: crates/gpu/src/kernels.rs appends this file
// to each shader source, so any kernel may call these helpers.
//
// WGSL lets an implementation assume that no NaN or infinity occurs. Drivers use that:
// lavapipe folds `x != x` to false, and WGSL's `max`, `min` and `clamp` (and builtins built
// on them, such as `tanh` and `pow`) may return the other operand for a NaN. PyTorch
// propagates NaN through all of them, and so does every kernel here: a kernel selects by
// magnitude only through `nan_max`, `nan_min` and `nan_clamp`, tests for NaN only with
// `is_nan` (which reads the bits, where no floating-point assumption applies), and raises
// a number to a power only with `pow_ieee`. The CPU reference does the same through
// `downhill_core::nan`.

const NAN_BITS: u32 = 0x7fc00000u;
const INF_BITS: u32 = 0x7f800000u;
// −∞ (WGSL has no literal for it): the start of a running maximum.
const NEG_INF_BITS: u32 = 0xff800000u;
const ABS_MASK: u32 = 0x7fffffffu;
const SIGN_MASK: u32 = 0x80000000u;

fn nan_f32() -> f32 {
    return bitcast<f32>(NAN_BITS);
}

fn inf_f32() -> f32 {
    return bitcast<f32>(INF_BITS);
}

fn neg_inf_f32() -> f32 {
    return bitcast<f32>(NEG_INF_BITS);
}

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & ABS_MASK) > INF_BITS;
}

fn is_inf(x: f32) -> bool {
    return (bitcast<u32>(x) & ABS_MASK) == INF_BITS;
}

fn is_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & ABS_MASK) < INF_BITS;
}

fn is_nan4(v: vec4<f32>) -> vec4<bool> {
    return (bitcast<vec4<u32>>(v) & vec4<u32>(ABS_MASK)) > vec4<u32>(INF_BITS);
}

// torch.maximum / torch.minimum: NaN when either operand is NaN.
fn nan_max(a: f32, b: f32) -> f32 {
    return select(select(max(a, b), b, is_nan(b)), a, is_nan(a));
}

fn nan_min(a: f32, b: f32) -> f32 {
    return select(select(min(a, b), b, is_nan(b)), a, is_nan(a));
}

fn nan_max4(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
    return select(select(max(a, b), b, is_nan4(b)), a, is_nan4(a));
}

// torch.clamp: a NaN input stays NaN (the bounds are numbers).
fn nan_clamp(x: f32, lo: f32, hi: f32) -> f32 {
    return select(clamp(x, lo, hi), x, is_nan(x));
}

fn nan_clamp4(x: vec4<f32>, lo: vec4<f32>, hi: vec4<f32>) -> vec4<f32> {
    return select(clamp(x, lo, hi), x, is_nan4(x));
}

// tanh, NaN kept. The argument is clamped to ±15 first, where tanh is ±1 in f32: drivers
// evaluate tanh through exponentials that overflow to inf/inf for large |x|.
fn tanh_f32(x: f32) -> f32 {
    return select(tanh(clamp(x, -15.0, 15.0)), x, is_nan(x));
}

// x^y with the special values of C's pow (Rust's powf, PyTorch's pow): x^±0 = 1 and 1^y = 1
// even for NaN, otherwise NaN in means NaN out; a negative finite base needs an integer
// exponent; zeros, infinities and ±1 are decided exactly, with the sign of an odd integer
// power. WGSL's pow is only specified for x > 0 (and returns garbage elsewhere on real
// drivers), so it is only called with a finite positive base.
fn pow_ieee(x: f32, y: f32) -> f32 {
    if (y == 0.0 || x == 1.0) {
        return 1.0;
    }
    if (is_nan(x) || is_nan(y)) {
        return nan_f32();
    }
    let ax = abs(x);
    if (is_inf(y)) {
        if (ax == 1.0) {
            return 1.0; // (−1)^±inf
        }
        return select(0.0, inf_f32(), (ax > 1.0) == (y > 0.0));
    }
    let integer = fract(y) == 0.0;
    let odd = integer && fract(y * 0.5) != 0.0;
    let negative = (bitcast<u32>(x) & SIGN_MASK) != 0u;
    var magnitude: f32;
    if (ax == 0.0) {
        magnitude = select(inf_f32(), 0.0, y > 0.0);
    } else if (is_inf(ax)) {
        magnitude = select(0.0, inf_f32(), y > 0.0);
    } else if (negative && !integer) {
        return nan_f32();
    } else {
        magnitude = pow(ax, y);
    }
    return select(magnitude, -magnitude, negative && odd);
}
