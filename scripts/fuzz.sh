#!/usr/bin/env bash
# `bash scripts/fuzz.sh [SECONDS]`: coverage-guided fuzzing of the decoders that parse
# untrusted client input (fuzz/fuzz_targets: `frame` for vsn 1 and 2 text frames, `binary`
# for kind 3 binary frames), each target for SECONDS (default 20), on stable Rust.
#
# cargo-fuzz builds the targets with `-s none`: libFuzzer's coverage instrumentation
# (SanitizerCoverage, by stable -C flags) with debug assertions and no sanitizer, which
# would need nightly. libfuzzer-sys compiles libFuzzer itself with the system's C++ compiler.
#
# Seeds are read from fuzz/corpus/<target>/ (checked in); what a run discovers goes to
# fuzz/corpus-new/<target>/ and is read again by the next run (git-ignored: delete it to
# start over). Targets run side by side, one per core (FUZZ_JOBS=1: one at a time). On a
# crash the script prints the panic, the crashing input (path and hex) and the command
# that replays it, and exits 1. Each target also stops on an input slower than 10 s.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

CARGO_FUZZ_VERSION="0.13.2"
FUZZ="$ROOT/fuzz"
TARGETS=(frame binary)

DURATION="${1:-20}"
[[ "$DURATION" =~ ^[1-9][0-9]{0,5}$ ]] || die "usage: scripts/fuzz.sh [SECONDS] (a whole number of seconds, default 20)"
JOBS="${FUZZ_JOBS:-$(nproc)}"

if [ "$(cargo fuzz --version 2>/dev/null || true)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
    log "installing cargo-fuzz $CARGO_FUZZ_VERSION (about a minute, once)"
    cargo install cargo-fuzz --version "=$CARGO_FUZZ_VERSION" --locked --force
fi

log "building the fuzz targets (cargo fuzz build -s none)"
(cd "$FUZZ" && cargo fuzz build -s none)
HOST="$(rustc -vV | sed -n 's/^host: //p')"
BIN="$FUZZ/target/$HOST/release"

mkdir -p "$FUZZ/logs"
# Starts one target in the background, bounded by libFuzzer's -max_total_time and, should
# that not stop it, by timeout(1) a minute later. Each input may take at most 10 s.
start_target() {
    local target="$1"
    local new="$FUZZ/corpus-new/$target" artifacts="$FUZZ/artifacts/$target"
    local args=(-max_total_time="$DURATION" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$artifacts/")
    if [ -f "$FUZZ/dict/$target.dict" ]; then
        args+=(-dict="$FUZZ/dict/$target.dict")
    fi
    mkdir -p "$new" "$artifacts"
    (cd "$FUZZ" && exec timeout -k 10 $((DURATION + 60)) "$BIN/$target" "${args[@]}" "$new" "corpus/$target") \
        >"$FUZZ/logs/$target.log" 2>&1 &
    PIDS[$target]=$!
}

# After a clean run: a run adds thousands of entries to corpus-new/<target>; past 2,000,
# keep only those that add coverage (libFuzzer's -merge, well under a second). Done after
# the run, so that an entry the current code crashes on is first reported by the run.
minimize_corpus() {
    local target="$1" new="$FUZZ/corpus-new/$1"
    [ "$(find "$new" -type f | wc -l)" -gt 2000 ] || return 0
    rm -rf "$new.min" && mkdir "$new.min"
    if (cd "$FUZZ" && "$BIN/$target" -merge=1 -timeout=10 -artifact_prefix="artifacts/$target/merge-" \
        "$new.min" "$new") >"$FUZZ/logs/$target.merge.log" 2>&1; then
        rm -rf "$new" && mv "$new.min" "$new"
    else
        rm -rf "$new.min"
        warn "could not minimize fuzz/corpus-new/$target; log: fuzz/logs/$target.merge.log"
    fi
}

stat_of() { # log file, stat name
    sed -n "s/^stat::$2: *//p" "$1" | tail -n 1
}

# Prints the result of one finished target; returns 1 if it crashed or did not stop.
report_target() {
    local target="$1" rc="$2" logfile="$FUZZ/logs/$1.log"
    local runs rate cov artifact
    runs="$(stat_of "$logfile" number_of_executed_units)"
    rate="$(stat_of "$logfile" average_exec_per_sec)"
    cov="$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$logfile" | tail -n 1 || true)"
    printf '%-8s %12s executions  %8s exec/s  %s  new corpus entries: %s\n' "$target" "${runs:-?}" "${rate:-?}" \
        "${cov:-}" "$(stat_of "$logfile" new_units_added)"
    [ "$rc" = 0 ] && return 0

    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        warn "$target did not stop after ${DURATION}s (killed); log: $logfile"
        return 1
    fi
    artifact="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$logfile" | tail -n 1)"
    warn "$target FAILED (exit $rc); log: $logfile"
    grep -m 1 -A 12 -E "panicked at|ERROR: libFuzzer|==[0-9]+== ERROR" "$logfile" >&2 || tail -n 20 "$logfile" >&2
    if [ -n "$artifact" ] && [ -f "$artifact" ]; then
        printf '  crashing input: %s (%s bytes)\n  hex: %s\n  replay: (cd fuzz && cargo fuzz run -s none %s %s)\n' \
            "$artifact" "$(wc -c <"$artifact")" "$(od -An -v -tx1 "$artifact" | tr -d ' \n' | cut -c1-2000)" \
            "$target" "${artifact#"$FUZZ/"}" >&2
    fi
    return 1
}

log "fuzzing ${TARGETS[*]} for ${DURATION}s each, $JOBS at a time (logs in fuzz/logs/)"
declare -A PIDS=()
failed=0
started=$SECONDS
for ((i = 0; i < ${#TARGETS[@]}; i += JOBS)); do
    batch=("${TARGETS[@]:i:JOBS}")
    for target in "${batch[@]}"; do
        start_target "$target"
    done
    for target in "${batch[@]}"; do
        rc=0
        wait "${PIDS[$target]}" || rc=$?
        if report_target "$target" "$rc"; then
            minimize_corpus "$target"
        else
            failed=1
        fi
    done
done

if [ "$failed" != 0 ]; then
    die "fuzzing found a failure (see above); the inputs are under fuzz/artifacts/"
fi
log "no crash in $((SECONDS - started))s of fuzzing"
