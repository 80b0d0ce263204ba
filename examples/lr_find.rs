//! The learning-rate range test on the digits MLP (64-64-10 ReLU, seeded; the 8×8 digits
//! of `data/digits/`, a seeded stratified 80/20 split): `lr_find` sweeps Adam's rate from
//! 1e-7 to 10 over 100 batches of 32 on a copy of the model, prints the curve and the
//! suggestion; then the same MLP is trained for 5 epochs at the suggested rate and, for
//! contrast, at Adam's default 1e-3 (which the verdict calls too low for 5 epochs) and at
//! 1 (too high).
//!
//! Run: `cargo run --release --example lr_find` (`DOWNHILL_DEVICE=gpu` for the GPU).

#[path = "models/digits.rs"]
mod digits;

use downhill::prelude::*;

fn mlp(device: &Device) -> Sequential {
    Sequential::new(device)
        .seed(3)
        .dense(64, 64, Activation::Relu)
        .dense(64, 10, Activation::Linear)
}

/// Trains `model` at `lr` for 5 epochs; returns the last training loss and the held-out
/// accuracy.
fn train(
    mut model: Sequential,
    data: (&Dataset, &Dataset),
    lr: f32,
) -> downhill::Result<(f32, f32)> {
    let loss = Loss::SparseCategoricalCrossEntropy;
    let config = FitConfig {
        epochs: 5,
        verbose: 0,
        ..FitConfig::default()
    };
    let history = model.fit(data.0, loss, Adam::new(lr), config)?;
    let eval = model.evaluate(data.1, loss, &[Metric::Accuracy])?;
    Ok((history.loss()[4], eval.metrics[0].1))
}

fn main() -> anyhow::Result<()> {
    let device = Device::best()?;
    let (train_set, test_set) = digits::split()?;
    let model = mlp(&device);
    let finding = model.lr_find(
        &train_set,
        Loss::SparseCategoricalCrossEntropy,
        Adam::default(),
        LrFindConfig::default(),
    )?;
    println!("{}", finding.summary(12));
    let Some(suggestion) = finding.suggestion else {
        anyhow::bail!("no suggestion: the loss never fell");
    };
    for lr in [1e-5, 1e-3, suggestion.steepest, 1.0] {
        println!("lr {lr:.1e}: {}", finding.verdict(lr));
    }
    println!();
    let data = (&train_set, &test_set);
    // The swept model itself trains at the suggestion (lr_find left it untouched).
    let runs = [
        (1e-3, mlp(&device)),
        (suggestion.steepest as f32, model),
        (1.0, mlp(&device)),
    ];
    for (lr, model) in runs {
        let (loss, accuracy) = train(model, data, lr)?;
        println!(
            "Adam lr {lr:.2e}, 5 epochs: training loss {loss:.4}, test accuracy {:.1} %",
            100.0 * accuracy
        );
    }
    Ok(())
}
