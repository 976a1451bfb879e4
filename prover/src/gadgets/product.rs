//! Elementwise product of two activations, rescaled: `y = ⌊(a·b + ⌊D/2⌋) / D⌋` with `D = 2^s`.
//!
//! Each row packs `⌊W/4⌋` items `(a, b, y, r)` in `a_{4j}..a_{4j+3}`, with `D` in `f_{4j}` and
//! `⌊D/2⌋` in `f_{4j+1}`:
//!
//! ```text
//!     q · (a·b + f_{4j+1} − y·f_{4j} − r) = 0
//!     r ∈ [0, D)                 (range check)
//!     y ∈ the activation range   (range check)
//! ```
//!
//! As in [`super::rescale`], bounding both `r` and `y` leaves one integer solution: the one
//! [`crate::arith::product`] computes.

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{ConstraintSystem, Error, Expression, Selector};
use halo2_proofs::poly::Rotation;

use crate::field::fe;
use super::{packed, packed_rows, Columns, Num, RegionCtx};
use crate::arith::Rescaled;
use crate::range::RangeKind;

const CELLS: usize = 4;

/// Selector and gate of the product.
#[derive(Clone, Debug)]
pub struct ProductConfig {
    cols: Columns,
    q: Selector,
}

impl ProductConfig {
    /// Adds the gate over `cols` (needs at least 4 columns).
    pub fn configure(meta: &mut ConstraintSystem<Fr>, cols: &Columns) -> Self {
        let q = meta.selector();
        meta.create_gate("product", |m| {
            let q = m.query_selector(q);
            (0..cols.width() / CELLS)
                .map(|j| {
                    let [a, b, y, r] = [0, 1, 2, 3].map(|o| m.query_advice(cols.advice[CELLS * j + o], Rotation::cur()));
                    let (d, half) = (m.query_fixed(cols.fixed[CELLS * j], Rotation::cur()), m.query_fixed(cols.fixed[CELLS * j + 1], Rotation::cur()));
                    q.clone() * (a * b + half - y * d - r)
                })
                .collect::<Vec<Expression<Fr>>>()
        });
        ProductConfig { cols: cols.clone(), q }
    }

    /// Rows for `count` products.
    pub fn rows(count: usize, width: usize) -> usize {
        packed_rows(count, CELLS, width)
    }
}

/// Assigns products.
pub struct ProductChip<'c> {
    config: &'c ProductConfig,
}

impl<'c> ProductChip<'c> {
    /// A chip over `config`.
    pub fn new(config: &'c ProductConfig) -> Self {
        ProductChip { config }
    }

    /// `y = round(a·b / divisor)` for every `(a, b, witness)` (witness from
    /// [`crate::arith::product`]); returns the `y` cells, range-checked in `y_range`.
    pub fn assign(&self, ctx: &mut RegionCtx<'_, '_>, items: &[(Num, Num, Option<Rescaled>)], divisor: i64, y_range: RangeKind) -> Result<Vec<Num>, Error> {
        let cols = &self.config.cols;
        packed(ctx, cols, &self.config.q, items.len(), CELLS, |ctx, row, base, i| {
            let (a, b, w) = &items[i];
            ctx.copy(a, cols.advice[base], row);
            ctx.copy(b, cols.advice[base + 1], row);
            let y = ctx.assign(cols.advice[base + 2], row, w.map(|w| w.quotient));
            let r = ctx.assign(cols.advice[base + 3], row, w.map(|w| w.remainder));
            ctx.region.assign_fixed(cols.fixed[base], row, fe(divisor as i128));
            ctx.region.assign_fixed(cols.fixed[base + 1], row, fe(divisor as i128 / 2));
            ctx.check_range(&r, RangeKind::Below(divisor as u64))?;
            ctx.check_range(&y, y_range)?;
            Ok(y)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gadgets::test_util::{GadgetTest, assert_no_free_cells, assert_rejected, assert_satisfied, load};
    use crate::arith::product;

    fn run(a: Vec<i128>, b: Vec<i128>, w: Vec<Rescaled>, width: usize) -> GadgetTest {
        GadgetTest::new(width, move |config, ctx| {
            let (xa, xb) = (load(config, ctx, &a), load(config, ctx, &b));
            let items: Vec<_> = xa.into_iter().zip(xb).zip(&w).map(|((a, b), w)| (a, b, Some(*w))).collect();
            ProductChip::new(config.product.as_ref().unwrap()).assign(ctx, &items, 16, RangeKind::Signed(8))
        })
    }

    #[test]
    fn honest_products_pass() {
        let (a, b) = (vec![3i128, -5, 40, -11, 0], vec![7i128, 9, 3, -11, 100]);
        let w: Vec<_> = a.iter().zip(&b).map(|(&x, &y)| product(x as i64, y as i64, 4)).collect();
        let ys: Vec<i128> = w.iter().map(|w| w.quotient).collect();
        for width in [4, 8, 9] {
            assert_no_free_cells(&run(a.clone(), b.clone(), w.clone(), width), &ys);
        }
    }

    #[test]
    fn wrong_product_or_rounding_fails() {
        // 3·7 = 21: (21 + 8) / 16 = 1 rem 13.
        assert_satisfied(&run(vec![3], vec![7], vec![Rescaled { quotient: 1, remainder: 13 }], 4), &[1]);
        // Off by one with a remainder that keeps the gate: out of range.
        assert_rejected(&run(vec![3], vec![7], vec![Rescaled { quotient: 2, remainder: -3 }], 4), &[2]);
        assert_rejected(&run(vec![3], vec![7], vec![Rescaled { quotient: 0, remainder: 29 }], 4), &[0]);
        // A remainder in range but a wrong product.
        assert_rejected(&run(vec![3], vec![7], vec![Rescaled { quotient: 1, remainder: 12 }], 4), &[1]);
    }
}
