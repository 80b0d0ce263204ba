//! `Dataset`: inputs and targets, checked once so training can trust them.

use crate::error::{Error, Result};
use crate::random::SeededRng;
use ndarray::{Array2, Axis};

/// Inputs `x: [n, features]` and targets `y: [n, outputs]` (or `[n, 1]` integer labels).
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    x: Array2<f32>,
    y: Array2<f32>,
}

impl Dataset {
    /// Checks that both have the same number of rows, at least one row and one column,
    /// and only finite values.
    pub fn new(x: Array2<f32>, y: Array2<f32>) -> Result<Self> {
        if x.nrows() != y.nrows() {
            return Err(Error::shape(
                "Dataset",
                format!("{} input rows but {} target rows", x.nrows(), y.nrows()),
            ));
        }
        if x.nrows() == 0 || x.ncols() == 0 || y.ncols() == 0 {
            return Err(Error::EmptyData(format!(
                "Dataset: inputs {:?} and targets {:?} must both have rows and columns",
                x.shape(),
                y.shape()
            )));
        }
        for (name, a) in [("inputs", &x), ("targets", &y)] {
            if let Some((i, v)) = a.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                let (r, c) = (i / a.ncols(), i % a.ncols());
                return Err(Error::NonFinite(format!("Dataset {name}[{r}, {c}] is {v}")));
            }
        }
        Ok(Dataset { x, y })
    }

    /// Inputs and a 1-D array of labels (or values), one per row: the targets become the
    /// `[n, 1]` column the losses read.
    pub fn with_labels(x: Array2<f32>, labels: ndarray::Array1<f32>) -> Result<Self> {
        Dataset::new(x, labels.insert_axis(Axis(1)))
    }

    /// From row-major vectors and the number of columns of each.
    pub fn from_vecs(x: Vec<f32>, x_cols: usize, y: Vec<f32>, y_cols: usize) -> Result<Self> {
        let to_array = |v: Vec<f32>, cols: usize, what: &str| {
            if cols == 0 || !v.len().is_multiple_of(cols) {
                return Err(Error::shape(
                    "Dataset",
                    format!("{} {what} values do not form rows of {cols}", v.len()),
                ));
            }
            Array2::from_shape_vec((v.len() / cols, cols), v)
                .map_err(|e| Error::shape("Dataset", e.to_string()))
        };
        Dataset::new(
            to_array(x, x_cols, "input")?,
            to_array(y, y_cols, "target")?,
        )
    }

    /// The number of rows (samples).
    pub fn len(&self) -> usize {
        self.x.nrows()
    }

    /// Always false: a `Dataset` holds at least one row.
    pub fn is_empty(&self) -> bool {
        self.x.nrows() == 0
    }

    /// The number of input columns (features).
    pub fn features(&self) -> usize {
        self.x.ncols()
    }

    /// The number of target columns (1 for integer labels).
    pub fn target_cols(&self) -> usize {
        self.y.ncols()
    }

    /// The inputs, `[rows, features]`.
    pub fn x(&self) -> &Array2<f32> {
        &self.x
    }

    /// The targets, `[rows, target_cols]`.
    pub fn y(&self) -> &Array2<f32> {
        &self.y
    }

    /// The rows at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Result<Dataset> {
        Dataset::new(
            self.x.select(Axis(0), indices),
            self.y.select(Axis(0), indices),
        )
    }

    /// Keras' `validation_split`: the LAST `fraction` of the rows (unshuffled) become the
    /// validation set. Both parts must be non-empty.
    pub fn split_tail(&self, fraction: f32) -> Result<(Dataset, Dataset)> {
        let n_val = self.validation_rows(fraction)?;
        let cut = self.len() - n_val;
        let head: Vec<usize> = (0..cut).collect();
        let tail: Vec<usize> = (cut..self.len()).collect();
        Ok((self.select(&head)?, self.select(&tail)?))
    }

    /// A random `fraction` of the rows (from `seed`) become the validation set.
    pub fn split_shuffled(&self, fraction: f32, seed: u64) -> Result<(Dataset, Dataset)> {
        let n_val = self.validation_rows(fraction)?;
        let order: Vec<usize> = SeededRng::new(seed)
            .permutation(self.len())
            .into_iter()
            .map(|i| i as usize)
            .collect();
        let (val, train) = order.split_at(n_val);
        Ok((self.select(train)?, self.select(val)?))
    }

    fn validation_rows(&self, fraction: f32) -> Result<usize> {
        if !(fraction > 0.0 && fraction < 1.0) {
            return Err(Error::Config(format!(
                "validation fraction {fraction} must lie strictly between 0 and 1"
            )));
        }
        // Keras: the training part is the first floor(n · (1 − fraction)) rows, in f64 of
        // the decimal the user wrote (0.2f32 widened directly would be 0.2000000030 and
        // shift the cut by a row); f32's shortest decimal form recovers it.
        let fraction: f64 = fraction.to_string().parse().unwrap_or(fraction as f64);
        let n_val = self.len() - (self.len() as f64 * (1.0 - fraction)).floor() as usize;
        if n_val == 0 || n_val == self.len() {
            return Err(Error::EmptyData(format!(
                "a validation fraction of {fraction} of {} rows leaves one side empty",
                self.len()
            )));
        }
        Ok(n_val)
    }

    /// Checks targets against a loss's expectations: integer labels below `classes`, or
    /// probabilities in [0, 1]. Returns a description of the first offending row.
    pub fn check_labels(&self, classes: usize) -> Result<()> {
        if self.y.ncols() != 1 {
            return Err(Error::shape(
                "Dataset",
                format!(
                    "class labels need one target column, got {}",
                    self.y.ncols()
                ),
            ));
        }
        match self
            .y
            .iter()
            .position(|&v| v < 0.0 || v.fract() != 0.0 || v as usize >= classes)
        {
            None => Ok(()),
            Some(r) => Err(Error::Config(format!(
                "target row {r} is {}, not a class label in 0..{classes}",
                self.y[(r, 0)]
            ))),
        }
    }

    /// Checks that every target lies in [0, 1] (binary cross-entropy).
    pub fn check_probabilities(&self) -> Result<()> {
        match self.y.iter().position(|&v| !(0.0..=1.0).contains(&v)) {
            None => Ok(()),
            Some(i) => Err(Error::Config(format!(
                "target {} (row {}) is outside [0, 1], which binary cross-entropy needs",
                self.y.as_slice().map_or(f32::NAN, |s| s[i]),
                i / self.y.ncols()
            ))),
        }
    }
}
