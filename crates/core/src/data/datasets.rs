//! Small real data sets that ship with downhill (embedded in the library, so examples and
//! tests need no download and no path): see `data/*/README.md` for source and licence.

use super::Dataset;
use crate::error::{Error, Result};
use flate2::read::GzDecoder;
use std::io::Read;

/// The compressed CSV of `data/digits/` (57 KB).
const DIGITS_CSV_GZ: &[u8] = include_bytes!("../../data/digits/digits.csv.gz");

/// Pixels per digit image (8×8).
pub const DIGITS_PIXELS: usize = 64;

/// The 1,797 8×8 images of the UCI optical digits (scikit-learn's `load_digits`): `x` is
/// `[1797, 64]`, row-major 8×8 pixels with integer values 0..16 as in the file (divide by
/// 16 for [0, 1]); `y` is `[1797, 1]` labels 0..9 in file order. CC BY 4.0 (UCI).
pub fn digits() -> Result<Dataset> {
    let corrupt = |detail: String| Error::Corrupt {
        path: "embedded data/digits/digits.csv.gz".into(),
        detail,
    };
    let mut text = String::new();
    GzDecoder::new(DIGITS_CSV_GZ)
        .read_to_string(&mut text)
        .map_err(|e| corrupt(e.to_string()))?;
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for (line, row) in text.lines().enumerate() {
        let values = row
            .split(',')
            .map(|v| v.trim().parse::<f32>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| corrupt(format!("line {}: {e}", line + 1)))?;
        if values.len() != DIGITS_PIXELS + 1 {
            return Err(corrupt(format!(
                "line {} has {} values, expected {}",
                line + 1,
                values.len(),
                DIGITS_PIXELS + 1
            )));
        }
        x.extend_from_slice(&values[..DIGITS_PIXELS]);
        y.push(values[DIGITS_PIXELS]);
    }
    Dataset::from_vecs(x, DIGITS_PIXELS, y, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_has_every_image_and_balanced_labels() {
        let d = digits().unwrap();
        assert_eq!((d.len(), d.features(), d.target_cols()), (1797, 64, 1));
        assert!(d
            .x()
            .iter()
            .all(|&v| (0.0..=16.0).contains(&v) && v.fract() == 0.0));
        let mut counts = [0usize; 10];
        for &label in d.y().iter() {
            counts[label as usize] += 1;
        }
        // The UCI description: 174–183 images per class in this part of the set.
        assert!(
            counts.iter().all(|&c| (174..=183).contains(&c)),
            "{counts:?}"
        );
        // The first image is a 0 (the file's first line).
        assert_eq!(d.y()[[0, 0]], 0.0);
        assert_eq!(
            &d.x().row(0).to_vec()[..8],
            &[0., 0., 5., 13., 9., 1., 0., 0.]
        );
    }
}
