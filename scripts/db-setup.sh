#!/usr/bin/env bash
# Brings a database up to date: the Supabase baseline where it is missing, then every
# migration in migrations/ (sqlx-cli), then the demo data unless --no-seed.
#
#   db-setup.sh DATABASE_URL [--no-seed]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

URL="${1:?usage: db-setup.sh DATABASE_URL [--no-seed]}"
SEED=1
[ "${2:-}" = "--no-seed" ] && SEED=0

PGOPTIONS="-c client_min_messages=warning" psql "$URL" -q -v ON_ERROR_STOP=1 -f "$ROOT/supabase/baseline.sql" >/dev/null
(cd "$ROOT" && sqlx migrate run --source migrations --database-url "$URL" --no-dotenv) >&2
if [ "$SEED" = 1 ]; then
    psql "$URL" -q -v ON_ERROR_STOP=1 -f "$ROOT/supabase/seed.sql" >/dev/null
fi
