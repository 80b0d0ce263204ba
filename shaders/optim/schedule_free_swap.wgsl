// The schedule-free optimizers' evaluation-point swap over the flat parameter buffer
// (vec4): p = lerp(p, z, weight), weight = 1 − 1/β (to the average x, eval) or 1 − β
// (back to y, train), as the reference's optimizer.eval()/train(). Defazio et al. 2024,
// "The Road Less Scheduled"; facebookresearch/schedule_free. Gradients are unused.

struct ScheduleFreeSwap {
    n4: u32,
    // no bits
    flags: u32,
    weight: f32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> h: ScheduleFreeSwap;
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
fn schedule_free_swap(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= h.n4) {
        return;
    }
    params[i] = lerp4(params[i], z[i], h.weight);
}
