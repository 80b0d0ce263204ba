//! The seed's Keras program, line for line:
//!
//! ```python
//! X = np.random.rand(1000, 20); y = np.random.randint(2, size=(1000, 1))
//! model = Sequential([Dense(64, activation='relu', input_dim=20), Dense(1, activation='sigmoid')])
//! model.compile(optimizer=SGD(learning_rate=0.01), loss='binary_crossentropy', metrics=['accuracy'])
//! model.fit(X, y, epochs=50, batch_size=32)
//! ```
//!
//! The labels are random, so there is nothing to learn: accuracy hovers near 0.5 and the
//! loss near ln 2 ≈ 0.693 (see `separable` for a problem that can be learned).
//!
//! Run: `cargo run --release --example keras_mlp`

use downhill::prelude::*;
use downhill::random::SeededRng;
use ndarray::Array2;

fn main() -> anyhow::Result<()> {
    let device = Device::best()?;
    println!("device: {}", device.describe());

    let mut rng = SeededRng::new(0);
    let x = Array2::from_shape_simple_fn((1000, 20), || rng.uniform(0.0, 1.0));
    let y = Array2::from_shape_simple_fn((1000, 1), || (rng.uniform(0.0, 1.0) < 0.5) as u8 as f32);

    let mut model = Sequential::new(&device)
        .dense(20, 64, Activation::Relu)
        .dense(64, 1, Activation::Sigmoid);
    println!("{}", model.summary()?);

    let history = model.fit(
        &Dataset::new(x, y)?,
        Loss::BinaryCrossEntropy,
        Sgd::new(0.01),
        FitConfig {
            epochs: 50,
            batch_size: 32,
            metrics: vec![Metric::Accuracy],
            ..Default::default()
        },
    )?;
    let total: f64 = history.seconds.iter().sum();
    println!("trained 50 epochs in {total:.2}s");
    Ok(())
}
