//! The value ranges the circuit enforces with its lookup table. The quantized forward pass checks
//! exactly the same ranges, so an input that the circuit could not prove is refused before
//! proving, with the name of the layer. Ranges of equal size share one table segment (checked
//! with an offset), so the table holds one segment per distinct size.

use serde::{Deserialize, Serialize};

/// An interval of integers checked by one lookup-table segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RangeKind {
    /// `[0, 2^bits)`.
    Unsigned(u32),
    /// `[-2^(bits-1), 2^(bits-1))`.
    Signed(u32),
    /// `[0, n)`: remainders of a division by `n`, values clamped to `[0, n - 1]`.
    Below(u64),
    /// `[lo, hi]`.
    Interval(i64, i64),
}

impl RangeKind {
    /// Smallest value in range.
    pub fn lowest(&self) -> i128 {
        match *self {
            RangeKind::Unsigned(_) => 0,
            RangeKind::Signed(bits) => -(1i128 << (bits - 1)),
            RangeKind::Below(_) => 0,
            RangeKind::Interval(lo, _) => lo as i128,
        }
    }

    /// Largest value in range.
    pub fn highest(&self) -> i128 {
        match *self {
            RangeKind::Unsigned(bits) => (1i128 << bits) - 1,
            RangeKind::Signed(bits) => (1i128 << (bits - 1)) - 1,
            RangeKind::Below(n) => n as i128 - 1,
            RangeKind::Interval(_, hi) => hi as i128,
        }
    }

    /// Whether `v` is in range.
    pub fn contains(&self, v: i128) -> bool {
        (self.lowest()..=self.highest()).contains(&v)
    }

    /// Number of values in range (rows of its table segment).
    pub fn size(&self) -> usize {
        (self.highest() - self.lowest() + 1) as usize
    }

    /// Human-readable interval for error messages.
    pub fn describe(&self) -> String {
        format!("[{}, {}]", self.lowest(), self.highest())
    }
}

#[cfg(test)]
mod tests {
    use super::RangeKind;

    #[test]
    fn bounds() {
        assert_eq!(RangeKind::Signed(8).lowest(), -128);
        assert_eq!(RangeKind::Signed(8).highest(), 127);
        assert_eq!(RangeKind::Unsigned(8).size(), 256);
        assert!(!RangeKind::Unsigned(8).contains(-1));
        assert_eq!(RangeKind::Unsigned(0).size(), 1);
        assert_eq!(RangeKind::Below(9).highest(), 8);
    }
}
