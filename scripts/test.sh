#!/usr/bin/env bash
# `make test`: every test, against a stack of its own.
#
# 0. cargo fmt --check and cargo clippy -D warnings (native crates and tests, and the
#    Worker for wasm32);
# 1. native unit tests (cargo test), then a short coverage-guided fuzzing run of the
#    protocol decoders (scripts/fuzz.sh);
# 2. a fresh PostgreSQL (own data dir and port) with baseline, migrations and seed, and
#    the database tests (tests/db: RLS access matrix, structure, concurrency, migrations);
# 3. wrangler dev on its own HTTP and inspector ports, so this runs beside `make dev`;
# 4. the end-to-end suite in tests/e2e against it, the realtime-js conformance suite in
#    tests/conformance, the edge functions fuzzed against their OpenAPI document
#    (scripts/api-fuzz.sh, schemathesis), then the database-outage, Worker-restart and misconfiguration tests
#    alone;
# 5. `wrangler deploy --dry-run`, printing the size of the wasm module.
# Whatever it started is stopped on exit, failure or interrupt.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PG_PORT="${TEST_PG_PORT:-54330}"
WORKER_PORT="${TEST_WORKER_PORT:-8790}"
INSPECTOR_PORT="${TEST_INSPECTOR_PORT:-9240}"
RUN="$ROOT/.test-run"
# Limits small enough for tests to reach; the tests read the same values.
export E2E_MAX_CHANNELS=10 E2E_MAX_USERS=5 E2E_MAX_PAYLOAD=65536 E2E_IDLE_TIMEOUT_MS=5000 \
    E2E_MAX_FRAME=262144 E2E_MAX_PRESENCE=8192 E2E_MAX_BUFFERED=1048576 E2E_TOKEN_REFRESHES=10 \
    E2E_PRESENCE_GRACE_MS=2000
# A stand-in for the Supabase project behind the pass-through (tests/e2e/stub_upstream.py).
UPSTREAM_PORT="${TEST_UPSTREAM_PORT:-0}"   # 0: a free port chosen by the system
JWT_SECRET="$DEFAULT_JWT_SECRET"
DATABASE_URL="postgres://postgres:postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable"

started=$SECONDS
"$ROOT/scripts/toolchain.sh"

log "format and lints (cargo fmt --check, cargo clippy -D warnings)"
(cd "$ROOT" && cargo fmt --check \
    && cargo clippy --quiet --workspace --exclude edge --all-targets -- -D warnings \
    && cargo clippy --quiet -p edge --target wasm32-unknown-unknown -- -D warnings)

log "native unit tests"
(cd "$ROOT" && cargo test --quiet)

log "fuzzing the frame and binary decoders (20 s each; a longer run: bash scripts/fuzz.sh 600)"
bash "$ROOT/scripts/fuzz.sh" 20

cleanup() {
    local status=$?
    trap - INT TERM EXIT
    trap '' PIPE
    [ -n "${RUN:-}" ] && [ -f "$RUN/wrangler.pid" ] && "$ROOT/scripts/worker.sh" stop || true
    [ -n "${UPSTREAM_PID:-}" ] && kill "$UPSTREAM_PID" 2>/dev/null || true
    [ -n "${PG_DATA:-}" ] && "$ROOT/scripts/pg.sh" stop "$PG_DATA" || true
    if [ $status -ne 0 ] && [ -f "$RUN/wrangler.log" ]; then
        warn "last lines of wrangler's log ($RUN/wrangler.log):"
        tail -n 40 "$RUN/wrangler.log" >&2 || true
    fi
    exit $status
}
trap cleanup INT TERM EXIT

# A clean slate every run; a cluster left running by an interrupted run is stopped first.
PG_DATA="$(pg_data_dir "$RUN/pg" pg-test)"
"$ROOT/scripts/pg.sh" stop "$PG_DATA" 2>/dev/null || true
rm -rf "$RUN" "$PG_DATA"
mkdir -p "$RUN"

log "starting a fresh PostgreSQL on 127.0.0.1:$PG_PORT"
PG_EXTRA_OPTS="-c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    "$ROOT/scripts/pg.sh" start "$PG_DATA" "$PG_PORT"
"$ROOT/scripts/db-setup.sh" "$DATABASE_URL"

log "database tests: the access matrix, structural checks, concurrency, migrations"
(cd "$ROOT" && E2E_DATABASE_URL="$DATABASE_URL" cargo test --quiet -p db-tests)

# A JWKS of throwaway keys (functions/auth/testdata), so ES256 and RS256 tokens are tested too.
keys="$ROOT/functions/auth/testdata"
JWKS="$(cd "$ROOT" && cargo run --quiet -p devtool -- jwks \
    --es256 "$keys/es256-test-only.pem" test-ec --rs256 "$keys/rs256-test-only.pem" test-rsa)"

python3 "$ROOT/tests/e2e/stub_upstream.py" "$UPSTREAM_PORT" "$RUN/upstream.port" &
UPSTREAM_PID=$!
for _ in $(seq 1 50); do [ -s "$RUN/upstream.port" ] && break; sleep 0.1; done
[ -s "$RUN/upstream.port" ] || die "the stub upstream did not start"
UPSTREAM_PORT="$(cat "$RUN/upstream.port")"

log "starting wrangler dev on 127.0.0.1:$WORKER_PORT (builds the Worker first)"
export RUN WORKER_PORT INSPECTOR_PORT DATABASE_URL JWT_SECRET JWKS UPSTREAM_PORT
"$ROOT/scripts/worker.sh" start
BASE="http://127.0.0.1:$WORKER_PORT"

export E2E_BASE_URL="$BASE"
export E2E_JWT_SECRET="$JWT_SECRET"
export E2E_DATABASE_URL="$DATABASE_URL"
export E2E_PG_DATA="$PG_DATA"
export E2E_PG_PORT="$PG_PORT"

log "end-to-end tests"
(cd "$ROOT" && cargo test --quiet -p e2e -- --skip database_outage --skip worker_restart --skip worker_misconfigured)
log "conformance: the pinned @supabase/realtime-js against the stack"
(cd "$ROOT" && node --test --test-concurrency=1 tests/conformance/*.test.mjs)
log "the edge functions fuzzed against their OpenAPI document (schemathesis)"
"$ROOT/scripts/api-fuzz.sh"
log "end-to-end: database outage and recovery (alone: it stops PostgreSQL)"
(cd "$ROOT" && cargo test --quiet -p e2e --test database_outage)
log "end-to-end: workerd restarted during a stream of database changes (alone: it restarts the Worker)"
(cd "$ROOT" && cargo test --quiet -p e2e --test worker_restart)
log "end-to-end: a Worker started with an invalid limit (alone: it restarts the Worker twice)"
(cd "$ROOT" && cargo test --quiet -p e2e --test worker_misconfigured)

log "wrangler deploy --dry-run"
(cd "$ROOT" && wrangler deploy --dry-run --outdir "$RUN/dist" >"$RUN/deploy.log" 2>&1) \
    || { cat "$RUN/deploy.log" >&2; die "wrangler deploy --dry-run failed"; }
grep -E "Total Upload|Your Worker has access" "$RUN/deploy.log" >&2 || true
wasm="$(find "$RUN/dist" -name '*.wasm' | head -n 1)"
[ -n "$wasm" ] || die "the dry-run bundle has no wasm module"
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
printf 'wasm module: %s bytes raw, %s bytes gzipped (%s)\n' "$raw" "$gz" "${wasm#"$ROOT"/}" >&2

log "all tests passed in $((SECONDS - started)) s"
