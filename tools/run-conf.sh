#!/usr/bin/env bash
# The nginx.conf of make run, from conf/nginx.dev.conf.in, on standard
# output (tools/run.sh and tools/reload.sh).
#
# env: RUN (.run), MODULE, PORT, METRICS_PORT, PG_PORT, REDIS_PORT
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
: "${RUN:?}" "${MODULE:?}" "${PORT:?}" "${METRICS_PORT:?}" "${PG_PORT:?}" \
  "${REDIS_PORT:?}"

sed_escape() { printf '%s' "$1" | sed -e 's/[|&\\]/\\&/g'; }

sed -e "s|@PREFIX@|$(sed_escape "$RUN/nginx")|g" \
    -e "s|@MODULE@|$(sed_escape "$MODULE")|g" \
    -e "s|@PORT@|$(sed_escape "$PORT")|g" \
    -e "s|@METRICS_PORT@|$(sed_escape "$METRICS_PORT")|g" \
    -e "s|@PG_PORT@|$(sed_escape "$PG_PORT")|g" \
    -e "s|@REDIS_PORT@|$(sed_escape "$REDIS_PORT")|g" \
    -e "s|@CONF_DIR@|$(sed_escape "$ROOT/conf")|g" \
    -e "s|@KEYS@|$(sed_escape "$RUN/keys")|g" \
    "$ROOT/conf/nginx.dev.conf.in"
