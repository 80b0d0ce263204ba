//! Files: a history with NaN or infinite figures (a diverged run) writes and reads back as
//! it was; an incomplete file is refused on read; writes are atomic, with a temporary file
//! of their own (issue 7, class 7).

use downhill::prelude::*;
use downhill::EpochRecord;

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("downhill-files-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn record(epoch: usize, loss: f32, val: Option<f32>) -> EpochRecord {
    EpochRecord {
        epoch,
        loss,
        metrics: vec![("accuracy".into(), 0.5)],
        val_loss: val,
        val_metrics: if val.is_some() {
            vec![("accuracy".into(), f32::NAN)]
        } else {
            vec![]
        },
        lr: 0.01,
    }
}

fn diverged_history() -> History {
    History {
        records: vec![
            record(1, 0.25, Some(0.5)),
            record(2, f32::INFINITY, Some(f32::NEG_INFINITY)),
            record(3, f32::NAN, Some(f32::NAN)),
        ],
        seconds: vec![0.5, 0.25, 0.125],
        stop_reason: None,
        ..History::default()
    }
}

/// Equality that counts NaN as equal to NaN.
fn same(a: &History, b: &History) -> bool {
    let bits = |h: &History| -> Vec<u32> {
        h.records
            .iter()
            .flat_map(|r| {
                std::iter::once(r.loss)
                    .chain(r.metrics.iter().map(|m| m.1))
                    .chain(r.val_loss)
                    .chain(r.val_metrics.iter().map(|m| m.1))
            })
            .map(f32::to_bits)
            .collect()
    };
    bits(a) == bits(b) && a.seconds == b.seconds && a.records.len() == b.records.len()
}

#[test]
fn a_history_with_nan_and_infinities_reads_back_as_written() {
    let dir = scratch("nan");
    let h = diverged_history();
    let path = dir.join("h.json");
    h.write_json(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("\"NaN\"") && text.contains("\"-Infinity\""),
        "{text}"
    );
    assert!(!text.contains("null"), "no figure may be lost: {text}");
    let back = History::read_json(&path).unwrap();
    assert!(same(&back, &h), "{back:?}");
    assert!(same(&History::from_json(&text).unwrap(), &h));
    // CSV keeps them too (as Rust prints them: NaN, inf, -inf).
    h.write_csv(dir.join("h.csv")).unwrap();
    let csv = std::fs::read_to_string(dir.join("h.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(csv.contains("\n2,inf,0.5,-inf,NaN,0.01,"), "{csv}");
}

#[test]
fn an_incomplete_history_is_refused_with_what_is_wrong() {
    let good = diverged_history().to_json().unwrap();
    let mut cases: Vec<(String, &str)> = Vec::new();
    let mut missing_timings = diverged_history();
    missing_timings.seconds.clear();
    cases.push((
        missing_timings.to_json().unwrap(),
        "3 records but 0 epoch timings",
    ));
    let mut gap = diverged_history();
    gap.records[2].epoch = 5;
    cases.push((gap.to_json().unwrap(), "epoch 5 follows epoch 2"));
    let mut other_metrics = diverged_history();
    other_metrics.records[1].metrics.clear();
    cases.push((other_metrics.to_json().unwrap(), "other figures"));
    let mut negative = diverged_history();
    negative.seconds[0] = -1.0;
    cases.push((negative.to_json().unwrap(), "timing of -1"));
    cases.push((good.replace("\"NaN\"", "\"nope\""), "nope"));
    cases.push((good[..good.len() / 2].to_string(), "EOF"));
    for (text, needle) in cases {
        match History::from_json(&text) {
            Err(Error::Corrupt { detail, .. }) => {
                assert!(detail.contains(needle), "{detail:?} should say {needle:?}")
            }
            other => panic!("expected Corrupt ({needle}), got {other:?}"),
        }
    }
    // A file names itself in the error.
    let dir = scratch("corrupt");
    let path = dir.join("cut.json");
    std::fs::write(&path, &good[..10]).unwrap();
    let e = History::read_json(&path).unwrap_err();
    assert!(e.to_string().contains("cut.json"), "{e}");
}

#[test]
fn json_and_csv_of_one_history_written_side_by_side_never_share_a_temporary_file() {
    let dir = scratch("race");
    let h = diverged_history();
    let (json, csv) = (dir.join("h.json"), dir.join("h.csv"));
    let expected_json = h.to_json().unwrap();
    let expected_csv = h.to_csv();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..40 {
                    h.write_json(&json).unwrap();
                    h.write_csv(&csv).unwrap();
                }
            });
        }
        s.spawn(|| {
            for _ in 0..400 {
                if let Ok(t) = std::fs::read_to_string(&json) {
                    assert_eq!(t, expected_json);
                }
                if let Ok(t) = std::fs::read_to_string(&csv) {
                    assert_eq!(t, expected_csv);
                }
            }
        });
    });
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 2, "temporary files left behind: {left:?}");
}

#[test]
fn an_empty_path_says_so() {
    let e = diverged_history().write_json("").unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
    assert!(e.to_string().contains("an empty path"), "{e}");
}
