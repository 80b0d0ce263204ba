//! Bad convolution and pool arguments are typed errors on both backends, never a panic:
//! through the Tensor API (shapes, geometry, options) and through direct backend calls
//! whose sizes disagree with their storages.

mod common;

use common::devices;

use downhill::prelude::*;
use downhill::{Conv2dDims, Pool2dDims};

fn is_shape<T: std::fmt::Debug>(r: Result<T>) -> bool {
    matches!(r, Err(Error::Shape { .. }))
}

fn is_config<T: std::fmt::Debug>(r: Result<T>) -> bool {
    matches!(r, Err(Error::Config(_)))
}

#[test]
fn conv2d_refuses_bad_shapes_and_options() -> Result<()> {
    for d in devices() {
        let x = d.zeros([2, 4, 5, 5])?;
        let w = d.zeros([6, 4, 3, 3])?;
        let conv = |x: &Tensor, w: &Tensor, b: Option<&Tensor>, o: Conv2dOptions| x.conv2d(w, b, o);
        let plain = Conv2dOptions::default();
        // ranks
        assert!(is_shape(conv(&d.zeros([4, 5, 5])?, &w, None, plain)));
        assert!(is_shape(conv(&x, &d.zeros([6, 4, 3])?, None, plain)));
        // weight channels that do not match the input's
        assert!(is_shape(conv(&x, &d.zeros([6, 3, 3, 3])?, None, plain)));
        // a bias of the wrong length
        assert!(is_shape(conv(&x, &w, Some(&d.zeros([5])?), plain)));
        // a kernel larger than the padded input: no output
        assert!(is_shape(conv(&x, &d.zeros([6, 4, 7, 3])?, None, plain)));
        let dilated = Conv2dOptions {
            dilation: (3, 1),
            ..plain
        };
        assert!(is_shape(conv(&x, &w, None, dilated)));
        // groups that do not divide the channels, or zero
        for groups in [0, 3] {
            let o = Conv2dOptions { groups, ..plain };
            assert!(
                is_config(conv(&x, &d.zeros([6, 1, 3, 3])?, None, o)),
                "groups {groups}"
            );
        }
        // zero stride or dilation
        assert!(is_config(conv(
            &x,
            &w,
            None,
            Conv2dOptions {
                stride: (0, 1),
                ..plain
            }
        )));
        assert!(is_config(conv(
            &x,
            &w,
            None,
            Conv2dOptions {
                dilation: (1, 0),
                ..plain
            }
        )));
        // a 1-D convolution with a 2-D input
        assert!(is_shape(x.conv1d(
            &d.zeros([6, 4, 3])?,
            None,
            Conv1dOptions::default()
        )));
        // padding makes a too-large kernel fit: allowed
        let padded = Conv2dOptions {
            pad_h: (1, 1),
            ..plain
        };
        assert_eq!(
            conv(&x, &d.zeros([6, 4, 7, 3])?, None, padded)?.dims(),
            [2, 6, 1, 3]
        );
    }
    Ok(())
}

#[test]
fn pools_refuse_bad_geometry() -> Result<()> {
    for d in devices() {
        let x = d.zeros([1, 2, 4, 4])?;
        // a window larger than the input
        assert!(is_shape(x.max_pool2d(Pool2dOptions::new((5, 2)))));
        assert!(is_shape(x.avg_pool2d(Pool2dOptions::new((2, 5)))));
        // zero kernel, stride, dilation
        assert!(is_config(x.max_pool2d(Pool2dOptions::new((0, 2)))));
        let zero_stride = Pool2dOptions {
            stride: Some((0, 1)),
            ..Pool2dOptions::new((2, 2))
        };
        assert!(is_config(x.max_pool2d(zero_stride)));
        let zero_dilation = Pool2dOptions {
            dilation: (0, 1),
            ..Pool2dOptions::new((2, 2))
        };
        assert!(is_config(x.max_pool2d(zero_dilation)));
        // padding beyond half the kernel (PyTorch refuses it too)
        let wide_pad = Pool2dOptions {
            padding: (2, 0),
            ..Pool2dOptions::new((3, 3))
        };
        assert!(is_config(x.max_pool2d(wide_pad)));
        assert!(is_config(x.avg_pool2d(wide_pad)));
        // average pooling takes no dilation
        let dilated = Pool2dOptions {
            dilation: (2, 1),
            ..Pool2dOptions::new((2, 2))
        };
        assert!(is_config(x.avg_pool2d(dilated)));
        // ranks
        assert!(is_shape(
            d.zeros([2, 4, 4])?.max_pool2d(Pool2dOptions::new((2, 2)))
        ));
        assert!(is_shape(d.zeros([2, 4])?.global_avg_pool()));
        // an empty plane has no mean
        assert!(matches!(
            d.zeros([1, 2, 0, 3])?.global_avg_pool(),
            Err(Error::EmptyData(_))
        ));
    }
    Ok(())
}

fn dims() -> Conv2dDims {
    Conv2dDims {
        batch: 2,
        in_channels: 4,
        in_size: (5, 5),
        out_channels: 6,
        kernel: (3, 3),
        stride: (1, 1),
        pad_h: (1, 1),
        pad_w: (1, 1),
        dilation: (1, 1),
        groups: 2,
    }
}

#[test]
fn direct_backend_calls_with_inconsistent_sizes_are_errors() -> Result<()> {
    for d in devices() {
        let be = d.backend();
        let g = dims();
        let x = be.full(2 * 4 * 25, 1.0)?;
        let w = be.full(6 * 2 * 9, 1.0)?;
        let y = be.full(2 * 6 * 25, 1.0)?;
        let short = be.full(7, 1.0)?;
        assert!(is_shape(be.conv2d(&short, &w, None, &g)));
        assert!(is_shape(be.conv2d(&x, &short, None, &g)));
        assert!(is_shape(be.conv2d(&x, &w, Some(&short), &g)));
        assert!(is_shape(be.conv2d_backward_input(&short, &w, &g)));
        assert!(is_shape(be.conv2d_backward_input(&y, &short, &g)));
        assert!(is_shape(be.conv2d_backward_weight(&short, &y, &g, true)));
        assert!(is_shape(be.conv2d_backward_weight(&x, &short, &g, false)));
        // consistent sizes work
        assert_eq!(be.conv2d(&x, &w, None, &g)?.len(), 2 * 6 * 25);
        // geometry refused at the seam as well
        let bad_groups = Conv2dDims { groups: 3, ..g };
        assert!(is_config(be.conv2d(&x, &w, None, &bad_groups)));
        let no_output = Conv2dDims {
            kernel: (8, 3),
            ..g
        };
        assert!(is_shape(be.conv2d(&x, &w, None, &no_output)));
        let huge = Conv2dDims {
            batch: usize::MAX / 2,
            ..g
        };
        assert!(matches!(
            be.conv2d(&x, &w, None, &huge),
            Err(Error::TooLarge(_))
        ));
        let huge_pad = Conv2dDims {
            pad_h: (usize::MAX, usize::MAX),
            ..g
        };
        assert!(be.conv2d(&x, &w, None, &huge_pad).is_err());

        let p = Pool2dDims {
            batch: 2,
            channels: 4,
            in_size: (5, 5),
            kernel: (2, 2),
            stride: (2, 2),
            padding: (0, 0),
            dilation: (1, 1),
        };
        let py = be.full(2 * 4 * 4, 1.0)?;
        assert!(is_shape(be.max_pool2d(&short, &p)));
        assert!(is_shape(be.max_pool2d_backward(&x, &short, &p)));
        assert!(is_shape(be.max_pool2d_backward(&short, &py, &p)));
        assert!(is_shape(be.avg_pool2d(&short, &p)));
        assert!(is_shape(be.avg_pool2d_backward(&short, &p)));
        assert_eq!(be.max_pool2d(&x, &p)?.len(), 32);
        let zero_stride = Pool2dDims {
            stride: (0, 2),
            ..p
        };
        assert!(is_config(be.max_pool2d(&x, &zero_stride)));
    }
    Ok(())
}
