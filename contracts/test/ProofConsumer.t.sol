// SPDX-License-Identifier: MIT
pragma solidity ^0.8.19;

import {ProofConsumer} from "../src/ProofConsumer.sol";

/// A stand-in for a generated verifier: accepts exactly one calldata, reverts otherwise.
contract MockVerifier {
    bytes32 public immutable acceptedHash;

    constructor(bytes memory accepted) {
        acceptedHash = keccak256(accepted);
    }

    fallback() external {
        if (keccak256(msg.data) != acceptedHash) revert();
    }
}

/// A verifier that burns all gas it is given, as a rejected proof can do on a node.
contract GasBurningVerifier {
    fallback() external {
        assembly {
            invalid()
        }
    }
}

/// No forge-std here: failures are reverts via require.
contract ProofConsumerTest {
    bytes internal accepted;
    MockVerifier internal mock;
    ProofConsumer internal consumer;

    function setUp() public {
        accepted = abi.encodePacked(uint256(7), uint256(42), hex"deadbeefcafe");
        mock = new MockVerifier(accepted);
        consumer = new ProofConsumer(address(mock));
    }

    function test_storesVerifier() public view {
        require(consumer.verifier() == address(mock), "verifier address");
    }

    function test_acceptsValidCalldata() public view {
        require(consumer.verify(accepted), "valid proof rejected");
    }

    function test_acceptsInputsAndProofSeparately() public view {
        uint256[] memory inputs = new uint256[](2);
        inputs[0] = 7;
        inputs[1] = 42;
        require(consumer.verifyWithInputs(inputs, hex"deadbeefcafe"), "valid inputs+proof rejected");
        inputs[1] = 43;
        require(!consumer.verifyWithInputs(inputs, hex"deadbeefcafe"), "wrong input accepted");
    }

    function test_rejectsTamperedProof() public view {
        bytes memory tampered = abi.encodePacked(uint256(7), uint256(42), hex"deadbeefcaff");
        require(!consumer.verify(tampered), "tampered proof accepted");
        require(!consumer.verify(""), "empty calldata accepted");
    }

    function testFuzz_rejectsOtherCalldata(bytes calldata data) public view {
        if (keccak256(data) == keccak256(accepted)) return;
        require(!consumer.verify(data), "arbitrary calldata accepted");
    }

    function test_outOfGasCountsAsRejection() public {
        ProofConsumer c = new ProofConsumer(address(new GasBurningVerifier()));
        require(!c.verify(accepted), "gas-burning verifier accepted");
    }

    function test_rejectsVerifierWithoutCode() public {
        try new ProofConsumer(address(0xBEEF)) returns (ProofConsumer) {
            revert("constructed with a codeless verifier");
        } catch (bytes memory reason) {
            require(
                keccak256(reason)
                    == keccak256(abi.encodeWithSelector(ProofConsumer.VerifierHasNoCode.selector, address(0xBEEF))),
                "wrong revert reason"
            );
        }
    }
}
