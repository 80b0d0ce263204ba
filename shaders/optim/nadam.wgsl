// NAdam over the flat parameter buffer (vec4); μ schedule and its running product come
// from the host. torch.optim.NAdam: p *= decay_factor (decoupled); g += wd·p;
// m = lerp(m, g, 1 − β1); v = β2·v + (1 − β2)·g²; denom = √(v / (1 − β2^t)) + eps;
// p −= grad_coef · g / denom; p −= avg_coef · m / denom.

// Bits of `flags`, as the rule struct's consts in crates/core/src/optim/nadam.rs.
const MAXIMIZE: u32 = 2u; // negate the gradient first

struct NAdam {
    n4: u32,
    // the bits above
    flags: u32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    decay_factor: f32,
    bias_correction2: f32,
    grad_coef: f32,
    avg_coef: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> h: NAdam;
@group(0) @binding(1) var<storage, read_write> params: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> grads: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> exp_avg: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> exp_avg_sq: array<vec4<f32>>;

fn lerp4(a: vec4<f32>, b: vec4<f32>, w: f32) -> vec4<f32> {
    if (w < 0.5) {
        return a + w * (b - a);
    }
    return b - (b - a) * (1.0 - w);
}

@compute @workgroup_size(256)
fn nadam(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= h.n4) {
        return;
    }
    let p = params[i] * h.decay_factor;
    var g = grads[i];
    if ((h.flags & MAXIMIZE) != 0u) {
        g = -g;
    }
    if (h.weight_decay != 0.0) {
        g += h.weight_decay * p;
    }
    let m = lerp4(exp_avg[i], g, 1.0 - h.beta1);
    exp_avg[i] = m;
    let v = exp_avg_sq[i] * h.beta2 + (1.0 - h.beta2) * g * g;
    exp_avg_sq[i] = v;
    let denom = sqrt(v / h.bias_correction2) + h.eps;
    params[i] = p - h.grad_coef * (g / denom) - h.avg_coef * (m / denom);
}
