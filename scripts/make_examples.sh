#!/usr/bin/env bash
# Regenerates the example models under examples/ (mlp, cnn, matcher) with a pinned Python
# environment: creates the git-ignored venv <repo>/.tools/py if missing, installs the exact
# versions from scripts/examples-requirements.txt (only when that file changed), then runs
# scripts/make_examples.py with the given example names (mlp, cnn, matcher; all by default).
# Deterministic; prints only the generator's summary on success.
# Needs python3 >= 3.11 with the venv module, and PyPI access on first run.
# Set ZKML_EXAMPLES_PY=/path/to/python3 to choose the interpreter used to create the venv.
set -euo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.tools/py"
REQS="$REPO/scripts/examples-requirements.txt"
STAMP="$VENV/.requirements.sha256"
LOG="$VENV/pip-install.log"
PY="${ZKML_EXAMPLES_PY:-python3}"

die() { echo "make_examples.sh: $*" >&2; exit 1; }

command -v "$PY" >/dev/null 2>&1 || die "'$PY' is required but not on PATH"
command -v sha256sum >/dev/null 2>&1 || die "'sha256sum' is required but not on PATH"

if [[ ! -x "$VENV/bin/python" ]]; then
    "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "Python >= 3.11 is required (numpy 2.4); $("$PY" --version 2>&1)"
    mkdir -p "$REPO/.tools"
    "$PY" -m venv "$VENV" || die "could not create the venv $VENV (is python3-venv installed?)"
fi

want="$(sha256sum "$REQS" | cut -d' ' -f1)"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$want" ]]; then
    rm -f "$STAMP"
    if ! PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/python" -m pip install \
            --quiet --no-input -r "$REQS" >"$LOG" 2>&1; then
        cat "$LOG" >&2
        die "pip install failed (log: $LOG)"
    fi
    echo "$want" >"$STAMP"
fi

exec "$VENV/bin/python" "$REPO/scripts/make_examples.py" "$@"
