//! Calldata for the generated Solidity verifier.

use halo2_proofs::halo2curves::bn256::Fr;

/// Encodes calldata for the generated Solidity verifier: each instance as a 32-byte
/// big-endian word (in the order given: 12 accumulator limbs, then the inner public inputs),
/// followed by the raw proof bytes. Length is `32 * instances.len() + proof.len()`.
pub fn encode_calldata(instances: &[Fr], proof: &[u8]) -> Vec<u8> {
    snark_verifier_sdk::evm::encode_calldata(&[instances.to_vec()], proof)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_big_endian_then_proof() {
        let data = encode_calldata(&[Fr::from(1), Fr::from(0x0203)], &[0xaa, 0xbb]);
        assert_eq!(data.len(), 66);
        assert_eq!(data[31], 1);
        assert!(data[..31].iter().all(|b| *b == 0));
        assert_eq!(&data[62..64], &[2, 3]);
        assert_eq!(&data[64..], &[0xaa, 0xbb]);
    }
}
