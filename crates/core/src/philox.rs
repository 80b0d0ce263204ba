//! Philox4x32-10 (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as
//! 1, 2, 3", SC 2011): a counter-based generator, so any element's random bits follow from
//! `(key, counter)` alone, on any device, in any order. The arithmetic is in `u32` only,
//! with the 32×32→64 product built from 16-bit halves exactly as `shaders/dropout.wgsl`
//! builds it (WGSL has no 64-bit integers): the CPU and the GPU draw the same bits.
//!
//! Dropout's layout: element `i` of a tensor takes word `i % 4` of the block with counter
//! `[i / 4 (low 32 bits), i / 4 (high 32 bits), offset (low), offset (high)]` and key
//! `[seed (low), seed (high)]`.

/// Philox's multipliers.
const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
/// Weyl increments of the key between rounds (golden ratio, sqrt(3) − 1).
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// `(hi, lo)` of the 64-bit product `a·b`, from four 16×16→32 products.
#[inline]
pub fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let lo = a.wrapping_mul(b);
    let (a0, a1) = (a & 0xFFFF, a >> 16);
    let (b0, b1) = (b & 0xFFFF, b >> 16);
    let (p00, p01, p10, p11) = (a0 * b0, a0 * b1, a1 * b0, a1 * b1);
    // The carry out of the low 32 bits: at most 3·(2^16 − 1), no overflow.
    let mid = (p00 >> 16) + (p01 & 0xFFFF) + (p10 & 0xFFFF);
    let hi = p11 + (p01 >> 16) + (p10 >> 16) + (mid >> 16);
    (hi, lo)
}

/// One Philox4x32 round.
#[inline]
fn round(c: [u32; 4], k: [u32; 2]) -> [u32; 4] {
    let (hi0, lo0) = mulhilo(M0, c[0]);
    let (hi1, lo1) = mulhilo(M1, c[2]);
    [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0]
}

/// Philox4x32-10: four random words of `counter` under `key`.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (mut c, mut k) = (counter, key);
    for r in 0..10 {
        if r > 0 {
            k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
        }
        c = round(c, k);
    }
    c
}

/// The counter of dropout's block `block` (elements `4·block .. 4·block + 4`) at `offset`.
pub fn dropout_counter(block: u64, offset: u64) -> [u32; 4] {
    [
        block as u32,
        (block >> 32) as u32,
        offset as u32,
        (offset >> 32) as u32,
    ]
}

/// The key of a dropout stream.
pub fn dropout_key(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// The random word of element `i` of a dropout mask drawn from `(seed, offset)`.
pub fn dropout_bits(seed: u64, offset: u64, i: u64) -> u32 {
    philox4x32_10(dropout_counter(i / 4, offset), dropout_key(seed))[(i % 4) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mulhilo_is_the_64_bit_product() {
        let values = [0, 1, 0xFFFF, 0x1_0000, 0xFFFF_FFFF, M0, M1, 0x8000_0001];
        for &a in &values {
            for &b in &values {
                let wide = a as u64 * b as u64;
                assert_eq!(mulhilo(a, b), ((wide >> 32) as u32, wide as u32), "{a} {b}");
            }
        }
    }
}
