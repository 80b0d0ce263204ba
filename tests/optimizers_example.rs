//! The `optimizers` example's table code (`examples/models/optimizer_table.rs`, included
//! as the example includes it): every entry builds, and two of them (one plain, one
//! schedule-free, measured at its evaluation point) train for one epoch into well-formed
//! rows whose loss fell from the fresh model's; an optimizer that diverges gives a NaN row.

#[path = "../examples/models/digits.rs"]
mod digits;
#[path = "../examples/models/optimizer_table.rs"]
mod optimizer_table;

use downhill::prelude::*;
use optimizer_table::{initial_loss, mlp, optimizers, run, run_lbfgs, table, Settings};

#[test]
fn every_entry_builds_with_a_distinct_name() {
    let device = Device::cpu();
    let model = mlp(&device);
    let params = model.parameters().unwrap();
    let refs: Vec<&Tensor> = params.iter().collect();
    let entries = optimizers();
    assert!(entries.len() >= 11, "{} entries", entries.len());
    for (i, e) in entries.iter().enumerate() {
        Optimizer::new(e.config.boxed_clone(), &refs)
            .unwrap_or_else(|err| panic!("{}: {err}", e.name));
        assert!(e.config.lr() > 0.0 && !e.lr_note.is_empty(), "{}", e.name);
        assert!(entries[..i].iter().all(|o| o.name != e.name), "{}", e.name);
    }
}

#[test]
fn two_optimizers_for_one_epoch_give_well_formed_rows() {
    let device = Device::cpu();
    let (train, test) = digits::split().unwrap();
    let settings = Settings {
        epochs: 1,
        batch_size: 32,
        target: 2.0,
        seed: 0,
    };
    let start = initial_loss(&device, &train).unwrap();
    let steps_per_epoch = train.len().div_ceil(settings.batch_size) as u64;
    let chosen = ["Adam", "AdamW schedule-free"];
    let rows: Vec<_> = optimizers()
        .iter()
        .filter(|e| chosen.contains(&e.name))
        .map(|e| run(e, &device, &train, &test, settings).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert!(!r.diverged, "{}", r.name);
        assert_eq!(r.steps, steps_per_epoch, "{}", r.name);
        assert_eq!(r.losses.len(), 1, "{}", r.name);
        let loss = r.final_loss();
        assert!(
            loss.is_finite() && loss < 0.9 * start,
            "{}: {start} -> {loss}",
            r.name
        );
        assert!(
            (0.5..=1.0).contains(&r.test_accuracy),
            "{}: {}",
            r.name,
            r.test_accuracy
        );
        assert!(
            r.ms_per_step.is_finite() && r.ms_per_step > 0.0,
            "{}",
            r.name
        );
        // Both reach loss 2.0 within the epoch: the check after it records its steps.
        assert_eq!(r.steps_to_target, Some(steps_per_epoch), "{}", r.name);
    }
    // The same seed and batches: a second run gives the same figures (timing aside).
    let adam = optimizers().into_iter().find(|e| e.name == "Adam").unwrap();
    let again = run(&adam, &device, &train, &test, settings).unwrap();
    assert_eq!(again.losses, rows[0].losses);
    assert_eq!(again.test_accuracy, rows[0].test_accuracy);

    let text = table(&rows, settings);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2 + rows.len(), "{text}");
    for (line, r) in lines[2..].iter().zip(&rows) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        assert_eq!(cells.len(), 8, "{line}");
        assert_eq!(cells[0], r.name);
        assert_eq!(cells[5], steps_per_epoch.to_string(), "{line}");
        assert_eq!(cells[6], "no", "{line}");
        assert!(cells[3].ends_with(" %"), "{line}");
    }
}

#[test]
fn a_diverging_optimizer_gives_a_nan_row() {
    let device = Device::cpu();
    let (train, test) = digits::split().unwrap();
    let settings = Settings {
        epochs: 2,
        batch_size: 32,
        target: 0.1,
        seed: 0,
    };
    let entry = optimizer_table::Entry {
        name: "SGD far too fast",
        lr_note: "1e30",
        config: Box::new(Sgd::new(1e30)),
    };
    let row = run(&entry, &device, &train, &test, settings).unwrap();
    assert!(row.diverged, "{row:?}");
    assert!(row.final_loss().is_nan() && row.test_accuracy.is_nan());
    assert_eq!(row.steps_to_target, None);
    let text = table(&[row], settings);
    let cells: Vec<&str> = text.lines().nth(2).unwrap().split(" | ").collect();
    assert_eq!(
        (cells[2], cells[3], cells[6]),
        ("NaN", "—", "NaN"),
        "{text}"
    );
}

#[test]
fn lbfgs_full_batch_steps_give_a_well_formed_row() {
    let device = Device::cpu();
    let (train, test) = digits::split().unwrap();
    let settings = Settings {
        epochs: 1,
        batch_size: 32,
        target: 2.0,
        seed: 0,
    };
    let start = initial_loss(&device, &train).unwrap();
    let row = run_lbfgs(&device, &train, &test, settings).unwrap();
    assert_eq!((row.steps, row.losses.len()), (1, 1));
    assert!(!row.diverged);
    let loss = row.final_loss();
    assert!(loss.is_finite() && loss < 0.5 * start, "{start} -> {loss}");
    assert_eq!(row.steps_to_target, Some(1));
    assert!(
        (0.5..=1.0).contains(&row.test_accuracy),
        "{}",
        row.test_accuracy
    );
    assert!(row.ms_per_step > 0.0);
}
