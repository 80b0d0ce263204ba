//! Memory over long runs with the normalisation and dropout kernels (issue 7's lavapipe
//! pitfall, tests/memory.rs): Mesa's lavapipe specialises a shader for the values of the
//! uniforms its branches test, at every dispatch, and never frees the variants when that
//! shrinks the shader by about half. The kernels of norm.wgsl and dropout.wgsl select on
//! their uniforms (`affine`) and loop to uniform bounds; this run dispatches each of them
//! (batch norm with running statistics, layer norm with both affine layouts, dropout,
//! evaluation mode) 1,500 times at varying batch sizes and checks that RSS stays flat:
//! at most 8 MiB, tests/memory.rs' bound (the bug made ~240 KB a dispatch, 350 MiB here),
//! and no new device buffers once warm.

mod common;

use common::rss_kib;

use downhill::prelude::*;
use downhill::{BatchNorm1d, Dropout, LayerNorm};

#[test]
fn gpu_norm_training_keeps_rss_flat() {
    let Some(gpu) = common::private_gpu() else {
        return;
    };
    let model = Sequential::new(&gpu)
        .seed(1)
        .layer(Dense::new(16, 64))
        .layer(BatchNorm1d::new(64))
        .layer(Activation::Relu)
        .layer(Dropout::new(0.2))
        .layer(LayerNorm::new(&[64]))
        .layer(Dense::new(64, 4));
    let params = model.parameters().unwrap();
    let refs: Vec<&Tensor> = params.iter().collect();
    let mut opt = Adam::new(1e-3).build(&refs).unwrap();
    let batches: Vec<(Tensor, Tensor)> = [8usize, 32, 33, 64]
        .iter()
        .map(|&n| {
            (
                Tensor::rand_uniform(&gpu, [n, 16], -1.0, 1.0, n as u64).unwrap(),
                Tensor::rand_uniform(&gpu, [n, 4], 0.0, 1.0, n as u64 + 1).unwrap(),
            )
        })
        .collect();
    let mut run = |steps: usize| {
        for i in 0..steps {
            let (x, y) = &batches[i % batches.len()];
            model.train();
            let loss = model.forward(x).unwrap().mse(y).unwrap();
            opt.step(&loss.backward().unwrap()).unwrap();
            if i % 10 == 0 {
                model.eval();
                drop(no_grad(|| model.forward(x)).unwrap());
            }
        }
        params[0].to_vec().unwrap();
    };
    run(200);
    let Some(before) = rss_kib() else {
        eprintln!("SKIPPED (no /proc/self/status to read RSS from)");
        return;
    };
    let stats = gpu.stats();
    let steps = 1500;
    run(steps);
    let growth = rss_kib().unwrap().saturating_sub(before);
    let delta = gpu.stats().since(&stats);
    eprintln!(
        "GPU with norm layers: RSS +{growth} KiB over {steps} steps ({} B/step); {delta:?}",
        growth * 1024 / steps as u64
    );
    assert_eq!(delta.buffer_allocations, 0, "{delta:?}");
    assert!(
        growth <= 8 * 1024,
        "RSS grew {growth} KiB over {steps} steps"
    );
}
