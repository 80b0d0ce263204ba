// Adadelta over the flat parameter buffer (vec4). torch.optim.Adadelta:
// g += wd·p; sq = ρ·sq + (1 − ρ)·g²; δ = √(acc + eps) / √(sq + eps) · g;
// acc = ρ·acc + (1 − ρ)·δ²; p −= lr·δ.

// Bits of `flags`, as the rule struct's consts in crates/core/src/optim/adadelta.rs.
const MAXIMIZE: u32 = 2u; // negate the gradient first

struct Adadelta {
    n4: u32,
    // the bits above
    flags: u32,
    lr: f32,
    rho: f32,
    eps: f32,
    weight_decay: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> h: Adadelta;
@group(0) @binding(1) var<storage, read_write> params: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> grads: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> square_avg: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> acc_delta: array<vec4<f32>>;

@compute @workgroup_size(256)
fn adadelta(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
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
    let sq = square_avg[i] * h.rho + (1.0 - h.rho) * g * g;
    square_avg[i] = sq;
    let delta = sqrt(acc_delta[i] + h.eps) / sqrt(sq + h.eps) * g;
    acc_delta[i] = acc_delta[i] * h.rho + (1.0 - h.rho) * delta * delta;
    params[i] = p - h.lr * delta;
}
