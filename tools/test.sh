#!/usr/bin/env bash
# Runs the whole test suite against a throwaway PostgreSQL that it starts and, on any exit
# (success, failure, Ctrl-C), stops and removes. Exits non-zero if anything failed.
#
# Usage: tools/test.sh [arguments for swift test, e.g. --filter LocalClusterTests]
# OPTUNE_SCRATCH_PATH, if set, is passed to swift as --scratch-path (a build folder of one's own).
set -uo pipefail
cd "$(dirname "$0")/.."

section() { printf '\n=== %s ===\n' "$*"; }
failed=()

section "Setup: tools/setup.sh --no-build"
tools/setup.sh --no-build || { echo "test: setup failed" >&2; exit 1; }

section "Landed migrations unchanged: tools/check-migrations.sh"
tools/check-migrations.sh || failed+=("tools/check-migrations.sh")

section "Formatting: swift format lint --strict (.swift-format)"
if swift format --version >/dev/null 2>&1; then
    swift format lint --strict --recursive Sources Tests Package.swift || failed+=("swift format lint (run: swift format --in-place --recursive Sources Tests Package.swift)")
else
    echo "skipped: this toolchain has no swift format"
fi

section "Throwaway PostgreSQL"
# Under /tmp (not $TMPDIR) so the socket path stays short.
pg_dir=$(mktemp -d /tmp/optune-test-pg.XXXXXX) || exit 1
cleanup() {
    tools/pg-test-cluster.sh stop "$pg_dir" >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
tools/pg-test-cluster.sh start "$pg_dir" || exit 1
OPTUNE_TEST_DATABASE_URL=$(tools/pg-test-cluster.sh url "$pg_dir")
export OPTUNE_TEST_DATABASE_URL
echo "OPTUNE_TEST_DATABASE_URL=$OPTUNE_TEST_DATABASE_URL"

scratch=()
if [ -n "${OPTUNE_SCRATCH_PATH:-}" ]; then scratch=(--scratch-path "$OPTUNE_SCRATCH_PATH"); fi

section "Build: swift build --build-tests ${scratch[*]}"
build_log=$(mktemp /tmp/optune-build.XXXXXX)
if swift build --build-tests "${scratch[@]}" 2>&1 | tee "$build_log"; [ "${PIPESTATUS[0]}" -eq 0 ]; then
    # Zero compiler warnings in the project's own code (dependencies are not ours to fix). An
    # incremental build only shows warnings of the files it recompiled; CI builds from scratch.
    warnings=$(grep -E "^$PWD/(Sources|Tests)/.*: warning: " "$build_log" | sort -u || true)
    if [ -n "$warnings" ]; then
        printf '%s\n' "$warnings"
        echo "test: $(printf '%s\n' "$warnings" | wc -l) compiler warning(s) in Sources/ or Tests/" >&2
        failed+=("compiler warnings")
    fi
    if [ "$#" -gt 0 ]; then
        section "Swift tests: swift test ${scratch[*]} $*"
        swift test "${scratch[@]}" "$@" || failed+=("swift test")
    else
        # Suites that start processes, servers or private clusters and wait on them run one at a
        # time after the rest (which run in parallel): on a 2-core machine, dozens of them at once
        # starve each other past their waits. Each test still isolates itself either way.
        process_suites='DatabaseRestartTests|CommandLineFuzzTests|InterruptAndResumeTests|TrainerLeaseTests|PoisonBatchTests'
        process_suites+='|DeadWorkToleranceTests|EndToEndTests|WorkProtocolTests|RoleTests|CommandTrainerEndToEndTests|ExternalTrainingTests'
        process_suites+='|BasePolicyOnceTests|ObservabilityTests|GeneratorThroughHTTPTests|HTTPBehaviourTests|DaemonWiringTests'
        process_suites+='|VLLMRewardBackendTests|GenerationRecordTests|BenchCommandTests|PromptImportCommandTests|ExportFailureTests'
        process_suites+='|LocalClusterTests|ExperimentsTests'
        section "Swift tests, in parallel: swift test ${scratch[*]} --skip <process suites>"
        swift test "${scratch[@]}" --skip "$process_suites" || failed+=("swift test (parallel)")
        section "Swift tests that start processes, one at a time: swift test ${scratch[*]} --no-parallel --filter <process suites>"
        swift test "${scratch[@]}" --no-parallel --filter "$process_suites" || failed+=("swift test (process suites)")
    fi
else
    failed+=("swift build --build-tests")
fi
rm -f "$build_log"

section "Python reference decoder: tools/token_blob.py check Tests/TokenCodecTests/Vectors"
if [ -f tools/token_blob.py ]; then
    python3 tools/token_blob.py check Tests/TokenCodecTests/Vectors || failed+=("tools/token_blob.py check")
else
    echo "skipped: tools/token_blob.py does not exist"
fi

section "Summary"
if [ "${#failed[@]}" -gt 0 ]; then
    printf 'FAILED: %s\n' "${failed[@]}"
    exit 1
fi
echo "all checks passed"
