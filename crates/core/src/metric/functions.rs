//! Metrics as functions on predictions, as scikit-learn and Keras define them. `fit`
//! computes the same figures from statistics it accumulates on the device; these are
//! their reference and what a user calls on `predict`'s output.

use crate::error::{Error, Result};
use ndarray::{Array2, ArrayView2, Axis};

/// How per-class figures are combined into one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Average {
    /// The unweighted mean over every class `0..classes` (scikit-learn's `macro`).
    Macro,
    /// Counts summed over classes first (scikit-learn's `micro`; for single-label
    /// classification precision, recall and F1 then all equal accuracy).
    Micro,
    /// The positive class 1 of a two-class problem (scikit-learn's `binary`).
    Binary,
}

/// Row `t`, column `p`: how many rows of true class `t` were predicted as `p`.
pub type ConfusionMatrix = Array2<u64>;

fn class_of(label: f32, classes: usize, what: &str) -> Result<usize> {
    if label >= 0.0 && label.fract() == 0.0 && (label as usize) < classes {
        Ok(label as usize)
    } else {
        Err(Error::Config(format!(
            "{what}: {label} is not a class label in 0..{classes}"
        )))
    }
}

/// The predicted class of each row of `[n, classes]` scores: the argmax (the first
/// maximum; a NaN counts as the maximum, as `torch.argmax` and the device kernels), or
/// for one column, `score > threshold`.
pub fn predicted_classes(scores: ArrayView2<f32>, threshold: f32) -> Vec<usize> {
    scores
        .axis_iter(Axis(0))
        .map(|row| {
            if row.len() == 1 {
                return usize::from(row[0] > threshold);
            }
            let mut best = 0;
            for (j, &v) in row.iter().enumerate() {
                let b = row[best];
                if !b.is_nan() && (v > b || v.is_nan()) {
                    best = j;
                }
            }
            best
        })
        .collect()
}

/// The confusion matrix of integer `labels` against predicted classes.
pub fn confusion_matrix(
    labels: &[f32],
    predicted: &[usize],
    classes: usize,
) -> Result<ConfusionMatrix> {
    if labels.len() != predicted.len() {
        return Err(Error::shape(
            "confusion_matrix",
            format!(
                "{} labels but {} predictions",
                labels.len(),
                predicted.len()
            ),
        ));
    }
    let mut m = Array2::zeros((classes, classes));
    for (&l, &p) in labels.iter().zip(predicted) {
        let t = class_of(l, classes, "confusion_matrix")?;
        if p >= classes {
            return Err(Error::Config(format!(
                "confusion_matrix: predicted class {p} is not in 0..{classes}"
            )));
        }
        m[(t, p)] += 1;
    }
    Ok(m)
}

/// `num / den`, 0 where `den` is 0 (scikit-learn's `zero_division=0`).
fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Per-class (true positives, false positives, false negatives).
fn counts(m: &ConfusionMatrix) -> Vec<(u64, u64, u64)> {
    (0..m.nrows())
        .map(|c| {
            let tp = m[(c, c)];
            let predicted: u64 = m.column(c).sum();
            let actual: u64 = m.row(c).sum();
            (tp, predicted - tp, actual - tp)
        })
        .collect()
}

fn combine(m: &ConfusionMatrix, average: Average, f: impl Fn(u64, u64, u64) -> f64) -> Result<f32> {
    let per_class = counts(m);
    let value = match average {
        Average::Macro => {
            per_class
                .iter()
                .map(|&(tp, fp, fn_)| f(tp, fp, fn_))
                .sum::<f64>()
                / m.nrows().max(1) as f64
        }
        Average::Micro => {
            let (tp, fp, fn_) = per_class.iter().fold((0, 0, 0), |a, &(tp, fp, fn_)| {
                (a.0 + tp, a.1 + fp, a.2 + fn_)
            });
            f(tp, fp, fn_)
        }
        Average::Binary => {
            if m.nrows() != 2 {
                return Err(Error::Config(format!(
                    "Average::Binary needs two classes, got {}",
                    m.nrows()
                )));
            }
            let (tp, fp, fn_) = per_class[1];
            f(tp, fp, fn_)
        }
    };
    Ok(value as f32)
}

/// Precision `tp / (tp + fp)` from a confusion matrix.
pub fn precision(m: &ConfusionMatrix, average: Average) -> Result<f32> {
    combine(m, average, |tp, fp, _| ratio(tp, tp + fp))
}

/// Recall `tp / (tp + fn)` from a confusion matrix.
pub fn recall(m: &ConfusionMatrix, average: Average) -> Result<f32> {
    combine(m, average, |tp, _, fn_| ratio(tp, tp + fn_))
}

/// F1 `2 tp / (2 tp + fp + fn)` (the harmonic mean of precision and recall).
pub fn f1(m: &ConfusionMatrix, average: Average) -> Result<f32> {
    combine(m, average, |tp, fp, fn_| ratio(2 * tp, 2 * tp + fp + fn_))
}

/// The fraction of rows whose label is among the `k` highest scores (Keras'
/// `top_k_categorical_accuracy`; as TensorFlow's `in_top_k`, classes tied at the boundary
/// count as inside, and a row holding a NaN or infinite score is a miss).
pub fn top_k_accuracy(scores: ArrayView2<f32>, labels: &[f32], k: usize) -> Result<f32> {
    if scores.nrows() != labels.len() {
        return Err(Error::shape(
            "top_k_accuracy",
            format!(
                "{} rows of scores but {} labels",
                scores.nrows(),
                labels.len()
            ),
        ));
    }
    let classes = scores.ncols();
    let mut hits = 0usize;
    for (row, &l) in scores.axis_iter(Axis(0)).zip(labels) {
        let t = class_of(l, classes, "top_k_accuracy")?;
        let s = row[t];
        let above = row.iter().filter(|&&v| v > s).count();
        let finite = row.iter().all(|v| v.is_finite());
        hits += usize::from(finite && above < k);
    }
    Ok(hits as f32 / labels.len().max(1) as f32)
}

fn same_shape(op: &'static str, a: ArrayView2<f32>, b: ArrayView2<f32>) -> Result<()> {
    if a.shape() == b.shape() {
        Ok(())
    } else {
        Err(Error::shape(
            op,
            format!(
                "predictions {:?} and targets {:?} differ",
                a.shape(),
                b.shape()
            ),
        ))
    }
}

/// The mean absolute error over every element (in f64).
pub fn mean_absolute_error(pred: ArrayView2<f32>, target: ArrayView2<f32>) -> Result<f32> {
    same_shape("mean_absolute_error", pred, target)?;
    let sum: f64 = pred
        .iter()
        .zip(target)
        .map(|(&p, &t)| (p as f64 - t as f64).abs())
        .sum();
    Ok((sum / pred.len().max(1) as f64) as f32)
}

/// R² per output column, averaged (Keras' `R2Score` and scikit-learn's
/// `uniform_average`): `1 - SS_res / SS_tot`; a column with constant targets scores 1 when
/// predicted exactly and 0 otherwise (scikit-learn's `force_finite`).
pub fn r2_score(pred: ArrayView2<f32>, target: ArrayView2<f32>) -> Result<f32> {
    same_shape("r2_score", pred, target)?;
    let n = target.nrows() as f64;
    if n == 0.0 {
        return Err(Error::EmptyData("r2_score: no rows".into()));
    }
    let mut total = 0.0;
    for (p, t) in pred.axis_iter(Axis(1)).zip(target.axis_iter(Axis(1))) {
        let mean = t.iter().map(|&v| v as f64).sum::<f64>() / n;
        let ss_tot: f64 = t.iter().map(|&v| (v as f64 - mean).powi(2)).sum();
        let ss_res: f64 = p
            .iter()
            .zip(t)
            .map(|(&p, &t)| (t as f64 - p as f64).powi(2))
            .sum();
        total += match (ss_tot == 0.0, ss_res == 0.0) {
            (false, _) => 1.0 - ss_res / ss_tot,
            (true, true) => 1.0,
            (true, false) => 0.0,
        };
    }
    Ok((total / target.ncols().max(1) as f64) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// scikit-learn's documented example: y_true [0,1,2,0,1,2], y_pred [0,2,1,0,0,1].
    fn sklearn_example() -> ConfusionMatrix {
        confusion_matrix(&[0.0, 1.0, 2.0, 0.0, 1.0, 2.0], &[0, 2, 1, 0, 0, 1], 3).unwrap()
    }

    #[test]
    fn precision_recall_f1_match_scikit_learn() {
        let m = sklearn_example();
        assert_eq!(m, array![[2, 0, 0], [1, 0, 1], [0, 2, 0]]);
        // precision_score(..., average='macro') = 0.2222..., micro = 0.3333...
        assert!((precision(&m, Average::Macro).unwrap() - 2.0 / 9.0).abs() < 1e-6);
        assert!((precision(&m, Average::Micro).unwrap() - 1.0 / 3.0).abs() < 1e-6);
        // recall macro = 0.3333..., f1 macro = 0.2666...
        assert!((recall(&m, Average::Macro).unwrap() - 1.0 / 3.0).abs() < 1e-6);
        assert!((f1(&m, Average::Macro).unwrap() - 0.8 / 3.0).abs() < 1e-6);
        assert!(precision(&m, Average::Binary).is_err());
        // Binary: y_true [0,1,1,0,1], y_pred [0,1,0,0,1]: precision 1, recall 2/3.
        let b = confusion_matrix(&[0.0, 1.0, 1.0, 0.0, 1.0], &[0, 1, 0, 0, 1], 2).unwrap();
        assert_eq!(precision(&b, Average::Binary).unwrap(), 1.0);
        assert!((recall(&b, Average::Binary).unwrap() - 2.0 / 3.0).abs() < 1e-6);
        assert!((f1(&b, Average::Binary).unwrap() - 0.8).abs() < 1e-6);
    }

    #[test]
    fn top_k_counts_ties_at_the_boundary_as_inside() {
        let scores = array![[0.1f32, 0.5, 0.4], [0.3, 0.3, 0.3], [0.9, 0.05, f32::NAN]];
        assert!(
            (top_k_accuracy(scores.view(), &[2.0, 2.0, 1.0], 1).unwrap() - 1.0 / 3.0).abs() < 1e-6
        );
        assert!(
            (top_k_accuracy(scores.view(), &[2.0, 2.0, 1.0], 2).unwrap() - 2.0 / 3.0).abs() < 1e-6
        );
        assert!(top_k_accuracy(scores.view(), &[3.0, 0.0, 0.0], 1).is_err());
    }

    #[test]
    fn regression_metrics_match_scikit_learn() {
        // mean_absolute_error([3,-0.5,2,7],[2.5,0,2,8]) = 0.5; r2_score = 0.9486...
        let t = array![[3.0f32], [-0.5], [2.0], [7.0]];
        let p = array![[2.5f32], [0.0], [2.0], [8.0]];
        assert_eq!(mean_absolute_error(p.view(), t.view()).unwrap(), 0.5);
        assert!((r2_score(p.view(), t.view()).unwrap() - 0.948_608_1).abs() < 1e-6);
        let flat = array![[1.0f32], [1.0]];
        assert_eq!(r2_score(flat.view(), flat.view()).unwrap(), 1.0);
        assert_eq!(
            r2_score(array![[0.0f32], [2.0]].view(), flat.view()).unwrap(),
            0.0
        );
    }

    #[test]
    fn argmax_and_threshold_classes() {
        let s = array![[0.2f32, 0.7, 0.7], [f32::NAN, 1.0, 2.0], [0.0, 0.0, 0.0]];
        assert_eq!(predicted_classes(s.view(), 0.5), vec![1, 0, 0]);
        let b = array![[0.2f32], [0.6]];
        assert_eq!(predicted_classes(b.view(), 0.5), vec![0, 1]);
    }
}
