//! `Conv2d` and `Conv1d`: PyTorch's convolution layers on NCHW (`[N, C, H, W]`) and
//! `[N, C, L]` batches, with PyTorch's default initialisation.

use super::{Init, Layer, LayerSpec};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::{Conv2dOptions, Tensor};

/// A size per spatial axis, `(height, width)`; one number stands for both (PyTorch's
/// int-or-tuple arguments): `3.into()` is `Size2(3, 3)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size2(pub usize, pub usize);

impl From<usize> for Size2 {
    fn from(v: usize) -> Self {
        Size2(v, v)
    }
}

impl From<(usize, usize)> for Size2 {
    fn from((h, w): (usize, usize)) -> Self {
        Size2(h, w)
    }
}

impl Size2 {
    fn pair(self) -> (usize, usize) {
        (self.0, self.1)
    }
}

/// How a 2-D convolution pads its input (PyTorch's `padding=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// No padding (`padding='valid'`, PyTorch's default).
    Valid,
    /// The output keeps the input's size (`padding='same'`, stride 1 only): each axis is
    /// padded by `dilation·(kernel − 1)` in all, half before and the rest (one more when
    /// the total is odd) after, as PyTorch does.
    Same,
    /// `(height, width)` zeros on both sides of each axis (`padding=(h, w)`).
    Explicit(usize, usize),
}

/// How a 1-D convolution pads its input (PyTorch's `padding=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding1d {
    /// No padding (PyTorch's default).
    Valid,
    /// The output keeps the input's length (stride 1 only), split as [`Padding::Same`].
    Same,
    /// Zeros on both ends.
    Explicit(usize),
}

/// `(before, after)` of PyTorch's `padding='same'` along one axis.
fn same(kernel: usize, dilation: usize) -> (usize, usize) {
    let total = dilation * (kernel - 1);
    (total / 2, total - total / 2)
}

/// A 2-D convolution layer (PyTorch's `nn.Conv2d`): `y = conv2d(x, W) + b` on NCHW
/// batches, `W` of shape `[out_channels, in_channels / groups, KH, KW]`, `b` of
/// `[out_channels]`. Weights and bias default to PyTorch's initialisation: uniform in
/// `±1 / sqrt(fan_in)` with `fan_in = in_channels / groups · KH · KW`.
#[derive(Clone, Debug)]
pub struct Conv2d {
    /// Channels of the input.
    pub in_channels: usize,
    /// Channels of the output.
    pub out_channels: usize,
    /// The kernel's `(height, width)`.
    pub kernel_size: (usize, usize),
    /// Steps between outputs; `(1, 1)` by default.
    pub stride: (usize, usize),
    /// [`Padding::Valid`] by default.
    pub padding: Padding,
    /// Spacing between kernel taps; `(1, 1)` by default.
    pub dilation: (usize, usize),
    /// Channel groups; 1 by default (`in_channels` for a depthwise convolution).
    pub groups: usize,
    /// Whether the layer adds a bias (`true` by default).
    pub use_bias: bool,
    /// How `W` is initialised; [`Init::KaimingUniform`]`(√5)` by default (PyTorch's).
    pub kernel_init: Init,
    /// How `b` is initialised; `None` (the default) is PyTorch's: uniform in
    /// `±1 / sqrt(fan_in)`.
    pub bias_init: Option<Init>,
}

impl Conv2d {
    /// `nn.Conv2d(in_channels, out_channels, kernel_size)` with PyTorch's defaults (stride
    /// 1, no padding, dilation 1, one group, a bias). `kernel_size` is a number or a
    /// `(height, width)` pair. Sizes of 0 and groups that do not divide the channels are
    /// refused with [`Error::Config`] when the model is built.
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: impl Into<Size2>) -> Self {
        Conv2d {
            in_channels,
            out_channels,
            kernel_size: kernel_size.into().pair(),
            stride: (1, 1),
            padding: Padding::Valid,
            dilation: (1, 1),
            groups: 1,
            use_bias: true,
            kernel_init: Init::KaimingUniform(5f32.sqrt()),
            bias_init: None,
        }
    }
    /// Sets the stride (a number or a pair).
    pub fn stride(mut self, stride: impl Into<Size2>) -> Self {
        self.stride = stride.into().pair();
        self
    }
    /// Sets the padding.
    pub fn padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }
    /// Sets the dilation (a number or a pair).
    pub fn dilation(mut self, dilation: impl Into<Size2>) -> Self {
        self.dilation = dilation.into().pair();
        self
    }
    /// Sets the number of channel groups.
    pub fn groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }
    /// With `false`, the layer has no bias.
    pub fn use_bias(mut self, use_bias: bool) -> Self {
        self.use_bias = use_bias;
        self
    }
    /// Sets the weight initialiser.
    pub fn kernel_init(mut self, init: Init) -> Self {
        self.kernel_init = init;
        self
    }
    /// Sets the bias initialiser (instead of PyTorch's fan-in uniform).
    pub fn bias_init(mut self, init: Init) -> Self {
        self.bias_init = Some(init);
        self
    }

    fn name(&self) -> String {
        format!(
            "Conv2d({} -> {}, kernel {:?})",
            self.in_channels, self.out_channels, self.kernel_size
        )
    }

    /// The options of the tensor op: padding resolved ('same' split as PyTorch splits it).
    fn options(&self) -> Conv2dOptions {
        let (pad_h, pad_w) = match self.padding {
            Padding::Valid => ((0, 0), (0, 0)),
            Padding::Explicit(h, w) => ((h, h), (w, w)),
            Padding::Same => (
                same(self.kernel_size.0, self.dilation.0),
                same(self.kernel_size.1, self.dilation.1),
            ),
        };
        Conv2dOptions {
            stride: self.stride,
            pad_h,
            pad_w,
            dilation: self.dilation,
            groups: self.groups,
        }
    }

    /// Fails for sizes of 0, groups that do not divide the channels, and 'same' padding
    /// with a stride (PyTorch refuses it too).
    fn validate(&self) -> Result<()> {
        let name = self.name();
        let (kh, kw) = self.kernel_size;
        let zero = [
            self.in_channels,
            self.out_channels,
            kh,
            kw,
            self.stride.0,
            self.stride.1,
            self.dilation.0,
            self.dilation.1,
        ]
        .contains(&0);
        if zero {
            return Err(Error::Config(format!(
                "{name}: channels, kernel size, stride and dilation must be at least 1 (stride \
                 {:?}, dilation {:?})",
                self.stride, self.dilation
            )));
        }
        let g = self.groups;
        if g == 0 || !self.in_channels.is_multiple_of(g) || !self.out_channels.is_multiple_of(g) {
            return Err(Error::Config(format!(
                "{name}: groups = {g} must divide in_channels and out_channels"
            )));
        }
        if self.padding == Padding::Same && self.stride != (1, 1) {
            return Err(Error::Config(format!(
                "{name}: padding 'same' needs stride 1, got {:?} (as in PyTorch)",
                self.stride
            )));
        }
        self.kernel_init.validate(&format!("{name} kernel_init"))?;
        if let Some(init) = self.bias_init {
            init.validate(&format!("{name} bias_init"))?;
        }
        Ok(())
    }

    /// Validates the spec and draws the parameters.
    fn build_layer(&self, device: &Device, seed: u64) -> Result<ConvLayer> {
        self.validate()?;
        let (kh, kw) = self.kernel_size;
        let shape = Shape::new([self.out_channels, self.in_channels / self.groups, kh, kw]);
        let len = device.check_new(&format!("{} weight", self.name()), &shape)?;
        let fan_in = self.in_channels / self.groups * kh * kw;
        let fan_out = self.out_channels * kh * kw;
        let values = self.kernel_init.sample_fans(len, fan_in, fan_out, seed)?;
        let weight = device.tensor(values, shape)?.param();
        let bias = if self.use_bias {
            let init = self
                .bias_init
                .unwrap_or(Init::Uniform(1.0 / (fan_in as f32).sqrt()));
            let values = init.sample_fans(self.out_channels, fan_in, fan_out, seed ^ 0xB1A5)?;
            Some(device.tensor(values, [self.out_channels])?.param())
        } else {
            None
        };
        Ok(ConvLayer {
            spec: self.clone(),
            options: self.options(),
            weight,
            bias,
        })
    }
}

impl LayerSpec for Conv2d {
    fn in_features(&self) -> Option<usize> {
        None
    }
    fn out_features(&self) -> Option<usize> {
        None
    }
    fn build(&self, device: &Device, seed: u64) -> Result<Box<dyn Layer>> {
        Ok(Box::new(self.build_layer(device, seed)?))
    }
}

/// A built convolution holding its parameters.
struct ConvLayer {
    spec: Conv2d,
    options: Conv2dOptions,
    /// `[C_out, C_in / groups, KH, KW]`
    weight: Tensor,
    /// `[C_out]`
    bias: Option<Tensor>,
}

impl ConvLayer {
    fn forward_2d(&self, x: &Tensor, what: &'static str) -> Result<Tensor> {
        let channels = x.dims().get(1).copied();
        if x.rank() != 4 || channels != Some(self.spec.in_channels) {
            return Err(Error::shape(
                what,
                format!(
                    "the input {} should be [N, {}, H, W]",
                    x.shape(),
                    self.spec.in_channels
                ),
            ));
        }
        x.conv2d(&self.weight, self.bias.as_ref(), self.options)
    }
}

impl Layer for ConvLayer {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_2d(x, "Conv2d")
    }
    fn parameters(&self) -> Vec<Tensor> {
        std::iter::once(self.weight.clone())
            .chain(self.bias.clone())
            .collect()
    }
    fn parameter_names(&self) -> Vec<String> {
        std::iter::once("conv2d.weight".to_string())
            .chain(self.bias.as_ref().map(|_| "conv2d.bias".to_string()))
            .collect()
    }
    fn describe(&self) -> String {
        let s = &self.spec;
        format!(
            "Conv2d({} -> {}, kernel {:?}, stride {:?}, padding {:?}, dilation {:?}, groups {})",
            s.in_channels, s.out_channels, s.kernel_size, s.stride, s.padding, s.dilation, s.groups
        )
    }
}

/// A 1-D convolution layer (PyTorch's `nn.Conv1d`) on `[N, C, L]` batches: a [`Conv2d`]
/// with a kernel of height 1, the input seen as `[N, C, 1, L]`. Weights `[out_channels,
/// in_channels / groups, K]`, PyTorch's initialisation.
#[derive(Clone, Debug)]
pub struct Conv1d {
    inner: Conv2d,
    padding: Padding1d,
}

impl Conv1d {
    /// `nn.Conv1d(in_channels, out_channels, kernel_size)` with PyTorch's defaults.
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: usize) -> Self {
        Conv1d {
            inner: Conv2d::new(in_channels, out_channels, (1, kernel_size)),
            padding: Padding1d::Valid,
        }
    }
    /// Sets the stride.
    pub fn stride(mut self, stride: usize) -> Self {
        self.inner = self.inner.stride((1, stride));
        self
    }
    /// Sets the padding.
    pub fn padding(mut self, padding: Padding1d) -> Self {
        self.padding = padding;
        self.inner = self.inner.padding(match padding {
            Padding1d::Valid => Padding::Valid,
            Padding1d::Same => Padding::Same,
            Padding1d::Explicit(p) => Padding::Explicit(0, p),
        });
        self
    }
    /// Sets the dilation.
    pub fn dilation(mut self, dilation: usize) -> Self {
        self.inner = self.inner.dilation((1, dilation));
        self
    }
    /// Sets the number of channel groups.
    pub fn groups(mut self, groups: usize) -> Self {
        self.inner = self.inner.groups(groups);
        self
    }
    /// With `false`, the layer has no bias.
    pub fn use_bias(mut self, use_bias: bool) -> Self {
        self.inner = self.inner.use_bias(use_bias);
        self
    }
    /// Sets the weight initialiser.
    pub fn kernel_init(mut self, init: Init) -> Self {
        self.inner = self.inner.kernel_init(init);
        self
    }
    /// Sets the bias initialiser (instead of PyTorch's fan-in uniform).
    pub fn bias_init(mut self, init: Init) -> Self {
        self.inner = self.inner.bias_init(init);
        self
    }
}

impl LayerSpec for Conv1d {
    fn in_features(&self) -> Option<usize> {
        None
    }
    fn out_features(&self) -> Option<usize> {
        None
    }
    fn build(&self, device: &Device, seed: u64) -> Result<Box<dyn Layer>> {
        let ConvLayer {
            spec,
            options,
            weight,
            bias,
        } = self.inner.build_layer(device, seed)?;
        // The parameter keeps PyTorch's 1-D weight shape [C_out, C_in / groups, K]; forward
        // views it (and the input) with a height of 1.
        let k = spec.kernel_size.1;
        let weight = weight
            .detach()
            .reshape([spec.out_channels, spec.in_channels / spec.groups, k])?
            .param();
        Ok(Box::new(Conv1dLayer {
            spec,
            padding: self.padding,
            options,
            weight,
            bias,
        }))
    }
}

/// A built 1-D convolution holding its parameters.
struct Conv1dLayer {
    spec: Conv2d,
    padding: Padding1d,
    options: Conv2dOptions,
    /// `[C_out, C_in / groups, K]`
    weight: Tensor,
    /// `[C_out]`
    bias: Option<Tensor>,
}

impl Layer for Conv1dLayer {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let spec = &self.spec;
        let (n, l) = match *x.dims() {
            [n, c, l] if c == spec.in_channels => (n, l),
            _ => {
                return Err(Error::shape(
                    "Conv1d",
                    format!(
                        "the input {} should be [N, {}, L]",
                        x.shape(),
                        spec.in_channels
                    ),
                ))
            }
        };
        let (c_group, k) = (spec.in_channels / spec.groups, spec.kernel_size.1);
        let w = self.weight.reshape([spec.out_channels, c_group, 1, k])?;
        let y =
            x.reshape([n, spec.in_channels, 1, l])?
                .conv2d(&w, self.bias.as_ref(), self.options)?;
        let out_len = y.dims()[3];
        y.reshape([n, spec.out_channels, out_len])
    }
    fn parameters(&self) -> Vec<Tensor> {
        std::iter::once(self.weight.clone())
            .chain(self.bias.clone())
            .collect()
    }
    fn parameter_names(&self) -> Vec<String> {
        std::iter::once("conv1d.weight".to_string())
            .chain(self.bias.as_ref().map(|_| "conv1d.bias".to_string()))
            .collect()
    }
    fn describe(&self) -> String {
        let s = &self.spec;
        format!(
            "Conv1d({} -> {}, kernel {}, stride {}, padding {:?}, dilation {}, groups {})",
            s.in_channels,
            s.out_channels,
            s.kernel_size.1,
            s.stride.1,
            self.padding,
            s.dilation.1,
            s.groups
        )
    }
}
