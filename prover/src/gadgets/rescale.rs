//! Division with rounding half up of a constant multiple, plus a constant:
//! `y = ⌊(c·z + ⌊D/2⌋) / D⌋ + a` for constants `c`, `a` and `D ≥ 1` (a rescale by `D = 2^scale`
//! with `c = 1`, the window size of an average, a product with a constant rescaled in the same
//! row; `a` is a constant added right after, folded in).
//!
//! Each row packs `⌊W/3⌋` triples `(z, y, r)` in `a_{3j}, a_{3j+1}, a_{3j+2}`, with `D` in
//! `f_{3j}`, `⌊D/2⌋ + a·D` in `f_{3j+1}` and `c` in `f_{3j+2}`:
//!
//! ```text
//!     q · (c·z + f_{3j+1} − y·f_{3j} − r) = 0      for every triple j of the row
//!     r ∈ [0, D)                 (range check, RangeKind::Below(D))
//!     y − a ∈ the activation range   (range check of y against the range shifted by a)
//! ```
//!
//! Adding `a·D` on the left adds exactly `a` to the quotient, so `y − a` is the plain rounded
//! quotient and is bounded like one.
//!
//! Both range checks are needed: with `r` bounded but `y` free, a prover could pick any `r` and
//! the field element `y = (c·z + ⌊D/2⌋ − r)/D`, which is not the rounded quotient. With both
//! bounded and `|c·z|` far below the field size, `c·z + ⌊D/2⌋ = y·D + r` has exactly one solution
//! over the integers, the one [`crate::arith::divide`] computes.

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{ConstraintSystem, Error, Expression, Selector};
use halo2_proofs::poly::Rotation;

use crate::field::fe;
use super::{enable, Columns, Num, RegionCtx};
use crate::arith::Rescaled;
use crate::range::RangeKind;

/// Selector and gate of the rescale.
#[derive(Clone, Debug)]
pub struct RescaleConfig {
    cols: Columns,
    q: Selector,
}

impl RescaleConfig {
    /// Adds the gate over `cols` (needs at least 3 columns).
    pub fn configure(meta: &mut ConstraintSystem<Fr>, cols: &Columns) -> Self {
        let q = meta.selector();
        meta.create_gate("rescale", |m| {
            let q = m.query_selector(q);
            (0..Self::lanes(cols.width()))
                .map(|j| {
                    let z = m.query_advice(cols.advice[3 * j], Rotation::cur());
                    let y = m.query_advice(cols.advice[3 * j + 1], Rotation::cur());
                    let r = m.query_advice(cols.advice[3 * j + 2], Rotation::cur());
                    let d = m.query_fixed(cols.fixed[3 * j], Rotation::cur());
                    let half = m.query_fixed(cols.fixed[3 * j + 1], Rotation::cur());
                    let c = m.query_fixed(cols.fixed[3 * j + 2], Rotation::cur());
                    q.clone() * (c * z + half - y * d - r)
                })
                .collect::<Vec<Expression<Fr>>>()
        });
        RescaleConfig { cols: cols.clone(), q }
    }

    /// Triples per row.
    pub fn lanes(width: usize) -> usize {
        width / 3
    }

    /// Rows for `count` rescales.
    pub fn rows(count: usize, width: usize) -> usize {
        count.div_ceil(Self::lanes(width))
    }
}

/// Assigns rescales.
pub struct RescaleChip<'c> {
    config: &'c RescaleConfig,
}

impl<'c> RescaleChip<'c> {
    /// A chip over `config`.
    pub fn new(config: &'c RescaleConfig) -> Self {
        RescaleChip { config }
    }

    /// Divides every `z` by `divisor` with the caller's witness (from
    /// [`crate::arith::divide`]); returns the `y` cells, range-checked in `y_range`.
    pub fn assign(
        &self,
        ctx: &mut RegionCtx<'_, '_>,
        items: &[(Num, Option<Rescaled>)],
        divisor: i64,
        y_range: RangeKind,
    ) -> Result<Vec<Num>, Error> {
        let scaled: Vec<(Num, i64, Option<Rescaled>)> = items.iter().map(|(z, w)| (*z, 1, *w)).collect();
        self.assign_scaled(ctx, &scaled, divisor, y_range)
    }

    /// Divides every `c·z` by `divisor`, for `(z, c, witness)` items (the witness of `c·z` from
    /// [`crate::arith::divide`]); returns the `y` cells, range-checked in `y_range`.
    pub fn assign_scaled(
        &self,
        ctx: &mut RegionCtx<'_, '_>,
        items: &[(Num, i64, Option<Rescaled>)],
        divisor: i64,
        y_range: RangeKind,
    ) -> Result<Vec<Num>, Error> {
        let shifted: Vec<_> = items.iter().map(|(z, c, w)| (*z, *c, 0, *w)).collect();
        self.assign_shifted(ctx, &shifted, divisor, y_range)
    }

    /// `round(c·z / divisor) + a` for `(z, c, a, witness)` items, the witness being that of `c·z`
    /// alone; `y − a` is range-checked in `y_range`. Returns the `y` cells.
    pub fn assign_shifted(
        &self,
        ctx: &mut RegionCtx<'_, '_>,
        items: &[(Num, i64, i64, Option<Rescaled>)],
        divisor: i64,
        y_range: RangeKind,
    ) -> Result<Vec<Num>, Error> {
        let cols = &self.config.cols;
        let lanes = RescaleConfig::lanes(cols.width());
        let start = ctx.take_rows(RescaleConfig::rows(items.len(), cols.width()));
        let divisor = divisor as i128;
        let mut out = Vec::with_capacity(items.len());
        for (i, (z, c, a, w)) in items.iter().enumerate() {
            let (row, j) = (start + i / lanes, i % lanes);
            if j == 0 {
                enable(&self.config.q, ctx.region, row)?;
            }
            ctx.copy(z, cols.advice[3 * j], row);
            let y = ctx.assign(cols.advice[3 * j + 1], row, w.map(|w| w.quotient + *a as i128));
            let r = ctx.assign(cols.advice[3 * j + 2], row, w.map(|w| w.remainder));
            ctx.region.assign_fixed(cols.fixed[3 * j], row, fe(divisor));
            ctx.region.assign_fixed(cols.fixed[3 * j + 1], row, fe(divisor / 2 + *a as i128 * divisor));
            ctx.region.assign_fixed(cols.fixed[3 * j + 2], row, fe(*c as i128));
            ctx.check_range(&r, RangeKind::Below(divisor as u64))?;
            let shifted = RangeKind::Interval((y_range.lowest() + *a as i128) as i64, (y_range.highest() + *a as i128) as i64);
            ctx.check_range(&y, shifted)?;
            out.push(y);
        }
        // Unused triples: zero z, y, r satisfy the gate (D = 0 there).
        ctx.pad_packed(&cols.advice, start, items.len(), lanes, 3);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gadgets::test_util::{GadgetTest, assert_no_free_cells, assert_rejected, assert_satisfied, load};
    use crate::arith::rescale;

    const SHIFT: u32 = 4;

    fn run(zs: Vec<i128>, witness: Vec<Rescaled>, width: usize) -> GadgetTest {
        run_div(zs, witness, width, 1 << SHIFT)
    }

    fn run_div(zs: Vec<i128>, witness: Vec<Rescaled>, width: usize, divisor: i64) -> GadgetTest {
        GadgetTest::new(width, move |config, ctx| {
            let chip = RescaleChip::new(config.rescale.as_ref().unwrap());
            let z = load(config, ctx, &zs);
            let items: Vec<_> = z.into_iter().zip(witness.iter().map(|w| Some(*w))).collect();
            chip.assign(ctx, &items, divisor, RangeKind::Signed(8))
        })
    }

    #[test]
    fn honest_rescales_pass() {
        let zs: Vec<i128> = vec![0, 7, 8, 9, -8, -9, 2039, -2040, 100];
        let w: Vec<Rescaled> = zs.iter().map(|&z| rescale(z, SHIFT)).collect();
        let ys: Vec<i128> = w.iter().map(|w| w.quotient).collect();
        for width in [4, 4, 7] {
            assert_no_free_cells(&run(zs.clone(), w.clone(), width), &ys);
        }
    }

    #[test]
    fn odd_divisor_passes_and_its_remainder_is_bounded() {
        let zs: Vec<i128> = vec![0, 4, 5, -4, -5, 13, 14, -1000, 1000];
        let w: Vec<Rescaled> = zs.iter().map(|&z| crate::arith::divide(z, 9)).collect();
        let ys: Vec<i128> = w.iter().map(|w| w.quotient).collect();
        assert_no_free_cells(&run_div(zs, w, 4, 9), &ys);
        // 13 / 9 rounds to 1 (13 + 4 = 1·9 + 8); claiming 2 needs r = -1, claiming 0 needs r = 17.
        assert_rejected(&run_div(vec![13], vec![Rescaled { quotient: 2, remainder: -1 }], 4, 9), &[2]);
        assert_rejected(&run_div(vec![13], vec![Rescaled { quotient: 0, remainder: 17 }], 4, 9), &[0]);
        // 14 + 4 = 2·9 + 0 = 1·9 + 9: a remainder equal to the divisor is refused.
        assert_rejected(&run_div(vec![14], vec![Rescaled { quotient: 1, remainder: 9 }], 4, 9), &[1]);
    }

    #[test]
    fn scaled_division_checks_the_product() {
        // y = rdiv(c·z, 16) with c = -3.
        let circuit = |y: i128, r: i128| {
            GadgetTest::new(4, move |config, ctx| {
                let z = load(config, ctx, &[37]);
                RescaleChip::new(config.rescale.as_ref().unwrap()).assign_scaled(ctx, &[(z[0], -3, Some(Rescaled { quotient: y, remainder: r }))], 16, RangeKind::Signed(8))
            })
        };
        let honest = crate::arith::divide(-111, 16);
        assert_satisfied(&circuit(honest.quotient, honest.remainder), &[honest.quotient]);
        // The quotient of z (not c·z) is refused.
        let unscaled = crate::arith::divide(37, 16);
        assert_rejected(&circuit(unscaled.quotient, unscaled.remainder), &[unscaled.quotient]);
    }

    fn run_shifted(z: i128, a: i64, y: i128, r: i128) -> GadgetTest {
        GadgetTest::new(4, move |config, ctx| {
            let cells = load(config, ctx, &[z]);
            let items = [(cells[0], 1, a, Some(Rescaled { quotient: y - a as i128, remainder: r }))];
            RescaleChip::new(config.rescale.as_ref().unwrap()).assign_shifted(ctx, &items, 1 << SHIFT, RangeKind::Signed(8))
        })
    }

    #[test]
    fn shifted_rescale_adds_exactly_the_constant() {
        // 100 / 16 = 6.25 -> 6 (100 + 8 = 6·16 + 12), plus 50.
        assert_no_free_cells(&run_shifted(100, 50, 56, 12), &[56]);
        // Without the shift, or off by one with a remainder that keeps the gate.
        assert_rejected(&run_shifted(100, 50, 6, 12), &[6]);
        assert_rejected(&run_shifted(100, 50, 57, -4), &[57]);
        // The range check is on y − a: 1000 + 8 = 63·16 + 0 -> 63 + 100 = 163 is in range
        // (63 is), while 2500 / 16 = 156 is not, even shifted back to 56.
        assert_no_free_cells(&run_shifted(1000, 100, 163, 0), &[163]);
        assert_rejected(&run_shifted(2500, -100, 56, 12), &[56]);
    }

    #[test]
    fn wrong_rounding_fails() {
        // 24/16 = 1.5 rounds to 2 (r = 0). Claiming y = 1 needs r = 16: out of range.
        let z = vec![24];
        let tampered = Rescaled { quotient: 1, remainder: 16 };
        assert_rejected(&run(z.clone(), vec![tampered], 4), &[1]);
        // y off by one with r unchanged breaks the identity.
        let tampered = Rescaled { quotient: 1, remainder: 0 };
        assert_rejected(&run(z, vec![tampered], 4), &[1]);
    }

    #[test]
    fn remainder_out_of_range_fails() {
        // z = 40: honest y = 3 (40+8 = 48 = 3·16 + 0). y = 4, r = -16 satisfies the identity only
        // with a negative remainder; y = 2, r = 16 only with r = D.
        assert_rejected(&run(vec![40], vec![Rescaled { quotient: 4, remainder: -16 }], 4), &[4]);
        assert_rejected(&run(vec![40], vec![Rescaled { quotient: 2, remainder: 16 }], 4), &[2]);
    }

    #[test]
    fn field_wrapping_quotient_fails() {
        // Any r in [0, D) has a field solution y = (z + D/2 − r)/D; for r ≠ honest it is a huge
        // field element, which the range check on y must refuse.
        let z = 40i128;
        let inv16 = fe(16).invert().unwrap();
        let y_field = (fe(z + 8) - fe(5)) * inv16;
        // Build the cell by hand: a witness whose quotient is this field element.
        let circuit = GadgetTest::new(4, move |config, ctx| {
            let cols = &config.columns;
            let zc = load(config, ctx, &[z]);
            let row = ctx.take_rows(1);
            crate::gadgets::enable(&config.rescale.as_ref().unwrap().q, ctx.region, row)?;
            ctx.copy(&zc[0], cols.advice[0], row);
            let y = ctx.region.assign_advice(cols.advice[1], row, halo2_proofs::circuit::Value::known(y_field)).cell();
            let r = ctx.assign(cols.advice[2], row, Some(5));
            ctx.region.assign_fixed(cols.fixed[0], row, fe(16));
            ctx.region.assign_fixed(cols.fixed[1], row, fe(8));
            ctx.region.assign_fixed(cols.fixed[2], row, fe(1));
            ctx.check_range(&r, RangeKind::Below(16))?;
            ctx.range.check_cell(ctx.region, y, halo2_proofs::circuit::Value::known(y_field), RangeKind::Signed(8))?;
            Ok(vec![])
        });
        assert_rejected(&circuit, &[]);
    }
}
