//! Backward writes each parameter's gradient into its optimizer's flat gradient buffer, so
//! a step reads gradients in place; never at the cost of a gradient a caller still holds.

mod common;

use downhill::prelude::*;

/// `loss = Σ (w·x)² + Σ b·k`: different gradients for every `x` and `k`.
fn loss_of(w: &Tensor, b: &Tensor, x: &[f32], k: f32) -> Tensor {
    let dev = w.device().clone();
    let x = Tensor::from_vec(&dev, x.to_vec(), [x.len()]).unwrap();
    let wx = (w * &x).unwrap();
    let quad = (&wx * &wx).unwrap().sum().unwrap();
    let lin = (b * k).unwrap().sum().unwrap();
    (&quad + &lin).unwrap()
}

fn params(dev: &Device) -> (Tensor, Tensor) {
    let w = Tensor::from_vec(dev, vec![0.5, -1.0, 2.0, 0.25, -3.0], [5])
        .unwrap()
        .param();
    let b = Tensor::from_vec(dev, vec![1.0, 2.0, 3.0], [3])
        .unwrap()
        .param();
    (w, b)
}

#[test]
fn gradients_are_written_where_the_step_reads_them() {
    for dev in common::devices() {
        let (w, b) = params(&dev);
        let opt = Sgd::new(0.1).build(&[&w, &b]).unwrap();
        let grads = loss_of(&w, &b, &[1.0, 2.0, 3.0, 4.0, 5.0], 2.0)
            .backward()
            .unwrap();
        let flat = opt.param_set().flat_grads();
        for (p, seg) in opt
            .param_set()
            .params()
            .iter()
            .zip(opt.param_set().segments())
        {
            let g = grads.get(p).unwrap().storage();
            assert!(
                g.same_view(&flat.slice(seg.offset, seg.len).unwrap()),
                "{}: {g:?} is not the parameter's slot",
                dev.name()
            );
        }
        // d/dw Σ(w·x)² = 2·w·x², d/db Σ b·k = k
        assert_eq!(
            grads.to_vec(&w).unwrap().unwrap(),
            vec![1.0, -8.0, 36.0, 8.0, -150.0],
            "{}",
            dev.name()
        );
        assert_eq!(grads.to_vec(&b).unwrap().unwrap(), vec![2.0; 3]);
    }
}

#[test]
fn a_gradient_still_held_is_never_overwritten_by_the_next_backward() {
    for dev in common::devices() {
        let (w, b) = params(&dev);
        let _opt = Adam::new(0.1).build(&[&w, &b]).unwrap();
        let first = loss_of(&w, &b, &[1.0; 5], 1.0).backward().unwrap();
        let kept = first.get(&w).unwrap().clone();
        let second = loss_of(&w, &b, &[2.0; 5], 5.0).backward().unwrap();
        // Both alive: the second went to buffers of its own.
        assert_eq!(
            first.to_vec(&w).unwrap().unwrap(),
            vec![1.0, -2.0, 4.0, 0.5, -6.0]
        );
        assert_eq!(
            second.to_vec(&w).unwrap().unwrap(),
            vec![4.0, -8.0, 16.0, 2.0, -24.0]
        );
        assert_eq!(second.to_vec(&b).unwrap().unwrap(), vec![5.0; 3]);
        // A gradient tensor kept after its `Gradients` is gone still holds the slot.
        drop(first);
        drop(second);
        let third = loss_of(&w, &b, &[3.0; 5], 7.0).backward().unwrap();
        assert_eq!(kept.to_vec().unwrap(), vec![1.0, -2.0, 4.0, 0.5, -6.0]);
        assert_eq!(
            third.to_vec(&w).unwrap().unwrap(),
            vec![9.0, -18.0, 36.0, 4.5, -54.0],
            "{}",
            dev.name()
        );
    }
}

/// Steps with gradients written in place and steps with gradients the step must copy
/// (an earlier gradient is kept alive each time) give the same parameters, bit for bit.
#[test]
fn in_place_and_copied_gradients_step_identically() {
    for dev in common::devices() {
        let run = |keep_one_alive: bool| {
            let (w, b) = params(&dev);
            let mut opt = Adam::new(0.05)
                .build(&[&w, &b])
                .unwrap()
                .with_clip(GradClip::Norm(3.0))
                .unwrap();
            let mut held = None;
            for step in 0..6 {
                let x: Vec<f32> = (0..5).map(|i| (i + step) as f32 * 0.3 - 0.5).collect();
                let grads = loss_of(&w, &b, &x, step as f32 - 2.0).backward().unwrap();
                opt.step(&grads).unwrap();
                if keep_one_alive {
                    held = Some(grads);
                }
            }
            drop(held);
            (w.to_vec().unwrap(), b.to_vec().unwrap())
        };
        assert_eq!(run(false), run(true), "{}", dev.name());
    }
}

#[test]
fn a_gpu_step_over_gradients_in_place_copies_nothing() {
    let Some(gpu) = common::private_gpu() else {
        return;
    };
    let (w, b) = params(&gpu);
    let mut opt = Adam::new(0.1).build(&[&w, &b]).unwrap();
    let grads = loss_of(&w, &b, &[1.0; 5], 1.0).backward().unwrap();
    let before = gpu.stats();
    opt.step(&grads).unwrap();
    opt.step(&grads).unwrap();
    let delta = gpu.stats().since(&before);
    assert_eq!(delta.bytes_copied, 0, "{delta:?}");
    assert_eq!(delta.dispatches, 2, "{delta:?}");

    // With the first gradients still held, the next ones are copied in: 8 floats.
    let other = loss_of(&w, &b, &[2.0; 5], 1.0).backward().unwrap();
    let before = gpu.stats();
    opt.step(&other).unwrap();
    let delta = gpu.stats().since(&before);
    assert_eq!(delta.bytes_copied, 8 * 4, "{delta:?}");
    drop(grads);
}
