//! How one epoch visits the data: the order of rows and where batches start.

use crate::error::{Error, Result};
use crate::random::SeededRng;

/// The three modes of gradient descent are batch sizes: the whole set (batch GD), one row
/// (stochastic GD), or `k` rows (mini-batch GD).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Batching {
    /// All rows in one batch: batch gradient descent.
    Full,
    /// One row per step: stochastic gradient descent.
    Stochastic,
    /// `k` rows per step: mini-batch gradient descent.
    MiniBatch(usize),
}

impl Batching {
    /// The batch size for a data set of `rows` rows.
    pub fn size(&self, rows: usize) -> Result<usize> {
        match *self {
            Batching::Full => Ok(rows.max(1)),
            Batching::Stochastic => Ok(1),
            Batching::MiniBatch(0) => Err(Error::Config("batch size must be at least 1".into())),
            Batching::MiniBatch(k) => Ok(k.min(rows.max(1))),
        }
    }
}

impl From<usize> for Batching {
    fn from(k: usize) -> Self {
        Batching::MiniBatch(k)
    }
}

/// One epoch's row order and batch boundaries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchPlan {
    /// Row indices in visiting order.
    pub order: Vec<u32>,
    /// `(start, count)` into `order` for each batch.
    pub batches: Vec<(usize, usize)>,
}

impl BatchPlan {
    /// Plans epoch `epoch` over `rows` rows. With `shuffle`, the order is a permutation
    /// drawn from `(seed, epoch)`, so runs with the same seed repeat exactly. With
    /// `drop_last`, a final batch smaller than `batch_size` is skipped.
    pub fn new(
        rows: usize,
        batch_size: usize,
        shuffle: bool,
        seed: u64,
        epoch: usize,
        drop_last: bool,
    ) -> Result<Self> {
        if rows == 0 {
            return Err(Error::EmptyData("no rows to batch".into()));
        }
        if batch_size == 0 {
            return Err(Error::Config("batch size must be at least 1".into()));
        }
        if rows > u32::MAX as usize {
            return Err(Error::TooLarge(format!(
                "{rows} rows exceed the 2^32 index range"
            )));
        }
        let order = if shuffle {
            let mixed = seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            SeededRng::new(mixed).permutation(rows)
        } else {
            (0..rows as u32).collect()
        };
        let batches: Vec<(usize, usize)> = (0..rows)
            .step_by(batch_size)
            .map(|start| (start, batch_size.min(rows - start)))
            .filter(|&(_, count)| !drop_last || count == batch_size)
            .collect();
        if batches.is_empty() {
            return Err(Error::EmptyData(format!(
                "drop_last with batch size {batch_size} leaves no batch of {rows} rows"
            )));
        }
        Ok(BatchPlan { order, batches })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_cover_every_row_once() {
        for batch in [1, 7, 32, 100, 1000] {
            let plan = BatchPlan::new(100, batch, true, 3, 0, false).unwrap();
            let covered: usize = plan.batches.iter().map(|b| b.1).sum();
            assert_eq!(covered, 100);
            let mut sorted = plan.order.clone();
            sorted.sort();
            assert_eq!(sorted, (0..100).collect::<Vec<u32>>());
        }
    }

    #[test]
    fn drop_last_skips_the_short_batch() {
        let plan = BatchPlan::new(10, 4, false, 0, 0, true).unwrap();
        assert_eq!(plan.batches, vec![(0, 4), (4, 4)]);
        assert!(BatchPlan::new(3, 4, false, 0, 0, true).is_err());
    }

    #[test]
    fn shuffles_differ_by_epoch_and_repeat_by_seed() {
        let a = BatchPlan::new(50, 5, true, 9, 0, false).unwrap();
        let b = BatchPlan::new(50, 5, true, 9, 1, false).unwrap();
        let c = BatchPlan::new(50, 5, true, 9, 0, false).unwrap();
        assert_ne!(a.order, b.order);
        assert_eq!(a, c);
    }

    #[test]
    fn batching_sizes() {
        assert_eq!(Batching::Full.size(80).unwrap(), 80);
        assert_eq!(Batching::Stochastic.size(80).unwrap(), 1);
        assert_eq!(Batching::MiniBatch(32).size(80).unwrap(), 32);
        assert!(Batching::MiniBatch(0).size(80).is_err());
    }
}
