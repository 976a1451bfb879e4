//! Integer division rounding half up: rescaling a fixed-point value, averaging a window.

/// `z / d` rounded half up (towards +∞), with the remainder that proves it.
///
/// Defined by `z + h = quotient · d + remainder` with `h = ⌊d / 2⌋` and `0 ≤ remainder < d`;
/// this is exactly the identity the rescale gadget constrains. For every `d ≥ 1` the quotient is
/// `⌊(2z + d) / 2d⌋`, the rounding of ddkang/zkml's divisions, so its models reproduce exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rescaled {
    /// `⌊(z + h) / 2^shift⌋`.
    pub quotient: i128,
    /// `z + h - quotient · 2^shift`, in `[0, 2^shift)`.
    pub remainder: i128,
}

/// Divides `z` by `2^shift` (see [`Rescaled`]). `shift` must be below 63.
pub fn rescale(z: i128, shift: u32) -> Rescaled {
    divide(z, 1i64 << shift)
}

/// Divides `z` by `divisor ≥ 1` (see [`Rescaled`]).
pub fn divide(z: i128, divisor: i64) -> Rescaled {
    let divisor = divisor as i128;
    let shifted = z + divisor / 2;
    let quotient = shifted.div_euclid(divisor);
    Rescaled { quotient, remainder: shifted - quotient * divisor }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_half_up_for_both_signs() {
        let q = |z, s| rescale(z, s).quotient;
        assert_eq!(q(384, 8), 2); // 1.5 -> 2
        assert_eq!(q(383, 8), 1);
        assert_eq!(q(-384, 8), -1); // -1.5 -> -1 (half up)
        assert_eq!(q(-385, 8), -2);
        assert_eq!(q(7, 0), 7);
        for z in -2000..2000 {
            let r = rescale(z, 5);
            assert!((0..32).contains(&r.remainder));
            assert_eq!(z + 16, r.quotient * 32 + r.remainder);
            // zkml's rounding: floor((2z + d) / 2d), for odd and even divisors.
            for d in [1i64, 4, 9, 512] {
                assert_eq!(divide(z, d).quotient, (2 * z + d as i128).div_euclid(2 * d as i128), "z = {z}, d = {d}");
            }
        }
    }
}
