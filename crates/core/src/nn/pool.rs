//! Pooling layers on NCHW batches: `MaxPool2d`, `AvgPool2d` (PyTorch's) and
//! `GlobalAvgPool2d` (Keras' `GlobalAveragePooling2D`: `[N, C, H, W] → [N, C]`).

use super::conv::Size2;
use super::{Layer, LayerSpec};
use crate::device::Device;
use crate::error::Result;
use crate::tensor::{Pool2dOptions, Tensor};

/// Max pooling (PyTorch's `nn.MaxPool2d`, `ceil_mode = False`): the stride defaults to
/// the kernel size, padding counts as `-inf`, a window holding NaN gives NaN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPool2d {
    /// The window and its stride, padding and dilation.
    pub options: Pool2dOptions,
}

impl MaxPool2d {
    /// `nn.MaxPool2d(kernel_size)`: a number or a `(height, width)` pair. Bad geometry is
    /// refused (typed errors) at the first forward pass, when the input size is known.
    pub fn new(kernel_size: impl Into<Size2>) -> Self {
        let k = kernel_size.into();
        MaxPool2d {
            options: Pool2dOptions::new((k.0, k.1)),
        }
    }
    /// Sets the stride (the kernel size by default).
    pub fn stride(mut self, stride: impl Into<Size2>) -> Self {
        let s = stride.into();
        self.options.stride = Some((s.0, s.1));
        self
    }
    /// Sets the padding on both sides of each axis (at most half the kernel).
    pub fn padding(mut self, padding: impl Into<Size2>) -> Self {
        let p = padding.into();
        self.options.padding = (p.0, p.1);
        self
    }
    /// Sets the dilation.
    pub fn dilation(mut self, dilation: impl Into<Size2>) -> Self {
        let d = dilation.into();
        self.options.dilation = (d.0, d.1);
        self
    }
}

/// Average pooling (PyTorch's `nn.AvgPool2d` defaults: `count_include_pad = True`,
/// `ceil_mode = False`; the stride defaults to the kernel size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgPool2d {
    /// The window and its stride and padding.
    pub options: Pool2dOptions,
}

impl AvgPool2d {
    /// `nn.AvgPool2d(kernel_size)`: a number or a `(height, width)` pair.
    pub fn new(kernel_size: impl Into<Size2>) -> Self {
        let k = kernel_size.into();
        AvgPool2d {
            options: Pool2dOptions::new((k.0, k.1)),
        }
    }
    /// Sets the stride (the kernel size by default).
    pub fn stride(mut self, stride: impl Into<Size2>) -> Self {
        let s = stride.into();
        self.options.stride = Some((s.0, s.1));
        self
    }
    /// Sets the zero padding on both sides of each axis (at most half the kernel).
    pub fn padding(mut self, padding: impl Into<Size2>) -> Self {
        let p = padding.into();
        self.options.padding = (p.0, p.1);
        self
    }
}

/// The mean of each channel over height and width: `[N, C, H, W] → [N, C]` (Keras'
/// `GlobalAveragePooling2D`, PyTorch's `AdaptiveAvgPool2d(1)` then `flatten(1)`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GlobalAvgPool2d;

impl GlobalAvgPool2d {
    /// The layer.
    pub fn new() -> Self {
        GlobalAvgPool2d
    }
}

/// Which pool a built layer runs.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Max(Pool2dOptions),
    Avg(Pool2dOptions),
    Global,
}

/// A built pooling layer (no parameters).
struct PoolLayer(Kind);

impl Layer for PoolLayer {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self.0 {
            Kind::Max(options) => x.max_pool2d(options),
            Kind::Avg(options) => x.avg_pool2d(options),
            Kind::Global => x.global_avg_pool(),
        }
    }
    fn parameters(&self) -> Vec<Tensor> {
        Vec::new()
    }
    fn describe(&self) -> String {
        let show = |name: &str, o: &Pool2dOptions| {
            format!(
                "{name}(kernel {:?}, stride {:?}, padding {:?}, dilation {:?})",
                o.kernel,
                o.stride.unwrap_or(o.kernel),
                o.padding,
                o.dilation
            )
        };
        match &self.0 {
            Kind::Max(o) => show("MaxPool2d", o),
            Kind::Avg(o) => show("AvgPool2d", o),
            Kind::Global => "GlobalAvgPool2d".to_string(),
        }
    }
}

macro_rules! pool_spec {
    ($spec:ty, $kind:expr) => {
        impl LayerSpec for $spec {
            fn in_features(&self) -> Option<usize> {
                None
            }
            fn out_features(&self) -> Option<usize> {
                None
            }
            fn build(&self, _device: &Device, _seed: u64) -> Result<Box<dyn Layer>> {
                let kind: fn(&$spec) -> Kind = $kind;
                Ok(Box::new(PoolLayer(kind(self))))
            }
        }
    };
}

pool_spec!(MaxPool2d, |s| Kind::Max(s.options));
pool_spec!(AvgPool2d, |s| Kind::Avg(s.options));
pool_spec!(GlobalAvgPool2d, |_| Kind::Global);
