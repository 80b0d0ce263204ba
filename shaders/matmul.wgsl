// C[m, n] = act(op(A) · op(B) + bias), row-major, where op transposes an operand when its
// flag is set (A stored [m, k] or [k, m]; B stored [k, n] or [n, k]); the epilogue adds a
// bias row and applies a fusable activation while the result is still in registers.
// The kernels:
// - matmul_tiled: 64x64 output tiles through workgroup memory, 16x16 invocations with 4x4
//   outputs each; for real GPUs.
// - matmul_register: no workgroup memory, 4x4 outputs per invocation accumulated in
//   registers; for CPU adapters (lavapipe), any shape.
// - matmul_register_vec4: the same idea, 4x8 outputs per invocation with vec4 loads of B
//   (B not transposed, n a multiple of 8): neighbouring invocations read neighbouring
//   memory, which is what a CPU's SIMD lanes want.
// - matmul_register_vec4_4x16: the same kernel with 4x16 outputs per invocation (n a
//   multiple of 16); whether a CPU adapter runs it faster is measured when the device
//   opens (crates/gpu/src/autotune.rs).

struct Dims {
    m: u32,
    k: u32,
    n: u32,
    // bit 0: transpose A; bit 1: transpose B
    flags: u32,
    // output tiles (tiled) or blocks (register) along n
    tiles_n: u32,
    // 1: add bias[col]
    has_bias: u32,
    // 0 none, 10 relu, 11 leaky relu, 12 sigmoid, 13 tanh (elementwise.wgsl's codes)
    act: u32,
    alpha: f32,
}

@group(0) @binding(0) var<uniform> d: Dims;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
@group(0) @binding(2) var<storage, read> b4: array<vec4<f32>>;

fn epilogue(v: f32, col: u32) -> f32 {
    var z = v;
    if (d.has_bias == 1u) {
        z += bias[col];
    }
    switch d.act {
        case 10u: { return nan_max(z, 0.0); }
        case 11u: { return select(d.alpha * z, z, z > 0.0); }
        case 12u: {
            if (z >= 0.0) {
                return 1.0 / (1.0 + exp(-z));
            }
            let e = exp(z);
            return e / (1.0 + e);
        }
        case 13u: { return tanh_f32(z); }
        default: { return z; }
    }
}

fn load_a(i: u32, kk: u32) -> f32 {
    if (i >= d.m || kk >= d.k) {
        return 0.0;
    }
    if ((d.flags & 1u) != 0u) {
        return a[kk * d.m + i];
    }
    return a[i * d.k + kk];
}

fn load_b(kk: u32, j: u32) -> f32 {
    if (kk >= d.k || j >= d.n) {
        return 0.0;
    }
    if ((d.flags & 2u) != 0u) {
        return b[j * d.k + kk];
    }
    return b[kk * d.n + j];
}

const TILE: u32 = 64u;
const BK: u32 = 16u;

var<workgroup> tile_a: array<f32, 1024>; // [BK][TILE]
var<workgroup> tile_b: array<f32, 1024>; // [BK][TILE]

@compute @workgroup_size(16, 16)
fn matmul_tiled(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let tile = wid.x + wid.y * nwg.x;
    let row0 = (tile / d.tiles_n) * TILE;
    let col0 = (tile % d.tiles_n) * TILE;
    var acc: array<f32, 16>;
    for (var t = 0u; t < 16u; t++) {
        acc[t] = 0.0;
    }
    let k_tiles = (d.k + BK - 1u) / BK;
    for (var kt = 0u; kt < k_tiles; kt++) {
        let k0 = kt * BK;
        // 256 invocations load 1024 elements of each tile, 4 apiece.
        for (var r = 0u; r < 4u; r++) {
            let e = li + r * 256u;
            let kk = e / TILE;
            let x = e % TILE;
            tile_a[e] = load_a(row0 + x, k0 + kk);
            tile_b[e] = load_b(k0 + kk, col0 + x);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            var av: array<f32, 4>;
            var bv: array<f32, 4>;
            for (var t = 0u; t < 4u; t++) {
                av[t] = tile_a[kk * TILE + lid.y * 4u + t];
                bv[t] = tile_b[kk * TILE + lid.x * 4u + t];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i * 4u + j] += av[i] * bv[j];
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let row = row0 + lid.y * 4u + i;
        for (var j = 0u; j < 4u; j++) {
            let col = col0 + lid.x * 4u + j;
            if (row < d.m && col < d.n) {
                c[row * d.n + col] = epilogue(acc[i * 4u + j], col);
            }
        }
    }
}

@compute @workgroup_size(64)
fn matmul_register(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let block = gid.x + gid.y * nwg.x * 64u;
    let blocks_m = (d.m + 3u) / 4u;
    if (block >= blocks_m * d.tiles_n) {
        return;
    }
    let row0 = (block / d.tiles_n) * 4u;
    let col0 = (block % d.tiles_n) * 4u;
    var acc: array<f32, 16>;
    for (var t = 0u; t < 16u; t++) {
        acc[t] = 0.0;
    }
    for (var kk = 0u; kk < d.k; kk++) {
        var av: array<f32, 4>;
        var bv: array<f32, 4>;
        for (var t = 0u; t < 4u; t++) {
            av[t] = load_a(row0 + t, kk);
            bv[t] = load_b(kk, col0 + t);
        }
        for (var i = 0u; i < 4u; i++) {
            for (var j = 0u; j < 4u; j++) {
                acc[i * 4u + j] += av[i] * bv[j];
            }
        }
    }
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            let row = row0 + i;
            let col = col0 + j;
            if (row < d.m && col < d.n) {
                c[row * d.n + col] = epilogue(acc[i * 4u + j], col);
            }
        }
    }
}

@compute @workgroup_size(64)
fn matmul_register_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let block = gid.x + gid.y * nwg.x * 64u;
    let blocks_m = (d.m + 3u) / 4u;
    if (block >= blocks_m * d.tiles_n) {
        return;
    }
    let row0 = (block / d.tiles_n) * 4u;
    let col8 = block % d.tiles_n;
    let n4 = d.n / 4u;
    var acc: array<vec4<f32>, 8>;
    for (var t = 0u; t < 8u; t++) {
        acc[t] = vec4<f32>(0.0);
    }
    // Rows past the end read row m − 1 (their results are never stored): no branch in
    // the inner loop. A's element (row, kk) sits at row·a_row + kk·a_col.
    var a_off: array<u32, 4>;
    var a_row = d.k;
    var a_col = 1u;
    if ((d.flags & 1u) != 0u) {
        a_row = 1u;
        a_col = d.m;
    }
    for (var i = 0u; i < 4u; i++) {
        a_off[i] = min(row0 + i, d.m - 1u) * a_row;
    }
    for (var kk = 0u; kk < d.k; kk++) {
        let b0 = b4[kk * n4 + col8 * 2u];
        let b1 = b4[kk * n4 + col8 * 2u + 1u];
        let ka = kk * a_col;
        let a0 = a[a_off[0] + ka];
        let a1 = a[a_off[1] + ka];
        let a2 = a[a_off[2] + ka];
        let a3 = a[a_off[3] + ka];
        acc[0] += a0 * b0;
        acc[1] += a0 * b1;
        acc[2] += a1 * b0;
        acc[3] += a1 * b1;
        acc[4] += a2 * b0;
        acc[5] += a2 * b1;
        acc[6] += a3 * b0;
        acc[7] += a3 * b1;
    }
    for (var i = 0u; i < 4u; i++) {
        let row = row0 + i;
        if (row < d.m) {
            for (var j = 0u; j < 8u; j++) {
                let col = col8 * 8u + j;
                c[row * d.n + col] = epilogue(acc[2u * i + j / 4u][j % 4u], col);
            }
        }
    }
}

@compute @workgroup_size(64)
fn matmul_register_vec4_4x16(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let block = gid.x + gid.y * nwg.x * 64u;
    let blocks_m = (d.m + 3u) / 4u;
    if (block >= blocks_m * d.tiles_n) {
        return;
    }
    let row0 = (block / d.tiles_n) * 4u;
    let colb = (block % d.tiles_n) * 4u;
    let n4 = d.n / 4u;
    var acc: array<vec4<f32>, 16>;
    for (var t = 0u; t < 16u; t++) {
        acc[t] = vec4<f32>(0.0);
    }
    // As in matmul_register_vec4: rows past the end read row m − 1, never stored.
    var a_off: array<u32, 4>;
    var a_row = d.k;
    var a_col = 1u;
    if ((d.flags & 1u) != 0u) {
        a_row = 1u;
        a_col = d.m;
    }
    for (var i = 0u; i < 4u; i++) {
        a_off[i] = min(row0 + i, d.m - 1u) * a_row;
    }
    for (var kk = 0u; kk < d.k; kk++) {
        let b0 = b4[kk * n4 + colb + 0u];
        let b1 = b4[kk * n4 + colb + 1u];
        let b2 = b4[kk * n4 + colb + 2u];
        let b3 = b4[kk * n4 + colb + 3u];
        let ka = kk * a_col;
        let a0 = a[a_off[0] + ka];
        let a1 = a[a_off[1] + ka];
        let a2 = a[a_off[2] + ka];
        let a3 = a[a_off[3] + ka];
        acc[0] += a0 * b0;
        acc[1] += a0 * b1;
        acc[2] += a0 * b2;
        acc[3] += a0 * b3;
        acc[4] += a1 * b0;
        acc[5] += a1 * b1;
        acc[6] += a1 * b2;
        acc[7] += a1 * b3;
        acc[8] += a2 * b0;
        acc[9] += a2 * b1;
        acc[10] += a2 * b2;
        acc[11] += a2 * b3;
        acc[12] += a3 * b0;
        acc[13] += a3 * b1;
        acc[14] += a3 * b2;
        acc[15] += a3 * b3;
    }
    for (var i = 0u; i < 4u; i++) {
        let row = row0 + i;
        if (row < d.m) {
            for (var j = 0u; j < 16u; j++) {
                let col = colb * 4u + j;
                c[row * d.n + col] = epilogue(acc[4u * i + j / 4u][j % 4u], col);
            }
        }
    }
}
