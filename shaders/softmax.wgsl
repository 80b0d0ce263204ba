// Softmax and log-softmax along the rows of [rows, cols], and their backward: one
// workgroup per row, tree reductions in workgroup memory for the max and the sums.

struct Rows {
    rows: u32,
    cols: u32,
    // 1 for log-softmax
    log: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Rows;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
// backward: y, dy -> dx
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

var<workgroup> scratch: array<f32, 256>;

fn tree_max(li: u32, v: f32) -> f32 {
    scratch[li] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (li < s) {
            scratch[li] = nan_max(scratch[li], scratch[li + s]);
        }
        workgroupBarrier();
    }
    let result = scratch[0];
    workgroupBarrier();
    return result;
}

fn tree_sum(li: u32, v: f32) -> f32 {
    scratch[li] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (li < s) {
            scratch[li] = scratch[li] + scratch[li + s];
        }
        workgroupBarrier();
    }
    let result = scratch[0];
    workgroupBarrier();
    return result;
}

@compute @workgroup_size(256)
fn softmax(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let row = wid.x + wid.y * nwg.x;
    if (row >= p.rows) {
        return;
    }
    let base = row * p.cols;
    // A NaN maximum makes the row NaN, as does +inf (inf − inf), as in PyTorch.
    var m = neg_inf_f32();
    for (var j = li; j < p.cols; j += 256u) {
        m = nan_max(m, x[base + j]);
    }
    m = tree_max(li, m);
    var s = 0.0;
    for (var j = li; j < p.cols; j += 256u) {
        s += exp(x[base + j] - m);
    }
    s = tree_sum(li, s);
    let log_s = log(s);
    for (var j = li; j < p.cols; j += 256u) {
        let shifted = x[base + j] - m;
        if (p.log == 1u) {
            y[base + j] = shifted - log_s;
        } else {
            y[base + j] = exp(shifted) / s;
        }
    }
}

// softmax: dx = y·(dy − Σ dy·y);  log-softmax: dx = dy − e^y · Σ dy
@compute @workgroup_size(256)
fn softmax_backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let row = wid.x + wid.y * nwg.x;
    if (row >= p.rows) {
        return;
    }
    let base = row * p.cols;
    var s = 0.0;
    for (var j = li; j < p.cols; j += 256u) {
        if (p.log == 1u) {
            s += dy[base + j];
        } else {
            s += dy[base + j] * x[base + j];
        }
    }
    s = tree_sum(li, s);
    for (var j = li; j < p.cols; j += 256u) {
        let yv = x[base + j];
        if (p.log == 1u) {
            dx[base + j] = dy[base + j] - exp(yv) * s;
        } else {
            dx[base + j] = yv * (dy[base + j] - s);
        }
    }
}
