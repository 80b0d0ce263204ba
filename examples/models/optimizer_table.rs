//! The optimizer comparison of `examples/optimizers.rs`, included by `#[path]` in that
//! example and in its test (`tests/optimizers_example.rs`), so both run the same code.
//!
//! Every entry trains the same network from the same seed on the same batches: a 64-64-10
//! ReLU MLP on the digits split of `digits.rs`, batch 32, one `fit_with` call per epoch
//! (the optimizer's state, the epoch numbering and the shuffle continue between calls, as
//! in one longer `fit`). After each epoch the whole training set is evaluated at the
//! optimizer's evaluation point: `fit_with` returns with a schedule-free optimizer's
//! parameters at its average `x`, the point it is meant to be used at, and every other
//! optimizer's parameters are their only point. Those evaluations are outside the timed
//! part.

#![allow(dead_code)] // each includer uses what it needs

use downhill::prelude::*;

/// One optimizer to compare: a name for the table, its configuration (learning rate
/// included) and why that learning rate.
pub struct Entry {
    /// The name in the table, e.g. `SGD momentum 0.9`.
    pub name: &'static str,
    /// Where the learning rate comes from (a paper's or PyTorch's default, or tuned here).
    pub lr_note: &'static str,
    /// The configuration, built fresh for every run.
    pub config: Box<dyn OptimizerConfig>,
}

fn entry(
    name: &'static str,
    config: impl OptimizerConfig + 'static,
    lr_note: &'static str,
) -> Entry {
    Entry {
        name,
        lr_note,
        config: Box::new(config),
    }
}

/// Every optimizer the crate has, one line each (append new ones here). Each runs at its
/// source's default learning rate (PyTorch's, else the paper's or the reference code's)
/// unless that clearly does not fit this problem; those two were chosen once from a sweep
/// over ×{0.01, 0.1, 0.3, 1, 3, 10, 30} of the default at 30 epochs, and their note says
/// why (the losses quoted are the final training losses of that sweep). An optimizer with
/// a closure-style step (LBFGS) needs a loop of its own instead of `fit_with`.
#[rustfmt::skip]
pub fn optimizers() -> Vec<Entry> {
    vec![
        entry("SGD", Sgd::new(0.1), "tuned: PyTorch's 1e-3 ends at loss 1.87; 0.1 = 0.01/(1-0.9), momentum SGD's step"),
        entry("SGD momentum 0.9", Sgd::new(0.01).momentum(0.9), "Keras' SGD default (PyTorch's 1e-3 ends at 0.44)"),
        entry("Adagrad", Adagrad::default(), "PyTorch default"),
        entry("RMSprop", RmsProp::default(), "PyTorch default"),
        entry("Adadelta", Adadelta::default(), "PyTorch default"),
        entry("Adam", Adam::default(), "PyTorch default"),
        entry("AdamW", AdamW::new(1e-3), "PyTorch default (weight decay 1e-2)"),
        entry("Adamax", Adamax::default(), "PyTorch default"),
        entry("NAdam", NAdam::default(), "PyTorch default"),
        entry("Lion", Lion::new(3e-4), "tuned: the paper's 1e-4 ends at 0.32; 3e-4 is its rule (3-10x below AdamW's lr)"),
        entry("AdamW schedule-free", AdamWScheduleFree::default(), "reference default (schedulefree)"),
        entry("SGD schedule-free", SgdScheduleFree::new(1.0), "reference default (schedulefree 1.2+)"),
        entry("RAdam", RAdam::default(), "PyTorch default"),
        entry("Rprop", Rprop::default(), "PyTorch default (a full-batch method: mini-batch signs are noisy)"),
        entry("ASGD", Asgd::default(), "PyTorch default"),
        entry("Adan", Adan::default(), "reference default (sail-sg/Adan)"),
        entry("LAMB", Lamb::default(), "timm default (weight decay 1e-2)"),
        entry("Adafactor", Adafactor::default(), "PyTorch default"),
        entry("Muon", Muon::default(), "reference defaults (0.02 for 2-D weights, AdamW 3e-4 for biases)"),
    ]
}

/// The 64-64-10 ReLU MLP every optimizer trains, from a fixed seed (logits out).
pub fn mlp(device: &Device) -> Sequential {
    Sequential::new(device)
        .seed(3)
        .dense(64, 64, Activation::Relu)
        .dense(64, 10, Activation::Linear)
}

/// How every run goes.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Passes over the training data.
    pub epochs: usize,
    /// Rows per step.
    pub batch_size: usize,
    /// The training loss whose first crossing is reported (checked after every epoch).
    pub target: f32,
    /// The shuffle seed (the same batches for every optimizer).
    pub seed: u64,
}

/// What one optimizer did.
#[derive(Clone, Debug)]
pub struct Row {
    /// The entry's name.
    pub name: &'static str,
    /// Its learning rate.
    pub lr: f32,
    /// Why that learning rate.
    pub lr_note: &'static str,
    /// The training-set loss at the evaluation point after each epoch trained.
    pub losses: Vec<f32>,
    /// The test-set accuracy at the evaluation point after the last epoch (NaN if diverged).
    pub test_accuracy: f32,
    /// Milliseconds per optimizer step: the median over epochs of `fit`'s epoch time per
    /// step (the first epoch, which warms up, left out when there are more). NaN if no
    /// epoch finished.
    pub ms_per_step: f64,
    /// Steps taken when the training loss was first at or below the target (checked
    /// after every epoch), if it ever was.
    pub steps_to_target: Option<u64>,
    /// Steps taken in all.
    pub steps: u64,
    /// Whether a loss, gradient or parameter turned NaN or infinite.
    pub diverged: bool,
}

impl Row {
    /// The training loss after the last epoch (NaN when diverged or when nothing ran).
    pub fn final_loss(&self) -> f32 {
        match self.losses.last() {
            Some(&l) if !self.diverged => l,
            _ => f32::NAN,
        }
    }
}

const LOSS: Loss = Loss::SparseCategoricalCrossEntropy;

/// The training-set loss of a fresh model: where every optimizer starts.
pub fn initial_loss(device: &Device, train: &Dataset) -> downhill::Result<f32> {
    Ok(mlp(device).evaluate(train, LOSS, &[])?.loss)
}

/// Trains a fresh [`mlp`] with `entry`'s optimizer as [`Settings`] say and measures it.
pub fn run(
    entry: &Entry,
    device: &Device,
    train: &Dataset,
    test: &Dataset,
    settings: Settings,
) -> downhill::Result<Row> {
    let mut model = mlp(device);
    let params = model.parameters()?;
    let refs: Vec<&Tensor> = params.iter().collect();
    let mut opt = Optimizer::new(entry.config.boxed_clone(), &refs)?;
    let config = FitConfig {
        epochs: 1,
        batch_size: settings.batch_size,
        seed: Some(settings.seed),
        verbose: 0,
        ..FitConfig::default()
    };
    let mut row = Row {
        name: entry.name,
        lr: entry.config.lr(),
        lr_note: entry.lr_note,
        losses: Vec::new(),
        test_accuracy: f32::NAN,
        ms_per_step: f64::NAN,
        steps_to_target: None,
        steps: 0,
        diverged: false,
    };
    let mut timed = Vec::new(); // (seconds, steps) per epoch
    for _ in 0..settings.epochs {
        let before = opt.steps();
        match model.fit_with(train, LOSS, &mut opt, config.clone()) {
            Ok(history) => {
                let seconds: f64 = history.seconds.iter().sum();
                timed.push((seconds, opt.steps() - before));
            }
            Err(Error::Diverged { .. }) => {
                row.diverged = true;
                break;
            }
            Err(e) => return Err(e),
        }
        // At the evaluation point: fit_with returns there.
        let loss = model.evaluate(train, LOSS, &[])?.loss;
        row.losses.push(loss);
        if !loss.is_finite() {
            row.diverged = true;
            break;
        }
        if row.steps_to_target.is_none() && loss <= settings.target {
            row.steps_to_target = Some(opt.steps());
        }
    }
    row.steps = opt.steps();
    let steady = if timed.len() > 1 {
        &timed[1..]
    } else {
        &timed[..]
    };
    let mut per_step: Vec<f64> = steady
        .iter()
        .filter(|&&(_, steps)| steps > 0)
        .map(|&(seconds, steps)| 1e3 * seconds / steps as f64)
        .collect();
    per_step.sort_by(f64::total_cmp);
    if let Some(&median) = per_step.get(per_step.len() / 2) {
        row.ms_per_step = median;
    }
    if !row.diverged {
        let eval = model.evaluate(test, LOSS, &[Metric::Accuracy])?;
        row.test_accuracy = eval.metrics[0].1;
    }
    Ok(row)
}

/// The rows as a Markdown table, one line per optimizer.
pub fn table(rows: &[Row], settings: Settings) -> String {
    let mut out = format!(
        "| optimizer | lr | final train loss | test accuracy | ms/step | steps to loss ≤ {} | diverged | lr from |\n\
         |---|---|---|---|---|---|---|---|\n",
        settings.target
    );
    for r in rows {
        let accuracy = if r.test_accuracy.is_nan() {
            "—".to_string()
        } else {
            format!("{:.2} %", 100.0 * r.test_accuracy)
        };
        let reached = r.steps_to_target.map_or("—".to_string(), |s| s.to_string());
        out += &format!(
            "| {} | {} | {:.4} | {} | {:.3} | {} | {} | {} |\n",
            r.name,
            r.lr,
            r.final_loss(),
            accuracy,
            r.ms_per_step,
            reached,
            if r.diverged { "NaN" } else { "no" },
            r.lr_note
        );
    }
    out
}

/// L-BFGS (strong Wolfe, history 10) on the whole training set, one closure step per
/// epoch (each up to `max_iter` 20 iterations and 25 loss evaluations): the row's "steps"
/// are L-BFGS steps. It has no `fit` (several evaluations per step), so its loop is here.
pub fn run_lbfgs(
    device: &Device,
    train: &Dataset,
    test: &Dataset,
    settings: Settings,
) -> downhill::Result<Row> {
    let model = mlp(device);
    let params = model.parameters()?;
    let refs: Vec<&Tensor> = params.iter().collect();
    let config = Lbfgs::new(1.0)
        .history_size(10)
        .line_search_fn(LineSearch::StrongWolfe);
    let mut opt = config.build(&refs)?;
    let x = Tensor::from_array(device, train.x())?;
    let labels = Tensor::from_array(device, train.y())?.reshape([train.len()])?;
    let mut row = Row {
        name: "L-BFGS (full batch)",
        lr: 1.0,
        lr_note: "PyTorch default, strong Wolfe, history 10; one step per epoch",
        losses: Vec::new(),
        test_accuracy: f32::NAN,
        ms_per_step: f64::NAN,
        steps_to_target: None,
        steps: 0,
        diverged: false,
    };
    let mut per_step = Vec::new();
    for step in 1..=settings.epochs as u64 {
        let started = std::time::Instant::now();
        opt.step(|| model.forward(&x)?.cross_entropy(&labels))?;
        per_step.push(1e3 * started.elapsed().as_secs_f64());
        let loss = model.evaluate(train, LOSS, &[])?.loss;
        row.losses.push(loss);
        row.steps = step;
        if !loss.is_finite() {
            row.diverged = true;
            break;
        }
        if row.steps_to_target.is_none() && loss <= settings.target {
            row.steps_to_target = Some(step);
        }
    }
    per_step.sort_by(f64::total_cmp);
    if let Some(&median) = per_step.get(per_step.len() / 2) {
        row.ms_per_step = median;
    }
    if !row.diverged {
        row.test_accuracy = model.evaluate(test, LOSS, &[Metric::Accuracy])?.metrics[0].1;
    }
    Ok(row)
}
