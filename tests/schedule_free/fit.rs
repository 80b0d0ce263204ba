//! `fit` with a schedule-free optimizer: validation sees `x` (which differs from `y`), fit
//! leaves the model at `x`, a second fit and a checkpoint resume continue exactly.

use crate::common;
use downhill::prelude::*;
use downhill::random::SeededRng;
use downhill::EpochRecord;
use ndarray::Array2;

fn data(seed: u64, rows: usize) -> Dataset {
    let mut rng = SeededRng::new(seed);
    let x = Array2::from_shape_simple_fn((rows, 4), || rng.uniform(-1.0, 1.0));
    let y = x
        .map_axis(ndarray::Axis(1), |r| {
            (r[0] - r[1] * r[2] + 0.3 * r[3] > 0.0) as u8 as f32
        })
        .insert_axis(ndarray::Axis(1));
    Dataset::new(x, y).unwrap()
}

fn model(device: &Device) -> Sequential {
    Sequential::new(device)
        .seed(13)
        .dense(4, 12, Activation::Tanh)
        .dense(12, 1, Activation::Sigmoid)
}

fn config(epochs: usize) -> FitConfig {
    FitConfig {
        epochs,
        batch_size: 16,
        verbose: 0,
        validation_data: Some(data(8, 48)),
        metrics: vec![Metric::Accuracy],
        ..Default::default()
    }
}

fn optimizers() -> Vec<Box<dyn OptimizerConfig>> {
    vec![
        Box::new(AdamWScheduleFree::new(0.02).warmup_steps(5)),
        Box::new(SgdScheduleFree::new(0.5).warmup_steps(5)),
    ]
}

fn devices() -> Vec<Device> {
    std::iter::once(common::cpu())
        .chain(common::gpu())
        .collect()
}

/// Validation runs at `x`: the recorded val_loss is the model's loss at `x` (where `fit`
/// leaves it), not at `y` (where `train` moves it back), and the two differ.
#[test]
fn fit_validates_at_x_and_leaves_the_model_there() {
    let val = data(8, 48);
    for device in devices() {
        for sf in optimizers() {
            let mut net = model(&device);
            let params = net.parameters().unwrap();
            let refs: Vec<&Tensor> = params.iter().collect();
            let mut opt = Optimizer::new(sf.boxed_clone(), &refs).unwrap();
            let h = net
                .fit_with(&data(7, 96), Loss::BinaryCrossEntropy, &mut opt, config(3))
                .unwrap();
            assert!(!opt.is_training(), "fit returns at the evaluation point");
            let at_x = net
                .evaluate(&val, Loss::BinaryCrossEntropy, &[])
                .unwrap()
                .loss;
            let last = h.records.last().unwrap().val_loss.unwrap();
            assert_eq!(
                last.to_bits(),
                at_x.to_bits(),
                "{sf:?}: val_loss is the loss at x"
            );
            let x = net.get_weights().unwrap();
            opt.train().unwrap();
            let y = net.get_weights().unwrap();
            assert_ne!(x, y, "x and y differ");
            let at_y = net
                .evaluate(&val, Loss::BinaryCrossEntropy, &[])
                .unwrap()
                .loss;
            assert!(
                (at_y - at_x).abs() > 1e-4,
                "{sf:?}: validation at y ({at_y}) would differ from x ({at_x}) visibly"
            );
        }
    }
}

fn fit(net: &mut Sequential, sf: &dyn OptimizerConfig, fit: FitConfig) -> History {
    // Through `fit`, whose kept optimizer carries over between calls (it takes a
    // configuration by value: the two of `optimizers()`).
    let (train, loss) = (data(7, 96), Loss::BinaryCrossEntropy);
    match sf.name() {
        "AdamWScheduleFree" => net.fit(
            &train,
            loss,
            AdamWScheduleFree::new(0.02).warmup_steps(5),
            fit,
        ),
        _ => net.fit(&train, loss, SgdScheduleFree::new(0.5).warmup_steps(5), fit),
    }
    .unwrap()
}

fn records(h: &History) -> Vec<EpochRecord> {
    h.records.clone()
}

/// Two fits of 2 epochs equal one of 4 (weights and records, bit for bit), and 2 epochs,
/// a `ModelCheckpoint` and a resumed fit of 2 more equal 4.
#[test]
fn fit_continuation_and_resume_are_exact() {
    for device in devices() {
        for sf in optimizers() {
            let mut whole = model(&device);
            let four = fit(&mut whole, sf.as_ref(), config(4));
            let mut pieces = model(&device);
            let a = fit(&mut pieces, sf.as_ref(), config(2));
            let b = fit(&mut pieces, sf.as_ref(), config(2));
            let joined: Vec<EpochRecord> = records(&a).into_iter().chain(records(&b)).collect();
            assert_eq!(joined, records(&four), "{sf:?}: a second fit");
            assert_eq!(pieces.get_weights().unwrap(), whole.get_weights().unwrap());

            let dir = std::env::temp_dir().join(format!("downhill-sfree-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let ckpt = dir.join(format!("{}-{}.safetensors", sf.name(), device.name()));
            let mut first = model(&device);
            let two = fit(
                &mut first,
                sf.as_ref(),
                config(2).callback(ModelCheckpoint::new(&ckpt)),
            );
            let saved = Checkpoint::load(&ckpt).unwrap();
            assert!(!saved.optimizer.train_mode, "saved after validation, at x");
            let mut resumed = model(&device);
            let more = fit(
                &mut resumed,
                sf.as_ref(),
                FitConfig {
                    resume_from: Some(ckpt.clone()),
                    ..config(2)
                },
            );
            let joined: Vec<EpochRecord> =
                records(&two).into_iter().chain(records(&more)).collect();
            assert_eq!(joined, records(&four), "{sf:?}: a resumed fit");
            assert_eq!(resumed.get_weights().unwrap(), whole.get_weights().unwrap());
        }
    }
}
