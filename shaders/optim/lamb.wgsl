// LAMB (You et al. 2020, Algorithm 2) as timm's Lamb computes it; a tensorwise rule
// (crates/core/src/optim/tensorwise.rs). `lamb_segments`: one workgroup per parameter
// tensor updates exp_avg and exp_avg_sq and reduces ||p||² and ||u||² (u: the update
// before the trust ratio), writing the tensor's trust ratio to scalars[segment]. `lamb`:
// one vec4 per invocation, p ← p − lr · (u · trust), with u recomputed from the new moments
// exactly as the first kernel computed it.

// Bits of `flags`, as the rule struct's consts in crates/core/src/optim/lamb.rs.
const ADAPT: u32 = 1u; // scale by the trust ratio
const TRUST_CLIP: u32 = 4u; // cap it at 1
const COUPLED: u32 = 8u; // u += wd · p
const DECOUPLED: u32 = 16u; // p += (−lr·wd) · p first

struct Lamb {
    n4: u32,
    // the bits above
    flags: u32,
    nseg: u32,
    lr: f32,
    beta1: f32,
    one_minus_beta2: f32,
    beta3: f32,
    eps: f32,
    weight_decay: f32,
    bias_correction1: f32,
    bias_correction2_sqrt: f32,
    neg_lr_wd: f32,
    beta2: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
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

@group(0) @binding(0) var<uniform> h: Lamb;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
@group(0) @binding(2) var<storage, read> grads: array<f32>;
@group(0) @binding(3) var<storage, read_write> exp_avg: array<f32>;
@group(0) @binding(4) var<storage, read_write> exp_avg_sq: array<f32>;
@group(0) @binding(5) var<storage, read> segments: array<Segment>;
@group(0) @binding(6) var<storage, read_write> scalars: array<f32>;

var<workgroup> sum_p: array<f32, 256>;
var<workgroup> sum_u: array<f32, 256>;

// (decayed p, u) from the parameter and the new moments.
fn update(p0: f32, m: f32, v: f32) -> vec2<f32> {
    let denom = sqrt(v) / h.bias_correction2_sqrt + h.eps;
    var u = (m / h.bias_correction1) / denom;
    var p = p0;
    if ((h.flags & COUPLED) != 0u) {
        u = u + h.weight_decay * p;
    }
    if ((h.flags & DECOUPLED) != 0u) {
        p = p + h.neg_lr_wd * p;
    }
    return vec2<f32>(p, u);
}

// torch.where(w > 0, torch.where(u > 0, w / u, 1), 1), capped with TRUST_CLIP.
fn trust_ratio(w: f32, u: f32) -> f32 {
    if ((h.flags & ADAPT) == 0u) {
        return 1.0;
    }
    var r = 1.0;
    if (!is_nan(w) && !is_nan(u) && w > 0.0 && u > 0.0) {
        r = w / u;
    }
    if ((h.flags & TRUST_CLIP) != 0u) {
        r = nan_min(r, 1.0);
    }
    return r;
}

@compute @workgroup_size(256)
fn lamb_segments(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let s = wid.x + wid.y * nwg.x;
    if (s >= h.nseg) {
        return; // uniform across the workgroup: no barrier is skipped by part of it
    }
    let seg = segments[s];
    var pp = 0.0;
    var uu = 0.0;
    for (var i = seg.offset + lid; i < seg.offset + seg.len; i = i + 256u) {
        let g = grads[i];
        let m = exp_avg[i] * h.beta1 + h.beta3 * g;
        let v = exp_avg_sq[i] * h.beta2 + h.one_minus_beta2 * g * g;
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        let pu = update(params[i], m, v);
        pp = pp + pu.x * pu.x;
        uu = uu + pu.y * pu.y;
    }
    sum_p[lid] = pp;
    sum_u[lid] = uu;
    workgroupBarrier();
    for (var w = 128u; w > 0u; w = w / 2u) {
        if (lid < w) {
            sum_p[lid] = sum_p[lid] + sum_p[lid + w];
            sum_u[lid] = sum_u[lid] + sum_u[lid + w];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        scalars[s] = trust_ratio(sqrt(sum_p[0]), sqrt(sum_u[0]));
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
fn lamb(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i4 = gid.x + gid.y * nwg.x * 256u;
    if (i4 >= h.n4) {
        return;
    }
    // Segments start on 64-element boundaries: the 4 elements share one.
    let s = segment_of(i4 * 4u);
    let seg = segments[s];
    let trust = scalars[s];
    for (var k = 0u; k < 4u; k = k + 1u) {
        let i = i4 * 4u + k;
        if (i >= seg.offset && i < seg.offset + seg.len) {
            let pu = update(params[i], exp_avg[i], exp_avg_sq[i]);
            params[i] = pu.x + -h.lr * (pu.y * trust);
        }
    }
}
