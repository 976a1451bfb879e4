//! Solidity source of the EVM verifier for an aggregation circuit.

use crate::aggregate::ACCUMULATOR_LIMBS;
use crate::error::{catch_panic, AggregatorError, Result};
use halo2_proofs::{
    halo2curves::bn256::{Bn256, G1Affine},
    plonk::VerifyingKey,
    poly::{commitment::Params, kzg::commitment::ParamsKZG},
};
use snark_verifier_sdk::{
    evm::gen_evm_verifier_sol_code, halo2::aggregation::AggregationCircuit, SHPLONK,
};

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
    let vk_k = vk.get_domain().k();
    if params.k() != vk_k {
        return Err(AggregatorError::InvalidInput(format!(
            "the SRS has degree {} but the verifying key is for degree {vk_k}",
            params.k()
        )));
    }
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
