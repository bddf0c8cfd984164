#!/usr/bin/env bash
# `make bench`: fan-out figures for one topic, 200 subscribers, one publisher at 100
# messages per second over vsn 2, for this project's realtime endpoint (per-topic socket
# and multiplexed socket) and for a bare JavaScript broadcast room (bench/bare-room), all
# served by wrangler dev on this machine. Prints figures; passes or fails on nothing.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SUBSCRIBERS="${SUBSCRIBERS:-200}" RATE="${RATE:-100}" SECONDS_PER_RUN="${SECONDS_PER_RUN:-10}"
EDGE_PORT=8792 BARE_PORT=8793
RUN="$ROOT/.bench-run"
"$ROOT/scripts/toolchain.sh"
rm -rf "$RUN" && mkdir -p "$RUN"

PIDS=()
cleanup() {
    trap - INT TERM EXIT
    for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

# The fan-out path needs no database; the Hyperdrive binding still wants a local string.
CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE="postgres://postgres:postgres@127.0.0.1:1/none" \
    setsid wrangler dev --ip 127.0.0.1 --port "$EDGE_PORT" --inspector-port 9250 --show-interactive-dev-session=false \
    --persist-to "$RUN/edge-state" --var "JWT_SECRET:$DEFAULT_JWT_SECRET" >"$RUN/edge.log" 2>&1 &
PIDS+=($!)
setsid wrangler dev -c "$ROOT/bench/bare-room/wrangler.toml" --ip 127.0.0.1 --port "$BARE_PORT" --inspector-port 9251 \
    --show-interactive-dev-session=false --persist-to "$RUN/bare-state" >"$RUN/bare.log" 2>&1 &
PIDS+=($!)
(cd "$ROOT" && cargo build --quiet --release -p e2e --bin fanout_bench)
# Health answers 503 without a database; any answer means the Worker is up.
up() {
    local url="$1" pid="$2"
    for _ in $(seq 1 900); do
        kill -0 "$pid" 2>/dev/null || return 1
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$url" || true)" != "000" ] && return 0
        sleep 1
    done
    return 1
}
up "http://127.0.0.1:$EDGE_PORT/functions/v1/health" "${PIDS[0]}" || { tail -n 20 "$RUN/edge.log" >&2; die "the edge Worker did not start"; }
up "http://127.0.0.1:$BARE_PORT/" "${PIDS[1]}" || { tail -n 20 "$RUN/bare.log" >&2; die "the bare room did not start"; }

export E2E_JWT_SECRET="$DEFAULT_JWT_SECRET"
bench="$ROOT/target/release/fanout_bench"
log "fan-out: $SUBSCRIBERS subscribers, $RATE msg/s for $SECONDS_PER_RUN s, vsn 2 (send-to-delivery latency)"
"$bench" bare "http://127.0.0.1:$BARE_PORT" "$SUBSCRIBERS" "$RATE" "$SECONDS_PER_RUN"
"$bench" direct "http://127.0.0.1:$EDGE_PORT" "$SUBSCRIBERS" "$RATE" "$SECONDS_PER_RUN"
"$bench" edge "http://127.0.0.1:$EDGE_PORT" "$SUBSCRIBERS" "$RATE" "$SECONDS_PER_RUN"
log "many publishers: 10 at 90 msg/s on one topic with 40 listeners (cut_off should be 0)"
(cd "$ROOT" && cargo build --quiet --release -p e2e --bin crowd_bench)
"$ROOT/target/release/crowd_bench" edge "http://127.0.0.1:$EDGE_PORT" 10 90 40 5
"$ROOT/target/release/crowd_bench" direct "http://127.0.0.1:$EDGE_PORT" 10 90 40 5
"$bench" edge "http://127.0.0.1:$EDGE_PORT" "$SUBSCRIBERS" $((RATE * 2 / 5)) "$SECONDS_PER_RUN"
