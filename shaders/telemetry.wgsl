// fit's gradient-health telemetry (core's TelemetryOps, FitConfig::telemetry): reductions
// added into the epoch's sums, which come back with the epoch's one read-back.
//
// `segment_squares` / `segment_diff_squares`: one workgroup per segment of the table adds
// scale · Σ x² (or Σ (x − minus)²) over its elements to acc[segment]: 256 strided partial
// sums, then a tree. Two entry points rather than a flag (shaders/README.md: lavapipe).
//
// `column_positive`, `column_sigmoid_saturated`, `column_tanh_saturated`: one invocation
// per column of a [rows, cols] activation adds scale · (rows whose unit counts) to acc[c].
// NaN never counts (tested on the bits: a driver may assume floats are not NaN).

struct Segments {
    nseg: u32,
    _pad0: u32,
    scale: f32,
    _pad1: u32,
}

// One row of the segment table (core's SegmentRow).
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

@group(0) @binding(0) var<uniform> h: Segments;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> minus: array<f32>;
@group(0) @binding(3) var<storage, read> segments: array<Segment>;
@group(0) @binding(4) var<storage, read_write> acc: array<f32>;

var<workgroup> partial: array<f32, 256>;

// The tree over the workgroup's partial sums; invocation 0 adds the total.
fn finish_segment(s: u32, lid: u32, total: f32) {
    partial[lid] = total;
    workgroupBarrier();
    for (var w = 128u; w > 0u; w = w / 2u) {
        if (lid < w) {
            partial[lid] = partial[lid] + partial[lid + w];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        acc[s] = acc[s] + h.scale * partial[0];
    }
}

@compute @workgroup_size(256)
fn segment_squares(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let s = wid.x + wid.y * nwg.x;
    if (s >= h.nseg) {
        return; // uniform across the workgroup: no barrier is skipped by part of it
    }
    let seg = segments[s];
    var total = 0.0;
    for (var i = seg.offset + lid; i < seg.offset + seg.len; i = i + 256u) {
        let v = x[i];
        total = total + v * v;
    }
    finish_segment(s, lid, total);
}

@compute @workgroup_size(256)
fn segment_diff_squares(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let s = wid.x + wid.y * nwg.x;
    if (s >= h.nseg) {
        return;
    }
    let seg = segments[s];
    var total = 0.0;
    for (var i = seg.offset + lid; i < seg.offset + seg.len; i = i + 256u) {
        let d = x[i] - minus[i];
        total = total + d * d;
    }
    finish_segment(s, lid, total);
}
