// Schedule-free SGD over the flat parameter buffer (vec4), as the reference
// SGDScheduleFree (Defazio et al. 2024, "The Road Less Scheduled";
// facebookresearch/schedule_free) with the averaging scalars from the host:
// g += wd·y; y = lerp(y, z, ckp1) + y_lr·g; z −= lr·g (z = y first at the first step).

// Bits of `flags`, as the rule struct's consts in crates/core/src/optim/sgd_schedule_free.rs.
const INIT_Z: u32 = 1u; // the first step: z starts as a copy of y

struct SgdScheduleFree {
    n4: u32,
    // the bits above
    flags: u32,
    weight_decay: f32,
    ckp1: f32,
    y_lr: f32,
    lr: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> h: SgdScheduleFree;
@group(0) @binding(1) var<storage, read_write> params: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> grads: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> z: array<vec4<f32>>;

// torch.lerp: a + w·(b − a) for |w| < 0.5, else b − (b − a)·(1 − w).
fn lerp4(a: vec4<f32>, b: vec4<f32>, w: f32) -> vec4<f32> {
    if (abs(w) < 0.5) {
        return a + w * (b - a);
    }
    return b - (b - a) * (1.0 - w);
}

@compute @workgroup_size(256)
fn sgd_schedule_free(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= h.n4) {
        return;
    }
    let y = params[i];
    var zi = z[i];
    if ((h.flags & INIT_Z) != 0u) {
        zi = y;
    }
    var g = grads[i];
    if (h.weight_decay != 0.0) {
        g += h.weight_decay * y;
    }
    params[i] = lerp4(y, zi, h.ckp1) + h.y_lr * g;
    z[i] = zi - h.lr * g;
}
