//! The convolution and pooling layers: PyTorch's default initialisation, 'same' padding as
//! PyTorch splits it, shapes, typed errors, a conv-relu-pool-flatten-dense model that
//! learns on both devices, and dispatch counts of the GPU ops that do not grow with the
//! tensors.

mod common;

use common::devices;

use downhill::prelude::*;
use downhill::{Conv2dDims, Layer, LayerSpec, Pool2dDims};

#[test]
fn conv2d_starts_from_pytorchs_default_init() -> Result<()> {
    let device = common::cpu();
    let layer = Conv2d::new(6, 8, (3, 2)).groups(2).build(&device, 7)?;
    let params = layer.parameters();
    assert_eq!(layer.parameter_names(), ["conv2d.weight", "conv2d.bias"]);
    assert_eq!(params[0].dims(), [8, 3, 3, 2]);
    assert_eq!(params[1].dims(), [8]);
    // fan_in = 6 / 2 · 3 · 2 = 18: weight and bias uniform in ±1/√18.
    let limit = 1.0 / 18f32.sqrt();
    for p in &params {
        let v = p.to_vec()?;
        assert!(v.iter().all(|x| x.abs() <= limit), "{v:?}");
    }
    let w = params[0].to_vec()?;
    let max = w.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    assert!(
        max > 0.8 * limit,
        "the weights should fill their range: {max} of {limit}"
    );
    // seeded: the same seed, the same weights
    let again = Conv2d::new(6, 8, (3, 2)).groups(2).build(&device, 7)?;
    assert_eq!(again.parameters()[0].to_vec()?, w);
    let no_bias = Conv2d::new(6, 8, 3).use_bias(false).build(&device, 1)?;
    assert_eq!(no_bias.parameters().len(), 1);
    let constant = Conv2d::new(1, 1, 2)
        .kernel_init(Init::Constant(0.5))
        .build(&device, 1)?;
    assert_eq!(constant.parameters()[0].to_vec()?, vec![0.5; 4]);
    Ok(())
}

#[test]
fn same_padding_keeps_the_size_and_splits_as_pytorch() -> Result<()> {
    let device = common::cpu();
    let x = device.tensor(
        (0..2 * 3 * 7 * 6).map(|i| (i % 11) as f32 - 5.0).collect(),
        [2, 3, 7, 6],
    )?;
    // (kernel, dilation): odd totals put the extra zero after, as PyTorch's 'same'
    for (k, d) in [((3, 3), (1, 1)), ((2, 4), (1, 1)), ((3, 2), (2, 3))] {
        let spec = Conv2d::new(3, 4, k).dilation(d).padding(Padding::Same);
        let layer = spec.build(&device, 3)?;
        let y = layer.forward(&x)?;
        assert_eq!(y.dims(), [2, 4, 7, 6], "kernel {k:?} dilation {d:?}");
        let split = |k: usize, d: usize| {
            let total = d * (k - 1);
            (total / 2, total - total / 2)
        };
        let params = layer.parameters();
        let explicit = x.conv2d(
            &params[0],
            Some(&params[1]),
            Conv2dOptions {
                pad_h: split(k.0, d.0),
                pad_w: split(k.1, d.1),
                dilation: d,
                ..Default::default()
            },
        )?;
        assert_eq!(y.to_vec()?, explicit.to_vec()?);
    }
    let valid = Conv2d::new(3, 4, 3).build(&device, 1)?.forward(&x)?;
    assert_eq!(valid.dims(), [2, 4, 5, 4]);
    let explicit = Conv2d::new(3, 4, 3)
        .padding(Padding::Explicit(2, 0))
        .stride(2);
    assert_eq!(
        explicit.build(&device, 1)?.forward(&x)?.dims(),
        [2, 4, 5, 2]
    );
    Ok(())
}

#[test]
fn conv_layers_refuse_bad_specs_and_inputs() -> Result<()> {
    let device = common::cpu();
    let config = |r: Result<Box<dyn Layer>>| matches!(r, Err(Error::Config(_)));
    assert!(config(
        Conv2d::new(3, 4, 3)
            .stride(2)
            .padding(Padding::Same)
            .build(&device, 1)
    ));
    assert!(config(Conv2d::new(3, 4, 3).groups(2).build(&device, 1)));
    assert!(config(Conv2d::new(0, 4, 3).build(&device, 1)));
    assert!(config(Conv2d::new(3, 4, 0).build(&device, 1)));
    assert!(config(Conv2d::new(3, 4, 3).dilation(0).build(&device, 1)));
    assert!(matches!(
        Conv2d::new(3, 4, 3)
            .kernel_init(Init::Constant(f32::NAN))
            .build(&device, 1),
        Err(Error::NonFinite(_))
    ));
    let layer = Conv2d::new(3, 4, 3).build(&device, 1)?;
    let shape = |r: Result<Tensor>| matches!(r, Err(Error::Shape { .. }));
    assert!(shape(layer.forward(&device.zeros([2, 2, 5, 5])?)));
    assert!(shape(layer.forward(&device.zeros([2, 3, 5])?)));
    assert!(
        shape(layer.forward(&device.zeros([2, 3, 2, 5])?)),
        "kernel taller than the input"
    );
    let pool = MaxPool2d::new(3).build(&device, 0)?;
    assert!(shape(pool.forward(&device.zeros([1, 1, 2, 2])?)));
    let pool = MaxPool2d::new(2).padding(2).build(&device, 0)?;
    assert!(matches!(
        pool.forward(&device.zeros([1, 1, 4, 4])?),
        Err(Error::Config(_))
    ));
    Ok(())
}

#[test]
fn conv1d_and_pool_layers_have_pytorchs_shapes() -> Result<()> {
    for device in devices() {
        let x = device.tensor(vec![0.5; 2 * 4 * 9], [2, 4, 9])?;
        let conv = Conv1d::new(4, 6, 3).groups(2).build(&device, 1)?;
        assert_eq!(conv.parameters()[0].dims(), [6, 2, 3]);
        assert_eq!(conv.forward(&x)?.dims(), [2, 6, 7]);
        let same = Conv1d::new(4, 6, 4)
            .dilation(2)
            .padding(Padding1d::Same)
            .build(&device, 1)?;
        assert_eq!(same.forward(&x)?.dims(), [2, 6, 9]);
        let strided = Conv1d::new(4, 6, 3)
            .stride(2)
            .padding(Padding1d::Explicit(1))
            .build(&device, 1)?;
        assert_eq!(strided.forward(&x)?.dims(), [2, 6, 5]);
        assert!(matches!(
            conv.forward(&device.zeros([2, 3, 9])?),
            Err(Error::Shape { .. })
        ));

        let image = device.tensor(vec![1.0; 2 * 3 * 7 * 6], [2, 3, 7, 6])?;
        let max = MaxPool2d::new(2).build(&device, 0)?;
        assert_eq!(max.forward(&image)?.dims(), [2, 3, 3, 3]);
        assert!(max.parameters().is_empty());
        let overlapping = MaxPool2d::new(3).stride(1).padding(1).dilation((1, 2));
        assert_eq!(
            overlapping.build(&device, 0)?.forward(&image)?.dims(),
            [2, 3, 7, 4]
        );
        let avg = AvgPool2d::new((2, 3))
            .stride(1)
            .padding((1, 1))
            .build(&device, 0)?;
        let averaged = avg.forward(&image)?;
        assert_eq!(averaged.dims(), [2, 3, 8, 6]);
        let global = GlobalAvgPool2d::new().build(&device, 0)?.forward(&image)?;
        assert_eq!(global.dims(), [2, 3]);
        assert_eq!(global.to_vec()?, vec![1.0; 6]);
        assert!(max
            .describe()
            .starts_with("MaxPool2d(kernel (2, 2), stride (2, 2)"));
    }
    Ok(())
}

/// Images of 8×8 with a bright vertical (class 0) or horizontal (class 1) bar at a random
/// place, plus noise.
fn bars(n: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = downhill::random::SeededRng::new(seed);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..n {
        let class = i % 2;
        let at = ((rng.uniform(0.0, 1.0) * 6.0) as usize).min(5) + 1;
        for r in 0..8 {
            for c in 0..8 {
                let on = if class == 0 { c == at } else { r == at };
                x.push(if on { 1.0 } else { 0.0 } + rng.uniform(-0.2, 0.2));
            }
        }
        y.push(class as f32);
    }
    (x, y)
}

#[test]
fn a_conv_relu_pool_dense_model_learns_on_both_devices() -> Result<()> {
    let n = 32;
    let (xs, ys) = bars(n, 5);
    for device in devices() {
        let conv = Conv2d::new(1, 4, 3)
            .padding(Padding::Same)
            .build(&device, 11)?;
        let pool = MaxPool2d::new(2).build(&device, 0)?;
        let dense = Dense::new(4 * 4 * 4, 2).build(&device, 12)?;
        let params: Vec<Tensor> = conv
            .parameters()
            .into_iter()
            .chain(dense.parameters())
            .collect();
        let mut opt = Adam::new(0.02).build(&params.iter().collect::<Vec<_>>())?;
        let x = device.tensor(xs.clone(), [n, 1, 8, 8])?;
        let labels = device.tensor(ys.clone(), [n])?;
        let loss_of = || -> Result<Tensor> {
            let h = pool.forward(&conv.forward(&x)?.relu()?)?;
            dense
                .forward(&h.reshape([n, 4 * 4 * 4])?)?
                .cross_entropy(&labels)
        };
        let first = loss_of()?.item()?;
        for _ in 0..40 {
            let loss = loss_of()?;
            let grads = loss.backward()?;
            opt.step(&grads)?;
        }
        let last = loss_of()?.item()?;
        eprintln!("{}: loss {first} -> {last}", device.name());
        assert!(
            last < 0.25 * first,
            "{}: the loss went from {first} to {last}",
            device.name()
        );
    }
    Ok(())
}

fn conv_dims(batch: usize, side: usize, groups: usize) -> Conv2dDims {
    Conv2dDims {
        batch,
        in_channels: 4,
        in_size: (side, side),
        out_channels: 8,
        kernel: (3, 3),
        stride: (1, 1),
        pad_h: (1, 1),
        pad_w: (1, 1),
        dilation: (1, 1),
        groups,
    }
}

/// One backend call, run for its dispatch count.
type Op<'a> = Box<dyn Fn() -> Result<()> + 'a>;

/// Dispatches of each conv and pool op at a small and a large size, with `groups`.
fn dispatch_counts(device: &Device, groups: usize) -> Result<Vec<Vec<(&'static str, u64)>>> {
    let be = device.backend();
    let mut counts = Vec::new();
    for (batch, side) in [(1, 3), (16, 40)] {
        let d = conv_dims(batch, side, groups);
        let x = be.full(batch * 4 * side * side, 0.5)?;
        let w = be.full(8 * 4 / groups * 9, 0.25)?;
        let b = be.full(8, 0.1)?;
        let dy = be.full(batch * 8 * side * side, 1.0)?;
        let p = Pool2dDims {
            batch,
            channels: 4,
            in_size: (side, side),
            kernel: (2, 2),
            stride: (1, 1),
            padding: (1, 1),
            dilation: (1, 1),
        };
        let pool_dy = be.full(batch * 4 * (side + 1) * (side + 1), 1.0)?;
        let run: Vec<(&str, Op)> = vec![
            (
                "conv2d",
                Box::new(|| be.conv2d(&x, &w, Some(&b), &d).map(drop)),
            ),
            (
                "backward input",
                Box::new(|| be.conv2d_backward_input(&dy, &w, &d).map(drop)),
            ),
            (
                "backward weight + bias",
                Box::new(|| be.conv2d_backward_weight(&x, &dy, &d, true).map(drop)),
            ),
            ("max_pool2d", Box::new(|| be.max_pool2d(&x, &p).map(drop))),
            (
                "max_pool2d_backward",
                Box::new(|| be.max_pool2d_backward(&x, &pool_dy, &p).map(drop)),
            ),
            ("avg_pool2d", Box::new(|| be.avg_pool2d(&x, &p).map(drop))),
            (
                "avg_pool2d_backward",
                Box::new(|| be.avg_pool2d_backward(&pool_dy, &p).map(drop)),
            ),
        ];
        let mut these = Vec::new();
        for (name, op) in &run {
            let before = device.stats();
            op()?;
            these.push((*name, device.stats().since(&before).dispatches));
        }
        counts.push(these);
    }
    Ok(counts)
}

#[test]
fn gpu_conv_and_pools_take_a_fixed_number_of_dispatches_at_any_size() -> Result<()> {
    let Some(device) = common::private_gpu() else {
        return Ok(());
    };
    // Grouped: the direct kernels, one dispatch per op.
    let grouped = dispatch_counts(&device, 2)?;
    assert_eq!(
        grouped[0], grouped[1],
        "dispatch counts changed with the size"
    );
    assert!(grouped[0].iter().all(|(_, n)| *n == 1), "{:?}", grouped[0]);
    // One group: the matrix form, a layout kernel + matmul + a layout kernel (and the
    // bias's sum for the weight gradient); the pools stay at one.
    let plain = dispatch_counts(&device, 1)?;
    assert_eq!(plain[0], plain[1], "dispatch counts changed with the size");
    let got: Vec<u64> = plain[0].iter().map(|(_, n)| *n).collect();
    assert_eq!(got, [3, 3, 4, 1, 1, 1, 1], "{:?}", plain[0]);
    Ok(())
}

#[test]
fn conv_and_pool_layers_stack_in_a_sequential_model() -> Result<()> {
    for device in devices() {
        let model = Sequential::new(&device)
            .seed(3)
            .layer(Conv2d::new(1, 8, 3).padding(Padding::Same))
            .layer(MaxPool2d::new(2))
            .layer(Conv2d::new(8, 16, 3).padding(Padding::Explicit(1, 1)))
            .layer(AvgPool2d::new(2))
            .layer(GlobalAvgPool2d::new())
            .layer(Dense::new(16, 10));
        let x = device.tensor(vec![0.25; 5 * 64], [5, 1, 8, 8])?;
        assert_eq!(model.forward(&x)?.dims(), [5, 10]);
        // 8·9 + 8, 16·8·9 + 16, 16·10 + 10
        assert_eq!(model.num_parameters()?, 80 + 1168 + 170);
        let summary = model.summary()?;
        assert!(summary.contains("Conv2d(1 -> 8"), "{summary}");
        assert!(summary.contains("GlobalAvgPool2d"), "{summary}");
    }
    Ok(())
}
