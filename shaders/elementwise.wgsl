// Elementwise kernels: fill, accumulate, unary ops and their backward, broadcasting
// binary ops, and the strided copy behind expand and permute.
// One invocation per element; 256 per workgroup; the grid may be 2-D (x * y workgroups)
// when one dimension cannot hold them all.

const WG: u32 = 256u;

fn linear(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

// ---------------------------------------------------------------- fill, accumulate
struct Scalar {
    n: u32,
    value: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> sp: Scalar;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;

@compute @workgroup_size(256)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear(gid, nwg);
    if (i < sp.n) {
        dst[i] = sp.value;
    }
}

// dst += value * src
@compute @workgroup_size(256)
fn accumulate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear(gid, nwg);
    if (i < sp.n) {
        dst[i] = dst[i] + sp.value * src[i];
    }
}

// ---------------------------------------------------------------- unary
// Op codes (crates/gpu/src/ops/elementwise.rs keeps the same numbering).
const NEG: u32 = 0u;
const SQUARE: u32 = 1u;
const SQRT: u32 = 2u;
const EXP: u32 = 3u;
const LOG: u32 = 4u;
const POWF: u32 = 5u;
const ADD_SCALAR: u32 = 6u;
const MUL_SCALAR: u32 = 7u;
const RSUB_SCALAR: u32 = 8u;
const RDIV_SCALAR: u32 = 9u;
const RELU: u32 = 10u;
const LEAKY_RELU: u32 = 11u;
const SIGMOID: u32 = 12u;
const TANH: u32 = 13u;
const GELU: u32 = 14u;
const CLAMP: u32 = 15u;

struct Unary {
    n: u32,
    op: u32,
    a: f32,
    b: f32,
}

@group(0) @binding(0) var<uniform> up: Unary;
@group(0) @binding(1) var<storage, read> ux: array<f32>;
@group(0) @binding(2) var<storage, read_write> uy: array<f32>;
// backward: x, y, dy -> dx
@group(0) @binding(2) var<storage, read> by: array<f32>;
@group(0) @binding(3) var<storage, read> bdy: array<f32>;
@group(0) @binding(4) var<storage, read_write> bdx: array<f32>;

fn sigmoid(x: f32) -> f32 {
    if (x >= 0.0) {
        return 1.0 / (1.0 + exp(-x));
    }
    let e = exp(x);
    return e / (1.0 + e);
}

// erf by Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7).
fn erf(x: f32) -> f32 {
    let s = sign(x);
    let a = abs(x);
    let t = 1.0 / (1.0 + 0.3275911 * a);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    return s * (1.0 - poly * exp(-a * a));
}

fn unary_forward(op: u32, x: f32, a: f32, b: f32) -> f32 {
    switch op {
        case NEG: { return -x; }
        case SQUARE: { return x * x; }
        case SQRT: { return sqrt(x); }
        case EXP: { return exp(x); }
        case LOG: { return log(x); }
        case POWF: { return pow_ieee(x, a); }
        case ADD_SCALAR: { return x + a; }
        case MUL_SCALAR: { return x * a; }
        case RSUB_SCALAR: { return a - x; }
        case RDIV_SCALAR: { return a / x; }
        case RELU: { return nan_max(x, 0.0); }
        case LEAKY_RELU: { return select(a * x, x, x > 0.0); }
        case SIGMOID: { return sigmoid(x); }
        case TANH: { return tanh_f32(x); }
        case GELU: { return 0.5 * x * (1.0 + erf(x * 0.70710678)); }
        case CLAMP: { return nan_clamp(x, a, b); }
        default: { return x; }
    }
}

// PyTorch's threshold_backward: zero where x <= 0 only, so dy passes at NaN.
fn relu_derivative(x: f32, dy: f32) -> f32 {
    return select(0.0, dy, x > 0.0 || is_nan(x));
}

fn unary_derivative(op: u32, x: f32, y: f32, dy: f32, a: f32, b: f32) -> f32 {
    switch op {
        case NEG: { return -dy; }
        case SQUARE: { return 2.0 * x * dy; }
        case SQRT: { return dy / (2.0 * y); }
        case EXP: { return dy * y; }
        case LOG: { return dy / x; }
        case POWF: {
            if (a == 0.0) { return 0.0; }
            return dy * a * pow_ieee(x, a - 1.0);
        }
        case ADD_SCALAR: { return dy; }
        case MUL_SCALAR: { return dy * a; }
        case RSUB_SCALAR: { return -dy; }
        case RDIV_SCALAR: { return -dy * y / x; }
        case RELU: { return relu_derivative(x, dy); }
        case LEAKY_RELU: { return select(a * dy, dy, x > 0.0); }
        case SIGMOID: { return dy * y * (1.0 - y); }
        case TANH: { return dy * (1.0 - y * y); }
        case GELU: {
            let cdf = 0.5 * (1.0 + erf(x * 0.70710678));
            let pdf = 0.39894228 * exp(-0.5 * x * x);
            return dy * (cdf + x * pdf);
        }
        case CLAMP: { return select(0.0, dy, x >= a && x <= b); }
        default: { return dy; }
    }
}

@compute @workgroup_size(256)
fn unary(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear(gid, nwg);
    if (i < up.n) {
        uy[i] = unary_forward(up.op, ux[i], up.a, up.b);
    }
}

@compute @workgroup_size(256)
fn unary_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear(gid, nwg);
    if (i < up.n) {
        bdx[i] = unary_derivative(up.op, ux[i], by[i], bdy[i], up.a, up.b);
    }
}

// ---------------------------------------------------------------- broadcasting
// Up to 8 axes; per-axis sizes of the output and strides (0 along broadcast axes) of the
// inputs, packed 4 to a vec4 as uniform arrays require.
struct Strided {
    n: u32,
    op: u32,
    rank: u32,
    // 0: inputs have the output's shape (plain index); 1: read through strides.
    mode: u32,
    out_dims: array<vec4<u32>, 2>,
    a_strides: array<vec4<u32>, 2>,
    b_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> st: Strided;
@group(0) @binding(1) var<storage, read> sa: array<f32>;
@group(0) @binding(2) var<storage, read> sb: array<f32>;
@group(0) @binding(3) var<storage, read_write> sout: array<f32>;
// strided copy: in -> out
@group(0) @binding(2) var<storage, read_write> cout: array<f32>;

fn axis(v: array<vec4<u32>, 2>, d: u32) -> u32 {
    return v[d / 4u][d % 4u];
}

const ADD: u32 = 0u;
const SUB: u32 = 1u;
const MUL: u32 = 2u;
const DIV: u32 = 3u;
const POW: u32 = 4u;
// Backward of pow, with PyTorch's conventions at a zero base or exponent.
const POW_GRAD_BASE: u32 = 5u;
const POW_GRAD_EXPONENT: u32 = 6u;
// Comparisons, 1.0 or 0.0. NaN is tested on the bits (a driver may fold a comparison with
// a NaN): every comparison with a NaN is false, except `!=`.
const EQ: u32 = 7u;
const NE: u32 = 8u;
const LT: u32 = 9u;
const LE: u32 = 10u;
const GT: u32 = 11u;
const GE: u32 = 12u;

fn compare(op: u32, x: f32, y: f32) -> f32 {
    if (is_nan(x) || is_nan(y)) {
        return select(0.0, 1.0, op == NE);
    }
    var holds = false;
    switch op {
        case EQ: { holds = x == y; }
        case NE: { holds = x != y; }
        case LT: { holds = x < y; }
        case LE: { holds = x <= y; }
        case GT: { holds = x > y; }
        default: { holds = x >= y; }
    }
    return select(0.0, 1.0, holds);
}

fn binary_op(op: u32, x: f32, y: f32) -> f32 {
    switch op {
        case ADD: { return x + y; }
        case SUB: { return x - y; }
        case MUL: { return x * y; }
        case DIV: { return x / y; }
        case POW: { return pow_ieee(x, y); }
        case POW_GRAD_BASE: {
            if (y == 0.0) { return 0.0; }
            return y * pow_ieee(x, y - 1.0);
        }
        case POW_GRAD_EXPONENT: {
            if (x == 0.0 && y >= 0.0) { return 0.0; }
            return pow_ieee(x, y) * log(x);
        }
        case EQ, NE, LT, LE, GT, GE: { return compare(op, x, y); }
        default: { return x; }
    }
}

@compute @workgroup_size(256)
fn binary(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear(gid, nwg);
    if (i >= st.n) {
        return;
    }
    if (st.mode == 0u) {
        sout[i] = binary_op(st.op, sa[i], sb[i]);
        return;
    }
    var rest = i;
    var ia = 0u;
    var ib = 0u;
    for (var d = i32(st.rank) - 1; d >= 0; d--) {
        let size = axis(st.out_dims, u32(d));
        let c = rest % size;
        rest = rest / size;
        ia += c * axis(st.a_strides, u32(d));
        ib += c * axis(st.b_strides, u32(d));
    }
    sout[i] = binary_op(st.op, sa[ia], sb[ib]);
}

// out[i] = in[offset(i)]: broadcasting (expand) and axis reordering (permute).
@compute @workgroup_size(256)
fn strided_copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear(gid, nwg);
    if (i >= st.n) {
        return;
    }
    var rest = i;
    var ia = 0u;
    for (var d = i32(st.rank) - 1; d >= 0; d--) {
        let size = axis(st.out_dims, u32(d));
        ia += (rest % size) * axis(st.a_strides, u32(d));
        rest = rest / size;
    }
    cout[i] = sa[ia];
}
