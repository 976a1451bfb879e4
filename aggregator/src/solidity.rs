//! Solidity source of EVM verifiers: for an aggregation circuit, or for a model circuit directly.

use crate::aggregate::ACCUMULATOR_LIMBS;
use crate::error::{catch_panic, AggregatorError, Result};
use halo2_proofs::{
    halo2curves::bn256::{Bn256, G1Affine},
    plonk::VerifyingKey,
    poly::{
        commitment::{Params, ParamsProver},
        kzg::commitment::ParamsKZG,
    },
};
use snark_verifier_sdk::{
    evm::gen_evm_verifier_sol_code,
    halo2::aggregation::AggregationCircuit,
    snark_verifier::{
        loader::evm::EvmLoader,
        system::halo2::{compile, transcript::evm::EvmTranscript, Config},
        verifier::SnarkVerifier,
    },
    PlonkVerifier, SHPLONK,
};
use std::rc::Rc;

/// The Solidity pragma snark-verifier emits; the project's solc (solc-js 0.8.19) accepts it as is.
pub const VERIFIER_PRAGMA: &str = "pragma solidity 0.8.19;";

/// Generates the Solidity verifier (SHPLONK, keccak transcript) for the aggregation circuit with
/// verifying key `vk`, over the aggregation SRS `params`, taking `num_instances` public inputs
/// (12 accumulator limbs + the inner public inputs).
///
/// The contract has no ABI: its fallback reads `num_instances` 32-byte big-endian words and then
/// the proof from calldata (see [`crate::encode_calldata`]), returns empty on success and reverts
/// otherwise. It also checks the accumulator pairing, so it accepts exactly the proofs
/// [`crate::aggregate`] produces for this key. The text starts with `pragma solidity 0.8.19;`.
///
/// Errors if `params` is not the SRS of `vk`'s degree or `num_instances < 12`.
pub fn verifier_solidity(
    params: &ParamsKZG<Bn256>,
    vk: &VerifyingKey<G1Affine>,
    num_instances: usize,
) -> Result<String> {
    check_degree(params, vk)?;
    if num_instances < ACCUMULATOR_LIMBS {
        return Err(AggregatorError::InvalidInput(format!(
            "an aggregation proof has at least {ACCUMULATOR_LIMBS} public inputs, got {num_instances}"
        )));
    }
    if vk.cs().num_instance_columns() != 1 {
        return Err(AggregatorError::InvalidInput(
            "not an aggregation verifying key (needs exactly one instance column)".into(),
        ));
    }
    catch_panic("generating the Solidity verifier", || {
        Ok(gen_evm_verifier_sol_code::<AggregationCircuit, SHPLONK>(params, vk, vec![num_instances]))
    })
}

/// Generates a Solidity verifier (SHPLONK, keccak transcript) for the plain circuit with verifying
/// key `vk` over its own SRS `params` (degree = the vk's), reading `num_instances` public inputs
/// from its one instance column: a *direct* verifier, for proofs made with the EVM transcript
/// (`zkml prove --evm`), no aggregation involved.
///
/// The contract has no ABI, like the aggregation verifier: calldata is the public inputs as
/// 32-byte big-endian words, then the proof; it returns empty on success and reverts otherwise.
/// Its final pairing check is the KZG opening of this one proof. Errors if `params` is not the
/// SRS of `vk`'s degree or the circuit does not have exactly one instance column.
pub fn direct_verifier_solidity(
    params: &ParamsKZG<Bn256>,
    vk: &VerifyingKey<G1Affine>,
    num_instances: usize,
) -> Result<String> {
    check_degree(params, vk)?;
    if vk.cs().num_instance_columns() != 1 {
        return Err(AggregatorError::InvalidInput("a direct verifier needs a circuit with exactly one instance column".into()));
    }
    catch_panic("generating the Solidity verifier", || {
        // No accumulator indices: the circuit verifies no other proof, so the contract's pairing
        // check is this proof's own opening.
        let protocol = compile(params, vk, Config::kzg().with_num_instance(vec![num_instances]));
        let deciding_key = (params.get_g()[0], params.g2(), params.s_g2()).into();
        let loader = EvmLoader::new::<halo2_proofs::halo2curves::bn256::Fq, halo2_proofs::halo2curves::bn256::Fr>();
        let protocol = protocol.loaded(&loader);
        let mut transcript = EvmTranscript::<_, Rc<EvmLoader>, _, _>::new(&loader);
        let instances = transcript.load_instances(vec![num_instances]);
        let proof = PlonkVerifier::<SHPLONK>::read_proof(&deciding_key, &protocol, &instances, &mut transcript)
            .map_err(|e| AggregatorError::Internal { context: "generating the Solidity verifier", message: format!("{e:?}") })?;
        PlonkVerifier::<SHPLONK>::verify(&deciding_key, &protocol, &instances, &proof)
            .map_err(|e| AggregatorError::Internal { context: "generating the Solidity verifier", message: format!("{e:?}") })?;
        Ok(loader.solidity_code())
    })
}

/// Refuses an SRS whose degree is not the verifying key's: the verifier would check against the
/// wrong generators.
fn check_degree(params: &ParamsKZG<Bn256>, vk: &VerifyingKey<G1Affine>) -> Result<()> {
    let vk_k = vk.get_domain().k();
    if params.k() != vk_k {
        return Err(AggregatorError::InvalidInput(format!(
            "the SRS has degree {} but the verifying key is for degree {vk_k}",
            params.k()
        )));
    }
    Ok(())
}
