// SPDX-License-Identifier: MIT
pragma solidity ^0.8.19;

import {IZkmlVerifier} from "../src/IZkmlVerifier.sol";
import {ZkmlVerifier} from "../src/ZkmlVerifier.sol";
import {ZkmlGate} from "../src/ZkmlGate.sol";
import {ClassifierGate} from "../src/ClassifierGate.sol";
import {FaceIdGate} from "../src/FaceIdGate.sol";

/// A stand-in for a generated verifier, and a weak one: raw calldata (the public inputs as words,
/// then the proof), acceptance by returning, its shape stated on an empty call, but each input
/// reduced modulo p before it is checked and bytes after the proof ignored, as snark-verifier's
/// code does before zkml pins it: `ZkmlVerifier` must make even such a verifier safe. A proof is valid when it is the
/// keccak of `SECRET` and the reduced inputs: only the honest prover (`GateHandler.prove`) can make
/// one, as only a prover who knows a witness can make a real one. So whatever the invariant fuzzer
/// admits that the honest prover did not sign for is a hole in the gates or in `ZkmlVerifier`.
contract ReducingMacVerifier {
    uint256 internal constant P = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    bytes32 internal constant SECRET = keccak256("only the honest prover knows a witness");
    uint256 public immutable numInstances;

    constructor(uint256 numInstances_) {
        numInstances = numInstances_;
    }

    /// The proof the honest prover makes for `instances` (already below p).
    function macOf(uint256[] memory instances) public pure returns (bytes memory) {
        return abi.encodePacked(keccak256(abi.encode(SECRET, instances)));
    }

    fallback(bytes calldata data) external returns (bytes memory) {
        if (data.length == 0) {
            // The shape query of a zkml verifier (see ZkmlVerifier's constructor).
            bytes memory shape = abi.encode(bytes32("zkml calldata shape v1"), numInstances, uint256(32));
            assembly {
                revert(add(shape, 0x20), mload(shape))
            }
        }
        require(data.length >= numInstances * 32 + 32, "short calldata");
        uint256[] memory reduced = new uint256[](numInstances);
        for (uint256 i = 0; i < numInstances; i++) {
            reduced[i] = uint256(bytes32(data[i * 32:i * 32 + 32])) % P;
        }
        bytes32 mac = bytes32(data[numInstances * 32:numInstances * 32 + 32]);
        require(mac == keccak256(abi.encode(SECRET, reduced)), "invalid proof");
        return "";
    }
}

/// One caller of the gates (a person, a copier, a front-runner): it submits what the handler says.
contract Actor {
    function unlock(ClassifierGate gate, bytes calldata proof, uint256[] calldata instances) external {
        gate.unlock(proof, instances);
    }

    function admit(FaceIdGate gate, bytes calldata proof, uint256[] calldata instances) external {
        gate.admit(proof, instances);
    }

    function enroll(FaceIdGate gate, address who, uint256 commitment) external {
        gate.enroll(who, commitment);
    }
}

/// What the invariant fuzzer drives: honest proofs for any actor at either of two gates sharing a
/// verifier, and every misuse of them (replay, another actor, another gate, inputs plus p, a
/// changed input, bytes appended), while it keeps ghost records of what was admitted. Each
/// concrete handler says how its gate admits and what honest public inputs are.
abstract contract GateHandler {
    uint256 internal constant P = 21888242871839275222246405745257275088548364400416034343698204186575808495617;

    ReducingMacVerifier public immutable raw;
    ZkmlVerifier public immutable verifier;
    ZkmlGate[2] internal gates;
    Actor[3] internal actors;

    /// Every proof the honest prover made: what copiers and replayers draw from.
    bytes[] internal madeProofs;
    uint256[][] internal madeInputs;

    /// Ghost state, checked by the invariants.
    mapping(bytes32 => uint256) public admissionsOfPair;
    mapping(address => mapping(address => uint256)) public admissionsOf;
    mapping(address => mapping(address => uint256)) public lastNonceSeen;
    bool public aPairAdmittedTwice;
    bool public anInputAtOrAbovePAdmitted;
    bool public aNonceWentBack;
    bool public anUnsignedPairAdmitted;
    bool public anHonestProofRefused;
    bool public anUnsignedPairVerified;
    uint256 public admissions;
    uint256 public refusals;

    constructor(uint256 numInstances) {
        raw = new ReducingMacVerifier(numInstances);
        verifier = new ZkmlVerifier(address(raw));
        for (uint256 i = 0; i < 3; i++) actors[i] = new Actor();
    }

    /// Submits `proof` for `instances` as `actor` to `gate`; whether it was admitted.
    function _submit(Actor actor, ZkmlGate gate, bytes memory proof, uint256[] memory instances)
        internal
        virtual
        returns (bool);

    /// Public inputs of a qualifying proof for `actor` at `gate`, context word last.
    function _honestInputs(Actor actor, ZkmlGate gate, uint256 seed) internal view virtual returns (uint256[] memory);

    function gateAt(uint256 i) external view returns (ZkmlGate) {
        return gates[i];
    }

    function actorAt(uint256 i) external view returns (Actor) {
        return actors[i];
    }

    /// The honest path: a fresh proof for the actor's next context word, submitted by that actor.
    function prove(uint256 actorSeed, uint256 gateSeed, uint256 seed) external {
        Actor actor = actors[actorSeed % 3];
        ZkmlGate gate = gates[gateSeed % 2];
        uint256[] memory inputs = _honestInputs(actor, gate, seed);
        bytes memory proof = raw.macOf(inputs);
        madeProofs.push(proof);
        madeInputs.push(inputs);
        if (!_record(actor, gate, proof, inputs)) anHonestProofRefused = true;
    }

    /// Any proof made so far, by any actor at any gate: a replay, a copy or a cross-gate use.
    function replay(uint256 which, uint256 actorSeed, uint256 gateSeed) external {
        if (madeProofs.length == 0) return;
        uint256 i = which % madeProofs.length;
        _record(actors[actorSeed % 3], gates[gateSeed % 2], madeProofs[i], madeInputs[i]);
    }

    /// A made proof with one public input moved: by `p` (the same field element), or by any delta.
    function malleate(uint256 which, uint256 actorSeed, uint256 gateSeed, uint256 index, uint256 delta, bool byP)
        external
    {
        if (madeProofs.length == 0) return;
        uint256 i = which % madeProofs.length;
        uint256[] memory inputs = madeInputs[i];
        uint256[] memory moved = new uint256[](inputs.length);
        for (uint256 k = 0; k < inputs.length; k++) moved[k] = inputs[k];
        uint256 at = index % moved.length;
        if (byP) {
            moved[at] += P; // inputs are below p, so this cannot overflow
        } else {
            uint256 d = delta % P;
            moved[at] = addmod(moved[at], d == 0 ? 1 : d, P);
        }
        _record(actors[actorSeed % 3], gates[gateSeed % 2], madeProofs[i], moved);
    }

    /// A made proof with bytes appended (the raw verifier would ignore them).
    function extend(uint256 which, uint256 actorSeed, uint256 gateSeed, bytes32 tail) external {
        if (madeProofs.length == 0) return;
        uint256 i = which % madeProofs.length;
        _record(actors[actorSeed % 3], gates[gateSeed % 2], bytes.concat(madeProofs[i], tail), madeInputs[i]);
    }

    /// Submits and keeps the ghost records; whether it was admitted.
    function _record(Actor actor, ZkmlGate gate, bytes memory proof, uint256[] memory inputs)
        internal
        returns (bool admitted)
    {
        // The verifier alone, before any gate rule: what any other contract using it would get.
        bool signed = keccak256(proof) == keccak256(raw.macOf(_reduced(inputs)))
            && keccak256(abi.encode(inputs)) == keccak256(abi.encode(_reduced(inputs)));
        if (verifier.verifyProof(proof, inputs) && !signed) anUnsignedPairVerified = true;
        uint256 before = gate.nonceOf(address(actor));
        admitted = _submit(actor, gate, proof, inputs);
        uint256 afterwards = gate.nonceOf(address(actor));
        if (afterwards < lastNonceSeen[address(gate)][address(actor)] || afterwards < before) aNonceWentBack = true;
        lastNonceSeen[address(gate)][address(actor)] = afterwards;
        if (!admitted) {
            refusals++;
            return false;
        }
        admissions++;
        admissionsOf[address(gate)][address(actor)]++;
        bytes32 pair = keccak256(abi.encode(proof, inputs));
        if (++admissionsOfPair[pair] > 1) aPairAdmittedTwice = true;
        for (uint256 k = 0; k < inputs.length; k++) {
            if (inputs[k] >= P) anInputAtOrAbovePAdmitted = true;
        }
        if (!signed) anUnsignedPairAdmitted = true;
    }

    function _reduced(uint256[] memory inputs) internal pure returns (uint256[] memory reduced) {
        reduced = new uint256[](inputs.length);
        for (uint256 k = 0; k < inputs.length; k++) reduced[k] = inputs[k] % P;
    }
}

/// Two ClassifierGates (three classes, class 1 required) sharing one verifier.
contract ClassifierGateHandler is GateHandler {
    constructor() GateHandler(4) {
        gates[0] = new ClassifierGate(IZkmlVerifier(address(verifier)), 0, 3, 1);
        gates[1] = new ClassifierGate(IZkmlVerifier(address(verifier)), 0, 3, 1);
    }

    function _submit(Actor actor, ZkmlGate gate, bytes memory proof, uint256[] memory instances)
        internal
        override
        returns (bool)
    {
        try actor.unlock(ClassifierGate(address(gate)), proof, instances) {
            return true;
        } catch {
            return false;
        }
    }

    /// Logits with class 1 strictly highest, some of them negative (p − |v|).
    function _honestInputs(Actor actor, ZkmlGate gate, uint256 seed) internal view override returns (uint256[] memory inputs) {
        inputs = new uint256[](4);
        uint256 top = 1 + seed % 1000;
        inputs[0] = seed % 2 == 0 ? top - 1 : P - 1 - (seed % 77);
        inputs[1] = top;
        inputs[2] = P - 1 - (seed % 500);
        inputs[3] = gate.contextFor(address(actor));
    }
}

/// Two FaceIdGates sharing one verifier, each actor enrolled with its own template at both; the
/// handler is the enroller.
contract FaceIdGateHandler is GateHandler {
    int256 internal constant MAX_DISTANCE = 64;

    constructor() GateHandler(3) {
        gates[0] = new FaceIdGate(IZkmlVerifier(address(verifier)), 0, address(this), MAX_DISTANCE);
        gates[1] = new FaceIdGate(IZkmlVerifier(address(verifier)), 0, address(this), MAX_DISTANCE);
        for (uint256 g = 0; g < 2; g++) {
            for (uint256 a = 0; a < 3; a++) {
                FaceIdGate(address(gates[g])).enroll(address(actors[a]), templateOf(actors[a]));
            }
        }
    }

    function templateOf(Actor actor) public pure returns (uint256) {
        return uint256(keccak256(abi.encode("template", actor))) % P;
    }

    function _submit(Actor actor, ZkmlGate gate, bytes memory proof, uint256[] memory instances)
        internal
        override
        returns (bool)
    {
        try actor.admit(FaceIdGate(address(gate)), proof, instances) {
            return true;
        } catch {
            return false;
        }
    }

    /// The actor's template and a distance within the bound (negative ones too).
    function _honestInputs(Actor actor, ZkmlGate gate, uint256 seed) internal view override returns (uint256[] memory inputs) {
        inputs = new uint256[](3);
        inputs[0] = templateOf(actor);
        int256 distance = int256(seed % 129) - 64;
        inputs[1] = distance >= 0 ? uint256(distance) : P - uint256(-distance);
        inputs[2] = gate.contextFor(address(actor));
    }
}

/// The invariants every gate keeps, whatever sequence of honest and dishonest calls precedes them.
abstract contract GateInvariants {
    GateHandler internal handler;

    /// Only the handler is called by the fuzzer (not the gates, verifiers or actors directly).
    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// Completeness, so that the other invariants are not met by refusing everything.
    function invariant_honestProofsAdmit() public view {
        require(!handler.anHonestProofRefused(), "an honest proof refused");
    }

    /// A proof (with its public inputs) admits at most once.
    function invariant_eachProofAdmitsOnce() public view {
        require(!handler.aPairAdmittedTwice(), "a proof admitted twice");
    }

    /// `ZkmlVerifier` accepts only the exact pairs the honest prover made: not one with an input
    /// plus p (which the raw verifier reduces), nor one with bytes appended to the proof.
    function invariant_onlyHonestPairsVerify() public view {
        require(!handler.anUnsignedPairVerified(), "the verifier accepted a malleated pair");
    }

    /// Only the honest prover's proofs are admitted: no replay, copy or malleated pair.
    function invariant_onlyHonestProofsAdmit() public view {
        require(!handler.anUnsignedPairAdmitted(), "an unsigned pair admitted");
    }

    /// No public input at or above p is ever admitted (v + p is v to the raw verifier).
    function invariant_noInputAtOrAboveP() public view {
        require(!handler.anInputAtOrAbovePAdmitted(), "an input at or above p admitted");
    }

    /// Nonces only grow, and each one counts exactly its caller's admissions at its gate.
    function invariant_noncesCountAdmissions() public view {
        require(!handler.aNonceWentBack(), "a nonce went back");
        for (uint256 g = 0; g < 2; g++) {
            ZkmlGate gate = handler.gateAt(g);
            for (uint256 a = 0; a < 3; a++) {
                address actor = address(handler.actorAt(a));
                require(gate.nonceOf(actor) == handler.admissionsOf(address(gate), actor), "nonce is not the admission count");
            }
        }
    }
}

contract ClassifierGateInvariantTest is GateInvariants {
    function setUp() public {
        handler = new ClassifierGateHandler();
    }

    /// Unlocked exactly when admitted at least once.
    function invariant_unlockedMeansAdmitted() public view {
        for (uint256 g = 0; g < 2; g++) {
            ClassifierGate gate = ClassifierGate(address(handler.gateAt(g)));
            for (uint256 a = 0; a < 3; a++) {
                address actor = address(handler.actorAt(a));
                require(gate.unlocked(actor) == (gate.nonceOf(actor) > 0), "unlocked without an admission");
            }
        }
    }
}

contract FaceIdGateInvariantTest is GateInvariants {
    function setUp() public {
        handler = new FaceIdGateHandler();
    }
}
