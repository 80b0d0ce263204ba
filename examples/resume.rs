//! Exact resume across processes: trains 20 epochs without a break; then 10 epochs that
//! save a training checkpoint, and a NEW process (this program again, `--continue`) that
//! resumes from the checkpoint for 10 more. Prints the largest weight difference between
//! the two runs and whether their histories are equal (they are: 0 and true).
//!
//! Run: `cargo run --release --example resume` (`DOWNHILL_DEVICE=gpu` for the GPU).

use downhill::prelude::*;
use downhill::random::SeededRng;
use ndarray::Array2;
use std::path::{Path, PathBuf};

fn data() -> anyhow::Result<Dataset> {
    let mut rng = SeededRng::new(7);
    let x = Array2::from_shape_simple_fn((500, 8), || rng.uniform(-1.0, 1.0));
    let y = x
        .map_axis(ndarray::Axis(1), |r| {
            (r[0] * r[1] - r[2] + 0.3 * r[3] > 0.0) as u8 as f32
        })
        .insert_axis(ndarray::Axis(1));
    Ok(Dataset::new(x, y)?)
}

fn model(device: &Device) -> Sequential {
    Sequential::new(device)
        .dense(8, 32, Activation::Relu)
        .dense(32, 1, Activation::Sigmoid)
}

fn config(epochs: usize) -> FitConfig {
    FitConfig {
        epochs,
        batch_size: 32,
        validation_split: 0.2,
        metrics: vec![Metric::Accuracy],
        verbose: 0,
        ..Default::default()
    }
    .schedule(CosineAnnealingLR::new(20))
}

fn train(model: &mut Sequential, config: FitConfig) -> anyhow::Result<History> {
    Ok(model.fit(&data()?, Loss::BinaryCrossEntropy, Adam::new(0.01), config)?)
}

/// The second process: resume, train 10 more epochs, save the weights and the history.
fn resume(ckpt: &Path, out: &Path) -> anyhow::Result<()> {
    let device = Device::best()?;
    let mut m = model(&device);
    let history = train(
        &mut m,
        FitConfig {
            resume_from: Some(ckpt.to_path_buf()),
            ..config(10)
        },
    )?;
    m.save_weights(out.with_extension("weights.safetensors"))?;
    history.write_json(out)?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, ckpt, out] = &args[..] {
        if flag == "--continue" {
            return resume(Path::new(ckpt), Path::new(out));
        }
    }
    let device = Device::best()?;
    println!("device: {}", device.describe());
    let dir = std::env::temp_dir().join(format!("downhill-resume-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let ckpt: PathBuf = dir.join("epoch10.safetensors");
    let out = dir.join("second-half.json");

    let mut whole = model(&device);
    let twenty = train(&mut whole, config(20))?;
    println!("20 epochs in one run: final loss {:.6}", twenty.loss()[19]);

    let mut first = model(&device);
    let ten = train(&mut first, config(10).callback(ModelCheckpoint::new(&ckpt)))?;
    println!("10 epochs, checkpoint written to {}", ckpt.display());

    let status = std::process::Command::new(std::env::current_exe()?)
        .args(["--continue".as_ref(), ckpt.as_os_str(), out.as_os_str()])
        .status()?;
    anyhow::ensure!(status.success(), "the resuming process failed");
    let more = History::read_json(&out)?;
    println!(
        "a new process resumed and trained epochs {}..={}",
        more.records[0].epoch, 20
    );

    let mut resumed = model(&device);
    resumed.load_weights(out.with_extension("weights.safetensors"))?;
    let largest = whole
        .get_weights()?
        .iter()
        .flatten()
        .zip(resumed.get_weights()?.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let joined: Vec<_> = ten.records.iter().chain(&more.records).cloned().collect();
    println!("largest weight difference: {largest}");
    println!("histories equal: {}", joined == twenty.records);
    Ok(())
}
