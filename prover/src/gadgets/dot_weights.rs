//! Dot product of activations with constant weights, plus a constant bias.
//!
//! With `W` advice columns `a_0..a_{W-1}`, fixed columns `f_0..f_{W-1}` and `acc = a_{W-1}`, each
//! row holds up to `W-1` activations (copied in) next to their weights, and
//!
//! ```text
//!     q_first · (acc − Σ_{i<W−1} a_i·f_i − f_{W−1})             = 0
//!     q_next  · (acc − acc_prev − Σ_{i<W−1} a_i·f_i − f_{W−1})  = 0
//! ```
//!
//! where `acc_prev` is `acc` on the row above. A dot product of length `K` takes
//! `⌈K / (W−1)⌉` rows: `q_first` on the first, `q_next` on the others; the bias sits in `f_{W−1}`
//! of the first row (0 elsewhere). The last row's `acc` is the result. Weights are fixed columns,
//! so they are part of the verifying key: a proof is bound to these exact weights.

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{ConstraintSystem, Error, Selector};
use halo2_proofs::poly::Rotation;

use crate::field::fe;
use super::{enable, Columns, Num, RegionCtx};

/// Selectors and gate of the weighted dot product.
#[derive(Clone, Debug)]
pub struct DotWeightsConfig {
    cols: Columns,
    q_first: Selector,
    q_next: Selector,
}

impl DotWeightsConfig {
    /// Adds the gate over `cols` (needs at least 2 columns).
    pub fn configure(meta: &mut ConstraintSystem<Fr>, cols: &Columns) -> Self {
        let (q_first, q_next) = (meta.selector(), meta.selector());
        let w = cols.width();
        meta.create_gate("dot with weights", |m| {
            let acc = m.query_advice(cols.advice[w - 1], Rotation::cur());
            let acc_prev = m.query_advice(cols.advice[w - 1], Rotation::prev());
            let bias = m.query_fixed(cols.fixed[w - 1], Rotation::cur());
            let body = (0..w - 1).fold(bias, |sum, i| {
                sum + m.query_advice(cols.advice[i], Rotation::cur()) * m.query_fixed(cols.fixed[i], Rotation::cur())
            });
            let (first, next) = (m.query_selector(q_first), m.query_selector(q_next));
            vec![first * (acc.clone() - body.clone()), next * (acc - acc_prev - body)]
        });
        DotWeightsConfig { cols: cols.clone(), q_first, q_next }
    }

    /// Rows one dot product of length `len` takes.
    pub fn rows(len: usize, width: usize) -> usize {
        len.div_ceil(width - 1).max(1)
    }
}

/// Assigns weighted dot products.
pub struct DotWeightsChip<'c> {
    config: &'c DotWeightsConfig,
}

impl<'c> DotWeightsChip<'c> {
    /// A chip over `config`.
    pub fn new(config: &'c DotWeightsConfig) -> Self {
        DotWeightsChip { config }
    }

    /// Lays out `Σ x_i·weights_i + bias` and returns the cell holding it. `claimed` is the
    /// caller's value of the sum (from [`crate::arith::dot_rescale`]); the gate fails if it
    /// is not the true sum.
    pub fn assign(&self, ctx: &mut RegionCtx<'_, '_>, x: &[Num], weights: &[i64], bias: i64, claimed: Option<i128>) -> Result<Num, Error> {
        assert_eq!(x.len(), weights.len(), "one weight per activation");
        let cols = &self.config.cols;
        let lanes = cols.width() - 1;
        let rows = DotWeightsConfig::rows(x.len(), cols.width());
        let start = ctx.take_rows(rows);
        let mut partial = Some(bias as i128);
        let mut result = None;
        for r in 0..rows {
            let row = start + r;
            enable(if r == 0 { &self.config.q_first } else { &self.config.q_next }, ctx.region, row)?;
            let chunk = (r * lanes)..((r + 1) * lanes).min(x.len());
            for (lane, i) in chunk.clone().enumerate() {
                ctx.copy(&x[i], cols.advice[lane], row);
                ctx.region.assign_fixed(cols.fixed[lane], row, fe(weights[i] as i128));
                partial = partial.zip(x[i].value).map(|(p, v)| p + v * weights[i] as i128);
            }
            // Unused lanes: free, and harmless, since their weights are fixed zeros.
            for lane in chunk.len()..lanes {
                ctx.assign_free_zero(cols.advice[lane], row);
            }
            if r == 0 {
                ctx.region.assign_fixed(cols.fixed[lanes], row, fe(bias as i128));
            }
            let value = if r + 1 == rows { claimed } else { partial };
            result = Some(ctx.assign(cols.advice[lanes], row, value));
        }
        Ok(result.expect("at least one row"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gadgets::test_util::{GadgetTest, assert_no_free_cells, assert_no_free_pairs, assert_rejected, load};

    fn run(x: Vec<i128>, w: Vec<i64>, bias: i64, claimed: i128, width: usize) -> GadgetTest {
        GadgetTest::new(width, move |config, ctx| {
            let chip = DotWeightsChip::new(config.dot_weights.as_ref().unwrap());
            let xs = load(config, ctx, &x);
            let out = chip.assign(ctx, &xs, &w, bias, Some(claimed))?;
            Ok(vec![out])
        })
    }

    /// The lanes of a row are summed, and equal weights would absorb a (+1, −1) pair: no two
    /// cells of a row may change together.
    #[test]
    fn no_two_cells_of_a_row_change_together() {
        let (x, w) = (vec![3, -4, 5, 6, 7], vec![2, 2, -1, 2, 3]);
        let sum: i128 = x.iter().zip(&w).map(|(a, b)| a * *b as i128).sum::<i128>() + 4;
        assert_no_free_pairs(&run(x, w, 4, sum, 4), &[sum]);
    }

    #[test]
    fn correct_dot_products_pass() {
        // Lengths below, at and above one row, with negative values and a bias.
        for (len, width) in [(1, 4), (2, 4), (5, 4), (7, 4), (9, 6)] {
            let x: Vec<i128> = (0..len).map(|i| i as i128 * 3 - 7).collect();
            let w: Vec<i64> = (0..len).map(|i| 5 - i as i64 * 2).collect();
            let sum: i128 = x.iter().zip(&w).map(|(a, b)| a * *b as i128).sum::<i128>() - 11;
            assert_no_free_cells(&run(x, w, -11, sum, width), &[sum]);
        }
    }

    #[test]
    fn wrong_product_fails() {
        let x = vec![4, -4, 5, 6, 7];
        let w = vec![2, 2, -1, 0, 1];
        let sum: i128 = 6 - 8 - 5 + 7 + 10;
        assert_rejected(&run(x.clone(), w.clone(), 10, sum + 1, 4), &[sum + 1]);
        assert_rejected(&run(x, w, 10, sum - 1, 4), &[sum - 1]);
    }
}
