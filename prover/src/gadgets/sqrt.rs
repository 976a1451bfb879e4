//! Square root of an activation: `y = ⌊√(x · K)⌋` with `K = 2^s` (so `y` is `√x` at scale `s`).
//!
//! Each row packs `⌊W/4⌋` items `(x, y, r, t)` in `a_{4j}..a_{4j+3}`, with `K` in `f_{4j}`:
//!
//! ```text
//!     q · (x·f_{4j} − y² − r) = 0
//!     q · (2·y − r − t) = 0
//!     y, r, t ∈ [0, B)      (range checks)
//! ```
//!
//! So `y² ≤ x·K = y² + r ≤ y² + 2y < (y + 1)²`: `y` is the floor of the root, the value of
//! [`crate::arith::sqrt`]. A negative `x` has no solution (`y² + r` would have to be a
//! field element near the modulus).

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{ConstraintSystem, Error, Expression, Selector};
use halo2_proofs::poly::Rotation;

use crate::field::fe;
use super::{packed, packed_rows, Columns, Num, RegionCtx};
use crate::arith::SquareRoot;
use crate::range::RangeKind;

const CELLS: usize = 4;

/// Selector and gates of the square root.
#[derive(Clone, Debug)]
pub struct SqrtConfig {
    cols: Columns,
    q: Selector,
}

impl SqrtConfig {
    /// Adds the gates over `cols` (needs at least 4 columns).
    pub fn configure(meta: &mut ConstraintSystem<Fr>, cols: &Columns) -> Self {
        let q = meta.selector();
        meta.create_gate("sqrt", |m| {
            let q = m.query_selector(q);
            let two = Expression::Constant(Fr::from(2));
            (0..cols.width() / CELLS)
                .flat_map(|j| {
                    let [x, y, r, t] = [0, 1, 2, 3].map(|o| m.query_advice(cols.advice[CELLS * j + o], Rotation::cur()));
                    let k = m.query_fixed(cols.fixed[CELLS * j], Rotation::cur());
                    [q.clone() * (x * k - y.clone() * y.clone() - r.clone()), q.clone() * (two.clone() * y - r - t)]
                })
                .collect::<Vec<Expression<Fr>>>()
        });
        SqrtConfig { cols: cols.clone(), q }
    }

    /// Rows for `count` roots.
    pub fn rows(count: usize, width: usize) -> usize {
        packed_rows(count, CELLS, width)
    }
}

/// Assigns square roots.
pub struct SqrtChip<'c> {
    config: &'c SqrtConfig,
}

impl<'c> SqrtChip<'c> {
    /// A chip over `config`.
    pub fn new(config: &'c SqrtConfig) -> Self {
        SqrtChip { config }
    }

    /// `y = ⌊√(x·scale)⌋` for every `(x, witness)`; `y`, the remainder and its slack are
    /// range-checked in `range` (non-negative). Returns the `y` cells.
    pub fn assign(&self, ctx: &mut RegionCtx<'_, '_>, items: &[(Num, Option<SquareRoot>)], scale: i64, range: RangeKind) -> Result<Vec<Num>, Error> {
        let cols = &self.config.cols;
        packed(ctx, cols, &self.config.q, items.len(), CELLS, |ctx, row, base, i| {
            let (x, w) = &items[i];
            ctx.copy(x, cols.advice[base], row);
            let y = ctx.assign(cols.advice[base + 1], row, w.map(|w| w.root));
            let r = ctx.assign(cols.advice[base + 2], row, w.map(|w| w.rem));
            let t = ctx.assign(cols.advice[base + 3], row, w.map(|w| w.slack));
            ctx.region.assign_fixed(cols.fixed[base], row, fe(scale as i128));
            for cell in [&y, &r, &t] {
                ctx.check_range(cell, range)?;
            }
            Ok(y)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gadgets::test_util::{GadgetTest, assert_no_free_cells, assert_rejected, assert_satisfied, load};
    use crate::arith::sqrt;

    fn run(x: Vec<i128>, w: Vec<SquareRoot>, width: usize) -> GadgetTest {
        GadgetTest::new(width, move |config, ctx| {
            let cells = load(config, ctx, &x);
            let items: Vec<_> = cells.into_iter().zip(&w).map(|(c, w)| (c, Some(*w))).collect();
            SqrtChip::new(config.sqrt.as_ref().unwrap()).assign(ctx, &items, 4, RangeKind::Unsigned(7))
        })
    }

    #[test]
    fn honest_roots_pass() {
        let x = vec![0i128, 1, 2, 9, 10, 30, 100];
        let w: Vec<_> = x.iter().map(|&v| sqrt(v as i64, 2).unwrap()).collect();
        let ys: Vec<i128> = w.iter().map(|w| w.root).collect();
        for width in [4, 8, 9] {
            assert_no_free_cells(&run(x.clone(), w.clone(), width), &ys);
        }
    }

    #[test]
    fn wrong_roots_fail() {
        // √(10·4) = 6.32: y = 6, r = 4, t = 8.
        assert_satisfied(&run(vec![10], vec![SquareRoot { root: 6, rem: 4, slack: 8 }], 4), &[6]);
        assert_rejected(&run(vec![10], vec![SquareRoot { root: 7, rem: -9, slack: 23 }], 4), &[7]);
        assert_rejected(&run(vec![10], vec![SquareRoot { root: 5, rem: 15, slack: -5 }], 4), &[5]);
        // A negative root squares to the same value: refused by its range check.
        assert_rejected(&run(vec![10], vec![SquareRoot { root: -6, rem: 4, slack: -16 }], 4), &[-6]);
        // A negative input has no root.
        assert_rejected(&run(vec![-1], vec![SquareRoot { root: 0, rem: -4, slack: 4 }], 4), &[0]);
    }
}
