//! NaN-propagating selections: the CPU reference's counterpart of the WGSL helpers in
//! `shaders/nonfinite.wgsl`.
//!
//! Rust's `f32::max` and `f32::min`, like WGSL's `max` and `min`, return the other operand
//! when one is NaN. PyTorch's `torch.maximum`, `torch.minimum`, `relu`, max reductions and
//! `torch.argmax` treat NaN as winning instead, and so does every op of downhill: whatever
//! selects by magnitude goes through these functions. (`f32::clamp` already returns NaN
//! for a NaN input, as `torch.clamp` does.)

/// `torch.maximum`: NaN if either operand is NaN, otherwise the larger (the first on a tie).
#[inline]
pub fn maximum<T: PartialOrd + Copy>(a: T, b: T) -> T {
    if is_nan(a) || a >= b {
        a
    } else {
        b // larger, or NaN
    }
}

/// `torch.minimum`: NaN if either operand is NaN, otherwise the smaller (the first on a
/// tie).
#[inline]
pub fn minimum<T: PartialOrd + Copy>(a: T, b: T) -> T {
    if is_nan(a) || a <= b {
        a
    } else {
        b // smaller, or NaN
    }
}

/// `torch.argmax` of a row: the index of the first maximum, a NaN counting as larger than
/// any number (so the first NaN when there is one). 0 for an empty row.
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (j, &v) in row.iter().enumerate().skip(1) {
        let b = row[best];
        if !b.is_nan() && (v > b || v.is_nan()) {
            best = j;
        }
    }
    best
}

/// NaN is the one value not ordered with itself.
#[inline]
fn is_nan<T: PartialOrd>(x: T) -> bool {
    x.partial_cmp(&x).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_wins_on_either_side() {
        assert!(maximum(f32::NAN, 1.0).is_nan());
        assert!(maximum(1.0, f32::NAN).is_nan());
        assert!(minimum(f32::NAN, 1.0).is_nan());
        assert!(minimum(1.0f64, f32::NAN as f64).is_nan());
        assert_eq!(maximum(f32::NEG_INFINITY, -1.0), -1.0);
        assert_eq!(minimum(f32::INFINITY, 2.0), 2.0);
        assert_eq!(maximum(-0.5f32, 0.0), 0.0);
        assert_eq!(argmax(&[1.0, 3.0, f32::NAN, f32::NAN]), 2);
        assert_eq!(argmax(&[f32::NAN, 3.0]), 0);
        assert_eq!(argmax(&[1.0, 3.0, 3.0, f32::NEG_INFINITY]), 1);
        assert_eq!(argmax(&[]), 0);
    }
}
