// Metric statistics accumulated over an epoch (Backend::accumulate_stats), one entry point
// per statistic (a kernel must not pick its body with a uniform: shaders/README.md).
// Counters are u32 atomics over the f32 accumulator's bits, so counts are exact and the
// same on every run; sums of errors run in ONE workgroup (batch-sized inputs).

struct Stats {
    rows: u32,
    cols: u32,
    k: u32,
    threshold: f32,
}

@group(0) @binding(0) var<uniform> p: Stats;
@group(0) @binding(1) var<storage, read> pred: array<f32>;
@group(0) @binding(2) var<storage, read> target_values: array<f32>;
@group(0) @binding(3) var<storage, read_write> counts: array<atomic<u32>>;

fn index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 256u;
}

// A whole number in 0..classes, else classes (no such class).
fn label_of(v: f32, classes: u32) -> u32 {
    if (v >= 0.0 && v == floor(v) && v < f32(classes)) {
        return u32(v);
    }
    return classes;
}

// The first maximum of a row; the first NaN counts as the maximum (torch.argmax).
fn argmax(row: u32) -> u32 {
    let base = row * p.cols;
    var best = 0u;
    for (var j = 1u; j < p.cols; j++) {
        let b = pred[base + best];
        let v = pred[base + j];
        if (!is_nan(b) && (v > b || is_nan(v))) {
            best = j;
        }
    }
    return best;
}

@compute @workgroup_size(256)
fn confusion_categorical(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = index(gid, nwg);
    if (row >= p.rows) {
        return;
    }
    let t = label_of(target_values[row], p.cols);
    if (t < p.cols) {
        atomicAdd(&counts[t * p.cols + argmax(row)], 1u);
    }
}

@compute @workgroup_size(256)
fn confusion_binary(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i >= p.rows * p.cols) {
        return;
    }
    let t = select(0u, 1u, target_values[i] > 0.5);
    let q = select(0u, 1u, pred[i] > p.threshold);
    atomicAdd(&counts[t * 2u + q], 1u);
}

@compute @workgroup_size(256)
fn top_k(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = index(gid, nwg);
    if (row >= p.rows) {
        return;
    }
    let t = label_of(target_values[row], p.cols);
    if (t >= p.cols) {
        return;
    }
    let base = row * p.cols;
    let s = pred[base + t];
    var above = 0u;
    var finite = true;
    for (var j = 0u; j < p.cols; j++) {
        let v = pred[base + j];
        finite = finite && is_finite(v);
        if (v > s) {
            above += 1u;
        }
    }
    if (finite && above < p.k) {
        atomicAdd(&counts[0], 1u);
    }
}

// ---------------------------------------------------------------- regression errors
@group(0) @binding(3) var<storage, read_write> sums: array<f32>;

var<workgroup> scratch: array<f32, 256>;

fn workgroup_sum(li: u32, v: f32) -> f32 {
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

// Per column c, sums[5c..5c+5] = rows seen, targets' mean, their M2, Σ|e|, Σe²: the batch's
// mean and M2 are reduced first, then merged (Chan's formula) by invocation 0.
@compute @workgroup_size(256)
fn errors(@builtin(local_invocation_index) li: u32) {
    let n_b = f32(p.rows);
    for (var c = 0u; c < p.cols; c++) {
        var t_sum = 0.0;
        for (var r = li; r < p.rows; r += 256u) {
            t_sum += target_values[r * p.cols + c];
        }
        let mean_b = workgroup_sum(li, t_sum) / max(n_b, 1.0);
        var dev = 0.0;
        var abs_e = 0.0;
        var sq_e = 0.0;
        for (var r = li; r < p.rows; r += 256u) {
            let t = target_values[r * p.cols + c];
            let e = pred[r * p.cols + c] - t;
            dev += (t - mean_b) * (t - mean_b);
            abs_e += abs(e);
            sq_e += e * e;
        }
        let m2_b = workgroup_sum(li, dev);
        let abs_total = workgroup_sum(li, abs_e);
        let sq_total = workgroup_sum(li, sq_e);
        if (li == 0u) {
            let s = 5u * c;
            let n_a = sums[s];
            let n = n_a + n_b;
            if (n > 0.0) {
                let delta = mean_b - sums[s + 1u];
                sums[s + 1u] = sums[s + 1u] + delta * (n_b / n);
                sums[s + 2u] = sums[s + 2u] + m2_b + delta * delta * (n_a * n_b / n);
                sums[s] = n;
            }
            sums[s + 3u] = sums[s + 3u] + abs_total;
            sums[s + 4u] = sums[s + 4u] + sq_total;
        }
        workgroupBarrier();
    }
}
