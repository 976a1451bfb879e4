// SPDX-License-Identifier: MIT
pragma solidity ^0.8.19;

import {IZkmlVerifier} from "./IZkmlVerifier.sol";
import {ZkmlGate} from "./ZkmlGate.sol";

/// @title FaceIdGate
/// @notice Face-ID gating: a caller is admitted when a proof shows that a face image, kept
///         private, is within `maxDistance` of the template enrolled for them. The model takes the
///         image and the template and outputs their distance; compiled with
///         `zkml compile --input-visibility private,hashed --context-word`, its public inputs are:
///         the template's Poseidon commitment, the distance (one signed fixed-point value), the
///         context word (after the accumulator limbs, for an aggregated verifier). The chain stores only the commitment: neither image nor template is
///         revealed, and a proof against another template, a distance above the bound or a proof
///         made for another caller is refused.
/// @dev What an admission shows, exactly: the prover knew the enrolled template (the preimage of
///      its commitment) and SOME image within `maxDistance` of it under this model. The template
///      is therefore a bearer secret: whoever holds it can search for an image that passes, so
///      keep it with the person, not on a server. Nothing attests that the image came from a camera, was live, or shows the caller;
///      that needs an attested capture outside this contract. A low-entropy template should be
///      committed with a salt (not yet available: issue 15, finding 6), or guesses can be checked
///      against the commitment.
contract FaceIdGate is ZkmlGate {
    /// @notice Who may enroll templates (the party that saw the person enroll).
    address public immutable enroller;
    /// @notice Largest admitted distance, at the model's fixed-point scale.
    int256 public immutable maxDistance;
    /// @notice The Poseidon commitment to each address's enrolled template (0: none).
    mapping(address => uint256) public templateOf;

    /// @notice `who`'s template is now the one committed to by `commitment`.
    event Enrolled(address indexed who, uint256 commitment);

    /// @notice Only the enroller enrolls.
    error NotEnroller();

    constructor(IZkmlVerifier verifier_, uint256 firstModelInput_, address enroller_, int256 maxDistance_)
        ZkmlGate(verifier_, firstModelInput_)
    {
        enroller = enroller_;
        maxDistance = maxDistance_;
    }

    /// @notice Enrolls (or replaces) the template of `who` by its commitment, as `zkml verify`
    ///         prints it for input 1 (`commitment to input 1`).
    function enroll(address who, uint256 commitment) external {
        if (msg.sender != enroller) revert NotEnroller();
        require(commitment != 0 && commitment < FIELD_MODULUS, "not a commitment");
        templateOf[who] = commitment;
        emit Enrolled(who, commitment);
    }

    /// @notice Admits `msg.sender` with a proof made for `contextFor(msg.sender)`.
    function admit(bytes calldata proof, uint256[] calldata instances) external returns (uint256 nonce) {
        return _admit(proof, instances);
    }

    /// @dev The template commitment must be the caller's, the distance at most `maxDistance`.
    function _qualifies(uint256[] calldata publicInputs) internal view override {
        if (publicInputs.length != 2) revert NotQualified("expected a template commitment and a distance");
        uint256 template = templateOf[msg.sender];
        if (template == 0) revert NotQualified("the caller has no enrolled template");
        if (publicInputs[0] != template) revert NotQualified("the proof is against another template");
        if (_signed(publicInputs[1]) > maxDistance) revert NotQualified("the face is too far from the template");
    }
}
