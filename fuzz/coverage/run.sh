#!/usr/bin/env bash
# Coverage-guided fuzzing of oomlab's four parser targets and the reduced
# JPEG decoder with libFuzzer
# (cargo-fuzz on stable Rust: --sanitizer none), each for a bounded time,
# with a per-input timeout: an input that takes longer is reported as a
# hang (libFuzzer's `timeout-*` artifact) and fails the run like a crash.
#
# Usage (from anywhere): fuzz/coverage/run.sh [SECONDS_PER_TARGET] [TARGET...]
#   SECONDS_PER_TARGET  default 240; TARGET: transformation submission profile
#   scenario reduced_jpeg (all five when none is named). reduced_jpeg is built
#   with --no-default-features: without the parsers' crates, in minutes.
# Environment: FUZZ_TIMEOUT (seconds per input, default 5); FUZZ_BUILD_FLAGS
# (cargo-fuzz build flags, default none: release with debug assertions and
# overflow checks; e.g. "-O --codegen-units 16" for a much faster first build
# without them. They must match a `cargo fuzz build` made beforehand, or the
# run rebuilds everything).
# Exit: 0 nothing found, 1 a crash or a hang (see the log and artifact named),
# 2 cargo-fuzz missing or a bad argument.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-240}
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -eq 0 ]; then
    echo "run.sh: SECONDS_PER_TARGET must be a positive whole number, not '$secs'" >&2
    exit 2
fi
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(transformation submission profile scenario reduced_jpeg)
fi
timeout_s=${FUZZ_TIMEOUT:-5}
read -r -a build_flags <<<"${FUZZ_BUILD_FLAGS:-}"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "run.sh: cargo-fuzz is not installed: cargo install cargo-fuzz --locked" >&2
    exit 2
fi
dir=fuzz/coverage
cargo run -q --locked -p oomlab-fuzz -- --write-seeds "$dir/corpus"
mkdir -p "$dir/logs"
status=0
for t in "${targets[@]}"; do
    features=()
    case "$t" in
    transformation | submission | profile | scenario) ;;
    reduced_jpeg) features=(--no-default-features) ;;
    *)
        echo "run.sh: unknown target '$t' (transformation, submission, profile, scenario, reduced_jpeg)" >&2
        exit 2
        ;;
    esac
    log="$dir/logs/$t.log"
    echo "== $t: ${secs} s, ${timeout_s} s per input (log: $log)"
    if cargo fuzz run --fuzz-dir "$dir" --sanitizer none ${features[@]+"${features[@]}"} ${build_flags[@]+"${build_flags[@]}"} "$t" -- \
        -dict="$dir/corpus/$t.dict" -timeout="$timeout_s" -rss_limit_mb=2048 \
        -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1; then
        # The last status line: executions, coverage (cov: edges, ft:
        # features), corpus size, speed.
        grep -E '^#[0-9]+' "$log" | tail -1 || true
        grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$log" || true
    else
        grep -E 'SUMMARY|ALARM|panicked|Test unit written' "$log" || tail -20 "$log"
        echo "$t: a crash or a hang: see $log and $dir/artifacts/$t/" >&2
        status=1
    fi
done
exit $status
