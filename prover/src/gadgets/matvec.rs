//! Several dot products of ONE activation vector with constant weight rows (a matrix-vector
//! product: the output channels of a convolution at one position, or the outputs of a linear
//! layer for one input row), `M` at a time.
//!
//! The `W` advice columns split into `L` input lanes `a_0..a_{L−1}` and `M` accumulator lanes
//! `acc_0..acc_{M−1}` (`L + M = W`). Fixed columns `w_{m,l}` hold the weights and `b_m` the biases:
//!
//! ```text
//!     q_first · (acc_m − Σ_{l<L} a_l·w_{m,l} − b_m)             = 0      for every m < M
//!     q_next  · (acc_m − acc_m,prev − Σ_{l<L} a_l·w_{m,l} − b_m)  = 0
//! ```
//!
//! A product with an input of length `K` takes `⌈K/L⌉` rows for `M` outputs at once, and copies
//! each input cell once per `M` outputs instead of once per output. Biases sit in the first row
//! (0 elsewhere); the last row's `acc_m` are the results. Weights and biases are fixed, so part of
//! the verifying key.

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Column, ConstraintSystem, Error, Expression, Fixed, Selector};
use halo2_proofs::poly::Rotation;

use crate::field::fe;
use super::{enable, Columns, Num, RegionCtx};

/// Selectors, weight columns and gate of the matrix-vector product.
#[derive(Clone, Debug)]
pub struct MatVecConfig {
    cols: Columns,
    weights: Vec<Vec<Column<Fixed>>>,
    bias: Vec<Column<Fixed>>,
    q_first: Selector,
    q_next: Selector,
}

impl MatVecConfig {
    /// Adds the gate over `cols` and `M·L + M` new fixed columns.
    pub fn configure(meta: &mut ConstraintSystem<Fr>, cols: &Columns) -> Self {
        let (lanes, outputs) = Self::split(cols.width());
        let weights: Vec<Vec<Column<Fixed>>> = (0..outputs).map(|_| (0..lanes).map(|_| meta.fixed_column()).collect()).collect();
        let bias: Vec<Column<Fixed>> = (0..outputs).map(|_| meta.fixed_column()).collect();
        let (q_first, q_next) = (meta.selector(), meta.selector());
        meta.create_gate("matrix-vector product", |m| {
            let (first, next) = (m.query_selector(q_first), m.query_selector(q_next));
            let inputs: Vec<Expression<Fr>> = (0..lanes).map(|l| m.query_advice(cols.advice[l], Rotation::cur())).collect();
            (0..outputs)
                .flat_map(|o| {
                    let acc = m.query_advice(cols.advice[lanes + o], Rotation::cur());
                    let acc_prev = m.query_advice(cols.advice[lanes + o], Rotation::prev());
                    let body = inputs.iter().enumerate().fold(m.query_fixed(bias[o], Rotation::cur()), |sum, (l, a)| {
                        sum + a.clone() * m.query_fixed(weights[o][l], Rotation::cur())
                    });
                    [first.clone() * (acc.clone() - body.clone()), next.clone() * (acc - acc_prev - body)]
                })
                .collect::<Vec<_>>()
        });
        MatVecConfig { cols: cols.clone(), weights, bias, q_first, q_next }
    }

    /// `(L, M)`: input lanes and outputs per row for `width` advice columns.
    pub fn split(width: usize) -> (usize, usize) {
        let outputs = width / 2;
        (width - outputs, outputs)
    }

    /// Rows for `outputs` products with an input of length `len`.
    pub fn rows(len: usize, outputs: usize, width: usize) -> usize {
        let (lanes, per_row) = Self::split(width);
        outputs.div_ceil(per_row) * len.div_ceil(lanes).max(1)
    }
}

/// Assigns matrix-vector products.
pub struct MatVecChip<'c> {
    config: &'c MatVecConfig,
}

impl<'c> MatVecChip<'c> {
    /// A chip over `config`.
    pub fn new(config: &'c MatVecConfig) -> Self {
        MatVecChip { config }
    }

    /// Lays out `Σ_i x_i·rows[o][i] + bias[o]` for every weight row `o`, returning one cell per
    /// row. `claimed[o]` is the caller's value of each sum (from
    /// [`crate::arith::dot_rescale`]); the gate fails unless it is the true sum.
    pub fn assign(&self, ctx: &mut RegionCtx<'_, '_>, x: &[Num], rows: &[&[i64]], bias: &[i64], claimed: &[Option<i128>]) -> Result<Vec<Num>, Error> {
        let (lanes, per_row) = MatVecConfig::split(self.config.cols.width());
        let mut out = Vec::with_capacity(rows.len());
        for start in (0..rows.len()).step_by(per_row) {
            let end = (start + per_row).min(rows.len());
            out.extend(self.assign_group(ctx, x, &rows[start..end], &bias[start..end], &claimed[start..end], lanes)?);
        }
        Ok(out)
    }

    fn assign_group(&self, ctx: &mut RegionCtx<'_, '_>, x: &[Num], rows: &[&[i64]], bias: &[i64], claimed: &[Option<i128>], lanes: usize) -> Result<Vec<Num>, Error> {
        let cols = &self.config.cols;
        let per_row = self.config.bias.len();
        let steps = x.len().div_ceil(lanes).max(1);
        let start = ctx.take_rows(steps);
        let mut partial: Vec<Option<i128>> = bias.iter().map(|&b| Some(b as i128)).collect();
        let mut results = vec![];
        for step in 0..steps {
            let row = start + step;
            enable(if step == 0 { &self.config.q_first } else { &self.config.q_next }, ctx.region, row)?;
            for lane in 0..lanes {
                let i = step * lanes + lane;
                match x.get(i) {
                    Some(cell) => {
                        ctx.copy(cell, cols.advice[lane], row);
                        for (o, w) in rows.iter().enumerate() {
                            ctx.region.assign_fixed(self.config.weights[o][lane], row, fe(w[i] as i128));
                            partial[o] = partial[o].zip(cell.value).map(|(p, v)| p + v * w[i] as i128);
                        }
                    }
                    None => {
                        // Free, and harmless: its weights are fixed zeros (unset fixed cells).
                        ctx.assign_free_zero(cols.advice[lane], row);
                    }
                }
            }
            for o in 0..per_row {
                if step == 0 {
                    ctx.region.assign_fixed(self.config.bias[o], row, fe(bias.get(o).copied().unwrap_or(0) as i128));
                }
                // Unused output lanes carry 0 (all their weights and bias are 0).
                let value = match o {
                    o if o >= rows.len() => Some(0),
                    o if step + 1 == steps => claimed[o],
                    o => partial[o],
                };
                let acc = ctx.assign(cols.advice[lanes + o], row, value);
                if step + 1 == steps && o < rows.len() {
                    results.push(acc);
                }
            }
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gadgets::test_util::{GadgetTest, assert_no_free_cells, assert_no_free_pairs, assert_rejected, load};

    fn run(x: Vec<i128>, w: Vec<Vec<i64>>, bias: Vec<i64>, claimed: Vec<i128>, width: usize) -> GadgetTest {
        GadgetTest::new(width, move |config, ctx| {
            let xs = load(config, ctx, &x);
            let rows: Vec<&[i64]> = w.iter().map(Vec::as_slice).collect();
            let claimed: Vec<_> = claimed.iter().map(|&c| Some(c)).collect();
            MatVecChip::new(config.matvec.as_ref().unwrap()).assign(ctx, &xs, &rows, &bias, &claimed)
        })
    }

    fn truth(x: &[i128], w: &[Vec<i64>], bias: &[i64]) -> Vec<i128> {
        w.iter().zip(bias).map(|(row, &b)| row.iter().zip(x).map(|(&wi, &xi)| wi as i128 * xi).sum::<i128>() + b as i128).collect()
    }

    /// The lanes of a row are summed: no two of its cells may change together either.
    #[test]
    fn no_two_cells_of_a_row_change_together() {
        let x: Vec<i128> = vec![3, -5, 7, 1, 2];
        let w: Vec<Vec<i64>> = vec![vec![1, 1, 2, -3, 4], vec![2, 2, -1, 0, 1]];
        let bias = vec![5, -6];
        let sums = truth(&x, &w, &bias);
        assert_no_free_pairs(&run(x, w, bias, sums.clone(), 5), &sums);
    }

    #[test]
    fn products_of_several_shapes_pass() {
        for (len, outputs, width) in [(1, 1, 4), (5, 3, 4), (9, 2, 5), (7, 5, 8), (3, 4, 6)] {
            let x: Vec<i128> = (0..len).map(|i| 3 * i as i128 - 5).collect();
            let w: Vec<Vec<i64>> = (0..outputs).map(|o| (0..len).map(|i| (i as i64 * 7 + o as i64 * 3) % 11 - 5).collect()).collect();
            let bias: Vec<i64> = (0..outputs).map(|o| o as i64 * 100 - 150).collect();
            let sums = truth(&x, &w, &bias);
            assert_no_free_cells(&run(x, w, bias, sums.clone(), width), &sums);
        }
    }

    #[test]
    fn a_wrong_output_in_any_lane_fails() {
        let x: Vec<i128> = vec![4, -3, 9, 2, 7];
        let w: Vec<Vec<i64>> = vec![vec![1, 2, 3, 4, 5], vec![-1, 0, 2, 0, 1], vec![5, 5, -5, 5, 5]];
        let bias = vec![3, -2, 0];
        let sums = truth(&x, &w, &bias);
        for lane in 0..3 {
            let mut bad = sums.clone();
            bad[lane] += 1;
            assert_rejected(&run(x.clone(), w.clone(), bias.clone(), bad.clone(), 4), &bad);
        }
    }
}
