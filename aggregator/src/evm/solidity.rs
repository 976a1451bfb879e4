//! Solidity source of EVM verifiers: for an aggregation circuit, or for a model circuit directly.

use crate::aggregate::snark::ACCUMULATOR_LIMBS;
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
    let source = catch_panic("generating the Solidity verifier", || {
        Ok(gen_evm_verifier_sol_code::<AggregationCircuit, SHPLONK>(params, vk, vec![num_instances]))
    })?;
    pin_calldata(&source, num_instances)
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
    let source = catch_panic("generating the Solidity verifier", || {
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
    })?;
    pin_calldata(&source, num_instances)
}

/// The tag an empty call to a generated verifier reverts with, before its calldata shape: the
/// ASCII of "zkml calldata shape v1", left-aligned in a word (`bytes32("zkml calldata shape v1")`).
pub const CALLDATA_SHAPE_TAG: [u8; 32] = {
    let text = b"zkml calldata shape v1";
    let mut word = [0u8; 32];
    let mut i = 0;
    while i < text.len() {
        word[i] = text[i];
        i += 1;
    }
    word
};

/// What a generated verifier accepts as calldata: `num_instances` words, then `proof_length`
/// bytes, nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CalldataShape {
    /// Public inputs, one 32-byte word each.
    pub num_instances: usize,
    /// Bytes of the proof after them.
    pub proof_length: usize,
}

/// Reads the calldata shape a verifier from [`verifier_solidity`] or [`direct_verifier_solidity`]
/// pins (from the prologue [`pin_calldata`] wrote), or `None` for any other source.
pub fn calldata_shape(source: &str) -> Option<CalldataShape> {
    let line = source.lines().find_map(|l| l.trim().strip_prefix(SHAPE_COMMENT))?;
    let mut numbers = line.split_whitespace().filter_map(|w| w.parse::<usize>().ok());
    Some(CalldataShape { num_instances: numbers.next()?, proof_length: numbers.next()? })
}

const SHAPE_COMMENT: &str = "// zkml calldata shape:";

/// Makes snark-verifier's verifier refuse every calldata but the one encoding of each valid proof.
/// As generated, it reduces every scalar word it reads (public inputs and the proof's evaluations)
/// mod q, so `v` and `v + q` both verify, and it ignores bytes after the proof, so one proof has
/// many encodings: a contract acting on the public inputs would act on values the proof is not
/// about, and anything keyed by a proof's hash is keyed by one of many. The pinned verifier
/// reverts unless the calldata is exactly `num_instances` words and the proof's length, and
/// unless every scalar word is below q (curve points were already checked below the base field
/// modulus and on the curve).
///
/// An empty call reverts with `(CALLDATA_SHAPE_TAG, num_instances, proof_length)`: that is how
/// `ZkmlVerifier` learns the shape from the verifier itself; a revert, so that no caller can take
/// it for an accepted proof.
///
/// The proof length is what the generated code reads: the calldata end after its last load.
fn pin_calldata(source: &str, num_instances: usize) -> Result<String> {
    let unexpected = |what: &str| AggregatorError::Internal {
        context: "pinning the verifier's calldata",
        message: format!("the generated verifier {what}; snark-verifier's code generation changed?"),
    };
    const LOAD: &str = "calldataload(";
    let mut calldata_end = 0usize;
    for (at, _) in source.match_indices(LOAD) {
        let rest = &source[at + LOAD.len()..];
        let literal = &rest[..rest.find(')').ok_or_else(|| unexpected("has an unclosed calldataload"))?];
        let offset = literal
            .strip_prefix("0x")
            .and_then(|hex| usize::from_str_radix(hex, 16).ok())
            .ok_or_else(|| unexpected("loads calldata at a computed offset"))?;
        calldata_end = calldata_end.max(offset + 32);
    }
    let proof_length = calldata_end
        .checked_sub(32 * num_instances)
        .filter(|&len| len > 0)
        .ok_or_else(|| unexpected("reads no proof after its public inputs"))?;

    // Every scalar load is `mod(calldataload(OFFSET), f_q)` (EvmLoader::calldataload_scalar).
    let scalar_loads = source.matches("mod(calldataload(").count();
    if scalar_loads < num_instances {
        return Err(unexpected("reads fewer scalars than it has public inputs"));
    }
    let mut pinned = String::with_capacity(source.len() + 2048);
    let mut rest = source;
    while let Some(at) = rest.find("mod(calldataload(") {
        pinned.push_str(&rest[..at]);
        let after = &rest[at + "mod(calldataload(".len()..];
        let close = after.find("), f_q)").ok_or_else(|| unexpected("reduces a scalar differently"))?;
        pinned.push_str(&format!("canonical_scalar({})", &after[..close]));
        rest = &after[close + "), f_q)".len()..];
    }
    pinned.push_str(rest);

    let anchor = pinned.find("let f_q := ").ok_or_else(|| unexpected("has no scalar modulus"))?;
    let line_end = anchor + pinned[anchor..].find('\n').ok_or_else(|| unexpected("ends after its modulus"))?;
    let q = <halo2_proofs::halo2curves::bn256::Fr as halo2_proofs::halo2curves::ff::PrimeField>::MODULUS;
    let tag = hex::encode(CALLDATA_SHAPE_TAG);
    let prologue = format!(
        "
            {SHAPE_COMMENT} {num_instances} public inputs, {proof_length} proof bytes
            // An empty call reverts with the shape: ZkmlVerifier reads it; a revert, never mistaken
            // for an accepted proof. Any other length is refused: the code below would ignore a tail.
            if iszero(calldatasize()) {{
                mstore(0x80, 0x{tag})
                mstore(0xa0, {num_instances})
                mstore(0xc0, {proof_length})
                revert(0x80, 0x60)
            }}
            if iszero(eq(calldatasize(), {calldata_end})) {{
                revert(0, 0)
            }}
            // A scalar word at or above q is refused, not reduced: v and v + q would both verify.
            function canonical_scalar(offset) -> scalar {{
                scalar := calldataload(offset)
                if iszero(lt(scalar, {q})) {{
                    revert(0, 0)
                }}
            }}"
    );
    pinned.insert_str(line_end, &prologue);
    Ok(pinned)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of snark-verifier's output where pinning meets it: the modulus line, scalar and
    /// point loads at constant offsets.
    fn generated(loads: &str) -> String {
        format!(
            "contract Halo2Verifier {{\n    fallback(bytes calldata) external returns (bytes memory) {{\n        assembly (\"memory-safe\") {{\n            let success := true\n            let f_q := 0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001\n{loads}\n            return(0, 0)\n        }}\n    }}\n}}\n"
        )
    }

    #[test]
    fn pins_the_length_and_refuses_non_canonical_scalars() {
        let source = generated(
            "            mstore(0x20, mod(calldataload(0x0), f_q))\n            mstore(0x40, mod(calldataload(0x20), f_q))\n            let x := calldataload(0x40)\n            let y := calldataload(0x60)\n            mstore(0x60, mod(calldataload(0x80), f_q))",
        );
        let pinned = pin_calldata(&source, 2).unwrap();
        assert_eq!(calldata_shape(&pinned), Some(CalldataShape { num_instances: 2, proof_length: 0xa0 - 64 }));
        assert!(!pinned.contains("mod(calldataload("), "every scalar load is checked: {pinned}");
        assert_eq!(pinned.matches("canonical_scalar(0x").count(), 3);
        assert!(pinned.contains("if iszero(eq(calldatasize(), 160))"), "{pinned}");
        assert!(pinned.contains(&hex::encode(CALLDATA_SHAPE_TAG)));
        assert_eq!(&CALLDATA_SHAPE_TAG[..22], b"zkml calldata shape v1");
        assert_eq!(calldata_shape(&source), None, "an unpinned verifier states no shape");
    }

    #[test]
    fn refuses_code_it_cannot_pin() {
        let computed = generated("            mstore(0x20, mod(calldataload(add(0x0, i)), f_q))");
        assert!(pin_calldata(&computed, 1).is_err(), "a computed offset");
        let no_proof = generated("            mstore(0x20, mod(calldataload(0x0), f_q))");
        assert!(pin_calldata(&no_proof, 1).is_err(), "nothing after the public inputs");
        let few_scalars = generated("            let x := calldataload(0x0)\n            let y := calldataload(0x20)\n            let z := calldataload(0x40)");
        assert!(pin_calldata(&few_scalars, 2).is_err(), "inputs not read as scalars");
        let no_modulus = generated("            mstore(0x20, mod(calldataload(0x0), f_q))\n            let x := calldataload(0x20)").replace("let f_q", "let g");
        assert!(pin_calldata(&no_modulus, 1).is_err(), "no modulus line");
    }
}
