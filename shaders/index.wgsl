// Region copies, indexing and selection: pad (which is also narrow's crop, both
// backwards and each part of a concat), index_select / gather and their scatter-add
// backward, argmax / argmin, and where. The CPU reference is crates/cpu/src/index.rs.
// 256 invocations per workgroup; the grid may be 2-D, so the linear index is
// gid.x + gid.y * nwg.x * 256.

const WG: u32 = 256u;
// An index that is not an integer in range (see index_value).
const INVALID: u32 = 0xffffffffu;

fn linear(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

fn axis(v: array<vec4<u32>, 2>, d: u32) -> u32 {
    return v[d / 4u][d % 4u];
}

// ---------------------------------------------------------------- region copy
// Iterates the coordinates c of `dims` (up to 8 axes): reads the source at c + shift when
// that lies inside src_dims (shift wraps, so a negative one is a large u32 and lands
// outside), else writes `value`; writes at dst_base + Σ c·dst_strides.
struct Region {
    n: u32,
    rank: u32,
    dst_base: u32,
    value: f32,
    dims: array<vec4<u32>, 2>,
    src_dims: array<vec4<u32>, 2>,
    shift: array<vec4<u32>, 2>,
    src_strides: array<vec4<u32>, 2>,
    dst_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> rg: Region;
@group(0) @binding(1) var<storage, read> region_src: array<f32>;
@group(0) @binding(2) var<storage, read_write> region_dst: array<f32>;

@compute @workgroup_size(256)
fn region_copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let p = linear(gid, nwg);
    if (p >= rg.n) {
        return;
    }
    var rest = p;
    var src = 0u;
    var dst = 0u;
    var inside = true;
    for (var d = i32(rg.rank) - 1; d >= 0; d--) {
        let a = u32(d);
        let size = axis(rg.dims, a);
        let c = rest % size;
        rest = rest / size;
        let s = c + axis(rg.shift, a);
        inside = inside && s < axis(rg.src_dims, a);
        src += s * axis(rg.src_strides, a);
        dst += c * axis(rg.dst_strides, a);
    }
    var v = rg.value;
    if (inside) {
        v = region_src[src];
    }
    region_dst[rg.dst_base + dst] = v;
}

// ---------------------------------------------------------------- index_select, gather
// x is [outer, len, inner]; the result and dy are [outer, k, inner]. The index of position
// (o, j, i) is idx[o·idx_outer + j·idx_k + i·idx_inner]: strides (0, 1, 0) for index_select,
// (k·inner, inner, 1) for gather.
struct Index {
    outer: u32,
    len: u32,
    inner: u32,
    k: u32,
    idx_outer: u32,
    idx_k: u32,
    idx_inner: u32,
    // A row that gets no gradient (an embedding's padding_idx), or INVALID.
    skip: u32,
}

@group(0) @binding(0) var<uniform> ix: Index;
@group(0) @binding(1) var<storage, read> index_x: array<f32>;
@group(0) @binding(2) var<storage, read> index_idx: array<f32>;
@group(0) @binding(3) var<storage, read_write> index_out: array<f32>;

// The row an f32 index names, or INVALID unless it is a whole number in 0..len (tested on
// the bits first: a driver may assume comparisons never see a NaN).
fn index_value(v: f32, len: u32) -> u32 {
    if (!is_finite(v) || v < 0.0 || v >= 4294967296.0 || floor(v) != v) {
        return INVALID;
    }
    let u = u32(v);
    return select(INVALID, u, u < len);
}

fn index_at(o: u32, j: u32, i: u32) -> u32 {
    return index_value(index_idx[o * ix.idx_outer + j * ix.idx_k + i * ix.idx_inner], ix.len);
}

@compute @workgroup_size(256)
fn index_gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let p = linear(gid, nwg);
    if (p >= ix.outer * ix.k * ix.inner) {
        return;
    }
    let i = p % ix.inner;
    let j = (p / ix.inner) % ix.k;
    let o = p / (ix.inner * ix.k);
    let l = index_at(o, j, i);
    var v = nan_f32();
    if (l != INVALID) {
        v = index_x[(o * ix.len + l) * ix.inner + i];
    }
    index_out[p] = v;
}

// The backward: one invocation per (o, i) column of dx (already zeroed), adding the rows
// in index order. Each column is written by its invocation alone, so no atomics are needed
// and the sums come out bit-identical run to run (and equal to the CPU's, same order).
@group(0) @binding(1) var<storage, read> scatter_dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> scatter_dx: array<f32>;

@compute @workgroup_size(256)
fn index_scatter_add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = linear(gid, nwg);
    if (c >= ix.outer * ix.inner) {
        return;
    }
    let i = c % ix.inner;
    let o = c / ix.inner;
    for (var j = 0u; j < ix.k; j++) {
        let l = index_at(o, j, i);
        if (l != INVALID && l != ix.skip) {
            let at = (o * ix.len + l) * ix.inner + i;
            scatter_dx[at] = scatter_dx[at] + scatter_dy[(o * ix.k + j) * ix.inner + i];
        }
    }
}

// ---------------------------------------------------------------- argmax, argmin
// One invocation per (o, i) column of [outer, len, inner]: the first extreme along len, a
// NaN winning (torch.argmax / torch.argmin), as an f32 position.
struct Arg {
    outer: u32,
    len: u32,
    inner: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> ag: Arg;
@group(0) @binding(1) var<storage, read> arg_x: array<f32>;
@group(0) @binding(2) var<storage, read_write> arg_out: array<f32>;

fn arg_extreme(c: u32, want_max: bool) {
    let i = c % ag.inner;
    let base = (c / ag.inner) * ag.len * ag.inner + i;
    var best = 0u;
    var b = arg_x[base];
    for (var l = 1u; l < ag.len; l++) {
        let v = arg_x[base + l * ag.inner];
        // Whatever a comparison with a NaN gives, the is_nan tests decide those cases.
        let beats = select((v < b), (v > b), want_max);
        if (!is_nan(b) && (beats || is_nan(v))) {
            best = l;
            b = v;
        }
    }
    arg_out[c] = f32(best);
}

@compute @workgroup_size(256)
fn argmax(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = linear(gid, nwg);
    if (c < ag.outer * ag.inner) {
        arg_extreme(c, true);
    }
}

@compute @workgroup_size(256)
fn argmin(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = linear(gid, nwg);
    if (c < ag.outer * ag.inner) {
        arg_extreme(c, false);
    }
}

// ---------------------------------------------------------------- where
// out = a where cond is nonzero (NaN included: any bits but ±0), else b; the three read
// through broadcast strides (0 along stretched axes) of the output's dims. Only the
// chosen value is read, so the other branch's NaN or inf cannot leak.
struct Select {
    n: u32,
    rank: u32,
    _pad0: u32,
    _pad1: u32,
    out_dims: array<vec4<u32>, 2>,
    cond_strides: array<vec4<u32>, 2>,
    a_strides: array<vec4<u32>, 2>,
    b_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> sel: Select;
@group(0) @binding(1) var<storage, read> sel_cond: array<f32>;
@group(0) @binding(2) var<storage, read> sel_a: array<f32>;
@group(0) @binding(3) var<storage, read> sel_b: array<f32>;
@group(0) @binding(4) var<storage, read_write> sel_out: array<f32>;

@compute @workgroup_size(256)
fn where_cond(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let p = linear(gid, nwg);
    if (p >= sel.n) {
        return;
    }
    var rest = p;
    var ic = 0u;
    var ia = 0u;
    var ib = 0u;
    for (var d = i32(sel.rank) - 1; d >= 0; d--) {
        let a = u32(d);
        let c = rest % axis(sel.out_dims, a);
        rest = rest / axis(sel.out_dims, a);
        ic += c * axis(sel.cond_strides, a);
        ia += c * axis(sel.a_strides, a);
        ib += c * axis(sel.b_strides, a);
    }
    if ((bitcast<u32>(sel_cond[ic]) & ABS_MASK) != 0u) {
        sel_out[p] = sel_a[ia];
    } else {
        sel_out[p] = sel_b[ib];
    }
}
