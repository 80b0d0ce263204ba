//! `Backend::gather_rows_pair`: a mini-batch's inputs and targets gathered by the same
//! rows in one GPU dispatch, equal (a copy: bit for bit) to two `gather_rows` on either
//! backend.

mod common;

use downhill::prelude::*;
use downhill::random::SeededRng;

type Gathered = downhill::Result<(Vec<f32>, Vec<f32>)>;

fn pair(
    dev: &Device,
    a: (&[f32], usize),
    b: (&[f32], usize),
    order: &[u32],
    run: (usize, usize),
) -> Gathered {
    let be = dev.backend();
    let (ta, tb) = (be.upload(a.0)?, be.upload(b.0)?);
    let idx = be.upload_indices(order)?;
    let (x, y) = be.gather_rows_pair((&ta, a.1), (&tb, b.1), &idx, run.0, run.1)?;
    Ok((be.download(&x)?, be.download(&y)?))
}

fn singles(
    dev: &Device,
    a: (&[f32], usize),
    b: (&[f32], usize),
    order: &[u32],
    run: (usize, usize),
) -> Gathered {
    let be = dev.backend();
    let (ta, tb) = (be.upload(a.0)?, be.upload(b.0)?);
    let idx = be.upload_indices(order)?;
    let x = be.gather_rows(&ta, a.1, &idx, run.0, run.1)?;
    let y = be.gather_rows(&tb, b.1, &idx, run.0, run.1)?;
    Ok((be.download(&x)?, be.download(&y)?))
}

#[test]
fn a_pair_gathers_what_two_gathers_do() {
    // (rows, cols of a, cols of b, start, count): one row, a W1 batch, more than one
    // workgroup of outputs in `a` only, wide targets, the last row alone.
    for (s, (rows, ca, cb, start, count)) in [
        (1, 1, 1, 0, 1),
        (1000, 20, 1, 64, 32),
        (300, 7, 3, 11, 257),
        (37, 1, 300, 5, 17),
        (37, 5, 2, 36, 1),
    ]
    .into_iter()
    .enumerate()
    {
        let mut rng = SeededRng::new(70 + s as u64);
        let a: Vec<f32> = (0..rows * ca).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let mut b: Vec<f32> = (0..rows * cb).map(|_| rng.uniform(-1.0, 1.0)).collect();
        b[0] = f32::NAN; // copied as it is
        let order = SeededRng::new(90 + s as u64).permutation(rows);
        let cpu = common::cpu();
        let reference = singles(&cpu, (&a, ca), (&b, cb), &order, (start, count)).unwrap();
        assert_eq!(reference.0.len(), count * ca);
        assert_eq!(reference.1.len(), count * cb);
        for dev in common::devices() {
            let got = pair(&dev, (&a, ca), (&b, cb), &order, (start, count)).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            let what = format!("{} [{rows}; {ca}, {cb}] rows {start}+{count}", dev.name());
            assert_eq!(bits(&got.0), bits(&reference.0), "{what}: a");
            assert_eq!(bits(&got.1), bits(&reference.1), "{what}: b");
        }
    }
}

#[test]
fn a_pair_is_one_dispatch_on_the_gpu() {
    let Some(gpu) = common::private_gpu() else {
        return;
    };
    let be = gpu.backend();
    let a = be.upload(&[1.0; 40]).unwrap();
    let b = be.upload(&[2.0; 10]).unwrap();
    let idx = be.upload_indices(&[3, 1, 4, 0]).unwrap();
    let before = gpu.stats();
    be.gather_rows_pair((&a, 4), (&b, 1), &idx, 0, 4).unwrap();
    assert_eq!(gpu.stats().since(&before).dispatches, 1);
}

#[test]
fn bad_pairs_are_typed_errors_and_a_row_past_the_data_reads_nan_on_the_gpu() {
    for dev in common::devices() {
        let be = dev.backend();
        let a = be.upload(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]).unwrap(); // [3, 2]
        let b = be.upload(&[10.0, 11.0, 12.0]).unwrap(); // [3, 1]
        let idx = be.upload_indices(&[1, 0]).unwrap();
        // Not whole rows of b, and more rows than indices: errors on both backends.
        assert!(be.gather_rows_pair((&a, 2), (&b, 2), &idx, 0, 2).is_err());
        assert!(be.gather_rows_pair((&a, 2), (&b, 1), &idx, 1, 2).is_err());
    }
    let order = [1u32, 7, 0];
    let cpu = common::cpu();
    let e = pair(
        &cpu,
        (&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], 2),
        (&[10.0, 11.0, 12.0], 1),
        &order,
        (0, 3),
    )
    .unwrap_err();
    assert!(e.to_string().contains("row 7"), "{e}");
    let Some(gpu) = common::gpu() else {
        return;
    };
    let (x, y) = pair(
        &gpu,
        (&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], 2),
        (&[10.0, 11.0, 12.0], 1),
        &order,
        (0, 3),
    )
    .unwrap();
    assert_eq!((x[0], x[1], x[4], x[5]), (2.0, 3.0, 0.0, 1.0));
    assert!(x[2].is_nan() && x[3].is_nan(), "{x:?}");
    assert_eq!((y[0], y[2]), (11.0, 10.0));
    assert!(y[1].is_nan(), "{y:?}");
}
