//! Sizes: an element or byte count that overflows, an allocation beyond memory and a view
//! past its buffer are each a typed error naming the shape and the bytes, on both
//! backends, and the device stays usable afterwards (issue 7, classes 1, 2 and 4).

mod common;

use common::devices;

use downhill::prelude::*;

fn too_large(r: downhill::Result<Tensor>, what: &str, needles: &[&str]) {
    match r {
        Err(Error::TooLarge(m)) => {
            for n in needles {
                assert!(m.contains(n), "{what}: {m:?} should contain {n:?}");
            }
        }
        Err(e) => panic!("{what}: expected TooLarge, got {e}"),
        Ok(t) => panic!("{what}: expected TooLarge, got a tensor {t:?}"),
    }
}

fn still_usable(device: &Device) {
    let t = device.tensor(vec![1.0, -2.0], [2]).unwrap();
    assert_eq!(t.relu().unwrap().to_vec().unwrap(), vec![1.0, 0.0]);
}

#[test]
fn element_counts_that_overflow_are_refused_with_the_shape() {
    for device in devices() {
        let name = device.name();
        too_large(
            device.zeros([1 << 32, 1 << 32]),
            &name,
            &["[4294967296, 4294967296]", "18446744073709551616 elements"],
        );
        too_large(
            device.zeros([usize::MAX, usize::MAX, 2]),
            &name,
            &["more than 2^128"],
        );
        // Bytes overflow although the element count fits.
        too_large(device.zeros([1 << 62]), &name, &["[4611686018427387904]"]);
        let one = device.scalar(1.0).unwrap();
        too_large(
            one.reshape([1 << 32, 1 << 32]),
            &name,
            &["reshape", "[4294967296, 4294967296]"],
        );
        too_large(
            one.broadcast_to([1 << 40, 1 << 40]),
            &name,
            &["broadcast_to"],
        );
        // A reshape whose count merely wraps around to the right number is not accepted.
        let four = device.zeros([4]).unwrap();
        too_large(four.reshape([(1 << 62) + 1, 4]), &name, &["reshape"]);
        still_usable(&device);
    }
}

#[test]
fn a_dense_layer_too_large_to_exist_fails_before_its_initialiser_runs() {
    for device in devices() {
        for (i, o) in [(1usize << 40, 1usize << 24), (1 << 20, 1 << 20)] {
            let started = std::time::Instant::now();
            let model = Sequential::new(&device).dense(i, o, Activation::Relu);
            match model.parameters() {
                Err(Error::TooLarge(m)) => {
                    assert!(m.contains(&format!("Dense({i} -> {o})")), "{m}");
                    assert!(m.contains(&format!("[{i}, {o}]")), "{m}");
                }
                Err(e) => panic!("Dense({i} -> {o}) on {}: {e}", device.name()),
                Ok(_) => panic!("Dense({i} -> {o}) built on {}", device.name()),
            }
            // No 4 TiB host vector was filled first.
            assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
        }
        still_usable(&device);
    }
}

#[test]
fn tensors_beyond_memory_are_refused_with_shape_and_bytes() {
    let cpu = common::cpu();
    // 4 TiB and 16 EiB: more than this machine has, or than any machine can address.
    too_large(
        cpu.zeros([1 << 40]),
        "cpu 2^40",
        &["[1099511627776]", "4.0 TiB"],
    );
    too_large(
        Tensor::full(&cpu, [1 << 61], 1.0),
        "cpu 2^61",
        &["[2305843009213693952]"],
    );
    too_large(
        Tensor::rand_uniform(&cpu, [1 << 40], 0.0, 1.0, 1),
        "rand 2^40",
        &["rand_uniform", "4.0 TiB"],
    );
    still_usable(&cpu);
    if let Some(gpu) = common::gpu() {
        // Past the binding limit: refused before any buffer is made.
        too_large(
            gpu.zeros([1 << 16, 1 << 15]),
            "gpu 8 GiB",
            &["[65536, 32768]", "8.0 GiB"],
        );
        too_large(gpu.zeros([1 << 62]), "gpu 2^62", &["[4611686018427387904]"]);
        still_usable(&gpu);
    }
}

/// Calls `op` and keeps its results until it is refused; the number kept and the message.
fn until_refused(what: &str, mut op: impl FnMut() -> downhill::Result<Tensor>) -> (usize, String) {
    let mut kept = Vec::new();
    loop {
        match op() {
            Ok(t) => kept.push(t),
            Err(Error::TooLarge(m)) => return (kept.len(), m),
            Err(e) => panic!("{what}: unexpected error {e}"),
        }
        assert!(
            kept.len() < 1000,
            "{what}: 2 GiB of address space held 128 GiB?"
        );
    }
}

/// What the child process allocates until memory runs out: each call makes a 128 MiB
/// ([32 << 20] elements) result; `full` goes through the device's own allocation, the
/// others through the CPU backend's op outputs and temporaries.
const ALLOCATING_OPS: [&str; 5] = ["full", "relu", "matmul", "add", "sum_axis"];

/// Runs in a child process whose address space is capped (`ulimit -v`): for each op of
/// [`ALLOCATING_OPS`], 128 MiB results are made and kept until memory runs out, which
/// must be a `TooLarge` error, not an abort ("memory allocation of ... failed"), whether
/// the allocation that fails is a tensor's, an op's output or its temporary. The parent
/// checks the child's report.
#[test]
fn allocating_until_memory_runs_out_ends_in_an_error_not_an_abort() {
    if std::env::var("DOWNHILL_ALLOCATION_LOOP").is_ok() {
        let cpu = common::cpu();
        let report = |what: &str, (kept, m): (usize, String)| {
            println!("REFUSED {what} after {kept} tensors: {m}");
            still_usable(&cpu);
        };
        for what in ALLOCATING_OPS {
            match what {
                "full" => report(
                    what,
                    until_refused(what, || Tensor::full(&cpu, [32 << 20], 1.0)),
                ),
                "relu" => {
                    let x = Tensor::full(&cpu, [32 << 20], -1.0).unwrap();
                    report(what, until_refused(what, || x.relu()));
                }
                "matmul" => {
                    // [8192, 1] x [1, 4096]: tiny operands, a 128 MiB product.
                    let a = Tensor::full(&cpu, [8192, 1], 1.0).unwrap();
                    let b = Tensor::full(&cpu, [1, 4096], 2.0).unwrap();
                    report(what, until_refused(what, || a.matmul(&b)));
                }
                "add" => {
                    // Broadcasting both ways: the strided path.
                    let a = Tensor::full(&cpu, [8192, 1], 1.0).unwrap();
                    let b = Tensor::full(&cpu, [1, 4096], 2.0).unwrap();
                    report(what, until_refused(what, || a.add(&b)));
                }
                _ => {
                    // 256 MiB in, 128 MiB out, with f64 sums in between.
                    let x = Tensor::full(&cpu, [2, 32 << 20], 1.0).unwrap();
                    report(what, until_refused(what, || x.sum_axis(0, false)));
                }
            }
        }
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 2097152 && exec \"$0\" --exact --test-threads=1 --nocapture allocating_until_memory_runs_out_ends_in_an_error_not_an_abort")
        .arg(&exe)
        .env("DOWNHILL_ALLOCATION_LOOP", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stdout}\n{stderr}");
    let refusal = |what: &str| {
        let needle = format!("REFUSED {what} ");
        stdout
            .lines()
            .find_map(|l| l.find(&needle).map(|i| l[i..].to_string()))
            .unwrap_or_else(|| panic!("no refusal of {what} reported: {stdout}\n{stderr}"))
    };
    let line = refusal("full");
    assert!(
        line.contains("[33554432]") && line.contains("128.0 MiB"),
        "{line}"
    );
    for what in ALLOCATING_OPS {
        let line = refusal(what);
        // Most of the 2 GiB went to results before the refusal.
        let kept: usize = line.split_whitespace().nth(3).unwrap().parse().unwrap();
        assert!((4..=16).contains(&kept), "{line}");
        assert!(line.contains(" MiB"), "the refusal names the bytes: {line}");
    }
}

#[test]
fn views_past_the_end_of_a_buffer_are_errors() {
    for device in devices() {
        let t = device.tensor(vec![1.0, 2.0, 3.0, 4.0], [4]).unwrap();
        let s = t.storage();
        for (offset, len) in [(2, 100), (5, 0), (usize::MAX, 2), (1, usize::MAX)] {
            match s.slice(offset, len) {
                Err(Error::Shape {
                    op: "slice",
                    detail,
                }) => {
                    assert!(detail.contains("outside a view of 4 elements"), "{detail}")
                }
                other => panic!("{}: slice({offset}, {len}) gave {other:?}", device.name()),
            }
        }
        // In bounds, a view reads what it covers; a view of a view stays inside it.
        let mid = s.slice(1, 2).unwrap();
        assert_eq!(device.backend().download(&mid).unwrap(), vec![2.0, 3.0]);
        assert!(mid.slice(1, 2).is_err());
        assert_eq!(
            device
                .backend()
                .download(&mid.slice(1, 1).unwrap())
                .unwrap(),
            vec![3.0]
        );
        // A wrapped view must fill its shape exactly.
        assert!(device.tensor_from_storage(mid.clone(), [3]).is_err());
        assert!(device.tensor_from_storage(mid, [1 << 62, 4]).is_err());
    }
}
