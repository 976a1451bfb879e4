//! Poseidon commitment to a list of cells, in the circuit (see [`crate::commitment`] for the
//! hash and its sponge).
//!
//! Six advice columns `a_0..a_5` and three fixed columns `f_0..f_2`; one row per round. With
//! `u_j = a_j + f_j` (the state plus the round constants in the fixed columns), `M` the MDS
//! matrix and `a'` the next row:
//!
//! ```text
//!   q_start   · (a_0 − f_0) = 0,  q_start · a_1 = 0,  q_start · a_2 = 0      state = [n, 0, 0]
//!   q_absorb  · (a'_0 − a_0) = 0, q_absorb · (a'_1 − a_1 − a_3) = 0,
//!                                 q_absorb · (a'_2 − a_2 − a_4) = 0          add the pair a_3, a_4
//!   q_pad     · a_4 = 0                                                      the odd element's pad
//!   q_full    · (a_{3+j} − u_j²) = 0                            (j = 0,1,2)
//!   q_full    · (a'_i − Σ_j M_ij · a_{3+j}² · u_j) = 0          (i = 0,1,2)   S-box u⁵ = (u²)²·u
//!   q_partial · (a_3 − u_0²) = 0
//!   q_partial · (a'_i − M_i0 · a_3² · u_0 − M_i1 · u_1 − M_i2 · u_2) = 0
//! ```
//!
//! Squaring into a cell keeps every gate at degree 4 (the lookups already need that much), so the
//! hash does not widen the quotient. The absorbed pair is copied from the message cells, so the
//! commitment is to the exact cells the model uses. A commitment to `n` elements takes
//! [`crate::commitment::sponge_rows_needed`]`(n)` rows; the result is `a_0` of the last row.

use halo2_proofs::circuit::{Cell, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{ConstraintSystem, Error, Expression, Selector};
use halo2_proofs::poly::Rotation;

use super::{enable, Columns, Num, RegionCtx};
use crate::commitment::{constants, is_full_round, sponge_rows_needed, SpongeRow, RATE, ROUNDS, WIDTH};

/// Advice columns the gadget needs.
pub const MIN_WIDTH: usize = 6;

/// Selectors and gates of the Poseidon sponge.
#[derive(Clone, Debug)]
pub struct PoseidonConfig {
    cols: Columns,
    q_start: Selector,
    q_absorb: Selector,
    q_pad: Selector,
    q_full: Selector,
    q_partial: Selector,
}

impl PoseidonConfig {
    /// Adds the gates over `cols` when it has at least [`MIN_WIDTH`] columns; `None` otherwise
    /// (such a circuit cannot hash).
    pub fn configure(meta: &mut ConstraintSystem<Fr>, cols: &Columns) -> Option<Self> {
        if cols.width() < MIN_WIDTH {
            return None;
        }
        let (q_start, q_absorb, q_pad) = (meta.selector(), meta.selector(), meta.selector());
        let (q_full, q_partial) = (meta.selector(), meta.selector());
        let mds = constants().mds;
        let a = |m: &mut halo2_proofs::plonk::VirtualCells<'_, Fr>, i: usize, r: Rotation| m.query_advice(cols.advice[i], r);
        meta.create_gate("poseidon start and absorb", |m| {
            let (start, absorb, pad) = (m.query_selector(q_start), m.query_selector(q_absorb), m.query_selector(q_pad));
            let s: Vec<_> = (0..5).map(|i| a(m, i, Rotation::cur())).collect();
            let next: Vec<_> = (0..WIDTH).map(|i| a(m, i, Rotation::next())).collect();
            let capacity = m.query_fixed(cols.fixed[0], Rotation::cur());
            vec![
                start.clone() * (s[0].clone() - capacity),
                start.clone() * s[1].clone(),
                start * s[2].clone(),
                absorb.clone() * (next[0].clone() - s[0].clone()),
                absorb.clone() * (next[1].clone() - s[1].clone() - s[3].clone()),
                absorb * (next[2].clone() - s[2].clone() - s[4].clone()),
                pad * s[4].clone(),
            ]
        });
        meta.create_gate("poseidon round", |m| {
            let (full, partial) = (m.query_selector(q_full), m.query_selector(q_partial));
            let u: Vec<Expression<Fr>> =
                (0..WIDTH).map(|j| a(m, j, Rotation::cur()) + m.query_fixed(cols.fixed[j], Rotation::cur())).collect();
            let sq: Vec<_> = (0..WIDTH).map(|j| a(m, WIDTH + j, Rotation::cur())).collect();
            let next: Vec<_> = (0..WIDTH).map(|i| a(m, i, Rotation::next())).collect();
            let sbox = |j: usize| sq[j].clone() * sq[j].clone() * u[j].clone();
            let mut constraints = Vec::with_capacity(2 * WIDTH + 1 + WIDTH);
            for j in 0..WIDTH {
                constraints.push(full.clone() * (sq[j].clone() - u[j].clone() * u[j].clone()));
            }
            for i in 0..WIDTH {
                let mixed = (0..WIDTH).fold(Expression::Constant(Fr::zero()), |acc, j| acc + Expression::Constant(mds[i][j]) * sbox(j));
                constraints.push(full.clone() * (next[i].clone() - mixed));
            }
            constraints.push(partial.clone() * (sq[0].clone() - u[0].clone() * u[0].clone()));
            for i in 0..WIDTH {
                let mixed = (1..WIDTH).fold(Expression::Constant(mds[i][0]) * sbox(0), |acc, j| acc + Expression::Constant(mds[i][j]) * u[j].clone());
                constraints.push(partial.clone() * (next[i].clone() - mixed));
            }
            constraints
        });
        Some(PoseidonConfig { cols: cols.clone(), q_start, q_absorb, q_pad, q_full, q_partial })
    }

    /// Rows a commitment to `n` elements takes.
    pub fn rows(n: usize) -> usize {
        sponge_rows_needed(n)
    }
}

/// A commitment computed in the circuit: the cell holding it and, when proving, its value.
#[derive(Clone, Copy, Debug)]
pub struct CommitmentCell {
    /// The cell (to copy to a public input).
    pub cell: Cell,
    /// The commitment; `None` at key generation.
    pub value: Option<Fr>,
}

/// Lays out Poseidon commitments.
pub struct PoseidonChip<'c> {
    config: &'c PoseidonConfig,
}

impl<'c> PoseidonChip<'c> {
    /// A chip over `config`.
    pub fn new(config: &'c PoseidonConfig) -> Self {
        PoseidonChip { config }
    }

    /// Commits to `message` (non-empty), followed by a salt when `salted`. `rows` is the sponge
    /// witness from [`crate::commitment::sponge_rows`] over the message's values (and the salt;
    /// `None` at key generation); the absorbed words are copied from `message`, so a witness for
    /// other values fails. The salt's absorbed word is the one cell that copies nothing: it is the
    /// salt, a secret the commitment (a public input) pins.
    pub fn commit(&self, ctx: &mut RegionCtx<'_, '_>, message: &[Num], salted: bool, rows: Option<&[SpongeRow]>) -> Result<CommitmentCell, Error> {
        let elements = message.len() + usize::from(salted);
        let count = PoseidonConfig::rows(elements);
        if message.is_empty() || rows.is_some_and(|r| r.len() != count) {
            return Err(Error::Synthesis);
        }
        let cfg = self.config;
        let (advice, fixed) = (&cfg.cols.advice, &cfg.cols.fixed);
        let start = ctx.take_rows(count);
        let word = |row: usize, i: usize| rows.map_or(Value::unknown(), |r| Value::known(r[row][i]));
        let assign_row = |ctx: &mut RegionCtx<'_, '_>, row: usize, words: usize| -> Vec<Cell> {
            (0..words).map(|i| super::assign_advice(ctx.region, advice[i], start + row, word(row, i))).collect()
        };
        let round_constants = &constants().round_constants;
        let mut row = 0;
        for p in 0..elements.div_ceil(RATE) {
            let cells = assign_row(ctx, row, WIDTH + RATE);
            if p == 0 {
                enable(&cfg.q_start, ctx.region, start)?;
                ctx.region.assign_fixed(fixed[0], start, Fr::from(elements as u64));
            }
            enable(&cfg.q_absorb, ctx.region, start + row)?;
            for lane in 0..RATE {
                let element = p * RATE + lane;
                if let Some(num) = message.get(element) {
                    ctx.region.constrain_equal(num.cell, cells[WIDTH + lane]);
                } else if element >= elements {
                    enable(&cfg.q_pad, ctx.region, start + row)?;
                }
            }
            row += 1;
            for (r, rc) in round_constants.iter().enumerate().take(ROUNDS) {
                let full = is_full_round(r);
                let words = if full { 2 * WIDTH } else { WIDTH + 1 };
                #[cfg(test)]
                super::test_util::next_cells_are_internal(words);
                assign_row(ctx, row, words);
                for (j, c) in rc.iter().enumerate() {
                    ctx.region.assign_fixed(fixed[j], start + row, *c);
                }
                enable(if full { &cfg.q_full } else { &cfg.q_partial }, ctx.region, start + row)?;
                row += 1;
            }
        }
        let last = assign_row(ctx, row, WIDTH);
        Ok(CommitmentCell { cell: last[0], value: rows.map(|r| r[row][0]) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commitment::{commit, sponge_rows};
    use crate::field::fe;
    use crate::gadgets::test_util::{GadgetTest, assert_no_free_cells_fe, assert_no_free_glue_cells_fe, assert_rejected_fe, load};

    /// Hashes free cells holding `values` with the sponge witness `rows`, exposing the result.
    fn run(values: Vec<i128>, rows: Vec<SpongeRow>) -> GadgetTest {
        run_salted(values, false, rows)
    }

    /// [`run`], with a salt after the values when `salted` (its value is in `rows`).
    fn run_salted(values: Vec<i128>, salted: bool, rows: Vec<SpongeRow>) -> GadgetTest {
        GadgetTest::new(MIN_WIDTH, move |config, ctx| {
            let message = load(config, ctx, &values);
            let chip = PoseidonChip::new(config.poseidon.as_ref().expect("width 6 hashes"));
            let out = chip.commit(ctx, &message, salted, Some(&rows))?;
            Ok(vec![Num { cell: out.cell, value: None }])
        })
    }

    /// The salted commitment is `commit(values ++ [salt])`, with no free cell (the salt's cell is
    /// pinned by the public commitment), for an odd and an even number of elements; a witness
    /// salted otherwise than the public commitment is rejected.
    #[test]
    fn salted_commitment_passes_and_pins_its_salt() {
        let salt = Fr::from(0xfeed_beef_u64) * Fr::from(u64::MAX);
        for values in [vec![5], vec![-3, 7]] {
            let mut message: Vec<Fr> = values.iter().map(|&v| fe(v)).collect();
            message.push(salt);
            let (rows, hash) = (sponge_rows(&message), commit(&message));
            assert_eq!(hash, crate::commitment::commit_ints_salted(&values.iter().map(|&v| v as i64).collect::<Vec<_>>(), Some(salt)));
            // The rounds are searched by `honest_commitment_passes`; the salt changes the absorbing.
            assert_no_free_glue_cells_fe(&run_salted(values.clone(), true, rows), &[hash]);
            *message.last_mut().unwrap() = salt + Fr::one();
            assert_rejected_fe(&run_salted(values, true, sponge_rows(&message)), &[hash]);
        }
    }

    fn honest(values: &[i128]) -> (Vec<SpongeRow>, Fr) {
        let message: Vec<Fr> = values.iter().map(|&v| fe(v)).collect();
        (sponge_rows(&message), commit(&message))
    }

    #[test]
    fn honest_commitment_passes() {
        for values in [vec![5], vec![-3, 7], vec![1, -2, 3, 40000, -5]] {
            let (rows, hash) = honest(&values);
            assert_no_free_cells_fe(&run(values, rows), &[hash]);
        }
    }

    #[test]
    fn wrong_public_commitment_fails() {
        let (rows, hash) = honest(&[1, 2, 3]);
        assert_rejected_fe(&run(vec![1, 2, 3], rows), &[hash + Fr::one()]);
    }

    #[test]
    fn hashing_other_values_than_the_cells_fails() {
        // The witness hashes [1, 2, 4] while the cells hold [1, 2, 3]: the copy of the absorbed
        // word breaks, whatever public value is claimed.
        let (rows, hash) = honest(&[1, 2, 4]);
        assert_rejected_fe(&run(vec![1, 2, 3], rows), &[hash]);
    }

    #[test]
    fn tampered_round_fails() {
        let (honest_rows, hash) = honest(&[9, 8, 7]);
        // A wrong square in a full round, in a partial round, and a wrong state word.
        for (row, word) in [(1, 4), (10, 3), (30, 1), (70, 0)] {
            let mut rows = honest_rows.clone();
            rows[row][word] += Fr::one();
            assert_rejected_fe(&run(vec![9, 8, 7], rows), &[hash]);
        }
    }

    #[test]
    fn nonzero_padding_fails() {
        let (mut rows, _) = honest(&[5]);
        rows[0][4] = Fr::from(3);
        // Recompute the rest as if the pad were 3: a consistent trace of [5, 3] with length 1.
        let mut state = [rows[0][0], rows[0][1] + Fr::from(5), rows[0][2] + Fr::from(3)];
        let trace = crate::commitment::permutation_trace(state);
        let rc = &constants().round_constants;
        for (r, s) in trace.iter().enumerate().take(ROUNDS) {
            let sq = |j: usize| if j == 0 || is_full_round(r) { (s[j] + rc[r][j]).square() } else { Fr::zero() };
            rows[1 + r] = [s[0], s[1], s[2], sq(0), sq(1), sq(2)];
        }
        state = trace[ROUNDS];
        rows[1 + ROUNDS] = [state[0], state[1], state[2], Fr::zero(), Fr::zero(), Fr::zero()];
        assert_rejected_fe(&run(vec![5], rows), &[state[0]]);
    }
}
