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
    address internal raw;
    bytes internal proof;
    uint256[] internal instances;

    /// The fixture file, relative to the repository root.
    function fixture() internal pure virtual returns (string memory);

    /// Deploys the generated verifier; `code` is the fixture's creation bytecode.
    function deployGenerated(bytes memory code) internal virtual returns (address);

    function setUp() public {
        string memory json = vm.readFile(fixture());
        raw = deployGenerated(vm.parseJsonBytes(json, ".bytecode"));
        require(raw != address(0), "the fixture verifier did not deploy");
        proof = vm.parseJsonBytes(json, ".proof");
        instances = vm.parseJsonUintArray(json, ".instances");
        verifier = new ZkmlVerifier(raw);
    }

    function test_acceptsTheValidProof() public view {
        require(verifier.verifyProof(proof, instances), "valid proof rejected");
    }

    /// The shape comes from the verifier: the fixture's proof and public inputs fit it.
    function test_theVerifierStatesItsCalldataShape() public view {
        require(verifier.numInstances() == instances.length, "instance count");
        require(verifier.proofLength() == proof.length, "proof length");
        (bool accepted, bytes memory shape) = raw.staticcall("");
        require(!accepted && shape.length == 96, "an empty call must revert with the shape");
    }

    /// The raw verifier, called directly (as a contract that skips ZkmlVerifier would): each
    /// encoding but the one is refused, not only behind the interface.
    function rawAccepts(bytes memory calldata_) internal view returns (bool ok) {
        (ok,) = raw.staticcall{gas: 8_000_000}(calldata_);
    }

    function test_theRawVerifierAcceptsOnlyTheOneEncoding() public view {
        require(rawAccepts(abi.encodePacked(instances, proof)), "valid calldata rejected by the raw verifier");
        require(!rawAccepts(abi.encodePacked(instances, proof, hex"00")), "a trailing byte accepted");
        require(!rawAccepts(abi.encodePacked(instances, proof, bytes32(0))), "a trailing word accepted");
        for (uint256 i = 0; i < instances.length; i++) {
            uint256[] memory bad = instances;
            bad[i] = instances[i] + P;
            require(!rawAccepts(abi.encodePacked(bad, proof)), "an input plus p accepted by the raw verifier");
        }
    }

    /// Every proof word plus q: a scalar (an evaluation) would be reduced back to itself by the
    /// generated code as snark-verifier writes it; a coordinate is refused as not below the base
    /// field modulus or not on the curve.
    function test_theRawVerifierRefusesEveryProofWordPlusQ() public view {
        for (uint256 at = 0; at + 32 <= proof.length; at += 32) {
            bytes memory bad = proof;
            uint256 word;
            assembly {
                word := mload(add(add(bad, 0x20), at))
            }
            if (word > type(uint256).max - P) continue;
            word += P;
            assembly {
                mstore(add(add(bad, 0x20), at), word)
            }
            require(!rawAccepts(abi.encodePacked(instances, bad)), "a proof word plus q accepted");
        }
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

/// An aggregated verifier (contracts/test/fixtures/aggregated.json), deployed from the fixture's
/// bytecode.
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

/// A verifier that does not state its calldata shape: ZkmlVerifier will not wrap it.
contract SilentVerifier {
    fallback() external {}
}

contract ZkmlVerifierConstructionTest {
    function test_refusesAVerifierThatDoesNotStateItsShape() public {
        SilentVerifier silent = new SilentVerifier();
        (bool ok, bytes memory ret) =
            address(this).call(abi.encodeCall(ZkmlVerifierConstructionTest.wrap, (address(silent))));
        require(!ok && ret.length >= 4 && bytes4(ret) == ZkmlVerifier.NotAZkmlVerifier.selector, "wrapped a silent verifier");
        (ok, ret) = address(this).call(abi.encodeCall(ZkmlVerifierConstructionTest.wrap, (address(0xdead))));
        require(!ok && bytes4(ret) == ZkmlVerifier.VerifierHasNoCode.selector, "wrapped an address without code");
    }

    function wrap(address raw) external returns (ZkmlVerifier) {
        return new ZkmlVerifier(raw);
    }
}
