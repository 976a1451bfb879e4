// SPDX-License-Identifier: MIT
pragma solidity ^0.8.19;

import {ZkmlVerifier} from "../src/ZkmlVerifier.sol";
import {DigitsMlpVerifier} from "../src/generated/DigitsMlpVerifier.sol";

/// The few forge cheatcodes used here (no forge-std is available offline).
interface Vm {
    function readFile(string calldata path) external view returns (string memory);
    function parseJsonBytes(string calldata json, string calldata key) external pure returns (bytes memory);
    function parseJsonUintArray(string calldata json, string calldata key) external pure returns (uint256[] memory);
}

/// The checks every generated verifier must pass behind `ZkmlVerifier`, on a fixture (from
/// scripts/make_fixture.py): the valid proof is accepted; mutated proofs, mutated public inputs and
/// fuzzed calldata are rejected. Concrete tests name the fixture and deploy the verifier.
abstract contract VerifierFixtureTests {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    uint256 internal constant P = 21888242871839275222246405745257275088548364400416034343698204186575808495617;

    ZkmlVerifier internal verifier;
    bytes internal proof;
    uint256[] internal instances;

    /// The fixture file, relative to the repository root.
    function fixture() internal pure virtual returns (string memory);

    /// Deploys the generated verifier; `code` is the fixture's creation bytecode.
    function deployGenerated(bytes memory code) internal virtual returns (address);

    function setUp() public {
        string memory json = vm.readFile(fixture());
        address raw = deployGenerated(vm.parseJsonBytes(json, ".bytecode"));
        require(raw != address(0), "the fixture verifier did not deploy");
        proof = vm.parseJsonBytes(json, ".proof");
        instances = vm.parseJsonUintArray(json, ".instances");
        verifier = new ZkmlVerifier(raw, instances.length, proof.length);
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

    /// Each input plus the field modulus: the same value to the generated verifier, which reduces
    /// it, and another one to any contract that reads it.
    function test_rejectsInputsAtOrAboveTheModulus() public view {
        for (uint256 i = 0; i < instances.length; i++) {
            uint256[] memory bad = instances; // a memory copy
            bad[i] = instances[i] + P;
            require(!verifier.verifyProof(proof, bad), "an input plus p accepted");
        }
        uint256[] memory top = instances;
        top[0] = type(uint256).max;
        require(!verifier.verifyProof(proof, top), "the largest uint256 accepted");
    }

    function testFuzz_rejectsInputsAboveTheModulus(uint256 index, uint256 value) public view {
        if (value < P) value = P + (value % (type(uint256).max - P));
        uint256[] memory bad = instances;
        bad[index % bad.length] = value;
        require(!verifier.verifyProof(proof, bad), "an input at or above p accepted");
    }

    /// The generated verifier ignores calldata after the proof; `ZkmlVerifier` pins the length.
    function test_rejectsBytesAfterTheProof() public view {
        require(!verifier.verifyProof(bytes.concat(proof, hex"00"), instances), "a trailing byte accepted");
        require(!verifier.verifyProof(bytes.concat(proof, bytes32(uint256(1))), instances), "a trailing word accepted");
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

/// The aggregated verifier of four inner proofs of two models (contracts/test/fixtures/aggregated.json),
/// deployed from the fixture's bytecode.
contract ZkmlVerifierFixtureTest is VerifierFixtureTests {
    function fixture() internal pure override returns (string memory) {
        return "contracts/test/fixtures/aggregated.json";
    }

    function deployGenerated(bytes memory code) internal override returns (address raw) {
        assembly {
            raw := create(0, add(code, 0x20), mload(code))
        }
    }
}

/// The direct verifier of the example digits MLP, generated into contracts/src/generated by
/// `zkml evm-verifier DIR --sol-out` and compiled by forge, on a proof made with `zkml prove --evm`
/// (contracts/test/fixtures/direct_mlp.json).
contract DigitsMlpDirectVerifierTest is VerifierFixtureTests {
    function fixture() internal pure override returns (string memory) {
        return "contracts/test/fixtures/direct_mlp.json";
    }

    function deployGenerated(bytes memory) internal override returns (address) {
        return address(new DigitsMlpVerifier());
    }
}
