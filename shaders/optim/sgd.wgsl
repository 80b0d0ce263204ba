// SGD over the flat parameter buffer, 4 parameters per invocation (the flat layout pads
// every segment to 64 elements, so the length is always a multiple of 4).
// torch.optim.SGD: g += wd·p; buf = first ? g : momentum·buf + (1 − dampening)·g;
// g = nesterov ? g + momentum·buf : buf; p −= lr·g.

// Bits of `flags`, as the rule struct's consts in crates/core/src/optim/sgd.rs.
const NESTEROV: u32 = 1u; // step along g + momentum·buf (Nesterov)
const MAXIMIZE: u32 = 2u; // negate the gradient first
const FIRST_STEP: u32 = 4u; // the first step: buf = g
const HAS_MOMENTUM: u32 = 8u; // momentum on: momentum_buffer is bound

struct Sgd {
    n4: u32,
    // the bits above
    flags: u32,
    lr: f32,
    momentum: f32,
    dampening: f32,
    weight_decay: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> h: Sgd;
@group(0) @binding(1) var<storage, read_write> params: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> grads: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> momentum_buffer: array<vec4<f32>>;

@compute @workgroup_size(256)
fn sgd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
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
    if ((h.flags & HAS_MOMENTUM) != 0u) {
        var b = g;
        if ((h.flags & FIRST_STEP) == 0u) {
            b = momentum_buffer[i] * h.momentum + (1.0 - h.dampening) * g;
        }
        momentum_buffer[i] = b;
        if ((h.flags & NESTEROV) != 0u) {
            g = g + h.momentum * b;
        } else {
            g = b;
        }
    }
    params[i] = p - h.lr * g;
}
