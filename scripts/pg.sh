#!/usr/bin/env bash
# A throwaway local PostgreSQL 15 cluster.
#
#   pg.sh start DATA_DIR PORT   create the cluster if missing, start it on 127.0.0.1:PORT
#   pg.sh stop DATA_DIR         stop it (fast shutdown); no-op if it is not running
#   pg.sh status DATA_DIR
#
# The superuser is `postgres` with password `postgres`, as in the Supabase CLI's local
# stack. initdb refuses to run as root, so as root the cluster belongs to the
# `postgres` system user.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BIN="$(pg_bindir)" || die "PostgreSQL server binaries not found (run scripts/toolchain.sh)"

as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

cmd="${1:-}"
DATA="${2:-}"
[ -z "$DATA" ] || DATA="$(realpath -m "$DATA")"
[ -n "$DATA" ] || die "usage: pg.sh start|stop|status DATA_DIR [PORT]"

case "$cmd" in
start)
    PORT="${3:?usage: pg.sh start DATA_DIR PORT}"
    if [ ! -f "$DATA/PG_VERSION" ]; then
        mkdir -p "$DATA"
        [ "$(id -u)" = 0 ] && chown postgres: "$DATA"
        chmod 700 "$DATA"
        as_owner test -w "$DATA" || die "the postgres user cannot write $DATA (is a parent folder closed to it?)"
        pwfile="$(mktemp)"
        echo postgres > "$pwfile"
        chmod 644 "$pwfile"
        as_owner "$BIN/initdb" -D "$DATA" -U postgres --pwfile="$pwfile" \
            --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$DATA.initdb.log" 2>&1 \
            || { rm -f "$pwfile"; cat "$DATA.initdb.log" >&2; die "initdb failed"; }
        rm -f "$pwfile"
    fi
    if as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
        exit 0
    fi
    # The socket lives in the data directory, so clusters never collide in /var/run.
    # Locally every Durable Object (each user's, each room's, the feed's) opens its own
    # connection and keeps it 30 s; a hundred users acting at once need a hundred. In
    # production Hyperdrive pools them.
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 start \
        -o "-p $PORT -c listen_addresses=127.0.0.1 -k $DATA -c max_connections=500 ${PG_EXTRA_OPTS:-}" >/dev/null \
        || { tail -n 20 "$DATA/server.log" >&2; die "PostgreSQL did not start"; }
    ;;
stop)
    if [ -f "$DATA/postmaster.pid" ]; then
        as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null || true
    fi
    ;;
status)
    as_owner "$BIN/pg_ctl" -D "$DATA" status
    ;;
*)
    die "usage: pg.sh start|stop|status DATA_DIR [PORT]"
    ;;
esac
