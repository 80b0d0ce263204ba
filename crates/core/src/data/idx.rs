//! MNIST's IDX files (plain or gzip-compressed): `train-images-idx3-ubyte`,
//! `train-labels-idx1-ubyte` and their `t10k` twins, or any IDX file of unsigned bytes.
//!
//! The format: two zero bytes, a type code (0x08 = u8), the number of dimensions, each
//! dimension as a big-endian u32, then the values row-major.

use super::Dataset;
use crate::error::{Error, Result};
use ndarray::{Array1, Array2};
use std::io::Read;
use std::path::Path;

/// An IDX file's dimensions and values (as f32, unscaled: 0–255 for bytes).
#[derive(Clone, Debug, PartialEq)]
pub struct Idx {
    /// The dimensions from the header, e.g. `[60000, 28, 28]` for MNIST's training images.
    pub dims: Vec<usize>,
    /// The values row-major, unscaled (0–255 for bytes).
    pub values: Vec<f32>,
}

fn corrupt(path: &Path, detail: impl Into<String>) -> Error {
    Error::Corrupt {
        path: path.display().to_string(),
        detail: detail.into(),
    }
}

/// Reads an IDX file of unsigned bytes; a name ending in `.gz` is decompressed first.
pub fn read_idx(path: impl AsRef<Path>) -> Result<Idx> {
    let path = path.as_ref();
    let raw = std::fs::read(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        detail: e.to_string(),
    })?;
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| corrupt(path, format!("not a readable gzip file: {e}")))?;
        out
    } else {
        raw
    };
    parse_idx(&bytes).map_err(|detail| corrupt(path, detail))
}

fn parse_idx(bytes: &[u8]) -> std::result::Result<Idx, String> {
    let [0, 0, kind, rank, ..] = *bytes else {
        return Err(format!(
            "{} bytes: too short for an IDX header",
            bytes.len()
        ));
    };
    if kind != 0x08 {
        return Err(format!(
            "type code 0x{kind:02x}: only unsigned bytes (0x08) are supported"
        ));
    }
    let rank = rank as usize;
    let header = 4 + 4 * rank;
    let dims: Vec<usize> = bytes
        .get(4..header)
        .ok_or_else(|| format!("the header of {rank} dimensions is cut off"))?
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| format!("dimensions {dims:?} overflow"))?;
    let body = &bytes[header..];
    if body.len() != count {
        return Err(format!(
            "dimensions {dims:?} need {count} values, the file holds {}",
            body.len()
        ));
    }
    Ok(Idx {
        dims,
        values: body.iter().map(|&b| b as f32).collect(),
    })
}

/// Images `[n, rows · cols]` scaled to [0, 1] (IDX of rank 3).
pub fn read_idx_images(path: impl AsRef<Path>) -> Result<Array2<f32>> {
    let path = path.as_ref();
    let idx = read_idx(path)?;
    let [n, rows, cols] = idx.dims[..] else {
        return Err(corrupt(
            path,
            format!("images need 3 dimensions, the file has {:?}", idx.dims),
        ));
    };
    let scaled = idx.values.into_iter().map(|v| v / 255.0).collect();
    Array2::from_shape_vec((n, rows * cols), scaled).map_err(|e| corrupt(path, e.to_string()))
}

/// Labels `[n]` (IDX of rank 1).
pub fn read_idx_labels(path: impl AsRef<Path>) -> Result<Array1<f32>> {
    let path = path.as_ref();
    let idx = read_idx(path)?;
    if idx.dims.len() != 1 {
        return Err(corrupt(
            path,
            format!("labels need 1 dimension, the file has {:?}", idx.dims),
        ));
    }
    Ok(Array1::from(idx.values))
}

impl Dataset {
    /// MNIST-style images and labels: inputs `[n, rows · cols]` in [0, 1], one label
    /// per row.
    pub fn from_idx(images: impl AsRef<Path>, labels: impl AsRef<Path>) -> Result<Dataset> {
        Dataset::with_labels(read_idx_images(images)?, read_idx_labels(labels)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// An IDX file of bytes with these dimensions (values 0, 1, 2...).
    fn idx_bytes(dims: &[u32]) -> Vec<u8> {
        let mut out = vec![0, 0, 0x08, dims.len() as u8];
        for d in dims {
            out.extend(d.to_be_bytes());
        }
        let count: u32 = dims.iter().product();
        out.extend((0..count).map(|i| (i % 256) as u8));
        out
    }

    fn file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("downhill-idx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn images_and_labels_make_a_dataset_plain_or_gzipped() {
        let images = file("img-idx3-ubyte", &idx_bytes(&[3, 2, 2]));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut labels = idx_bytes(&[3]);
        labels[4 + 4..].copy_from_slice(&[7, 0, 9]);
        gz.write_all(&labels).unwrap();
        let labels = file("lbl-idx1-ubyte.gz", &gz.finish().unwrap());
        let d = Dataset::from_idx(&images, &labels).unwrap();
        assert_eq!(d.features(), 4);
        assert_eq!(d.x()[(2, 3)], 11.0 / 255.0);
        assert_eq!(d.y().as_slice().unwrap(), &[7.0, 0.0, 9.0]);
    }

    #[test]
    fn truncated_or_foreign_files_are_corrupt_not_a_panic() {
        let mut bytes = idx_bytes(&[2, 3]);
        for cut in [0, 3, 5, 9, bytes.len() - 1] {
            let p = file(&format!("cut{cut}"), &bytes[..cut]);
            assert!(
                matches!(read_idx(&p), Err(Error::Corrupt { .. })),
                "cut {cut}"
            );
        }
        bytes[2] = 0x0d; // floats
        let p = file("float", &bytes);
        let e = read_idx(&p).unwrap_err().to_string();
        assert!(e.contains("0x0d"), "{e}");
        let p = file(
            "huge",
            &[
                0, 0, 8, 4, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
                255, 255,
            ],
        );
        assert!(read_idx(&p).is_err());
        let p = file("notgz.gz", b"plain");
        assert!(matches!(read_idx(&p), Err(Error::Corrupt { .. })));
        let p = file("rank2-idx", &idx_bytes(&[2, 2]));
        assert!(read_idx_images(&p).is_err());
    }
}
