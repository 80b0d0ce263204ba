// Reductions: one workgroup per output element, 256 invocations striding over the reduced
// elements, then a tree in workgroup memory.
//
// The input is read through two index spaces: an output element's coordinates (keep_dims,
// keep_strides) give its base offset; the reduced coordinates (red_dims, red_strides) walk
// everything that folds into it. Sum over an axis, sum down to a broadcast shape and
// sum of everything are all this one kernel.

struct Reduce {
    n_out: u32,
    // 0 sum, 1 mean, 2 max
    op: u32,
    rank: u32,
    // number of reduced elements per output
    count: u32,
    keep_dims: array<vec4<u32>, 2>,
    keep_strides: array<vec4<u32>, 2>,
    red_dims: array<vec4<u32>, 2>,
    red_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> r: Reduce;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn axis(v: array<vec4<u32>, 2>, a: u32) -> u32 {
    return v[a / 4u][a % 4u];
}

var<workgroup> partial: array<f32, 256>;

fn combine(op: u32, p: f32, q: f32) -> f32 {
    if (op == 2u) {
        return nan_max(p, q); // NaN wins, as in PyTorch
    }
    return p + q;
}

@compute @workgroup_size(256)
fn reduce(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let o = wid.x + wid.y * nwg.x;
    if (o >= r.n_out) {
        return;
    }
    var rest = o;
    var base = 0u;
    for (var a = i32(r.rank) - 1; a >= 0; a--) {
        let size = axis(r.keep_dims, u32(a));
        base += (rest % size) * axis(r.keep_strides, u32(a));
        rest = rest / size;
    }
    var acc = select(0.0, neg_inf_f32(), r.op == 2u);
    for (var k = li; k < r.count; k += 256u) {
        var kr = k;
        var off = base;
        for (var a = i32(r.rank) - 1; a >= 0; a--) {
            let size = axis(r.red_dims, u32(a));
            off += (kr % size) * axis(r.red_strides, u32(a));
            kr = kr / size;
        }
        acc = combine(r.op, acc, x[off]);
    }
    partial[li] = acc;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (li < s) {
            partial[li] = combine(r.op, partial[li], partial[li + s]);
        }
        workgroupBarrier();
    }
    if (li == 0u) {
        var result = partial[0];
        if (r.op == 1u) {
            result = result / f32(r.count);
        }
        out[o] = result;
    }
}

// Backward of max over an axis of [outer, len, inner]: dy goes to the first position that
// holds the maximum (the first NaN when it is NaN); dx must be zeroed beforehand.
struct MaxBack {
    outer: u32,
    len: u32,
    inner: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> mb: MaxBack;
@group(0) @binding(1) var<storage, read> mx: array<f32>;
@group(0) @binding(2) var<storage, read> my: array<f32>;
@group(0) @binding(3) var<storage, read> mdy: array<f32>;
@group(0) @binding(4) var<storage, read_write> mdx: array<f32>;

@compute @workgroup_size(256)
fn max_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = gid.x + gid.y * nwg.x * 256u;
    if (o >= mb.outer * mb.inner) {
        return;
    }
    let outer = o / mb.inner;
    let inner = o % mb.inner;
    let target_value = my[o];
    for (var l = 0u; l < mb.len; l++) {
        let k = (outer * mb.len + l) * mb.inner + inner;
        let v = mx[k];
        if (v == target_value || (is_nan(v) && is_nan(target_value))) {
            mdx[k] = mdy[o];
            return;
        }
    }
}

// The backward of a linear layer's epilogue, in one pass: for [rows, cols] outputs y,
// dz = act'(y)·dy (the derivative read from the output) and db[col] = Σ_rows dz.
// One workgroup per column.
struct Epilogue {
    rows: u32,
    cols: u32,
    // 0 none, 10 relu, 11 leaky relu, 12 sigmoid, 13 tanh (elementwise.wgsl's codes)
    act: u32,
    alpha: f32,
}

@group(0) @binding(0) var<uniform> ep: Epilogue;
@group(0) @binding(1) var<storage, read> ey: array<f32>;
@group(0) @binding(2) var<storage, read> edy: array<f32>;
@group(0) @binding(3) var<storage, read_write> edz: array<f32>;
@group(0) @binding(4) var<storage, read_write> edb: array<f32>;

fn derivative_from_output(y: f32, dy: f32) -> f32 {
    switch ep.act {
        // relu: dy passes where y > 0 or y is NaN (PyTorch's threshold_backward on the output).
        case 10u: { return select(0.0, dy, y > 0.0 || is_nan(y)); }
        case 11u: { return select(ep.alpha * dy, dy, y > 0.0); }
        case 12u: { return dy * y * (1.0 - y); }
        case 13u: { return dy * (1.0 - y * y); }
        default: { return dy; }
    }
}

@compute @workgroup_size(256)
fn linear_epilogue_backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let col = wid.x + wid.y * nwg.x;
    if (col >= ep.cols) {
        return;
    }
    var acc = 0.0;
    for (var r = li; r < ep.rows; r += 256u) {
        let i = r * ep.cols + col;
        let dz = derivative_from_output(ey[i], edy[i]);
        edz[i] = dz;
        acc += dz;
    }
    partial[li] = acc;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (li < s) {
            partial[li] = partial[li] + partial[li + s];
        }
        workgroupBarrier();
    }
    if (li == 0u) {
        edb[col] = partial[0];
    }
}
