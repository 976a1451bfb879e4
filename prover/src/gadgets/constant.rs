//! Constants as advice cells: a cell other gadgets can copy (the `1` that multiplies a witnessed
//! bias, the value a Pad writes).
//!
//! ```text
//!     q · (a_0 − f_0) = 0
//! ```
//!
//! with the constant in the fixed column `f_0` of the same row: the verifying key fixes it.

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{ConstraintSystem, Error, Selector};
use halo2_proofs::poly::Rotation;

use crate::field::fe;
use super::{enable, Columns, Num, RegionCtx};

/// The gate fixing a cell to a constant.
#[derive(Clone, Debug)]
pub struct ConstantConfig {
    cols: Columns,
    q: Selector,
}

impl ConstantConfig {
    /// Adds the gate over `cols`.
    pub fn configure(meta: &mut ConstraintSystem<Fr>, cols: &Columns) -> Self {
        let q = meta.selector();
        meta.create_gate("constant", |m| {
            let (a, f) = (m.query_advice(cols.advice[0], Rotation::cur()), m.query_fixed(cols.fixed[0], Rotation::cur()));
            vec![m.query_selector(q) * (a - f)]
        });
        ConstantConfig { cols: cols.clone(), q }
    }

    /// Rows for `count` constants (one each).
    pub fn rows(count: usize) -> usize {
        count
    }
}

/// Assigns constant cells.
pub struct ConstantChip<'c> {
    config: &'c ConstantConfig,
}

impl<'c> ConstantChip<'c> {
    /// A chip over `config`.
    pub fn new(config: &'c ConstantConfig) -> Self {
        ConstantChip { config }
    }

    /// A cell constrained to hold `value`. `claimed` is the value written to the cell (always
    /// `value`, except in tests that tamper with it).
    pub fn assign_claimed(&self, ctx: &mut RegionCtx<'_, '_>, value: i128, claimed: i128) -> Result<Num, Error> {
        let row = ctx.take_rows(1);
        enable(&self.config.q, ctx.region, row)?;
        ctx.region.assign_fixed(self.config.cols.fixed[0], row, fe(value));
        Ok(ctx.assign(self.config.cols.advice[0], row, Some(claimed)))
    }

    /// A cell constrained to hold `value`.
    pub fn assign(&self, ctx: &mut RegionCtx<'_, '_>, value: i128) -> Result<Num, Error> {
        self.assign_claimed(ctx, value, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gadgets::test_util::{GadgetTest, assert_no_free_cells, assert_rejected};

    fn run(value: i128, claimed: i128) -> GadgetTest {
        GadgetTest::new(4, move |config, ctx| {
            let chip = ConstantChip::new(config.constant.as_ref().expect("all gadgets in tests"));
            Ok(vec![chip.assign_claimed(ctx, value, claimed)?])
        })
    }

    #[test]
    fn constants_hold_and_other_values_fail() {
        assert_no_free_cells(&run(1, 1), &[1]);
        assert_no_free_cells(&run(-7, -7), &[-7]);
        assert_rejected(&run(1, 2), &[2]);
        assert_rejected(&run(0, 5), &[5]);
    }
}
