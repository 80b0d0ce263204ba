//! Data in: CSV and IDX files into a `Dataset`, splitting and scaling, then training on
//! them (issue 8). The tests write the small files they read.

mod common;

use downhill::prelude::*;
use downhill::{train_test_split, CsvOptions, MinMaxScaler, Split, StandardScaler};
use ndarray::{Array1, Array2};

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("downhill-data-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A CSV of two well-separated classes: `f1,f2,noise,label`, features in the hundreds.
fn write_csv(path: &std::path::Path, rows: usize) {
    let mut text = String::from("f1,f2,noise,label\n");
    for r in 0..rows {
        let label = r % 2;
        let centre = if label == 0 { 100.0 } else { 300.0 };
        let wobble = (r as f32 * 0.37).sin() * 40.0;
        text += &format!("{},{},{},{label}\n", centre + wobble, 500.0 - wobble, r % 7);
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_csv_file_scaled_split_and_fitted_trains_a_classifier() {
    let path = scratch("classes.csv");
    write_csv(&path, 200);
    let data = Dataset::from_csv(&path, &CsvOptions::new().target("label").skip("noise")).unwrap();
    assert_eq!((data.len(), data.features()), (200, 2));
    let (xtr, xte, ytr, yte) = train_test_split(
        data.x(),
        data.y(),
        Split {
            test_size: 0.25,
            seed: 1,
            stratify: true,
        },
    )
    .unwrap();
    assert_eq!((xtr.nrows(), xte.nrows()), (150, 50));
    assert_eq!(yte.iter().filter(|&&v| v == 1.0).count(), 25, "stratified");
    let scaler = StandardScaler::fit(&xtr).unwrap();
    let (xtr, xte) = (
        scaler.transform(&xtr).unwrap(),
        scaler.transform(&xte).unwrap(),
    );
    for device in std::iter::once(common::cpu()).chain(common::gpu()) {
        let mut model = Sequential::new(&device)
            .dense(2, 8, Activation::Relu)
            .dense(8, 2, Activation::Linear);
        model
            .fit(
                &Dataset::new(xtr.clone(), ytr.clone()).unwrap(),
                Loss::SparseCategoricalCrossEntropy,
                Adam::new(0.05),
                FitConfig {
                    epochs: 30,
                    verbose: 0,
                    ..Default::default()
                },
            )
            .unwrap();
        let eval = model
            .evaluate(
                &Dataset::new(xte.clone(), yte.clone()).unwrap(),
                Loss::SparseCategoricalCrossEntropy,
                &[Metric::Accuracy],
            )
            .unwrap();
        assert!(eval.metrics[0].1 >= 0.95, "{}: {eval:?}", device.name());
    }
}

#[test]
fn min_max_scaling_fitted_on_train_applies_to_test() {
    let train = Array2::from_shape_fn((10, 2), |(r, c)| (r * (c + 1)) as f32);
    let s = MinMaxScaler::fit(&train).unwrap();
    let t = s.transform(&train).unwrap();
    assert_eq!(t.fold(f32::INFINITY, |m, &v| m.min(v)), 0.0);
    assert_eq!(t.fold(f32::NEG_INFINITY, |m, &v| m.max(v)), 1.0);
    let beyond = s.transform(&Array2::from_elem((1, 2), 18.0)).unwrap();
    assert_eq!(beyond[(0, 0)], 2.0, "not clipped, as scikit-learn");
}

#[test]
fn labels_as_a_one_dimensional_array_are_accepted() {
    let x = Array2::from_shape_fn((4, 3), |(r, c)| (r + c) as f32);
    let d = Dataset::with_labels(x, Array1::from(vec![0.0, 1.0, 2.0, 1.0])).unwrap();
    assert_eq!(d.y().shape(), &[4, 1]);
    assert!(Dataset::with_labels(Array2::zeros((3, 1)), Array1::zeros(2)).is_err());
}

#[test]
fn mnist_style_idx_files_load_into_a_dataset() {
    // Two 2×3 "images" and their labels, as MNIST's files lay them out.
    let mut images = vec![0u8, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3];
    images.extend([0, 51, 102, 153, 204, 255, 255, 0, 0, 0, 0, 255]);
    let labels = vec![0u8, 0, 8, 1, 0, 0, 0, 2, 7, 3];
    let (ip, lp) = (scratch("img-idx3-ubyte"), scratch("lbl-idx1-ubyte"));
    std::fs::write(&ip, images).unwrap();
    std::fs::write(&lp, labels).unwrap();
    let d = Dataset::from_idx(&ip, &lp).unwrap();
    assert_eq!((d.len(), d.features()), (2, 6));
    assert_eq!(d.x().row(0).to_vec(), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
    assert_eq!(d.y().column(0).to_vec(), vec![7.0, 3.0]);
    // Three images but two labels.
    let mut three = std::fs::read(&ip).unwrap();
    three[7] = 3;
    three.extend([0u8; 6]);
    std::fs::write(&ip, three).unwrap();
    assert!(Dataset::from_idx(&ip, &lp).is_err());
}

#[test]
fn a_logits_loss_after_a_squashing_output_layer_is_refused_with_what_to_do() {
    let device = common::cpu();
    let data = Dataset::with_labels(Array2::zeros((8, 3)), Array1::zeros(8)).unwrap();
    let mut model = Sequential::new(&device).dense(3, 4, Activation::Softmax);
    let e = model
        .fit(
            &data,
            Loss::SparseCategoricalCrossEntropy,
            Sgd::new(0.1),
            FitConfig::default(),
        )
        .unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("applied twice") && m.contains("Activation::Linear"),
        "{m}"
    );
    let mut model = Sequential::new(&device).dense(3, 1, Activation::Sigmoid);
    let e = model
        .fit(
            &data,
            Loss::BinaryCrossEntropyWithLogits,
            Sgd::new(0.1),
            FitConfig::default(),
        )
        .unwrap_err();
    assert!(e.to_string().contains("Loss::BinaryCrossEntropy"), "{e}");
    // The matching pairs train.
    let mut model = Sequential::new(&device).dense(3, 1, Activation::Sigmoid);
    assert!(model
        .fit(
            &data,
            Loss::BinaryCrossEntropy,
            Sgd::new(0.1),
            FitConfig {
                verbose: 0,
                ..Default::default()
            }
        )
        .is_ok());
}
