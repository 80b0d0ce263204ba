//! The first lesson of gradient descent: minimise f(θ) = (θ − 3)² from θ = 0.
//!
//! 1. By hand: θ ← θ − lr · f'(θ) with f'(θ) = 2(θ − 3), lr 0.1, 100 steps, keeping the
//!    loss history.
//! 2. With autodiff and Adam (lr 0.01, 100 steps) on the MSE between θ and 3.
//!
//! PyTorch gives θ ≈ 2.9999999994 for the first and θ ≈ 0.93755 for the second; this
//! program prints ours beside them.
//!
//! Run: `cargo run --release --example quadratic`

use downhill::prelude::*;

fn main() -> anyhow::Result<()> {
    let device = Device::best()?;
    println!("device: {}", device.describe());

    // 1. Hand-written gradient descent: no autodiff, just the derivative.
    let (lr, steps) = (0.1f64, 100);
    let mut theta = 0.0f64;
    let mut losses = Vec::with_capacity(steps);
    for _ in 0..steps {
        losses.push((theta - 3.0).powi(2));
        theta -= lr * 2.0 * (theta - 3.0);
    }
    println!("\n1. gradient descent by hand, lr {lr}, {steps} steps");
    println!(
        "   loss: first {:.4}, 10th {:.3e}, last {:.3e}",
        losses[0],
        losses[9],
        losses[steps - 1]
    );
    println!("   theta = {theta:.10}   (PyTorch: 2.9999999994)");

    // The same descent through downhill's tensors, autodiff and SGD (f32).
    let theta_t = device.scalar(0.0)?.param();
    let mut sgd = Sgd::new(0.1).build(&[&theta_t])?;
    for _ in 0..steps {
        let loss = (&theta_t - 3.0)?.square()?;
        sgd.step(&loss.backward()?)?;
    }
    println!(
        "   same with Tensor + backward + Sgd (f32): theta = {:.7}",
        theta_t.item()?
    );

    // 2. Adam on MSE(θ, 3).
    let theta = device.scalar(0.0)?.param();
    let target = device.scalar(3.0)?;
    let mut adam = Adam::new(0.01).build(&[&theta])?;
    let mut adam_losses = Vec::with_capacity(steps);
    for _ in 0..steps {
        let loss = theta.mse(&target)?;
        adam_losses.push(loss.item()?);
        adam.step(&loss.backward()?)?;
    }
    println!("\n2. Adam, lr 0.01, {steps} steps on MSE(theta, 3)");
    println!(
        "   loss: first {:.4}, last {:.4}",
        adam_losses[0],
        adam_losses[steps - 1]
    );
    println!("   theta = {:.5}   (PyTorch: 0.93755)", theta.item()?);
    println!("   Adam moves about lr per step whatever the gradient's size, so 100 steps of 0.01 cover ~1.");
    Ok(())
}
