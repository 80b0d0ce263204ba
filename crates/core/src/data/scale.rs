//! Feature scaling fitted on training data and applied to any data, as scikit-learn's
//! `StandardScaler` and `MinMaxScaler`.

use crate::error::{Error, Result};
use ndarray::{Array1, Array2, Axis};

fn check_width(op: &'static str, fitted: usize, x: &Array2<f32>) -> Result<()> {
    if x.ncols() == fitted {
        Ok(())
    } else {
        Err(Error::shape(
            op,
            format!(
                "fitted on {fitted} columns, given {} (shape {:?})",
                x.ncols(),
                x.shape()
            ),
        ))
    }
}

fn check_rows(op: &'static str, x: &Array2<f32>) -> Result<()> {
    if x.nrows() == 0 {
        return Err(Error::EmptyData(format!("{op}: no rows to fit on")));
    }
    match x.iter().find(|v| !v.is_finite()) {
        Some(v) => Err(Error::NonFinite(format!("{op}: the data holds {v}"))),
        None => Ok(()),
    }
}

/// Scales each column to mean 0 and standard deviation 1 (the population deviation, as
/// scikit-learn). A constant column keeps scale 1 (it becomes 0, not NaN). Statistics
/// are computed in f64.
#[derive(Clone, Debug, PartialEq)]
pub struct StandardScaler {
    /// Each column's mean on the training data (scikit-learn's `mean_`).
    pub mean: Array1<f32>,
    /// Each column's standard deviation, 1 for a constant column (scikit-learn's `scale_`).
    pub scale: Array1<f32>,
}

impl StandardScaler {
    /// Learns each column's mean and standard deviation from `x` (the training data).
    pub fn fit(x: &Array2<f32>) -> Result<StandardScaler> {
        check_rows("StandardScaler::fit", x)?;
        let n = x.nrows() as f64;
        let mut mean = Array1::zeros(x.ncols());
        let mut scale = Array1::zeros(x.ncols());
        for (c, col) in x.axis_iter(Axis(1)).enumerate() {
            let m = col.iter().map(|&v| v as f64).sum::<f64>() / n;
            let var = col.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / n;
            mean[c] = m as f32;
            scale[c] = if var > 0.0 { var.sqrt() as f32 } else { 1.0 };
        }
        Ok(StandardScaler { mean, scale })
    }

    /// `(x - mean) / scale`, column by column.
    pub fn transform(&self, x: &Array2<f32>) -> Result<Array2<f32>> {
        check_width("StandardScaler::transform", self.mean.len(), x)?;
        Ok((x - &self.mean) / &self.scale)
    }

    /// The inverse of [`StandardScaler::transform`].
    pub fn inverse_transform(&self, x: &Array2<f32>) -> Result<Array2<f32>> {
        check_width("StandardScaler::inverse_transform", self.mean.len(), x)?;
        Ok(x * &self.scale + &self.mean)
    }

    /// Fits on `x` and transforms it.
    pub fn fit_transform(x: &Array2<f32>) -> Result<(StandardScaler, Array2<f32>)> {
        let s = StandardScaler::fit(x)?;
        let t = s.transform(x)?;
        Ok((s, t))
    }
}

/// Scales each column linearly onto `range` (default [0, 1]) using the training data's
/// minimum and maximum; a constant column maps to the range's low end.
#[derive(Clone, Debug, PartialEq)]
pub struct MinMaxScaler {
    /// Each column's minimum on the training data (what maps to the range's low end).
    pub min: Array1<f32>,
    /// Each column's factor, `(high − low) / (max − min)`, 1 for a constant column.
    pub scale: Array1<f32>,
    /// The `(low, high)` range columns are mapped onto (scikit-learn's `feature_range`).
    pub range: (f32, f32),
}

impl MinMaxScaler {
    /// Learns each column's range from `x`, mapping it onto [0, 1].
    pub fn fit(x: &Array2<f32>) -> Result<MinMaxScaler> {
        MinMaxScaler::fit_range(x, (0.0, 1.0))
    }

    /// As [`MinMaxScaler::fit`], onto `range` (`low < high`, both finite).
    pub fn fit_range(x: &Array2<f32>, range: (f32, f32)) -> Result<MinMaxScaler> {
        if !(range.0.is_finite() && range.1.is_finite() && range.0 < range.1) {
            return Err(Error::Config(format!(
                "MinMaxScaler: feature range {range:?} must be finite and increasing"
            )));
        }
        check_rows("MinMaxScaler::fit", x)?;
        let mut min = Array1::zeros(x.ncols());
        let mut scale = Array1::zeros(x.ncols());
        for (c, col) in x.axis_iter(Axis(1)).enumerate() {
            let lo = col.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = col.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let span = hi as f64 - lo as f64;
            min[c] = lo;
            scale[c] = if span > 0.0 {
                ((range.1 - range.0) as f64 / span) as f32
            } else {
                1.0
            };
        }
        Ok(MinMaxScaler { min, scale, range })
    }

    /// `(x - min) · scale + low`, column by column.
    pub fn transform(&self, x: &Array2<f32>) -> Result<Array2<f32>> {
        check_width("MinMaxScaler::transform", self.min.len(), x)?;
        Ok((x - &self.min) * &self.scale + self.range.0)
    }

    /// The inverse of [`MinMaxScaler::transform`].
    pub fn inverse_transform(&self, x: &Array2<f32>) -> Result<Array2<f32>> {
        check_width("MinMaxScaler::inverse_transform", self.min.len(), x)?;
        Ok((x - self.range.0) / &self.scale + &self.min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn standard_scaler_matches_scikit_learn() {
        let train = array![[1.0f32, 10.0, 5.0], [3.0, 20.0, 5.0], [5.0, 60.0, 5.0]];
        let (s, t) = StandardScaler::fit_transform(&train).unwrap();
        // Column 0: mean 3, population std sqrt(8/3); column 2 constant.
        assert!((s.scale[0] - (8.0f32 / 3.0).sqrt()).abs() < 1e-6);
        assert_eq!(s.scale[2], 1.0);
        assert!(t.column(2).iter().all(|&v| v == 0.0));
        for col in t.columns().into_iter().take(2) {
            assert!(col.mean().unwrap().abs() < 1e-6);
        }
        // Fitted on train, applied to test.
        let test = array![[7.0f32, 30.0, 6.0]];
        let tt = s.transform(&test).unwrap();
        assert!((tt[(0, 0)] - 4.0 / (8.0f32 / 3.0).sqrt()).abs() < 1e-5);
        let back = s.inverse_transform(&tt).unwrap();
        assert!((back[(0, 1)] - 30.0).abs() < 1e-4);
        assert!(s.transform(&array![[1.0f32, 2.0]]).is_err());
    }

    #[test]
    fn min_max_scaler_maps_onto_the_range() {
        let train = array![[0.0f32, -1.0], [10.0, 1.0], [5.0, 1.0]];
        let s = MinMaxScaler::fit(&train).unwrap();
        let t = s.transform(&train).unwrap();
        assert_eq!(t.column(0).to_vec(), vec![0.0, 1.0, 0.5]);
        assert_eq!(t.column(1).to_vec(), vec![0.0, 1.0, 1.0]);
        let s = MinMaxScaler::fit_range(&train, (-1.0, 1.0)).unwrap();
        assert_eq!(
            s.transform(&array![[20.0f32, 0.0]]).unwrap(),
            array![[3.0f32, 0.0]]
        );
        let back = s.inverse_transform(&array![[3.0f32, 0.0]]).unwrap();
        assert_eq!(back, array![[20.0f32, 0.0]]);
        assert!(MinMaxScaler::fit_range(&train, (1.0, 1.0)).is_err());
        assert!(MinMaxScaler::fit(&array![[f32::NAN]]).is_err());
        assert!(MinMaxScaler::fit(&Array2::zeros((0, 2))).is_err());
    }
}
