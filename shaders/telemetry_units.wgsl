// fit's gradient-health telemetry, per unit of an activation (core's
// TelemetryOps::accumulate_column_counts): one invocation per column c of a [rows, cols]
// output adds scale · (the rows on which unit c counts) to acc[c]. One entry point per
// probe (shaders/README.md: lavapipe). NaN never counts, tested on the bits (a driver may
// assume floats are not NaN). The thresholds are core's SATURATION = 0.01.

struct Units {
    rows: u32,
    cols: u32,
    scale: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> u: Units;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> acc: array<f32>;

const SATURATION: f32 = 0.01;

fn column(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 256u;
}

@compute @workgroup_size(256)
fn column_positive(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = column(gid, nwg);
    if (c >= u.cols) {
        return;
    }
    var n = 0u;
    for (var r = 0u; r < u.rows; r = r + 1u) {
        let v = y[r * u.cols + c];
        n = n + select(0u, 1u, !is_nan(v) && v > 0.0);
    }
    acc[c] = acc[c] + u.scale * f32(n);
}

@compute @workgroup_size(256)
fn column_sigmoid_saturated(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = column(gid, nwg);
    if (c >= u.cols) {
        return;
    }
    var n = 0u;
    for (var r = 0u; r < u.rows; r = r + 1u) {
        let v = y[r * u.cols + c];
        n = n + select(0u, 1u, !is_nan(v) && v * (1.0 - v) < 0.25 * SATURATION);
    }
    acc[c] = acc[c] + u.scale * f32(n);
}

@compute @workgroup_size(256)
fn column_tanh_saturated(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = column(gid, nwg);
    if (c >= u.cols) {
        return;
    }
    var n = 0u;
    for (var r = 0u; r < u.rows; r = r + 1u) {
        let v = y[r * u.cols + c];
        n = n + select(0u, 1u, !is_nan(v) && 1.0 - v * v < SATURATION);
    }
    acc[c] = acc[c] + u.scale * f32(n);
}
