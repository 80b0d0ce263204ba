// fit's per-step bookkeeping in ONE dispatch (Backend::track_step): adds the batch's loss
// to the epoch's sum and records the first step whose loss or any gradient is NaN or ±inf,
// so divergence is caught within a step at no extra dispatch or read-back.
// Steps are stored as u32 bits in the f32 sums buffer; 0 means none recorded yet.

struct Track {
    n: u32,      // gradients
    step: u32,
    scale: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Track;
@group(0) @binding(1) var<storage, read_write> sums: array<f32>;
@group(0) @binding(2) var<storage, read> loss: array<f32>;
@group(0) @binding(3) var<storage, read> grads: array<f32>;

// NaN and ±inf are told apart on the bits (`is_finite`, nonfinite.wgsl): a shader compiler
// may assume floats are finite and fold `x != x`.

@compute @workgroup_size(256)
fn track_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i == 0u) {
        let l = loss[0];
        sums[0] = sums[0] + p.scale * l;
        if (!is_finite(l) && bitcast<u32>(sums[1]) == 0u) {
            sums[1] = bitcast<f32>(p.step);
        }
    }
    // Every invocation that sees a bad gradient writes the same step: the race is benign.
    if (i < p.n && !is_finite(grads[i]) && bitcast<u32>(sums[2]) == 0u) {
        sums[2] = bitcast<f32>(p.step);
    }
}
