//! ReLU: `out = max(x, 0)`.
//!
//! Each row packs `⌊W/3⌋` triples `(x, out, neg)` in `a_{3j}, a_{3j+1}, a_{3j+2}`:
//!
//! ```text
//!     q · (x − out + neg) = 0
//!     q · out · neg       = 0
//!     out, neg ∈ [0, 2B)     (range checks; B is the activation bound, far below the field size)
//! ```
//!
//! `out·neg = 0` makes one of them zero. If `neg = 0` then `out = x ≥ 0`; if `out = 0` then
//! `neg = −x ≥ 0`, so `x ≤ 0`. Either way `out = max(x, 0)`: a negative output, or a positive
//! output for a negative input, cannot satisfy both the gate and the range checks.

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{ConstraintSystem, Error, Expression, Selector};
use halo2_proofs::poly::Rotation;

use super::{enable, Columns, Num, RegionCtx};
use crate::arith::ReluSplit;
use crate::range::RangeKind;

/// Selector and gate of ReLU.
#[derive(Clone, Debug)]
pub struct ReluConfig {
    cols: Columns,
    q: Selector,
}

impl ReluConfig {
    /// Adds the gate over `cols` (needs at least 3 columns).
    pub fn configure(meta: &mut ConstraintSystem<Fr>, cols: &Columns) -> Self {
        let q = meta.selector();
        meta.create_gate("relu", |m| {
            let q = m.query_selector(q);
            (0..Self::lanes(cols.width()))
                .flat_map(|j| {
                    let x = m.query_advice(cols.advice[3 * j], Rotation::cur());
                    let out = m.query_advice(cols.advice[3 * j + 1], Rotation::cur());
                    let neg = m.query_advice(cols.advice[3 * j + 2], Rotation::cur());
                    [q.clone() * (x - out.clone() + neg.clone()), q.clone() * out * neg]
                })
                .collect::<Vec<Expression<Fr>>>()
        });
        ReluConfig { cols: cols.clone(), q }
    }

    /// Triples per row.
    pub fn lanes(width: usize) -> usize {
        width / 3
    }

    /// Rows for `count` ReLUs.
    pub fn rows(count: usize, width: usize) -> usize {
        count.div_ceil(Self::lanes(width))
    }
}

/// Assigns ReLUs.
pub struct ReluChip<'c> {
    config: &'c ReluConfig,
}

impl<'c> ReluChip<'c> {
    /// A chip over `config`.
    pub fn new(config: &'c ReluConfig) -> Self {
        ReluChip { config }
    }

    /// Applies ReLU to every `x` with the caller's split (from [`crate::arith::relu`]);
    /// `out` and `neg` are range-checked in `range` (unsigned). Returns the `out` cells.
    pub fn assign(&self, ctx: &mut RegionCtx<'_, '_>, items: &[(Num, Option<ReluSplit>)], range: RangeKind) -> Result<Vec<Num>, Error> {
        let cols = &self.config.cols;
        let lanes = ReluConfig::lanes(cols.width());
        let start = ctx.take_rows(ReluConfig::rows(items.len(), cols.width()));
        let mut outs = Vec::with_capacity(items.len());
        for (i, (x, split)) in items.iter().enumerate() {
            let (row, j) = (start + i / lanes, i % lanes);
            if j == 0 {
                enable(&self.config.q, ctx.region, row)?;
            }
            ctx.copy(x, cols.advice[3 * j], row);
            let out = ctx.assign(cols.advice[3 * j + 1], row, split.map(|s| s.out as i128));
            let neg = ctx.assign(cols.advice[3 * j + 2], row, split.map(|s| s.neg as i128));
            ctx.check_range(&out, range)?;
            ctx.check_range(&neg, range)?;
            outs.push(out);
        }
        ctx.pad_packed(&cols.advice, start, items.len(), lanes, 3);
        Ok(outs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gadgets::test_util::{GadgetTest, assert_no_free_cells, assert_rejected, load};
    use crate::arith::relu;

    fn run(xs: Vec<i128>, splits: Vec<ReluSplit>, width: usize) -> GadgetTest {
        GadgetTest::new(width, move |config, ctx| {
            let x = load(config, ctx, &xs);
            let items: Vec<_> = x.into_iter().zip(splits.iter().map(|s| Some(*s))).collect();
            ReluChip::new(config.relu.as_ref().unwrap()).assign(ctx, &items, RangeKind::Unsigned(7))
        })
    }

    #[test]
    fn honest_relu_passes() {
        let xs = vec![-127, -5, 0, 1, 127];
        let splits: Vec<_> = xs.iter().map(|&x| relu(x as i64)).collect();
        let outs: Vec<i128> = splits.iter().map(|s| s.out as i128).collect();
        for width in [4, 5, 6] {
            assert_no_free_cells(&run(xs.clone(), splits.clone(), width), &outs);
        }
    }

    #[test]
    fn negative_output_fails() {
        // Passing x = -5 through: out = -5, neg = 0 satisfies the gate; the range check refuses it.
        assert_rejected(&run(vec![-5], vec![ReluSplit { out: -5, neg: 0 }], 4), &[-5]);
    }

    #[test]
    fn zeroing_a_positive_input_fails() {
        // x = 5 with out = 0 needs neg = -5: out of range.
        assert_rejected(&run(vec![5], vec![ReluSplit { out: 0, neg: -5 }], 4), &[0]);
        // Both halves non-zero breaks out·neg = 0.
        assert_rejected(&run(vec![5], vec![ReluSplit { out: 7, neg: 2 }], 4), &[7]);
    }
}
