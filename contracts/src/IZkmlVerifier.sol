// SPDX-License-Identifier: MIT
pragma solidity ^0.8.19;

/// @title IZkmlVerifier
/// @notice The one interface every zkml verifier exposes, whatever generated verifier (direct or
///         aggregated, of any model) sits behind it.
/// @dev `instances` are the proof's public inputs in order. For an aggregated proof: the 12
///      accumulator limbs, then each inner proof's public inputs in the order the proofs were
///      aggregated (`AGG_DIR/manifest.json` gives each proof's first index and what its values
///      are). Values are field elements below the BN254 scalar modulus; a model value `v` at scale
///      `2^s` is `v` if non-negative, else `p − |v|`.
interface IZkmlVerifier {
    /// @notice Whether `proof` is a valid proof for `instances`. Never reverts on bad input:
    ///         malformed, mutated or mismatched data give `false`.
    function verifyProof(bytes calldata proof, uint256[] calldata instances) external view returns (bool);

    /// @notice Number of public inputs the verifier takes; `verifyProof` returns `false` for any
    ///         other count.
    function numInstances() external view returns (uint256);
}
