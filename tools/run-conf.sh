#!/usr/bin/env bash
# The nginx.conf of make run, from conf/nginx.dev.conf.in, on standard
# output (tools/run.sh and tools/reload.sh).
#
# env: RUN (.run), MODULE, PORT, METRICS_PORT, PG_PORT, REDIS_PORT,
#      LEGACY_URL (optional: http://host:port of a legacy tRPC server whose
#      /trpc/ gets the procedures not declared here; LEGACY_SHADOW, the
#      declared queries also sent there and compared, default
#      "health user.me mentorado.sessions.list", LEGACY_SHADOW_RATE 1),
#      written to $RUN/nginx/legacy-rpc.conf and legacy-location.conf
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
: "${RUN:?}" "${MODULE:?}" "${PORT:?}" "${METRICS_PORT:?}" "${PG_PORT:?}" \
  "${REDIS_PORT:?}"

# the legacy server's part, empty without LEGACY_URL
legacy=${LEGACY_URL:-}
mkdir -p "$RUN/nginx"
if [ -n "$legacy" ]; then
    [[ $legacy =~ ^https?://[A-Za-z0-9.:_-]+/?$ ]] \
        || { echo "run: LEGACY_URL must be http(s)://host:port, not \"$legacy\"" >&2; exit 2; }
    legacy=${legacy%/}
    {
        echo "backend_rpc_legacy  /_legacy/;"
        for p in ${LEGACY_SHADOW-health user.me mentorado.sessions.list}; do
            echo "backend_rpc_shadow  $p rate=${LEGACY_SHADOW_RATE:-1};"
        done
    } >"$RUN/nginx/legacy-rpc.conf"
    cat >"$RUN/nginx/legacy-location.conf" <<CONF
location /_legacy/ {
    internal;
    proxy_pass                     $legacy/trpc/;
    proxy_http_version             1.1;
    proxy_set_header               Connection "";
    proxy_read_timeout             10s;
    subrequest_output_buffer_size  256k;
}
CONF
else
    echo "# no LEGACY_URL" >"$RUN/nginx/legacy-rpc.conf"
    echo "# no LEGACY_URL" >"$RUN/nginx/legacy-location.conf"
fi

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
