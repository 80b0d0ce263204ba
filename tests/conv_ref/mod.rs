//! Naive f64 references of conv2d and the pools, written from PyTorch's definitions
//! independently of either backend, and a comparison with a per-element error bound.
//!
//! Every sum the backends form in f32 is one of `k` products (or values), in some order;
//! whatever the order, its error is at most `γ_k·Σ|terms|` with `γ_k = k·u/(1 − k·u)` and
//! `u = 2^-24` (Higham, Accuracy and Stability, §3.1; each product adds one more `u`, and
//! Vulkan rounds `+` and `·` correctly). So each reference element carries `Σ|terms|`,
//! and a backend's element passes when within `2·(k + 2)·u·Σ|terms|` of the exact value: a
//! factor 2 above the proven bound, far below any real mistake (a wrong tap moves an
//! element by a whole term).

#![allow(dead_code)]

use downhill::random::SeededRng;

/// f32 unit roundoff.
pub const U: f64 = 5.960_464_477_539_063e-8;

/// A convolution's geometry, as the tests give it.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    pub n: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub k: (usize, usize),
    pub stride: (usize, usize),
    pub pad_h: (usize, usize),
    pub pad_w: (usize, usize),
    pub dilation: (usize, usize),
    pub groups: usize,
    pub bias: bool,
}

impl Case {
    pub fn out(&self) -> (usize, usize) {
        let o = |size: usize, (a, b): (usize, usize), k: usize, s: usize, d: usize| {
            (size + a + b - d * (k - 1) - 1) / s + 1
        };
        (
            o(self.h, self.pad_h, self.k.0, self.stride.0, self.dilation.0),
            o(self.w, self.pad_w, self.k.1, self.stride.1, self.dilation.1),
        )
    }
    pub fn x_len(&self) -> usize {
        self.n * self.c_in * self.h * self.w
    }
    pub fn w_len(&self) -> usize {
        self.c_out * self.c_in / self.groups * self.k.0 * self.k.1
    }
    pub fn y_len(&self) -> usize {
        let (oh, ow) = self.out();
        self.n * self.c_out * oh * ow
    }
    pub fn options(&self) -> downhill::Conv2dOptions {
        downhill::Conv2dOptions {
            stride: self.stride,
            pad_h: self.pad_h,
            pad_w: self.pad_w,
            dilation: self.dilation,
            groups: self.groups,
        }
    }
}

/// A reference value with the magnitude sum and term count its bound is made of.
#[derive(Clone, Copy, Debug, Default)]
pub struct Exact {
    pub value: f64,
    pub abs_sum: f64,
    pub terms: usize,
}

impl Exact {
    fn add(&mut self, term: f64) {
        self.value += term;
        self.abs_sum += term.abs();
        self.terms += 1;
    }
    pub fn bound(&self) -> f64 {
        2.0 * (self.terms as f64 + 2.0) * U * self.abs_sum
    }
}

/// The padded input value at padded coordinates (`None` in the padding).
fn padded(c: &Case, x: &[f32], n: usize, ci: usize, py: usize, px: usize) -> Option<f64> {
    let iy = py.checked_sub(c.pad_h.0).filter(|&v| v < c.h)?;
    let ix = px.checked_sub(c.pad_w.0).filter(|&v| v < c.w)?;
    Some(x[((n * c.c_in + ci) * c.h + iy) * c.w + ix] as f64)
}

/// `y = conv2d(x, w) + b` over the zero-padded input (padding taps multiply as 0).
pub fn conv_forward(c: &Case, x: &[f32], w: &[f32], b: Option<&[f32]>) -> Vec<Exact> {
    let (oh, ow) = c.out();
    let (cig, cog) = (c.c_in / c.groups, c.c_out / c.groups);
    let mut y = vec![Exact::default(); c.y_len()];
    for n in 0..c.n {
        for co in 0..c.c_out {
            for oy in 0..oh {
                for ox in 0..ow {
                    let e = &mut y[((n * c.c_out + co) * oh + oy) * ow + ox];
                    for ci in 0..cig {
                        for i in 0..c.k.0 {
                            for j in 0..c.k.1 {
                                let py = oy * c.stride.0 + i * c.dilation.0;
                                let px = ox * c.stride.1 + j * c.dilation.1;
                                let v = padded(c, x, n, co / cog * cig + ci, py, px).unwrap_or(0.0);
                                let wv = w[((co * cig + ci) * c.k.0 + i) * c.k.1 + j] as f64;
                                e.add(v * wv);
                            }
                        }
                    }
                    if let Some(b) = b {
                        e.add(b[co] as f64);
                    }
                }
            }
        }
    }
    y
}

/// `dx`, `dw` and `db` of `conv2d` for the upstream gradient `dy`.
pub fn conv_backward(
    c: &Case,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
) -> (Vec<Exact>, Vec<Exact>, Vec<Exact>) {
    let (oh, ow) = c.out();
    let (cig, cog) = (c.c_in / c.groups, c.c_out / c.groups);
    let mut dx = vec![Exact::default(); c.x_len()];
    let mut dw = vec![Exact::default(); c.w_len()];
    let mut db = vec![Exact::default(); c.c_out];
    for n in 0..c.n {
        for co in 0..c.c_out {
            for oy in 0..oh {
                for ox in 0..ow {
                    let g = dy[((n * c.c_out + co) * oh + oy) * ow + ox] as f64;
                    db[co].add(g);
                    for ci in 0..cig {
                        let cin = co / cog * cig + ci;
                        for i in 0..c.k.0 {
                            for j in 0..c.k.1 {
                                let wi = ((co * cig + ci) * c.k.0 + i) * c.k.1 + j;
                                let py = oy * c.stride.0 + i * c.dilation.0;
                                let px = ox * c.stride.1 + j * c.dilation.1;
                                let v = padded(c, x, n, cin, py, px);
                                dw[wi].add(g * v.unwrap_or(0.0));
                                if v.is_some() {
                                    let iy = py - c.pad_h.0;
                                    let ix = px - c.pad_w.0;
                                    dx[((n * c.c_in + cin) * c.h + iy) * c.w + ix]
                                        .add(g * w[wi] as f64);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    (dx, dw, db)
}

/// A pool's geometry.
#[derive(Clone, Copy, Debug)]
pub struct PoolCase {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub k: (usize, usize),
    pub stride: (usize, usize),
    pub pad: (usize, usize),
    pub dilation: (usize, usize),
}

impl PoolCase {
    pub fn out(&self) -> (usize, usize) {
        let o = |size: usize, p: usize, k: usize, s: usize, d: usize| {
            (size + 2 * p - d * (k - 1) - 1) / s + 1
        };
        (
            o(self.h, self.pad.0, self.k.0, self.stride.0, self.dilation.0),
            o(self.w, self.pad.1, self.k.1, self.stride.1, self.dilation.1),
        )
    }
    pub fn x_len(&self) -> usize {
        self.n * self.c * self.h * self.w
    }
    pub fn y_len(&self) -> usize {
        let (oh, ow) = self.out();
        self.n * self.c * oh * ow
    }
    pub fn options(&self) -> downhill::Pool2dOptions {
        downhill::Pool2dOptions {
            kernel: self.k,
            stride: Some(self.stride),
            padding: self.pad,
            dilation: self.dilation,
        }
    }
    /// The in-plane positions of the taps of window (oy, ox) that are not padding.
    fn taps(&self, oy: usize, ox: usize) -> Vec<usize> {
        let mut taps = Vec::new();
        for i in 0..self.k.0 {
            for j in 0..self.k.1 {
                let py = oy * self.stride.0 + i * self.dilation.0;
                let px = ox * self.stride.1 + j * self.dilation.1;
                let iy = py.checked_sub(self.pad.0).filter(|&v| v < self.h);
                let ix = px.checked_sub(self.pad.1).filter(|&v| v < self.w);
                if let (Some(iy), Some(ix)) = (iy, ix) {
                    taps.push(iy * self.w + ix);
                }
            }
        }
        taps
    }
}

/// PyTorch's max pool (aten's `cpu_max_pool`: start at the first tap, then take a tap when
/// `val > max || isnan(val)`), as (values, the chosen position in the input or `None`).
pub fn max_pool(p: &PoolCase, x: &[f32]) -> (Vec<f32>, Vec<Option<usize>>) {
    let (oh, ow) = p.out();
    let (mut y, mut arg) = (Vec::new(), Vec::new());
    for plane in 0..p.n * p.c {
        let base = plane * p.h * p.w;
        for oy in 0..oh {
            for ox in 0..ow {
                let taps = p.taps(oy, ox);
                let mut best: Option<(usize, f32)> = None;
                for k in taps {
                    let v = x[base + k];
                    let take = match best {
                        None => true,
                        Some((_, m)) => v > m || v.is_nan(),
                    };
                    if take {
                        best = Some((base + k, v));
                    }
                }
                y.push(best.map_or(f32::NEG_INFINITY, |b| b.1));
                arg.push(best.map(|b| b.0));
            }
        }
    }
    (y, arg)
}

/// Average pool with zeros counted (`count_include_pad = True`): values and the sums of
/// `|terms|` for the bound.
pub fn avg_pool(p: &PoolCase, x: &[f32]) -> Vec<Exact> {
    let (oh, ow) = p.out();
    let div = (p.k.0 * p.k.1) as f64;
    let mut y = Vec::new();
    for plane in 0..p.n * p.c {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut e = Exact::default();
                for k in p.taps(oy, ox) {
                    e.add(x[plane * p.h * p.w + k] as f64 / div);
                }
                // The division is one more rounding.
                e.terms += 1;
                y.push(e);
            }
        }
    }
    y
}

/// `dx` of the average pool: every window's `dy / (KH·KW)` to each of its taps.
pub fn avg_pool_backward(p: &PoolCase, dy: &[f32]) -> Vec<Exact> {
    let (oh, ow) = p.out();
    let div = (p.k.0 * p.k.1) as f64;
    let mut dx = vec![Exact::default(); p.x_len()];
    for plane in 0..p.n * p.c {
        for oy in 0..oh {
            for ox in 0..ow {
                for k in p.taps(oy, ox) {
                    let e = &mut dx[plane * p.h * p.w + k];
                    e.add(dy[(plane * oh + oy) * ow + ox] as f64 / div);
                    e.terms += 1; // each share is a rounded division
                }
            }
        }
    }
    dx
}

/// Fails with the first few elements outside their bounds. Non-finite reference values
/// match only themselves (NaN with NaN, the same infinity).
pub fn check(name: &str, got: &[f32], want: &[Exact]) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    let mut bad = Vec::new();
    for (i, (&g, e)) in got.iter().zip(want).enumerate() {
        let ok = if e.value.is_finite() {
            g.is_finite() && (g as f64 - e.value).abs() <= e.bound()
        } else if e.value.is_nan() {
            g.is_nan()
        } else {
            g as f64 == e.value
        };
        if !ok {
            bad.push(format!(
                "[{i}] got {g}, want {} ± {:.3e}",
                e.value,
                e.bound()
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{name}: {} of {} elements off: {}",
        bad.len(),
        got.len(),
        bad.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
    );
}

/// Exact values (a selection or a copy), as references with no error allowed.
pub fn exact(values: &[f32]) -> Vec<Exact> {
    values
        .iter()
        .map(|&v| Exact {
            value: v as f64,
            abs_sum: 0.0,
            terms: 0,
        })
        .collect()
}

/// `len` seeded values uniform in `[-1, 1)`.
pub fn random(seed: u64, len: usize) -> Vec<f32> {
    let mut rng = SeededRng::new(seed);
    (0..len).map(|_| rng.uniform(-1.0, 1.0)).collect()
}
