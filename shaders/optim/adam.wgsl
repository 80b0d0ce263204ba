// Adam and AdamW over the flat parameter buffer (vec4); bias corrections come from the
// host. torch.optim.Adam: p *= decay_factor (AdamW); g += wd·p (Adam's L2);
// m = lerp(m, g, 1 − β1); v = β2·v + (1 − β2)·g²; amsgrad: vmax = max(vmax, v);
// p −= step_size · m / (√v̂ / √(1 − β2^t) + eps), step_size = lr / (1 − β1^t).

// Bits of `flags`, as the rule struct's consts in crates/core/src/optim/adam.rs.
const AMSGRAD: u32 = 1u; // divide by the running max of exp_avg_sq
const MAXIMIZE: u32 = 2u; // negate the gradient first

struct Adam {
    n4: u32,
    // the bits above
    flags: u32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    decay_factor: f32,
    step_size: f32,
    bias_correction2_sqrt: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> h: Adam;
@group(0) @binding(1) var<storage, read_write> params: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> grads: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> exp_avg: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> exp_avg_sq: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> max_exp_avg_sq: array<vec4<f32>>;

fn lerp4(a: vec4<f32>, b: vec4<f32>, w: f32) -> vec4<f32> {
    if (w < 0.5) {
        return a + w * (b - a);
    }
    return b - (b - a) * (1.0 - w);
}

@compute @workgroup_size(256)
fn adam(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
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
    var second = v;
    if ((h.flags & AMSGRAD) != 0u) {
        second = nan_max4(max_exp_avg_sq[i], v); // torch.maximum: NaN wins
        max_exp_avg_sq[i] = second;
    }
    let denom = sqrt(second) / h.bias_correction2_sqrt + h.eps;
    params[i] = p - h.step_size * (m / denom);
}
