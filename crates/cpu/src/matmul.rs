//! Matrix products through ndarray's GEMM (matrixmultiply, threaded for large sizes).

use crate::buffer::filled;
use downhill_core::{Error, MatmulDims, Result};
use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2, ShapeBuilder};

fn not_a_matrix(len: usize, rows: usize, cols: usize, e: ndarray::ShapeError) -> Error {
    Error::shape(
        "linear",
        format!("{len} elements cannot be viewed as [{rows}, {cols}]: {e}"),
    )
}

/// op(X) as a `rows x cols` view of row-major `data`, stored as is or transposed.
fn operand(data: &[f32], rows: usize, cols: usize, trans: bool) -> Result<ArrayView2<'_, f32>> {
    let strides = if trans { (1, rows) } else { (cols, 1) };
    ArrayView2::from_shape((rows, cols).strides(strides), data)
        .map_err(|e| not_a_matrix(data.len(), rows, cols, e))
}

/// `C = op(A)·op(B)` for row-major operands, without copying transposes: a transposed
/// operand is read through swapped strides. The dims are those checked by
/// [`MatmulDims::check`]; the result is allocated fallibly (an error, not an abort, when
/// memory runs out) and the GEMM writes into it through a view.
pub fn matmul(a: &[f32], b: &[f32], d: MatmulDims) -> Result<Vec<f32>> {
    let mut c = filled("linear", d.m * d.n, 0.0f32)?;
    if d.m == 0 || d.n == 0 || d.k == 0 {
        return Ok(c); // an empty sum is zero; ndarray wants no empty views
    }
    let av = operand(a, d.m, d.k, d.trans_a)?;
    let bv = operand(b, d.k, d.n, d.trans_b)?;
    let len = c.len();
    let mut cv = ArrayViewMut2::from_shape((d.m, d.n), &mut c)
        .map_err(|e| not_a_matrix(len, d.m, d.n, e))?;
    general_mat_mul(1.0, &av, &bv, 0.0, &mut cv);
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposed_operands_read_through_strides() {
        // A = [[1,2],[3,4]], B = [[5,6],[7,8]]
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [5.0, 6.0, 7.0, 8.0];
        let dims = |ta, tb| MatmulDims {
            m: 2,
            k: 2,
            n: 2,
            trans_a: ta,
            trans_b: tb,
        };
        assert_eq!(
            matmul(&a, &b, dims(false, false)).unwrap(),
            vec![19.0, 22.0, 43.0, 50.0]
        );
        assert_eq!(
            matmul(&a, &b, dims(true, false)).unwrap(),
            vec![26.0, 30.0, 38.0, 44.0]
        );
        assert_eq!(
            matmul(&a, &b, dims(false, true)).unwrap(),
            vec![17.0, 23.0, 39.0, 53.0]
        );
    }
}
