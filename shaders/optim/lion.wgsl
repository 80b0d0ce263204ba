// Lion over the flat parameter buffer (vec4). Chen et al. 2023, "Symbolic Discovery of
// Optimization Algorithms" (Program 1), as lion_pytorch computes it:
// p *= decay_factor (1 − lr·wd); p −= lr · sign(β1·m + (1 − β1)·g); m = β2·m + (1 − β2)·g.

// Bits of `flags`, as the rule struct's consts in crates/core/src/optim/lion.rs.
const MAXIMIZE: u32 = 2u; // negate the gradient first

struct Lion {
    n4: u32,
    // the bits above
    flags: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    decay_factor: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> h: Lion;
@group(0) @binding(1) var<storage, read_write> params: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> grads: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> exp_avg: array<vec4<f32>>;

// torch.sign: ±1, zero kept, NaN kept (tested on the bits: the driver may assume no NaN
// in comparisons).
fn sign_torch4(x: vec4<f32>) -> vec4<f32> {
    let s = select(select(x, vec4<f32>(-1.0), x < vec4<f32>(0.0)), vec4<f32>(1.0), x > vec4<f32>(0.0));
    return select(s, x, is_nan4(x));
}

@compute @workgroup_size(256)
fn lion(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= h.n4) {
        return;
    }
    var g = grads[i];
    if ((h.flags & MAXIMIZE) != 0u) {
        g = -g;
    }
    let m = exp_avg[i];
    let update = sign_torch4(m * h.beta1 + (1.0 - h.beta1) * g);
    params[i] = params[i] * h.decay_factor - h.lr * update;
    exp_avg[i] = m * h.beta2 + (1.0 - h.beta2) * g;
}
