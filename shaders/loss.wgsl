// Fused losses (mean over the batch), their gradients, and accuracy counts.
// Cross-entropy's gradient runs one workgroup per row (cross_entropy_backward).
// Kinds: 0 MSE, 1 binary cross-entropy of probabilities (clamped to [eps, 1 − eps]),
// 2 binary cross-entropy of logits, 3 softmax cross-entropy against integer labels.
// Forward and counts run in ONE workgroup (batch-sized inputs); the gradient runs one
// invocation per element.
//
// The forward has one entry point per kind (loss_mse, loss_bce, loss_bce_logits,
// loss_cross_entropy), the kind a constant, not one kernel branching on `p.kind`: Mesa's
// lavapipe (22.x) specialises a kernel for the values of the uniforms its branches test
// ("uniform inlining") and, while the specialised shader comes out small enough (about
// half the original or less), compiles a new one at EVERY dispatch and never frees it. A
// forward that chose its whole body by `p.kind` qualified at batches of 32 or 64 rows:
// ~240 KB of RSS a training step, without end (issue 7; docs/PERFORMANCE.md, "Memory over
// long runs"). Do not select most of a kernel's body with a uniform.

struct Loss {
    rows: u32,
    cols: u32,
    kind: u32,
    eps: f32,
    // accuracy: 0 binary, 1 categorical
    metric: u32,
    threshold: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Loss;
@group(0) @binding(1) var<storage, read> pred: array<f32>;
@group(0) @binding(2) var<storage, read> target_values: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
// backward: pred, target, dloss -> dpred; loss and gradient: pred, target -> out, dpred
@group(0) @binding(3) var<storage, read> dloss: array<f32>;
@group(0) @binding(4) var<storage, read_write> dpred: array<f32>;

var<workgroup> scratch: array<f32, 256>;

fn sigmoid(x: f32) -> f32 {
    if (x >= 0.0) {
        return 1.0 / (1.0 + exp(-x));
    }
    let e = exp(x);
    return e / (1.0 + e);
}

// A NaN anywhere in the row makes it the maximum (and the row's loss NaN), as in PyTorch.
fn row_max(row: u32) -> f32 {
    var m = neg_inf_f32();
    for (var j = 0u; j < p.cols; j++) {
        m = nan_max(m, pred[row * p.cols + j]);
    }
    return m;
}

// ln Σ e^(x − max) + max over one row
fn log_sum_exp(row: u32) -> f32 {
    let m = row_max(row);
    var s = 0.0;
    for (var j = 0u; j < p.cols; j++) {
        s += exp(pred[row * p.cols + j] - m);
    }
    return m + log(s);
}

// A label must be a whole number in 0..cols. The CPU backend rejects others with an
// error; a kernel cannot, so it makes the loss and the row's gradient NaN instead of
// reading a wrong class (`fit` checks labels on the host before training).
fn valid_label(v: f32) -> bool {
    return v >= 0.0 && v == floor(v) && v < f32(p.cols);
}

fn element_loss(i: u32, kind: u32) -> f32 {
    let x = pred[i];
    let t = target_values[i];
    switch kind {
        case 0u: {
            let d = x - t;
            return d * d;
        }
        case 1u: {
            let pc = nan_clamp(x, p.eps, 1.0 - p.eps);
            return -(t * log(pc) + (1.0 - t) * log(1.0 - pc));
        }
        default: {
            // PyTorch's (1 − t)·x − log_sigmoid(x), log_sigmoid(x) = min(x, 0) − ln(1 + e^−|x|):
            // +inf against t = 0 is +inf, against t = 1 NaN (0·inf), as there.
            let log_sigmoid = nan_min(x, 0.0) - log(1.0 + exp(-abs(x)));
            return (1.0 - t) * x - log_sigmoid;
        }
    }
}

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
    // Everyone has read the result before scratch is written again.
    workgroupBarrier();
    return result;
}

// The mean of an elementwise loss (`kind` 0–2, a constant at every call).
fn mean_element_loss(li: u32, kind: u32) {
    let count = p.rows * p.cols;
    var acc = 0.0;
    for (var i = li; i < count; i += 256u) {
        acc += element_loss(i, kind);
    }
    let total = workgroup_sum(li, acc);
    if (li == 0u) {
        out[0] = total / f32(count);
    }
}

@compute @workgroup_size(256)
fn loss_mse(@builtin(local_invocation_index) li: u32) {
    mean_element_loss(li, 0u);
}

@compute @workgroup_size(256)
fn loss_bce(@builtin(local_invocation_index) li: u32) {
    mean_element_loss(li, 1u);
}

@compute @workgroup_size(256)
fn loss_bce_logits(@builtin(local_invocation_index) li: u32) {
    mean_element_loss(li, 2u);
}

@compute @workgroup_size(256)
fn loss_cross_entropy(@builtin(local_invocation_index) li: u32) {
    var acc = 0.0;
    for (var r = li; r < p.rows; r += 256u) {
        let v = target_values[r];
        if (valid_label(v)) {
            acc += log_sum_exp(r) - pred[r * p.cols + u32(v)];
        } else {
            acc += nan_f32();
        }
    }
    let total = workgroup_sum(li, acc);
    if (li == 0u) {
        out[0] = total / f32(p.rows);
    }
}

// ---- Loss and gradient in one dispatch (the loss is what backward starts from) ----
// One workgroup writes the mean to out[0] and d loss / d pred to dpred: what loss_* and
// then loss_backward (or cross_entropy_backward) compute with an upstream gradient of 1.
// For batch-sized predictions only (the host picks these below a size bound): one
// workgroup does all the elements.

// d (mean elementwise loss) / d pred[i], `kind` 0–2 a constant at every call.
fn element_grad(i: u32, kind: u32, n: u32) -> f32 {
    let x = pred[i];
    let t = target_values[i];
    switch kind {
        case 0u: {
            return 2.0 * (x - t) / f32(n);
        }
        case 1u: {
            if (x < p.eps || x > 1.0 - p.eps) {
                return 0.0; // the clamp is flat there
            }
            return (-(t / x) + (1.0 - t) / (1.0 - x)) / f32(n);
        }
        default: {
            return (sigmoid(x) - t) / f32(n);
        }
    }
}

fn mean_element_loss_and_grad(li: u32, kind: u32) {
    let count = p.rows * p.cols;
    var acc = 0.0;
    for (var i = li; i < count; i += 256u) {
        acc += element_loss(i, kind);
        dpred[i] = element_grad(i, kind, count);
    }
    let total = workgroup_sum(li, acc);
    if (li == 0u) {
        out[0] = total / f32(count);
    }
}

@compute @workgroup_size(256)
fn loss_mse_grad(@builtin(local_invocation_index) li: u32) {
    mean_element_loss_and_grad(li, 0u);
}

@compute @workgroup_size(256)
fn loss_bce_grad(@builtin(local_invocation_index) li: u32) {
    mean_element_loss_and_grad(li, 1u);
}

@compute @workgroup_size(256)
fn loss_bce_logits_grad(@builtin(local_invocation_index) li: u32) {
    mean_element_loss_and_grad(li, 2u);
}

// One invocation per row (few classes: the host bounds cols).
@compute @workgroup_size(256)
fn loss_cross_entropy_grad(@builtin(local_invocation_index) li: u32) {
    var acc = 0.0;
    for (var r = li; r < p.rows; r += 256u) {
        let v = target_values[r];
        let lse = log_sum_exp(r);
        let base = r * p.cols;
        let ok = valid_label(v);
        if (ok) {
            acc += lse - pred[base + u32(v)];
        } else {
            acc += nan_f32();
        }
        let scale = 1.0 / f32(p.rows);
        for (var j = 0u; j < p.cols; j++) {
            let one_hot = select(0.0, 1.0, j == u32(v));
            let g = (exp(pred[base + j] - lse) - one_hot) * scale;
            dpred[base + j] = select(nan_f32(), g, ok);
        }
    }
    let total = workgroup_sum(li, acc);
    if (li == 0u) {
        out[0] = total / f32(p.rows);
    }
}

@compute @workgroup_size(256)
fn loss_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    let n = p.rows * p.cols;
    if (i >= n) {
        return;
    }
    let dl = dloss[0];
    let x = pred[i];
    switch p.kind {
        case 0u: {
            dpred[i] = 2.0 * (x - target_values[i]) / f32(n) * dl;
        }
        case 1u: {
            let t = target_values[i];
            if (x < p.eps || x > 1.0 - p.eps) {
                dpred[i] = 0.0; // the clamp is flat there
            } else {
                dpred[i] = (-(t / x) + (1.0 - t) / (1.0 - x)) / f32(n) * dl;
            }
        }
        case 2u: {
            dpred[i] = (sigmoid(x) - target_values[i]) / f32(n) * dl;
        }
        default: {
            // Cross-entropy has its own kernel (cross_entropy_backward).
        }
    }
}

// Correct predictions summed over rows (binary: the fraction right in each row), added
// to out[0]: metrics accumulate over an epoch on the device.
@compute @workgroup_size(256)
fn correct_count(@builtin(local_invocation_index) li: u32) {
    var acc = 0.0;
    if (p.metric == 1u) {
        for (var r = li; r < p.rows; r += 256u) {
            // torch.argmax: the first maximum, a NaN counting as the largest value.
            var best = 0u;
            for (var j = 1u; j < p.cols; j++) {
                let v = pred[r * p.cols + j];
                let b = pred[r * p.cols + best];
                if (!is_nan(b) && (v > b || is_nan(v))) {
                    best = j;
                }
            }
            acc += select(0.0, 1.0, f32(best) == target_values[r]);
        }
    } else {
        for (var i = li; i < p.rows * p.cols; i += 256u) {
            let hit = (pred[i] > p.threshold) == (target_values[i] > 0.5);
            acc += select(0.0, 1.0, hit);
        }
        acc = acc / f32(p.cols);
    }
    let total = workgroup_sum(li, acc);
    if (li == 0u) {
        out[0] = out[0] + total;
    }
}

fn workgroup_max(li: u32, v: f32) -> f32 {
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

// The gradient of softmax cross-entropy, one workgroup per row: the row's max and sum of
// exponentials are reduced once, so a row costs O(cols) whatever the class count.
@compute @workgroup_size(256)
fn cross_entropy_backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let row = wid.x + wid.y * nwg.x;
    if (row >= p.rows) {
        return;
    }
    let base = row * p.cols;
    var m = neg_inf_f32();
    for (var j = li; j < p.cols; j += 256u) {
        m = nan_max(m, pred[base + j]);
    }
    m = workgroup_max(li, m);
    var s = 0.0;
    for (var j = li; j < p.cols; j += 256u) {
        s += exp(pred[base + j] - m);
    }
    s = workgroup_sum(li, s);
    let lse = m + log(s);
    let v = target_values[row];
    let scale = dloss[0] / f32(p.rows);
    for (var j = li; j < p.cols; j += 256u) {
        let one_hot = select(0.0, 1.0, j == u32(v));
        let g = (exp(pred[base + j] - lse) - one_hot) * scale;
        dpred[base + j] = select(nan_f32(), g, valid_label(v));
    }
}
