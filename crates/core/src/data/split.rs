//! `train_test_split`, as scikit-learn's: a seeded shuffle, optionally stratified by label.

use super::Dataset;
use crate::error::{Error, Result};
use crate::random::SeededRng;
use ndarray::{Array2, Axis};
use std::collections::BTreeMap;

/// Options of [`train_test_split`]: the test fraction (default 0.25, scikit-learn's), the
/// shuffle seed, and whether to stratify by the (single-column) targets.
#[derive(Clone, Copy, Debug)]
pub struct Split {
    /// The fraction of rows in the test part, strictly between 0 and 1 (default 0.25).
    pub test_size: f32,
    /// The shuffle's seed (scikit-learn's `random_state`; default 0).
    pub seed: u64,
    /// Keep each class's share in both parts (targets must be one label column).
    pub stratify: bool,
}

impl Default for Split {
    fn default() -> Self {
        Split {
            test_size: 0.25,
            seed: 0,
            stratify: false,
        }
    }
}

/// The four arrays `(x_train, x_test, y_train, y_test)`.
pub type SplitArrays = (Array2<f32>, Array2<f32>, Array2<f32>, Array2<f32>);

/// Splits rows into a training and a test part. The test part has ⌈n · test_size⌉ rows
/// (scikit-learn's rounding); stratified, each class contributes its rounded share
/// (at least one row of a class with two or more rows).
pub fn train_test_split(x: &Array2<f32>, y: &Array2<f32>, split: Split) -> Result<SplitArrays> {
    let n = x.nrows();
    if y.nrows() != n {
        return Err(Error::shape(
            "train_test_split",
            format!("{n} input rows but {} target rows", y.nrows()),
        ));
    }
    if !(split.test_size > 0.0 && split.test_size < 1.0) {
        return Err(Error::Config(format!(
            "train_test_split: test_size {} must lie strictly between 0 and 1",
            split.test_size
        )));
    }
    let mut rng = SeededRng::new(split.seed);
    let order: Vec<usize> = rng.permutation(n).into_iter().map(|i| i as usize).collect();
    let test: Vec<usize> = if split.stratify {
        if y.ncols() != 1 {
            return Err(Error::shape(
                "train_test_split",
                format!("stratifying needs one label column, got {}", y.ncols()),
            ));
        }
        let mut by_class: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for &i in &order {
            by_class.entry(y[(i, 0)].to_bits()).or_default().push(i);
        }
        by_class
            .values()
            .flat_map(|rows| {
                let n_c = rows.len();
                let mut share = (n_c as f64 * split.test_size as f64).round() as usize;
                if n_c >= 2 {
                    share = share.clamp(1, n_c - 1); // each part sees the class
                }
                rows[..share.min(n_c)].to_vec()
            })
            .collect()
    } else {
        let k = (n as f64 * split.test_size as f64).ceil() as usize;
        order[..k.min(n)].to_vec()
    };
    let is_test = {
        let mut mark = vec![false; n];
        test.iter().for_each(|&i| mark[i] = true);
        mark
    };
    // Both parts in shuffled order.
    let train: Vec<usize> = order.iter().copied().filter(|&i| !is_test[i]).collect();
    let test_sorted: Vec<usize> = order.iter().copied().filter(|&i| is_test[i]).collect();
    if train.is_empty() || test_sorted.is_empty() {
        return Err(Error::EmptyData(format!(
            "train_test_split: a test_size of {} of {n} rows leaves one side empty",
            split.test_size
        )));
    }
    Ok((
        x.select(Axis(0), &train),
        x.select(Axis(0), &test_sorted),
        y.select(Axis(0), &train),
        y.select(Axis(0), &test_sorted),
    ))
}

impl Dataset {
    /// [`train_test_split`] of this data set's rows, as two data sets `(train, test)`.
    pub fn train_test_split(&self, split: Split) -> Result<(Dataset, Dataset)> {
        let (xtr, xte, ytr, yte) = train_test_split(self.x(), self.y(), split)?;
        Ok((Dataset::new(xtr, ytr)?, Dataset::new(xte, yte)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labelled(n: usize, classes: usize) -> (Array2<f32>, Array2<f32>) {
        let x = Array2::from_shape_fn((n, 2), |(r, c)| (r * 2 + c) as f32);
        let y = Array2::from_shape_fn((n, 1), |(r, _)| (r % classes) as f32);
        (x, y)
    }

    #[test]
    fn sizes_follow_scikit_learn_and_rows_stay_paired() {
        let (x, y) = labelled(10, 2);
        let (xtr, xte, ytr, yte) = train_test_split(&x, &y, Split::default()).unwrap();
        assert_eq!((xtr.nrows(), xte.nrows()), (7, 3)); // ceil(10 · 0.25) = 3
        for (xr, yr) in xte.rows().into_iter().zip(yte.rows()) {
            assert_eq!(((xr[0] / 2.0) as usize % 2) as f32, yr[0]);
        }
        let mut all: Vec<f32> = xtr
            .column(0)
            .iter()
            .chain(xte.column(0).iter())
            .copied()
            .collect();
        all.sort_by(f32::total_cmp);
        assert_eq!(all, (0..10).map(|r| (r * 2) as f32).collect::<Vec<_>>());
        assert_eq!(ytr.nrows(), 7);
    }

    #[test]
    fn stratified_keeps_each_class_share_and_seeds_repeat() {
        let (x, mut y) = labelled(100, 4);
        // Imbalanced: class 3 only 10 rows.
        for r in 0..100 {
            y[(r, 0)] = if r < 10 { 3.0 } else { (r % 3) as f32 };
        }
        let s = Split {
            test_size: 0.2,
            seed: 4,
            stratify: true,
        };
        let (_, _, _, yte) = train_test_split(&x, &y, s).unwrap();
        let count = |c: f32| yte.iter().filter(|&&v| v == c).count();
        assert_eq!(count(3.0), 2);
        assert_eq!(count(0.0) + count(1.0) + count(2.0), 18);
        assert_eq!(
            train_test_split(&x, &y, s).unwrap(),
            train_test_split(&x, &y, s).unwrap()
        );
        assert_ne!(
            train_test_split(&x, &y, s).unwrap().1,
            train_test_split(&x, &y, Split { seed: 5, ..s }).unwrap().1
        );
    }

    #[test]
    fn bad_sizes_are_errors() {
        let (x, y) = labelled(4, 2);
        for t in [0.0, 1.0, -0.5, f32::NAN] {
            let s = Split {
                test_size: t,
                ..Split::default()
            };
            assert!(train_test_split(&x, &y, s).is_err(), "{t}");
        }
        assert!(train_test_split(
            &x,
            &y.slice(ndarray::s![..3, ..]).to_owned(),
            Split::default()
        )
        .is_err());
    }
}
