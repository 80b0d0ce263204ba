//! Exact resume (issue 8): 10 epochs, a checkpoint, and 10 more in a fresh model — in this
//! process and in a new one — give exactly the weights and History records of 20
//! uninterrupted epochs, on both backends (Adam, a schedule, validation and metrics
//! included).

mod common;

use downhill::prelude::*;
use downhill::random::SeededRng;
use downhill::EpochRecord;
use ndarray::Array2;
use std::path::{Path, PathBuf};

fn data() -> Dataset {
    let mut rng = SeededRng::new(21);
    let x = Array2::from_shape_simple_fn((120, 5), || rng.uniform(-1.0, 1.0));
    let y = x
        .map_axis(ndarray::Axis(1), |r| {
            (r[0] * r[1] + r[2] > 0.0) as u8 as f32
        })
        .insert_axis(ndarray::Axis(1));
    Dataset::new(x, y).unwrap()
}

fn model(device: &Device) -> Sequential {
    Sequential::new(device)
        .seed(9)
        .dense(5, 16, Activation::Relu)
        .dense(16, 1, Activation::Sigmoid)
}

fn config(epochs: usize) -> FitConfig {
    FitConfig {
        epochs,
        batch_size: 16,
        validation_split: 0.2,
        metrics: vec![Metric::Accuracy],
        verbose: 0,
        ..Default::default()
    }
    .schedule(StepLR::new(3).gamma(0.7))
}

fn train(model: &mut Sequential, config: FitConfig) -> History {
    model
        .fit(
            &data(),
            Loss::BinaryCrossEntropy,
            Adam::new(0.02).amsgrad(true),
            config,
        )
        .unwrap()
}

fn records(h: &History) -> Vec<EpochRecord> {
    h.records.clone()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("downhill-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn devices() -> Vec<(&'static str, Device)> {
    let mut d = vec![("cpu", common::cpu())];
    if let Some(gpu) = common::gpu() {
        d.push(("gpu", gpu));
    }
    d
}

/// The second half, from `ckpt`: weights and this call's records.
fn resume(device: &Device, ckpt: &Path) -> (Vec<Vec<f32>>, Vec<EpochRecord>) {
    let mut m = model(device);
    let h = train(
        &mut m,
        FitConfig {
            resume_from: Some(ckpt.to_path_buf()),
            ..config(10)
        },
    );
    (m.get_weights().unwrap(), records(&h))
}

#[test]
fn ten_epochs_a_checkpoint_and_ten_more_equal_twenty() {
    for (name, device) in devices() {
        let mut whole = model(&device);
        let twenty = train(&mut whole, config(20));
        let ckpt = scratch(&format!("{name}-half.safetensors"));
        let mut first = model(&device);
        let ten = train(&mut first, config(10).callback(ModelCheckpoint::new(&ckpt)));
        let (weights, more) = resume(&device, &ckpt);
        let joined: Vec<EpochRecord> = records(&ten).into_iter().chain(more).collect();
        assert_eq!(joined, records(&twenty), "{name}: histories differ");
        assert_eq!(
            weights,
            whole.get_weights().unwrap(),
            "{name}: weights differ"
        );
        // The checkpoint's own history is the first ten epochs.
        let saved = Checkpoint::load(&ckpt).unwrap();
        assert_eq!(saved.training.history.records, records(&ten));
        assert_eq!(saved.training.epoch, 10);
    }
}

/// The child half of the new-process check: resumes and writes what it got.
fn child_resume() -> bool {
    let (Ok(ckpt), Ok(out), Ok(which)) = (
        std::env::var("DOWNHILL_RESUME_CKPT"),
        std::env::var("DOWNHILL_RESUME_OUT"),
        std::env::var("DOWNHILL_RESUME_DEVICE"),
    ) else {
        return false;
    };
    let device = if which == "gpu" {
        Device::gpu().unwrap()
    } else {
        Device::cpu()
    };
    let (weights, records) = resume(&device, Path::new(&ckpt));
    let history = History {
        seconds: vec![0.0; records.len()],
        records,
        stop_reason: None,
        ..History::default()
    };
    let bits: Vec<Vec<u32>> = weights
        .iter()
        .map(|w| w.iter().map(|v| v.to_bits()).collect())
        .collect();
    let text = serde_json::json!({"weights": bits, "history": history.to_json().unwrap()});
    std::fs::write(out, text.to_string()).unwrap();
    true
}

#[test]
fn a_new_process_resumes_bit_for_bit() {
    if child_resume() {
        return;
    }
    for (name, device) in devices() {
        let mut whole = model(&device);
        let twenty = train(&mut whole, config(20));
        let ckpt = scratch(&format!("{name}-process.safetensors"));
        let mut first = model(&device);
        let ten = train(&mut first, config(10).callback(ModelCheckpoint::new(&ckpt)));
        let out = scratch(&format!("{name}-child.json"));
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "a_new_process_resumes_bit_for_bit",
                "--test-threads=1",
            ])
            .env("DOWNHILL_RESUME_CKPT", &ckpt)
            .env("DOWNHILL_RESUME_OUT", &out)
            .env("DOWNHILL_RESUME_DEVICE", name)
            .env("XDG_RUNTIME_DIR", "/tmp")
            .env("DOWNHILL_AUTOTUNE", "0")
            .status()
            .unwrap();
        assert!(status.success(), "{name}: the child failed");
        let got: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let bits: Vec<Vec<u32>> = serde_json::from_value(got["weights"].clone()).unwrap();
        let expected: Vec<Vec<u32>> = whole
            .get_weights()
            .unwrap()
            .iter()
            .map(|w| w.iter().map(|v| v.to_bits()).collect())
            .collect();
        assert_eq!(bits, expected, "{name}: weights differ across processes");
        let child = History::from_json(got["history"].as_str().unwrap()).unwrap();
        let joined: Vec<EpochRecord> = records(&ten).into_iter().chain(child.records).collect();
        assert_eq!(
            joined,
            records(&twenty),
            "{name}: histories differ across processes"
        );
    }
}

#[test]
fn a_checkpoint_of_another_model_or_optimizer_is_refused_and_changes_nothing() {
    let device = common::cpu();
    let ckpt = scratch("other.safetensors");
    let mut first = model(&device);
    train(&mut first, config(2).callback(ModelCheckpoint::new(&ckpt)));
    // Another optimizer configuration.
    let mut m = model(&device);
    let before = m.get_weights().unwrap();
    let e = m
        .fit(
            &data(),
            Loss::BinaryCrossEntropy,
            Adam::new(0.02),
            FitConfig {
                resume_from: Some(ckpt.clone()),
                ..config(2)
            },
        )
        .unwrap_err();
    assert!(e.to_string().contains("amsgrad"), "{e}");
    assert_eq!(m.get_weights().unwrap(), before);
    // Another model.
    let mut wide = Sequential::new(&device)
        .seed(9)
        .dense(5, 8, Activation::Relu)
        .dense(8, 1, Activation::Sigmoid);
    let e = wide
        .fit(
            &data(),
            Loss::BinaryCrossEntropy,
            Adam::new(0.02).amsgrad(true),
            FitConfig {
                resume_from: Some(ckpt),
                ..config(2)
            },
        )
        .unwrap_err();
    assert!(matches!(e, Error::Mismatch { .. }), "{e}");
}

#[test]
fn model_checkpoint_saves_the_best_epoch_only_when_asked() {
    let device = common::cpu();
    let path = scratch("best-{epoch}.safetensors");
    let mut m = model(&device);
    let h = train(
        &mut m,
        config(6).callback(
            ModelCheckpoint::new(&path)
                .monitor("val_loss")
                .save_best_only(true)
                .save_weights_only(true),
        ),
    );
    let mut best = f32::INFINITY;
    for r in &h.records {
        let file = scratch(&format!("best-{}.safetensors", r.epoch));
        let improved = r.val_loss.unwrap() < best;
        assert_eq!(
            file.exists(),
            improved,
            "epoch {} ({:?})",
            r.epoch,
            r.val_loss
        );
        best = best.min(r.val_loss.unwrap());
    }
}

#[test]
fn a_run_whose_momentum_a_one_cycle_schedule_cycles_resumes_exactly() {
    let device = common::cpu();
    let cycle = |epochs: usize| {
        FitConfig {
            epochs,
            batch_size: 16,
            verbose: 0,
            ..Default::default()
        }
        .schedule(OneCycleLR::new(0.05).total_steps(8 * 8))
    };
    let fit = |m: &mut Sequential, c: FitConfig| {
        m.fit(
            &data(),
            Loss::BinaryCrossEntropy,
            Sgd::new(0.01).momentum(0.9),
            c,
        )
        .unwrap()
    };
    let mut whole = model(&device);
    let eight = fit(&mut whole, cycle(8));
    let ckpt = scratch("one-cycle.safetensors");
    let mut first = model(&device);
    let four = fit(&mut first, cycle(4).callback(ModelCheckpoint::new(&ckpt)));
    let mut second = model(&device);
    let more = fit(
        &mut second,
        FitConfig {
            resume_from: Some(ckpt),
            ..cycle(4)
        },
    );
    let joined: Vec<EpochRecord> = records(&four).into_iter().chain(records(&more)).collect();
    assert_eq!(joined, records(&eight));
    assert_eq!(second.get_weights().unwrap(), whole.get_weights().unwrap());
}
