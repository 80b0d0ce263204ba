// Adamax over the flat parameter buffer (vec4). torch.optim.Adamax:
// g += wd·p; m = lerp(m, g, 1 − β1); u = max(β2·u, |g| + eps); p −= clr · m / u,
// clr = lr / (1 − β1^t).

// Bits of `flags`, as the rule struct's consts in crates/core/src/optim/adamax.rs.
const MAXIMIZE: u32 = 2u; // negate the gradient first

struct Adamax {
    n4: u32,
    // the bits above
    flags: u32,
    clr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> h: Adamax;
@group(0) @binding(1) var<storage, read_write> params: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> grads: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> exp_avg: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> exp_inf: array<vec4<f32>>;

fn lerp4(a: vec4<f32>, b: vec4<f32>, w: f32) -> vec4<f32> {
    if (w < 0.5) {
        return a + w * (b - a);
    }
    return b - (b - a) * (1.0 - w);
}

@compute @workgroup_size(256)
fn adamax(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= h.n4) {
        return;
    }
    let p = params[i];
    var g = grads[i];
    if ((h.flags & MAXIMIZE) != 0u) {
        g = -g;
    }
    if (h.weight_decay != 0.0) {
        g += h.weight_decay * p;
    }
    let m = lerp4(exp_avg[i], g, 1.0 - h.beta1);
    exp_avg[i] = m;
    let u = nan_max4(exp_inf[i] * h.beta2, abs(g) + h.eps); // torch.maximum: NaN wins
    exp_inf[i] = u;
    params[i] = p - h.clr * (m / u);
}
