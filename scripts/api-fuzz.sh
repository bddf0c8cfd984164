#!/usr/bin/env bash
# Fuzzes the edge functions against their own OpenAPI document
# (`/functions/v1/openapi.json`) with schemathesis (pinned, from PyPI, installed once
# into ~/.cache): every operation, with valid and invalid inputs, as a signed-in user
# who exists. It fails on any 5xx, and on any answer (status, content type, body) the
# document does not describe.
#
# Needs the running stack: E2E_BASE_URL, E2E_JWT_SECRET, E2E_DATABASE_URL (scripts/test.sh
# exports them). Usage: scripts/api-fuzz.sh [extra schemathesis options]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SCHEMATHESIS_VERSION=4.32.5
venv="$HOME/.cache/grower-edge/schemathesis-$SCHEMATHESIS_VERSION"
if [ ! -x "$venv/bin/st" ]; then
    log "installing schemathesis $SCHEMATHESIS_VERSION into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

: "${E2E_BASE_URL:?run under scripts/test.sh, or export E2E_BASE_URL}"
: "${E2E_JWT_SECRET:?}" "${E2E_DATABASE_URL:?}"
# The fuzzer's own user, so its writes (threads, follows, presence) touch nobody else's.
user=00000000-0000-4000-8000-00000000f022
psql -q -X "$E2E_DATABASE_URL" -v ON_ERROR_STOP=1 >/dev/null <<SQL
insert into auth.users (id) values ('$user') on conflict do nothing;
insert into public.profiles (id, username) values ('$user', 'schemathesis') on conflict do nothing;
SQL
token="$(cd "$ROOT" && JWT_SECRET="$E2E_JWT_SECRET" cargo run --quiet -p devtool -- jwt --sub "$user" --ttl 3600)"

log "schemathesis $SCHEMATHESIS_VERSION against $E2E_BASE_URL/functions/v1/openapi.json"
"$venv/bin/st" --config-file "$ROOT/tests/api-fuzz/schemathesis.toml" run "$E2E_BASE_URL/functions/v1/openapi.json" \
    --url "$E2E_BASE_URL" \
    --header "Authorization: Bearer $token" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,negative_data_rejection \
    --max-examples "${API_FUZZ_EXAMPLES:-50}" \
    --seed "${API_FUZZ_SEED:-20261127}" \
    --workers 2 \
    --no-color \
    "$@"
