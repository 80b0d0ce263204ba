//! `state_dict` / `load_state_dict` of L-BFGS: bit-for-bit resumption, typed errors for
//! states that do not fit, and a state moved from the CPU to the GPU.

use crate::common;
use crate::harness::config_of;
use crate::problems::{flat, Problem};
use downhill::optim::LbfgsState;
use downhill::prelude::*;
use downhill::Error;

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// A state taken after 2 steps, loaded into a fresh optimizer over parameters holding the
/// same values, continues bit for bit (history wrapped, line search on).
#[test]
fn state_dict_round_trips_and_resumes_bit_for_bit() {
    let problem = Problem::Rosenbrock6;
    let config = config_of(LineSearch::StrongWolfe, 3, 5, 1.0);
    for device in common::devices() {
        let first = problem.params(&device, &problem.start());
        let mut a = config.build(&first.iter().collect::<Vec<_>>()).unwrap();
        for _ in 0..2 {
            a.step(|| problem.loss(&first)).unwrap();
        }
        let state = a.state_dict().unwrap();
        assert_eq!(state.old_dirs.len(), 3, "the history has wrapped");
        assert_eq!(state.shapes, vec![vec![6, 1]]);
        let x: Vec<f64> = flat(&first).into_iter().map(f64::from).collect();
        let second = problem.params(&device, &x);
        let mut b = Lbfgs::new(0.5)
            .build(&second.iter().collect::<Vec<_>>())
            .unwrap();
        b.load_state_dict(&state).unwrap();
        assert_eq!(
            b.config(),
            &config,
            "the configuration comes with the state"
        );
        assert_eq!(b.state_dict().unwrap(), state);
        for _ in 0..2 {
            let la = a.step(|| problem.loss(&first)).unwrap();
            let lb = b.step(|| problem.loss(&second)).unwrap();
            assert_eq!(la.to_bits(), lb.to_bits());
            assert_eq!(
                bits(&flat(&first)),
                bits(&flat(&second)),
                "{}",
                device.name()
            );
        }
        assert_eq!(b.state_dict().unwrap(), a.state_dict().unwrap());
        assert_eq!((b.n_iter(), b.func_evals()), (a.n_iter(), a.func_evals()));

        // States that do not fit: typed errors, the optimizer untouched.
        let before = b.state_dict().unwrap();
        let other = device.tensor(vec![0.0; 5], [5, 1]).unwrap().param();
        let mut c = config.build(&[&other]).unwrap();
        assert!(matches!(
            c.load_state_dict(&state),
            Err(Error::Mismatch { .. })
        ));
        let mut long = state.clone();
        long.config.history_size = 2;
        assert!(matches!(
            b.load_state_dict(&long),
            Err(Error::Mismatch { .. })
        ));
        let mut short = state.clone();
        short.ro.pop();
        assert!(matches!(
            b.load_state_dict(&short),
            Err(Error::Mismatch { .. })
        ));
        let mut bad = state.clone();
        bad.config.lr = -1.0;
        assert!(matches!(
            b.load_state_dict(&bad),
            Err(Error::Hyperparameter { name: "lr", .. })
        ));
        assert_eq!(b.state_dict().unwrap(), before);
    }
}

/// A state moves between devices: CPU state loaded on the GPU continues within the
/// reference's tolerance and with the same counters.
#[test]
fn state_dict_moves_between_cpu_and_gpu() {
    let Some(gpu) = common::gpu() else { return };
    let problem = Problem::LeastSquares;
    let config = config_of(LineSearch::None, 3, 5, 0.1);
    let cpu_params = problem.params(&Device::cpu(), &problem.start());
    let mut a = config
        .build(&cpu_params.iter().collect::<Vec<_>>())
        .unwrap();
    a.step(|| problem.loss(&cpu_params)).unwrap();
    let x: Vec<f64> = flat(&cpu_params).into_iter().map(f64::from).collect();
    let gpu_params = problem.params(&gpu, &x);
    let mut b = config
        .build(&gpu_params.iter().collect::<Vec<_>>())
        .unwrap();
    b.load_state_dict(&a.state_dict().unwrap()).unwrap();
    for _ in 0..3 {
        a.step(|| problem.loss(&cpu_params)).unwrap();
        b.step(|| problem.loss(&gpu_params)).unwrap();
        assert_eq!((a.n_iter(), a.func_evals()), (b.n_iter(), b.func_evals()));
        // The least-squares runs above stay within 64·u of the reference (amp 1).
        for (p, q) in flat(&cpu_params).iter().zip(flat(&gpu_params)) {
            assert!((p - q).abs() <= 1e-5 * (1.0 + p.abs()), "{p} vs {q}");
        }
    }
}

/// The state in JSON (serde): a finite state reads back equal, a diverged one (NaN
/// direction and gradient) with every number the same and NaN where NaN was; a run
/// continues from the JSON copy as from the original.
#[test]
fn state_dict_round_trips_through_json() {
    let device = Device::cpu();
    let problem = Problem::Rosenbrock2;
    let config = config_of(LineSearch::StrongWolfe, 3, 5, 1.0);
    let params = problem.params(&device, &problem.start());
    let mut opt = config.build(&params.iter().collect::<Vec<_>>()).unwrap();
    opt.step(|| problem.loss(&params)).unwrap();
    let state = opt.state_dict().unwrap();
    let json = serde_json::to_string(&state).unwrap();
    assert!(
        json.contains("\"line_search_fn\":\"strong_wolfe\""),
        "{json}"
    );
    let back: LbfgsState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, state);
    let x: Vec<f64> = flat(&params).into_iter().map(f64::from).collect();
    let copy = problem.params(&device, &x);
    let mut resumed = config.build(&copy.iter().collect::<Vec<_>>()).unwrap();
    resumed.load_state_dict(&back).unwrap();
    let fresh = problem.params(&device, &x);
    let mut original = config.build(&fresh.iter().collect::<Vec<_>>()).unwrap();
    original.load_state_dict(&state).unwrap();
    original.step(|| problem.loss(&fresh)).unwrap();
    resumed.step(|| problem.loss(&copy)).unwrap();
    assert_eq!(bits(&flat(&fresh)), bits(&flat(&copy)));

    // Diverged: NaN everywhere the gradient reaches.
    let nan = device.scalar(f32::NAN).unwrap();
    opt.step(|| (&problem.loss(&params)? * &nan)?.sum())
        .unwrap();
    let state = opt.state_dict().unwrap();
    assert!(state.d.as_ref().unwrap().iter().all(|v| v.is_nan()));
    let back: LbfgsState = serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
    let same = |a: &[f32], b: &[f32]| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
    };
    assert!(same(back.d.as_ref().unwrap(), state.d.as_ref().unwrap()));
    assert!(same(
        back.prev_flat_grad.as_ref().unwrap(),
        state.prev_flat_grad.as_ref().unwrap()
    ));
    assert_eq!(
        (back.n_iter, back.func_evals, back.t),
        (state.n_iter, state.func_evals, state.t)
    );
    assert!(
        serde_json::from_str::<LbfgsState>(&json.replace("strong_wolfe", "backtracking")).is_err()
    );
}
