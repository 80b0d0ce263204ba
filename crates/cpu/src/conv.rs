//! Convolutions as im2col + GEMM, one sample at a time (the column matrix of one sample is
//! `[C_in·KH·KW, OH·OW]`, its group blocks contiguous rows, so each group's product is one
//! GEMM over plain slices), and pools as direct loops. Backward passes run in a fixed
//! order on one thread: results are the same run to run.

use crate::buffer::{filled, new_storage, read};
use crate::matmul::general_mat_mul;
use downhill_core::backend::conv::{self as check, Conv2dDims, ConvOps, Pool2dDims};
use downhill_core::{Error, Result, Storage};
use ndarray::{ArrayView2, ArrayViewMut2};

use crate::CpuBackend;

fn view(data: &[f32], rows: usize, cols: usize) -> Result<ArrayView2<'_, f32>> {
    ArrayView2::from_shape((rows, cols), &data[..rows * cols])
        .map_err(|e| Error::shape("conv2d", e.to_string()))
}

fn view_mut(data: &mut [f32], rows: usize, cols: usize) -> Result<ArrayViewMut2<'_, f32>> {
    ArrayViewMut2::from_shape((rows, cols), &mut data[..rows * cols])
        .map_err(|e| Error::shape("conv2d", e.to_string()))
}

/// The input coordinate of output `o`, tap `k` along one axis, if it lies inside `size`.
#[inline]
fn tap(
    o: usize,
    k: usize,
    stride: usize,
    dilation: usize,
    pad: usize,
    size: usize,
) -> Option<usize> {
    (o * stride + k * dilation)
        .checked_sub(pad)
        .filter(|&i| i < size)
}

/// The geometry of a checked convolution, in the names the loops use.
struct Geometry {
    c_in: usize,
    h: usize,
    w: usize,
    c_out: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    groups: usize,
    d: Conv2dDims,
}

impl Geometry {
    fn new(d: &Conv2dDims, out_size: (usize, usize)) -> Geometry {
        Geometry {
            c_in: d.in_channels,
            h: d.in_size.0,
            w: d.in_size.1,
            c_out: d.out_channels,
            kh: d.kernel.0,
            kw: d.kernel.1,
            oh: out_size.0,
            ow: out_size.1,
            groups: d.groups,
            d: *d,
        }
    }
    /// Output pixels of one sample.
    fn pixels(&self) -> usize {
        self.oh * self.ow
    }
    /// Column rows of one group: `C_in / groups · KH · KW`.
    fn group_rows(&self) -> usize {
        self.c_in / self.groups * self.kh * self.kw
    }

    /// Visits every (column row, output pixel, input offset within the sample) whose tap
    /// lies inside the input, in row-major order of the column matrix.
    fn for_each_tap(&self, mut f: impl FnMut(usize, usize, Option<usize>)) {
        let d = &self.d;
        for ci in 0..self.c_in {
            for i in 0..self.kh {
                for j in 0..self.kw {
                    let row = (ci * self.kh + i) * self.kw + j;
                    for oy in 0..self.oh {
                        let iy = tap(oy, i, d.stride.0, d.dilation.0, d.pad_h.0, self.h);
                        for ox in 0..self.ow {
                            let ix = tap(ox, j, d.stride.1, d.dilation.1, d.pad_w.0, self.w);
                            let at = iy.zip(ix).map(|(y, x)| (ci * self.h + y) * self.w + x);
                            f(row, oy * self.ow + ox, at);
                        }
                    }
                }
            }
        }
    }

    /// The columns of one sample `x_n [C_in, H, W]`: `[C_in·KH·KW, OH·OW]`, zero padded.
    fn im2col(&self, x_n: &[f32], col: &mut [f32]) {
        let p = self.pixels();
        self.for_each_tap(|row, pixel, at| {
            col[row * p + pixel] = at.map_or(0.0, |k| x_n[k]);
        });
    }

    /// Adds the columns back onto the sample's pixels (the adjoint of `im2col`).
    fn col2im(&self, col: &[f32], dx_n: &mut [f32]) {
        let p = self.pixels();
        self.for_each_tap(|row, pixel, at| {
            if let Some(k) = at {
                dx_n[k] += col[row * p + pixel];
            }
        });
    }
}

/// The position PyTorch's max pool picks in one window (the first maximum, the last NaN),
/// with its value; `None` when every tap is padding.
fn window_max(x_plane: &[f32], d: &Pool2dDims, oy: usize, ox: usize) -> Option<(usize, f32)> {
    let (h, w) = d.in_size;
    let mut best: Option<(usize, f32)> = None;
    for i in 0..d.kernel.0 {
        let Some(iy) = tap(oy, i, d.stride.0, d.dilation.0, d.padding.0, h) else {
            continue;
        };
        for j in 0..d.kernel.1 {
            let Some(ix) = tap(ox, j, d.stride.1, d.dilation.1, d.padding.1, w) else {
                continue;
            };
            let k = iy * w + ix;
            let v = x_plane[k];
            match best {
                Some((_, m)) if !(v > m || v.is_nan()) => {}
                _ => best = Some((k, v)),
            }
        }
    }
    best
}

impl ConvOps for CpuBackend {
    fn conv2d(
        &self,
        x: &Storage,
        w: &Storage,
        bias: Option<&Storage>,
        d: &Conv2dDims,
    ) -> Result<Storage> {
        let s = check::conv2d(x, w, bias, d)?;
        let g = Geometry::new(d, s.out_size);
        let (x, w) = (read(x)?, read(w)?);
        let mut y = filled("conv2d", s.output, 0.0f32)?;
        let (p, kg, cog) = (g.pixels(), g.group_rows(), g.c_out / g.groups);
        let mut col = filled("conv2d", g.c_in * g.kh * g.kw * p, 0.0f32)?;
        let (in_n, out_n) = (g.c_in * g.h * g.w, g.c_out * p);
        for n in 0..d.batch {
            g.im2col(&x[n * in_n..(n + 1) * in_n], &mut col);
            for grp in 0..g.groups {
                let wg = view(&w[grp * cog * kg..], cog, kg)?;
                let cg = view(&col[grp * kg * p..], kg, p)?;
                let mut yg = view_mut(&mut y[n * out_n + grp * cog * p..], cog, p)?;
                general_mat_mul(1.0, &wg, &cg, 0.0, &mut yg)?;
            }
        }
        if let Some(b) = bias {
            let b = read(b)?;
            for (plane, &bc) in y.chunks_mut(p).zip(b.iter().cycle()) {
                plane.iter_mut().for_each(|v| *v += bc);
            }
        }
        Ok(new_storage(y))
    }

    fn conv2d_backward_input(&self, dy: &Storage, w: &Storage, d: &Conv2dDims) -> Result<Storage> {
        let s = check::conv2d_backward_input(dy, w, d)?;
        let g = Geometry::new(d, s.out_size);
        let (dy, w) = (read(dy)?, read(w)?);
        let mut dx = filled("conv2d_backward_input", s.input, 0.0f32)?;
        let (p, kg, cog) = (g.pixels(), g.group_rows(), g.c_out / g.groups);
        let mut col = filled("conv2d_backward_input", g.c_in * g.kh * g.kw * p, 0.0f32)?;
        let (in_n, out_n) = (g.c_in * g.h * g.w, g.c_out * p);
        for n in 0..d.batch {
            for grp in 0..g.groups {
                let wg = view(&w[grp * cog * kg..], cog, kg)?;
                let dyg = view(&dy[n * out_n + grp * cog * p..], cog, p)?;
                let mut cg = view_mut(&mut col[grp * kg * p..], kg, p)?;
                general_mat_mul(1.0, &wg.t(), &dyg, 0.0, &mut cg)?;
            }
            g.col2im(&col, &mut dx[n * in_n..(n + 1) * in_n]);
        }
        Ok(new_storage(dx))
    }

    fn conv2d_backward_weight(
        &self,
        x: &Storage,
        dy: &Storage,
        d: &Conv2dDims,
        bias: bool,
    ) -> Result<(Storage, Option<Storage>)> {
        let s = check::conv2d_backward_weight(x, dy, d)?;
        let g = Geometry::new(d, s.out_size);
        let (x, dy) = (read(x)?, read(dy)?);
        let mut dw = filled("conv2d_backward_weight", s.weight, 0.0f32)?;
        let (p, kg, cog) = (g.pixels(), g.group_rows(), g.c_out / g.groups);
        let mut col = filled("conv2d_backward_weight", g.c_in * g.kh * g.kw * p, 0.0f32)?;
        let (in_n, out_n) = (g.c_in * g.h * g.w, g.c_out * p);
        for n in 0..d.batch {
            g.im2col(&x[n * in_n..(n + 1) * in_n], &mut col);
            for grp in 0..g.groups {
                let dyg = view(&dy[n * out_n + grp * cog * p..], cog, p)?;
                let cg = view(&col[grp * kg * p..], kg, p)?;
                let mut dwg = view_mut(&mut dw[grp * cog * kg..], cog, kg)?;
                general_mat_mul(1.0, &dyg, &cg.t(), 1.0, &mut dwg)?;
            }
        }
        let db = if bias {
            let mut sums = filled("conv2d_backward_weight", g.c_out, 0.0f64)?;
            for (plane, c) in dy.chunks(p).zip((0..g.c_out).cycle()) {
                sums[c] += plane.iter().map(|&v| v as f64).sum::<f64>();
            }
            Some(new_storage(sums.into_iter().map(|v| v as f32).collect()))
        } else {
            None
        };
        Ok((new_storage(dw), db))
    }

    fn max_pool2d(&self, x: &Storage, d: &Pool2dDims) -> Result<Storage> {
        let s = check::max_pool2d(x, d)?;
        let x = read(x)?;
        let (h, w) = d.in_size;
        let (oh, ow) = s.out_size;
        let mut y = filled("max_pool2d", s.output, 0.0f32)?;
        for pi in 0..d.batch * d.channels {
            let plane = &x[pi * h * w..(pi + 1) * h * w];
            let out = &mut y[pi * oh * ow..(pi + 1) * oh * ow];
            for oy in 0..oh {
                for ox in 0..ow {
                    out[oy * ow + ox] =
                        window_max(plane, d, oy, ox).map_or(f32::NEG_INFINITY, |(_, v)| v);
                }
            }
        }
        Ok(new_storage(y))
    }

    fn max_pool2d_backward(&self, x: &Storage, dy: &Storage, d: &Pool2dDims) -> Result<Storage> {
        let s = check::max_pool2d_backward(x, dy, d)?;
        let (x, dy) = (read(x)?, read(dy)?);
        let (h, w) = d.in_size;
        let (oh, ow) = s.out_size;
        let mut dx = filled("max_pool2d_backward", s.input, 0.0f32)?;
        for pi in 0..d.batch * d.channels {
            let plane = &x[pi * h * w..(pi + 1) * h * w];
            let dy_plane = &dy[pi * oh * ow..(pi + 1) * oh * ow];
            let dx_plane = &mut dx[pi * h * w..(pi + 1) * h * w];
            for oy in 0..oh {
                for ox in 0..ow {
                    if let Some((k, _)) = window_max(plane, d, oy, ox) {
                        dx_plane[k] += dy_plane[oy * ow + ox];
                    }
                }
            }
        }
        Ok(new_storage(dx))
    }

    fn avg_pool2d(&self, x: &Storage, d: &Pool2dDims) -> Result<Storage> {
        let s = check::avg_pool2d(x, d)?;
        let x = read(x)?;
        let (h, w) = d.in_size;
        let (oh, ow) = s.out_size;
        let divisor = (d.kernel.0 * d.kernel.1) as f32;
        let mut y = filled("avg_pool2d", s.output, 0.0f32)?;
        for pi in 0..d.batch * d.channels {
            let plane = &x[pi * h * w..(pi + 1) * h * w];
            let out = &mut y[pi * oh * ow..(pi + 1) * oh * ow];
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut sum = 0.0f32;
                    for i in 0..d.kernel.0 {
                        let Some(iy) = tap(oy, i, d.stride.0, 1, d.padding.0, h) else {
                            continue;
                        };
                        for j in 0..d.kernel.1 {
                            if let Some(ix) = tap(ox, j, d.stride.1, 1, d.padding.1, w) {
                                sum += plane[iy * w + ix];
                            }
                        }
                    }
                    out[oy * ow + ox] = sum / divisor;
                }
            }
        }
        Ok(new_storage(y))
    }

    fn avg_pool2d_backward(&self, dy: &Storage, d: &Pool2dDims) -> Result<Storage> {
        let s = check::avg_pool2d_backward(dy, d)?;
        let dy = read(dy)?;
        let (h, w) = d.in_size;
        let (oh, ow) = s.out_size;
        let divisor = (d.kernel.0 * d.kernel.1) as f32;
        let mut dx = filled("avg_pool2d_backward", s.input, 0.0f32)?;
        for pi in 0..d.batch * d.channels {
            let dy_plane = &dy[pi * oh * ow..(pi + 1) * oh * ow];
            let dx_plane = &mut dx[pi * h * w..(pi + 1) * h * w];
            for oy in 0..oh {
                for ox in 0..ow {
                    let share = dy_plane[oy * ow + ox] / divisor;
                    for i in 0..d.kernel.0 {
                        let Some(iy) = tap(oy, i, d.stride.0, 1, d.padding.0, h) else {
                            continue;
                        };
                        for j in 0..d.kernel.1 {
                            if let Some(ix) = tap(ox, j, d.stride.1, 1, d.padding.1, w) {
                                dx_plane[iy * w + ix] += share;
                            }
                        }
                    }
                }
            }
        }
        Ok(new_storage(dx))
    }
}
