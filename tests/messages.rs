//! Error messages say what the user did, in the user's terms (issue 7, class 9).

mod common;

use downhill::prelude::*;
use ndarray::Array2;

#[test]
fn hyperparameters_print_as_written() {
    let p = Device::cpu().zeros([2]).unwrap().param();
    let e = Sgd::new(-0.001).build(&[&p]).err().unwrap();
    assert_eq!(
        e.to_string(),
        "invalid hyperparameter lr = -0.001: must be a finite number >= 0"
    );
    let e = Adam::new(1e-3).betas(0.9, 1.1).build(&[&p]).err().unwrap();
    assert!(e.to_string().contains("= 1.1:"), "{e}");
}

#[test]
fn errors_from_validation_data_say_validation() {
    let device = Device::cpu();
    let train = Dataset::new(Array2::zeros((8, 3)), Array2::zeros((8, 1))).unwrap();
    let wrong_width = Dataset::new(Array2::zeros((4, 5)), Array2::zeros((4, 1))).unwrap();
    let mut model = Sequential::new(&device).dense(3, 1, Activation::Sigmoid);
    let e = model
        .fit(
            &train,
            Loss::BinaryCrossEntropy,
            Sgd::new(0.1),
            FitConfig {
                validation_data: Some(wrong_width),
                verbose: 0,
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(e.to_string().contains("validation data"), "{e}");
    // The same data as training data does not say validation.
    let train_wrong = Dataset::new(Array2::zeros((4, 5)), Array2::zeros((4, 1))).unwrap();
    let e = model
        .fit(
            &train_wrong,
            Loss::BinaryCrossEntropy,
            Sgd::new(0.1),
            FitConfig::default(),
        )
        .unwrap_err();
    assert!(!e.to_string().contains("validation"), "{e}");
}

#[test]
fn matmul_t_says_which_operand_is_transposed() {
    let device = Device::cpu();
    let a = device.zeros([3, 4]).unwrap();
    let b = device.zeros([5, 6]).unwrap();
    let e = a.matmul_t(&b, true, false).unwrap_err();
    assert_eq!(
        e.to_string(),
        "matmul_t: [3, 4] transposed x [5, 6]: inner dimensions 3 and 5 differ"
    );
    let e = a.matmul_t(&b, false, true).unwrap_err();
    assert_eq!(
        e.to_string(),
        "matmul_t: [3, 4] x [5, 6] transposed: inner dimensions 4 and 6 differ"
    );
}

#[test]
fn an_out_of_bounds_view_is_described_in_the_tensors_terms_on_both_backends() {
    let devices = std::iter::once(common::cpu()).chain(common::gpu());
    for device in devices {
        let t = device.tensor(vec![0.0; 5], [5]).unwrap();
        let e = t.storage().slice(3, 4).unwrap_err();
        assert_eq!(
            e.to_string(),
            "slice: elements 3..7 lie outside a view of 5 elements",
            "{}",
            device.name()
        );
    }
}

#[test]
fn too_large_names_the_shape_and_the_bytes() {
    let e = Device::cpu().zeros([1 << 40, 4]).unwrap_err();
    let m = e.to_string();
    assert!(m.contains("[1099511627776, 4]"), "{m}");
    assert!(m.contains("16.0 TiB"), "{m}");
    if let Some(gpu) = common::gpu() {
        let m = gpu.zeros([1 << 30, 4]).unwrap_err().to_string();
        assert!(
            m.contains("[1073741824, 4]") && m.contains("16.0 GiB"),
            "{m}"
        );
    }
}

#[test]
fn no_internal_type_name_leaks_into_messages() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let a = Device::cpu().zeros([2]).unwrap().param();
    let b = gpu.zeros([2]).unwrap().param();
    let e = Sgd::new(0.1).build(&[&a, &b]).err().unwrap();
    assert!(matches!(e, Error::DeviceMismatch(_)), "{e}");
    assert!(!e.to_string().contains("ParamSet"), "{e}");
    assert!(e.to_string().contains("optimizer parameters"), "{e}");
}

#[test]
fn an_optimizer_stepped_with_another_devices_gradients_is_a_device_mismatch() {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let cpu_param = Device::cpu().tensor(vec![1.0, 2.0], [2]).unwrap().param();
    let mut opt = Sgd::new(0.1).build(&[&cpu_param]).unwrap();
    let gpu_param = gpu.tensor(vec![1.0, 2.0], [2]).unwrap().param();
    let gpu_grads = gpu_param
        .square()
        .unwrap()
        .sum()
        .unwrap()
        .backward()
        .unwrap();
    let e = opt.step(&gpu_grads).unwrap_err();
    assert!(matches!(e, Error::DeviceMismatch(_)), "{e}");
    assert!(e.to_string().contains("gradients"), "{e}");
    assert_eq!(
        cpu_param.to_vec().unwrap(),
        vec![1.0, 2.0],
        "nothing changed"
    );
}
