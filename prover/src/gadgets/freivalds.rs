//! Freivalds' check of a product with fixed weights, `Y = X·W + 1·bᵀ` (`P` positions × `K` inputs
//! times `K × O` weights plus a bias per output), with its randomness drawn from the transcript.
//!
//! Computing every `Y[p][o]` costs `P·K·O` multiplications. Instead, the prover commits to the `Y`
//! cells in the first phase, and the circuit checks one random combination of them. With two
//! challenges `α` and `β` (halo2's challenge API: squeezed from the transcript after every
//! first-phase column is committed), exponents `e_p = P−1−p` and `e_o = O−1−o`, and
//!
//! ```text
//!     z_i = Σ_p α^{e_p}·X[p][i]      (the fold of input i over the positions; z_K: of the all-ones input)
//!     v_i = Σ_o β^{e_o}·W[i][o]      (the fold of weight row i over the outputs; v_K: of the bias)
//!     S   = Σ_o β^{e_o}·Σ_p α^{e_p}·Y[p][o]
//! ```
//!
//! it constrains `S = Σ_{i≤K} v_i·z_i`, that is `Σ_{p,o} α^{e_p}·β^{e_o}·(Y − X·W − 1·bᵀ)[p][o] = 0`.
//! If any `Y[p][o]` is wrong, the left side is a non-zero polynomial in `(α, β)` of degree below
//! `P + O`, fixed before the challenges are drawn, so by Schwartz–Zippel it vanishes with
//! probability at most `(P + O)/|F| < 2^-240`. The check costs `(K + O + 1)·⌈P/L⌉` rows instead of
//! `P·⌈K/L'⌉·⌈O/M⌉` for the row-by-row product.
//!
//! Layout. `h` is one advice column of the second phase; `a_l` and `f_l` are the `L` main advice
//! and fixed columns. A *fold* lays a sequence out `L` to a row, padded at its start with zeros
//! (so that it keeps its value) to `⌈n/L⌉·L`, and `h` holds the running fold, so the last row's
//! `h` is the whole fold:
//!
//! ```text
//!     q_fold_first    · (h − Σ_l a_l·α^{L−1−l}) = 0
//!     q_fold_next     · (h − h_prev·α^L − Σ_l a_l·α^{L−1−l}) = 0
//!     q_weights_first · (h − Σ_l f_l·β^{L−1−l}) = 0
//!     q_weights_next  · (h − h_prev·β^L − Σ_l f_l·β^{L−1−l}) = 0
//!     q_horner        · (h_{+2} − h·β − h_{+1}) = 0          S = Σ_o β^{e_o}·(fold of column o of Y)
//!     q_dot           · (h_{+3} − h + h_{+1}·h_{+2}) = 0      subtracts v_i·z_i from it
//!     q_zero          · h = 0                                 it starts at 0 and ends at 0
//! ```
//!
//! The `Y` cells are laid out fresh (one fold per output, over the positions) and returned: they
//! are the product, and the next gadget copies them. The `X` cells and the padding are copies
//! (of the inputs, of a zero cell, of a one cell), so nothing in a fold is free. The weights sit
//! in fixed columns: the check binds the proof to them like the row-by-row product does.

use halo2_proofs::circuit::Value;
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Advice, Challenge, Column, ConstraintSystem, Error, Expression, FirstPhase, SecondPhase, Selector};
use halo2_proofs::poly::Rotation;

use crate::field::fe;
use super::{enable, Columns, Num, RegionCtx};

/// The second-phase column, the two challenges, the selectors and gates of the check.
#[derive(Clone, Debug)]
pub struct FreivaldsConfig {
    cols: Columns,
    h: Column<Advice>,
    alpha: Challenge,
    beta: Challenge,
    q_fold_first: Selector,
    q_fold_next: Selector,
    q_weights_first: Selector,
    q_weights_next: Selector,
    q_horner: Selector,
    q_dot: Selector,
    q_zero: Selector,
}

/// `c^0, c^1, …, c^n` as expressions.
fn powers(c: Expression<Fr>, n: usize) -> Vec<Expression<Fr>> {
    let mut out = vec![Expression::Constant(Fr::one())];
    for i in 0..n {
        out.push(out[i].clone() * c.clone());
    }
    out
}

impl FreivaldsConfig {
    /// Adds a second-phase advice column, two challenges usable after the first phase, and the
    /// gates over `cols`.
    pub fn configure(meta: &mut ConstraintSystem<Fr>, cols: &Columns) -> Self {
        let h = meta.advice_column_in(SecondPhase);
        meta.enable_equality(h);
        let (alpha, beta) = (meta.challenge_usable_after(FirstPhase), meta.challenge_usable_after(FirstPhase));
        let [q_fold_first, q_fold_next, q_weights_first, q_weights_next, q_horner, q_dot, q_zero] = [(); 7].map(|_| meta.selector());
        let lanes = cols.width();
        meta.create_gate("Freivalds folds", |m| {
            let (cur, prev) = (m.query_advice(h, Rotation::cur()), m.query_advice(h, Rotation::prev()));
            let a = powers(m.query_challenge(alpha), lanes);
            let b = powers(m.query_challenge(beta), lanes);
            let folded_advice = (0..lanes).fold(Expression::Constant(Fr::zero()), |sum, l| {
                sum + m.query_advice(cols.advice[l], Rotation::cur()) * a[lanes - 1 - l].clone()
            });
            let folded_fixed = (0..lanes).fold(Expression::Constant(Fr::zero()), |sum, l| {
                sum + m.query_fixed(cols.fixed[l], Rotation::cur()) * b[lanes - 1 - l].clone()
            });
            vec![
                m.query_selector(q_fold_first) * (cur.clone() - folded_advice.clone()),
                m.query_selector(q_fold_next) * (cur.clone() - prev.clone() * a[lanes].clone() - folded_advice),
                m.query_selector(q_weights_first) * (cur.clone() - folded_fixed.clone()),
                m.query_selector(q_weights_next) * (cur - prev * b[lanes].clone() - folded_fixed),
            ]
        });
        meta.create_gate("Freivalds sum", |m| {
            let [h0, h1, h2, h3] = [0, 1, 2, 3].map(|r| m.query_advice(h, Rotation(r)));
            let beta = m.query_challenge(beta);
            vec![
                m.query_selector(q_horner) * (h2.clone() - h0.clone() * beta - h1.clone()),
                m.query_selector(q_dot) * (h3 - h0.clone() + h1 * h2),
                m.query_selector(q_zero) * h0,
            ]
        });
        FreivaldsConfig { cols: cols.clone(), h, alpha, beta, q_fold_first, q_fold_next, q_weights_first, q_weights_next, q_horner, q_dot, q_zero }
    }

    /// Rows one check takes with `width` lanes: `positions` × `inputs` times `inputs` × `outputs`.
    pub fn rows(positions: usize, inputs: usize, outputs: usize, width: usize) -> usize {
        let (fold, weights) = (positions.div_ceil(width), outputs.div_ceil(width));
        (outputs + inputs + 1) * fold + (inputs + 1) * weights + 2 * outputs + 1 + 3 * (inputs + 1) + 1
    }
}

/// One fold laid out in the first phase, whose running values `h` are assigned in the second.
#[derive(Clone, Debug)]
struct Fold {
    start: usize,
    /// The padded sequence, `L` per row; `None` while unknown (keygen).
    values: Vec<Option<Fr>>,
    /// Folds the advice lanes by `α` (else the fixed lanes by `β`).
    advice: bool,
}

/// The part of a check that waits for the challenges: what [`FreivaldsChip::assign_products`]
/// returns and [`FreivaldsChip::assign_check`] completes.
#[derive(Clone, Debug)]
pub struct PendingCheck {
    /// Folds of the `O` columns of `Y`.
    outputs: Vec<Fold>,
    /// Folds of the `K` inputs and of the all-ones input.
    inputs: Vec<Fold>,
    /// Folds of the `K` weight rows and of the bias.
    weights: Vec<Fold>,
    /// First row of the final sum.
    sum_start: usize,
}

/// Assigns Freivalds checks.
pub struct FreivaldsChip<'c> {
    config: &'c FreivaldsConfig,
}

/// The running folds of `values` (padded, `lanes` per row) by `c`: one value per row.
fn running_folds(values: &[Option<Fr>], lanes: usize, c: Fr) -> Vec<Option<Fr>> {
    let mut acc = Some(Fr::zero());
    values
        .chunks(lanes)
        .map(|row| {
            acc = row.iter().fold(acc, |h, v| h.zip(*v).map(|(h, v)| h * c + v));
            acc
        })
        .collect()
}

impl<'c> FreivaldsChip<'c> {
    /// A chip over `config`.
    pub fn new(config: &'c FreivaldsConfig) -> Self {
        FreivaldsChip { config }
    }

    /// First phase: lays out the `P × O` product cells (`claimed[p·O + o]`, returned in that
    /// order), the folds of the inputs `x[p][i]` (`None` is a zero: a tap outside a padded input),
    /// and the weight folds of `weights[i][o]` and `bias[o]`; reserves the rows of the final sum.
    /// `zero` and `one` are cells constrained to 0 and 1. Call [`Self::assign_check`] with the
    /// result after every first-phase cell of the circuit is assigned.
    #[allow(clippy::too_many_arguments)]
    pub fn assign_products(
        &self,
        ctx: &mut RegionCtx<'_, '_>,
        x: &[Vec<Option<Num>>],
        weights: &[Vec<i64>],
        bias: &[i64],
        claimed: &[Option<i128>],
        zero: &Num,
        one: &Num,
    ) -> Result<(Vec<Num>, PendingCheck), Error> {
        let (positions, inputs, outputs) = (x.len(), weights.len(), bias.len());
        if claimed.len() != positions * outputs || x.iter().any(|row| row.len() != inputs) || weights.iter().any(|w| w.len() != outputs) {
            return Err(Error::Synthesis);
        }
        let mut products = vec![None; positions * outputs];
        let mut output_folds = Vec::with_capacity(outputs);
        for o in 0..outputs {
            let sequence: Vec<Option<i128>> = (0..positions).map(|p| claimed[p * outputs + o]).collect();
            let (fold, cells) = self.fold_fresh(ctx, &sequence, zero)?;
            for (p, cell) in cells.into_iter().enumerate() {
                products[p * outputs + o] = Some(cell);
            }
            output_folds.push(fold);
        }
        let mut input_folds = Vec::with_capacity(inputs + 1);
        for i in 0..inputs {
            let sequence: Vec<&Num> = (0..positions).map(|p| x[p][i].as_ref().unwrap_or(zero)).collect();
            input_folds.push(self.fold_copies(ctx, &sequence, zero)?);
        }
        input_folds.push(self.fold_copies(ctx, &vec![one; positions], zero)?);
        let mut weight_folds = Vec::with_capacity(inputs + 1);
        for row in weights.iter().map(Vec::as_slice).chain([bias]) {
            weight_folds.push(self.fold_fixed(ctx, row)?);
        }
        let sum_start = ctx.take_rows(2 * outputs + 1 + 3 * (inputs + 1) + 1);
        let products = products.into_iter().collect::<Option<Vec<Num>>>().ok_or(Error::Synthesis)?;
        Ok((products, PendingCheck { outputs: output_folds, inputs: input_folds, weights: weight_folds, sum_start }))
    }

    /// The rows of one fold of `len` values: its first row and the padding in front.
    fn fold_rows(&self, ctx: &mut RegionCtx<'_, '_>, len: usize, advice: bool) -> Result<(usize, usize), Error> {
        let lanes = self.config.cols.width();
        let rows = len.div_ceil(lanes).max(1);
        let start = ctx.take_rows(rows);
        let (first, next) = if advice {
            (&self.config.q_fold_first, &self.config.q_fold_next)
        } else {
            (&self.config.q_weights_first, &self.config.q_weights_next)
        };
        for r in 0..rows {
            enable(if r == 0 { first } else { next }, ctx.region, start + r)?;
        }
        Ok((start, rows * lanes - len))
    }

    /// A fold whose cells are new witnesses with values `sequence` (returned in order).
    fn fold_fresh(&self, ctx: &mut RegionCtx<'_, '_>, sequence: &[Option<i128>], zero: &Num) -> Result<(Fold, Vec<Num>), Error> {
        let lanes = self.config.cols.width();
        let (start, pad) = self.fold_rows(ctx, sequence.len(), true)?;
        let mut values = Vec::with_capacity(pad + sequence.len());
        let mut cells = Vec::with_capacity(sequence.len());
        for n in 0..pad + sequence.len() {
            let (row, col) = (start + n / lanes, self.config.cols.advice[n % lanes]);
            if n < pad {
                ctx.copy(zero, col, row);
                values.push(Some(Fr::zero()));
            } else {
                let v = sequence[n - pad];
                cells.push(ctx.assign(col, row, v));
                values.push(v.map(fe));
            }
        }
        Ok((Fold { start, values, advice: true }, cells))
    }

    /// A fold of copies of `sequence`.
    fn fold_copies(&self, ctx: &mut RegionCtx<'_, '_>, sequence: &[&Num], zero: &Num) -> Result<Fold, Error> {
        let lanes = self.config.cols.width();
        let (start, pad) = self.fold_rows(ctx, sequence.len(), true)?;
        let mut values = Vec::with_capacity(pad + sequence.len());
        for n in 0..pad + sequence.len() {
            let from = if n < pad { zero } else { sequence[n - pad] };
            ctx.copy(from, self.config.cols.advice[n % lanes], start + n / lanes);
            values.push(from.value.map(fe));
        }
        Ok(Fold { start, values, advice: true })
    }

    /// A fold of constants in the fixed lanes.
    fn fold_fixed(&self, ctx: &mut RegionCtx<'_, '_>, sequence: &[i64]) -> Result<Fold, Error> {
        let lanes = self.config.cols.width();
        let (start, pad) = self.fold_rows(ctx, sequence.len(), false)?;
        let mut values = Vec::with_capacity(pad + sequence.len());
        for n in 0..pad + sequence.len() {
            let v = if n < pad { 0 } else { sequence[n - pad] as i128 };
            ctx.region.assign_fixed(self.config.cols.fixed[n % lanes], start + n / lanes, fe(v));
            values.push(Some(fe(v)));
        }
        Ok(Fold { start, values, advice: false })
    }

    /// The two challenges, known only in the second phase of proving.
    pub fn challenges(&self, ctx: &RegionCtx<'_, '_>) -> (Option<Fr>, Option<Fr>) {
        let known = |v: Value<Fr>| {
            let mut out = None;
            v.map(|x| out = Some(x));
            out
        };
        (known(ctx.region.get_challenge(self.config.alpha)), known(ctx.region.get_challenge(self.config.beta)))
    }

    /// Second phase: assigns every running fold and the final sum of `pending`, with the
    /// challenges `(α, β)` from [`Self::challenges`] (`None` at keygen).
    pub fn assign_check(&self, ctx: &mut RegionCtx<'_, '_>, pending: &PendingCheck, (alpha, beta): (Option<Fr>, Option<Fr>)) -> Result<(), Error> {
        self.assign_check_claimed(ctx, pending, (alpha, beta), None)
    }

    /// [`Self::assign_check`], with the final sum's last value replaced by `last` (tests only:
    /// a prover forcing the check to pass).
    fn assign_check_claimed(&self, ctx: &mut RegionCtx<'_, '_>, pending: &PendingCheck, (alpha, beta): (Option<Fr>, Option<Fr>), last: Option<Fr>) -> Result<(), Error> {
        let lanes = self.config.cols.width();
        let h = self.config.h;
        let assign_fold = |ctx: &mut RegionCtx<'_, '_>, fold: &Fold| {
            let c = if fold.advice { alpha } else { beta };
            let running = match c {
                Some(c) => running_folds(&fold.values, lanes, c),
                None => vec![None; fold.values.len().div_ceil(lanes)],
            };
            let mut last = None;
            for (r, v) in running.iter().enumerate() {
                last = Some((super::assign_advice(ctx.region, h, fold.start + r, v.map_or(Value::unknown(), Value::known)), *v));
            }
            last.ok_or(Error::Synthesis)
        };
        let outputs: Vec<_> = pending.outputs.iter().map(|f| assign_fold(ctx, f)).collect::<Result<_, _>>()?;
        let inputs: Vec<_> = pending.inputs.iter().map(|f| assign_fold(ctx, f)).collect::<Result<_, _>>()?;
        let weights: Vec<_> = pending.weights.iter().map(|f| assign_fold(ctx, f)).collect::<Result<_, _>>()?;

        // S by Horner over the output folds, then minus every v_i·z_i; it must end at zero.
        let mut row = pending.sum_start;
        let put = |ctx: &mut RegionCtx<'_, '_>, row: usize, v: Option<Fr>| super::assign_advice(ctx.region, h, row, v.map_or(Value::unknown(), Value::known));
        let mut acc = Some(Fr::zero());
        enable(&self.config.q_zero, ctx.region, row)?;
        put(ctx, row, acc);
        for (cell, value) in &outputs {
            enable(&self.config.q_horner, ctx.region, row)?;
            let copied = put(ctx, row + 1, *value);
            ctx.region.constrain_equal(*cell, copied);
            acc = acc.zip(beta).zip(*value).map(|((s, b), x)| s * b + x);
            put(ctx, row + 2, acc);
            row += 2;
        }
        for (n, ((v_cell, v), (z_cell, z))) in weights.iter().zip(&inputs).enumerate() {
            enable(&self.config.q_dot, ctx.region, row)?;
            let v_copy = put(ctx, row + 1, *v);
            ctx.region.constrain_equal(*v_cell, v_copy);
            let z_copy = put(ctx, row + 2, *z);
            ctx.region.constrain_equal(*z_cell, z_copy);
            acc = acc.zip(*v).zip(*z).map(|((s, v), z)| s - v * z);
            row += 3;
            put(ctx, row, if n + 1 == inputs.len() { last.or(acc) } else { acc });
        }
        enable(&self.config.q_zero, ctx.region, row)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gadgets::constant::ConstantChip;
    use crate::gadgets::test_util::{GadgetTest, assert_no_free_cells, assert_no_free_pairs, assert_rejected, load};

    /// A check of `x·w + b` claiming `claimed`, optionally forcing the final sum to `last`.
    fn run(x: Vec<Vec<Option<i128>>>, w: Vec<Vec<i64>>, b: Vec<i64>, claimed: Vec<i128>, width: usize, last: Option<Fr>) -> GadgetTest {
        GadgetTest::new(width, move |config, ctx| {
            let constant = ConstantChip::new(config.constant.as_ref().unwrap());
            let (zero, one) = (constant.assign(ctx, 0)?, constant.assign(ctx, 1)?);
            let cells: Vec<Vec<Option<Num>>> = x
                .iter()
                .map(|row| {
                    // Only the known inputs get cells (a cell for a tap outside the input would be
                    // a free cell of the test, not of the gadget).
                    let known: Vec<i128> = row.iter().flatten().copied().collect();
                    let mut cells = load(config, ctx, &known).into_iter();
                    row.iter().map(|v| v.and_then(|_| cells.next())).collect()
                })
                .collect();
            let chip = FreivaldsChip::new(config.freivalds.as_ref().unwrap());
            let claimed: Vec<_> = claimed.iter().map(|&c| Some(c)).collect();
            let (products, pending) = chip.assign_products(ctx, &cells, &w, &b, &claimed, &zero, &one)?;
            ctx.region.next_phase();
            let challenges = chip.challenges(ctx);
            chip.assign_check_claimed(ctx, &pending, challenges, last)?;
            Ok(products)
        })
    }

    fn truth(x: &[Vec<Option<i128>>], w: &[Vec<i64>], b: &[i64]) -> Vec<i128> {
        x.iter()
            .flat_map(|row| (0..b.len()).map(move |o| row.iter().zip(w).map(|(xi, wi)| xi.unwrap_or(0) * wi[o] as i128).sum::<i128>() + b[o] as i128))
            .collect()
    }

    fn example(positions: usize, inputs: usize, outputs: usize) -> (Vec<Vec<Option<i128>>>, Vec<Vec<i64>>, Vec<i64>) {
        let x = (0..positions).map(|p| (0..inputs).map(|i| if (p + i) % 5 == 4 { None } else { Some((p * 7 + i * 3) as i128 % 23 - 11) }).collect()).collect();
        let w = (0..inputs).map(|i| (0..outputs).map(|o| ((i * 5 + o * 11) % 17) as i64 - 8).collect()).collect();
        let b = (0..outputs).map(|o| o as i64 * 13 - 20).collect();
        (x, w, b)
    }

    /// The check sums over a row's lanes: no two of its cells may change together either.
    #[test]
    fn no_two_cells_of_a_row_change_together() {
        let (x, w, b) = example(4, 3, 2);
        let y = truth(&x, &w, &b);
        assert_no_free_pairs(&run(x, w, b, y.clone(), 5, None), &y);
    }

    #[test]
    fn true_products_pass_for_several_shapes() {
        for (positions, inputs, outputs, width) in [(1, 1, 1, 4), (7, 3, 2, 4), (9, 5, 6, 5), (12, 4, 9, 7)] {
            let (x, w, b) = example(positions, inputs, outputs);
            let y = truth(&x, &w, &b);
            assert_no_free_cells(&run(x, w, b, y.clone(), width, None), &y);
        }
    }

    #[test]
    fn any_wrong_product_fails() {
        let (x, w, b) = example(6, 4, 3);
        let y = truth(&x, &w, &b);
        for at in [0, 5, 17] {
            let mut bad = y.clone();
            bad[at] += 1;
            assert_rejected(&run(x.clone(), w.clone(), b.clone(), bad.clone(), 4, None), &bad);
        }
        // Two errors that cancel in a plain sum still fail the random combination.
        let mut bad = y.clone();
        bad[1] += 3;
        bad[4] -= 3;
        assert_rejected(&run(x, w, b, bad.clone(), 4, None), &bad);
    }

    #[test]
    fn forcing_the_final_sum_to_zero_fails() {
        let (x, w, b) = example(5, 3, 2);
        let mut bad = truth(&x, &w, &b);
        bad[2] -= 7;
        // The product is wrong, and the prover writes 0 as the final sum anyway.
        assert_rejected(&run(x, w, b, bad.clone(), 4, Some(Fr::zero())), &bad);
    }
}
