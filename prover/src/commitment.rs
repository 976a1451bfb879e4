//! Poseidon commitments: what a `hashed` tensor publishes instead of its values.
//!
//! The hash is Poseidon over BN254's scalar field with width 3, rate 2, the x⁵ S-box, 8 full and
//! 57 partial rounds, and the round constants and MDS matrix of the reference grain-LFSR
//! generation (the instance halo2-base and snark-verifier use). It runs as a sponge in iden3's
//! layout: the state starts as `[n, 0, 0]` for a message of `n` elements; each pair of elements
//! `(m_2i, m_2i+1)` (the last pair padded with 0) is added to `state[1], state[2]` and the state
//! permuted; the commitment is `state[0]` at the end. That is poseidon-primitives'
//! `Hash::<_, _, VariableLengthIden3, 3, 2>::hash_with_cap(message, n)`, which [`commit`] calls, so
//! anyone can recompute a commitment with that library.
//!
//! A tensor of integers is committed element by element, row-major, each integer `v` as the
//! field element `v` (a negative one as `p − |v|`). The in-circuit version is
//! [`crate::gadgets::poseidon`]; it lays out the per-round trace of [`permutation_trace`].

use std::sync::OnceLock;

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::ff::Field;
use poseidon_primitives::poseidon::primitives::{Hash, Spec, VariableLengthIden3};

use crate::field::fe;

/// Width of the permutation state.
pub const WIDTH: usize = 3;
/// Elements absorbed per permutation.
pub const RATE: usize = 2;
/// Full rounds (half before, half after the partial rounds).
pub const FULL_ROUNDS: usize = 8;
/// Partial rounds (S-box on the first element only).
pub const PARTIAL_ROUNDS: usize = 57;

/// The Poseidon instance of this module, for poseidon-primitives' generic code.
#[derive(Debug)]
pub struct PoseidonBn254;

impl Spec<Fr, WIDTH, RATE> for PoseidonBn254 {
    fn full_rounds() -> usize {
        FULL_ROUNDS
    }

    fn partial_rounds() -> usize {
        PARTIAL_ROUNDS
    }

    fn sbox(val: Fr) -> Fr {
        val.square().square() * val
    }

    fn secure_mds() -> usize {
        0
    }
}

/// The round constants (one triple per round) and the MDS matrix.
pub struct PoseidonConstants {
    /// `round_constants[r]` is added to the state before round `r`'s S-boxes.
    pub round_constants: Vec<[Fr; WIDTH]>,
    /// The mixing matrix applied after every round's S-boxes.
    pub mds: [[Fr; WIDTH]; WIDTH],
}

/// The constants, generated once (the grain LFSR takes a few milliseconds).
pub fn constants() -> &'static PoseidonConstants {
    static CONSTANTS: OnceLock<PoseidonConstants> = OnceLock::new();
    CONSTANTS.get_or_init(|| {
        let (round_constants, mds, _) = PoseidonBn254::constants();
        PoseidonConstants { round_constants, mds }
    })
}

/// Whether round `r` of a permutation is a full round (all S-boxes) or a partial one.
pub fn is_full_round(r: usize) -> bool {
    r < FULL_ROUNDS / 2 || r >= FULL_ROUNDS / 2 + PARTIAL_ROUNDS
}

/// Number of rounds of one permutation.
pub const ROUNDS: usize = FULL_ROUNDS + PARTIAL_ROUNDS;

/// The state before every round of one permutation of `state`, and the final state: `ROUNDS + 1`
/// states. Round `r` maps `s` to `M · (S(s_0 + c_0), S(s_1 + c_1), S(s_2 + c_2))` in a full round
/// and to `M · (S(s_0 + c_0), s_1 + c_1, s_2 + c_2)` in a partial one, with `S(x) = x⁵`.
pub fn permutation_trace(state: [Fr; WIDTH]) -> Vec<[Fr; WIDTH]> {
    let c = constants();
    let mut trace = Vec::with_capacity(ROUNDS + 1);
    trace.push(state);
    let mut s = state;
    for (r, rc) in c.round_constants.iter().enumerate() {
        let mut u = [Fr::ZERO; WIDTH];
        for j in 0..WIDTH {
            u[j] = s[j] + rc[j];
            if j == 0 || is_full_round(r) {
                u[j] = PoseidonBn254::sbox(u[j]);
            }
        }
        s = [Fr::ZERO; WIDTH];
        for (i, row) in c.mds.iter().enumerate() {
            s[i] = row.iter().zip(&u).map(|(m, x)| *m * x).sum();
        }
        trace.push(s);
    }
    trace
}

/// Cells of one row of the in-circuit sponge: the state, then three more words (the absorbed pair
/// on an absorption row, the squared S-box inputs on a round row).
pub type SpongeRow = [Fr; 6];

/// Rows one commitment to `n` elements takes in the circuit: per absorbed pair an absorption row
/// and one row per round, then the final state.
pub fn sponge_rows_needed(n: usize) -> usize {
    n.div_ceil(RATE) * (ROUNDS + 1) + 1
}

/// The witness of the in-circuit sponge over `message`, row by row (see
/// [`crate::gadgets::poseidon`]); the last row's first word is [`commit`]`(message)`.
pub fn sponge_rows(message: &[Fr]) -> Vec<SpongeRow> {
    let c = constants();
    let mut rows = Vec::with_capacity(sponge_rows_needed(message.len()));
    let mut state = [Fr::from(message.len() as u64), Fr::ZERO, Fr::ZERO];
    for pair in message.chunks(RATE) {
        let (m0, m1) = (pair[0], pair.get(1).copied().unwrap_or(Fr::ZERO));
        rows.push([state[0], state[1], state[2], m0, m1, Fr::ZERO]);
        state[1] += m0;
        state[2] += m1;
        let trace = permutation_trace(state);
        for (r, (s, rc)) in trace.iter().zip(&c.round_constants).enumerate() {
            let square = |j: usize| if j == 0 || is_full_round(r) { (s[j] + rc[j]).square() } else { Fr::ZERO };
            rows.push([s[0], s[1], s[2], square(0), square(1), square(2)]);
        }
        state = trace[ROUNDS];
    }
    rows.push([state[0], state[1], state[2], Fr::ZERO, Fr::ZERO, Fr::ZERO]);
    rows
}

/// The commitment to `message` (see the module documentation). Defined for non-empty messages:
/// every committed tensor has at least one element.
pub fn commit(message: &[Fr]) -> Fr {
    assert!(!message.is_empty(), "a commitment is to at least one element");
    Hash::<Fr, PoseidonBn254, VariableLengthIden3, WIDTH, RATE>::init().hash_with_cap(message, message.len() as u128)
}

/// The commitment to a list of integers.
pub fn commit_ints(values: &[i64]) -> Fr {
    commit_ints_salted(values, None)
}

/// The commitment to a list of integers followed, when given, by a salt: the message is the
/// values then the salt, so a salted commitment is [`commit`] of `n + 1` elements.
pub fn commit_ints_salted(values: &[i64], salt: Option<Fr>) -> Fr {
    let message: Vec<Fr> = values.iter().map(|&v| fe(v as i128)).chain(salt).collect();
    commit(&message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_matches_the_library_permutation() {
        let hasher = Hash::<Fr, PoseidonBn254, VariableLengthIden3, WIDTH, RATE>::init();
        let start = [Fr::from(1), Fr::from(2), Fr::from(3)];
        let mut expected = start;
        hasher.permute(&mut expected);
        let trace = permutation_trace(start);
        assert_eq!(trace.len(), ROUNDS + 1);
        assert_eq!(*trace.last().unwrap(), expected);
    }

    #[test]
    fn sponge_recipe_matches_the_library() {
        for n in [1usize, 2, 3, 8, 11] {
            let message: Vec<Fr> = (0..n).map(|i| fe(i as i128 * 37 - 100)).collect();
            let rows = sponge_rows(&message);
            assert_eq!(rows.len(), sponge_rows_needed(n));
            assert_eq!(commit(&message), rows.last().unwrap()[0], "length {n}");
        }
    }

    #[test]
    fn a_salt_is_one_more_element() {
        let salt = Fr::from(0x2a);
        assert_eq!(commit_ints_salted(&[1, 2], Some(salt)), commit(&[fe(1), fe(2), salt]));
        assert_ne!(commit_ints_salted(&[1, 2], Some(salt)), commit_ints(&[1, 2]));
        assert_ne!(commit_ints_salted(&[1, 2], Some(salt)), commit_ints_salted(&[1, 2], Some(salt + Fr::ONE)));
    }

    #[test]
    fn commitments_separate_lengths_and_values() {
        assert_ne!(commit_ints(&[1, 2]), commit_ints(&[1, 2, 0]));
        assert_ne!(commit_ints(&[1, 2]), commit_ints(&[2, 1]));
        assert_ne!(commit_ints(&[-1]), commit_ints(&[1]));
    }
}
