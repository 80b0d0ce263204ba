//! Why deep networks were hard to train by gradient descent, and the three fixes.
//!
//! Twenty hidden layers of 32 units on the 8×8 digits, four ways:
//!
//! 1. `sigmoid`: sigmoid activations, Glorot init. The sigmoid's slope is at most 1/4, so
//!    back-propagation multiplies the gradient by about `σ'·|W|` < 1 at every layer: the
//!    first layers' gradients are many orders of magnitude smaller than the last's
//!    (vanishing gradients) and the network stays at chance.
//! 2. `relu+he`: ReLU (slope 1 where active) with He init (variance 2/fan_in, which keeps
//!    the activations' scale from layer to layer).
//! 3. `sigmoid+bn`: the same sigmoid net with batch norm before each sigmoid, which keeps
//!    every pre-activation near the sigmoid's steep middle.
//! 4. `sigmoid+residual`: the same sigmoid layers as `x + σ(xW + b)` blocks: the identity
//!    path carries the gradient past every layer unchanged.
//!
//! The program prints each hidden layer's weight-gradient norm on one batch before training
//! (the ratio of the first layer's to the last's is the diagnosis), then trains each net
//! with the same optimizer, with `FitConfig::telemetry` on, and prints its held-out
//! accuracy and what the telemetry diagnosed (`History::diagnoses`).
//!
//! Run: `cargo run --release --example deep_sigmoid` (`--device gpu` for the GPU backend,
//! `--epochs N`, `--lr R` to change the 60 epochs of SGD at 0.005
//! with momentum 0.9).

#[path = "models/digits.rs"]
mod digits;

use digits::split;
use downhill::prelude::*;
use downhill::{BatchNorm1d, Sigmoid};
use std::time::Instant;

const DEPTH: usize = 20;
const WIDTH: usize = 32;
const CLASSES: usize = 10;

#[derive(Clone, Copy)]
enum Kind {
    Sigmoid,
    ReluHe,
    SigmoidBatchNorm,
    SigmoidResidual,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Sigmoid => "sigmoid",
            Kind::ReluHe => "relu+he",
            Kind::SigmoidBatchNorm => "sigmoid+bn",
            Kind::SigmoidResidual => "sigmoid+residual",
        }
    }

    /// One hidden layer of `inputs -> WIDTH` units.
    fn hidden(self, model: Sequential, inputs: usize) -> Sequential {
        let dense = Dense::new(inputs, WIDTH);
        match self {
            Kind::Sigmoid => model.layer(dense.activation(Activation::Sigmoid)),
            Kind::ReluHe => model.layer(
                dense
                    .activation(Activation::Relu)
                    .kernel_init(Init::HeNormal),
            ),
            Kind::SigmoidBatchNorm => model
                .layer(dense)
                .layer(BatchNorm1d::new(WIDTH))
                .layer(Sigmoid),
            // The first layer changes the width, so it cannot add its input.
            Kind::SigmoidResidual if inputs != WIDTH => {
                model.layer(dense.activation(Activation::Sigmoid))
            }
            Kind::SigmoidResidual => {
                model.layer(Residual::new(dense.activation(Activation::Sigmoid)))
            }
        }
    }

    fn model(self, device: &Device, features: usize) -> Sequential {
        let mut model = Sequential::new(device).seed(7);
        for layer in 0..DEPTH {
            model = self.hidden(model, if layer == 0 { features } else { WIDTH });
        }
        model.dense(WIDTH, CLASSES, Activation::Linear)
    }
}

const KINDS: [Kind; 4] = [
    Kind::Sigmoid,
    Kind::ReluHe,
    Kind::SigmoidBatchNorm,
    Kind::SigmoidResidual,
];

/// The L2 norm of each hidden layer's weight gradient on one batch, first layer first.
fn gradient_norms(model: &Sequential, data: &Dataset, batch: usize) -> anyhow::Result<Vec<f32>> {
    let device = model.device();
    let rows: Vec<usize> = (0..batch).collect();
    let part = data.select(&rows)?;
    let x = Tensor::from_array(device, part.x())?;
    let y = Tensor::from_array(device, part.y())?;
    let loss = Loss::SparseCategoricalCrossEntropy.compute(&model.forward(&x)?, &y)?;
    let grads = loss.backward()?;
    let mut norms = Vec::new();
    for (name, p) in model.named_parameters()? {
        // Hidden Dense weights only: the output layer is not one of the twenty.
        if name.ends_with("dense.weight") && p.dims()[1] == WIDTH {
            let g = grads
                .get(&p)
                .ok_or_else(|| anyhow::anyhow!("no gradient for {name}"))?;
            norms.push(g.square()?.sum()?.sqrt()?.item()?);
        }
    }
    Ok(norms)
}

fn main() -> anyhow::Result<()> {
    let mut device = Device::best()?;
    let mut epochs = 60;
    let mut lr = 0.005;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--device", Some(d)) if d == "cpu" => device = Device::cpu(),
            ("--device", Some(d)) if d == "gpu" => device = Device::gpu()?,
            ("--epochs", Some(n)) => epochs = n.parse()?,
            ("--lr", Some(v)) => lr = v.parse()?,
            _ => anyhow::bail!("usage: deep_sigmoid [--device cpu|gpu] [--epochs N] [--lr R]"),
        }
    }
    println!("device: {}", device.describe());

    let (train, test) = split()?;
    println!(
        "digits: {} training and {} held-out images; {DEPTH} hidden layers of {WIDTH} units\n",
        train.len(),
        test.len()
    );

    let models: Vec<Sequential> = KINDS.iter().map(|k| k.model(&device, 64)).collect();
    let norms = models
        .iter()
        .map(|m| gradient_norms(m, &train, 128))
        .collect::<anyhow::Result<Vec<_>>>()?;
    println!("weight-gradient norm per hidden layer, one batch of 128, before training:");
    print!("{:>6}", "layer");
    for kind in KINDS {
        print!("{:>18}", kind.name());
    }
    println!();
    for layer in 0..DEPTH {
        print!("{:>6}", layer + 1);
        for n in &norms {
            print!("{:>18.3e}", n[layer]);
        }
        println!();
    }
    print!("{:>6}", "1/20");
    for n in &norms {
        print!("{:>18.1e}", n[0] / n[DEPTH - 1]);
    }
    println!("\n");

    println!("training each for {epochs} epochs: SGD, lr {lr}, momentum 0.9, batches of 32");
    for (kind, mut model) in KINDS.into_iter().zip(models) {
        let started = Instant::now();
        let history = model.fit(
            &train,
            Loss::SparseCategoricalCrossEntropy,
            Sgd::new(lr).momentum(0.9),
            FitConfig {
                epochs,
                batch_size: 32,
                verbose: 0,
                telemetry: true,
                ..FitConfig::default()
            },
        )?;
        let eval = model.evaluate(
            &test,
            Loss::SparseCategoricalCrossEntropy,
            &[Metric::Accuracy],
        )?;
        println!(
            "{:>18}: loss {:.3} -> {:.3}, held-out accuracy {:5.1} %  ({:.1} s)",
            kind.name(),
            history.loss()[0],
            history.loss().last().copied().unwrap_or(f32::NAN),
            100.0 * eval.metrics[0].1,
            started.elapsed().as_secs_f64()
        );
        if history.diagnoses.is_empty() {
            println!("{:>20}telemetry: no diagnosis", "");
        }
        for d in &history.diagnoses {
            println!("{:>20}epoch {}: {}", "", d.epoch, d.message);
        }
    }
    Ok(())
}
