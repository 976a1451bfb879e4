//! Maximum of two values (max pooling chains it over a window).
//!
//! Each row packs `⌊W/5⌋` items `(a, b, out, da, db)` in `a_{5j}..a_{5j+4}`:
//!
//! ```text
//!     q · (a + da − out) = 0
//!     q · (b + db − out) = 0
//!     q · da · db        = 0
//!     da, db ∈ [0, 2B)        (range checks)
//! ```
//!
//! `da, db ≥ 0` make `out` at least both inputs and `da·db = 0` makes it equal to one of them,
//! so `out = max(a, b)`.

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{ConstraintSystem, Error, Expression, Selector};
use halo2_proofs::poly::Rotation;

use super::{enable, Columns, Num, RegionCtx};
use crate::arith::MaxSplit;
use crate::range::RangeKind;

/// Selector and gate of the maximum.
#[derive(Clone, Debug)]
pub struct MaxConfig {
    cols: Columns,
    q: Selector,
}

impl MaxConfig {
    /// Adds the gate over `cols` (needs at least 5 columns to be used).
    pub fn configure(meta: &mut ConstraintSystem<Fr>, cols: &Columns) -> Self {
        let q = meta.selector();
        if Self::lanes(cols.width()) == 0 {
            // Too narrow for this gadget; the planner never lays a maximum out at this width.
            return MaxConfig { cols: cols.clone(), q };
        }
        meta.create_gate("max", |m| {
            let q = m.query_selector(q);
            (0..Self::lanes(cols.width()))
                .flat_map(|j| {
                    let [a, b, out, da, db] = [0, 1, 2, 3, 4].map(|o| m.query_advice(cols.advice[5 * j + o], Rotation::cur()));
                    [q.clone() * (a + da.clone() - out.clone()), q.clone() * (b + db.clone() - out), q.clone() * da * db]
                })
                .collect::<Vec<Expression<Fr>>>()
        });
        MaxConfig { cols: cols.clone(), q }
    }

    /// Items per row.
    pub fn lanes(width: usize) -> usize {
        width / 5
    }

    /// Rows for `count` maxima (0 lanes means the width cannot hold this gadget).
    pub fn rows(count: usize, width: usize) -> usize {
        match Self::lanes(width) {
            0 if count > 0 => usize::MAX / 4,
            0 => 0,
            lanes => count.div_ceil(lanes),
        }
    }
}

/// Assigns maxima.
pub struct MaxChip<'c> {
    config: &'c MaxConfig,
}

impl<'c> MaxChip<'c> {
    /// A chip over `config`.
    pub fn new(config: &'c MaxConfig) -> Self {
        MaxChip { config }
    }

    /// `max(a, b)` for one pair, with the caller's split (from
    /// [`crate::arith::max2`]); `da`, `db` are range-checked in `slack`. Items are
    /// packed into the current row until it is full.
    pub fn assign(&self, ctx: &mut RegionCtx<'_, '_>, slot: &mut MaxSlot, a: &Num, b: &Num, split: Option<MaxSplit>, slack: RangeKind) -> Result<Num, Error> {
        let cols = &self.config.cols;
        let lanes = MaxConfig::lanes(cols.width());
        if lanes == 0 {
            return Err(Error::Synthesis);
        }
        if slot.used == 0 || slot.used == lanes {
            slot.row = ctx.take_rows(1);
            slot.used = 0;
            enable(&self.config.q, ctx.region, slot.row)?;
        }
        let (row, j) = (slot.row, slot.used);
        slot.used += 1;
        ctx.copy(a, cols.advice[5 * j], row);
        ctx.copy(b, cols.advice[5 * j + 1], row);
        let out = ctx.assign(cols.advice[5 * j + 2], row, split.map(|s| s.out as i128));
        let da = ctx.assign(cols.advice[5 * j + 3], row, split.map(|s| s.da as i128));
        let db = ctx.assign(cols.advice[5 * j + 4], row, split.map(|s| s.db as i128));
        ctx.check_range(&da, slack)?;
        ctx.check_range(&db, slack)?;
        Ok(out)
    }

    /// Zeroes the unused lanes of the last row; call once after the last [`Self::assign`].
    pub fn finish(&self, ctx: &mut RegionCtx<'_, '_>, slot: &MaxSlot) {
        let lanes = MaxConfig::lanes(self.config.cols.width());
        if slot.used > 0 && slot.used < lanes {
            ctx.pad_packed(&self.config.cols.advice, slot.row, slot.used, lanes, 5);
        }
    }
}

/// Where the next maximum goes: the current row and how many of its lanes are used.
#[derive(Clone, Copy, Debug, Default)]
pub struct MaxSlot {
    row: usize,
    used: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gadgets::test_util::{GadgetTest, assert_no_free_cells, assert_rejected, load};
    use crate::arith::max2;

    fn run(pairs: Vec<(i128, i128)>, splits: Vec<MaxSplit>, width: usize) -> GadgetTest {
        GadgetTest::new(width, move |config, ctx| {
            let chip = MaxChip::new(config.max.as_ref().unwrap());
            let mut slot = MaxSlot::default();
            let mut outs = vec![];
            for ((a, b), s) in pairs.iter().zip(&splits) {
                let cells = load(config, ctx, &[*a, *b]);
                outs.push(chip.assign(ctx, &mut slot, &cells[0], &cells[1], Some(*s), RangeKind::Unsigned(7))?);
            }
            chip.finish(ctx, &slot);
            Ok(outs)
        })
    }

    #[test]
    fn honest_maxima_pass() {
        let pairs = vec![(3, 5), (5, 3), (-4, -9), (7, 7), (0, -1)];
        let splits: Vec<_> = pairs.iter().map(|&(a, b)| max2(a as i64, b as i64)).collect();
        let outs: Vec<i128> = splits.iter().map(|s| s.out as i128).collect();
        for width in [5, 10, 12] {
            assert_no_free_cells(&run(pairs.clone(), splits.clone(), width), &outs);
        }
    }

    #[test]
    fn tampered_maxima_fail() {
        // The smaller value: db = -2 is out of range.
        assert_rejected(&run(vec![(3, 5)], vec![MaxSplit { out: 3, da: 0, db: -2 }], 5), &[3]);
        // Something above both: da·db ≠ 0.
        assert_rejected(&run(vec![(3, 5)], vec![MaxSplit { out: 9, da: 6, db: 4 }], 5), &[9]);
    }
}
