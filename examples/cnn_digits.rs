//! A small convolutional network on the 8×8 handwritten digits that ship with downhill
//! (UCI optical digits, 1,797 images, CC BY 4.0: `data/digits/README.md`).
//!
//! ```text
//! [N, 64] -> Reshape [N, 1, 8, 8]
//!   -> Conv2d 1->16, 3×3 same -> BatchNorm2d -> ReLU -> MaxPool 2   [N, 16, 4, 4]
//!   -> Conv2d 16->32, 3×3 same -> BatchNorm2d -> ReLU -> MaxPool 2  [N, 32, 2, 2]
//!   -> Flatten -> Dense 128->64 relu -> Dropout 0.25 -> Dense 64->10 (logits)
//! ```
//!
//! Trained with Adam (lr 2e-3) on a seeded, stratified 80/20 split; prints the time per
//! epoch and the held-out accuracy (in evaluation mode: batch norm's running statistics,
//! no dropout).
//!
//! Run: `cargo run --release --example cnn_digits` (`--device cpu|gpu|both`, `--epochs N`).

use downhill::prelude::*;
#[path = "models/digits.rs"]
mod digits;

use digits::{cnn, split};

const EPOCHS: usize = 30;

fn run(device: &Device, epochs: usize, train: &Dataset, test: &Dataset) -> anyhow::Result<f32> {
    println!("\ndevice: {}", device.describe());
    let mut model = cnn(device);
    println!("{}", model.summary()?);
    let history = model.fit(
        train,
        Loss::SparseCategoricalCrossEntropy,
        Adam::new(2e-3),
        FitConfig {
            epochs,
            batch_size: 32,
            metrics: vec![Metric::Accuracy],
            verbose: 0,
            ..FitConfig::default()
        },
    )?;
    let eval = model.evaluate(
        test,
        Loss::SparseCategoricalCrossEntropy,
        &[Metric::Accuracy],
    )?;
    let seconds = &history.seconds;
    let steady = if seconds.len() > 1 {
        &seconds[1..]
    } else {
        &seconds[..]
    };
    let per_epoch = steady.iter().sum::<f64>() / steady.len() as f64;
    let accuracy = eval.metrics[0].1;
    println!(
        "{epochs} epochs: first {:.3} s, then {:.3} s per epoch ({:.0} images/s); \
         training loss {:.4} -> {:.4}",
        seconds[0],
        per_epoch,
        train.len() as f64 / per_epoch,
        history.loss()[0],
        history.loss().last().copied().unwrap_or(f32::NAN)
    );
    println!(
        "held-out accuracy {:.2} % ({} of {} images), loss {:.4}",
        100.0 * accuracy,
        (accuracy * test.len() as f32).round(),
        test.len(),
        eval.loss
    );
    Ok(accuracy)
}

fn main() -> anyhow::Result<()> {
    let mut which = String::from("best");
    let mut epochs = EPOCHS;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--device", Some(d)) if ["cpu", "gpu", "both", "best"].contains(&d.as_str()) => {
                which = d
            }
            ("--epochs", Some(n)) => epochs = n.parse()?,
            _ => anyhow::bail!("usage: cnn_digits [--device cpu|gpu|both] [--epochs N]"),
        }
    }
    let devices = match which.as_str() {
        "cpu" => vec![Device::cpu()],
        "gpu" => vec![Device::gpu()?],
        "both" => vec![Device::cpu(), Device::gpu()?],
        _ => vec![Device::best()?],
    };

    let (train, test) = split()?;
    println!(
        "digits: {} training and {} held-out 8×8 images (seeded stratified split)",
        train.len(),
        test.len()
    );
    for device in &devices {
        run(device, epochs, &train, &test)?;
    }
    Ok(())
}
