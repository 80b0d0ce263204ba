// Adagrad over the flat parameter buffer (vec4). torch.optim.Adagrad:
// g += wd·p; sum += g²; p −= clr · g / (√sum + eps), clr = lr / (1 + (t − 1)·lr_decay).

// Bits of `flags`, as the rule struct's consts in crates/core/src/optim/adagrad.rs.
const MAXIMIZE: u32 = 2u; // negate the gradient first

struct Adagrad {
    n4: u32,
    // the bits above
    flags: u32,
    clr: f32,
    weight_decay: f32,
    eps: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> h: Adagrad;
@group(0) @binding(1) var<storage, read_write> params: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> grads: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> sum: array<vec4<f32>>;

@compute @workgroup_size(256)
fn adagrad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
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
    let s = sum[i] + g * g;
    sum[i] = s;
    params[i] = p - h.clr * (g / (sqrt(s) + h.eps));
}
