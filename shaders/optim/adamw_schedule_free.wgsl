// Schedule-free AdamW over the flat parameter buffer (vec4), as the reference
// AdamWScheduleFree (Defazio et al. 2024, "The Road Less Scheduled";
// facebookresearch/schedule_free) with the averaging scalars from the host:
// v = β2·v + (1 − β2)·g²; d = sqrt(v / bc2) + eps; u = g / d (inner momentum:
// m = μ·m + (1 − μ)·g, u = m / bc1 / d); u += wd·y; y = lerp(y, z, ckp1) + y_lr·u;
// z −= lr·u (z = y first at the first step).

// Bits of `flags`, as the rule struct's consts in crates/core/src/optim/adamw_schedule_free.rs.
const INIT_Z: u32 = 1u; // the first step: z starts as a copy of y
const INNER_MOMENTUM: u32 = 4u; // keep exp_avg and normalise it instead of the gradient

struct AdamWScheduleFree {
    n4: u32,
    // the bits above
    flags: u32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    bias_correction2: f32,
    ckp1: f32,
    y_lr: f32,
    lr: f32,
    inner_momentum: f32,
    bias_correction1: f32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> h: AdamWScheduleFree;
@group(0) @binding(1) var<storage, read_write> params: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> grads: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> z: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> exp_avg_sq: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> exp_avg: array<vec4<f32>>;

// torch.lerp: a + w·(b − a) for |w| < 0.5, else b − (b − a)·(1 − w).
fn lerp4(a: vec4<f32>, b: vec4<f32>, w: f32) -> vec4<f32> {
    if (abs(w) < 0.5) {
        return a + w * (b - a);
    }
    return b - (b - a) * (1.0 - w);
}

@compute @workgroup_size(256)
fn adamw_schedule_free(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= h.n4) {
        return;
    }
    let y = params[i];
    var zi = z[i];
    if ((h.flags & INIT_Z) != 0u) {
        zi = y;
    }
    let g = grads[i];
    let v = exp_avg_sq[i] * h.beta2 + (1.0 - h.beta2) * g * g;
    exp_avg_sq[i] = v;
    let denom = sqrt(v / h.bias_correction2) + h.eps;
    var u = g / denom;
    if ((h.flags & INNER_MOMENTUM) != 0u) {
        let m = exp_avg[i] * h.inner_momentum + (1.0 - h.inner_momentum) * g;
        exp_avg[i] = m;
        u = m / h.bias_correction1 / denom;
    }
    if (h.weight_decay != 0.0) {
        u += h.weight_decay * y;
    }
    params[i] = lerp4(y, zi, h.ckp1) + h.y_lr * u;
    z[i] = zi - h.lr * u;
}
