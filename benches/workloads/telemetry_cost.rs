//! What `FitConfig::telemetry` costs a workload (issue 12's target: at most 10 % more on
//! W1 and W2): the same fit with and without it, run alternately so that the machine's
//! noise falls on both sides alike, the better of each side kept.

use serde_json::{json, Value};

/// Runs `fit(telemetry)` `rounds` times each way, alternating (seconds per run), and
/// returns the best times and their ratio as the workload's `telemetry` figures.
pub fn telemetry_cost(
    rounds: usize,
    mut fit: impl FnMut(bool) -> anyhow::Result<f64>,
) -> anyhow::Result<Value> {
    let (mut plain, mut watched) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..rounds.max(1) {
        plain = plain.min(fit(false)?);
        watched = watched.min(fit(true)?);
    }
    Ok(json!({
        "seconds_without": super::round(plain, 4),
        "seconds_with": super::round(watched, 4),
        "with_to_without_ratio": super::round(watched / plain, 3),
        "target_ratio": 1.1,
        "meets_target": watched / plain <= 1.1,
        "rounds": rounds.max(1),
    }))
}
