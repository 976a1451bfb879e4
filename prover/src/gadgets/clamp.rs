//! Clamp to `[0, c]` (ReLU6 with `c = 6·2^scale`).
//!
//! Each row packs `⌊W/4⌋` items `(x, out, below, above)` in `a_{4j}..a_{4j+3}`, with `c` in
//! `f_{4j}`:
//!
//! ```text
//!     q · (x − out + below − above) = 0
//!     q · below · out               = 0
//!     q · above · (c − out)         = 0
//!     out ∈ [0, c],  below, above ∈ [0, 2B)      (range checks; B is the activation bound)
//! ```
//!
//! If `below > 0` then `out = 0`, so `above·c = 0` gives `above = 0` and `x = −below < 0`. If
//! `below = 0` and `above > 0` then `out = c` and `x = c + above > c`. Otherwise `x = out ∈ [0, c]`.
//! In every case `out = min(max(x, 0), c)`.

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{ConstraintSystem, Error, Expression, Selector};
use halo2_proofs::poly::Rotation;

use crate::field::fe;
use super::{enable, Columns, Num, RegionCtx};
use crate::arith::ClampSplit;
use crate::range::RangeKind;

/// Selector and gate of the clamp.
#[derive(Clone, Debug)]
pub struct ClampConfig {
    cols: Columns,
    q: Selector,
}

impl ClampConfig {
    /// Adds the gate over `cols` (needs at least 4 columns).
    pub fn configure(meta: &mut ConstraintSystem<Fr>, cols: &Columns) -> Self {
        let q = meta.selector();
        meta.create_gate("clamp", |m| {
            let q = m.query_selector(q);
            (0..Self::lanes(cols.width()))
                .flat_map(|j| {
                    let [x, out, below, above] = [0, 1, 2, 3].map(|o| m.query_advice(cols.advice[4 * j + o], Rotation::cur()));
                    let c = m.query_fixed(cols.fixed[4 * j], Rotation::cur());
                    [
                        q.clone() * (x - out.clone() + below.clone() - above.clone()),
                        q.clone() * below * out.clone(),
                        q.clone() * above * (c - out),
                    ]
                })
                .collect::<Vec<Expression<Fr>>>()
        });
        ClampConfig { cols: cols.clone(), q }
    }

    /// Items per row.
    pub fn lanes(width: usize) -> usize {
        width / 4
    }

    /// Rows for `count` clamps.
    pub fn rows(count: usize, width: usize) -> usize {
        count.div_ceil(Self::lanes(width))
    }
}

/// Assigns clamps.
pub struct ClampChip<'c> {
    config: &'c ClampConfig,
}

impl<'c> ClampChip<'c> {
    /// A chip over `config`.
    pub fn new(config: &'c ClampConfig) -> Self {
        ClampChip { config }
    }

    /// Clamps every `x` to `[0, max]` with the caller's split (from
    /// [`crate::arith::clamp`]); `below` and `above` are range-checked in `slack`.
    pub fn assign(&self, ctx: &mut RegionCtx<'_, '_>, items: &[(Num, Option<ClampSplit>)], max: i64, slack: RangeKind) -> Result<Vec<Num>, Error> {
        let cols = &self.config.cols;
        let lanes = ClampConfig::lanes(cols.width());
        let start = ctx.take_rows(ClampConfig::rows(items.len(), cols.width()));
        let mut outs = Vec::with_capacity(items.len());
        for (i, (x, split)) in items.iter().enumerate() {
            let (row, j) = (start + i / lanes, i % lanes);
            if j == 0 {
                enable(&self.config.q, ctx.region, row)?;
            }
            ctx.copy(x, cols.advice[4 * j], row);
            let out = ctx.assign(cols.advice[4 * j + 1], row, split.map(|s| s.out as i128));
            let below = ctx.assign(cols.advice[4 * j + 2], row, split.map(|s| s.below as i128));
            let above = ctx.assign(cols.advice[4 * j + 3], row, split.map(|s| s.above as i128));
            ctx.region.assign_fixed(cols.fixed[4 * j], row, fe(max as i128));
            ctx.check_range(&out, RangeKind::Below(max as u64 + 1))?;
            ctx.check_range(&below, slack)?;
            ctx.check_range(&above, slack)?;
            outs.push(out);
        }
        ctx.pad_packed(&cols.advice, start, items.len(), lanes, 4);
        Ok(outs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gadgets::test_util::{GadgetTest, assert_no_free_cells, assert_rejected, load};
    use crate::arith::clamp;

    fn run(xs: Vec<i128>, splits: Vec<ClampSplit>, width: usize) -> GadgetTest {
        GadgetTest::new(width, move |config, ctx| {
            let x = load(config, ctx, &xs);
            let items: Vec<_> = x.into_iter().zip(splits.iter().map(|s| Some(*s))).collect();
            ClampChip::new(config.clamp.as_ref().unwrap()).assign(ctx, &items, 100, RangeKind::Unsigned(7))
        })
    }

    #[test]
    fn honest_clamps_pass() {
        let xs = vec![-120, -1, 0, 1, 99, 100, 101, 127];
        let splits: Vec<_> = xs.iter().map(|&x| clamp(x as i64, 100)).collect();
        let outs: Vec<i128> = splits.iter().map(|s| s.out as i128).collect();
        for width in [4, 5, 8] {
            assert_no_free_cells(&run(xs.clone(), splits.clone(), width), &outs);
        }
    }

    #[test]
    fn tampered_clamps_fail() {
        // Above the bound but not clamped: out = 120 > c.
        assert_rejected(&run(vec![120], vec![ClampSplit { out: 120, below: 0, above: 0 }], 4), &[120]);
        // Clamped below the bound: out = 90 with above = 30 breaks above·(c − out) = 0.
        assert_rejected(&run(vec![120], vec![ClampSplit { out: 90, below: 0, above: 30 }], 4), &[90]);
        // A negative input passed through: out = -5 is out of range.
        assert_rejected(&run(vec![-5], vec![ClampSplit { out: -5, below: 0, above: 0 }], 4), &[-5]);
        // A positive input zeroed: below = -7 is out of range.
        assert_rejected(&run(vec![7], vec![ClampSplit { out: 0, below: -7, above: 0 }], 4), &[0]);
        // Both slacks used at once: out = 0, below = 3, above = 3 for x = 0 breaks above·c = 0.
        assert_rejected(&run(vec![0], vec![ClampSplit { out: 0, below: 3, above: 3 }], 4), &[0]);
    }
}
