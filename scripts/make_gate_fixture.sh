#!/usr/bin/env bash
# Writes the forge fixtures of the gate tests (contracts/test/ZkmlGate.t.sol), each a verifier and
# a proof made for the first admission of the forge test contract by the gate its setUp deploys:
# - contracts/test/fixtures/gate_mlp.json: the digits MLP with a context word, its direct
#   verifier; the proof says a private image (examples/mlp/input.json) is a 7.
# - contracts/test/fixtures/gate_faceid.json: examples/matcher with the image private, the
#   template hashed and a context word. Its direct verifier would not fit EIP-170, so the proof is
#   aggregated (a few minutes at k = 20); it says the image is within the matcher's threshold
#   (recorded as `max_distance`, at the model's scale) of the committed template.
#
#   scripts/make_gate_fixture.sh
#
# Forge runs every test contract at one fixed address, and each setUp creates the raw verifier,
# the ZkmlVerifier and then the gate (its third CREATE), so the gate's address, hence the context
# word, is known here. The tests check both; rerun this script if a setUp changes.
set -euo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
bash scripts/setup.sh
cargo build --release --locked --quiet
ZKML="$REPO/target/release/zkml"
CAST="$REPO/.tools/bin/cast"

TEST_CONTRACT=0x7FA9385bE102ac3EAc297483Dd6233D62b3e1496
gate="$("$CAST" compute-address --nonce 3 "$TEST_CONTRACT" | awk '{print $NF}')"
# Forge's default chain id; the gate hashes it in, so a proof is for one chain.
CHAIN_ID=31337
hash="$("$CAST" keccak "$("$CAST" abi-encode 'f(uint256,address,address,uint256)' "$CHAIN_ID" "$gate" "$TEST_CONTRACT" 0)")"
word="$(python3 -c "import sys; p = 21888242871839275222246405745257275088548364400416034343698204186575808495617; print(hex(int(sys.argv[1], 16) % p))" "$hash")"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# compiled NAME MODEL.onnx [compile flags...]: compiles with a context word and makes the keys.
compiled() {
    local name="$1" onnx="$2"
    shift 2
    "$ZKML" compile "$onnx" -o "$work/$name" --context-word "$@"
    "$ZKML" setup "$work/$name"
}

compiled gate_mlp examples/mlp/model.onnx --calibration-data examples/mlp/calibration.json
"$ZKML" evm-verifier "$work/gate_mlp"
"$ZKML" prove "$work/gate_mlp" --input examples/mlp/input.json -o "$work/gate_mlp.json" --evm --context "$word"
python3 scripts/make_fixture.py "$work/gate_mlp" contracts/test/fixtures/gate_mlp.json --proof "$work/gate_mlp.json"

compiled gate_faceid examples/matcher/model.onnx --input-visibility private,hashed
"$ZKML" prove "$work/gate_faceid" --input examples/matcher/input.json -o "$work/gate_faceid.json" --context "$word"
"$ZKML" aggregate "$work/gate_faceid.json" -m "$work/gate_faceid" -o "$work/gate_faceid_agg"
"$ZKML" evm-verifier "$work/gate_faceid_agg"
python3 scripts/make_fixture.py "$work/gate_faceid_agg" contracts/test/fixtures/gate_faceid.json
# The matcher's threshold at the compiled scale (2^8), for the gate's bound.
python3 - contracts/test/fixtures/gate_faceid.json examples/matcher/expected.json <<'EOF'
import json, sys
path, expected = sys.argv[1], json.load(open(sys.argv[2]))
fixture = json.load(open(path))
fixture["max_distance"] = round(expected["threshold"] * 2**8)
open(path, "w").write(json.dumps(fixture, indent=1) + "\n")
EOF
echo "chain $CHAIN_ID, gate $gate, caller $TEST_CONTRACT, nonce 0: context word $word"
