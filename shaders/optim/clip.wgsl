// Gradient clipping on the flat gradient buffer (vec4), without a host round trip:
// clip_norm_coef (one workgroup) writes min(1, max_norm / (‖g‖ + 1e-6)) to a 1-element
// buffer that clip_scale then applies; clip_value clamps every component. As torch's
// clip_grad_norm_ and clamp: a NaN gradient makes the norm and so every gradient NaN, an
// infinite one makes the factor 0; clamping keeps a NaN.

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

// ‖g‖ in two passes over the gradients: first the largest |g| (NaN wins), then Σ (g·s)²
// with s the power of two that brings it into [1, 2) (below 4 at the ends of the exponent
// range), then ‖g‖ = √Σ / s. Scaling by a power of two is exact,
// so this is the plain f32 sum of squares for ordinary gradients, and it neither overflows
// (gradients of 1e20 square to 1e40) nor underflows where the CPU's f64 sum does not: the
// norm overflows only past f32::MAX, as the CPU's does when it rounds to f32.
@compute @workgroup_size(256)
fn clip_norm_coef(@builtin(local_invocation_index) li: u32) {
    var m = 0.0;
    for (var i = li; i < c.n4; i += 256u) {
        let a = abs(grads_in[i]);
        m = nan_max(m, nan_max(nan_max(a.x, a.y), nan_max(a.z, a.w)));
    }
    scratch[li] = m;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (li < s) {
            scratch[li] = nan_max(scratch[li], scratch[li + s]);
        }
        workgroupBarrier();
    }
    let largest = scratch[0];
    workgroupBarrier();
    // s = 2^(e_s − 127) for the biased exponent e of `largest`: e_s = 254 − e puts
    // largest·s in [1, 2); clamped to [1, 253] so that s and 1/s are normal numbers (and
    // never computed from a NaN's or inf's exponent, 255, whose norm is chosen below).
    let e = i32((bitcast<u32>(largest) >> 23u) & 0xffu);
    let e_s = clamp(254 - e, 1, 253);
    let scale = bitcast<f32>(u32(e_s) << 23u);
    let unscale = bitcast<f32>(u32(254 - e_s) << 23u);
    var acc = 0.0;
    for (var i = li; i < c.n4; i += 256u) {
        let g = grads_in[i] * scale;
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
        // A NaN or infinite gradient: the norm is that NaN or +inf.
        let norm = select(largest, sqrt(scratch[0]) * unscale, is_finite(largest));
        coef_out[0] = nan_min(1.0, c.limit / (norm + 1e-6));
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
        grads[i] = nan_clamp4(grads[i], vec4<f32>(-c.limit), vec4<f32>(c.limit));
    }
}
