#!/usr/bin/env bash
# `make bench`: fan-out figures for one topic, 200 subscribers, one publisher at 100
# messages per second over vsn 2 (and at 50, i.e. 10,000 deliveries per second; and 2,000
# subscribers at 10; the 10,000 deliveries/s comparison in ROUNDS alternating rounds, default
# 3), for this project's realtime endpoint (per-topic socket and
# multiplexed socket) and for a bare JavaScript broadcast room (bench/bare-room), all
# served by wrangler dev on this machine; saturation with many publishers on one topic
# (crowd_bench, CROWD="publishers rate listeners seconds"); and
# commit-to-delivery latency of database changes (changes_bench, with a PostgreSQL of its
# own). Prints figures; passes or fails on nothing. `BENCH="changes" make bench` runs only
# the parts named (fanout, crowd, changes, messages); CHANGES_VIA="edge" and
# CHANGES_RATES="500" narrow the changes part; MESSAGES="senders threads seconds" (default
# "50 10 5") shapes the messages part: senders sending as fast as they are answered,
# one message a request and in batches of ten, with request-to-delivery latency on
# another user's socket (messages_bench).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PARTS=" ${BENCH:-fanout crowd changes messages} "
wants() { [[ "$PARTS" == *" $1 "* ]]; }
SUBSCRIBERS="${SUBSCRIBERS:-200}" RATE="${RATE:-100}" SECONDS_PER_RUN="${SECONDS_PER_RUN:-10}"
# crowd_bench's publishers, rate, listeners and seconds: enough to saturate 2 cores.
CROWD="${CROWD:-10 90 150 5}"
EDGE_PORT=8792 BARE_PORT=8793
RUN="$ROOT/.bench-run"
"$ROOT/scripts/toolchain.sh"
rm -rf "$RUN" && mkdir -p "$RUN"

PG_PORT=54350
PG_DATA="$(pg_data_dir "$RUN/pg" pg-bench)"
DATABASE_URL="postgres://postgres:postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
PIDS=()
cleanup() {
    trap - INT TERM EXIT
    for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    "$ROOT/scripts/pg.sh" stop "$PG_DATA" 2>/dev/null || true
}
trap cleanup INT TERM EXIT

# A database of its own for the change-feed figures (the fan-out figures do not use it).
"$ROOT/scripts/pg.sh" stop "$PG_DATA" 2>/dev/null || true
rm -rf "$PG_DATA"
PG_EXTRA_OPTS="-c fsync=off -c synchronous_commit=off -c shared_preload_libraries=pg_stat_statements" "$ROOT/scripts/pg.sh" start "$PG_DATA" "$PG_PORT"
"$ROOT/scripts/db-setup.sh" "$DATABASE_URL"

CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE="$DATABASE_URL" \
    setsid wrangler dev --ip 127.0.0.1 --port "$EDGE_PORT" --inspector-port 9250 --show-interactive-dev-session=false \
    --persist-to "$RUN/edge-state" --var "JWT_SECRET:$DEFAULT_JWT_SECRET" --var "DATABASE_URL:$DATABASE_URL" \
    >"$RUN/edge.log" 2>&1 &
PIDS+=($!)
if wants fanout || wants crowd; then
    setsid wrangler dev -c "$ROOT/bench/bare-room/wrangler.toml" --ip 127.0.0.1 --port "$BARE_PORT" \
        --inspector-port 9251 --show-interactive-dev-session=false --persist-to "$RUN/bare-state" \
        >"$RUN/bare.log" 2>&1 &
    PIDS+=($!)
fi
(cd "$ROOT" && cargo build --quiet --release -p e2e --bin fanout_bench)
# Any answer from health means the Worker is up.
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
if wants fanout || wants crowd; then
    up "http://127.0.0.1:$BARE_PORT/" "${PIDS[1]}" || { tail -n 20 "$RUN/bare.log" >&2; die "the bare room did not start"; }
fi

export E2E_JWT_SECRET="$DEFAULT_JWT_SECRET"
bench="$ROOT/target/release/fanout_bench"
if wants fanout; then
log "fan-out: $SUBSCRIBERS subscribers, $RATE msg/s for $SECONDS_PER_RUN s, vsn 2 (send-to-delivery latency)"
"$bench" bare "http://127.0.0.1:$BARE_PORT" "$SUBSCRIBERS" "$RATE" "$SECONDS_PER_RUN"
"$bench" direct "http://127.0.0.1:$EDGE_PORT" "$SUBSCRIBERS" "$RATE" "$SECONDS_PER_RUN"
"$bench" edge "http://127.0.0.1:$EDGE_PORT" "$SUBSCRIBERS" "$RATE" "$SECONDS_PER_RUN"
log "fan-out at 10,000 deliveries/s: $SUBSCRIBERS subscribers, 50 msg/s, per-topic and multiplexed sockets in ${ROUNDS:-3} alternating rounds"
"$bench" compare "http://127.0.0.1:$EDGE_PORT" "$SUBSCRIBERS" 50 "$SECONDS_PER_RUN" "${ROUNDS:-3}"
log "fan-out to 2,000 subscribers on the multiplexed socket, 10 msg/s"
"$bench" edge "http://127.0.0.1:$EDGE_PORT" 2000 10 "$SECONDS_PER_RUN"
fi
if wants crowd; then
log "many publishers (publishers, rate, listeners, seconds: $CROWD) on one topic (cut_off should be 0)"
(cd "$ROOT" && cargo build --quiet --release -p e2e --bin crowd_bench)
"$ROOT/target/release/crowd_bench" edge "http://127.0.0.1:$EDGE_PORT" $CROWD
"$ROOT/target/release/crowd_bench" direct "http://127.0.0.1:$EDGE_PORT" $CROWD
"$ROOT/target/release/crowd_bench" bare "http://127.0.0.1:$BARE_PORT" $CROWD
"$bench" edge "http://127.0.0.1:$EDGE_PORT" "$SUBSCRIBERS" $((RATE * 2 / 5)) "$SECONDS_PER_RUN"
fi
if wants messages; then
log "messages over HTTP: ${MESSAGES:-50 10 5} (senders, threads, seconds), request-to-delivery on another user's socket"
(cd "$ROOT" && cargo build --quiet --release -p e2e --bin messages_bench)
for mode in single batch; do
    "$ROOT/target/release/messages_bench" "http://127.0.0.1:$EDGE_PORT" "$DATABASE_URL" ${MESSAGES:-50 10 5} "$mode"
done
fi
if wants changes; then
log "database changes: commit (psql, authenticated role; or POST /functions/v1/messages) to postgres_changes delivery, 200 subscribers over 10 topics (from the writer's stamp, and from commit_timestamp)"
(cd "$ROOT" && cargo build --quiet --release -p e2e --bin changes_bench)
for via in ${CHANGES_VIA:-psql edge edge-batch}; do
    for rate in ${CHANGES_RATES:-10 100 500}; do
        "$ROOT/target/release/changes_bench" "http://127.0.0.1:$EDGE_PORT" "$DATABASE_URL" 200 10 "$rate" 5 "$via"
        # The Worker is still closing the last run's 200 sockets (and a saturated run's
        # backlog): let it settle, so each run measures its own load only.
        sleep 5
    done
done
fi
