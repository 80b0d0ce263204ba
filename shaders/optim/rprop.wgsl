// Rprop over the flat parameter buffer (vec4). torch.optim.Rprop: s = sign(g · prev);
// η = etaplus (s > 0), etaminus (s < 0), 1 (s = 0), NaN (s NaN);
// step_size = clamp(step_size · η, min, max); g = 0 where s < 0;
// p −= sign(g) · step_size; prev = g.

// Bits of `flags`, as the rule struct's consts in crates/core/src/optim/rprop.rs.
const MAXIMIZE: u32 = 2u; // negate the gradient first

struct Rprop {
    n4: u32,
    // the bits above
    flags: u32,
    etaminus: f32,
    etaplus: f32,
    step_size_min: f32,
    step_size_max: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> h: Rprop;
@group(0) @binding(1) var<storage, read_write> params: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> grads: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> prev: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> step_size: array<vec4<f32>>;

// torch.sign: ±1, zero kept, NaN kept (tested on the bits: the driver may assume no NaN
// in comparisons).
fn sign_torch4(x: vec4<f32>) -> vec4<f32> {
    let s = select(select(x, vec4<f32>(-1.0), x < vec4<f32>(0.0)), vec4<f32>(1.0), x > vec4<f32>(0.0));
    return select(s, x, is_nan4(x));
}

@compute @workgroup_size(256)
fn rprop(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= h.n4) {
        return;
    }
    var g = grads[i];
    if ((h.flags & MAXIMIZE) != 0u) {
        g = -g;
    }
    let s = sign_torch4(g * prev[i]);
    let nan = is_nan4(s);
    // s is ±1, 0 or NaN; the NaN lanes are chosen by the bit test, not by a comparison.
    let shrink = s < vec4<f32>(0.0) & !nan;
    let eta = select(select(select(vec4<f32>(1.0), vec4<f32>(h.etaminus), shrink), vec4<f32>(h.etaplus), s > vec4<f32>(0.0) & !nan), s, nan);
    let step = nan_clamp4(step_size[i] * eta, vec4<f32>(h.step_size_min), vec4<f32>(h.step_size_max));
    step_size[i] = step;
    let gz = select(g, vec4<f32>(0.0), shrink);
    params[i] = params[i] - sign_torch4(gz) * step;
    prev[i] = gz;
}
