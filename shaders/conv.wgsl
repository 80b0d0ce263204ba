// 2-D convolution of NCHW tensors (PyTorch's F.conv2d) and its two backward passes: direct
// kernels (grouped convolutions, or columns too large to bind) and, further down, the
// layout kernels of the matrix form around the matmul (one group). Every output element
// gathers what reaches it in a fixed order, so no atomics are needed and results are the
// same run to run. Padding taps read 0 and are still multiplied (0·inf = NaN, as a
// convolution of the zero-padded input gives).

struct Conv {
    batch: u32,
    in_channels: u32,
    in_h: u32,
    in_w: u32,
    out_channels: u32,
    out_h: u32,
    out_w: u32,
    groups: u32,
    kernel_h: u32,
    kernel_w: u32,
    stride_h: u32,
    stride_w: u32,
    pad_top: u32,
    pad_left: u32,
    dilation_h: u32,
    dilation_w: u32,
    has_bias: u32,
    // elements of the weight [C_out, C_in / groups, KH, KW]
    weights: u32,
    _pad0: u32,
    _pad1: u32,
}

// The geometry is read from a storage buffer, not the uniform slot: lavapipe (Mesa 22)
// "inlines" uniforms that loop bounds and branches test, recompiling the kernel with LLVM
// (and leaking it) at every dispatch when that shrinks it (docs/PERFORMANCE.md, "Memory
// over long runs"). Every loop bound here is geometry, so none is left for it to fold: a
// precaution, not a measured speed-up.
@group(0) @binding(1) var<storage, read> c: Conv;

// The input value at padded coordinates (py, px) of plane `plane`, 0 in the padding.
fn input_at(plane: u32, py: u32, px: u32) -> f32 {
    if (py < c.pad_top || py - c.pad_top >= c.in_h || px < c.pad_left || px - c.pad_left >= c.in_w) {
        return 0.0;
    }
    return fx[(plane * c.in_h + py - c.pad_top) * c.in_w + px - c.pad_left];
}

// ---- forward: y[n, co, oy, ox] = Σ_{ci, i, j} w[co, ci, i, j] · x_padded[n, g·cig + ci, oy·s + i·d, ...] + b[co]
@group(0) @binding(2) var<storage, read> fx: array<f32>;
@group(0) @binding(3) var<storage, read> fw: array<f32>;
@group(0) @binding(4) var<storage, read> fbias: array<f32>;
@group(0) @binding(5) var<storage, read_write> fy: array<f32>;

@compute @workgroup_size(256)
fn conv2d_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = gid.x + gid.y * nwg.x * 256u;
    if (o >= c.batch * c.out_channels * c.out_h * c.out_w) {
        return;
    }
    let ox = o % c.out_w;
    let oy = (o / c.out_w) % c.out_h;
    let co = (o / (c.out_w * c.out_h)) % c.out_channels;
    let n = o / (c.out_w * c.out_h * c.out_channels);
    let cig = c.in_channels / c.groups;
    let ci0 = (co / (c.out_channels / c.groups)) * cig;
    var acc = 0.0;
    for (var ci = 0u; ci < cig; ci++) {
        let plane = n * c.in_channels + ci0 + ci;
        let w_base = (co * cig + ci) * c.kernel_h;
        for (var i = 0u; i < c.kernel_h; i++) {
            let py = oy * c.stride_h + i * c.dilation_h;
            for (var j = 0u; j < c.kernel_w; j++) {
                let px = ox * c.stride_w + j * c.dilation_w;
                acc += input_at(plane, py, px) * fw[(w_base + i) * c.kernel_w + j];
            }
        }
    }
    if (c.has_bias != 0u) {
        acc += fbias[co];
    }
    fy[o] = acc;
}

// ---- input gradient: dx[n, ci, iy, ix] = Σ over the taps (i, j) and output pixels that read
// it, Σ_co dy[n, co, oy, ox] · w[co, ci, i, j]
@group(0) @binding(2) var<storage, read> bdy: array<f32>;
@group(0) @binding(3) var<storage, read> bw: array<f32>;
@group(0) @binding(4) var<storage, read_write> bdx: array<f32>;

// The output index along one axis whose tap `k` reads padded position `p`, or `limit`.
fn source(p: u32, k: u32, stride: u32, dilation: u32, limit: u32) -> u32 {
    let reach = k * dilation;
    if (p < reach) {
        return limit;
    }
    if (stride == 1u) {
        return min(p - reach, limit); // no division: the common case, and slow on CPU adapters
    }
    if ((p - reach) % stride != 0u) {
        return limit;
    }
    return min((p - reach) / stride, limit);
}

@compute @workgroup_size(256)
fn conv2d_backward_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = gid.x + gid.y * nwg.x * 256u;
    if (o >= c.batch * c.in_channels * c.in_h * c.in_w) {
        return;
    }
    let ix = o % c.in_w;
    let iy = (o / c.in_w) % c.in_h;
    let ci = (o / (c.in_w * c.in_h)) % c.in_channels;
    let n = o / (c.in_w * c.in_h * c.in_channels);
    let cig = c.in_channels / c.groups;
    let cog = c.out_channels / c.groups;
    let co0 = (ci / cig) * cog;
    let ci_local = ci % cig;
    var acc = 0.0;
    for (var i = 0u; i < c.kernel_h; i++) {
        let oy = source(iy + c.pad_top, i, c.stride_h, c.dilation_h, c.out_h);
        if (oy >= c.out_h) {
            continue;
        }
        for (var j = 0u; j < c.kernel_w; j++) {
            let ox = source(ix + c.pad_left, j, c.stride_w, c.dilation_w, c.out_w);
            if (ox >= c.out_w) {
                continue;
            }
            for (var co = co0; co < co0 + cog; co++) {
                let g = bdy[((n * c.out_channels + co) * c.out_h + oy) * c.out_w + ox];
                acc += g * bw[((co * cig + ci_local) * c.kernel_h + i) * c.kernel_w + j];
            }
        }
    }
    bdx[o] = acc;
}

// ---- weight and bias gradients: one workgroup per weight element (then one per bias
// element), 64 invocations striding over the N·OH·OW output pixels, then a tree.
@group(0) @binding(2) var<storage, read> wx: array<f32>;
@group(0) @binding(3) var<storage, read> wdy: array<f32>;
@group(0) @binding(4) var<storage, read_write> wdw: array<f32>;
@group(0) @binding(5) var<storage, read_write> wdb: array<f32>;

var<workgroup> partial: array<f32, 64>;

// The input value of the weight gradient's padded read (wx, not fx: another binding).
fn wx_at(plane: u32, py: u32, px: u32) -> f32 {
    if (py < c.pad_top || py - c.pad_top >= c.in_h || px < c.pad_left || px - c.pad_left >= c.in_w) {
        return 0.0;
    }
    return wx[(plane * c.in_h + py - c.pad_top) * c.in_w + px - c.pad_left];
}

@compute @workgroup_size(64)
fn conv2d_backward_weight(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let e = wid.x + wid.y * nwg.x;
    let is_bias = e >= c.weights;
    if (is_bias && (c.has_bias == 0u || e - c.weights >= c.out_channels)) {
        return;
    }
    // Invocation li takes the output rows (n, oy) li, li + 64, ...: one division per row,
    // none per pixel (integer division is slow on CPU adapters).
    let out_rows = c.batch * c.out_h;
    let cig = c.in_channels / c.groups;
    var acc = 0.0;
    if (is_bias) {
        let co = e - c.weights;
        for (var r = li; r < out_rows; r += 64u) {
            let base = (((r / c.out_h) * c.out_channels + co) * c.out_h + r % c.out_h) * c.out_w;
            for (var ox = 0u; ox < c.out_w; ox++) {
                acc += wdy[base + ox];
            }
        }
    } else {
        let j = e % c.kernel_w;
        let i = (e / c.kernel_w) % c.kernel_h;
        let ci_local = (e / (c.kernel_w * c.kernel_h)) % cig;
        let co = e / (c.kernel_w * c.kernel_h * cig);
        let ci = (co / (c.out_channels / c.groups)) * cig + ci_local;
        for (var r = li; r < out_rows; r += 64u) {
            let n = r / c.out_h;
            let oy = r % c.out_h;
            let base = ((n * c.out_channels + co) * c.out_h + oy) * c.out_w;
            let py = oy * c.stride_h + i * c.dilation_h;
            for (var ox = 0u; ox < c.out_w; ox++) {
                let v = wx_at(n * c.in_channels + ci, py, ox * c.stride_w + j * c.dilation_w);
                acc += wdy[base + ox] * v;
            }
        }
    }
    partial[li] = acc;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if (li < s) {
            partial[li] = partial[li] + partial[li + s];
        }
        workgroupBarrier();
    }
    if (li == 0u) {
        if (is_bias) {
            wdb[e - c.weights] = partial[0];
        } else {
            wdw[e] = partial[0];
        }
    }
}

// ---- the matrix form (one group). With rows = N·OH·OW output pixels and taps =
// C_in·KH·KW, the forward is y' [C_out, rows] = W [C_out, taps] · col [taps, rows], the
// input gradient dcol = Wᵀ · dy', the weight gradient dW = dy' · colT (colT [rows, taps]):
// the tuned matmul does the work, these kernels only move data. Each im2col invocation
// handles one output pixel: its coordinates are decoded once (integer division is slow on
// CPU adapters) and its taps walked with increments.

// The padded input at the tap (i, j) of output pixel (oy, ox) of sample n, channel ci.
fn tap_value(n: u32, ci: u32, py: u32, px: u32) -> f32 {
    if (py < c.pad_top || py - c.pad_top >= c.in_h || px < c.pad_left || px - c.pad_left >= c.in_w) {
        return 0.0;
    }
    return ix_in[((n * c.in_channels + ci) * c.in_h + py - c.pad_top) * c.in_w + px - c.pad_left];
}

@group(0) @binding(2) var<storage, read> ix_in: array<f32>;
@group(0) @binding(3) var<storage, read_write> ix_col: array<f32>;

// col [taps, rows]: column r holds the taps of pixel r (consecutive invocations write
// consecutive elements).
@compute @workgroup_size(64)
fn im2col_taps(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let rows = c.batch * c.out_h * c.out_w;
    let r = gid.x + gid.y * nwg.x * 64u;
    if (r >= rows) {
        return;
    }
    let ox = r % c.out_w;
    let oy = (r / c.out_w) % c.out_h;
    let n = r / (c.out_w * c.out_h);
    var at = r;
    for (var ci = 0u; ci < c.in_channels; ci++) {
        for (var i = 0u; i < c.kernel_h; i++) {
            let py = oy * c.stride_h + i * c.dilation_h;
            for (var j = 0u; j < c.kernel_w; j++) {
                ix_col[at] = tap_value(n, ci, py, ox * c.stride_w + j * c.dilation_w);
                at += rows;
            }
        }
    }
}

// colT [rows, taps]: row r holds the taps of pixel r.
@compute @workgroup_size(64)
fn im2col_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = gid.x + gid.y * nwg.x * 64u;
    if (r >= c.batch * c.out_h * c.out_w) {
        return;
    }
    let ox = r % c.out_w;
    let oy = (r / c.out_w) % c.out_h;
    let n = r / (c.out_w * c.out_h);
    var at = r * c.in_channels * c.kernel_h * c.kernel_w;
    for (var ci = 0u; ci < c.in_channels; ci++) {
        for (var i = 0u; i < c.kernel_h; i++) {
            let py = oy * c.stride_h + i * c.dilation_h;
            for (var j = 0u; j < c.kernel_w; j++) {
                ix_col[at] = tap_value(n, ci, py, ox * c.stride_w + j * c.dilation_w);
                at += 1u;
            }
        }
    }
}

// col2im: dx from dcol [taps, rows]; each input element gathers the entries of the taps
// that read it (a fixed order, no atomics).
@group(0) @binding(2) var<storage, read> cx_col: array<f32>;
@group(0) @binding(3) var<storage, read_write> cx_dx: array<f32>;

@compute @workgroup_size(256)
fn col2im(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = gid.x + gid.y * nwg.x * 256u;
    if (o >= c.batch * c.in_channels * c.in_h * c.in_w) {
        return;
    }
    let ix = o % c.in_w;
    let iy = (o / c.in_w) % c.in_h;
    let ci = (o / (c.in_w * c.in_h)) % c.in_channels;
    let n = o / (c.in_w * c.in_h * c.in_channels);
    let rows = c.batch * c.out_h * c.out_w;
    var acc = 0.0;
    for (var i = 0u; i < c.kernel_h; i++) {
        let oy = source(iy + c.pad_top, i, c.stride_h, c.dilation_h, c.out_h);
        if (oy >= c.out_h) {
            continue;
        }
        for (var j = 0u; j < c.kernel_w; j++) {
            let ox = source(ix + c.pad_left, j, c.stride_w, c.dilation_w, c.out_w);
            if (ox >= c.out_w) {
                continue;
            }
            let tap = (ci * c.kernel_h + i) * c.kernel_w + j;
            acc += cx_col[tap * rows + (n * c.out_h + oy) * c.out_w + ox];
        }
    }
    cx_dx[o] = acc;
}

// [N, C_out, OH·OW] ↔ [C_out, N·OH·OW]: the output's layout and the matrix form's.
@group(0) @binding(2) var<storage, read> lx: array<f32>;
@group(0) @binding(3) var<storage, read> lbias: array<f32>;
@group(0) @binding(4) var<storage, read_write> ly: array<f32>;

// y [N, C_out, P] = y' [C_out, N·P] + b. One invocation per plane (n, co), walking its
// pixels: one division per invocation, not three per element (slow on CPU adapters).
@compute @workgroup_size(64)
fn conv_output(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let plane = gid.x + gid.y * nwg.x * 64u;
    if (plane >= c.batch * c.out_channels) {
        return;
    }
    let pixels = c.out_h * c.out_w;
    let co = plane % c.out_channels;
    let n = plane / c.out_channels;
    var b = 0.0;
    if (c.has_bias != 0u) {
        b = lbias[co];
    }
    let src = (co * c.batch + n) * pixels;
    let dst = plane * pixels;
    for (var p = 0u; p < pixels; p++) {
        ly[dst + p] = lx[src + p] + b;
    }
}

@group(0) @binding(3) var<storage, read_write> lrows: array<f32>;

// dy' [C_out, N·P] from dy [N, C_out, P], one invocation per plane as conv_output.
@compute @workgroup_size(64)
fn channel_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let plane = gid.x + gid.y * nwg.x * 64u;
    if (plane >= c.batch * c.out_channels) {
        return;
    }
    let pixels = c.out_h * c.out_w;
    let co = plane % c.out_channels;
    let n = plane / c.out_channels;
    let src = plane * pixels;
    let dst = (co * c.batch + n) * pixels;
    for (var p = 0u; p < pixels; p++) {
        lrows[dst + p] = lx[src + p];
    }
}
