#!/usr/bin/env bash
# The test run's Worker under wrangler dev (scripts/test.sh; the restart test calls it too).
#
#   worker.sh start     start it and wait until health answers 200
#   worker.sh stop      stop it (its whole process group) and wait until it is gone
#   worker.sh restart   stop, then start: Durable Object storage and alarms persist in
#                       $RUN/wrangler-state, open sockets do not (as a workerd restart)
#
# Settings come from the environment scripts/test.sh exports: RUN, WORKER_PORT,
# INSPECTOR_PORT, DATABASE_URL, JWT_SECRET, JWKS, UPSTREAM_PORT and the E2E_* limits.
# WORKER_EXTRA_VARS ("NAME:value ...") adds vars, and WORKER_READY_STATUS (default 200)
# is the health status that counts as started: the misconfiguration test starts a
# Worker whose health must answer 500.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

: "${RUN:?}" "${WORKER_PORT:?}" "${INSPECTOR_PORT:?}" "${DATABASE_URL:?}" "${JWT_SECRET:?}" "${UPSTREAM_PORT:?}"
PID_FILE="$RUN/wrangler.pid"

stop() {
    [ -f "$PID_FILE" ] || return 0
    local pid
    pid="$(cat "$PID_FILE")"
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 -- "-$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$PID_FILE"
}

start() {
    cd "$ROOT"
    local extra=()
    for var in ${WORKER_EXTRA_VARS:-}; do extra+=(--var "$var"); done
    # Vars on the command line win over a developer's .dev.vars, which may point elsewhere.
    CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE="$DATABASE_URL" \
        setsid wrangler dev --ip 127.0.0.1 --port "$WORKER_PORT" --inspector-port "$INSPECTOR_PORT" \
        --show-interactive-dev-session=false --persist-to "$RUN/wrangler-state" \
        --var "JWT_SECRET:$JWT_SECRET" --var "DATABASE_URL:$DATABASE_URL" --var "JWKS:${JWKS:-}" \
        --var "MAX_CHANNELS_PER_CONNECTION:$E2E_MAX_CHANNELS" --var "MAX_USERS_PER_CHANNEL:$E2E_MAX_USERS" \
        --var "MAX_PAYLOAD_BYTES:$E2E_MAX_PAYLOAD" --var "IDLE_TIMEOUT_MS:$E2E_IDLE_TIMEOUT_MS" \
        --var "MAX_FRAME_BYTES:$E2E_MAX_FRAME" --var "MAX_PRESENCE_BYTES:$E2E_MAX_PRESENCE" \
        --var "MAX_BUFFERED_BYTES:$E2E_MAX_BUFFERED" --var "TOKEN_REFRESHES_PER_MINUTE:$E2E_TOKEN_REFRESHES" \
        --var "PRESENCE_GRACE_MS:${E2E_PRESENCE_GRACE_MS:-30000}" \
        --var "SUPABASE_URL:http://127.0.0.1:$UPSTREAM_PORT" "${extra[@]}" \
        >>"$RUN/wrangler.log" 2>&1 </dev/null &
    echo $! >"$PID_FILE"
    wait_for_http "http://127.0.0.1:$WORKER_PORT/functions/v1/health" 900 "$(cat "$PID_FILE")" "${WORKER_READY_STATUS:-200}" \
        || die "wrangler dev did not become healthy (log: $RUN/wrangler.log)"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
restart) stop && start ;;
*) die "usage: worker.sh start|stop|restart" ;;
esac
