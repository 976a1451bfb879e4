#!/usr/bin/env bash
# The whole test suite, as CI runs it from a fresh clone: installs the pinned tools, builds once
# in release mode, runs the Solidity tests with forge, then every Rust test (unit, gadget tamper tests, ONNX
# models, the end-to-end pipeline through revm and a local anvil).
set -euo pipefail
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
# Tests share one SRS store (made on first use, about 10 s for the largest size); by default the
# user's ~/.zkml/srs.
export ZKML_SRS_DIR="${ZKML_SRS_DIR:-$HOME/.zkml/srs}"
.tools/bin/forge test --root .
cargo test --release --workspace --locked
