// SPDX-License-Identifier: MIT
pragma solidity ^0.8.19;

import {IZkmlVerifier} from "../src/IZkmlVerifier.sol";
import {ZkmlVerifier} from "../src/ZkmlVerifier.sol";
import {ZkmlGate} from "../src/ZkmlGate.sol";
import {ClassifierGate} from "../src/ClassifierGate.sol";
import {FaceIdGate} from "../src/FaceIdGate.sol";

/// The forge cheatcodes used here (no forge-std is available offline).
interface GateVm {
    function readFile(string calldata path) external view returns (string memory);
    function parseJsonBytes(string calldata json, string calldata key) external pure returns (bytes memory);
    function parseJsonUintArray(string calldata json, string calldata key) external pure returns (uint256[] memory);
    function parseJsonInt(string calldata json, string calldata key) external pure returns (int256);
    function chainId(uint256 newChainId) external;
}

/// Forwards a proof it saw in the mempool: a front-runner.
contract Copier {
    function unlock(ClassifierGate gate, bytes calldata proof, uint256[] calldata instances) external {
        gate.unlock(proof, instances);
    }

    function admit(FaceIdGate gate, bytes calldata proof, uint256[] calldata instances) external {
        gate.admit(proof, instances);
    }
}

/// Deploys a fixture's verifier from its creation bytecode.
library Fixtures {
    function deploy(bytes memory code) internal returns (address raw) {
        assembly {
            raw := create(0, add(code, 0x20), mload(code))
        }
        require(raw != address(0), "the fixture verifier did not deploy");
    }
}

/// The revert data of a call expected to fail.
library Reverts {
    function selectorOf(bool ok, bytes memory ret) internal pure returns (bytes4 selector) {
        require(!ok, "the call succeeded");
        require(ret.length >= 4, "reverted without a custom error");
        assembly {
            selector := mload(add(ret, 0x20))
        }
    }
}

/// ClassifierGate with a real proof (contracts/test/fixtures/gate_mlp.json, from
/// scripts/make_forge_fixtures.sh): the digits MLP compiled with a context word, its direct
/// verifier, and a proof that a private image is a 7, made for this contract's first admission.
contract ClassifierGateTest {
    GateVm internal constant vm = GateVm(address(uint160(uint256(keccak256("hevm cheat code")))));
    uint256 internal constant P = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    uint256 internal constant SEVEN = 7;

    ClassifierGate internal gate;
    ZkmlVerifier internal verifier;
    bytes internal proof;
    uint256[] internal instances;

    function setUp() public {
        string memory json = vm.readFile("contracts/test/fixtures/gate_mlp.json");
        address raw = Fixtures.deploy(vm.parseJsonBytes(json, ".bytecode"));
        proof = vm.parseJsonBytes(json, ".proof");
        instances = vm.parseJsonUintArray(json, ".instances");
        verifier = new ZkmlVerifier(raw);
        // The third CREATE of this contract: the address scripts/make_forge_fixtures.sh made the proof for.
        gate = new ClassifierGate(IZkmlVerifier(address(verifier)), 0, 10, SEVEN);
    }

    function unlockCall(ClassifierGate g, uint256[] memory inputs) internal returns (bool ok, bytes memory ret) {
        (ok, ret) = address(g).call(abi.encodeCall(ClassifierGate.unlock, (proof, inputs)));
    }

    function test_theFixtureIsForThisGateAndCaller() public view {
        require(gate.contextFor(address(this)) == instances[instances.length - 1], "stale fixture: run scripts/make_forge_fixtures.sh");
    }

    function test_unlocksTheCallerOnce() public {
        gate.unlock(proof, instances);
        require(gate.unlocked(address(this)) && gate.nonceOf(address(this)) == 1, "not unlocked");
        (bool ok, bytes memory ret) = unlockCall(gate, instances);
        require(Reverts.selectorOf(ok, ret) == ZkmlGate.WrongContext.selector, "a used proof was accepted again");
    }

    function test_aCopiedProofIsUselessToAnotherCaller() public {
        Copier copier = new Copier();
        (bool ok, bytes memory ret) =
            address(copier).call(abi.encodeCall(Copier.unlock, (gate, proof, instances)));
        require(Reverts.selectorOf(ok, ret) == ZkmlGate.WrongContext.selector, "a copied proof passed the context check");
        // Claiming the copier's own context word: the proof was not made for it.
        uint256[] memory rebound = instances;
        rebound[rebound.length - 1] = gate.contextFor(address(copier));
        (ok, ret) = address(copier).call(abi.encodeCall(Copier.unlock, (gate, proof, rebound)));
        require(Reverts.selectorOf(ok, ret) == ZkmlGate.InvalidProof.selector, "a proof rebound to another word was accepted");
        require(!gate.unlocked(address(copier)), "copier unlocked");
    }

    /// The same gate address on another chain: the proof's context word is not that chain's.
    function test_aProofForAnotherChainIsRefused() public {
        vm.chainId(1);
        require(gate.contextFor(address(this)) != instances[instances.length - 1], "the context word ignores the chain");
        (bool ok, bytes memory ret) = unlockCall(gate, instances);
        require(Reverts.selectorOf(ok, ret) == ZkmlGate.WrongContext.selector, "a proof for another chain passed the context check");
        require(!gate.unlocked(address(this)), "unlocked on another chain");
    }

    function test_aChangedLogitIsRejectedByTheVerifier() public {
        uint256[] memory raised = instances;
        raised[SEVEN] = addmod(raised[SEVEN], 1, P); // still the argmax: only the proof can refuse it
        (bool ok, bytes memory ret) = unlockCall(gate, raised);
        require(Reverts.selectorOf(ok, ret) == ZkmlGate.InvalidProof.selector, "changed logit accepted");
    }

    function test_anotherClassDoesNotQualify() public {
        ClassifierGate threes = new ClassifierGate(IZkmlVerifier(address(verifier)), 0, 10, 3);
        uint256[] memory forThrees = instances;
        forThrees[forThrees.length - 1] = threes.contextFor(address(this));
        (bool ok, bytes memory ret) = unlockCall(threes, forThrees);
        require(Reverts.selectorOf(ok, ret) == ZkmlGate.NotQualified.selector, "a 7 unlocked the gate for 3s");
    }
}

/// FaceIdGate with a real aggregated proof (contracts/test/fixtures/gate_faceid.json, from
/// scripts/make_forge_fixtures.sh): examples/matcher, a private digit image within the threshold of
/// its class's template, the template committed to; made for this contract's first admission.
contract FaceIdGateProofTest {
    GateVm internal constant vm = GateVm(address(uint160(uint256(keccak256("hevm cheat code")))));
    uint256 internal constant P = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    /// The accumulator limbs come first in an aggregated proof's public inputs.
    uint256 internal constant FIRST = 12;

    FaceIdGate internal gate;
    bytes internal proof;
    uint256[] internal instances;
    int256 internal maxDistance;

    function setUp() public {
        string memory json = vm.readFile("contracts/test/fixtures/gate_faceid.json");
        address raw = Fixtures.deploy(vm.parseJsonBytes(json, ".bytecode"));
        proof = vm.parseJsonBytes(json, ".proof");
        instances = vm.parseJsonUintArray(json, ".instances");
        maxDistance = vm.parseJsonInt(json, ".max_distance");
        ZkmlVerifier verifier = new ZkmlVerifier(raw);
        // The third CREATE of this contract: the address the proof was made for.
        gate = new FaceIdGate(IZkmlVerifier(address(verifier)), FIRST, address(this), maxDistance);
    }

    function admitCall(uint256[] memory inputs) internal returns (bool ok, bytes memory ret) {
        (ok, ret) = address(gate).call(abi.encodeCall(FaceIdGate.admit, (proof, inputs)));
    }

    function test_theFixtureIsForThisGateAndCaller() public view {
        require(instances.length == FIRST + 3, "limbs, template commitment, distance, context word");
        require(gate.contextFor(address(this)) == instances[FIRST + 2], "stale fixture: run scripts/make_forge_fixtures.sh");
        require(int256(instances[FIRST + 1]) <= maxDistance, "the fixture's face is not a match");
    }

    function test_admitsTheEnrolledPersonOnce() public {
        gate.enroll(address(this), instances[FIRST]);
        require(gate.admit(proof, instances) == 0, "not admitted");
        (bool ok, bytes memory ret) = admitCall(instances);
        require(Reverts.selectorOf(ok, ret) == ZkmlGate.WrongContext.selector, "a used proof was accepted again");
    }

    function test_someoneElsesTemplateDoesNotQualify() public {
        gate.enroll(address(this), addmod(instances[FIRST], 1, P));
        (bool ok, bytes memory ret) = admitCall(instances);
        require(Reverts.selectorOf(ok, ret) == ZkmlGate.NotQualified.selector, "admitted against another template");
    }

    function test_aSmallerClaimedDistanceIsRejectedByTheVerifier() public {
        gate.enroll(address(this), instances[FIRST]);
        uint256[] memory closer = instances;
        closer[FIRST + 1] = 0;
        (bool ok, bytes memory ret) = admitCall(closer);
        require(Reverts.selectorOf(ok, ret) == ZkmlGate.InvalidProof.selector, "a changed distance accepted");
    }

    function test_aCopiedProofIsUselessToAnotherCaller() public {
        Copier copier = new Copier();
        gate.enroll(address(copier), instances[FIRST]);
        (bool ok, bytes memory ret) = address(copier).call(abi.encodeCall(Copier.admit, (gate, proof, instances)));
        require(Reverts.selectorOf(ok, ret) == ZkmlGate.WrongContext.selector, "a copied proof passed the context check");
        uint256[] memory rebound = instances;
        rebound[FIRST + 2] = gate.contextFor(address(copier));
        (ok, ret) = address(copier).call(abi.encodeCall(Copier.admit, (gate, proof, rebound)));
        require(Reverts.selectorOf(ok, ret) == ZkmlGate.InvalidProof.selector, "a proof rebound to the copier was accepted");
    }
}

/// Accepts exactly one (proof, instances) pair: the gate's rules, case by case.
contract OnePairVerifier is IZkmlVerifier {
    bytes32 public immutable accepted;
    uint256 public immutable numInstances;

    constructor(bytes memory proof, uint256[] memory instances) {
        accepted = keccak256(abi.encode(proof, instances));
        numInstances = instances.length;
    }

    function verifyProof(bytes calldata proof, uint256[] calldata instances) external view returns (bool) {
        return keccak256(abi.encode(proof, instances)) == accepted;
    }
}

/// FaceIdGate's rules with a stand-in verifier (direct layout: template commitment, distance,
/// context word).
contract FaceIdGateRulesTest {
    uint256 internal constant P = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    uint256 internal constant TEMPLATE = 0x0949e8f74b974466d9a52cf6ee586c44c8468cd6a2f7ab455641c74f6fa0a358;
    int256 internal constant MAX_DISTANCE = 64; // 0.25 at scale 2^8
    bytes internal constant PROOF = hex"c0ffee";

    /// This contract's next CREATE nonce (a contract's starts at 1).
    uint256 internal nonce = 1;

    /// The address of this contract's CREATE with nonce `n` (below 0x80).
    function createdAt(uint256 n) internal view returns (address) {
        return address(uint160(uint256(keccak256(abi.encodePacked(bytes1(0xd6), bytes1(0x94), address(this), uint8(n))))));
    }

    /// A gate, enrolled by this contract, whose verifier accepts only `PROOF` for
    /// [`commitment`, `distance`, this contract's first context word at that gate].
    function gateAccepting(uint256 commitment, int256 distance) internal returns (FaceIdGate gate, uint256[] memory inputs) {
        address gateAt = createdAt(nonce + 1); // right after its verifier
        inputs = new uint256[](3);
        inputs[0] = commitment;
        inputs[1] = distance >= 0 ? uint256(distance) : P - uint256(-distance);
        inputs[2] = uint256(keccak256(abi.encode(block.chainid, gateAt, address(this), uint256(0)))) % P;
        OnePairVerifier verifier = new OnePairVerifier(PROOF, inputs);
        gate = new FaceIdGate(IZkmlVerifier(address(verifier)), 0, address(this), MAX_DISTANCE);
        nonce += 2;
        require(address(gate) == gateAt && gate.contextFor(address(this)) == inputs[2], "gate address prediction");
    }

    function admitCall(FaceIdGate gate, uint256[] memory inputs) internal returns (bool ok, bytes memory ret) {
        (ok, ret) = address(gate).call(abi.encodeCall(FaceIdGate.admit, (PROOF, inputs)));
    }

    function test_admitsAMatchOnceForTheEnrolledTemplate() public {
        (FaceIdGate gate, uint256[] memory inputs) = gateAccepting(TEMPLATE, -3);
        (bool ok, bytes memory ret) = admitCall(gate, inputs);
        require(Reverts.selectorOf(ok, ret) == ZkmlGate.NotQualified.selector, "admitted without an enrolled template");
        gate.enroll(address(this), TEMPLATE);
        require(gate.admit(PROOF, inputs) == 0, "first admission has nonce 0");
        (ok, ret) = admitCall(gate, inputs);
        require(Reverts.selectorOf(ok, ret) == ZkmlGate.WrongContext.selector, "a used proof was accepted again");
    }

    function test_anotherTemplateDoesNotQualify() public {
        (FaceIdGate gate, uint256[] memory inputs) = gateAccepting(TEMPLATE + 1, 0);
        gate.enroll(address(this), TEMPLATE);
        (bool ok, bytes memory ret) = admitCall(gate, inputs);
        require(Reverts.selectorOf(ok, ret) == ZkmlGate.NotQualified.selector, "a proof against another template admitted");
    }

    function test_aDistanceAboveTheBoundDoesNotQualify() public {
        (FaceIdGate gate, uint256[] memory inputs) = gateAccepting(TEMPLATE, MAX_DISTANCE + 1);
        gate.enroll(address(this), TEMPLATE);
        (bool ok, bytes memory ret) = admitCall(gate, inputs);
        require(Reverts.selectorOf(ok, ret) == ZkmlGate.NotQualified.selector, "a distant face admitted");
        // At the bound it qualifies (and this verifier accepts only that pair).
        (FaceIdGate atBound, uint256[] memory ok2) = gateAccepting(TEMPLATE, MAX_DISTANCE);
        atBound.enroll(address(this), TEMPLATE);
        atBound.admit(PROOF, ok2);
    }

    function test_aRejectedProofIsNotAdmitted() public {
        (FaceIdGate gate, uint256[] memory inputs) = gateAccepting(TEMPLATE, 0);
        gate.enroll(address(this), TEMPLATE);
        (bool ok, bytes memory ret) = address(gate).call(abi.encodeCall(FaceIdGate.admit, (hex"c0ffef", inputs)));
        require(Reverts.selectorOf(ok, ret) == ZkmlGate.InvalidProof.selector, "a rejected proof admitted");
    }

    function test_onlyTheEnrollerEnrolls() public {
        FaceIdGate gate = new FaceIdGate(IZkmlVerifier(address(0)), 0, address(0xbeef), MAX_DISTANCE);
        nonce += 1;
        (bool ok, bytes memory ret) = address(gate).call(abi.encodeCall(FaceIdGate.enroll, (address(this), TEMPLATE)));
        require(Reverts.selectorOf(ok, ret) == FaceIdGate.NotEnroller.selector, "a stranger enrolled");
    }
}
