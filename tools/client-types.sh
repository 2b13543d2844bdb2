#!/usr/bin/env bash
# make client-types: tools/client-types.mjs against a database whose
# schema is migrations/: DATABASE_URL's, else a throwaway Postgres
# (tools/pg.sh) with every migration applied, stopped afterwards.
#
#   tools/client-types.sh [--check] [--out=FILE] [CONF]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

if [ -n "${DATABASE_URL:-}" ]; then
    exec node tools/client-types.mjs "$@"
fi

tmp=$(mktemp -d /tmp/client-types.XXXXXX)
chmod 755 "$tmp"
port=$(tools/free-port.sh)

cleanup() {
    tools/pg.sh stop "$tmp/pg" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

PG_EPHEMERAL=1 tools/pg.sh start "$tmp/pg" "$port" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres \
     -c 'create database app' >/dev/null
export DATABASE_URL=postgres://postgres@127.0.0.1:$port/app
tools/db-push.sh >/dev/null

node tools/client-types.mjs "$@"
