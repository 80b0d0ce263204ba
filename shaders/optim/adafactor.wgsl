// Adafactor as torch.optim.Adafactor's _single_tensor_adafactor computes it; a tensorwise
// rule (crates/core/src/optim/tensorwise.rs). `adafactor_segments`: one workgroup per
// parameter tensor takes RMS(p) (before weight decay), updates row_var and col_var
// (rank >= 2: one invocation per row and per column, summing g² in order) or variance,
// the row means of row_var per matrix (into the tensor's `variance` range, scratch for a
// factored tensor), then RMS(update), and writes −α/denom to scalars[segment].
// `adafactor`: one vec4 per invocation, p ← p·(1 − lr·wd) + scalars[s]·update, the update
// recomputed from the new state exactly as the first kernel computed it.

// Bits of `flags`, as the rule struct's consts in crates/core/src/optim/adafactor.rs.
const MAXIMIZE: u32 = 2u; // negate the gradient first
const DECAY: u32 = 4u; // multiply p by decay_factor first

struct Adafactor {
    n4: u32,
    // the bits above
    flags: u32,
    nseg: u32,
    rho: f32,
    beta2_t: f32,
    eps1: f32,
    eps1_sq: f32,
    eps2: f32,
    d: f32,
    decay_factor: f32,
    _pad0: u32,
    _pad1: u32,
}

// One row of the segment table (SegmentRow): offsets relative to the run's start.
struct Segment {
    offset: u32,
    len: u32,
    rank: u32,
    batches: u32,
    rows: u32,
    cols: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> h: Adafactor;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
@group(0) @binding(2) var<storage, read> grads: array<f32>;
@group(0) @binding(3) var<storage, read_write> row_var: array<f32>;
@group(0) @binding(4) var<storage, read_write> col_var: array<f32>;
@group(0) @binding(5) var<storage, read_write> variance: array<f32>;
@group(0) @binding(6) var<storage, read> segments: array<Segment>;
@group(0) @binding(7) var<storage, read_write> scalars: array<f32>;

var<workgroup> partial: array<f32, 256>;

fn grad(i: u32) -> f32 {
    if ((h.flags & MAXIMIZE) != 0u) {
        return -grads[i];
    }
    return grads[i];
}

// torch.lerp for f32: both forms, one selected by the weight.
fn lerp_torch(a: f32, b: f32, w: f32) -> f32 {
    return select(b - (b - a) * (1.0 - w), a + w * (b - a), w < 0.5);
}

// Python's max(a, x): a unless x > a (a NaN x gives a).
fn py_max(a: f32, x: f32) -> f32 {
    return select(a, x, !is_nan(x) && x > a);
}

// clamp_(min=eps1²).rsqrt_().mul_(grad)
fn update(v: f32, g: f32) -> f32 {
    return (1.0 / sqrt(nan_max(v, h.eps1_sq))) * g;
}

// The variance estimate of element k (relative to the segment's start) of `seg`.
fn estimate(seg: Segment, k: u32) -> f32 {
    let o = seg.offset;
    if (seg.rank >= 2u) {
        let rc = seg.rows * seg.cols;
        let b = k / rc;
        let r = (k / seg.cols) % seg.rows;
        let c = k % seg.cols;
        return row_var[o + b * seg.rows + r] * col_var[o + b * seg.cols + c] / variance[o + b];
    }
    return variance[o + k];
}

// The sum of every invocation's `x` (all invocations call it, in uniform control flow).
fn workgroup_sum(x: f32, lid: u32) -> f32 {
    partial[lid] = x;
    workgroupBarrier();
    for (var w = 128u; w > 0u; w = w / 2u) {
        if (lid < w) {
            partial[lid] = partial[lid] + partial[lid + w];
        }
        workgroupBarrier();
    }
    let total = partial[0];
    workgroupBarrier(); // before `partial` is written again
    return total;
}

@compute @workgroup_size(256)
fn adafactor_segments(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let s = wid.x + wid.y * nwg.x;
    if (s >= h.nseg) {
        return; // uniform across the workgroup
    }
    let seg = segments[s];
    let o = seg.offset;
    let n = seg.len;
    if (n == 0u) {
        return; // an empty tensor: nothing to update (and no row_var to write)
    }
    let factored = seg.rank >= 2u;
    // RMS(p) before the weight decay: α.
    var acc = 0.0;
    for (var i = o + lid; i < o + n; i = i + 256u) {
        acc = acc + params[i] * params[i];
    }
    let alpha = py_max(h.eps2, sqrt(workgroup_sum(acc, lid)) / sqrt(f32(n))) * h.rho;
    if (factored) {
        let rows = seg.rows;
        let cols = seg.cols;
        for (var k = lid; k < seg.batches * rows; k = k + 256u) {
            let base = o + k * cols; // row r of matrix b starts at (b·rows + r)·cols
            var sum = 0.0;
            for (var c = 0u; c < cols; c = c + 1u) {
                let g = grad(base + c);
                sum = sum + g * g;
            }
            let mean = sqrt(sum) * sqrt(sum) / f32(cols);
            row_var[o + k] = lerp_torch(row_var[o + k], mean, h.beta2_t);
        }
        for (var k = lid; k < seg.batches * cols; k = k + 256u) {
            let b = k / cols;
            let base = o + b * rows * cols + k % cols;
            var sum = 0.0;
            for (var r = 0u; r < rows; r = r + 1u) {
                let g = grad(base + r * cols);
                sum = sum + g * g;
            }
            let mean = sqrt(sum) * sqrt(sum) / f32(rows);
            col_var[o + k] = lerp_torch(col_var[o + k], mean, h.beta2_t);
        }
    }
    storageBarrier();
    if (factored) {
        // row_var.mean(dim=-2).clamp_(min=eps1), per matrix.
        for (var b = lid; b < seg.batches; b = b + 256u) {
            var sum = 0.0;
            for (var r = 0u; r < seg.rows; r = r + 1u) {
                sum = sum + row_var[o + b * seg.rows + r];
            }
            variance[o + b] = nan_max(sum / f32(seg.rows), h.eps1);
        }
    } else {
        for (var i = o + lid; i < o + n; i = i + 256u) {
            let g = grad(i);
            variance[i] = lerp_torch(variance[i], g * g, h.beta2_t);
        }
    }
    storageBarrier();
    acc = 0.0;
    for (var k = lid; k < n; k = k + 256u) {
        let u = update(estimate(seg, k), grad(o + k));
        acc = acc + u * u;
    }
    let norm = sqrt(workgroup_sum(acc, lid));
    if (lid == 0u) {
        let denom = py_max(1.0, norm / (sqrt(f32(n)) * h.d));
        scalars[s] = -alpha / denom;
    }
}

// The segment holding element `e`: the last one whose offset is ≤ e.
fn segment_of(e: u32) -> u32 {
    var lo = 0u;
    var hi = h.nseg;
    while (hi - lo > 1u) {
        let mid = (lo + hi) / 2u;
        if (segments[mid].offset <= e) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

@compute @workgroup_size(256)
fn adafactor(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i4 = gid.x + gid.y * nwg.x * 256u;
    if (i4 >= h.n4) {
        return;
    }
    // Segments start on 64-element boundaries: the 4 elements share one.
    let s = segment_of(i4 * 4u);
    let seg = segments[s];
    let factor = scalars[s];
    for (var j = 0u; j < 4u; j = j + 1u) {
        let i = i4 * 4u + j;
        if (i >= seg.offset && i < seg.offset + seg.len) {
            let u = update(estimate(seg, i - seg.offset), grad(i));
            var p = params[i];
            if ((h.flags & DECAY) != 0u) {
                p = p * h.decay_factor;
            }
            params[i] = p + factor * u;
        }
    }
}
