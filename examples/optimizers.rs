//! Every optimizer downhill has, on one problem: the same seeded 64-64-10 ReLU MLP on the
//! 8×8 digits (`data/digits/`, a seeded stratified 80/20 split), the same batches of 32,
//! the same number of epochs, each optimizer at a sensible learning rate (its source's
//! default unless the table says it was tuned).
//!
//! The table gives, per optimizer: the learning rate and where it comes from, the final
//! training loss and the test accuracy (both at the optimizer's evaluation point: the
//! average `x` for the schedule-free ones, as `fit` leaves them), the time per step, the
//! steps taken when the training loss first reached the target (checked after every
//! epoch, so a multiple of the steps per epoch; "—" if never) and whether it diverged.
//! Everything but the time column is the same on every run.
//!
//! The entries are `examples/models/optimizer_table.rs`'s `optimizers()`, one line each.
//!
//! Run: `cargo run --release --example optimizers` (`--device cpu|gpu`, `--epochs N`,
//! `--target LOSS`; on a software GPU such as lavapipe keep the epochs small).

#[path = "models/digits.rs"]
mod digits;
#[path = "models/optimizer_table.rs"]
mod optimizer_table;

use downhill::prelude::*;
use optimizer_table::{initial_loss, optimizers, run, run_lbfgs, table, Settings};
use std::time::Instant;

const USAGE: &str = "usage: optimizers [--device cpu|gpu] [--epochs N] [--target LOSS]";

fn main() -> anyhow::Result<()> {
    let mut gpu = false;
    let mut epochs = None;
    let mut target = 0.1;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--device", Some(d)) if d == "cpu" || d == "gpu" => gpu = d == "gpu",
            ("--epochs", Some(n)) => epochs = Some(n.parse()?),
            ("--target", Some(t)) => target = t.parse()?,
            _ => anyhow::bail!(USAGE),
        }
    }
    let device = if gpu { Device::gpu()? } else { Device::cpu() };
    // A software GPU runs this network some 30 times slower than the CPU backend.
    let epochs: usize = epochs.unwrap_or(if gpu { 3 } else { 30 });
    anyhow::ensure!(epochs > 0, "--epochs must be at least 1");
    let settings = Settings {
        epochs,
        batch_size: 32,
        target,
        seed: 0,
    };

    let (train, test) = digits::split()?;
    println!("device: {}", device.describe());
    println!(
        "digits: {} training and {} test images; MLP 64-64-10 relu (seed 3), batch {}, {} epochs \
         ({} steps each); initial training loss {:.4}",
        train.len(),
        test.len(),
        settings.batch_size,
        epochs,
        train.len().div_ceil(settings.batch_size),
        initial_loss(&device, &train)?
    );
    println!(
        "losses and accuracies at each optimizer's evaluation point (the schedule-free ones' \
         average x); the target loss is checked after every epoch; ms/step is the median over \
         epochs 2.. (the only column that varies between runs); \"tuned\" rates were chosen \
         once from a sweep (examples/models/optimizer_table.rs)\n"
    );
    let started = Instant::now();
    let mut rows = Vec::new();
    for entry in optimizers() {
        rows.push(run(&entry, &device, &train, &test, settings)?);
    }
    rows.push(run_lbfgs(&device, &train, &test, settings)?);
    print!("{}", table(&rows, settings));
    eprintln!("\n{:.1} s in all", started.elapsed().as_secs_f64());
    Ok(())
}
