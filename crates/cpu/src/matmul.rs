//! Matrix products through the `gemm` crate (sarah-ek's, as in candle and faer). It picks its
//! kernel at run time (AVX-512 where the CPU has it — the crate's `x86-v4` feature only
//! compiles that kernel in —, else AVX2+FMA, else scalar), so one build runs on any x86-64,
//! and reads operands through arbitrary strides, so transposes are never copied. It replaced
//! ndarray's matrixmultiply, which has no AVX-512 path (figures in docs/PERFORMANCE.md).

use crate::buffer::filled;
use crate::parallel;
use downhill_core::{Error, MatmulDims, Result};
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

/// Multiply-adds below which a product stays on the calling thread. `gemm`'s own cut-off
/// (48·48·256 = 0.59 M per block) still splits W2's `n = 10` products (0.66 M), which ran
/// 1.3–1.6× slower on two threads than on one here. Larger ones keep both cores: on a
/// loaded machine that was ±15 % either way, on a quiet one the second core is free.
const MIN_THREADED: usize = 1 << 22;

/// The crate's threading (its rayon pool) over all the backend's cores, for large products.
/// No other pool runs beside it: the optimizer's threads only run between products.
fn parallelism(m: usize, n: usize, k: usize) -> gemm::Parallelism {
    match parallel::cores() {
        n_cores if n_cores > 1 && m.saturating_mul(n).saturating_mul(k) >= MIN_THREADED => {
            gemm::Parallelism::Rayon(n_cores)
        }
        _ => gemm::Parallelism::None,
    }
}

/// `C = alpha·A·B + beta·C` on views of any strides, as ndarray's `general_mat_mul` (which
/// it replaces): `beta == 0` overwrites `C` without reading it, so NaN already in `C` does
/// not leak into the result.
pub fn general_mat_mul(
    alpha: f32,
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    beta: f32,
    c: &mut ArrayViewMut2<'_, f32>,
) -> Result<()> {
    let ((m, k), (k2, n)) = (a.dim(), b.dim());
    if k != k2 || c.dim() != (m, n) {
        return Err(Error::shape(
            "linear",
            format!(
                "[{m}, {k}]·[{k2}, {n}] cannot be written to {:?}",
                c.shape()
            ),
        ));
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        // An empty sum is zero; `gemm` is not asked about it.
        c.mapv_inplace(|v| if beta == 0.0 { 0.0 } else { beta * v });
        return Ok(());
    }
    let sc = [c.strides()[0], c.strides()[1]];
    // SAFETY: `c` is a view valid for its dims and strides (ndarray guarantees it), of the
    // dims checked above, borrowed mutably, so it cannot alias `a` or `b`.
    unsafe { gemm_raw(c.as_mut_ptr(), sc, (a, b), alpha, beta) };
    Ok(())
}

/// `dst = alpha·A·B + beta·dst` through `gemm`, `dst` given by pointer and row and column
/// strides. With `beta == 0` `dst` is only written, never read.
///
/// # Safety
///
/// `dst` must be valid for writes (and, when `beta != 0`, reads) of an `[m, n]` matrix with
/// the strides given, `m, n` the rows of `a` and the columns of `b`, `k` their shared
/// dimension (`a.ncols() == b.nrows()`, all nonzero), and must not overlap `a` or `b`.
unsafe fn gemm_raw(
    dst: *mut f32,
    dst_strides: [isize; 2],
    (a, b): (&ArrayView2<'_, f32>, &ArrayView2<'_, f32>),
    alpha: f32,
    beta: f32,
) {
    let ((m, k), n) = (a.dim(), b.ncols());
    let (sa, sb) = (a.strides(), b.strides());
    // `gemm`'s `alpha` scales the old `dst` and `beta` the product.
    gemm::gemm(
        m,
        n,
        k,
        dst,
        dst_strides[1],
        dst_strides[0],
        beta != 0.0,
        a.as_ptr(),
        sa[1],
        sa[0],
        b.as_ptr(),
        sb[1],
        sb[0],
        beta,
        alpha,
        false,
        false,
        false,
        parallelism(m, n, k),
    );
}

/// `C = op(A)·op(B)` for row-major operands, without copying transposes: a transposed
/// operand is read through swapped strides. The dims are those checked by
/// [`MatmulDims::check`]; the result is allocated fallibly (an error, not an abort, when
/// memory runs out) and the GEMM writes into it through a view.
pub fn matmul(a: &[f32], b: &[f32], d: MatmulDims) -> Result<Vec<f32>> {
    let len = d.m * d.n;
    if d.m == 0 || d.n == 0 || d.k == 0 {
        return filled("linear", len, 0.0f32); // an empty sum is zero
    }
    let av = operand(a, d.m, d.k, d.trans_a)?;
    let bv = operand(b, d.k, d.n, d.trans_b)?;
    // Not zeroed first: the product overwrites every element (zeroing was 5 % of W2).
    let mut c: Vec<f32> = crate::buffer::alloc("linear", len)?;
    let n = d.n as isize;
    // SAFETY: `c` has capacity for the row-major `[m, n]` result (strides `n`, 1), which
    // `gemm` with `beta == 0` writes whole without reading; `c` is new, so it overlaps
    // neither operand; the operands' dims agree (`operand` built them from checked dims,
    // all nonzero here). Every element is written before `set_len` exposes them.
    unsafe {
        gemm_raw(c.as_mut_ptr(), [n, 1], (&av, &bv), 1.0, 0.0);
        c.set_len(len);
    }
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

    #[test]
    fn beta_accumulates_and_zero_beta_ignores_old_values() {
        let a = ArrayView2::from_shape((1, 2), &[1.0f32, 2.0][..]).unwrap();
        let b = ArrayView2::from_shape((2, 1), &[3.0f32, 4.0][..]).unwrap();
        let mut old = [10.0f32];
        let mut c = ArrayViewMut2::from_shape((1, 1), &mut old[..]).unwrap();
        general_mat_mul(2.0, &a, &b, 1.0, &mut c).unwrap();
        assert_eq!(old, [32.0]);
        let mut nan = [f32::NAN];
        let mut c = ArrayViewMut2::from_shape((1, 1), &mut nan[..]).unwrap();
        general_mat_mul(1.0, &a, &b, 0.0, &mut c).unwrap();
        assert_eq!(nan, [11.0]);
    }

    #[test]
    fn mismatched_views_are_an_error() {
        let a = ArrayView2::from_shape((1, 2), &[1.0f32, 2.0][..]).unwrap();
        let mut out = [0.0f32; 2];
        let mut c = ArrayViewMut2::from_shape((1, 2), &mut out[..]).unwrap();
        assert!(general_mat_mul(1.0, &a, &a, 0.0, &mut c).is_err());
    }
}
