// Mini-batch gathering on the device: out row r = src row indices[start + r].

struct Gather {
    count: u32,
    cols: u32,
    start: u32,
    src_rows: u32,
}

@group(0) @binding(0) var<uniform> g: Gather;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> indices: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn gather_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= g.count * g.cols) {
        return;
    }
    let row = indices[g.start + i / g.cols];
    // A row past the end reads as NaN: a kernel cannot return the CPU's error, and a NaN
    // reaches the loss, where fit's divergence watch reports it; zero would be a silent
    // number. (fit's own indices are always in range.)
    out[i] = select(nan_f32(), src[min(row, g.src_rows - 1u) * g.cols + i % g.cols], row < g.src_rows);
}

// Two matrices by the same rows in one dispatch (a mini-batch's inputs and targets):
// invocations [0, count·cols) gather `src` into `out` as above, the next count·cols_b
// gather `src_b` into `out_b`.
struct GatherPair {
    count: u32,
    cols: u32,
    start: u32,
    src_rows: u32,
    cols_b: u32,
    src_rows_b: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> gp: GatherPair;
@group(0) @binding(4) var<storage, read> src_b: array<f32>;
@group(0) @binding(5) var<storage, read_write> out_b: array<f32>;

@compute @workgroup_size(256)
fn gather_rows_pair(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    let na = gp.count * gp.cols;
    if (i < na) {
        let row = indices[gp.start + i / gp.cols];
        out[i] = select(nan_f32(), src[min(row, gp.src_rows - 1u) * gp.cols + i % gp.cols], row < gp.src_rows);
        return;
    }
    let j = i - na;
    if (j >= gp.count * gp.cols_b) {
        return;
    }
    let row = indices[gp.start + j / gp.cols_b];
    out_b[j] = select(nan_f32(), src_b[min(row, gp.src_rows_b - 1u) * gp.cols_b + j % gp.cols_b], row < gp.src_rows_b);
}
