// ASGD over the flat parameter buffer (vec4); eta and mu come from the host (they depend
// only on the step count). torch.optim.ASGD: g += wd·p; p = p·(1 − lambd·eta) − eta·g;
// ax = ax + (p − ax)·mu when mu ≠ 1, else ax = p.

// Bits of `flags`, as the rule struct's consts in crates/core/src/optim/asgd.rs.
const AVERAGE: u32 = 1u; // mu ≠ 1: average into ax (else copy p)
const MAXIMIZE: u32 = 2u; // negate the gradient first

struct Asgd {
    n4: u32,
    // the bits above
    flags: u32,
    weight_decay: f32,
    eta: f32,
    decay_factor: f32,
    mu: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> h: Asgd;
@group(0) @binding(1) var<storage, read_write> params: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> grads: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> ax: array<vec4<f32>>;

@compute @workgroup_size(256)
fn asgd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= h.n4) {
        return;
    }
    var g = grads[i];
    if ((h.flags & MAXIMIZE) != 0u) {
        g = -g;
    }
    var p = params[i];
    if (h.weight_decay != 0.0) {
        g += h.weight_decay * p;
    }
    p = p * h.decay_factor + -h.eta * g;
    params[i] = p;
    if ((h.flags & AVERAGE) != 0u) {
        let a = ax[i];
        ax[i] = a + (p - a) * h.mu;
    } else {
        ax[i] = p;
    }
}
