#!/usr/bin/env bash
# make bench-check: the workload's conformance checks (../shared/bench/
# check.sh) against the reference app, run the way the benchmark runs it:
# a throwaway Postgres loaded with the workload's data, a Redis, nginx
# with bench/nginx.conf.in trusting the workload's key.  Stops them all.
#
# env: BENCH_DIR (default ../shared/bench), MODULE, NGINX_BIN, KEEP=1 (keep
#      the temporary directory)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=$ROOT/tools
BENCH=$(cd "${BENCH_DIR:-$ROOT/../shared/bench}" && pwd)
MODULE=${MODULE:-$ROOT/.build/nginx/ngx_http_backend_module.so}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}

die() { echo "bench-check: $*" >&2; exit 1; }

[ -x "$BENCH/check.sh" ] || die "no $BENCH/check.sh"
[ -f "$MODULE" ] || die "no $MODULE: make build first"

tmp=$(mktemp -d /tmp/bench-check.XXXXXX)
chmod 755 "$tmp"
pg_started=0
redis_started=0

cleanup() {
    [ -f "$tmp/nginx/logs/nginx.pid" ] \
        && "$NGINX_BIN" -p "$tmp/nginx" -c "$tmp/nginx.conf" -s stop 2>/dev/null || true
    [ "$redis_started" = 0 ] || "$TOOLS/redis.sh" stop "$tmp/redis" >/dev/null || true
    [ "$pg_started" = 0 ] || "$BENCH/run-pg.sh" stop "$tmp/pg" >/dev/null || true
    if [ -n "${KEEP:-}" ]; then
        echo "bench-check: kept $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT

pg_port=$("$TOOLS/free-port.sh")
redis_port=$("$TOOLS/free-port.sh")
port=$("$TOOLS/free-port.sh")

"$BENCH/run-pg.sh" start "$tmp/pg" "$pg_port" >/dev/null
pg_started=1

# the workload's schema is our 0001; the later migrations go on top
for m in "$ROOT"/migrations/[0-9]*.up.sql; do
    case "$(basename "$m")" in 0001_*) continue ;; esac
    PGOPTIONS='-c client_min_messages=warning' \
        psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U postgres \
             -d bench -1 -f "$m" >/dev/null
done
"$TOOLS/redis.sh" start "$tmp/redis" "$redis_port" >/dev/null
redis_started=1

# the workload's key pair and tokens (made once, kept in $BENCH/workload)
"$BENCH/workload/tokens.sh" >/dev/null

mkdir -p "$tmp/nginx/logs"
MODULE=$MODULE BENCH_DIR=$BENCH \
    "$TOOLS/bench-conf.sh" "$tmp/nginx" "$port" "$pg_port" "$redis_port" \
    >"$tmp/nginx.conf"

"$NGINX_BIN" -p "$tmp/nginx" -c "$tmp/nginx.conf" -e "$tmp/nginx/logs/error.log"

for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/trpc/health" && break
    sleep 0.05
done

rc=0
"$BENCH/check.sh" "http://127.0.0.1:$port" || rc=$?

if grep -E '\[(alert|crit|emerg)\]|AddressSanitizer' "$tmp/nginx/logs/error.log"; then
    echo "bench-check: nginx reported problems (above)" >&2
    rc=1
fi

exit "$rc"
