#!/usr/bin/env bash
# `make dev`: the whole stack on this machine, in the foreground.
#
# Installs what is missing, starts PostgreSQL 15 on 127.0.0.1:54322 (data in .local/pg-dev,
# git-ignored), brings the schema up to date and loads the demo data, then serves the
# Worker with `wrangler dev` on http://127.0.0.1:8787. Ctrl-C stops everything it started.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PG_PORT="${PG_PORT:-54322}"
WORKER_PORT="${WORKER_PORT:-8787}"
PG_DATA="$(pg_data_dir "$ROOT/.local/pg-dev" pg-dev)"

"$ROOT/scripts/toolchain.sh"

if [ ! -f "$ROOT/.dev.vars" ]; then
    log "writing .dev.vars from .dev.vars.example"
    cp "$ROOT/.dev.vars.example" "$ROOT/.dev.vars"
fi
JWT_SECRET="$(read_var "$ROOT/.dev.vars" JWT_SECRET)"
JWT_SECRET="${JWT_SECRET:-$DEFAULT_JWT_SECRET}"
DATABASE_URL="$(read_var "$ROOT/.dev.vars" DATABASE_URL)"
DATABASE_URL="${DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable}"

stop_all() {
    trap - INT TERM EXIT
    # The terminal (or a pipe reading our output) may be gone: never die on a write.
    trap '' PIPE
    if [ -n "${WRANGLER_PID:-}" ] && kill -0 "$WRANGLER_PID" 2>/dev/null; then
        kill -TERM -- "-$WRANGLER_PID" 2>/dev/null || kill -TERM "$WRANGLER_PID" 2>/dev/null || true
        wait "$WRANGLER_PID" 2>/dev/null || true
    fi
    "$ROOT/scripts/pg.sh" stop "$PG_DATA" || true
    log "stopped wrangler and PostgreSQL"
}
trap stop_all INT TERM EXIT

log "starting PostgreSQL 15 on 127.0.0.1:$PG_PORT ($PG_DATA)"
"$ROOT/scripts/pg.sh" start "$PG_DATA" "$PG_PORT"
log "applying the Supabase baseline, migrations and demo data"
"$ROOT/scripts/db-setup.sh" "$DATABASE_URL"

log "building the Worker and starting wrangler dev (the first build takes a few minutes)"
# setsid: wrangler and its workerd children form one process group that stop_all ends.
CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE="$DATABASE_URL" \
    setsid wrangler dev --ip 127.0.0.1 --port "$WORKER_PORT" --show-interactive-dev-session=false &
WRANGLER_PID=$!

BASE="http://127.0.0.1:$WORKER_PORT"
if wait_for_http "$BASE/functions/v1/health" 900 "$WRANGLER_PID"; then
    {
        echo
        echo "  The stack is up."
        echo "    health     $BASE/functions/v1/health"
        echo "    realtime   ws://127.0.0.1:$WORKER_PORT/realtime/v1/websocket?apikey=<jwt>&vsn=2.0.0"
        echo "    postgres   $DATABASE_URL"
        echo
        echo "  Tokens for the demo users (valid 24 h):"
        for user in "${DEMO_USERS[@]}"; do
            read -r id email <<<"$user"
            token="$(JWT_SECRET="$JWT_SECRET" cargo run -q -p devtool -- jwt --sub "$id" --email "$email" --ttl 86400)"
            printf '    %-22s %s\n' "$email" "$token"
        done
        printf '    %-22s %s\n' "anon key" "$(JWT_SECRET="$JWT_SECRET" cargo run -q -p devtool -- jwt --role anon --ttl 86400)"
        echo
        echo "  Ctrl-C stops wrangler and PostgreSQL."
        echo
    } >&2
else
    warn "the Worker did not become healthy; see wrangler's output above"
fi
wait "$WRANGLER_PID" || true
