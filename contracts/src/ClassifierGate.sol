// SPDX-License-Identifier: MIT
pragma solidity ^0.8.19;

import {IZkmlVerifier} from "./IZkmlVerifier.sol";
import {ZkmlGate} from "./ZkmlGate.sol";

/// @title ClassifierGate
/// @notice Unlocks a caller whose private input the model classifies as `requiredClass`, the
///         input itself never revealed. The model's public inputs: its logits (`numClasses`
///         signed fixed-point values: `zkml compile --output-visibility public`, the default, with
///         a private input), then the context word (`--context-word`).
/// @dev What an admission shows, exactly: the caller (or whoever made the proof for them) knows
///      SOME input that this model, as compiled, classifies as `requiredClass`. Not which input, not
///      that it came from a camera or a person, and not that it is a natural image: any input of
///      that class, crafted or adversarial, qualifies. A proof is bound to one chain, gate, caller
///      and nonce by its context word.
contract ClassifierGate is ZkmlGate {
    /// @notice Number of logits the model outputs.
    uint256 public immutable numClasses;
    /// @notice The class a proof must show, as the strict argmax of the logits.
    uint256 public immutable requiredClass;
    /// @notice Whether an address has been unlocked.
    mapping(address => bool) public unlocked;

    constructor(IZkmlVerifier verifier_, uint256 firstModelInput_, uint256 numClasses_, uint256 requiredClass_)
        ZkmlGate(verifier_, firstModelInput_)
    {
        require(requiredClass_ < numClasses_, "required class out of range");
        numClasses = numClasses_;
        requiredClass = requiredClass_;
    }

    /// @notice Unlocks `msg.sender` with a proof made for `contextFor(msg.sender)`.
    function unlock(bytes calldata proof, uint256[] calldata instances) external {
        _admit(proof, instances);
        unlocked[msg.sender] = true;
    }

    /// @dev The logits' strict argmax must be `requiredClass` (a tie does not qualify).
    function _qualifies(uint256[] calldata logits) internal view override {
        if (logits.length != numClasses) revert NotQualified("not one logit per class");
        int256 required = _signed(logits[requiredClass]);
        for (uint256 i = 0; i < logits.length; i++) {
            if (i != requiredClass && _signed(logits[i]) >= required) revert NotQualified("another class scores as high");
        }
    }
}
