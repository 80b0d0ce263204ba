//! Splitting the optimizer's flat pass over the cores. Only large buffers are split: below
//! a few hundred thousand elements, starting threads costs more than it saves, and on a
//! busy 2-core machine a spinning pool would lose time to the other work.

use downhill_core::optim::flat;
use downhill_core::{Error, Result, UpdateRule};
use std::sync::OnceLock;

/// Elements per thread below which one thread does the whole pass.
const MIN_PER_THREAD: usize = 1 << 18;

/// Cores available to this process, asked once (the query costs tens of microseconds,
/// as much as a small model's whole step).
pub fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// One optimizer step over flat buffers, in chunks on scoped threads when large. The
/// update is elementwise, so any split gives the same result as one pass.
pub fn optimizer_step(
    rule: &dyn UpdateRule,
    params: &mut [f32],
    grads: &[f32],
    state: Vec<&mut [f32]>,
) -> Result<()> {
    let threads = (params.len() / MIN_PER_THREAD).clamp(1, cores());
    if threads == 1 {
        let mut state = state;
        return flat::apply(rule, params, grads, &mut state);
    }
    let chunk = params.len().div_ceil(threads);
    // Cut every state buffer at the same places as the parameters.
    let mut state_chunks: Vec<Vec<&mut [f32]>> = (0..threads).map(|_| Vec::new()).collect();
    for buffer in state {
        for (i, piece) in buffer.chunks_mut(chunk).enumerate() {
            state_chunks[i].push(piece);
        }
    }
    std::thread::scope(|scope| {
        let workers: Vec<_> = params
            .chunks_mut(chunk)
            .zip(grads.chunks(chunk))
            .zip(state_chunks)
            .map(|((p, g), mut s)| scope.spawn(move || flat::apply(rule, p, g, &mut s)))
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .unwrap_or_else(|_| Err(Error::backend("cpu", "an optimizer thread panicked")))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use downhill_core::optim::{AdagradRule, AdamRule};

    #[test]
    fn split_pass_equals_one_pass() {
        let n = 3 * MIN_PER_THREAD + 17;
        let rule = AdamRule {
            flags: AdamRule::AMSGRAD,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decay_factor: 1.0,
            step_size: 1e-3,
            bias_correction2_sqrt: 0.0316,
            ..Default::default()
        };
        let grads: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        let (mut p1, mut p2) = (vec![0.5f32; n], vec![0.5f32; n]);
        let mut s1 = vec![vec![0.1f32; n]; 3];
        let mut s2 = s1.clone();
        let mut one: Vec<&mut [f32]> = s1.iter_mut().map(|v| v.as_mut_slice()).collect();
        flat::apply(&rule, &mut p1, &grads, &mut one).unwrap();
        let split: Vec<&mut [f32]> = s2.iter_mut().map(|v| v.as_mut_slice()).collect();
        optimizer_step(&rule, &mut p2, &grads, split).unwrap();
        assert_eq!(p1, p2);
        assert_eq!(s1, s2);
    }

    #[test]
    fn mismatched_state_is_an_error_not_a_panic() {
        let rule = AdagradRule {
            clr: 0.1,
            eps: 1e-10,
            ..Default::default()
        };
        let (mut p, g) = (vec![1.0f32; 8], vec![1.0f32; 8]);
        let mut short = vec![0.0f32; 7];
        assert!(optimizer_step(&rule, &mut p, &g, vec![&mut short]).is_err());
        assert!(optimizer_step(&rule, &mut p, &g, vec![]).is_err());
        assert_eq!(p, vec![1.0; 8], "nothing changed");
    }
}
