// Max and average pooling of NCHW planes (PyTorch's F.max_pool2d and F.avg_pool2d with
// ceil_mode = False, count_include_pad = True) and their backward passes. The backward
// kernels gather: each input element sums the windows that route to it, in a fixed order
// (no atomics, the same result every run, overlapping windows included).

struct Pool {
    // N·C: the number of planes
    planes: u32,
    in_h: u32,
    in_w: u32,
    out_h: u32,
    out_w: u32,
    kernel_h: u32,
    kernel_w: u32,
    stride_h: u32,
    stride_w: u32,
    pad_h: u32,
    pad_w: u32,
    dilation_h: u32,
    dilation_w: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// Read from a storage buffer, not the uniform slot, so lavapipe cannot inline the
// geometry and recompile at every dispatch (see conv.wgsl).
@group(0) @binding(1) var<storage, read> pool: Pool;

// x (max pool forward and backward, avg pool forward)
@group(0) @binding(2) var<storage, read> px: array<f32>;

struct Best {
    found: bool,
    // the position within the plane
    index: u32,
    value: f32,
}

// PyTorch's scan of one window in row-major order: a later tap wins when it is larger or
// NaN (so the first maximum, the last NaN); padding taps are skipped. NaN is tested on the
// bits before any comparison (a driver may assume comparisons see no NaN).
fn window_max(plane: u32, oy: u32, ox: u32) -> Best {
    var best = Best(false, 0u, neg_inf_f32());
    for (var i = 0u; i < pool.kernel_h; i++) {
        let py = oy * pool.stride_h + i * pool.dilation_h;
        if (py < pool.pad_h || py - pool.pad_h >= pool.in_h) {
            continue;
        }
        for (var j = 0u; j < pool.kernel_w; j++) {
            let qx = ox * pool.stride_w + j * pool.dilation_w;
            if (qx < pool.pad_w || qx - pool.pad_w >= pool.in_w) {
                continue;
            }
            let k = (py - pool.pad_h) * pool.in_w + qx - pool.pad_w;
            let v = px[plane * pool.in_h * pool.in_w + k];
            if (!best.found || is_nan(v) || (!is_nan(best.value) && v > best.value)) {
                best = Best(true, k, v);
            }
        }
    }
    return best;
}

// The output index along one axis whose tap `k` reads padded position `p`, or `limit`.
fn window_of(p: u32, k: u32, stride: u32, dilation: u32, limit: u32) -> u32 {
    let reach = k * dilation;
    if (p < reach || (p - reach) % stride != 0u) {
        return limit;
    }
    return min((p - reach) / stride, limit);
}

@group(0) @binding(3) var<storage, read_write> max_y: array<f32>;

@compute @workgroup_size(256)
fn max_pool2d(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = gid.x + gid.y * nwg.x * 256u;
    let per_plane = pool.out_h * pool.out_w;
    if (o >= pool.planes * per_plane) {
        return;
    }
    let ox = o % pool.out_w;
    let oy = (o / pool.out_w) % pool.out_h;
    max_y[o] = window_max(o / per_plane, oy, ox).value;
}

@group(0) @binding(3) var<storage, read> max_dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> max_dx: array<f32>;

@compute @workgroup_size(256)
fn max_pool2d_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = gid.x + gid.y * nwg.x * 256u;
    let per_plane = pool.in_h * pool.in_w;
    if (o >= pool.planes * per_plane) {
        return;
    }
    let plane = o / per_plane;
    let k = o % per_plane;
    let ix = k % pool.in_w;
    let iy = k / pool.in_w;
    var acc = 0.0;
    for (var i = 0u; i < pool.kernel_h; i++) {
        let oy = window_of(iy + pool.pad_h, i, pool.stride_h, pool.dilation_h, pool.out_h);
        if (oy >= pool.out_h) {
            continue;
        }
        for (var j = 0u; j < pool.kernel_w; j++) {
            let ox = window_of(ix + pool.pad_w, j, pool.stride_w, pool.dilation_w, pool.out_w);
            if (ox >= pool.out_w) {
                continue;
            }
            let best = window_max(plane, oy, ox);
            if (best.found && best.index == k) {
                acc += max_dy[(plane * pool.out_h + oy) * pool.out_w + ox];
            }
        }
    }
    max_dx[o] = acc;
}

@group(0) @binding(3) var<storage, read_write> avg_y: array<f32>;

@compute @workgroup_size(256)
fn avg_pool2d(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = gid.x + gid.y * nwg.x * 256u;
    let per_plane = pool.out_h * pool.out_w;
    if (o >= pool.planes * per_plane) {
        return;
    }
    let ox = o % pool.out_w;
    let oy = (o / pool.out_w) % pool.out_h;
    let base = (o / per_plane) * pool.in_h * pool.in_w;
    var sum = 0.0;
    for (var i = 0u; i < pool.kernel_h; i++) {
        let py = oy * pool.stride_h + i;
        if (py < pool.pad_h || py - pool.pad_h >= pool.in_h) {
            continue;
        }
        for (var j = 0u; j < pool.kernel_w; j++) {
            let qx = ox * pool.stride_w + j;
            if (qx < pool.pad_w || qx - pool.pad_w >= pool.in_w) {
                continue;
            }
            sum += px[base + (py - pool.pad_h) * pool.in_w + qx - pool.pad_w];
        }
    }
    avg_y[o] = sum / f32(pool.kernel_h * pool.kernel_w);
}

@group(0) @binding(2) var<storage, read> avg_dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> avg_dx: array<f32>;

@compute @workgroup_size(256)
fn avg_pool2d_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = gid.x + gid.y * nwg.x * 256u;
    let per_plane = pool.in_h * pool.in_w;
    if (o >= pool.planes * per_plane) {
        return;
    }
    let plane = o / per_plane;
    let ix = (o % per_plane) % pool.in_w;
    let iy = (o % per_plane) / pool.in_w;
    let divisor = f32(pool.kernel_h * pool.kernel_w);
    var acc = 0.0;
    for (var i = 0u; i < pool.kernel_h; i++) {
        let oy = window_of(iy + pool.pad_h, i, pool.stride_h, 1u, pool.out_h);
        if (oy >= pool.out_h) {
            continue;
        }
        for (var j = 0u; j < pool.kernel_w; j++) {
            let ox = window_of(ix + pool.pad_w, j, pool.stride_w, 1u, pool.out_w);
            if (ox >= pool.out_w) {
                continue;
            }
            acc += avg_dy[(plane * pool.out_h + oy) * pool.out_w + ox] / divisor;
        }
    }
    avg_dx[o] = acc;
}
