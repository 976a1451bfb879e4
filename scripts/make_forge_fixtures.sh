#!/usr/bin/env bash
# Writes every forge fixture, each a verifier (creation bytecode) with a proof it accepts:
# - contracts/test/fixtures/direct_mlp.json and contracts/src/generated/DigitsMlpVerifier.sol: the
#   direct verifier of the digits MLP (compiled by forge from the source) and a proof made with
#   `zkml prove --evm` (contracts/test/ZkmlVerifier.t.sol).
# - contracts/test/fixtures/aggregated.json: the aggregated verifier of one proof each of the CNN
#   and the MLP, outputs hashed (contracts/test/ZkmlVerifier.t.sol, ProofConsumer.t.sol).
# and those of the gate tests (contracts/test/ZkmlGate.t.sol), made for the first admission of the
# forge test contract by the gate its setUp deploys:
# - contracts/test/fixtures/gate_mlp.json: the digits MLP with a context word, its direct
#   verifier; the proof says a private image (examples/mlp/input.json) is a 7.
# - contracts/test/fixtures/gate_faceid.json: examples/matcher with the image private, the
#   template hashed and a context word. Its direct verifier would not fit EIP-170, so the proof is
#   aggregated (a few minutes at k = 20); it says the image is within the matcher's threshold
#   (recorded as `max_distance`, at the model's scale) of the committed template.
#
#   scripts/make_forge_fixtures.sh      (about ten minutes: two aggregations)
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

# The direct verifier of the digits MLP, and the Solidity forge compiles.
"$ZKML" compile examples/mlp/model.onnx -o "$work/mlp" --calibration-data examples/mlp/calibration.json
"$ZKML" setup "$work/mlp"
"$ZKML" evm-verifier "$work/mlp" --sol-out contracts/src/generated/DigitsMlpVerifier.sol --force
"$ZKML" prove "$work/mlp" --input examples/mlp/input.json -o "$work/mlp_evm.json" --evm
python3 scripts/make_fixture.py "$work/mlp" contracts/test/fixtures/direct_mlp.json --proof "$work/mlp_evm.json"

# An aggregated verifier: one proof each of two models, outputs hashed.
for model in cnn mlp; do
    "$ZKML" compile "examples/$model/model.onnx" -o "$work/agg_$model" --output-visibility hashed --calibration-data "examples/$model/calibration.json"
    "$ZKML" setup "$work/agg_$model"
    "$ZKML" prove "$work/agg_$model" --input "examples/$model/input.json" -o "$work/agg_$model.json"
done
"$ZKML" aggregate "$work/agg_cnn.json" "$work/agg_mlp.json" -m "$work/agg_cnn" -m "$work/agg_mlp" -o "$work/agg"
"$ZKML" evm-verifier "$work/agg"
python3 scripts/make_fixture.py "$work/agg" contracts/test/fixtures/aggregated.json

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
