// Adan over the flat parameter buffer (vec4); bias corrections and step sizes come from
// the host. Xie et al. 2022 (arXiv:2208.06677), as sail-sg/Adan's _single_tensor_adan:
// d = g + neg_pre_grad (neg_pre_grad = −g at the first step); m = β1·m + (1 − β1)·g;
// diff = β2·diff + (1 − β2)·d; u = β2·d + g; n = β3·n + (1 − β3)·u²;
// denom = √n / √(1 − β3^t) + eps; no_prox: p *= 1 − lr·wd;
// p −= step_size·m/denom; p −= step_size_diff·diff/denom; else p /= 1 + lr·wd;
// neg_pre_grad = −g.

// Bits of `flags`, as the rule struct's consts in crates/core/src/optim/adan.rs.
const NO_PROX: u32 = 1u; // multiplicative decay first instead of the proximal division
const FIRST_STEP: u32 = 4u; // the previous gradient is this one

struct Adan {
    n4: u32,
    // the bits above
    flags: u32,
    beta1: f32,
    beta2: f32,
    beta3: f32,
    eps: f32,
    step_size: f32,
    step_size_diff: f32,
    bias_correction3_sqrt: f32,
    decay_factor: f32,
    prox_divisor: f32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> h: Adan;
@group(0) @binding(1) var<storage, read_write> params: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> grads: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> exp_avg: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> exp_avg_sq: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> exp_avg_diff: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> neg_pre_grad: array<vec4<f32>>;

@compute @workgroup_size(256)
fn adan(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= h.n4) {
        return;
    }
    let g = grads[i];
    var neg = neg_pre_grad[i];
    if ((h.flags & FIRST_STEP) != 0u) {
        neg = -g;
    }
    let d = neg + g;
    let m = exp_avg[i] * h.beta1 + (1.0 - h.beta1) * g;
    exp_avg[i] = m;
    let diff = exp_avg_diff[i] * h.beta2 + (1.0 - h.beta2) * d;
    exp_avg_diff[i] = diff;
    let u = d * h.beta2 + g;
    let n = exp_avg_sq[i] * h.beta3 + (1.0 - h.beta3) * u * u;
    exp_avg_sq[i] = n;
    let denom = sqrt(n) / h.bias_correction3_sqrt + h.eps;
    var p = params[i];
    if ((h.flags & NO_PROX) != 0u) {
        p = p * h.decay_factor;
    }
    p = p + -h.step_size * (m / denom);
    p = p + -h.step_size_diff * (diff / denom);
    if ((h.flags & NO_PROX) == 0u) {
        p = p / h.prox_divisor;
    }
    params[i] = p;
    neg_pre_grad[i] = -g;
}
