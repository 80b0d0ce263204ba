//! Convolutions and pools on NCHW tensors (PyTorch's `F.conv2d`, `F.conv1d`,
//! `F.max_pool2d`, `F.avg_pool2d`), each one backend call forward and backward.

use super::Tensor;
use crate::autodiff::Op;
use crate::backend::conv::{Conv2dDims, Pool2dDims};
use crate::error::{Error, Result};
use crate::shape::Shape;

/// The keyword arguments of [`Tensor::conv2d`] (PyTorch's `F.conv2d`), pairs as
/// `(height, width)`. The default is PyTorch's: stride 1, no padding, dilation 1, one group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dOptions {
    /// Steps between outputs.
    pub stride: (usize, usize),
    /// Zeros added `(above, below)` the input.
    pub pad_h: (usize, usize),
    /// Zeros added `(left, right)` of the input.
    pub pad_w: (usize, usize),
    /// Spacing between kernel taps.
    pub dilation: (usize, usize),
    /// Channel groups (both channel counts divide by it).
    pub groups: usize,
}

impl Default for Conv2dOptions {
    fn default() -> Self {
        Conv2dOptions {
            stride: (1, 1),
            pad_h: (0, 0),
            pad_w: (0, 0),
            dilation: (1, 1),
            groups: 1,
        }
    }
}

/// The keyword arguments of [`Tensor::conv1d`] (PyTorch's `F.conv1d`); the default is
/// PyTorch's: stride 1, no padding, dilation 1, one group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv1dOptions {
    /// Steps between outputs.
    pub stride: usize,
    /// Zeros added `(left, right)` of the input.
    pub padding: (usize, usize),
    /// Spacing between kernel taps.
    pub dilation: usize,
    /// Channel groups.
    pub groups: usize,
}

impl Default for Conv1dOptions {
    fn default() -> Self {
        Conv1dOptions {
            stride: 1,
            padding: (0, 0),
            dilation: 1,
            groups: 1,
        }
    }
}

/// The arguments of [`Tensor::max_pool2d`] and [`Tensor::avg_pool2d`], pairs as
/// `(height, width)`: PyTorch's defaults through [`Pool2dOptions::new`] (stride = kernel,
/// no padding, dilation 1, `ceil_mode = False`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dOptions {
    /// The window.
    pub kernel: (usize, usize),
    /// Steps between windows; `None` is the kernel size (PyTorch's default).
    pub stride: Option<(usize, usize)>,
    /// Padding on both sides of each axis, at most half the kernel.
    pub padding: (usize, usize),
    /// Spacing between window taps (max pooling only).
    pub dilation: (usize, usize),
}

impl Pool2dOptions {
    /// A `kernel` window with PyTorch's defaults for the rest.
    pub fn new(kernel: (usize, usize)) -> Self {
        Pool2dOptions {
            kernel,
            stride: None,
            padding: (0, 0),
            dilation: (1, 1),
        }
    }
}

/// The four dims of an NCHW tensor, or [`Error::Shape`].
fn nchw(op: &'static str, what: &str, t: &Tensor) -> Result<[usize; 4]> {
    match t.dims() {
        &[n, c, h, w] => Ok([n, c, h, w]),
        _ => Err(Error::shape(
            op,
            format!("{what} must be 4-D [N, C, H, W], got {}", t.shape()),
        )),
    }
}

impl Tensor {
    /// 2-D convolution (PyTorch's `F.conv2d`) of `self [N, C_in, H, W]` with
    /// `weight [C_out, C_in / groups, KH, KW]` plus an optional `bias [C_out]`, giving
    /// `[N, C_out, OH, OW]`. Mismatched shapes are [`Error::Shape`] (also a kernel wider than
    /// the padded input), bad options (a zero stride, groups not dividing the channels)
    /// [`Error::Config`].
    pub fn conv2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        options: Conv2dOptions,
    ) -> Result<Tensor> {
        const OP: &str = "conv2d";
        self.check_device(OP, weight)?;
        let [n, c_in, h, w] = nchw(OP, "the input", self)?;
        let [c_out, c_group, kh, kw] = nchw(OP, "the weight", weight)?;
        let g = options.groups;
        if g == 0 || c_in % g != 0 || c_out % g != 0 {
            return Err(Error::Config(format!(
                "{OP}: groups = {g} must be at least 1 and divide both the input's {c_in} \
                 channels and the weight's {c_out} output channels"
            )));
        }
        if c_group * g != c_in {
            return Err(Error::shape(
                OP,
                format!(
                    "the weight {} expects {} input channels ({c_group} per group × {g} \
                     groups), the input {} has {c_in}",
                    weight.shape(),
                    c_group * g,
                    self.shape()
                ),
            ));
        }
        if let Some(b) = bias {
            self.check_device(OP, b)?;
            if b.dims() != [c_out] {
                return Err(Error::shape(
                    OP,
                    format!(
                        "the bias {} does not match {c_out} output channels",
                        b.shape()
                    ),
                ));
            }
        }
        let dims = Conv2dDims {
            batch: n,
            in_channels: c_in,
            in_size: (h, w),
            out_channels: c_out,
            kernel: (kh, kw),
            stride: options.stride,
            pad_h: options.pad_h,
            pad_w: options.pad_w,
            dilation: options.dilation,
            groups: g,
        };
        let sizes = dims.sizes()?;
        let shape = Shape::new([n, c_out, sizes.out_size.0, sizes.out_size.1]);
        self.device().check_new(OP, &shape)?;
        let bias_storage = bias.map(Tensor::storage);
        let out = self.device().backend().conv2d(
            &self.storage(),
            &weight.storage(),
            bias_storage.as_ref(),
            &dims,
        )?;
        let mut inputs = vec![self, weight];
        inputs.extend(bias);
        Ok(Tensor::from_op(
            self.device(),
            shape,
            out,
            Op::Conv2d(dims),
            &inputs,
            false,
        ))
    }

    /// 1-D convolution (PyTorch's `F.conv1d`) of `self [N, C_in, L]` with
    /// `weight [C_out, C_in / groups, K]` plus an optional `bias [C_out]`, giving
    /// `[N, C_out, OL]`: [`Tensor::conv2d`] on the input seen as height 1. Errors as
    /// `conv2d`'s.
    pub fn conv1d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        options: Conv1dOptions,
    ) -> Result<Tensor> {
        let three = |what: &str, t: &Tensor| match t.dims() {
            &[a, b, c] => Ok([a, b, c]),
            _ => Err(Error::shape(
                "conv1d",
                format!("{what} must be 3-D [N, C, L], got {}", t.shape()),
            )),
        };
        let [n, c, l] = three("the input", self)?;
        let [co, cg, k] = three("the weight", weight)?;
        let y = self.reshape([n, c, 1, l])?.conv2d(
            &weight.reshape([co, cg, 1, k])?,
            bias,
            Conv2dOptions {
                stride: (1, options.stride),
                pad_h: (0, 0),
                pad_w: options.padding,
                dilation: (1, options.dilation),
                groups: options.groups,
            },
        )?;
        let out_len = y.dims()[3];
        y.reshape([n, co, out_len])
    }

    fn pool_dims(&self, op: &'static str, options: &Pool2dOptions) -> Result<Pool2dDims> {
        let [n, c, h, w] = nchw(op, "the input", self)?;
        Ok(Pool2dDims {
            batch: n,
            channels: c,
            in_size: (h, w),
            kernel: options.kernel,
            stride: options.stride.unwrap_or(options.kernel),
            padding: options.padding,
            dilation: options.dilation,
        })
    }

    /// Max pooling (PyTorch's `F.max_pool2d`, `ceil_mode = False`) of `self [N, C, H, W]`:
    /// padding counts as `-inf`, a window holding NaN gives NaN, and the gradient goes to
    /// the position PyTorch picks (the first maximum; the last NaN). Bad options are
    /// [`Error::Config`], a window wider than the padded input [`Error::Shape`].
    pub fn max_pool2d(&self, options: Pool2dOptions) -> Result<Tensor> {
        const OP: &str = "max_pool2d";
        let dims = self.pool_dims(OP, &options)?;
        let sizes = dims.sizes(OP)?;
        let shape = Shape::new([
            dims.batch,
            dims.channels,
            sizes.out_size.0,
            sizes.out_size.1,
        ]);
        self.device().check_new(OP, &shape)?;
        let out = self.device().backend().max_pool2d(&self.storage(), &dims)?;
        Ok(Tensor::from_op(
            self.device(),
            shape,
            out,
            Op::MaxPool2d(dims),
            &[self],
            false,
        ))
    }

    /// Average pooling (PyTorch's `F.avg_pool2d` defaults: `count_include_pad = True`,
    /// `ceil_mode = False`) of `self [N, C, H, W]`. A dilation other than 1 is
    /// [`Error::Config`]; other errors as [`Tensor::max_pool2d`].
    pub fn avg_pool2d(&self, options: Pool2dOptions) -> Result<Tensor> {
        const OP: &str = "avg_pool2d";
        let dims = self.pool_dims(OP, &options)?;
        let sizes = dims.avg_sizes()?;
        let shape = Shape::new([
            dims.batch,
            dims.channels,
            sizes.out_size.0,
            sizes.out_size.1,
        ]);
        self.device().check_new(OP, &shape)?;
        let out = self.device().backend().avg_pool2d(&self.storage(), &dims)?;
        Ok(Tensor::from_op(
            self.device(),
            shape,
            out,
            Op::AvgPool2d(dims),
            &[self],
            false,
        ))
    }

    /// The mean over height and width of `self [N, C, H, W]`, giving `[N, C]`
    /// (`F.adaptive_avg_pool2d(x, 1).flatten(1)`). An empty plane is [`Error::EmptyData`].
    pub fn global_avg_pool(&self) -> Result<Tensor> {
        let [n, c, h, w] = nchw("global_avg_pool", "the input", self)?;
        self.reshape([n * c, h * w])?
            .mean_axis(1, false)?
            .reshape([n, c])
    }
}
