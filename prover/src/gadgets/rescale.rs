//! Division by a power of two with rounding: `y = ⌊(z + D/2) / D⌋` for `D = 2^shift`.
//!
//! Each row packs `⌊W/3⌋` triples `(z, y, r)` in `a_{3j}, a_{3j+1}, a_{3j+2}`, with `D` in
//! `f_{3j}` and `D/2` in `f_{3j+1}`:
//!
//! ```text
//!     q · (z + f_{3j+1} − y·f_{3j} − r) = 0        for every triple j of the row
//!     r ∈ [0, D)                 (range check, tag of RangeKind::Unsigned(shift))
//!     y ∈ [−2^(b−1), 2^(b−1))    (range check, the activation range)
//! ```
//!
//! Both range checks are needed: with `r` bounded but `y` free, a prover could pick any `r` and
//! the field element `y = (z + D/2 − r)/D`, which is not the rounded quotient. With both bounded
//! and `|z|` far below the field size, `z + D/2 = y·D + r` has exactly one solution over the
//! integers, the one [`crate::ops::rescale::rescale`] computes.

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{ConstraintSystem, Error, Expression, Selector};
use halo2_proofs::poly::Rotation;

use super::{enable, fe, Columns, Num, RegionCtx};
use crate::ops::rescale::Rescaled;
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
                    q.clone() * (z + half - y * d - r)
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

    /// Rescales every `z` by `2^shift` with the caller's witness (from
    /// [`crate::ops::rescale::rescale`]); returns the `y` cells, range-checked in `y_range`.
    pub fn assign(
        &self,
        ctx: &mut RegionCtx<'_, '_>,
        items: &[(Num, Option<Rescaled>)],
        shift: u32,
        y_range: RangeKind,
    ) -> Result<Vec<Num>, Error> {
        let cols = &self.config.cols;
        let lanes = RescaleConfig::lanes(cols.width());
        let start = ctx.take_rows(RescaleConfig::rows(items.len(), cols.width()));
        let divisor = 1i128 << shift;
        let mut out = Vec::with_capacity(items.len());
        for (i, (z, w)) in items.iter().enumerate() {
            let (row, j) = (start + i / lanes, i % lanes);
            if j == 0 {
                enable(&self.config.q, ctx.region, row)?;
            }
            ctx.copy(z, cols.advice[3 * j], row);
            let y = ctx.assign(cols.advice[3 * j + 1], row, w.map(|w| w.quotient));
            let r = ctx.assign(cols.advice[3 * j + 2], row, w.map(|w| w.remainder));
            ctx.region.assign_fixed(cols.fixed[3 * j], row, fe(divisor));
            ctx.region.assign_fixed(cols.fixed[3 * j + 1], row, fe(divisor / 2));
            ctx.check_range(&r, RangeKind::Unsigned(shift));
            ctx.check_range(&y, y_range);
            out.push(y);
        }
        // Unused triples of the last row: zero z, y, r satisfy the gate with D = 0.
        let used = items.len() % lanes;
        if used != 0 {
            let row = start + items.len() / lanes;
            for j in used..lanes {
                for c in 0..3 {
                    ctx.assign(cols.advice[3 * j + c], row, Some(0));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gadgets::test_util::{assert_rejected, assert_satisfied, load, GadgetTest};
    use crate::ops::rescale::rescale;

    const SHIFT: u32 = 4;

    fn run(zs: Vec<i128>, witness: Vec<Rescaled>, width: usize) -> GadgetTest {
        GadgetTest::new(width, move |config, ctx| {
            let chip = RescaleChip::new(&config.rescale);
            let z = load(config, ctx, &zs);
            let items: Vec<_> = z.into_iter().zip(witness.iter().map(|w| Some(*w))).collect();
            chip.assign(ctx, &items, SHIFT, RangeKind::Signed(8))
        })
    }

    #[test]
    fn honest_rescales_pass() {
        let zs: Vec<i128> = vec![0, 7, 8, 9, -8, -9, 2039, -2040, 100];
        let w: Vec<Rescaled> = zs.iter().map(|&z| rescale(z, SHIFT)).collect();
        let ys: Vec<i128> = w.iter().map(|w| w.quotient).collect();
        for width in [3, 4, 7] {
            assert_satisfied(&run(zs.clone(), w.clone(), width), &ys);
        }
    }

    #[test]
    fn wrong_rounding_fails() {
        // 24/16 = 1.5 rounds to 2 (r = 0). Claiming y = 1 needs r = 16: out of range.
        let z = vec![24];
        let tampered = Rescaled { quotient: 1, remainder: 16 };
        assert_rejected(&run(z.clone(), vec![tampered], 3), &[1]);
        // y off by one with r unchanged breaks the identity.
        let tampered = Rescaled { quotient: 1, remainder: 0 };
        assert_rejected(&run(z, vec![tampered], 3), &[1]);
    }

    #[test]
    fn remainder_out_of_range_fails() {
        // z = 40: honest y = 3 (40+8 = 48 = 3·16 + 0). y = 4, r = -16 satisfies the identity only
        // with a negative remainder; y = 2, r = 16 only with r = D.
        assert_rejected(&run(vec![40], vec![Rescaled { quotient: 4, remainder: -16 }], 3), &[4]);
        assert_rejected(&run(vec![40], vec![Rescaled { quotient: 2, remainder: 16 }], 3), &[2]);
    }

    #[test]
    fn field_wrapping_quotient_fails() {
        // Any r in [0, D) has a field solution y = (z + D/2 − r)/D; for r ≠ honest it is a huge
        // field element, which the range check on y must refuse.
        let z = 40i128;
        let inv16 = fe(16).invert().unwrap();
        let y_field = (fe(z + 8) - fe(5)) * inv16;
        // Build the cell by hand: a witness whose quotient is this field element.
        let circuit = GadgetTest::new(3, move |config, ctx| {
            let cols = &config.columns;
            let zc = load(config, ctx, &[z]);
            let row = ctx.take_rows(1);
            crate::gadgets::enable(&config.rescale.q, ctx.region, row)?;
            ctx.copy(&zc[0], cols.advice[0], row);
            let y = ctx.region.assign_advice(cols.advice[1], row, halo2_proofs::circuit::Value::known(y_field)).cell();
            let r = ctx.assign(cols.advice[2], row, Some(5));
            ctx.region.assign_fixed(cols.fixed[0], row, fe(16));
            ctx.region.assign_fixed(cols.fixed[1], row, fe(8));
            ctx.check_range(&r, RangeKind::Unsigned(SHIFT));
            ctx.range.check_cell(ctx.region, y, halo2_proofs::circuit::Value::known(y_field), RangeKind::Signed(8));
            Ok(vec![])
        });
        assert_rejected(&circuit, &[]);
    }
}
