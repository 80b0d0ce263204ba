// RMSprop over the flat parameter buffer (vec4). torch.optim.RMSprop:
// g += wd·p; sq = α·sq + (1 − α)·g²; centered: ga = lerp(ga, g, 1 − α), avg = √(sq − ga²) + eps,
// else avg = √sq + eps; momentum: buf = μ·buf + g/avg, p −= lr·buf; else p −= lr·g/avg.

// Bits of `flags`, as the rule struct's consts in crates/core/src/optim/rmsprop.rs.
const CENTERED: u32 = 1u; // divide by √(sq − grad_avg²)
const MAXIMIZE: u32 = 2u; // negate the gradient first
const HAS_MOMENTUM: u32 = 8u; // momentum on: momentum_buffer is bound

struct RmsProp {
    n4: u32,
    // the bits above
    flags: u32,
    lr: f32,
    alpha: f32,
    eps: f32,
    weight_decay: f32,
    momentum: f32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> h: RmsProp;
@group(0) @binding(1) var<storage, read_write> params: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> grads: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> square_avg: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> grad_avg: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> momentum_buffer: array<vec4<f32>>;

fn lerp4(a: vec4<f32>, b: vec4<f32>, w: f32) -> vec4<f32> {
    if (w < 0.5) {
        return a + w * (b - a);
    }
    return b - (b - a) * (1.0 - w);
}

@compute @workgroup_size(256)
fn rmsprop(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
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
    let sq = square_avg[i] * h.alpha + (1.0 - h.alpha) * g * g;
    square_avg[i] = sq;
    var avg: vec4<f32>;
    if ((h.flags & CENTERED) != 0u) {
        let m = lerp4(grad_avg[i], g, 1.0 - h.alpha);
        grad_avg[i] = m;
        avg = sqrt(sq - m * m) + h.eps;
    } else {
        avg = sqrt(sq) + h.eps;
    }
    if ((h.flags & HAS_MOMENTUM) != 0u) {
        let b = momentum_buffer[i] * h.momentum + g / avg;
        momentum_buffer[i] = b;
        params[i] = p - h.lr * b;
    } else {
        params[i] = p - h.lr * (g / avg);
    }
}
