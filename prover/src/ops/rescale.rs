//! Rescaling a fixed-point value by a power of two, rounding half up.

/// `z / 2^shift` rounded half up, with the remainder that proves it.
///
/// Defined by `z + h = quotient · 2^shift + remainder` with `h = ⌊2^shift / 2⌋` and
/// `0 ≤ remainder < 2^shift`; this is exactly the identity the rescale gadget constrains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rescaled {
    /// `⌊(z + h) / 2^shift⌋`.
    pub quotient: i128,
    /// `z + h - quotient · 2^shift`, in `[0, 2^shift)`.
    pub remainder: i128,
}

/// Rescales `z` by `2^shift` (see [`Rescaled`]). `shift` must be below 64.
pub fn rescale(z: i128, shift: u32) -> Rescaled {
    let divisor = 1i128 << shift;
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
        }
    }
}
