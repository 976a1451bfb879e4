#!/usr/bin/env bash
# Installs the project's off-chain tools into <repo>/.tools (git-ignored), offline from the
# npm registry only, with the exact versions pinned by scripts/tools/package-lock.json:
#   solc-js 0.8.37 and 0.8.19 (alias `solc-0819`), forge/anvil/cast 1.7.1 (linux-amd64), and
#   snarkjs 0.7.6 (the tests make a Powers of Tau file with it to import).
# Also the ONNX project's own operator test cases (a model, inputs and expected outputs per case),
# unpacked from the pinned onnx 1.17.0 wheel (PyPI, sha256-checked) into <repo>/.tools/onnx-cases:
# prover/tests/onnx_conformance.rs runs them. (Later onnx wheels no longer ship the data.)
# Afterwards <repo>/.tools/bin/{solc,forge,anvil,cast,snarkjs} are runnable without PATH edits;
# `solc` is a native-solc look-alike (scripts/solc-shim.js over solc-js 0.8.19).
#
# Idempotent: a stamp file holds the hash of the lockfile (and of this installer's layout);
# when it matches and the tools are present, the script does nothing and prints nothing.
# Set ZKML_SETUP_FORCE=1 to reinstall anyway.
set -euo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
SPEC="$REPO/scripts/tools"
TOOLS="$REPO/.tools"
STAMP="$TOOLS/.installed"
# Bump when the layout of .tools/ produced below changes, to force a reinstall.
LAYOUT=2
FOUNDRY_TOOLS=(forge anvil cast)

die() { echo "setup.sh: $*" >&2; exit 1; }

for cmd in node npm sha256sum; do
    command -v "$cmd" >/dev/null 2>&1 || die "'$cmd' is required but not on PATH"
done

want="$(cat "$SPEC/package.json" "$SPEC/package-lock.json" | sha256sum | cut -d' ' -f1) layout=$LAYOUT"

is_installed() {
    [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] || return 1
    local t
    for t in solc snarkjs "${FOUNDRY_TOOLS[@]}"; do
        [[ -x "$TOOLS/bin/$t" ]] || return 1
    done
    return 0
}

# The ONNX node test cases: a tree of <case>/model.onnx and <case>/test_data_set_*/*.pb.
ONNX_WHEEL=onnx-1.17.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
ONNX_WHEEL_SHA256=4a183c6178be001bf398260e5ac2c927dc43e7746e8638d6c05c20e321f8c949
ONNX_CASES="$TOOLS/onnx-cases"
install_onnx_cases() {
    [[ -f "$ONNX_CASES/.installed" && "$(cat "$ONNX_CASES/.installed")" == "$ONNX_WHEEL_SHA256" ]] && return 0
    command -v python3 >/dev/null 2>&1 || die "'python3' (with pip) is required to fetch the ONNX test cases"
    local wheels="$TOOLS/wheels" start=$SECONDS
    mkdir -p "$wheels"
    if [[ ! -f "$wheels/$ONNX_WHEEL" ]]; then
        # The platform is fixed so that every machine fetches the same file (only its data is used).
        python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
            --platform manylinux2014_x86_64 onnx==1.17.0 -d "$wheels" >"$TOOLS/pip-onnx.log" 2>&1 || {
            cat "$TOOLS/pip-onnx.log" >&2
            die "pip could not download onnx==1.17.0 (log above)"
        }
    fi
    echo "$ONNX_WHEEL_SHA256  $wheels/$ONNX_WHEEL" | sha256sum --check --status ||
        die "$wheels/$ONNX_WHEEL does not have the pinned sha256; delete it and run again"
    rm -rf "$ONNX_CASES"
    python3 - "$wheels/$ONNX_WHEEL" "$ONNX_CASES" <<'PY' || die "could not unpack the ONNX test cases"
import os, sys, zipfile
prefix = "onnx/backend/test/data/node/"
with zipfile.ZipFile(sys.argv[1]) as wheel:
    for name in wheel.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            target = os.path.join(sys.argv[2], name[len(prefix):])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as out:
                out.write(wheel.read(name))
PY
    echo "$ONNX_WHEEL_SHA256" >"$ONNX_CASES/.installed"
    echo "setup.sh: unpacked the ONNX node test cases into .tools/onnx-cases ($((SECONDS - start)) s)"
}

if [[ "${ZKML_SETUP_FORCE:-0}" != 1 ]] && is_installed; then
    mkdir -p "$TOOLS"
    (
        flock 9 2>/dev/null || true
        install_onnx_cases
    ) 9>"$TOOLS/.lock"
    exit 0
fi

case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) ;;
    *) die "the pinned Foundry packages are linux-amd64 only; this is $(uname -s)-$(uname -m)" ;;
esac

mkdir -p "$TOOLS"
# Serialize concurrent runs (e.g. parallel test processes calling this script).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$TOOLS/.lock"
    flock 9
    # Another run may have finished the install while we waited.
    if [[ "${ZKML_SETUP_FORCE:-0}" != 1 ]] && is_installed; then
        install_onnx_cases
        exit 0
    fi
fi

rm -f "$STAMP"
rm -rf "$TOOLS/bin" "$TOOLS/node_modules"
cp "$SPEC/package.json" "$SPEC/package-lock.json" "$TOOLS/"

start=$SECONDS
npm ci --prefix "$TOOLS" --no-audit --no-fund --loglevel=error >"$TOOLS/npm-ci.log" 2>&1 || {
    cat "$TOOLS/npm-ci.log" >&2
    die "npm ci failed (log above, also in .tools/npm-ci.log)"
}

mkdir -p "$TOOLS/bin"
for t in "${FOUNDRY_TOOLS[@]}"; do
    rel="../node_modules/@foundry-rs/$t-linux-amd64/bin/$t"
    [[ -f "$TOOLS/bin/$rel" ]] || die "npm did not install $t at .tools/bin/$rel"
    chmod +x "$TOOLS/bin/$rel"
    ln -sfn "$rel" "$TOOLS/bin/$t"
done

snarkjs_cli="$TOOLS/node_modules/snarkjs/build/cli.cjs"
[[ -f "$snarkjs_cli" ]] || die "npm did not install snarkjs at $snarkjs_cli"
chmod +x "$snarkjs_cli"
ln -sfn ../node_modules/snarkjs/build/cli.cjs "$TOOLS/bin/snarkjs"

# solc: a wrapper locating the repo from its own (symlink-resolved) location, so no absolute
# path is baked in and a moved or freshly cloned repo keeps working.
cat >"$TOOLS/bin/solc" <<'EOF'
#!/bin/sh
# Native-solc look-alike over solc-js 0.8.19 (generated by scripts/setup.sh).
here="$(dirname -- "$(readlink -f -- "$0")")"
exec node "$here/../../scripts/solc-shim.js" "$@"
EOF
chmod +x "$TOOLS/bin/solc"

# Smoke test before declaring success.
"$TOOLS/bin/solc" --version >/dev/null || die ".tools/bin/solc --version failed"
for t in "${FOUNDRY_TOOLS[@]}"; do
    "$TOOLS/bin/$t" --version >/dev/null || die ".tools/bin/$t --version failed"
done

echo "$want" >"$STAMP"
install_onnx_cases
echo "setup.sh: installed solc-js 0.8.19/0.8.37, forge/anvil/cast 1.7.1 and snarkjs 0.7.6 into .tools/bin ($((SECONDS - start)) s)"
