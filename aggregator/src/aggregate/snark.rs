//! Inner proofs as snark-verifier sees them: a [`Snark`] is a proof with its protocol (compiled
//! from the verifying key), checked natively before any aggregation; placeholders of the same
//! shape stand in for proofs when an aggregation's key is derived without them.

use crate::error::{catch_panic, AggregatorError, Result};
use halo2_proofs::{
    halo2curves::bn256::{Bn256, Fr, G1Affine},
    plonk::VerifyingKey,
    poly::{
        commitment::{Params, ParamsProver},
        kzg::commitment::ParamsKZG,
    },
};
use snark_verifier_sdk::{
    halo2::{
        aggregation::AggregationCircuit,
        gen_dummy_snark_from_protocol, PoseidonTranscript, POSEIDON_SPEC,
    },
    snark_verifier::{
        pcs::kzg::KzgDecidingKey,
        system::halo2::{compile, Config},
        verifier::plonk::PlonkProtocol,
        verifier::SnarkVerifier,
    },
    CircuitExt, NativeLoader, PlonkVerifier, LIMBS, SHPLONK,
};

use snark_verifier_sdk::Snark;

/// Number of public inputs that encode the KZG accumulator: 4 coordinates × 3 limbs of 88 bits.
pub const ACCUMULATOR_LIMBS: usize = 4 * LIMBS;

/// Builds the [`Snark`] for an inner proof made with snark-verifier-sdk's Poseidon transcript and
/// SHPLONK (`gen_proof_shplonk` / `gen_snark_shplonk`), from its verifying key, public inputs (one
/// vector per instance column) and proof bytes.
///
/// `params` may be the inner SRS (degree = the vk's k) or any larger SRS with the same secret,
/// e.g. the aggregation SRS: a downsized copy is made then. The inner circuit must not itself carry
/// an accumulator (plain circuits only). Errors if the instance column count does not match the vk
/// or the SRS is smaller than the circuit. The proof itself is checked later, by [`aggregate`].
pub fn snark_from_parts(
    params: &ParamsKZG<Bn256>,
    vk: &VerifyingKey<G1Affine>,
    instances: Vec<Vec<Fr>>,
    proof: Vec<u8>,
) -> Result<Snark> {
    let columns = vk.cs().num_instance_columns();
    if instances.len() != columns {
        return Err(AggregatorError::InvalidInput(format!(
            "the verifying key has {columns} instance column(s) but {} were given",
            instances.len()
        )));
    }
    if proof.is_empty() {
        return Err(AggregatorError::InvalidInput("empty inner proof".into()));
    }
    let num_instance = instances.iter().map(Vec::len).collect::<Vec<_>>();
    Ok(Snark::new(model_protocol(params, vk, num_instance)?, instances, proof))
}

/// The protocol snark-verifier checks for a plain model proof of `vk` with `num_instance` public
/// inputs per column (`params` as for [`snark_from_parts`]).
pub(crate) fn model_protocol(params: &ParamsKZG<Bn256>, vk: &VerifyingKey<G1Affine>, num_instance: Vec<usize>) -> Result<PlonkProtocol<G1Affine>> {
    let vk_k = vk.get_domain().k();
    catch_panic("compiling the inner protocol", || {
        let config = Config::kzg().with_num_instance(num_instance);
        match params.k().cmp(&vk_k) {
            std::cmp::Ordering::Equal => Ok(compile(params, vk, config)),
            std::cmp::Ordering::Greater => {
                let mut small = params.clone();
                small.downsize(vk_k);
                Ok(compile(&small, vk, config))
            }
            std::cmp::Ordering::Less => Err(AggregatorError::InvalidInput(format!(
                "the SRS has degree {} but the inner circuit needs {vk_k}",
                params.k()
            ))),
        }
    })
}

/// The protocol of a first-level aggregation (its verifying key `vk`, `instances` public inputs
/// in one column of which the first 12 are its accumulator), as a further aggregation checks it.
pub(crate) fn group_protocol(params: &ParamsKZG<Bn256>, vk: &VerifyingKey<G1Affine>, instances: usize) -> PlonkProtocol<G1Affine> {
    compile(params, vk, Config::kzg().with_num_instance(vec![instances]).with_accumulator_indices(AggregationCircuit::accumulator_indices()))
}

/// A stand-in for a model proof of `vk` with `instances` public inputs: the right shape for
/// aggregation keygen (which reads only the protocol), but no valid proof.
pub fn placeholder_model_snark(params: &ParamsKZG<Bn256>, vk: &VerifyingKey<G1Affine>, instances: usize) -> Result<Snark> {
    Ok(gen_dummy_snark_from_protocol::<SHPLONK>(model_protocol(params, vk, vec![instances])?))
}

/// A stand-in for a first-level aggregation of verifying key `vk` (over `params`, its own degree)
/// with `instances` public inputs, accumulator included: see [`placeholder_model_snark`].
pub fn placeholder_group_snark(params: &ParamsKZG<Bn256>, vk: &VerifyingKey<G1Affine>, instances: usize) -> Result<Snark> {
    catch_panic("compiling a group protocol", || Ok(gen_dummy_snark_from_protocol::<SHPLONK>(group_protocol(params, vk, instances))))
}

pub(crate) fn deciding_key(params: &ParamsKZG<Bn256>) -> KzgDecidingKey<Bn256> {
    (params.get_g()[0], params.g2(), params.s_g2()).into()
}

/// Verifies one inner proof natively (Poseidon transcript, SHPLONK, final pairing; for an inner
/// aggregation also the pairing of the accumulator it carries).
pub(crate) fn check_inner(index: usize, snark: &Snark, dk: &KzgDecidingKey<Bn256>) -> Result<()> {
    let invalid = |reason: String| AggregatorError::InnerProofInvalid { index, reason };
    let counts = snark.instances.iter().map(Vec::len).collect::<Vec<_>>();
    if snark.protocol.num_instance != counts {
        return Err(AggregatorError::InvalidInput(format!(
            "inner proof #{index}: the protocol expects instance counts {:?} but {counts:?} were given",
            snark.protocol.num_instance
        )));
    }
    catch_panic("verifying an inner proof", || {
        let mut transcript = PoseidonTranscript::<NativeLoader, &[u8]>::from_spec(
            snark.proof(),
            POSEIDON_SPEC.clone(),
        );
        let proof = PlonkVerifier::<SHPLONK>::read_proof(
            dk,
            &snark.protocol,
            &snark.instances,
            &mut transcript,
        )
        .map_err(|e| invalid(format!("malformed proof: {e:?}")))?;
        PlonkVerifier::<SHPLONK>::verify(dk, &snark.protocol, &snark.instances, &proof).map_err(
            |e| {
                invalid(format!(
                    "{e:?} (an invalid proof, wrong public inputs, or an SRS with another secret)"
                ))
            },
        )
    })
}

/// Whether the proofs to aggregate are themselves aggregations, each carrying a KZG accumulator in
/// its first 12 public inputs (all are, or none is: snark-verifier re-exposes the inner public
/// inputs past the same offset for every proof).
pub(crate) fn carries_accumulators(snarks: &[Snark]) -> Result<bool> {
    let aggregation: Vec<Vec<(usize, usize)>> = vec![(0..ACCUMULATOR_LIMBS).map(|row| (0, row)).collect()];
    let carrying = snarks.iter().filter(|s| !s.protocol.accumulator_indices.is_empty()).count();
    if let Some(index) = snarks.iter().position(|s| !s.protocol.accumulator_indices.is_empty() && s.protocol.accumulator_indices != aggregation) {
        return Err(AggregatorError::InvalidInput(format!(
            "inner proof #{index} carries an accumulator elsewhere than in its first {ACCUMULATOR_LIMBS} public inputs"
        )));
    }
    match carrying {
        0 => Ok(false),
        n if n == snarks.len() => Ok(true),
        _ => Err(AggregatorError::InvalidInput(
            "some inner proofs are aggregations and some are not; aggregate plain proofs and aggregations separately".into(),
        )),
    }
}

/// Number of public inputs each proof contributes to its aggregation: all of a plain proof's, or
/// an inner aggregation's less the accumulator it carries (folded into the new one).
pub(crate) fn exposed_instance_counts(snarks: &[Snark]) -> Result<Vec<usize>> {
    let skipped = if carries_accumulators(snarks)? { ACCUMULATOR_LIMBS } else { 0 };
    Ok(snarks.iter().map(|s| s.instances.iter().map(Vec::len).sum::<usize>().saturating_sub(skipped)).collect())
}
