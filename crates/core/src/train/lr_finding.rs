//! What `lr_find` returns: the curve, why the sweep stopped, the suggested rates and the
//! verdict on a configured rate.

use std::fmt;

/// One step of the sweep.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LrPoint {
    /// The rate of this step (group 0's).
    pub lr: f64,
    /// The loss of this step's batch, before its update.
    pub loss: f64,
    /// The exponential moving average of the losses so far, bias-corrected.
    pub smoothed: f64,
}

/// Why the sweep ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LrFindStop {
    /// Every step ran, up to `end_lr`.
    Completed,
    /// The smoothed loss of step `step` (0-based, at rate `lr`, the curve's last point)
    /// exceeded `diverge_factor` × the best smoothed loss `best`.
    Diverged {
        /// The step (0-based).
        step: usize,
        /// Its rate.
        lr: f64,
        /// Its smoothed loss.
        smoothed: f64,
        /// The best smoothed loss before it.
        best: f64,
    },
    /// The loss of step `step` at rate `lr` was NaN or infinite (not in the curve).
    NonFinite {
        /// The step (0-based).
        step: usize,
        /// Its rate.
        lr: f64,
    },
}

/// The suggested learning rates, from the smoothed curve without its first tenth (the
/// average and the optimizer warming up) and its last five points (where it diverges), as
/// fastai's `steep` and `minimum` (the whole curve when that leaves fewer than 3 points).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LrSuggestion {
    /// The rate where the smoothed loss falls fastest against `ln lr` (central
    /// differences, as NumPy's `gradient`; `torch-lr-finder`'s suggestion).
    pub steepest: f64,
    /// That slope, d(smoothed loss)/d(ln lr), negative.
    pub steepest_slope: f64,
    /// The rate of the lowest smoothed loss.
    pub minimum: f64,
    /// `minimum / 10`: fastai's `lr_min`, one decade below where the loss stops improving.
    pub min_over_10: f64,
}

/// What [`LrFinding::verdict`] says of a rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LrVerdict {
    /// Above 10 × the steepest-slope suggestion, or at or above a rate where the sweep
    /// diverged.
    TooHigh {
        /// The rate over the steepest-slope suggestion.
        ratio: f64,
    },
    /// Below the steepest-slope suggestion / 10.
    TooLow {
        /// The rate over the steepest-slope suggestion.
        ratio: f64,
    },
    /// Within a factor 10 of the steepest-slope suggestion.
    Reasonable {
        /// The rate over the steepest-slope suggestion.
        ratio: f64,
    },
    /// The smoothed loss never fell, so there is no suggestion to compare with (widen the
    /// range, or check the model and data).
    Undetermined,
}

impl fmt::Display for LrVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, ratio) = match *self {
            LrVerdict::TooHigh { ratio } => ("too high", ratio),
            LrVerdict::TooLow { ratio } => ("too low", ratio),
            LrVerdict::Reasonable { ratio } => ("reasonable", ratio),
            LrVerdict::Undetermined => return write!(f, "undetermined (the loss never fell)"),
        };
        if (0.01..1000.0).contains(&ratio) {
            write!(f, "{what} ({ratio:.2}× the suggestion)")
        } else {
            write!(f, "{what} ({ratio:.1e}× the suggestion)")
        }
    }
}

/// The result of [`crate::nn::Sequential::lr_find`].
#[derive(Clone, Debug, PartialEq)]
pub struct LrFinding {
    /// One point per step run, in order (a non-finite loss ends the sweep unrecorded).
    pub points: Vec<LrPoint>,
    /// Why the sweep ended.
    pub stop: LrFindStop,
    /// The suggested rates; `None` when the smoothed loss never fell.
    pub suggestion: Option<LrSuggestion>,
}

impl LrFinding {
    /// The finding of a sweep's points, with its suggestion computed.
    pub fn new(points: Vec<LrPoint>, stop: LrFindStop) -> LrFinding {
        let suggestion = suggest(&points);
        LrFinding {
            points,
            stop,
            suggestion,
        }
    }

    /// The rates of the curve.
    pub fn lrs(&self) -> Vec<f64> {
        self.points.iter().map(|p| p.lr).collect()
    }

    /// The raw losses of the curve.
    pub fn losses(&self) -> Vec<f64> {
        self.points.iter().map(|p| p.loss).collect()
    }

    /// The smoothed losses of the curve.
    pub fn smoothed(&self) -> Vec<f64> {
        self.points.iter().map(|p| p.smoothed).collect()
    }

    /// The steepest-slope suggestion, if any (see [`LrSuggestion::steepest`]).
    pub fn suggested_lr(&self) -> Option<f64> {
        self.suggestion.map(|s| s.steepest)
    }

    /// Whether `lr` is too high, too low or reasonable. The rule, relative to the
    /// steepest-slope suggestion `s`: too high above `10·s` or at or above the rate where
    /// the sweep diverged (or met a non-finite loss); too low below `s/10`; reasonable in
    /// between. Undetermined without a suggestion.
    pub fn verdict(&self, lr: f64) -> LrVerdict {
        let Some(s) = self.suggestion else {
            return LrVerdict::Undetermined;
        };
        let ratio = lr / s.steepest;
        let diverged_at = match self.stop {
            LrFindStop::Completed => f64::INFINITY,
            LrFindStop::Diverged { lr, .. } | LrFindStop::NonFinite { lr, .. } => lr,
        };
        if ratio > 10.0 || lr >= diverged_at {
            LrVerdict::TooHigh { ratio }
        } else if ratio < 0.1 {
            LrVerdict::TooLow { ratio }
        } else {
            LrVerdict::Reasonable { ratio }
        }
    }

    /// The curve in at most `rows` lines (evenly spaced points, the last included), then
    /// why it stopped and the suggestion: for printing.
    pub fn summary(&self, rows: usize) -> String {
        let mut out = String::from("        lr        loss    smoothed\n");
        let n = self.points.len();
        let rows = rows.clamp(2, n.max(2));
        let mut shown: Vec<usize> = (0..rows)
            .map(|k| k * n.saturating_sub(1) / (rows - 1))
            .collect();
        shown.dedup();
        for &i in shown.iter().filter(|&&i| i < n) {
            let p = self.points[i];
            out += &format!("{:>10.3e}  {:>10.4}  {:>10.4}\n", p.lr, p.loss, p.smoothed);
        }
        out += &match self.stop {
            LrFindStop::Completed => format!("completed {n} steps"),
            LrFindStop::Diverged { step, lr, smoothed, best } => format!(
                "stopped at step {} (lr {lr:.3e}): smoothed loss {smoothed:.4} > {:.1} × best {best:.4}",
                step + 1,
                smoothed / best
            ),
            LrFindStop::NonFinite { step, lr } => {
                format!("stopped at step {} (lr {lr:.3e}): non-finite loss", step + 1)
            }
        };
        out += &match self.suggestion {
            None => "\nno suggestion: the smoothed loss never fell".to_string(),
            Some(s) => format!(
                "\nsuggested lr {:.3e} (steepest slope {:.3} per e-fold), minimum/10 {:.3e}",
                s.steepest, s.steepest_slope, s.min_over_10
            ),
        };
        out
    }
}

/// The suggestion of a curve (see [`LrSuggestion`]); `None` when no slope is negative.
fn suggest(points: &[LrPoint]) -> Option<LrSuggestion> {
    let n = points.len();
    let (lo, hi) = if n.saturating_sub(5) >= n / 10 + 3 {
        (n / 10, n - 5)
    } else {
        (0, n)
    };
    let window = &points[lo..hi];
    if window.len() < 2 {
        return None;
    }
    let last = window.len() - 1;
    let slope = |i: usize| {
        let (a, b) = (i.saturating_sub(1), (i + 1).min(last));
        (window[b].smoothed - window[a].smoothed) / (window[b].lr.ln() - window[a].lr.ln())
    };
    let (steep_i, steepest_slope) = (0..=last)
        .map(|i| (i, slope(i)))
        .filter(|(_, s)| s.is_finite())
        .min_by(|a, b| a.1.total_cmp(&b.1))?;
    if steepest_slope >= 0.0 {
        return None;
    }
    let minimum = window
        .iter()
        .min_by(|a, b| a.smoothed.total_cmp(&b.smoothed))
        .map(|p| p.lr)?;
    Some(LrSuggestion {
        steepest: window[steep_i].lr,
        steepest_slope,
        minimum,
        min_over_10: minimum / 10.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(losses: &[f64]) -> Vec<LrPoint> {
        losses
            .iter()
            .enumerate()
            .map(|(i, &l)| LrPoint {
                lr: 10f64.powi(i as i32 - 5),
                loss: l,
                smoothed: l,
            })
            .collect()
    }

    #[test]
    fn steepest_and_minimum_of_a_known_curve() {
        // 20 points: flat, a steep fall centred on point 8, the minimum at 12, then up.
        let mut l = vec![5.0; 20];
        for (i, v) in [4.9, 4.0, 2.0, 1.0, 0.9, 0.8, 0.7, 1.5, 3.0, 6.0, 9.0]
            .iter()
            .enumerate()
        {
            l[6 + i] = *v;
        }
        let s = suggest(&curve(&l)).unwrap();
        assert_eq!(s.steepest, 10f64.powi(8 - 5)); // (1.0 − 4.0) / 2 decades at point 8
        assert_eq!(s.minimum, 10f64.powi(12 - 5));
        assert_eq!(s.min_over_10, 10f64.powi(12 - 6));
        assert!((s.steepest_slope - (1.0 - 4.0) / (2.0 * 10f64.ln())).abs() < 1e-12);
    }

    #[test]
    fn no_suggestion_when_the_loss_never_falls() {
        let rising: Vec<f64> = (0..20).map(|i| i as f64).collect();
        assert_eq!(suggest(&curve(&rising)), None);
        let f = LrFinding::new(curve(&rising), LrFindStop::Completed);
        assert_eq!(f.verdict(1.0), LrVerdict::Undetermined);
    }

    #[test]
    fn verdict_rule() {
        let mut l = vec![5.0; 20];
        for (i, v) in [4.9, 4.0, 2.0, 1.0, 0.9, 0.8, 0.7, 1.5, 3.0, 6.0, 9.0]
            .iter()
            .enumerate()
        {
            l[6 + i] = *v;
        }
        let f = LrFinding::new(curve(&l), LrFindStop::Completed);
        let s = f.suggested_lr().unwrap();
        assert!(matches!(f.verdict(s * 10.5), LrVerdict::TooHigh { .. }));
        assert!(matches!(f.verdict(s * 9.5), LrVerdict::Reasonable { .. }));
        assert!(matches!(f.verdict(s / 9.5), LrVerdict::Reasonable { .. }));
        assert!(matches!(f.verdict(s / 10.5), LrVerdict::TooLow { .. }));
        let diverged = LrFinding {
            stop: LrFindStop::Diverged {
                step: 19,
                lr: s * 2.0,
                smoothed: 9.0,
                best: 0.7,
            },
            ..f
        };
        assert!(matches!(
            diverged.verdict(s * 2.0),
            LrVerdict::TooHigh { .. }
        ));
        assert!(matches!(
            diverged.verdict(s * 1.9),
            LrVerdict::Reasonable { .. }
        ));
    }
}
