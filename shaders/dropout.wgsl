// Inverted dropout (PyTorch's): out = x · mask / (1 − p), the mask drawn by Philox4x32-10
// (Salmon et al. 2011) from (seed, offset): element i takes word i % 4 of the block with
// counter [i / 4, 0, offset.lo, offset.hi] and key [seed.lo, seed.hi] (the CPU's
// downhill_core::philox, bit for bit). One invocation per block of 4 elements. The same
// kernel is its own backward (dy in, dx out, same seed and offset).

struct Dropout {
    n: u32,
    p: f32,
    // 1 / (1 − p), rounded once on the host (inf for p = 1, where nothing is kept)
    scale: f32,
    _pad: u32,
    key: vec2<u32>,
    offset: vec2<u32>,
}

@group(0) @binding(0) var<uniform> d: Dropout;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// (hi, lo) of the 64-bit product a·b from 16-bit halves (WGSL has no 64-bit integers).
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let a0 = a & 0xffffu;
    let a1 = a >> 16u;
    let b0 = b & 0xffffu;
    let b1 = b >> 16u;
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
    return vec2<u32>(p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u), a * b);
}

fn philox4x32_10(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    for (var r = 0u; r < 10u; r++) {
        if (r > 0u) {
            k = k + vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
        }
        let m0 = mulhilo(0xD2511F53u, c.x);
        let m1 = mulhilo(0xCD9E8D57u, c.z);
        c = vec4<u32>(m1.x ^ c.y ^ k.x, m1.y, m0.x ^ c.w ^ k.y, m0.y);
    }
    return c;
}

@compute @workgroup_size(256)
fn dropout(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let block = gid.x + gid.y * nwg.x * 256u;
    let base = block * 4u;
    if (base >= d.n) {
        return;
    }
    let words = philox4x32_10(vec4<u32>(block, 0u, d.offset.x, d.offset.y), d.key);
    for (var j = 0u; j < 4u; j++) {
        let i = base + j;
        if (i < d.n) {
            // The top 24 bits as a uniform in [0, 1), exact in f32; kept when u >= p.
            let u = f32(words[j] >> 8u) * (1.0 / 16777216.0);
            // x·0 for a dropped element: NaN and ±inf stay NaN, as PyTorch's x * mask.
            out[i] = x[i] * select(0.0, d.scale, u >= d.p);
        }
    }
}
