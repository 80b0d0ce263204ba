//! CPU-vs-GPU parity over 50 steps with an eval/train swap every 10 (finite and
//! non-finite gradients), and the non-finite gradients' propagation on each device.

use crate::common;
use crate::common::tolerance::*;
use downhill::prelude::*;

const STEPS: usize = 50;
/// Flat segments padded to 64: a single element, non-multiples of 4 and 256.
const SHAPES: [&[usize]; 5] = [&[3], &[7, 5], &[1], &[65], &[13, 11]];

/// What a run ends with: every parameter (at `x`, after a final `eval`), then `z`.
struct End {
    params: Vec<Vec<f32>>,
    z: Vec<f32>,
}

/// 50 steps of `loss = Σ sum(p ⊙ c_t)` (gradient exactly `c_t` on both devices, so only
/// the kernels differ), `eval` then `train` after every 10th, `eval` at the end.
fn optimize(
    device: &Device,
    config: &dyn OptimizerConfig,
    init: &[Vec<f32>],
    pushes: &[Vec<Vec<f32>>],
) -> downhill::Result<End> {
    let params = init
        .iter()
        .zip(SHAPES)
        .map(|(v, s)| Ok(device.tensor(v.clone(), s)?.param()))
        .collect::<downhill::Result<Vec<Tensor>>>()?;
    let refs: Vec<&Tensor> = params.iter().collect();
    let mut opt = Optimizer::new(config.boxed_clone(), &refs)?;
    for (t, push) in pushes.iter().enumerate() {
        let mut loss: Option<Tensor> = None;
        for ((p, c), s) in params.iter().zip(push).zip(SHAPES) {
            let term = p.mul(&device.tensor(c.clone(), s)?)?.sum()?;
            loss = Some(match loss {
                None => term,
                Some(l) => l.add(&term)?,
            });
        }
        opt.step(&loss.expect("parameters").backward()?)?;
        if (t + 1) % 10 == 0 {
            opt.eval()?;
            opt.train()?;
        }
    }
    opt.eval()?;
    Ok(End {
        params: params
            .iter()
            .map(Tensor::to_vec)
            .collect::<downhill::Result<_>>()?,
        z: opt.state_to_vec(0)?,
    })
}

fn seeded(shape: &[usize], lo: f32, hi: f32, seed: u64) -> Vec<f32> {
    Tensor::rand_uniform(&Device::cpu(), shape, lo, hi, seed)
        .and_then(|t| t.to_vec())
        .expect("random values")
}

fn table() -> Vec<(&'static str, Box<dyn OptimizerConfig>, f64)> {
    // (name, config, β): β sets the swap's weights.
    vec![
        (
            "AdamW defaults",
            Box::new(AdamWScheduleFree::default()),
            0.9,
        ),
        (
            "AdamW every option",
            Box::new(
                AdamWScheduleFree::new(0.01)
                    .betas(0.5, 0.99)
                    .eps(1e-4)
                    .weight_decay(0.1)
                    .warmup_steps(7)
                    .r(1.0)
                    .weight_lr_power(1.0)
                    .inner_momentum(0.8),
            ),
            0.5,
        ),
        ("SGD lr 0.01", Box::new(SgdScheduleFree::new(0.01)), 0.9),
        (
            "SGD every option",
            Box::new(
                SgdScheduleFree::new(0.02)
                    .momentum(0.6)
                    .weight_decay(0.3)
                    .warmup_steps(9)
                    .r(2.0)
                    .weight_lr_power(0.5),
            ),
            0.6,
        ),
    ]
}

fn parity(what: &str, poison: bool) {
    let Some(gpu) = common::gpu() else {
        return;
    };
    let cpu = common::cpu();
    let init: Vec<Vec<f32>> = SHAPES
        .iter()
        .enumerate()
        .map(|(i, s)| seeded(s, -1.0, 1.0, 5000 + i as u64))
        .collect();
    let mut pushes: Vec<Vec<Vec<f32>>> = (0..STEPS)
        .map(|t| {
            SHAPES
                .iter()
                .enumerate()
                .map(|(i, s)| seeded(s, -1.0, 1.0, 20_000 + (t * 16 + i) as u64))
                .collect()
        })
        .collect();
    if poison {
        pushes[3][1][4] = f32::NAN;
        pushes[5][3][64] = f32::INFINITY;
        pushes[9][4][0] = f32::NEG_INFINITY;
    }
    let mut checks = Checks::default();
    for (name, config, beta) in table() {
        let c = optimize(&cpu, config.as_ref(), &init, &pushes)
            .unwrap_or_else(|e| panic!("{name}: the CPU run failed: {e}"));
        let g = optimize(&gpu, config.as_ref(), &init, &pushes)
            .unwrap_or_else(|e| panic!("{name}: the GPU run failed: {e}"));
        // Both devices run the same f32 operations on identical gradients (no feedback:
        // the gradient does not depend on the parameters). Per step a kernel may differ
        // by ≤ 4 ulp of each value it writes: Vulkan's divisions (2.5 ulp, two in AdamW's
        // u) and sqrt, and fused multiply-adds in the lerp and the steps; the errors add
        // over the 50 steps and the 5 eval/train round trips (each ≤ 2 ulp). The final
        // eval scales the differences of y and z by ≤ 1 + 2·|1 − 1/β|. With M the largest
        // |value| the CPU run holds: atol = (1 + 2|1 − 1/β|)·(50 + 2·5)·4·EPS·M.
        let m = c
            .params
            .iter()
            .flatten()
            .chain(&c.z)
            .filter(|v| v.is_finite())
            .fold(1.0f32, |a, &b| a.max(b.abs())) as f64;
        let atol = (1.0 + 2.0 * (1.0 - 1.0 / beta).abs()) * (STEPS as f64 + 10.0) * 4.0 * EPS * m;
        for (i, (cp, gp)) in c.params.iter().zip(&g.params).enumerate() {
            checks.close(
                &format!("{what} {name}: parameter {i}"),
                cp,
                gp,
                Tol::abs(atol),
            );
        }
        checks.close(&format!("{what} {name}: z"), &c.z, &g.z, Tol::abs(atol));
        if poison {
            for (device, end) in [("cpu", &c), ("gpu", &g)] {
                // Propagation, as PyTorch: the poisoned elements turn non-finite, the
                // others stay finite (the update is elementwise).
                let bad = |k: usize, i: usize| !end.params[k][i].is_finite();
                if !(bad(1, 4) && bad(3, 64) && bad(4, 0)) {
                    checks.fail(format!(
                        "{what} {name} {device}: a poisoned element is finite"
                    ));
                }
                let finite = end
                    .params
                    .iter()
                    .flatten()
                    .filter(|v| v.is_finite())
                    .count();
                let total: usize = end.params.iter().map(Vec::len).sum();
                if finite != total - 3 {
                    checks.fail(format!(
                        "{what} {name} {device}: {} non-finite values, 3 poisoned",
                        total - finite
                    ));
                }
            }
        }
    }
    checks.finish(what);
}

#[test]
fn schedule_free_cpu_and_gpu_agree_over_50_steps_with_swaps() {
    parity("schedule-free", false);
}

#[test]
fn schedule_free_cpu_and_gpu_agree_on_nan_and_infinite_gradients() {
    parity("schedule-free non-finite", true);
}

/// Non-finite gradients on the CPU alone (where there is no GPU): NaN and ±inf spread to
/// exactly the element they hit, in y, z and (AdamW) exp_avg_sq.
#[test]
fn non_finite_gradients_propagate_to_their_element() -> anyhow::Result<()> {
    let device = common::cpu();
    for (name, config, _) in table() {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let p = device
                .tensor(vec![0.5, -0.25, 1.0, 2.0, -1.5], [5])?
                .param();
            let mut opt = Optimizer::new(config.boxed_clone(), &[&p])?;
            for t in 0..4 {
                let mut c = vec![0.3, -0.7, 0.2, 0.9, -0.4];
                if t == 1 {
                    c[2] = bad;
                }
                let loss = p.mul(&device.tensor(c, [5])?)?.sum()?;
                opt.step(&loss.backward()?)?;
            }
            let y = p.to_vec()?;
            let z = opt.state_to_vec(0)?;
            for (what, v) in [("y", &y[..]), ("z", &z[..5])] {
                let nonfinite: Vec<usize> = (0..5).filter(|&i| !v[i].is_finite()).collect();
                assert_eq!(nonfinite, vec![2], "{name} {bad}: {what} = {v:?}");
            }
        }
    }
    Ok(())
}

/// On the GPU a step is one dispatch over every parameter (4 here, one group), with no
/// allocation and no read-back; `eval` and `train` are one dispatch each and a repeated
/// one none. Prints the time per step and per swap over 2^20 parameters on each device.
#[test]
fn one_dispatch_per_step_and_per_swap() -> anyhow::Result<()> {
    if let Some(gpu) = common::private_gpu() {
        let model = Sequential::new(&gpu)
            .seed(4)
            .dense(20, 16, Activation::Relu)
            .dense(16, 1, Activation::Sigmoid);
        let params = model.parameters()?;
        let refs: Vec<&Tensor> = params.iter().collect();
        let x = Tensor::rand_uniform(&gpu, [8, 20], 0.0, 1.0, 3)?;
        for (name, config, _) in table() {
            let mut opt = Optimizer::new(config, &refs)?;
            for i in 0..3 {
                let grads = model.forward(&x)?.sum()?.backward()?;
                let before = gpu.stats();
                opt.step(&grads)?;
                let delta = gpu.stats().since(&before);
                assert_eq!(delta.dispatches, 1, "{name} step {i}: {delta:?}");
                assert_eq!(delta.submissions, 1, "{name} step {i}: {delta:?}");
                assert_eq!(delta.buffer_allocations, 0, "{name} step {i}: {delta:?}");
                assert_eq!(delta.bytes_downloaded, 0, "{name} step {i}: {delta:?}");
            }
            for (what, swap) in [
                (
                    "eval",
                    Optimizer::eval as fn(&mut Optimizer) -> downhill::Result<()>,
                ),
                ("eval again", Optimizer::eval),
                ("train", Optimizer::train),
                ("train again", Optimizer::train),
            ] {
                let before = gpu.stats();
                swap(&mut opt)?;
                let delta = gpu.stats().since(&before);
                let want = u64::from(!what.ends_with("again"));
                assert_eq!(delta.dispatches, want, "{name} {what}: {delta:?}");
                assert_eq!(delta.buffer_allocations, 0, "{name} {what}: {delta:?}");
                assert_eq!(delta.bytes_downloaded, 0, "{name} {what}: {delta:?}");
            }
        }
    }
    for device in common::devices() {
        let p = Tensor::rand_uniform(&device, [1024, 1024], -1.0, 1.0, 1)?.param();
        let c = Tensor::rand_uniform(&device, [1024, 1024], -1.0, 1.0, 2)?;
        let mut opt = AdamWScheduleFree::default().build(&[&p])?;
        let grads = p.mul(&c)?.sum()?.backward()?;
        opt.step(&grads)?; // pipelines and first-step work
        let started = std::time::Instant::now();
        for _ in 0..10 {
            opt.step(&grads)?;
        }
        p.to_vec()?; // wait for the device
        let step = started.elapsed().as_secs_f64() / 10.0;
        let started = std::time::Instant::now();
        for _ in 0..5 {
            opt.eval()?;
            opt.train()?;
        }
        p.to_vec()?;
        let swap = started.elapsed().as_secs_f64() / 10.0;
        eprintln!(
            "{}: AdamWScheduleFree over 2^20 parameters: {:.3} ms per step, {:.3} ms per swap",
            device.name(),
            step * 1e3,
            swap * 1e3
        );
    }
    Ok(())
}
