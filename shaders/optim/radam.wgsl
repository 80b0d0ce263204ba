// RAdam over the flat parameter buffer (vec4); every per-step scalar (bias corrections,
// the rectification term and whether ρ_t > 5) comes from the host. torch.optim.RAdam:
// g += wd·p (L2) or p *= decay_factor (decoupled); m = lerp(m, g, 1 − β1);
// v = β2·v + (1 − β2)·g²; u = m / (1 − β1^t) · lr; rectified: u = u · (√(1 − β2^t) /
// (√v + eps)) · rect; p −= u.

// Bits of `flags`, as the rule struct's consts in crates/core/src/optim/radam.rs.
const RECTIFIED: u32 = 1u; // ρ_t > 5: the adaptive, rectified step
const MAXIMIZE: u32 = 2u; // negate the gradient first

struct RAdam {
    n4: u32,
    // the bits above
    flags: u32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    decay_factor: f32,
    lr: f32,
    bias_correction1: f32,
    bias_correction2_sqrt: f32,
    rect: f32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> h: RAdam;
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
fn radam(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= h.n4) {
        return;
    }
    var g = grads[i];
    if ((h.flags & MAXIMIZE) != 0u) {
        g = -g;
    }
    if (h.weight_decay != 0.0) {
        g += h.weight_decay * params[i];
    }
    let p = params[i] * h.decay_factor;
    let m = lerp4(exp_avg[i], g, 1.0 - h.beta1);
    exp_avg[i] = m;
    let v = exp_avg_sq[i] * h.beta2 + (1.0 - h.beta2) * g * g;
    exp_avg_sq[i] = v;
    var update = m / h.bias_correction1 * h.lr;
    if ((h.flags & RECTIFIED) != 0u) {
        update = update * (h.bias_correction2_sqrt / (sqrt(v) + h.eps)) * h.rect;
    }
    params[i] = p - update;
}
