//! Bad input is a typed error that names what was wrong, never a panic, and loses nothing.

mod common;

use downhill::prelude::*;
use ndarray::Array2;

#[test]
fn matmul_shape_mismatch_names_both_shapes() {
    let device = Device::cpu();
    let a = device.zeros([32, 20]).unwrap();
    let b = device.zeros([64, 1]).unwrap();
    let err = a.matmul(&b).unwrap_err();
    assert_eq!(
        err.to_string(),
        "matmul: [32, 20] x [64, 1]: inner dimensions 20 and 64 differ"
    );
    assert!(matches!(err, Error::Shape { op: "matmul", .. }));
}

#[test]
fn shape_errors_from_every_kind_of_op() {
    let device = Device::cpu();
    let a = device.zeros([2, 3]).unwrap();
    let b = device.zeros([4]).unwrap();
    assert!(matches!(a.add(&b), Err(Error::Shape { op: "add", .. })));
    assert!(matches!(
        a.reshape([5]),
        Err(Error::Shape { op: "reshape", .. })
    ));
    assert!(matches!(a.sum_axis(2, false), Err(Error::Shape { .. })));
    assert!(matches!(a.permute(&[0, 0]), Err(Error::Shape { .. })));
    assert!(matches!(a.mse(&b), Err(Error::Shape { .. })));
    assert!(matches!(b.matmul(&a), Err(Error::Shape { .. })));
    assert!(matches!(a.item(), Err(Error::Shape { .. })));
    assert!(matches!(
        device.tensor(vec![1.0; 5], [2, 3]),
        Err(Error::Shape { .. })
    ));
    assert!(matches!(a.broadcast_to([3]), Err(Error::Shape { .. })));
    let logits = device.zeros([2, 3]).unwrap();
    let bad_label = device.tensor(vec![0.0, 3.0], [2]).unwrap();
    assert!(matches!(
        logits.cross_entropy(&bad_label),
        Err(Error::Config(_))
    ));
}

#[test]
fn backward_needs_a_scalar_that_depends_on_a_parameter() {
    let device = Device::cpu();
    let p = device.zeros([3]).unwrap().param();
    assert!(matches!(
        p.square().unwrap().backward(),
        Err(Error::Autodiff(_))
    ));
    let constant = device.scalar(1.0).unwrap();
    assert!(matches!(constant.backward(), Err(Error::Autodiff(_))));
    let inside = no_grad(|| p.sum().unwrap());
    assert!(matches!(inside.backward(), Err(Error::Autodiff(_))));
}

#[test]
fn datasets_are_checked() {
    let ok = Array2::<f32>::zeros((4, 2));
    assert!(matches!(
        Dataset::new(ok.clone(), Array2::zeros((3, 1))),
        Err(Error::Shape { .. })
    ));
    assert!(matches!(
        Dataset::new(Array2::zeros((0, 2)), Array2::zeros((0, 1))),
        Err(Error::EmptyData(_))
    ));
    let mut nan = ok.clone();
    nan[(2, 1)] = f32::NAN;
    let err = Dataset::new(nan, Array2::zeros((4, 1))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "non-finite value: Dataset inputs[2, 1] is NaN"
    );
    let data = Dataset::new(ok, Array2::zeros((4, 1))).unwrap();
    assert!(matches!(data.split_tail(1.5), Err(Error::Config(_))));
    assert!(matches!(data.split_tail(0.9), Err(Error::EmptyData(_))));
}

#[test]
fn fit_rejects_bad_configurations_and_mismatched_data() {
    let device = Device::cpu();
    let data = Dataset::new(Array2::zeros((8, 3)), Array2::zeros((8, 1))).unwrap();
    let mut model = Sequential::new(&device)
        .dense(3, 4, Activation::Relu)
        .dense(4, 1, Activation::Sigmoid);
    let fit = |model: &mut Sequential, data: &Dataset, loss, config| {
        model.fit(data, loss, Sgd::new(0.1), config)
    };
    let quiet = FitConfig {
        verbose: 0,
        ..Default::default()
    };
    let zero_batch = FitConfig {
        batch_size: 0,
        ..quiet.clone()
    };
    assert!(matches!(
        fit(&mut model, &data, Loss::BinaryCrossEntropy, zero_batch),
        Err(Error::Config(_))
    ));
    let zero_epochs = FitConfig {
        epochs: 0,
        ..quiet.clone()
    };
    assert!(matches!(
        fit(&mut model, &data, Loss::BinaryCrossEntropy, zero_epochs),
        Err(Error::Config(_))
    ));
    let wrong_features = Dataset::new(Array2::zeros((8, 5)), Array2::zeros((8, 1))).unwrap();
    let err = fit(
        &mut model,
        &wrong_features,
        Loss::BinaryCrossEntropy,
        quiet.clone(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("5 features"), "{err}");
    let not_probabilities =
        Dataset::new(Array2::zeros((8, 3)), Array2::from_elem((8, 1), 2.0)).unwrap();
    assert!(matches!(
        fit(
            &mut model,
            &not_probabilities,
            Loss::BinaryCrossEntropy,
            quiet.clone()
        ),
        Err(Error::Config(_))
    ));
    let invalid_lr = model.fit(
        &data,
        Loss::BinaryCrossEntropy,
        Sgd::new(f32::NAN),
        quiet.clone(),
    );
    assert!(matches!(
        invalid_lr,
        Err(Error::Hyperparameter { name: "lr", .. })
    ));
    // Nothing was lost: the model still trains after the errors.
    assert!(fit(&mut model, &data, Loss::BinaryCrossEntropy, quiet).is_ok());
}

#[test]
fn mismatched_layer_sizes_are_an_error_not_a_panic() {
    let device = Device::cpu();
    let model = Sequential::new(&device)
        .dense(3, 4, Activation::Relu)
        .dense(5, 1, Activation::Sigmoid);
    let err = model.parameters().unwrap_err();
    assert_eq!(
        err.to_string(),
        "Sequential: layer 0 outputs 4 features but layer 1 expects 5"
    );
    let empty = Sequential::new(&device);
    assert!(matches!(empty.parameters(), Err(Error::Config(_))));
}

#[test]
fn an_optimizer_whose_parameters_moved_on_says_so() {
    let device = Device::cpu();
    let p = device.tensor(vec![1.0, 2.0], [2]).unwrap().param();
    let mut first = Sgd::new(0.1).build(&[&p]).unwrap();
    let _second = Adam::new(0.1).build(&[&p]).unwrap();
    let grads = p.sum().unwrap().backward().unwrap();
    assert!(matches!(first.step(&grads), Err(Error::StaleParameters(_))));
    // The values survived the move into the second optimizer's buffer.
    assert_eq!(p.to_vec().unwrap(), vec![1.0, 2.0]);
}

#[test]
fn corrupt_history_json_is_a_typed_error() {
    assert!(matches!(
        History::from_json("{ not json"),
        Err(Error::Corrupt { .. })
    ));
}

#[test]
fn no_matching_adapter_is_a_typed_error_that_says_what_to_do() {
    // Holds with or without a GPU: no adapter has this name.
    let err = downhill::gpu::GpuBackend::open(Some("no-such-adapter-7f3a"), None).unwrap_err();
    assert!(matches!(err, Error::NoAdapter(_)), "{err}");
    assert!(err.to_string().contains("no-such-adapter-7f3a"), "{err}");
}

#[test]
fn tensors_on_different_devices_do_not_mix() {
    let Some(gpu) = common::gpu() else { return };
    let on_cpu = Device::cpu().tensor(vec![1.0, 2.0], [2]).unwrap();
    let on_gpu = gpu.tensor(vec![1.0, 2.0], [2]).unwrap();
    let err = on_cpu.add(&on_gpu).unwrap_err();
    assert!(matches!(err, Error::DeviceMismatch(_)), "{err}");
    // A storage handed straight to the wrong backend is a typed error too, not a panic.
    let err = gpu.backend().download(&on_cpu.storage()).unwrap_err();
    assert!(matches!(err, Error::Backend { .. }), "{err}");
}

#[test]
fn an_invalid_class_label_is_an_error_on_the_cpu_and_a_nan_loss_on_the_gpu() {
    // The CPU checks every label; a GPU kernel cannot return an error, so it poisons the
    // loss with NaN rather than read a wrong class (fit checks labels before training).
    let logits = [0.5, -1.0, 2.0, 0.0, 1.0, -0.5];
    let cpu = Device::cpu();
    let bad = cpu.tensor(vec![1.0, 3.0], [2]).unwrap();
    let on_cpu = cpu
        .tensor(logits.to_vec(), [2, 3])
        .unwrap()
        .cross_entropy(&bad);
    assert!(matches!(on_cpu, Err(Error::Config(_))));
    let Some(gpu) = common::gpu() else { return };
    for label in [3.0, -1.0, 0.5] {
        let bad = gpu.tensor(vec![1.0, label], [2]).unwrap();
        let x = gpu.tensor(logits.to_vec(), [2, 3]).unwrap().param();
        let loss = x.cross_entropy(&bad).unwrap();
        assert!(loss.item().unwrap().is_nan(), "label {label}");
        let grad = loss.backward().unwrap().to_vec(&x).unwrap().unwrap();
        assert!(
            grad[3..].iter().all(|g| g.is_nan()),
            "label {label}: {grad:?}"
        );
        assert!(
            grad[..3].iter().all(|g| g.is_finite()),
            "label {label}: {grad:?}"
        );
    }
}

#[test]
fn tensors_with_a_zero_sized_axis_never_panic() {
    // Empty in one axis: results are empty (or zeros for an empty sum), on both backends.
    let mut devices = vec![Device::cpu()];
    devices.extend(common::gpu());
    for device in devices {
        let name = device.name();
        let empty_cols = device.tensor(vec![], [2, 0]).unwrap();
        assert_eq!(empty_cols.softmax().unwrap().numel(), 0, "{name}");
        assert_eq!(empty_cols.log_softmax().unwrap().numel(), 0, "{name}");
        assert_eq!(empty_cols.relu().unwrap().numel(), 0, "{name}");
        let three_d = device.tensor(vec![], [2, 3, 0]).unwrap();
        assert_eq!(
            three_d.sum_axis(1, false).unwrap().dims(),
            &[2, 0],
            "{name}"
        );
        assert_eq!(
            three_d.max_axis(1, true).unwrap().dims(),
            &[2, 1, 0],
            "{name}"
        );
        assert!(
            matches!(three_d.sum_axis(2, false), Err(Error::EmptyData(_))),
            "{name}"
        );
        // [0, 3] x [3, 2] is empty; [2, 0] x [0, 8] is all zeros (an empty sum).
        let rows0 = device.tensor(vec![], [0, 3]).unwrap();
        let w = device.tensor(vec![1.0; 6], [3, 2]).unwrap();
        assert_eq!(rows0.matmul(&w).unwrap().dims(), &[0, 2], "{name}");
        let k0 = empty_cols
            .matmul(&device.tensor(vec![], [0, 8]).unwrap())
            .unwrap();
        assert_eq!(k0.to_vec().unwrap(), vec![0.0; 16], "{name}");
        let bias = device.tensor(vec![0.5; 8], [8]).unwrap();
        let x = device.tensor(vec![], [2, 0]).unwrap();
        let w0 = device.tensor(vec![], [0, 8]).unwrap();
        let y = x
            .linear(&w0, Some(&bias), Some(downhill::UnaryOp::Relu))
            .unwrap();
        assert_eq!(y.to_vec().unwrap(), vec![0.5; 16], "{name}");
        // A model fed an empty batch returns an empty batch.
        let model = Sequential::new(&device).dense(3, 2, Activation::Sigmoid);
        assert_eq!(model.forward(&rows0).unwrap().dims(), &[0, 2], "{name}");
    }
}

#[test]
fn a_metric_that_cannot_read_the_targets_is_refused_before_training() {
    let device = Device::cpu();
    let x = ndarray::Array2::from_shape_fn((6, 2), |(i, j)| (i + j) as f32 * 0.1);
    let labels = ndarray::Array2::from_shape_fn((6, 1), |(i, _)| (i % 3) as f32);
    let data = Dataset::new(x.clone(), labels).unwrap();
    let mut model = Sequential::new(&device).dense(2, 3, Activation::Linear);
    let before = model.parameters().unwrap()[0].to_vec().unwrap();
    let config = FitConfig {
        metrics: vec![Metric::BinaryAccuracy],
        verbose: 0,
        ..Default::default()
    };
    let err = model
        .fit(
            &data,
            Loss::SparseCategoricalCrossEntropy,
            Sgd::new(0.1),
            config,
        )
        .unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    assert_eq!(
        model.parameters().unwrap()[0].to_vec().unwrap(),
        before,
        "nothing trained"
    );
    // Categorical accuracy on one-hot MSE targets: three columns are not class labels.
    let one_hot = ndarray::Array2::from_shape_fn((6, 3), |(i, j)| (i % 3 == j) as u8 as f32);
    let data = Dataset::new(x, one_hot).unwrap();
    let config = FitConfig {
        metrics: vec![Metric::CategoricalAccuracy],
        verbose: 0,
        ..Default::default()
    };
    let err = model
        .fit(&data, Loss::MeanSquaredError, Sgd::new(0.1), config)
        .unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
}

#[test]
fn backward_after_an_optimizer_step_refuses_the_stale_graph() {
    // The graph saw w = 1; after the step w = -1. Differentiating it again would mix the
    // two silently, so it is an error (as in PyTorch), and a fresh loss works.
    let device = Device::cpu();
    let w = device.tensor(vec![1.0], [1]).unwrap().param();
    let mut opt = Sgd::new(1.0).build(&[&w]).unwrap();
    let loss = w.square().unwrap().sum().unwrap();
    opt.step(&loss.backward().unwrap()).unwrap();
    assert!(matches!(loss.backward(), Err(Error::Autodiff(_))));
    let fresh = w.square().unwrap().sum().unwrap().backward().unwrap();
    assert_eq!(fresh.to_vec(&w).unwrap().unwrap(), vec![-2.0]);
}

#[test]
fn a_row_index_past_the_data_is_an_error_on_the_cpu_and_nan_on_the_gpu() {
    let data: Vec<f32> = (0..6).map(|v| v as f32).collect();
    let order = [1u32, 7, 0];
    let cpu = common::cpu();
    let x = cpu.tensor(data.clone(), [3, 2]).unwrap();
    let idx = cpu.backend().upload_indices(&order).unwrap();
    let e = cpu
        .backend()
        .gather_rows(&x.storage(), 2, &idx, 0, 3)
        .unwrap_err();
    assert!(e.to_string().contains("row 7"), "{e}");
    let Some(gpu) = common::gpu() else {
        return;
    };
    let x = gpu.tensor(data, [3, 2]).unwrap();
    let idx = gpu.backend().upload_indices(&order).unwrap();
    let out = gpu
        .backend()
        .gather_rows(&x.storage(), 2, &idx, 0, 3)
        .unwrap();
    let got = gpu.backend().download(&out).unwrap();
    assert_eq!(&got[..2], &[2.0, 3.0]);
    assert!(got[2].is_nan() && got[3].is_nan(), "{got:?}");
    assert_eq!(&got[4..], &[0.0, 1.0]);
}
