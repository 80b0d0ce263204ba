// Gradient clipping on the flat gradient buffer (vec4), without a host round trip:
// clip_norm_coef (one workgroup) writes min(1, max_norm / (‖g‖ + 1e-6)) to a 1-element
// buffer that clip_scale then applies; clip_value clamps every component.

struct Clip {
    n4: u32,
    limit: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> c: Clip;
@group(0) @binding(1) var<storage, read> grads_in: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> coef_out: array<f32>;
@group(0) @binding(1) var<storage, read_write> grads: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> coef: array<f32>;

var<workgroup> scratch: array<f32, 256>;

@compute @workgroup_size(256)
fn clip_norm_coef(@builtin(local_invocation_index) li: u32) {
    var acc = 0.0;
    for (var i = li; i < c.n4; i += 256u) {
        let g = grads_in[i];
        acc += dot(g, g);
    }
    scratch[li] = acc;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (li < s) {
            scratch[li] = scratch[li] + scratch[li + s];
        }
        workgroupBarrier();
    }
    if (li == 0u) {
        coef_out[0] = min(1.0, c.limit / (sqrt(scratch[0]) + 1e-6));
    }
}

@compute @workgroup_size(256)
fn clip_scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i < c.n4) {
        grads[i] = grads[i] * coef[0];
    }
}

@compute @workgroup_size(256)
fn clip_value(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i < c.n4) {
        grads[i] = clamp(grads[i], vec4<f32>(-c.limit), vec4<f32>(c.limit));
    }
}
