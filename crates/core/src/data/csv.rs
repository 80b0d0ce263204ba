//! Loading a CSV file into a [`Dataset`] (the `csv` crate): a header or none, any
//! delimiter, target columns by name or index, and an error naming the line and column of
//! a value that is not a number.

use super::Dataset;
use crate::error::{Error, Result};
use ndarray::Array2;
use std::path::{Path, PathBuf};

/// A column by its header name or its 0-based index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Column {
    /// The column whose header is this name (needs a header row).
    Name(String),
    /// The column at this 0-based position.
    Index(usize),
}

impl From<&str> for Column {
    fn from(name: &str) -> Self {
        Column::Name(name.to_string())
    }
}

impl From<usize> for Column {
    fn from(i: usize) -> Self {
        Column::Index(i)
    }
}

/// How to read a CSV file: `CsvOptions::new().target("label")`, then
/// [`Dataset::from_csv`]. Defaults: a header row, `,` as delimiter, the LAST column as
/// the target, every other column an input feature.
#[derive(Clone, Debug)]
pub struct CsvOptions {
    has_header: bool,
    delimiter: u8,
    targets: Vec<Column>,
    /// Columns read as neither input nor target.
    skip: Vec<Column>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions::new()
    }
}

impl CsvOptions {
    /// The defaults: a header row, `,` as delimiter, the last column the target.
    pub fn new() -> Self {
        CsvOptions {
            has_header: true,
            delimiter: b',',
            targets: Vec::new(),
            skip: Vec::new(),
        }
    }
    /// Whether the first row names the columns (default true).
    pub fn has_header(mut self, yes: bool) -> Self {
        self.has_header = yes;
        self
    }
    /// The field delimiter, e.g. `b';'` or `b'\t'` (default `b','`).
    pub fn delimiter(mut self, d: u8) -> Self {
        self.delimiter = d;
        self
    }
    /// Adds a target column (several make a multi-output target, in the order given).
    pub fn target(mut self, column: impl Into<Column>) -> Self {
        self.targets.push(column.into());
        self
    }
    /// Leaves a column out of both inputs and targets (an id, a date...).
    pub fn skip(mut self, column: impl Into<Column>) -> Self {
        self.skip.push(column.into());
        self
    }
}

fn corrupt(path: &Path, detail: String) -> Error {
    Error::Corrupt {
        path: path.display().to_string(),
        detail,
    }
}

/// The index of `column` among `names` (header names, or none without a header).
fn resolve(path: &Path, column: &Column, names: &[String], width: usize) -> Result<usize> {
    match column {
        Column::Index(i) if *i < width => Ok(*i),
        Column::Index(i) => Err(Error::Config(format!(
            "{}: column {i} does not exist (rows have {width} fields)",
            path.display()
        ))),
        Column::Name(n) => names.iter().position(|h| h == n).ok_or_else(|| {
            Error::Config(format!(
                "{}: no column named {n:?} (the header has {names:?})",
                path.display()
            ))
        }),
    }
}

impl Dataset {
    /// Reads a CSV file of numbers into inputs and targets (see [`CsvOptions`]).
    pub fn from_csv(path: impl AsRef<Path>, options: &CsvOptions) -> Result<Dataset> {
        let path: PathBuf = path.as_ref().to_path_buf();
        let mut reader = ::csv::ReaderBuilder::new()
            .has_headers(options.has_header)
            .delimiter(options.delimiter)
            .flexible(true) // ragged rows get this module's message, with the line
            .from_path(&path)
            .map_err(|e| Error::Io {
                path: path.display().to_string(),
                detail: e.to_string(),
            })?;
        let names: Vec<String> = if options.has_header {
            reader
                .headers()
                .map_err(|e| corrupt(&path, e.to_string()))?
                .iter()
                .map(|h| h.trim().to_string())
                .collect()
        } else {
            Vec::new()
        };
        let mut rows: Vec<Vec<f32>> = Vec::new();
        let mut width = names.len();
        for (i, record) in reader.records().enumerate() {
            let record = record.map_err(|e| corrupt(&path, e.to_string()))?;
            let line = record.position().map_or(i + 1, |p| p.line() as usize);
            if width == 0 {
                width = record.len();
            }
            if record.len() != width {
                return Err(corrupt(
                    &path,
                    format!("line {line} has {} fields, not {width}", record.len()),
                ));
            }
            let values = record
                .iter()
                .enumerate()
                .map(|(c, field)| {
                    field.trim().parse::<f32>().map_err(|_| {
                        let column = names
                            .get(c)
                            .map_or(format!("{c}"), |n| format!("{c} ({n:?})"));
                        corrupt(
                            &path,
                            format!("line {line}, column {column}: {field:?} is not a number"),
                        )
                    })
                })
                .collect::<Result<Vec<f32>>>()?;
            rows.push(values);
        }
        if rows.is_empty() {
            return Err(Error::EmptyData(format!(
                "{}: no data rows",
                path.display()
            )));
        }
        let targets: Vec<usize> = if options.targets.is_empty() {
            vec![width - 1]
        } else {
            options
                .targets
                .iter()
                .map(|c| resolve(&path, c, &names, width))
                .collect::<Result<_>>()?
        };
        let skipped: Vec<usize> = options
            .skip
            .iter()
            .map(|c| resolve(&path, c, &names, width))
            .collect::<Result<_>>()?;
        let inputs: Vec<usize> = (0..width)
            .filter(|c| !targets.contains(c) && !skipped.contains(c))
            .collect();
        let take = |cols: &[usize]| {
            Array2::from_shape_fn((rows.len(), cols.len()), |(r, c)| rows[r][cols[c]])
        };
        Dataset::new(take(&inputs), take(&targets))
            .map_err(|e| e.context(&path.display().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("downhill-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn reads_inputs_and_the_last_column_as_target_by_default() {
        let p = file("a.csv", "x1,x2,y\n1,2,0\n3.5,-4,1\n");
        let d = Dataset::from_csv(&p, &CsvOptions::new()).unwrap();
        assert_eq!(d.x().as_slice().unwrap(), &[1.0, 2.0, 3.5, -4.0]);
        assert_eq!(d.y().as_slice().unwrap(), &[0.0, 1.0]);
    }

    #[test]
    fn targets_by_name_skips_and_other_delimiters() {
        let p = file("b.csv", "id;label;a;b\n7;1;0.5;2\n8;0;1.5;3\n");
        let o = CsvOptions::new().delimiter(b';').target("label").skip("id");
        let d = Dataset::from_csv(&p, &o).unwrap();
        assert_eq!(d.x().as_slice().unwrap(), &[0.5, 2.0, 1.5, 3.0]);
        assert_eq!(d.y().as_slice().unwrap(), &[1.0, 0.0]);
        let p = file("c.csv", "1\t2\t3\n4\t5\t6\n");
        let o = CsvOptions::new()
            .has_header(false)
            .delimiter(b'\t')
            .target(0usize);
        let d = Dataset::from_csv(&p, &o).unwrap();
        assert_eq!(d.y().as_slice().unwrap(), &[1.0, 4.0]);
        assert_eq!(d.features(), 2);
    }

    #[test]
    fn a_bad_value_names_its_line_and_column() {
        let p = file("d.csv", "a,b,y\n1,2,0\n3,abc,1\n");
        let e = Dataset::from_csv(&p, &CsvOptions::new()).unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("line 3, column 1 (\"b\"): \"abc\" is not a number"),
            "{m}"
        );
        let p = file("e.csv", "a,b,y\n1,2,0\n3,4\n");
        let m = Dataset::from_csv(&p, &CsvOptions::new())
            .unwrap_err()
            .to_string();
        assert!(m.contains("line 3"), "{m}");
        let good = file("g.csv", "a,y\n1,0\n");
        let m = Dataset::from_csv(&good, &CsvOptions::new().target("z"))
            .unwrap_err()
            .to_string();
        assert!(m.contains("no column named \"z\""), "{m}");
        let p = file("f.csv", "a,y\n1,nan\n");
        assert!(matches!(
            Dataset::from_csv(&p, &CsvOptions::new()),
            Err(Error::NonFinite(_))
        ));
        assert!(matches!(
            Dataset::from_csv("/nonexistent/x.csv", &CsvOptions::new()),
            Err(Error::Io { .. })
        ));
    }
}
