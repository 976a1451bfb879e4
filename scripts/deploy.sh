#!/usr/bin/env bash
# Deploys an aggregation's verifier to a local anvil node this script starts, checks the proof
# against the deployed contract, and stops the node.
#
#   scripts/deploy.sh [AGG_DIR]
#
# AGG_DIR is a directory written by `zkml aggregate` and `zkml evm-verifier`; without it, the demo
# runs first (in a temporary directory) and its aggregation is deployed. The address and the
# transaction land in AGG_DIR/deployment.json. For a real network, run
#   target/release/zkml deploy AGG_DIR --rpc URL --private-key KEY
# yourself.
set -euo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
bash scripts/setup.sh
cargo build --release --locked --quiet
ZKML="$REPO/target/release/zkml"

AGG_DIR="${1:-}"
if [[ -z "$AGG_DIR" ]]; then
    work="$(mktemp -d)"
    "$ZKML" demo --dir "$work/demo"
    AGG_DIR="$work/demo/agg"
fi
[[ -f "$AGG_DIR/Verifier.bin" ]] || { echo "deploy.sh: $AGG_DIR/Verifier.bin is missing: run zkml evm-verifier $AGG_DIR" >&2; exit 2; }

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$REPO/.tools/bin/anvil" --host 127.0.0.1 --port "$port" --hardfork prague --silent &
anvil_pid=$!
trap 'kill "$anvil_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done

rpc="http://127.0.0.1:$port"
# A throwaway local node: a verifier over the development SRS may go there.
"$ZKML" deploy "$AGG_DIR" --rpc "$rpc" --force --insecure-dev-srs
"$ZKML" evm-verify "$AGG_DIR" --rpc "$rpc" --deployed
echo "deploy.sh: deployment recorded in $AGG_DIR/deployment.json (anvil stopped; its state is gone)"
