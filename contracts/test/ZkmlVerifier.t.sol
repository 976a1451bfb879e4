// SPDX-License-Identifier: MIT
pragma solidity ^0.8.19;

import {ZkmlVerifier} from "../src/ZkmlVerifier.sol";

/// The few forge cheatcodes used here (no forge-std is available offline).
interface Vm {
    function readFile(string calldata path) external view returns (string memory);
    function parseJsonBytes(string calldata json, string calldata key) external pure returns (bytes memory);
    function parseJsonUintArray(string calldata json, string calldata key) external pure returns (uint256[] memory);
}

/// A real generated verifier and an aggregated proof of four inner proofs of two models
/// (contracts/test/fixtures/aggregated.json, from scripts/make_fixture.py): the valid proof is
/// accepted; mutated proofs, mutated public inputs and fuzzed calldata are rejected.
contract ZkmlVerifierFixtureTest {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    uint256 internal constant P = 21888242871839275222246405745257275088548364400416034343698204186575808495617;

    ZkmlVerifier internal verifier;
    bytes internal proof;
    uint256[] internal instances;

    function setUp() public {
        string memory json = vm.readFile("contracts/test/fixtures/aggregated.json");
        bytes memory code = vm.parseJsonBytes(json, ".bytecode");
        address raw;
        assembly {
            raw := create(0, add(code, 0x20), mload(code))
        }
        require(raw != address(0), "the fixture verifier did not deploy");
        proof = vm.parseJsonBytes(json, ".proof");
        instances = vm.parseJsonUintArray(json, ".instances");
        verifier = new ZkmlVerifier(raw, instances.length);
    }

    function test_acceptsTheValidProof() public view {
        require(verifier.verifyProof(proof, instances), "valid proof rejected");
    }

    function test_rejectsAFlippedByteAnywhere() public view {
        for (uint256 i = 0; i < proof.length; i += 97) {
            bytes memory bad = proof; // a memory copy of the stored proof
            bad[i] = bad[i] ^ 0x01;
            require(!verifier.verifyProof(bad, instances), "flipped proof byte accepted");
        }
    }

    function test_rejectsEveryChangedPublicInput() public view {
        for (uint256 i = 0; i < instances.length; i++) {
            uint256[] memory bad = instances; // a memory copy
            bad[i] = addmod(bad[i], 1, P);
            require(!verifier.verifyProof(proof, bad), "changed public input accepted");
        }
    }

    function test_rejectsWrongShapes() public view {
        require(!verifier.verifyProof(hex"", instances), "empty proof accepted");
        uint256[] memory fewer = new uint256[](instances.length - 1);
        for (uint256 i = 0; i < fewer.length; i++) fewer[i] = instances[i];
        require(!verifier.verifyProof(proof, fewer), "missing public input accepted");
        bytes memory shorter = new bytes(proof.length - 1);
        for (uint256 i = 0; i < shorter.length; i++) shorter[i] = proof[i];
        require(!verifier.verifyProof(shorter, instances), "truncated proof accepted");
    }

    function testFuzz_rejectsRandomProofs(bytes calldata data) public view {
        require(!verifier.verifyProof(data, instances), "random proof accepted");
    }

    function testFuzz_rejectsMutatedProofs(uint256 position, uint8 mask) public view {
        if (mask == 0) mask = 1;
        bytes memory bad = proof;
        uint256 at = position % bad.length;
        bad[at] = bad[at] ^ bytes1(mask);
        require(!verifier.verifyProof(bad, instances), "mutated proof accepted");
    }

    function testFuzz_rejectsMutatedPublicInputs(uint256 index, uint256 delta) public view {
        delta = delta % P;
        if (delta == 0) delta = 1;
        uint256[] memory bad = instances;
        uint256 at = index % bad.length;
        bad[at] = addmod(bad[at], delta, P);
        require(!verifier.verifyProof(proof, bad), "mutated public input accepted");
    }
}
