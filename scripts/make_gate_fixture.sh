#!/usr/bin/env bash
# Writes contracts/test/fixtures/gate_mlp.json: a direct verifier of the digits MLP compiled with a
# context word, and a proof (image: examples/mlp/input.json, class 7) made for the first
# admission of the forge test contract by the ClassifierGate its setUp deploys.
#
#   scripts/make_gate_fixture.sh
#
# Forge runs the test contract at a fixed address, and its setUp creates the raw verifier, the
# ZkmlVerifier and then the gate (its third CREATE), so the gate's address, hence the context
# word, is known here. contracts/test/ZkmlGate.t.sol checks both; rerun this script if its setUp
# changes.
set -euo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
bash scripts/setup.sh
cargo build --release --locked --quiet
ZKML="$REPO/target/release/zkml"
CAST="$REPO/.tools/bin/cast"

TEST_CONTRACT=0x7FA9385bE102ac3EAc297483Dd6233D62b3e1496
gate="$("$CAST" compute-address --nonce 3 "$TEST_CONTRACT" | awk '{print $NF}')"
hash="$("$CAST" keccak "$("$CAST" abi-encode 'f(address,address,uint256)' "$gate" "$TEST_CONTRACT" 0)")"
word="$(python3 -c "import sys; p = 21888242871839275222246405745257275088548364400416034343698204186575808495617; print(hex(int(sys.argv[1], 16) % p))" "$hash")"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
model="$work/gate_mlp"
"$ZKML" compile examples/mlp/model.onnx -o "$model" --calibration-data examples/mlp/calibration.json --context-word
"$ZKML" setup "$model"
"$ZKML" evm-verifier "$model"
"$ZKML" prove "$model" --input examples/mlp/input.json -o "$work/proof.json" --evm --context "$word"
python3 scripts/make_fixture.py "$model" contracts/test/fixtures/gate_mlp.json --proof "$work/proof.json"
echo "gate $gate, caller $TEST_CONTRACT, nonce 0: context word $word"
