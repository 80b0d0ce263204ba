//! Bad arguments to the region, indexing and selection ops are typed errors, never
//! panics: through the Tensor API and through direct backend calls with inconsistent
//! sizes, on both devices.

mod common;

use common::devices;

use downhill::prelude::*;
use downhill::{ArgReduceOp, BackendKind, ReduceDims, Shape};

fn is_shape<T: std::fmt::Debug>(r: downhill::Result<T>) -> bool {
    matches!(r, Err(Error::Shape { .. }))
}

#[test]
fn tensor_api_refuses_bad_arguments() -> downhill::Result<()> {
    for d in devices() {
        let x = d.tensor((0..24).map(|v| v as f32).collect(), [2, 3, 4])?;
        let name = d.name();
        // narrow / pad
        assert!(is_shape(x.narrow(3, 0, 1)), "{name}: narrow axis");
        assert!(is_shape(x.narrow(1, 2, 2)), "{name}: narrow past the end");
        assert!(
            is_shape(x.narrow(1, usize::MAX, 2)),
            "{name}: narrow overflow"
        );
        assert!(
            is_shape(x.pad(&[(0, 0); 4], 0.0)),
            "{name}: too many pad pairs"
        );
        assert!(
            matches!(x.pad(&[(usize::MAX, 0)], 0.0), Err(Error::TooLarge(_))),
            "{name}: pad too large"
        );
        // concat / stack
        let y = d.zeros([2, 5])?;
        assert!(is_shape(Tensor::concat(&[], 0)), "{name}: empty concat");
        assert!(is_shape(Tensor::concat(&[&x, &y], 1)), "{name}: rank");
        assert!(is_shape(Tensor::concat(&[&x, &x], 3)), "{name}: axis");
        let z = d.zeros([2, 3, 5])?;
        assert!(
            is_shape(Tensor::concat(&[&x, &z], 1)),
            "{name}: other axis differs"
        );
        assert!(
            Tensor::concat(&[&x, &z], 2).is_ok(),
            "{name}: along the differing axis"
        );
        assert!(
            is_shape(Tensor::stack(&[&x, &z], 0)),
            "{name}: stack shapes"
        );
        assert!(is_shape(Tensor::stack(&[&x, &x], 4)), "{name}: stack axis");
        assert!(is_shape(Tensor::stack(&[], 0)), "{name}: empty stack");
        // flatten / unsqueeze / squeeze
        assert!(is_shape(x.flatten(2, 1)), "{name}: flatten order");
        assert!(is_shape(x.flatten(0, 3)), "{name}: flatten axis");
        assert!(is_shape(x.unsqueeze(4)), "{name}: unsqueeze");
        assert!(is_shape(x.squeeze(3)), "{name}: squeeze");
        assert_eq!(
            x.squeeze(1)?.dims(),
            [2, 3, 4],
            "{name}: squeeze of a size-3 axis"
        );
        // index_select / gather / embedding
        let idx2 = d.zeros([2, 2])?;
        assert!(is_shape(x.index_select(0, &idx2)), "{name}: 2-D indices");
        assert!(
            is_shape(x.index_select(5, &d.zeros([2])?)),
            "{name}: index axis"
        );
        assert!(
            is_shape(x.gather(1, &d.zeros([2, 2, 3])?)),
            "{name}: gather shape"
        );
        assert!(
            is_shape(x.gather(1, &d.zeros([2, 2])?)),
            "{name}: gather rank"
        );
        let w = d.zeros([5, 3])?;
        assert!(
            matches!(
                Tensor::embedding(&d.zeros([2])?, &w, Some(5)),
                Err(Error::Config(_))
            ),
            "{name}: padding_idx"
        );
        assert!(
            is_shape(Tensor::embedding(&d.zeros([2])?, &x, None)),
            "{name}: 3-D weight"
        );
        // argmax / comparisons / where / masked_fill
        assert!(is_shape(x.argmax(3, false)), "{name}: argmax axis");
        let empty = d.zeros([2, 0])?;
        assert!(
            matches!(empty.argmin(1, false), Err(Error::EmptyData(_))),
            "{name}: argmin of an empty axis"
        );
        assert!(is_shape(x.lt(&y)), "{name}: lt broadcast");
        assert!(
            is_shape(Tensor::where_(&y, &x, &x)),
            "{name}: where broadcast"
        );
        assert!(
            is_shape(d.zeros([4])?.masked_fill(&d.zeros([2, 4])?, 1.0)),
            "{name}: a mask larger than the tensor"
        );
    }
    Ok(())
}

#[test]
fn tensors_of_two_devices_do_not_mix() -> downhill::Result<()> {
    let Some(gpu) = common::gpu() else {
        return Ok(());
    };
    let cpu = common::cpu();
    let (a, b) = (cpu.zeros([3])?, gpu.zeros([3])?);
    let mismatch = |r: downhill::Result<Tensor>| matches!(r, Err(Error::DeviceMismatch(_)));
    assert!(mismatch(Tensor::concat(&[&a, &b], 0)));
    assert!(mismatch(a.index_select(0, &b)));
    assert!(mismatch(a.gather(0, &b)));
    assert!(mismatch(a.eq(&b)));
    assert!(mismatch(Tensor::where_(&a, &a, &b)));
    Ok(())
}

#[test]
fn direct_backend_calls_with_inconsistent_sizes_are_errors() -> downhill::Result<()> {
    for d in devices() {
        let be = d.backend();
        let x = be.full(24, 1.0)?;
        let short = be.full(5, 1.0)?;
        let s = Shape::new([2, 3, 4]);
        let dims = ReduceDims {
            outer: 2,
            len: 3,
            inner: 4,
        };
        let name = d.name();
        assert!(
            is_shape(be.pad(&short, &s, &[(0, 0); 3], 0.0)),
            "{name}: pad length"
        );
        assert!(
            is_shape(be.pad(&x, &s, &[(0, 0); 2], 0.0)),
            "{name}: pad pairs"
        );
        assert!(
            is_shape(be.pad(&x, &s, &[(0, 0), (-2, -2), (0, 0)], 0.0)),
            "{name}: crop"
        );
        let nine = Shape::new([1; 9]);
        let one = be.full(1, 1.0)?;
        // The GPU's kernels take at most 8 axes (as its broadcasting ones); the CPU any.
        let ninefold = be.pad(&one, &nine, &[(0, 0); 9], 0.0);
        match d.kind() {
            BackendKind::Gpu => assert!(is_shape(ninefold), "{name}: rank 9"),
            BackendKind::Cpu => assert_eq!(be.download(&ninefold?)?, [1.0], "{name}: rank 9"),
        }
        assert!(
            is_shape(be.concat(&[&x, &short], 2, &[3, 1], 4)),
            "{name}: concat"
        );
        assert!(
            is_shape(be.concat(&[&x], 2, &[3, 1], 4)),
            "{name}: concat lens"
        );
        assert!(
            is_shape(be.index_select(&short, dims, &x)),
            "{name}: index_select"
        );
        assert!(
            is_shape(be.index_select_backward(&short, dims, &x, None)),
            "{name}: index_select_backward"
        );
        assert!(is_shape(be.gather(&x, dims, &short, 1)), "{name}: gather");
        assert!(
            is_shape(be.gather_backward(&short, dims, &x, 3)),
            "{name}: gather_backward"
        );
        assert!(
            is_shape(be.arg_reduce(ArgReduceOp::Max, &short, dims)),
            "{name}: argmax"
        );
        assert!(
            is_shape(be.where_cond(&x, &s, &x, &s, &short, &s, &s)),
            "{name}: where lengths"
        );
        let other = Shape::new([2, 3, 1]);
        assert!(
            is_shape(be.where_cond(&x, &s, &x, &s, &x, &s, &other)),
            "{name}: where output shape"
        );
        let huge = ReduceDims {
            outer: usize::MAX,
            len: 2,
            inner: 2,
        };
        assert!(
            matches!(be.index_select(&x, huge, &x), Err(Error::TooLarge(_))),
            "{name}: overflowing sizes"
        );
    }
    Ok(())
}

/// Empty results whose outer count alone is huge come back at once: empty, or (a GPU
/// counting in 32 bits) `TooLarge`; the CPU used to loop over every outer position, a hang
/// the fuzz test found.
#[test]
fn empty_results_with_a_huge_outer_count_return_at_once() {
    let empty_or_too_large = |r: downhill::Result<downhill::Storage>| match r {
        Ok(s) => s.is_empty(),
        Err(e) => matches!(e, Error::TooLarge(_)),
    };
    for dev in common::devices() {
        let be = dev.backend();
        let name = dev.name();
        let empty = be.upload(&[]).unwrap();
        let started = std::time::Instant::now();
        let out = be.concat(&[&empty, &empty], 1 << 40, &[0, 0], 5);
        assert!(empty_or_too_large(out), "{name}: concat");
        let dims = ReduceDims {
            outer: 1 << 40,
            len: 0,
            inner: 3,
        };
        let out = be.index_select(&empty, dims, &empty);
        assert!(empty_or_too_large(out), "{name}: index_select");
        let dims = ReduceDims {
            outer: 1 << 40,
            len: 2,
            inner: 0,
        };
        let out = be.arg_reduce(ArgReduceOp::Max, &empty, dims);
        assert!(empty_or_too_large(out), "{name}: argmax");
        assert!(
            started.elapsed().as_secs() < 5,
            "{name}: {:?}",
            started.elapsed()
        );
    }
    // The CPU's answer is the empty result itself.
    let cpu = common::cpu();
    let empty = cpu.backend().upload(&[]).unwrap();
    let out = cpu.backend().concat(&[&empty], 1 << 40, &[0], 5).unwrap();
    assert!(out.is_empty());
}
