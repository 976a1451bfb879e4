#!/usr/bin/env bash
# The main job on a fresh clone: install the pinned tools, build, and run `zkml demo` (compile the
# example model, prove, verify, aggregate, generate the Solidity verifier, verify in revm).
# Extra arguments go to `zkml demo` (e.g. --rpc http://127.0.0.1:8545).
set -euo pipefail
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
cargo run --release --locked --quiet -- demo "$@"
