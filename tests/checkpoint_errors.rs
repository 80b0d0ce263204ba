//! Checkpoint files that cannot be loaded (issue 8): truncated at any point, random
//! bytes, metadata that contradicts the tensors are `Error::Corrupt`; whole files of
//! another model or optimizer (shapes, missing or extra tensors, dtype, optimizer kind,
//! hyperparameters, clip, layers, format version) are `Error::Mismatch` naming what
//! differs. In every case the model and optimizer are compared bit for bit before and
//! after: nothing changed. Writes are atomic: no temporary file is left, and a write that
//! fails part way keeps the old file.

mod common;

use common::runs::{model, optimizer, scratch, snapshot, train};
use downhill::prelude::*;
use downhill::random::SeededRng;
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn adam() -> Adam {
    Adam::new(0.01).amsgrad(true)
}

/// A trained run's checkpoint and weights files in `dir`.
fn saved_run(dir: &Path) -> (PathBuf, PathBuf) {
    let device = Device::cpu();
    let net = model(&device, 1);
    let mut opt = optimizer(&net, &adam());
    train(&net, &mut opt, 0..3);
    let (checkpoint, weights) = (dir.join("run.safetensors"), dir.join("w.safetensors"));
    Checkpoint::capture(&net, &opt, TrainingState::default())
        .unwrap()
        .save(&checkpoint)
        .unwrap();
    net.save_weights(&weights).unwrap();
    (checkpoint, weights)
}

/// A target that has trained a little (so its state is not all zeros), to compare before
/// and after a failed load.
fn target(net: Sequential, config: &dyn OptimizerConfig) -> (Sequential, Optimizer) {
    let mut opt = optimizer(&net, config);
    train(&net, &mut opt, 10..12);
    (net, opt)
}

/// Loads `path` both ways into `net`/`opt`, expects the error `check` accepts from
/// `Checkpoint` (restore included) and from `load_weights` (if `weights_too`), and checks
/// nothing changed.
fn refused(
    path: &Path,
    (mut net, mut opt): (Sequential, Optimizer),
    weights_too: bool,
    check: impl Fn(&Error) -> bool,
) -> String {
    let before = snapshot(&net, &opt);
    let e = Checkpoint::load(path)
        .and_then(|c| c.restore(&mut net, &mut opt))
        .unwrap_err();
    assert!(check(&e), "unexpected error: {e}");
    if weights_too {
        let w = net.load_weights(path).unwrap_err();
        assert!(check(&w), "unexpected load_weights error: {w}");
    }
    assert_eq!(
        snapshot(&net, &opt),
        before,
        "a refused file changed the model: {e}"
    );
    e.to_string()
}

fn corrupt(e: &Error) -> bool {
    matches!(e, Error::Corrupt { .. })
}

fn mismatch(e: &Error) -> bool {
    matches!(e, Error::Mismatch { .. })
}

fn fresh() -> (Sequential, Optimizer) {
    target(model(&Device::cpu(), 5), &adam())
}

#[test]
fn a_file_truncated_anywhere_is_corrupt() {
    let dir = scratch("truncated");
    let (checkpoint, _) = saved_run(&dir);
    let bytes = std::fs::read(&checkpoint).unwrap();
    let header_end = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let path = dir.join("cut.safetensors");
    for cut in [
        0,
        3,
        8,
        40,
        header_end - 1,
        header_end,
        header_end + 1,
        (header_end + bytes.len()) / 2,
        bytes.len() - 1,
    ] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let message = refused(&path, fresh(), true, corrupt);
        assert!(message.contains("truncated"), "cut at {cut}: {message}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    std::fs::write(&path, &longer).unwrap();
    refused(&path, fresh(), true, corrupt);
}

#[test]
fn random_bytes_are_corrupt() {
    let dir = scratch("random");
    let path = dir.join("noise.safetensors");
    let mut rng = SeededRng::new(3);
    for len in [1, 7, 8, 9, 100, 4096] {
        let noise: Vec<u8> = (0..len)
            .map(|_| (rng.uniform(0.0, 256.0) as u32) as u8)
            .collect();
        std::fs::write(&path, &noise).unwrap();
        refused(&path, fresh(), true, corrupt);
        // With a plausible header length in front, the header itself is noise.
        let mut framed = ((len as u64) / 2).to_le_bytes().to_vec();
        framed.extend(&noise);
        std::fs::write(&path, &framed).unwrap();
        refused(&path, fresh(), true, corrupt);
    }
    let e = Checkpoint::load(dir.join("absent.safetensors")).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
}

/// Writes a safetensors file holding `tensors` (name, dtype, shape, raw bytes).
fn write_raw(
    path: &Path,
    tensors: &[(String, Dtype, Vec<usize>, Vec<u8>)],
    metadata: Option<HashMap<String, String>>,
) {
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            let view = TensorView::new(*dtype, shape.clone(), bytes).unwrap();
            (name.clone(), view)
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, metadata).unwrap()).unwrap();
}

/// Every tensor of a file, and its metadata.
type Raw = (
    Vec<(String, Dtype, Vec<usize>, Vec<u8>)>,
    Option<HashMap<String, String>>,
);

fn read_raw(path: &Path) -> Raw {
    let bytes = std::fs::read(path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let tensors = file
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, t.dtype(), t.shape().to_vec(), t.data().to_vec()))
        .collect();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    (tensors, header.metadata().clone())
}

#[test]
fn weights_of_another_model_are_a_mismatch_naming_what_differs() {
    let dir = scratch("shapes");
    let (_, weights) = saved_run(&dir);
    let device = Device::cpu();
    let cases: Vec<(Sequential, &str)> = vec![
        (
            Sequential::new(&device)
                .dense(3, 6, Activation::Tanh)
                .layer(Dense::new(6, 5).use_bias(false))
                .dense(5, 1, Activation::Linear),
            "tensor 0.dense.weight has shape [3, 7] in the file, [3, 6] in the model",
        ),
        (
            Sequential::new(&device)
                .dense(3, 7, Activation::Tanh)
                .dense(7, 5, Activation::Relu)
                .dense(5, 1, Activation::Linear),
            "tensor 1.dense.bias is missing",
        ),
        (
            Sequential::new(&device)
                .dense(3, 7, Activation::Tanh)
                .layer(Dense::new(7, 1).use_bias(false)),
            "tensor 2.dense.weight is in the file but not in the model",
        ),
    ];
    for (net, expected) in cases {
        let (mut net, opt) = target(net, &adam());
        let before = snapshot(&net, &opt);
        let e = net.load_weights(&weights).unwrap_err();
        assert!(mismatch(&e) && e.to_string().contains(expected), "{e}");
        assert!(e.to_string().contains("w.safetensors"), "{e}");
        assert_eq!(snapshot(&net, &opt), before);
    }

    // A PyTorch Linear weight saved without transposing, and a half-precision tensor.
    let (mut tensors, _) = read_raw(&weights);
    let path = dir.join("torch.safetensors");
    for (name, dtype, shape, bytes) in tensors.iter_mut() {
        if name == "0.dense.weight" {
            shape.reverse();
        }
        if name == "2.dense.bias" {
            *dtype = Dtype::F16;
            bytes.truncate(2);
        }
    }
    write_raw(&path, &tensors, None);
    let message = refused(&path, fresh(), false, |_| true);
    assert!(message.contains("no downhill metadata"), "{message}");
    let (mut net, opt) = fresh();
    let before = snapshot(&net, &opt);
    let e = net.load_weights(&path).unwrap_err();
    let text = e.to_string();
    assert!(mismatch(&e), "{e}");
    assert!(
        text.contains("[7, 3] in the file, [3, 7]") && text.contains("transpose"),
        "{e}"
    );
    assert!(text.contains("tensor 2.dense.bias is F16"), "{e}");
    assert_eq!(snapshot(&net, &opt), before);
}

#[test]
fn another_optimizer_or_other_hyperparameters_change_nothing() {
    let dir = scratch("optimizer");
    let (checkpoint, _) = saved_run(&dir);
    let device = Device::cpu();
    let cases: Vec<(Box<dyn OptimizerConfig>, &str)> = vec![
        (
            Box::new(Sgd::new(0.1).momentum(0.9)),
            "it was saved by Adam, this optimizer is SGD",
        ),
        (
            Box::new(AdamW::new(0.01).amsgrad(true)),
            "saved by Adam, this optimizer is AdamW",
        ),
        (
            Box::new(adam().betas(0.9, 0.99)),
            "beta2 is 0.999 there, 0.99 here",
        ),
        (
            Box::new(Adam::new(0.01)),
            "amsgrad is true there, false here",
        ),
        (
            Box::new(adam().eps(1e-6)),
            "eps is 0.00000001 there, 0.000001 here",
        ),
    ];
    for (config, expected) in cases {
        let message = refused(
            &checkpoint,
            target(model(&device, 5), config.as_ref()),
            false,
            mismatch,
        );
        assert!(message.contains(expected), "{message}");
    }
    // Clipping is part of the run.
    let net = model(&device, 5);
    let opt = optimizer(&net, &adam())
        .with_clip(GradClip::Norm(1.0))
        .unwrap();
    let message = refused(&checkpoint, (net, opt), false, mismatch);
    assert!(
        message.contains("gradient clipping is none there, Norm(1.0) here"),
        "{message}"
    );
    // Another model of the same shapes: the layers must match for a resume...
    let other = Sequential::new(&device)
        .dense(3, 7, Activation::Relu)
        .layer(
            Dense::new(7, 5)
                .activation(Activation::Relu)
                .use_bias(false),
        )
        .dense(5, 1, Activation::Linear);
    let message = refused(&checkpoint, target(other, &adam()), false, mismatch);
    assert!(
        message.contains(
            "layer 0 is Dense(3 -> 7, tanh) in the checkpoint, Dense(3 -> 7, relu) in the model"
        ),
        "{message}"
    );
    // ... and an optimizer over other parameters is refused before anything is compared.
    let mut net = model(&device, 5);
    let mut stray = optimizer(&model(&device, 6), &adam());
    let e = Checkpoint::load(&checkpoint)
        .unwrap()
        .restore(&mut net, &mut stray)
        .unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e}");
}

#[test]
fn load_state_dict_checks_everything_before_changing_anything() {
    let device = Device::cpu();
    let a = device.tensor(vec![1.0, 2.0, 3.0], [3]).unwrap().param();
    let b = device.tensor(vec![4.0, 5.0], [2]).unwrap().param();
    let mut opt = adam().build(&[&a, &b]).unwrap();
    let loss = (&a * &a).unwrap().sum().unwrap();
    let loss = (&loss + &(&b * 3.0).unwrap().sum().unwrap()).unwrap();
    opt.step(&loss.backward().unwrap()).unwrap();
    let state = opt.state_dict().unwrap();

    let c = device.tensor(vec![1.0, 2.0], [2]).unwrap().param();
    let d = device.tensor(vec![4.0, 5.0, 6.0], [3]).unwrap().param();
    let mut other = adam().build(&[&c, &d]).unwrap();
    let before = other.state_dict().unwrap();
    let e = other.load_state_dict(&state).unwrap_err();
    assert!(mismatch(&e), "{e}");
    assert!(
        e.to_string()
            .contains("parameter 0 has shape [3] there, [2] here"),
        "{e}"
    );
    assert_eq!(other.state_dict().unwrap(), before);

    let mut single = adam().build(&[&c]).unwrap();
    let e = single.load_state_dict(&state).unwrap_err();
    assert!(
        e.to_string()
            .contains("it holds 2 parameters, this optimizer 1"),
        "{e}"
    );

    let mut tampered = state.clone();
    tampered.buffers[1].values[1].pop();
    tampered.contexts[0].step = 9;
    let a2 = device.tensor(vec![0.0; 3], [3]).unwrap().param();
    let b2 = device.tensor(vec![0.0; 2], [2]).unwrap().param();
    let mut same_shapes = adam().build(&[&a2, &b2]).unwrap();
    let before = same_shapes.state_dict().unwrap();
    let e = same_shapes.load_state_dict(&tampered).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("stepped 9 times in 1 calls"), "{e}");
    assert!(
        text.contains("state exp_avg_sq of parameter 1 holds 1 values, the parameter 2"),
        "{e}"
    );
    assert_eq!(same_shapes.state_dict().unwrap(), before);
    same_shapes.load_state_dict(&state).unwrap();
    assert_eq!(same_shapes.state_dict().unwrap(), state);
}

#[test]
fn metadata_that_contradicts_the_file_is_corrupt() {
    let dir = scratch("metadata");
    let (checkpoint, weights) = saved_run(&dir);
    let (tensors, metadata) = read_raw(&checkpoint);
    let path = dir.join("edited.safetensors");

    let mut fewer = tensors.clone();
    fewer.retain(|(n, ..)| n != "optimizer.exp_avg.1.dense.weight");
    write_raw(&path, &fewer, metadata.clone());
    let message = refused(&path, fresh(), false, corrupt);
    assert!(
        message.contains("lists tensor optimizer.exp_avg.1.dense.weight"),
        "{message}"
    );

    let mut more = tensors.clone();
    more.push(("extra".into(), Dtype::F32, vec![1], vec![0; 4]));
    write_raw(&path, &more, metadata.clone());
    let message = refused(&path, fresh(), false, corrupt);
    assert!(message.contains("tensor extra"), "{message}");

    let text = metadata.as_ref().unwrap()["downhill"].clone();
    for (edited, check, expected) in [
        (
            text.replace("\"format_version\":1", "\"format_version\":2"),
            mismatch as fn(&Error) -> bool,
            "format version 2",
        ),
        (text[..text.len() / 2].to_string(), corrupt, "not JSON"),
        (text.replace("\"steps\":", "\"stepz\":"), corrupt, "steps"),
        (
            text.replace("\"epoch\":0", "\"epoch\":-1"),
            corrupt,
            "incomplete",
        ),
    ] {
        let edited = HashMap::from([("downhill".to_string(), edited)]);
        write_raw(&path, &tensors, Some(edited));
        let message = refused(&path, fresh(), true, check);
        assert!(message.contains(expected), "{message}");
    }

    // A weights file is not a checkpoint, nor is a file without our metadata.
    let message = refused(&weights, fresh(), false, mismatch);
    assert!(
        message.contains("weights file, not a training checkpoint"),
        "{message}"
    );
}

fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn saves_replace_the_file_whole_and_leave_no_temporary() {
    let dir = scratch("atomic");
    let device = Device::cpu();
    let net = model(&device, 1);
    let mut opt = optimizer(&net, &adam());
    let path = dir.join("run.safetensors");
    for _ in 0..3 {
        train(&net, &mut opt, 0..1);
        Checkpoint::capture(&net, &opt, TrainingState::default())
            .unwrap()
            .save(&path)
            .unwrap();
        net.save_weights(dir.join("w.safetensors")).unwrap();
    }
    assert!(temporaries(&dir).is_empty(), "{:?}", temporaries(&dir));
    let mut back = model(&device, 2);
    let mut back_opt = optimizer(&back, &adam());
    Checkpoint::load(&path)
        .unwrap()
        .restore(&mut back, &mut back_opt)
        .unwrap();
    assert_eq!(snapshot(&back, &back_opt), snapshot(&net, &opt));

    // A target that cannot be replaced (a directory) and one in a missing directory.
    std::fs::create_dir(dir.join("taken")).unwrap();
    for bad in [dir.join("taken"), dir.join("missing").join("w.safetensors")] {
        let e = net.save_weights(&bad).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
    }
    assert!(temporaries(&dir).is_empty(), "{:?}", temporaries(&dir));
}

const CHILD: &str = "DOWNHILL_CHECKPOINT_WRITE_LIMIT";

/// A write that fails part way (the file-size limit `ulimit -f` set on a child process
/// stops it after 2 KiB) keeps the old checkpoint whole and leaves no temporary file.
#[cfg(unix)]
#[test]
fn a_write_that_fails_part_way_keeps_the_old_file() {
    let big = |device: &Device| Sequential::new(device).dense(3, 300, Activation::Tanh);
    if let Ok(path) = std::env::var(CHILD) {
        let device = Device::cpu();
        let net = big(&device);
        let opt = optimizer(&net, &adam());
        let e = Checkpoint::capture(&net, &opt, TrainingState::default())
            .unwrap()
            .save(&path)
            .unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
        assert!(e.to_string().contains("too large"), "{e}");
        return;
    }
    let dir = scratch("limit");
    let (checkpoint, _) = saved_run(&dir);
    let old = std::fs::read(&checkpoint).unwrap();
    // An ignored SIGXFSZ stays ignored across exec, so the write fails with EFBIG
    // instead of killing the child; dash counts `ulimit -f` in 512-byte blocks.
    let child = std::process::Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 4; exec \"$0\" \"$@\"")
        .arg(std::env::current_exe().unwrap())
        .args(["a_write_that_fails_part_way_keeps_the_old_file", "--exact"])
        .env(CHILD, &checkpoint)
        .output()
        .unwrap();
    assert!(
        child.status.success(),
        "the child run failed: {}\n{}",
        String::from_utf8_lossy(&child.stdout),
        String::from_utf8_lossy(&child.stderr)
    );
    assert_eq!(std::fs::read(&checkpoint).unwrap(), old);
    assert!(temporaries(&dir).is_empty(), "{:?}", temporaries(&dir));
    let (mut net, mut opt) = fresh();
    Checkpoint::load(&checkpoint)
        .unwrap()
        .restore(&mut net, &mut opt)
        .unwrap();
}
