#!/usr/bin/env bash
# The whole test suite, as CI runs it from a fresh clone (`.ci/run` calls exactly this):
#   1. set-up: the pinned npm tools (scripts/setup.sh);
#   2. build: every test binary, once, in release mode;
#   3. forge: the Solidity tests;
#   4. every Rust test binary (unit tests, gadget tamper tests, ONNX models, the aggregation
#      pipeline, the command line end to end through revm and a local anvil), in two lanes: the
#      command-line tests (the longest binary) beside all the others, since a proof leaves part of
#      the second core idle (witness generation and keygen are partly single-threaded);
#   5. a timing table: each step, each test binary, and each test that took over 60 s.
#
# Usage: scripts/test.sh [--full]
#   --full   also the slow tier, after the suite: the tests marked #[ignore] (four proofs of two
#            models at k = 22, in two levels), the mutation campaign at 10,000 mutations, the
#            parser fuzzing at 20,000 cases per format, and
#            `zkml gas-report` (1, 2, 4 and 8 proofs, the --min-gas degree k = 23; hours, up to
#            18 GiB), which appends its figures to BENCHMARKS.md.
#
# Logs: target/test-logs/<date>/ (one file per test binary). Environment: ZKML_SRS_DIR (the SRS
# store, default ~/.zkml/srs), ZKML_TEST_FIXTURES (the keys and proofs tests share, default a new
# directory inside the logs of this run).
set -euo pipefail
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."

full=0
case "${1:-}" in
    "") ;;
    --full) full=1 ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
esac

run_started=$SECONDS
LOGS="target/test-logs/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$LOGS"
LOGS="$(cd "$LOGS" && pwd)"
TIMES="$LOGS/times"
: >"$TIMES"

# Runs "$@" as step LABEL, recording its wall time and exit status; returns that status.
timed() {
    local label=$1 start=$SECONDS rc=0
    shift
    "$@" || rc=$?
    printf '%s|%s|%s\n' "$label" "$((SECONDS - start))" "$rc" >>"$TIMES"
    return "$rc"
}

failed=0
timed "set-up" bash scripts/setup.sh || { echo "test.sh: set-up failed" >&2; exit 1; }

# Tests share one SRS store (made on first use, about 10 s for the largest size) and one fixture
# cache per run (compiled models, keys and proofs that several tests use).
export ZKML_SRS_DIR="${ZKML_SRS_DIR:-$HOME/.zkml/srs}"
export ZKML_TEST_FIXTURES="${ZKML_TEST_FIXTURES:-$LOGS/fixtures}"

echo "== build (release, every test binary)"
timed "build" cargo test --release --workspace --locked --no-run --message-format=json-render-diagnostics \
    >"$LOGS/build.json" || { echo "test.sh: the build failed" >&2; exit 1; }

# One line per test binary: label, executable, package directory (the working directory cargo
# would give it).
node -e '
const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n");
for (const line of lines) {
  if (!line.startsWith("{")) continue;
  const m = JSON.parse(line);
  if (m.reason !== "compiler-artifact" || !m.profile.test || !m.executable) continue;
  const dir = require("path").dirname(m.manifest_path);
  const pkg = m.package_id.replace(/.*[#\/]/, "").replace(/@.*/, "");
  const kind = m.target.kind.includes("test") ? "tests/" + m.target.name : "unit tests";
  console.log(`${pkg} ${kind}\t${m.executable}\t${dir}`);
}' "$LOGS/build.json" >"$LOGS/binaries"

echo "== forge"
timed "forge" bash -c 'set -o pipefail; .tools/bin/forge test --root . | tee "$1"' _ "$LOGS/forge.out" || failed=1

# Runs one test binary from its package directory with per-test times, its output into a log
# that is printed whole once it ends (two lanes run at once). Extra arguments go to the binary.
run_binary() {
    local label=$1 exe=$2 dir=$3
    shift 3
    local log="$LOGS/$(echo "$label" | tr ' /' '__').log"
    local rc=0 start=$SECONDS
    # RUSTC_BOOTSTRAP lets libtest of the stable toolchain print each test's time; only the test
    # binary sees it, so nothing is rebuilt.
    (cd "$dir" && RUSTC_BOOTSTRAP=1 exec "$exe" -Z unstable-options --report-time "$@") >"$log" 2>&1 || rc=$?
    printf '%s|%s|%s\n' "$label" "$((SECONDS - start))" "$rc" >>"$TIMES"
    {
        flock 8
        echo "== $label ($((SECONDS - start)) s)"
        cat "$log"
    } 8>"$LOGS/print.lock"
    return "$rc"
}

# Runs each binary of "label<TAB>exe<TAB>dir" lines on stdin in turn; fails if any failed.
run_lane() {
    local rc=0 label exe dir
    while IFS=$'\t' read -r label exe dir; do
        run_binary "$label" "$exe" "$dir" "$@" </dev/null || rc=1
    done
    return "$rc"
}

echo "== Rust tests"
grep -P '^zkml tests/cli\t' "$LOGS/binaries" | run_lane &
cli_lane=$!
grep -vP '^zkml tests/cli\t' "$LOGS/binaries" | run_lane || failed=1
wait "$cli_lane" || failed=1

if [[ $full == 1 ]]; then
    echo "== slow tier: tests marked #[ignore], one binary at a time"
    while IFS=$'\t' read -r label exe dir; do
        if [[ -n "$(cd "$dir" && "$exe" --list --ignored 2>/dev/null | grep ': test$')" ]]; then
            run_binary "$label --ignored" "$exe" "$dir" --ignored </dev/null || failed=1
        fi
    done <"$LOGS/binaries"
    echo "== slow tier: the mutation campaign at 10,000 mutations"
    grep -P '^zkml tests/mutation_campaign\t' "$LOGS/binaries" | while IFS=$'\t' read -r label exe dir; do
        ZKML_MUTATIONS=10000 ZKML_MUTATIONS_ANVIL=1000 run_binary "$label (10,000 mutations)" "$exe" "$dir" --nocapture </dev/null
    done || failed=1
    echo "== slow tier: the parser fuzzing at 20,000 cases per format"
    grep -P '^zkml-prover tests/parser_fuzz\t' "$LOGS/binaries" | while IFS=$'\t' read -r label exe dir; do
        ZKML_FUZZ_CASES=20000 run_binary "$label (20,000 cases)" "$exe" "$dir" </dev/null
    done || failed=1
    echo "== slow tier: zkml gas-report (appends to BENCHMARKS.md)"
    timed "zkml gas-report" target/release/zkml gas-report || failed=1
fi
printf '%s|%s|%s\n' "total" "$((SECONDS - run_started))" "$failed" >>"$TIMES"

echo
echo "== timings (wall seconds)"
while IFS='|' read -r label secs rc; do
    printf '%-40s %6s s  %s\n' "$label" "$secs" "$([[ $rc == 0 ]] && echo ok || echo FAILED)"
done <"$TIMES"
echo
echo "== tests over 60 s"
cat "$LOGS"/*.log | grep -oP '^test \S+ \.\.\. \S+ <\d+\.\d+s>' \
    | awk '{ t = substr($5, 2, length($5) - 3); if (t + 0 > 60) printf "%-72s %8.1f s\n", $2, t }' || true

# One closing line over every runner: libtest's "test result: ok. N passed; M failed" lines
# and forge's "N tests passed, M failed".
counts=$(
    { cat "$LOGS"/*.log | grep -oP '^test result: \S+ \K\d+ passed; \d+ failed' || true
      grep -oP '\d+ tests passed, \d+ failed' "$LOGS/forge.out" || true
    } | awk '{ p += $1; f += $(NF - 1) } END { printf "%d passed, %d failed", p, f }'
)
echo
echo "== every test binary and forge, ignored tests not counted"
echo "total: $counts"
exit "$failed"
