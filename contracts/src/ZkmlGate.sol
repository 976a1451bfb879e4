// SPDX-License-Identifier: MIT
pragma solidity ^0.8.19;

import {IZkmlVerifier} from "./IZkmlVerifier.sol";

/// @title ZkmlGate
/// @notice Lets a caller through only with a fresh zkml proof made for them. The model must be
///         compiled with `zkml compile --context-word`: the last public input of its proofs is a
///         context word, which this gate requires to be `contextFor(msg.sender)`, a hash of the
///         chain id, this gate, the caller and the caller's nonce (`zkml prove --context`). Fiat–Shamir binds
///         the word to the proof, so a proof copied from somebody else's pending transaction is
///         useless to the copier, each proof is good for one admission (the nonce then moves on),
///         and a proof made for this gate on one chain is useless at the same address on another.
///         The verifier may be the model's direct verifier or the aggregated verifier of one proof
///         of it: the model's public inputs then follow the 12 accumulator limbs
///         (`firstModelInput`), and the context word is last either way.
/// @dev A concrete gate says which proofs qualify in `_qualifies` (a class, a score, a
///      commitment: the model's other public inputs, in the order `zkml compile` prints) and what
///      an admission does. The checks on public inputs run before the (costly) verification.
abstract contract ZkmlGate {
    /// @notice The BN254 scalar field modulus: public inputs are below it.
    uint256 public constant FIELD_MODULUS =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;

    /// @notice The verifier of the model's proofs.
    IZkmlVerifier public immutable verifier;
    /// @notice Index of the model's first public input: 0 for a direct verifier, 12 (the
    ///         accumulator limbs) for an aggregated one.
    uint256 public immutable firstModelInput;
    /// @notice Admissions so far per caller; the next proof must carry `contextFor(caller)`.
    mapping(address => uint256) public nonceOf;

    /// @notice `caller` was admitted; `nonce` was the context nonce its proof was made for.
    event Admitted(address indexed caller, uint256 nonce);

    /// @notice The proof's context word is not the caller's next one: a proof made for another
    ///         caller, another gate, or already used.
    error WrongContext(uint256 expected, uint256 given);
    /// @notice The public inputs do not qualify for this gate (see the concrete gate).
    error NotQualified(string why);
    /// @notice The verifier rejected the proof.
    error InvalidProof();

    constructor(IZkmlVerifier verifier_, uint256 firstModelInput_) {
        verifier = verifier_;
        firstModelInput = firstModelInput_;
    }

    /// @notice The context word `caller`'s next proof must carry:
    ///         `keccak256(abi.encode(block.chainid, address(this), caller, nonceOf[caller])) mod
    ///         FIELD_MODULUS`.
    function contextFor(address caller) public view returns (uint256) {
        return uint256(keccak256(abi.encode(block.chainid, address(this), caller, nonceOf[caller]))) % FIELD_MODULUS;
    }

    /// @dev Admits `msg.sender` with `proof` of `instances` (the verifier's public inputs, context
    ///      word last), or reverts. Returns the nonce used.
    function _admit(bytes calldata proof, uint256[] calldata instances) internal returns (uint256 nonce) {
        uint256 n = instances.length;
        uint256 given = n == 0 ? 0 : instances[n - 1];
        uint256 expected = contextFor(msg.sender);
        if (n <= firstModelInput || given != expected) revert WrongContext(expected, given);
        _qualifies(instances[firstModelInput:n - 1]);
        if (!verifier.verifyProof(proof, instances)) revert InvalidProof();
        nonce = nonceOf[msg.sender]++;
        emit Admitted(msg.sender, nonce);
    }

    /// @dev Reverts with `NotQualified` unless the model's public inputs (from
    ///      `firstModelInput`, the context word removed) qualify.
    function _qualifies(uint256[] calldata modelInputs) internal view virtual;

    /// @dev The signed integer a public value stands for: `v`, or `−(p − v)` above `p / 2` (zkml
    ///      writes a negative `v` as `p − |v|`). Values are fixed point at the model's scale.
    function _signed(uint256 value) internal pure returns (int256) {
        return value <= FIELD_MODULUS / 2 ? int256(value) : -int256(FIELD_MODULUS - value);
    }
}
