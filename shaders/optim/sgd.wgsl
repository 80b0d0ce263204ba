// SGD over the flat parameter buffer, 4 parameters per invocation (the flat layout pads
// every segment to 64 elements, so the length is always a multiple of 4).
// torch.optim.SGD: g += wd·p; buf = first ? g : momentum·buf + (1 − dampening)·g;
// g = nesterov ? g + momentum·buf : buf; p −= lr·g.

struct Sgd {
    n4: u32,
    // bit 0 nesterov, bit 1 maximize, bit 2 first step, bit 3 momentum buffer in use
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
    if ((h.flags & 2u) != 0u) {
        g = -g;
    }
    if (h.weight_decay != 0.0) {
        g += h.weight_decay * p;
    }
    if ((h.flags & 8u) != 0u) {
        var b = g;
        if ((h.flags & 4u) == 0u) {
            b = momentum_buffer[i] * h.momentum + (1.0 - h.dampening) * g;
        }
        momentum_buffer[i] = b;
        if ((h.flags & 1u) != 0u) {
            g = g + h.momentum * b;
        } else {
            g = b;
        }
    }
    params[i] = p - h.lr * g;
}
