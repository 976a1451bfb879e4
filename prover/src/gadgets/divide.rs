//! Rounded quotient of two activations, `y = round(n / b)` with `n = a·K + N` (`a / b` at scale
//! `s` has `K = 2^s, N = 0`; a reciprocal `1 / b` has `K = 0, N = 2^(2s)`).
//!
//! Each row packs `⌊W/5⌋` items `(a, b, y, r, t)` in `a_{5j}..a_{5j+4}`, with `K` in `f_{5j}` and
//! `N` in `f_{5j+1}`:
//!
//! ```text
//!     q · (2·(a·f_{5j} + f_{5j+1}) + b − 2·b·y − r) = 0
//!     q · (2·b − 1 − r − t) = 0
//!     y ∈ the activation range, r, t ∈ [0, B)      (range checks)
//! ```
//!
//! With `r, t ≥ 0` the second constraint gives `b = (r + t + 1) / 2 ≥ 1` and `r < 2b`, so the first
//! is the division `2n + b = 2b·y + r` with a remainder in `[0, 2b)`: `y = ⌊(2n + b) / 2b⌋`, the
//! value of [`crate::arith::round_div`]. All terms are far below the field size.

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{ConstraintSystem, Error, Expression, Selector};
use halo2_proofs::poly::Rotation;

use crate::field::fe;
use super::{packed, packed_rows, Columns, Num, RegionCtx};
use crate::arith::Quotient;
use crate::range::RangeKind;

const CELLS: usize = 5;

/// Selector and gates of the division.
#[derive(Clone, Debug)]
pub struct DivideConfig {
    cols: Columns,
    q: Selector,
}

impl DivideConfig {
    /// Adds the gates over `cols` (needs at least 5 columns).
    pub fn configure(meta: &mut ConstraintSystem<Fr>, cols: &Columns) -> Self {
        let q = meta.selector();
        meta.create_gate("divide", |m| {
            let q = m.query_selector(q);
            let two = Expression::Constant(Fr::from(2));
            let one = Expression::Constant(Fr::one());
            (0..cols.width() / CELLS)
                .flat_map(|j| {
                    let [a, b, y, r, t] = [0, 1, 2, 3, 4].map(|o| m.query_advice(cols.advice[CELLS * j + o], Rotation::cur()));
                    let (k, n) = (m.query_fixed(cols.fixed[CELLS * j], Rotation::cur()), m.query_fixed(cols.fixed[CELLS * j + 1], Rotation::cur()));
                    [
                        q.clone() * (two.clone() * (a * k + n) + b.clone() - two.clone() * b.clone() * y - r.clone()),
                        q.clone() * (two.clone() * b - one.clone() - r - t),
                    ]
                })
                .collect::<Vec<Expression<Fr>>>()
        });
        DivideConfig { cols: cols.clone(), q }
    }

    /// Rows for `count` divisions.
    pub fn rows(count: usize, width: usize) -> usize {
        packed_rows(count, CELLS, width)
    }
}

/// What is divided: `a·K + N` for an activation cell `a`, or a constant `N`.
#[derive(Clone, Copy, Debug)]
pub enum Numerator {
    /// `a · K`.
    Scaled(Num, i64),
    /// The constant `N`.
    Constant(i128),
}

/// Assigns divisions.
pub struct DivideChip<'c> {
    config: &'c DivideConfig,
}

impl<'c> DivideChip<'c> {
    /// A chip over `config`.
    pub fn new(config: &'c DivideConfig) -> Self {
        DivideChip { config }
    }

    /// `y = round(numerator / b)` for every item, with the caller's witness (from
    /// [`crate::arith`]); `y` is range-checked in `y_range`, the remainder and its slack in
    /// `slack_range` (non-negative). Returns the `y` cells.
    pub fn assign(
        &self,
        ctx: &mut RegionCtx<'_, '_>,
        items: &[(Numerator, Num, Option<Quotient>)],
        y_range: RangeKind,
        slack_range: RangeKind,
    ) -> Result<Vec<Num>, Error> {
        let cols = &self.config.cols;
        packed(ctx, cols, &self.config.q, items.len(), CELLS, |ctx, row, base, i| {
            let (numerator, b, w) = &items[i];
            let (k, n) = match numerator {
                Numerator::Scaled(a, k) => {
                    ctx.copy(a, cols.advice[base], row);
                    (*k as i128, 0)
                }
                Numerator::Constant(n) => {
                    // Free, and harmless: K = 0 is fixed, so the cell does not enter the constraint.
                    ctx.assign_free_zero(cols.advice[base], row);
                    (0, *n)
                }
            };
            ctx.copy(b, cols.advice[base + 1], row);
            let y = ctx.assign(cols.advice[base + 2], row, w.map(|w| w.quotient));
            let r = ctx.assign(cols.advice[base + 3], row, w.map(|w| w.remainder));
            let t = ctx.assign(cols.advice[base + 4], row, w.map(|w| w.slack));
            ctx.region.assign_fixed(cols.fixed[base], row, fe(k));
            ctx.region.assign_fixed(cols.fixed[base + 1], row, fe(n));
            ctx.check_range(&y, y_range)?;
            ctx.check_range(&r, slack_range)?;
            ctx.check_range(&t, slack_range)?;
            Ok(y)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gadgets::test_util::{GadgetTest, assert_no_free_cells, assert_rejected, assert_satisfied, load};
    use crate::arith::{div, reciprocal};

    /// Divides `a[i] · 16 / b[i]` (or `N / b[i]` when `a` is empty) with witness `w`.
    fn run(a: Vec<i128>, b: Vec<i128>, w: Vec<Quotient>, n: i128) -> GadgetTest {
        GadgetTest::new(5, move |config, ctx| {
            let xb = load(config, ctx, &b);
            let nums: Vec<Numerator> = if a.is_empty() {
                vec![Numerator::Constant(n); b.len()]
            } else {
                load(config, ctx, &a).into_iter().map(|x| Numerator::Scaled(x, 16)).collect()
            };
            let items: Vec<_> = nums.into_iter().zip(xb).zip(&w).map(|((n, b), w)| (n, b, Some(*w))).collect();
            DivideChip::new(config.divide.as_ref().unwrap()).assign(ctx, &items, RangeKind::Signed(8), RangeKind::Unsigned(7))
        })
    }

    #[test]
    fn honest_quotients_pass() {
        let (a, b) = (vec![3i128, -5, 20, -11, 0, 7], vec![7i128, 9, 3, 11, 50, 1]);
        let w: Vec<_> = a.iter().zip(&b).map(|(&x, &y)| div(x as i64, y as i64, 4).unwrap()).collect();
        let ys: Vec<i128> = w.iter().map(|w| w.quotient).collect();
        assert_no_free_cells(&run(a, b, w, 0), &ys);
        let b = vec![1i128, 3, 16, 50];
        let w: Vec<_> = b.iter().map(|&y| reciprocal(y as i64, 2).unwrap()).collect();
        let ys: Vec<i128> = w.iter().map(|w| w.quotient).collect();
        assert_no_free_cells(&run(vec![], b, w, 16), &ys);
    }

    #[test]
    fn wrong_quotients_fail() {
        // 3·16 / 7 = 6.86 -> 7: 2·48 + 7 = 14·7 + 5, slack 8.
        let honest = div(3, 7, 4).unwrap();
        assert_eq!(honest, Quotient { quotient: 7, remainder: 5, slack: 8 });
        assert_satisfied(&run(vec![3], vec![7], vec![honest], 0), &[7]);
        // One more or less: the remainder leaves [0, 2b).
        assert_rejected(&run(vec![3], vec![7], vec![Quotient { quotient: 8, remainder: -9, slack: 22 }], 0), &[8]);
        assert_rejected(&run(vec![3], vec![7], vec![Quotient { quotient: 6, remainder: 19, slack: -6 }], 0), &[6]);
        // A remainder consistent with the first gate but a slack that does not add up.
        assert_rejected(&run(vec![3], vec![7], vec![Quotient { quotient: 7, remainder: 5, slack: 7 }], 0), &[7]);
    }

    #[test]
    fn non_positive_divisors_fail() {
        // b = 0: 2·0 − 1 = r + t has no non-negative solution.
        assert_rejected(&run(vec![3], vec![0], vec![Quotient { quotient: 0, remainder: 96, slack: -97 }], 0), &[0]);
        // b = −2 with y = −12: 96 − 2 + 48 = 142 = r, t = −147.
        assert_rejected(&run(vec![3], vec![-2], vec![Quotient { quotient: -12, remainder: 46, slack: -51 }], 0), &[-12]);
    }
}
