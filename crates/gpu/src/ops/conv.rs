//! Launchers of `conv.wgsl` and `pool.wgsl`: convolution and pooling, forward and
//! backward, one dispatch each (the weight gradient's dispatch also computes the bias's).
//! Each kernel reads its geometry from a small storage buffer written with the dispatch.
//!
//! With one group the convolution runs in matrix form: a layout kernel (`im2col`, or `dy`
//! as one row per channel), the tuned matmul, and a layout kernel back (the NCHW output
//! with its bias, or the `col2im` gather); forward and input gradient 3 dispatches, the
//! weight gradient 4 (with the bias's sum). Grouped convolutions, and columns too large
//! to bind, run the direct kernels of conv.wgsl instead (one dispatch each). On lavapipe
//! the matrix form was 20–100× faster at a digits CNN's shapes: its work is in the
//! register-blocked matmul, while the direct kernels gather every tap.

use super::{groups_for, u32_of};
use crate::kernels;
use crate::GpuBackend;
use bytemuck::{Pod, Zeroable};
use downhill_core::backend::conv::{
    self as check, Conv2dDims, Conv2dSizes, ConvOps, Pool2dDims, Pool2dSizes,
};
use downhill_core::{Backend, MatmulDims, Result, Storage};

/// Mirrors `Conv` in conv.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ConvParams {
    batch: u32,
    in_channels: u32,
    in_h: u32,
    in_w: u32,
    out_channels: u32,
    out_h: u32,
    out_w: u32,
    groups: u32,
    kernel_h: u32,
    kernel_w: u32,
    stride_h: u32,
    stride_w: u32,
    pad_top: u32,
    pad_left: u32,
    dilation_h: u32,
    dilation_w: u32,
    has_bias: u32,
    weights: u32,
    _pad: [u32; 2],
}

/// Mirrors `Pool` in pool.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct PoolParams {
    planes: u32,
    in_h: u32,
    in_w: u32,
    out_h: u32,
    out_w: u32,
    kernel_h: u32,
    kernel_w: u32,
    stride_h: u32,
    stride_w: u32,
    pad_h: u32,
    pad_w: u32,
    dilation_h: u32,
    dilation_w: u32,
    _pad: [u32; 3],
}

/// The uniform of a checked convolution; every index a kernel forms stays below one of
/// the element counts or the padded extents, so each is checked to fit a `u32`.
fn conv_params(op: &str, d: &Conv2dDims, s: &Conv2dSizes, has_bias: bool) -> Result<ConvParams> {
    let v = |what: &str, x: usize| u32_of(op, what, x);
    v("the input", s.input)?;
    v("the output", s.output)?;
    v("the workgroups", s.weight.saturating_add(d.out_channels))?;
    v(
        "the padded height",
        d.in_size
            .0
            .saturating_add(d.pad_h.0)
            .saturating_add(d.pad_h.1),
    )?;
    v(
        "the padded width",
        d.in_size
            .1
            .saturating_add(d.pad_w.0)
            .saturating_add(d.pad_w.1),
    )?;
    Ok(ConvParams {
        batch: v("the batch", d.batch)?,
        in_channels: v("in_channels", d.in_channels)?,
        in_h: v("the height", d.in_size.0)?,
        in_w: v("the width", d.in_size.1)?,
        out_channels: v("out_channels", d.out_channels)?,
        out_h: v("the output height", s.out_size.0)?,
        out_w: v("the output width", s.out_size.1)?,
        groups: v("groups", d.groups)?,
        kernel_h: v("the kernel height", d.kernel.0)?,
        kernel_w: v("the kernel width", d.kernel.1)?,
        stride_h: v("the stride", d.stride.0)?,
        stride_w: v("the stride", d.stride.1)?,
        pad_top: v("the padding", d.pad_h.0)?,
        pad_left: v("the padding", d.pad_w.0)?,
        dilation_h: v("the dilation", d.dilation.0)?,
        dilation_w: v("the dilation", d.dilation.1)?,
        has_bias: u32::from(has_bias),
        weights: v("the weight", s.weight)?,
        _pad: [0; 2],
    })
}

fn pool_params(
    op: &str,
    d: &Pool2dDims,
    out_size: (usize, usize),
    input: usize,
    output: usize,
) -> Result<PoolParams> {
    let v = |what: &str, x: usize| u32_of(op, what, x);
    v("the input", input)?;
    v("the output", output)?;
    v("the window", d.kernel.0 * d.kernel.1)?;
    v(
        "the padded height",
        d.in_size.0.saturating_add(2 * d.padding.0),
    )?;
    v(
        "the padded width",
        d.in_size.1.saturating_add(2 * d.padding.1),
    )?;
    Ok(PoolParams {
        planes: v("the planes", d.batch * d.channels)?,
        in_h: v("the height", d.in_size.0)?,
        in_w: v("the width", d.in_size.1)?,
        out_h: v("the output height", out_size.0)?,
        out_w: v("the output width", out_size.1)?,
        kernel_h: v("the kernel height", d.kernel.0)?,
        kernel_w: v("the kernel width", d.kernel.1)?,
        stride_h: v("the stride", d.stride.0)?,
        stride_w: v("the stride", d.stride.1)?,
        pad_h: v("the padding", d.padding.0)?,
        pad_w: v("the padding", d.padding.1)?,
        dilation_h: v("the dilation", d.dilation.0)?,
        dilation_w: v("the dilation", d.dilation.1)?,
        _pad: [0; 3],
    })
}

impl GpuBackend {
    /// One pooling kernel reading `inputs` and writing a fresh `len`-element result (bound
    /// last), one invocation per result element: `s.output` forward, `s.input` backward.
    fn pool(
        &self,
        op: &str,
        kernel: &kernels::Kernel,
        d: &Pool2dDims,
        s: &Pool2dSizes,
        inputs: &[&Storage],
        len: usize,
    ) -> Result<Storage> {
        let params = pool_params(op, d, s.out_size, s.input, s.output)?;
        let out = self.rec.pool.storage(len)?;
        let mut bindings = inputs.to_vec();
        bindings.push(&out);
        self.launch(kernel, &params, &bindings, groups_for(len as u32))?;
        Ok(out)
    }

    /// Records `kernel` with its geometry `params` uploaded as a storage buffer bound
    /// first (not read from the uniform slot, which lavapipe would inline and recompile at
    /// every dispatch: see conv.wgsl), then `bindings`.
    fn launch<P: Pod>(
        &self,
        kernel: &kernels::Kernel,
        params: &P,
        bindings: &[&Storage],
        groups: u32,
    ) -> Result<()> {
        let bytes = bytemuck::bytes_of(params);
        let geometry = self.rec.upload(bytes, bytes.len() / 4)?;
        let mut all = vec![&geometry];
        all.extend_from_slice(bindings);
        self.rec.dispatch(kernel, params, &all, groups)
    }
}

/// The shapes of the matrix form of a convolution with one group: `rows = N·OH·OW` output
/// pixels, `taps = C_in·KH·KW` columns.
struct Columns {
    rows: usize,
    taps: usize,
}

impl GpuBackend {
    /// The matrix form, when it applies: one group (each group's weight block would be a
    /// view at an offset the storage binding alignment refuses) and columns within the
    /// largest binding. Otherwise the direct kernels run.
    fn columns(&self, d: &Conv2dDims, s: &Conv2dSizes) -> Option<Columns> {
        let pixels = s.out_size.0 * s.out_size.1;
        let rows = d.batch.checked_mul(pixels)?;
        let taps = d.in_channels * d.kernel.0 * d.kernel.1;
        let bytes = rows.checked_mul(taps)?.checked_mul(4)?;
        (d.groups == 1 && bytes as u64 <= self.rec.pool.max_bytes() && u32::try_from(bytes).is_ok())
            .then_some(Columns { rows, taps })
    }

    /// The columns of `x` by `kernel` (taps first or pixels first).
    fn im2col(
        &self,
        kernel: &kernels::Kernel,
        x: &Storage,
        params: &ConvParams,
        m: &Columns,
    ) -> Result<Storage> {
        let col = self.rec.pool.storage(m.rows * m.taps)?;
        let groups = m.rows.div_ceil(64) as u32;
        self.launch(kernel, params, &[x, &col], groups)?;
        Ok(col)
    }

    /// `db[c] = Σ dy[:, c, :, :]`: the direct weight-gradient kernel with no weight
    /// elements, one workgroup per channel (a fixed order: the same bits every run).
    fn bias_gradient(&self, dy: &Storage, d: &Conv2dDims, params: &ConvParams) -> Result<Storage> {
        let db = self.rec.pool.storage(d.out_channels)?;
        let bias_only = ConvParams {
            weights: 0,
            has_bias: 1,
            ..*params
        };
        // x is not read, nor the weight gradient written (its binding must still be a
        // writable buffer apart from the read-only ones).
        let no_weights = self.rec.pool.storage(1)?;
        self.launch(
            &kernels::CONV2D_BACKWARD_WEIGHT,
            &bias_only,
            &[&self.dummy, dy, &no_weights, &db],
            params.out_channels,
        )?;
        Ok(db)
    }

    /// `dy [N, C_out, OH·OW]` as `[C_out, N·OH·OW]`, one row per output channel.
    fn channel_rows(&self, dy: &Storage, params: &ConvParams) -> Result<Storage> {
        let rows = self.rec.pool.storage(dy.len())?;
        // One invocation per (sample, channel) plane, 64 per workgroup.
        let groups = (params.batch * params.out_channels).div_ceil(64);
        self.launch(&kernels::CHANNEL_ROWS, params, &[dy, &rows], groups)?;
        Ok(rows)
    }
}

impl ConvOps for GpuBackend {
    fn conv2d(
        &self,
        x: &Storage,
        w: &Storage,
        bias: Option<&Storage>,
        d: &Conv2dDims,
    ) -> Result<Storage> {
        let s = check::conv2d(x, w, bias, d)?;
        let params = conv_params("conv2d", d, &s, bias.is_some())?;
        if let Some(m) = self.columns(d, &s) {
            // y' [C_out, rows] = W · col (the tuned matmul), then NCHW plus the bias.
            let col = self.im2col(&kernels::IM2COL_TAPS, x, &params, &m)?;
            let dims = MatmulDims {
                m: d.out_channels,
                k: m.taps,
                n: m.rows,
                trans_a: false,
                trans_b: false,
            };
            let y_rows = Backend::matmul(self, w, &col, dims)?;
            let y = self.rec.pool.storage(s.output)?;
            let bias = bias.unwrap_or(&self.dummy);
            let groups = (params.batch * params.out_channels).div_ceil(64);
            self.launch(&kernels::CONV_OUTPUT, &params, &[&y_rows, bias, &y], groups)?;
            return Ok(y);
        }
        let y = self.rec.pool.storage(s.output)?;
        let bias = bias.unwrap_or(&self.dummy);
        let groups = groups_for(s.output as u32);
        self.launch(&kernels::CONV2D_FORWARD, &params, &[x, w, bias, &y], groups)?;
        Ok(y)
    }

    fn conv2d_backward_input(&self, dy: &Storage, w: &Storage, d: &Conv2dDims) -> Result<Storage> {
        let s = check::conv2d_backward_input(dy, w, d)?;
        let params = conv_params("conv2d_backward_input", d, &s, false)?;
        let dx = self.rec.pool.storage(s.input)?;
        if let Some(m) = self.columns(d, &s) {
            // dcol [taps, rows] = Wᵀ · dy', gathered back onto the input.
            let dy_rows = self.channel_rows(dy, &params)?;
            let dims = MatmulDims {
                m: m.taps,
                k: d.out_channels,
                n: m.rows,
                trans_a: true,
                trans_b: false,
            };
            let dcol = Backend::matmul(self, w, &dy_rows, dims)?;
            let groups = groups_for(s.input as u32);
            self.launch(&kernels::COL2IM, &params, &[&dcol, &dx], groups)?;
            return Ok(dx);
        }
        let groups = groups_for(s.input as u32);
        self.launch(
            &kernels::CONV2D_BACKWARD_INPUT,
            &params,
            &[dy, w, &dx],
            groups,
        )?;
        Ok(dx)
    }

    fn conv2d_backward_weight(
        &self,
        x: &Storage,
        dy: &Storage,
        d: &Conv2dDims,
        bias: bool,
    ) -> Result<(Storage, Option<Storage>)> {
        let s = check::conv2d_backward_weight(x, dy, d)?;
        let params = conv_params("conv2d_backward_weight", d, &s, bias)?;
        if let Some(m) = self.columns(d, &s) {
            // dW [C_out, taps] = dy' · colT; db sums dy over samples and pixels.
            let dy_rows = self.channel_rows(dy, &params)?;
            let col = self.im2col(&kernels::IM2COL_ROWS, x, &params, &m)?;
            let dims = MatmulDims {
                m: d.out_channels,
                k: m.rows,
                n: m.taps,
                trans_a: false,
                trans_b: false,
            };
            let dw = Backend::matmul(self, &dy_rows, &col, dims)?;
            let db = bias
                .then(|| self.bias_gradient(dy, d, &params))
                .transpose()?;
            return Ok((dw, db));
        }
        let dw = self.rec.pool.storage(s.weight)?;
        let db = bias
            .then(|| self.rec.pool.storage(d.out_channels))
            .transpose()?;
        let groups = s.weight + if bias { d.out_channels } else { 0 };
        self.launch(
            &kernels::CONV2D_BACKWARD_WEIGHT,
            &params,
            &[x, dy, &dw, db.as_ref().unwrap_or(&self.dummy)],
            groups as u32,
        )?;
        Ok((dw, db))
    }

    fn max_pool2d(&self, x: &Storage, d: &Pool2dDims) -> Result<Storage> {
        let s = check::max_pool2d(x, d)?;
        self.pool("max_pool2d", &kernels::MAX_POOL2D, d, &s, &[x], s.output)
    }

    fn max_pool2d_backward(&self, x: &Storage, dy: &Storage, d: &Pool2dDims) -> Result<Storage> {
        let s = check::max_pool2d_backward(x, dy, d)?;
        let kernel = &kernels::MAX_POOL2D_BACKWARD;
        self.pool("max_pool2d_backward", kernel, d, &s, &[x, dy], s.input)
    }

    fn avg_pool2d(&self, x: &Storage, d: &Pool2dDims) -> Result<Storage> {
        let s = check::avg_pool2d(x, d)?;
        self.pool("avg_pool2d", &kernels::AVG_POOL2D, d, &s, &[x], s.output)
    }

    fn avg_pool2d_backward(&self, dy: &Storage, d: &Pool2dDims) -> Result<Storage> {
        let s = check::avg_pool2d_backward(dy, d)?;
        let kernel = &kernels::AVG_POOL2D_BACKWARD;
        self.pool("avg_pool2d_backward", kernel, d, &s, &[dy], s.input)
    }
}
