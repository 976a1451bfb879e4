//! The integer arithmetic every operator and gadget agrees on: rounded rescales and quotients,
//! products, square roots, dot products, the splits of ReLU, clamp and max, and tabulated
//! functions. Each returns the result together with the remainders the circuit range-checks, so
//! the gadget's witness and the forward pass are the same numbers. A leaf: it reads no other
//! module of the crate but `tensor` and `error`.

mod rescale;
pub mod splits;
pub mod table;

pub use rescale::{divide, rescale, Rescaled};
pub use splits::*;


/// One integer output of a linear layer or product: the exact accumulator and its rescale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DotRescaled {
    /// `Σ_i a_i · b_i + bias`, at twice the activation scale.
    pub acc: i128,
    /// `acc` rescaled back to the activation scale.
    pub out: Rescaled,
}

/// The integer semantics of every dot product the circuit proves: `acc = Σ a_i·b_i + bias`,
/// then [`rescale`] by `2^shift`.
pub fn dot_rescale(a: impl IntoIterator<Item = i64>, b: impl IntoIterator<Item = i64>, bias: i64, shift: u32) -> DotRescaled {
    let acc = a.into_iter().zip(b).map(|(x, y)| x as i128 * y as i128).sum::<i128>() + bias as i128;
    DotRescaled { acc, out: rescale(acc, shift) }
}

/// A sum divided by `divisor` (average pooling, a mean): the exact sum and its rounded quotient.
pub fn sum_divided(values: impl IntoIterator<Item = i64>, divisor: i64) -> DotRescaled {
    let acc = values.into_iter().map(|v| v as i128).sum::<i128>();
    DotRescaled { acc, out: divide(acc, divisor) }
}

/// `round(a · b / 2^shift)` (half up): the product of two activations at scale `s`, back at `s`.
pub fn product(a: i64, b: i64, shift: u32) -> Rescaled {
    divide(a as i128 * b as i128, 1 << shift)
}

/// A rounded quotient `q = ⌊(2n + b) / 2b⌋` (the rational `n / b` rounded half up), with
/// `2n + b = 2b·q + remainder`, `remainder ∈ [0, 2b)` and `slack = 2b − 1 − remainder ≥ 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quotient {
    /// The rounded quotient.
    pub quotient: i128,
    /// `2n + b − 2b·q`.
    pub remainder: i128,
    /// `2b − 1 − remainder`.
    pub slack: i128,
}

/// `n / b` rounded half up; `None` unless `b ≥ 1` (the circuit proves no other divisor).
pub fn round_div(n: i128, b: i128) -> Option<Quotient> {
    if b < 1 {
        return None;
    }
    let quotient = (2 * n + b).div_euclid(2 * b);
    let remainder = 2 * n + b - 2 * b * quotient;
    Some(Quotient { quotient, remainder, slack: 2 * b - 1 - remainder })
}

/// `a / b` for activations at scale `s`: `round(a · 2^s / b)`, `b ≥ 1`.
pub fn div(a: i64, b: i64, shift: u32) -> Option<Quotient> {
    round_div((a as i128) << shift, b as i128)
}

/// `1 / b` at scale `s`: `round(2^(2s) / b)`, `b ≥ 1`.
pub fn reciprocal(b: i64, shift: u32) -> Option<Quotient> {
    round_div(1i128 << (2 * shift), b as i128)
}

/// `root = ⌊√z⌋` with `z = root² + rem` and `slack = 2·root − rem ≥ 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SquareRoot {
    /// The floor of the square root.
    pub root: i128,
    /// `z − root²`.
    pub rem: i128,
    /// `2·root − rem`.
    pub slack: i128,
}

/// `√x` for an activation at scale `s`: `⌊√(x · 2^s)⌋` (floor, so at most one step low); `None`
/// for a negative `x`.
pub fn sqrt(x: i64, shift: u32) -> Option<SquareRoot> {
    if x < 0 {
        return None;
    }
    let z = (x as i128) << shift;
    let mut root = (z as f64).sqrt() as i128;
    while root * root > z {
        root -= 1;
    }
    while (root + 1) * (root + 1) <= z {
        root += 1;
    }
    let rem = z - root * root;
    Some(SquareRoot { root, rem, slack: 2 * root - rem })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotients_round_half_up() {
        for n in -300i128..300 {
            for b in 1i128..20 {
                let q = round_div(n, b).unwrap();
                let exact = n as f64 / b as f64;
                assert_eq!(q.quotient, (exact + 0.5).floor() as i128, "{n}/{b}");
                assert!(q.remainder >= 0 && q.slack >= 0);
            }
        }
        assert_eq!(round_div(5, 0), None);
        assert_eq!(div(128, 256, 8).unwrap().quotient, 128); // 0.5 / 1.0 = 0.5
        assert_eq!(reciprocal(512, 8).unwrap().quotient, 128); // 1 / 2 = 0.5
    }

    #[test]
    fn square_roots_floor() {
        for x in 0i64..5000 {
            let r = sqrt(x, 4).unwrap();
            let z = (x as i128) << 4;
            assert!(r.root * r.root <= z && z < (r.root + 1) * (r.root + 1), "{x}");
            assert!(r.rem >= 0 && r.slack >= 0);
        }
        assert_eq!(sqrt(4 << 8, 8).unwrap().root, 2 << 8); // √4 = 2 at scale 2^8
        assert_eq!(sqrt(-1, 8), None);
    }
}
