#!/usr/bin/env bash
# Installs what the project needs and is missing; skips what is already there at the
# pinned version. Safe to run on every `make dev` / `make test`.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

have_version() { # command, expected version substring
    command -v "$1" >/dev/null 2>&1 && "$1" --version 2>/dev/null | grep -q -- "$2"
}

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
fi

if ! have_version worker-build "$WORKER_BUILD_VERSION"; then
    log "installing worker-build $WORKER_BUILD_VERSION (a few minutes, once)"
    cargo install worker-build --version "=$WORKER_BUILD_VERSION" --locked
fi

WB_VERSION="$(wasm_bindgen_version)"
[ -n "$WB_VERSION" ] || { log "resolving Cargo.lock"; cargo generate-lockfile; WB_VERSION="$(wasm_bindgen_version)"; }
if ! have_version wasm-bindgen "$WB_VERSION"; then
    log "installing wasm-bindgen-cli $WB_VERSION (a few minutes, once)"
    cargo install wasm-bindgen-cli --version "=$WB_VERSION" --locked
fi

# sqlx-toml lets sqlx.toml keep the migrations ledger out of the public schema.
sqlx_has_features() {
    python3 - "$SQLX_CLI_VERSION" <<'PY'
import json, os, sys
path = os.path.expanduser("~/.cargo/.crates2.json")
installs = json.load(open(path)).get("installs", {}) if os.path.exists(path) else {}
ok = any(k.startswith("sqlx-cli " + sys.argv[1] + " ") and "sqlx-toml" in v.get("features", [])
         for k, v in installs.items())
sys.exit(0 if ok else 1)
PY
}
if ! have_version sqlx "$SQLX_CLI_VERSION" || ! sqlx_has_features; then
    log "installing sqlx-cli $SQLX_CLI_VERSION with only the postgres driver (about 2 minutes, once)"
    cargo install sqlx-cli --version "=$SQLX_CLI_VERSION" --no-default-features \
        --features postgres,rustls,sqlx-toml --locked --force
fi

# npm packages: wrangler (pinned), Node 22 for it, binaryen for wasm-opt.
stamp="$ROOT/node_modules/.package-lock.json"
if [ ! -x "$ROOT/node_modules/.bin/wrangler" ] || [ "$ROOT/package-lock.json" -nt "$stamp" ]; then
    log "installing npm packages (wrangler, node 22, binaryen)"
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error)
fi

# PostgreSQL 15 server binaries (Debian's postgresql package).
if ! pg_bindir >/dev/null 2>&1; then
    log "installing PostgreSQL server binaries"
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
        die "PostgreSQL server binaries are missing: install Debian's postgresql package"
    fi
fi
