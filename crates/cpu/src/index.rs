//! Region copies, indexing, arg-reductions and `where`: the reference of the GPU kernels
//! in `shaders/index.wgsl`. The scatter-adds run in f32 in the kernels' order (each
//! `(outer, inner)` column adds its rows in index order), so both backends give the same
//! bits.

use crate::buffer::{alloc, filled, new_storage, read};
use crate::strided::walk;
use crate::CpuBackend;
use downhill_core::backend::index::{self as check, index_of, ArgReduceOp, IndexOps};
use downhill_core::{Result, Shape, Storage};

/// Scatter-adds `dy` (`[outer, k, inner]`) into `dx` of `[outer, len, inner]`: the index of
/// `dy[o, j, i]` is `index[position(o, j, i)]`.
fn scatter_add(
    dy: &[f32],
    index: &[f32],
    (outer, len, inner, k): (usize, usize, usize, usize),
    position: impl Fn(usize, usize, usize) -> usize,
    skip: Option<usize>,
    dx: &mut [f32],
) {
    for o in 0..outer {
        for j in 0..k {
            for i in 0..inner {
                match index_of(index[position(o, j, i)], len) {
                    Some(l) if Some(l) != skip => {
                        dx[(o * len + l) * inner + i] += dy[(o * k + j) * inner + i];
                    }
                    _ => {}
                }
            }
        }
    }
}

impl IndexOps for CpuBackend {
    fn pad(
        &self,
        x: &Storage,
        shape: &Shape,
        padding: &[(i64, i64)],
        value: f32,
    ) -> Result<Storage> {
        let out = check::check_pad(x, shape, padding)?;
        let x = read(x)?;
        let mut result = alloc("pad", out.numel())?;
        let Some((&out_last, out_rows)) = out.dims().split_last() else {
            result.push(x[0]); // a scalar: nothing to pad
            return Ok(new_storage(result));
        };
        if out.numel() == 0 {
            return Ok(new_storage(result));
        }
        let (dims, strides) = (shape.dims(), shape.strides());
        let last = dims.len() - 1;
        // Output column c of a row reads input column c − before: columns lo..hi exist.
        let before = padding[last].0;
        let lo = before.clamp(0, out_last as i64);
        let hi = (dims[last] as i64 + before).clamp(lo, out_last as i64);
        let (lo, hi) = (lo as usize, hi as usize);
        let mut coord = vec![0usize; last];
        for _ in 0..out_rows.iter().product::<usize>() {
            // The row's input offset, if every outer coordinate lands inside the input.
            let mut offset = Some(0usize);
            for (d, &c) in coord.iter().enumerate() {
                let source = c as i64 - padding[d].0;
                offset = offset
                    .filter(|_| (0..dims[d] as i64).contains(&source))
                    .map(|o| o + source as usize * strides[d]);
            }
            match offset {
                Some(o) => {
                    result.extend(std::iter::repeat_n(value, lo));
                    if hi > lo {
                        // Then lo >= before (lo < out_last, so lo = max(before, 0)).
                        let start = o + (lo as i64 - before) as usize;
                        result.extend_from_slice(&x[start..start + (hi - lo)]);
                    }
                    result.extend(std::iter::repeat_n(value, out_last - hi));
                }
                None => result.extend(std::iter::repeat_n(value, out_last)),
            }
            for d in (0..last).rev() {
                coord[d] += 1;
                if coord[d] < out_rows[d] {
                    break;
                }
                coord[d] = 0;
            }
        }
        Ok(new_storage(result))
    }

    fn concat(
        &self,
        parts: &[&Storage],
        outer: usize,
        lens: &[usize],
        inner: usize,
    ) -> Result<Storage> {
        let n = check::check_concat(parts, outer, lens, inner)?;
        if n == 0 {
            // Nothing to copy; `outer` alone may still be huge (every part empty).
            return Ok(new_storage(Vec::new()));
        }
        let views = parts.iter().map(|p| read(p)).collect::<Result<Vec<_>>>()?;
        let mut out = alloc("concat", n)?;
        for o in 0..outer {
            for (view, &len) in views.iter().zip(lens) {
                let block = len * inner;
                out.extend_from_slice(&view[o * block..(o + 1) * block]);
            }
        }
        Ok(new_storage(out))
    }

    fn index_select(
        &self,
        x: &Storage,
        dims: downhill_core::ReduceDims,
        indices: &Storage,
    ) -> Result<Storage> {
        let n = check::check_index_select(x, dims, indices)?;
        if n == 0 {
            // No indices or an empty inner axis: `dims.outer` alone may still be huge.
            return Ok(new_storage(Vec::new()));
        }
        let (x, idx) = (read(x)?, read(indices)?);
        let mut out = alloc("index_select", n)?;
        for o in 0..dims.outer {
            for &v in idx.iter() {
                match index_of(v, dims.len) {
                    Some(l) => {
                        let start = (o * dims.len + l) * dims.inner;
                        out.extend_from_slice(&x[start..start + dims.inner]);
                    }
                    None => out.extend(std::iter::repeat_n(f32::NAN, dims.inner)),
                }
            }
        }
        Ok(new_storage(out))
    }

    fn index_select_backward(
        &self,
        dy: &Storage,
        dims: downhill_core::ReduceDims,
        indices: &Storage,
        skip: Option<usize>,
    ) -> Result<Storage> {
        let n = check::check_index_select_backward(dy, dims, indices)?;
        let (dy, idx) = (read(dy)?, read(indices)?);
        let mut dx = filled("index_select_backward", n, 0.0f32)?;
        let sizes = (dims.outer, dims.len, dims.inner, idx.len());
        scatter_add(&dy, &idx, sizes, |_, j, _| j, skip, &mut dx);
        Ok(new_storage(dx))
    }

    fn gather(
        &self,
        x: &Storage,
        dims: downhill_core::ReduceDims,
        index: &Storage,
        k: usize,
    ) -> Result<Storage> {
        let n = check::check_gather(x, dims, index, k)?;
        let (x, idx) = (read(x)?, read(index)?);
        let mut out = alloc("gather", n)?;
        for (p, &v) in idx.iter().enumerate() {
            let (o, i) = (p / (k * dims.inner), p % dims.inner);
            out.push(match index_of(v, dims.len) {
                Some(l) => x[(o * dims.len + l) * dims.inner + i],
                None => f32::NAN,
            });
        }
        Ok(new_storage(out))
    }

    fn gather_backward(
        &self,
        dy: &Storage,
        dims: downhill_core::ReduceDims,
        index: &Storage,
        k: usize,
    ) -> Result<Storage> {
        let n = check::check_gather_backward(dy, dims, index, k)?;
        let (dy, idx) = (read(dy)?, read(index)?);
        let mut dx = filled("gather_backward", n, 0.0f32)?;
        let inner = dims.inner;
        let sizes = (dims.outer, dims.len, inner, k);
        scatter_add(
            &dy,
            &idx,
            sizes,
            |o, j, i| (o * k + j) * inner + i,
            None,
            &mut dx,
        );
        Ok(new_storage(dx))
    }

    fn arg_reduce(
        &self,
        op: ArgReduceOp,
        x: &Storage,
        dims: downhill_core::ReduceDims,
    ) -> Result<Storage> {
        let n = check::check_arg_reduce(x, dims)?;
        if n == 0 {
            return Ok(new_storage(Vec::new())); // `dims.outer` alone may still be huge
        }
        let x = read(x)?;
        let mut out = alloc("arg_reduce", n)?;
        for o in 0..dims.outer {
            for i in 0..dims.inner {
                let at = |l: usize| x[(o * dims.len + l) * dims.inner + i];
                let mut best = 0;
                for l in 1..dims.len {
                    let (b, v) = (at(best), at(l));
                    // Once the best is NaN nothing beats it; a NaN beats any number.
                    let better = match op {
                        ArgReduceOp::Max => v > b,
                        ArgReduceOp::Min => v < b,
                    };
                    if !b.is_nan() && (better || v.is_nan()) {
                        best = l;
                    }
                }
                out.push(best as f32);
            }
        }
        Ok(new_storage(out))
    }

    fn where_cond(
        &self,
        cond: &Storage,
        cond_shape: &Shape,
        a: &Storage,
        a_shape: &Shape,
        b: &Storage,
        b_shape: &Shape,
        out: &Shape,
    ) -> Result<Storage> {
        let (n, strides) = check::check_where((cond, cond_shape), (a, a_shape), (b, b_shape), out)?;
        let (c, a, b) = (read(cond)?, read(a)?, read(b)?);
        let mut result = alloc("where", n)?;
        walk(
            out,
            [&strides[0], &strides[1], &strides[2]],
            |_, [ic, ia, ib]| {
                // `!= 0` is true for NaN: bool(nan) is True.
                result.push(if c[ic] != 0.0 { a[ia] } else { b[ib] });
            },
        );
        Ok(new_storage(result))
    }
}
