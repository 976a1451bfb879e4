//! Sums and differences: of two activations, and of an activation and a constant.
//!
//! Each row packs `⌊W/3⌋` triples `(a, b, c)` in `a_{3j}, a_{3j+1}, a_{3j+2}` for activation sums,
//! or `⌊W/2⌋` pairs `(a, c)` in `a_{2j}, a_{2j+1}` with the constant in `f_{2j}`:
//!
//! ```text
//!     q_add   · (a + b − c)     = 0
//!     q_sub   · (a − b − c)     = 0
//!     q_const · (a + f_{2j} − c) = 0
//! ```
//!
//! The sum is exact in the field: its operands are range-bounded integers far below the field
//! size, so no wrap-around can make a wrong `c` pass.

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{ConstraintSystem, Error, Expression, Selector};
use halo2_proofs::poly::Rotation;

use crate::field::fe;
use super::{enable, packed, Columns, Num, RegionCtx};

/// Selectors and gates of the sums.
#[derive(Clone, Debug)]
pub struct AddConfig {
    cols: Columns,
    q_add: Selector,
    q_sub: Selector,
    q_const: Selector,
}

impl AddConfig {
    /// Adds both gates over `cols` (needs at least 3 columns).
    pub fn configure(meta: &mut ConstraintSystem<Fr>, cols: &Columns) -> Self {
        let (q_add, q_sub, q_const) = (meta.selector(), meta.selector(), meta.selector());
        let w = cols.width();
        meta.create_gate("add and subtract", |m| {
            let (add, sub) = (m.query_selector(q_add), m.query_selector(q_sub));
            (0..w / 3)
                .flat_map(|j| {
                    let [a, b, c] = [0, 1, 2].map(|o| m.query_advice(cols.advice[3 * j + o], Rotation::cur()));
                    [add.clone() * (a.clone() + b.clone() - c.clone()), sub.clone() * (a - b - c)]
                })
                .collect::<Vec<Expression<Fr>>>()
        });
        meta.create_gate("add constant", |m| {
            let q = m.query_selector(q_const);
            (0..w / 2)
                .map(|j| {
                    let a = m.query_advice(cols.advice[2 * j], Rotation::cur());
                    let c = m.query_advice(cols.advice[2 * j + 1], Rotation::cur());
                    let f = m.query_fixed(cols.fixed[2 * j], Rotation::cur());
                    q.clone() * (a + f - c)
                })
                .collect::<Vec<Expression<Fr>>>()
        });
        AddConfig { cols: cols.clone(), q_add, q_sub, q_const }
    }

    /// Rows for `count` activation sums.
    pub fn rows_add(count: usize, width: usize) -> usize {
        count.div_ceil(width / 3)
    }

    /// Rows for `count` constant sums.
    pub fn rows_const(count: usize, width: usize) -> usize {
        count.div_ceil(width / 2)
    }
}

/// Assigns sums.
pub struct AddChip<'c> {
    config: &'c AddConfig,
}

impl<'c> AddChip<'c> {
    /// A chip over `config`.
    pub fn new(config: &'c AddConfig) -> Self {
        AddChip { config }
    }

    /// `c = a + b` for every pair; `claimed` holds the caller's sums, checked by the gate.
    pub fn add(&self, ctx: &mut RegionCtx<'_, '_>, pairs: &[(Num, Num)], claimed: &[Option<i128>]) -> Result<Vec<Num>, Error> {
        self.pairwise(ctx, &self.config.q_add, pairs, claimed)
    }

    /// `c = a − b` for every pair; `claimed` holds the caller's differences, checked by the gate.
    pub fn sub(&self, ctx: &mut RegionCtx<'_, '_>, pairs: &[(Num, Num)], claimed: &[Option<i128>]) -> Result<Vec<Num>, Error> {
        self.pairwise(ctx, &self.config.q_sub, pairs, claimed)
    }

    fn pairwise(&self, ctx: &mut RegionCtx<'_, '_>, q: &Selector, pairs: &[(Num, Num)], claimed: &[Option<i128>]) -> Result<Vec<Num>, Error> {
        let cols = &self.config.cols;
        packed(ctx, cols, q, pairs.len(), 3, |ctx, row, base, i| {
            let (a, b) = &pairs[i];
            ctx.copy(a, cols.advice[base], row);
            ctx.copy(b, cols.advice[base + 1], row);
            Ok(ctx.assign(cols.advice[base + 2], row, claimed[i]))
        })
    }

    /// `c = a + constant` for every item; `claimed` holds the caller's sums, checked by the gate.
    pub fn add_const(&self, ctx: &mut RegionCtx<'_, '_>, items: &[(Num, i64)], claimed: &[Option<i128>]) -> Result<Vec<Num>, Error> {
        let cols = &self.config.cols;
        let lanes = cols.width() / 2;
        let start = ctx.take_rows(AddConfig::rows_const(items.len(), cols.width()));
        let mut out = Vec::with_capacity(items.len());
        for (i, ((a, k), c)) in items.iter().zip(claimed).enumerate() {
            let (row, j) = (start + i / lanes, i % lanes);
            if j == 0 {
                enable(&self.config.q_const, ctx.region, row)?;
            }
            ctx.copy(a, cols.advice[2 * j], row);
            ctx.region.assign_fixed(cols.fixed[2 * j], row, fe(*k as i128));
            out.push(ctx.assign(cols.advice[2 * j + 1], row, *c));
        }
        ctx.pad_packed(&cols.advice, start, items.len(), lanes, 2);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gadgets::test_util::{GadgetTest, assert_no_free_cells, assert_rejected, load};

    fn run_add(a: Vec<i128>, b: Vec<i128>, c: Vec<i128>, width: usize) -> GadgetTest {
        GadgetTest::new(width, move |config, ctx| {
            let (xa, xb) = (load(config, ctx, &a), load(config, ctx, &b));
            let pairs: Vec<_> = xa.into_iter().zip(xb).collect();
            let claimed: Vec<_> = c.iter().map(|&v| Some(v)).collect();
            AddChip::new(config.add.as_ref().unwrap()).add(ctx, &pairs, &claimed)
        })
    }

    fn run_const(a: Vec<i128>, k: Vec<i64>, c: Vec<i128>, width: usize) -> GadgetTest {
        GadgetTest::new(width, move |config, ctx| {
            let xa = load(config, ctx, &a);
            let items: Vec<_> = xa.into_iter().zip(k.iter().copied()).collect();
            let claimed: Vec<_> = c.iter().map(|&v| Some(v)).collect();
            AddChip::new(config.add.as_ref().unwrap()).add_const(ctx, &items, &claimed)
        })
    }

    #[test]
    fn sums_pass_and_wrong_sums_fail() {
        let (a, b) = (vec![1, -2, 3, 40], vec![5, 6, -7, 8]);
        let c: Vec<i128> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        for width in [4, 4, 6] {
            assert_no_free_cells(&run_add(a.clone(), b.clone(), c.clone(), width), &c);
        }
        let mut bad = c.clone();
        bad[2] += 1;
        assert_rejected(&run_add(a, b, bad.clone(), 4), &bad);
    }

    #[test]
    fn differences_pass_and_wrong_differences_fail() {
        let (a, b) = (vec![1i128, -2, 3, 40], vec![5i128, 6, -7, 8]);
        let run = |c: Vec<i128>| {
            let (a, b) = (a.clone(), b.clone());
            GadgetTest::new(4, move |config, ctx| {
                let (xa, xb) = (load(config, ctx, &a), load(config, ctx, &b));
                let pairs: Vec<_> = xa.into_iter().zip(xb).collect();
                AddChip::new(config.add.as_ref().unwrap()).sub(ctx, &pairs, &c.iter().map(|&v| Some(v)).collect::<Vec<_>>())
            })
        };
        let c: Vec<i128> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
        assert_no_free_cells(&run(c.clone()), &c);
        // The sum where the difference is due.
        let sums: Vec<i128> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        assert_rejected(&run(sums.clone()), &sums);
    }

    #[test]
    fn constant_sums_pass_and_wrong_sums_fail() {
        let (a, k) = (vec![1, -2, 3], vec![10, -20, 0]);
        let c: Vec<i128> = a.iter().zip(&k).map(|(x, y)| x + *y as i128).collect();
        for width in [4, 4] {
            assert_no_free_cells(&run_const(a.clone(), k.clone(), c.clone(), width), &c);
        }
        let mut bad = c.clone();
        bad[0] -= 1;
        assert_rejected(&run_const(a, k, bad.clone(), 4), &bad);
    }
}
