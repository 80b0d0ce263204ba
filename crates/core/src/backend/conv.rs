//! Convolutions and pools on NCHW tensors: their sizes ([`Conv2dDims`], [`Pool2dDims`]),
//! the backend methods ([`ConvOps`]) and the argument check each method runs first.
//!
//! Geometry follows PyTorch: an axis of `size` input elements, padded by `before` and
//! `after`, seen by a kernel of `k` taps `dilation` apart, stepped by `stride`, gives
//! `(size + before + after − dilation·(k − 1) − 1) / stride + 1` outputs (floor division,
//! `ceil_mode = False`).

use super::check::{elements, len};
use super::Storage;
use crate::error::{Error, Result};

/// The sizes of a 2-D convolution of `x [batch, in_channels, in_h, in_w]` with
/// `w [out_channels, in_channels / groups, kernel.0, kernel.1]` (PyTorch's `F.conv2d`).
/// Pairs are `(height, width)`; padding is `(before, after)` per axis, so PyTorch's
/// asymmetric `padding='same'` is expressible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dDims {
    /// `N`
    pub batch: usize,
    /// `C_in`
    pub in_channels: usize,
    /// Input height and width.
    pub in_size: (usize, usize),
    /// `C_out`
    pub out_channels: usize,
    /// Kernel height and width.
    pub kernel: (usize, usize),
    /// Steps between outputs along height and width (at least 1).
    pub stride: (usize, usize),
    /// Zeros added above and below the input.
    pub pad_h: (usize, usize),
    /// Zeros added left and right of the input.
    pub pad_w: (usize, usize),
    /// Spacing between kernel taps along height and width (at least 1).
    pub dilation: (usize, usize),
    /// Channel groups: `C_in` and `C_out` both divide by it (at least 1).
    pub groups: usize,
}

/// The element counts of a checked convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dSizes {
    /// Output height and width.
    pub out_size: (usize, usize),
    /// Elements of `x`.
    pub input: usize,
    /// Elements of `w`.
    pub weight: usize,
    /// Elements of `y [batch, out_channels, out_h, out_w]`.
    pub output: usize,
}

/// Outputs along one axis, or an error naming the axis when the kernel does not fit.
fn axis_outputs(
    op: &'static str,
    axis: &str,
    size: usize,
    (before, after): (usize, usize),
    kernel: usize,
    stride: usize,
    dilation: usize,
) -> Result<usize> {
    let padded = size as u128 + before as u128 + after as u128;
    let span = dilation as u128 * (kernel as u128 - 1) + 1;
    if span > padded {
        return Err(Error::shape(
            op,
            format!(
                "the kernel spans {span} elements along the {axis} (kernel {kernel}, dilation \
                 {dilation}), more than the padded input's {padded}: no output would remain"
            ),
        ));
    }
    // (padded − span) / stride + 1 ≤ padded, which fits: padded is a sum of three usizes
    // and the result is checked as an element count below.
    usize::try_from((padded - span) / stride as u128 + 1)
        .map_err(|_| Error::TooLarge(format!("{op}: {padded} padded elements along the {axis}")))
}

/// Fails unless every value of the pair is at least 1.
fn positive(op: &'static str, what: &str, pair: (usize, usize)) -> Result<()> {
    if pair.0 == 0 || pair.1 == 0 {
        Err(Error::Config(format!(
            "{op}: the {what} {pair:?} must be at least 1 along each axis"
        )))
    } else {
        Ok(())
    }
}

impl Conv2dDims {
    /// Checks the geometry and returns the output size and element counts: a stride,
    /// dilation, kernel size or group count of 0, or groups that do not divide both channel
    /// counts, are [`Error::Config`]; a kernel wider than the padded input (no output) is
    /// [`Error::Shape`]; products that overflow are [`Error::TooLarge`].
    pub fn sizes(&self) -> Result<Conv2dSizes> {
        const OP: &str = "conv2d";
        positive(OP, "kernel size", self.kernel)?;
        positive(OP, "stride", self.stride)?;
        positive(OP, "dilation", self.dilation)?;
        let g = self.groups;
        if g == 0 || !self.in_channels.is_multiple_of(g) || !self.out_channels.is_multiple_of(g) {
            return Err(Error::Config(format!(
                "{OP}: groups = {g} must be at least 1 and divide both in_channels = {} and \
                 out_channels = {}",
                self.in_channels, self.out_channels
            )));
        }
        if self.in_channels == 0 || self.out_channels == 0 {
            return Err(Error::Config(format!(
                "{OP}: in_channels = {} and out_channels = {} must be at least 1",
                self.in_channels, self.out_channels
            )));
        }
        let out_h = axis_outputs(
            OP,
            "height",
            self.in_size.0,
            self.pad_h,
            self.kernel.0,
            self.stride.0,
            self.dilation.0,
        )?;
        let out_w = axis_outputs(
            OP,
            "width",
            self.in_size.1,
            self.pad_w,
            self.kernel.1,
            self.stride.1,
            self.dilation.1,
        )?;
        let (h, w) = self.in_size;
        let input = elements(
            OP,
            "x [N, C_in, H, W]",
            &[self.batch, self.in_channels, h, w],
        )?;
        let weight = elements(
            OP,
            "w [C_out, C_in / groups, KH, KW]",
            &[
                self.out_channels,
                self.in_channels / g,
                self.kernel.0,
                self.kernel.1,
            ],
        )?;
        let output = elements(
            OP,
            "y [N, C_out, OH, OW]",
            &[self.batch, self.out_channels, out_h, out_w],
        )?;
        // The padded extents and the column matrix of one sample index within usize too.
        elements(
            OP,
            "the columns [C_in·KH·KW, OH·OW]",
            &[self.in_channels, self.kernel.0, self.kernel.1, out_h, out_w],
        )?;
        Ok(Conv2dSizes {
            out_size: (out_h, out_w),
            input,
            weight,
            output,
        })
    }
}

/// The sizes of a 2-D pool over `x [batch, channels, in_h, in_w]` (PyTorch's
/// `F.max_pool2d` / `F.avg_pool2d` with `ceil_mode = False`). Padding is symmetric, as in
/// PyTorch: `-inf` for max pooling, zeros counted in the mean for average pooling
/// (`count_include_pad = True`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dDims {
    /// `N`
    pub batch: usize,
    /// `C`
    pub channels: usize,
    /// Input height and width.
    pub in_size: (usize, usize),
    /// Window height and width.
    pub kernel: (usize, usize),
    /// Steps between windows (PyTorch's default is the kernel size).
    pub stride: (usize, usize),
    /// Padding on each side of the height and the width; at most half the kernel.
    pub padding: (usize, usize),
    /// Spacing between window taps (average pooling takes 1 only, as PyTorch).
    pub dilation: (usize, usize),
}

/// The element counts of a checked pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dSizes {
    /// Output height and width.
    pub out_size: (usize, usize),
    /// Elements of `x`.
    pub input: usize,
    /// Elements of `y [batch, channels, out_h, out_w]`.
    pub output: usize,
}

impl Pool2dDims {
    /// Checks the geometry as PyTorch does: sizes, strides and dilations of 0, or padding
    /// beyond half the kernel, are [`Error::Config`]; a window wider than the padded input
    /// is [`Error::Shape`]; overflowing products [`Error::TooLarge`].
    pub fn sizes(&self, op: &'static str) -> Result<Pool2dSizes> {
        positive(op, "kernel size", self.kernel)?;
        positive(op, "stride", self.stride)?;
        positive(op, "dilation", self.dilation)?;
        if self.padding.0 > self.kernel.0 / 2 || self.padding.1 > self.kernel.1 / 2 {
            return Err(Error::Config(format!(
                "{op}: padding {:?} must be at most half the kernel {:?}",
                self.padding, self.kernel
            )));
        }
        let (ph, pw) = self.padding;
        let out_h = axis_outputs(
            op,
            "height",
            self.in_size.0,
            (ph, ph),
            self.kernel.0,
            self.stride.0,
            self.dilation.0,
        )?;
        let out_w = axis_outputs(
            op,
            "width",
            self.in_size.1,
            (pw, pw),
            self.kernel.1,
            self.stride.1,
            self.dilation.1,
        )?;
        let (h, w) = self.in_size;
        let input = elements(op, "x [N, C, H, W]", &[self.batch, self.channels, h, w])?;
        let output = elements(
            op,
            "y [N, C, OH, OW]",
            &[self.batch, self.channels, out_h, out_w],
        )?;
        elements(op, "the window", &[self.kernel.0, self.kernel.1])?;
        Ok(Pool2dSizes {
            out_size: (out_h, out_w),
            input,
            output,
        })
    }

    /// The checks of [`Pool2dDims::sizes`], plus a dilation of 1 (PyTorch's `avg_pool2d`
    /// has none).
    pub fn avg_sizes(&self) -> Result<Pool2dSizes> {
        if self.dilation != (1, 1) {
            return Err(Error::Config(format!(
                "avg_pool2d: dilation {:?} is not supported (PyTorch's avg_pool2d has none)",
                self.dilation
            )));
        }
        self.sizes("avg_pool2d")
    }
}

/// Checks [`ConvOps::conv2d`]'s arguments.
pub fn conv2d(
    x: &Storage,
    w: &Storage,
    bias: Option<&Storage>,
    d: &Conv2dDims,
) -> Result<Conv2dSizes> {
    let s = d.sizes()?;
    len("conv2d", "x", x, s.input)?;
    len("conv2d", "w", w, s.weight)?;
    if let Some(b) = bias {
        len("conv2d", "the bias", b, d.out_channels)?;
    }
    Ok(s)
}

/// Checks [`ConvOps::conv2d_backward_input`]'s arguments.
pub fn conv2d_backward_input(dy: &Storage, w: &Storage, d: &Conv2dDims) -> Result<Conv2dSizes> {
    let s = d.sizes()?;
    len("conv2d_backward_input", "dy", dy, s.output)?;
    len("conv2d_backward_input", "w", w, s.weight)?;
    Ok(s)
}

/// Checks [`ConvOps::conv2d_backward_weight`]'s arguments.
pub fn conv2d_backward_weight(x: &Storage, dy: &Storage, d: &Conv2dDims) -> Result<Conv2dSizes> {
    let s = d.sizes()?;
    len("conv2d_backward_weight", "x", x, s.input)?;
    len("conv2d_backward_weight", "dy", dy, s.output)?;
    Ok(s)
}

/// Checks [`ConvOps::max_pool2d`]'s arguments.
pub fn max_pool2d(x: &Storage, d: &Pool2dDims) -> Result<Pool2dSizes> {
    let s = d.sizes("max_pool2d")?;
    len("max_pool2d", "x", x, s.input)?;
    Ok(s)
}

/// Checks [`ConvOps::max_pool2d_backward`]'s arguments.
pub fn max_pool2d_backward(x: &Storage, dy: &Storage, d: &Pool2dDims) -> Result<Pool2dSizes> {
    let s = d.sizes("max_pool2d_backward")?;
    len("max_pool2d_backward", "x", x, s.input)?;
    len("max_pool2d_backward", "dy", dy, s.output)?;
    Ok(s)
}

/// Checks [`ConvOps::avg_pool2d`]'s arguments.
pub fn avg_pool2d(x: &Storage, d: &Pool2dDims) -> Result<Pool2dSizes> {
    let s = d.avg_sizes()?;
    len("avg_pool2d", "x", x, s.input)?;
    Ok(s)
}

/// Checks [`ConvOps::avg_pool2d_backward`]'s arguments.
pub fn avg_pool2d_backward(dy: &Storage, d: &Pool2dDims) -> Result<Pool2dSizes> {
    let s = d.avg_sizes()?;
    len("avg_pool2d_backward", "dy", dy, s.output)?;
    Ok(s)
}

/// Convolutions and pools, forward and backward. Each method first runs the function of
/// the same name in this module. Backward passes gather (each output element sums what
/// reaches it in a fixed order), so results are the same run to run, without atomics.
pub trait ConvOps {
    /// `y = conv2d(x, w) + bias` with zero padding (PyTorch's `F.conv2d`): `x` is
    /// `[N, C_in, H, W]`, `w` `[C_out, C_in / groups, KH, KW]`, `bias` `[C_out]`, the result
    /// `[N, C_out, OH, OW]`.
    fn conv2d(
        &self,
        x: &Storage,
        w: &Storage,
        bias: Option<&Storage>,
        dims: &Conv2dDims,
    ) -> Result<Storage>;
    /// `dx` of [`ConvOps::conv2d`] from the upstream `dy [N, C_out, OH, OW]` and `w`.
    fn conv2d_backward_input(
        &self,
        dy: &Storage,
        w: &Storage,
        dims: &Conv2dDims,
    ) -> Result<Storage>;
    /// `dw` of [`ConvOps::conv2d`] from `x` and `dy`, and with `bias` the bias gradient
    /// `db[c] = Σ dy[:, c, :, :]`.
    fn conv2d_backward_weight(
        &self,
        x: &Storage,
        dy: &Storage,
        dims: &Conv2dDims,
        bias: bool,
    ) -> Result<(Storage, Option<Storage>)>;
    /// Max over each window (padding is `-inf`; a NaN in a window gives NaN), PyTorch's
    /// `F.max_pool2d`.
    fn max_pool2d(&self, x: &Storage, dims: &Pool2dDims) -> Result<Storage>;
    /// `dx` of [`ConvOps::max_pool2d`]: each window's `dy` goes to the position PyTorch
    /// picks, the first maximum in row-major order (the last NaN where the window holds
    /// NaNs, as PyTorch's `val > max || isnan(val)` scan), summed where windows overlap.
    fn max_pool2d_backward(&self, x: &Storage, dy: &Storage, dims: &Pool2dDims) -> Result<Storage>;
    /// The mean of each window, padding zeros counted (PyTorch's `F.avg_pool2d` defaults).
    fn avg_pool2d(&self, x: &Storage, dims: &Pool2dDims) -> Result<Storage>;
    /// `dx` of [`ConvOps::avg_pool2d`]: `dy / (KH·KW)` to every position of each window.
    fn avg_pool2d_backward(&self, dy: &Storage, dims: &Pool2dDims) -> Result<Storage>;
}
