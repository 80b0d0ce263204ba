// Batch norm and layer norm: x viewed as [A, C, B] (outer, channels, inner), statistics
// per channel c over its n = A·B elements. Two variants of each kernel, chosen by n on the
// host (crates/gpu/src/ops/norm.rs): for long channels one workgroup per channel with tree
// sums in workgroup memory; for short ones (n <= 256) one invocation per channel summing
// in blocks of 16, with no barrier at all (on lavapipe a workgroup's barriers cost ~50 µs,
// which made a layer norm of 4096 rows of 8 take 200 ms). Every result is the same run
// to run (no atomics).
//
// forward:  mean = Σx / n, var = Σ(x − mean)² / n (two passes: a channel of equal values
//           has var = 0 exactly, so x̂ = 0), rstd = 1 / sqrt(var + eps),
//           y = x̂·γ + β (or x̂) with x̂ = (x − mean)·rstd.
// backward: g = dy·γ, dx = rstd·(g − mean(g) − x̂·mean(g·x̂)), dγ = Σ dy·x̂, dβ = Σ dy.

struct Norm {
    outer: u32,
    channels: u32,
    inner: u32,
    eps: f32,
    // 0: no affine map, 1: γ, β per channel, 2: per inner position
    affine: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Norm;
// forward
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> mean_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> rstd_out: array<f32>;
// backward: x, mean, rstd, dy, γ → dx, dγ, dβ
@group(0) @binding(2) var<storage, read> mean_in: array<f32>;
@group(0) @binding(3) var<storage, read> rstd_in: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read> gamma_in: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;
@group(0) @binding(7) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(8) var<storage, read_write> dbeta: array<f32>;
// the affine gradients per inner position: x, mean, rstd, dy → dγ, dβ
@group(0) @binding(5) var<storage, read_write> dgamma_inner: array<f32>;
@group(0) @binding(6) var<storage, read_write> dbeta_inner: array<f32>;

var<workgroup> partial: array<vec2<f32>, 256>;

fn tree_sum2(li: u32, v: vec2<f32>) -> vec2<f32> {
    partial[li] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (li < s) {
            partial[li] = partial[li] + partial[li + s];
        }
        workgroupBarrier();
    }
    let result = partial[0];
    workgroupBarrier();
    return result;
}

// The flat index of the k-th element (k < A·B) of channel c.
fn element(c: u32, k: u32) -> u32 {
    let a = k / p.inner;
    return (a * p.channels + c) * p.inner + (k - a * p.inner);
}

// Which γ, β the element k of channel c uses.
fn param_index(c: u32, k: u32) -> u32 {
    return select(c, k % p.inner, p.affine == 2u);
}

@compute @workgroup_size(256)
fn norm_forward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let c = wid.x + wid.y * nwg.x;
    if (c >= p.channels) {
        return;
    }
    let count = p.outer * p.inner;
    // The mean of nothing is NaN (0/0 in IEEE, which a driver may not honour).
    let n = select(nan_f32(), f32(count), count > 0u);
    var s = 0.0;
    for (var k = li; k < count; k += 256u) {
        s += x[element(c, k)];
    }
    let mean = tree_sum2(li, vec2<f32>(s, 0.0)).x / n;
    var q = 0.0;
    for (var k = li; k < count; k += 256u) {
        let d = x[element(c, k)] - mean;
        q += d * d;
    }
    let rstd = 1.0 / sqrt(tree_sum2(li, vec2<f32>(q, 0.0)).x / n + p.eps);
    for (var k = li; k < count; k += 256u) {
        let i = element(c, k);
        let xhat = (x[i] - mean) * rstd;
        let j = param_index(c, k);
        y[i] = select(xhat, xhat * gamma[j] + beta[j], p.affine != 0u);
    }
    if (li == 0u) {
        mean_out[c] = mean;
        rstd_out[c] = rstd;
    }
}

@compute @workgroup_size(256)
fn norm_backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let c = wid.x + wid.y * nwg.x;
    if (c >= p.channels) {
        return;
    }
    let count = p.outer * p.inner;
    let n = select(nan_f32(), f32(count), count > 0u);
    let m = mean_in[c];
    let r = rstd_in[c];
    // Per inner position, γ goes into g element by element; per channel, it scales the
    // sums once (Σ dy and Σ dy·x̂ are then dβ and dγ as they are).
    var sums = vec2<f32>(0.0, 0.0);
    for (var k = li; k < count; k += 256u) {
        let i = element(c, k);
        let g = dy[i] * select(1.0, gamma_in[k % p.inner], p.affine == 2u);
        sums += vec2<f32>(g, g * ((x[i] - m) * r));
    }
    sums = tree_sum2(li, sums);
    let gc = select(1.0, gamma_in[c], p.affine == 1u);
    let mean_g = gc * sums.x / n;
    let mean_gx = gc * sums.y / n;
    for (var k = li; k < count; k += 256u) {
        let i = element(c, k);
        let g = dy[i] * select(gc, gamma_in[k % p.inner], p.affine == 2u);
        dx[i] = r * (g - mean_g - (x[i] - m) * r * mean_gx);
    }
    if (li == 0u && p.affine == 1u) {
        dgamma[c] = sums.y;
        dbeta[c] = sums.x;
    }
}

// dγ[b] = Σ_{a,c} dy·x̂ and dβ[b] = Σ_{a,c} dy for γ, β per inner position: one workgroup
// per position b.
@compute @workgroup_size(256)
fn norm_affine_backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let b = wid.x + wid.y * nwg.x;
    if (b >= p.inner) {
        return;
    }
    let rows = p.outer * p.channels;
    var sums = vec2<f32>(0.0, 0.0);
    for (var k = li; k < rows; k += 256u) {
        let c = k % p.channels;
        let i = k * p.inner + b;
        sums += vec2<f32>(dy[i], dy[i] * ((x[i] - mean_in[c]) * rstd_in[c]));
    }
    sums = tree_sum2(li, sums);
    if (li == 0u) {
        dgamma_inner[b] = sums.y;
        dbeta_inner[b] = sums.x;
    }
}

// Batch norm's running statistics, in place, one workgroup: num_batches_tracked += 1, then
// running ← (1 − f)·running + f·batch with f = momentum (or 1 / num_batches_tracked), the
// batch variance unbiased: (1/rstd² − eps)·n/(n − 1).
struct Running {
    channels: u32,
    // 1: f = 1 / num_batches_tracked (PyTorch's momentum=None)
    cumulative: u32,
    momentum: f32,
    eps: f32,
    // n / (n − 1), rounded on the host
    bessel: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> run: Running;
@group(0) @binding(1) var<storage, read> batch_mean: array<f32>;
@group(0) @binding(2) var<storage, read> batch_rstd: array<f32>;
@group(0) @binding(3) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(4) var<storage, read_write> running_var: array<f32>;
@group(0) @binding(5) var<storage, read_write> tracked: array<f32>;

@compute @workgroup_size(256)
fn norm_update_running(@builtin(local_invocation_index) li: u32) {
    let t = tracked[0] + 1.0;
    // Every invocation has read the old count before the first one writes the new one.
    storageBarrier();
    if (li == 0u) {
        tracked[0] = t;
    }
    let f = select(run.momentum, 1.0 / t, run.cumulative == 1u);
    for (var c = li; c < run.channels; c += 256u) {
        let r = batch_rstd[c];
        let v = 1.0 / (r * r) - run.eps;
        running_mean[c] = (1.0 - f) * running_mean[c] + f * batch_mean[c];
        running_var[c] = (1.0 - f) * running_var[c] + f * (v * run.bessel);
    }
}

// ---- one invocation per channel (n <= 256), blocked sums: a chain of at most
// 16 + ceil(n / 16) additions.

@compute @workgroup_size(256)
fn norm_forward_serial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = gid.x + gid.y * nwg.x * 256u;
    if (c >= p.channels) {
        return;
    }
    let count = p.outer * p.inner;
    let n = select(nan_f32(), f32(count), count > 0u);
    var total = 0.0;
    var block = 0.0;
    for (var k = 0u; k < count; k++) {
        block += x[element(c, k)];
        if ((k & 15u) == 15u) {
            total += block;
            block = 0.0;
        }
    }
    let mean = (total + block) / n;
    total = 0.0;
    block = 0.0;
    for (var k = 0u; k < count; k++) {
        let d = x[element(c, k)] - mean;
        block += d * d;
        if ((k & 15u) == 15u) {
            total += block;
            block = 0.0;
        }
    }
    let rstd = 1.0 / sqrt((total + block) / n + p.eps);
    for (var k = 0u; k < count; k++) {
        let i = element(c, k);
        let xhat = (x[i] - mean) * rstd;
        let j = param_index(c, k);
        y[i] = select(xhat, xhat * gamma[j] + beta[j], p.affine != 0u);
    }
    mean_out[c] = mean;
    rstd_out[c] = rstd;
}

@compute @workgroup_size(256)
fn norm_backward_serial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = gid.x + gid.y * nwg.x * 256u;
    if (c >= p.channels) {
        return;
    }
    let count = p.outer * p.inner;
    let n = select(nan_f32(), f32(count), count > 0u);
    let m = mean_in[c];
    let r = rstd_in[c];
    var total = vec2<f32>(0.0, 0.0);
    var block = vec2<f32>(0.0, 0.0);
    for (var k = 0u; k < count; k++) {
        let i = element(c, k);
        let g = dy[i] * select(1.0, gamma_in[k % p.inner], p.affine == 2u);
        block += vec2<f32>(g, g * ((x[i] - m) * r));
        if ((k & 15u) == 15u) {
            total += block;
            block = vec2<f32>(0.0, 0.0);
        }
    }
    let sums = total + block;
    let gc = select(1.0, gamma_in[c], p.affine == 1u);
    let mean_g = gc * sums.x / n;
    let mean_gx = gc * sums.y / n;
    for (var k = 0u; k < count; k++) {
        let i = element(c, k);
        let g = dy[i] * select(gc, gamma_in[k % p.inner], p.affine == 2u);
        dx[i] = r * (g - mean_g - (x[i] - m) * r * mean_gx);
    }
    if (p.affine == 1u) {
        dgamma[c] = sums.y;
        dbeta[c] = sums.x;
    }
}

@compute @workgroup_size(256)
fn norm_affine_backward_serial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let b = gid.x + gid.y * nwg.x * 256u;
    if (b >= p.inner) {
        return;
    }
    let rows = p.outer * p.channels;
    var total = vec2<f32>(0.0, 0.0);
    var block = vec2<f32>(0.0, 0.0);
    for (var k = 0u; k < rows; k++) {
        let c = k % p.channels;
        let i = k * p.inner + b;
        block += vec2<f32>(dy[i], dy[i] * ((x[i] - mean_in[c]) * rstd_in[c]));
        if ((k & 15u) == 15u) {
            total += block;
            block = vec2<f32>(0.0, 0.0);
        }
    }
    let sums = total + block;
    dgamma_inner[b] = sums.y;
    dbeta_inner[b] = sums.x;
}
