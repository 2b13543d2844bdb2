#!/usr/bin/env bash
# make bench-check: the workload's conformance checks (../shared/bench/
# check.sh) against the reference app, run the way the benchmark runs it:
# a throwaway Postgres loaded with the workload's data, a Redis, nginx
# with bench/nginx.conf.in trusting the workload's key; then against the
# peers make bench measures beside it, started as make bench starts them.
# Stops them all.
#
# env: BENCH_DIR (default ../shared/bench), MODULE, NGINX_BIN, KEEP=1 (keep
#      the temporary directory), PEERS ("openresty bun"; empty: the
#      reference app only, as make test runs it)
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
BENCH_TMP=$tmp
. "$TOOLS/bench-lib.sh"

bun_pid=

cleanup() {
    if [ -n "$bun_pid" ]; then
        kill "$bun_pid" 2>/dev/null || true
        wait "$bun_pid" 2>/dev/null || true
    fi
    bench_stop_all
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

bench_start_pg "$pg_port"
bench_start_redis "$redis_port"

# the workload's key pair and tokens (made once, kept in $BENCH/workload)
"$BENCH/workload/tokens.sh" >/dev/null

bench_start_ngx "$port"

rc=0
"$BENCH/check.sh" "http://127.0.0.1:$port" || rc=$?

if grep -E '\[(alert|crit|emerg)\]|AddressSanitizer' "$tmp/nginx/logs/error.log"; then
    echo "bench-check: nginx reported problems (above)" >&2
    rc=1
fi
bench_stop_ngx

# the peers, one at a time on the same data (check.sh's W4 checks change
# one session's notes the same way for every server)
for peer in ${PEERS-openresty bun}; do
    peer_port=$("$TOOLS/free-port.sh")
    echo
    echo "bench-check: the $peer peer"
    case $peer in
    openresty)
        bench_openresty_ok || die "no lua-nginx-module for $BENCH_OR_NGINX: make deps"
        bench_start_openresty "$peer_port" 4 "$tmp/openresty.log"
        "$BENCH/check.sh" "http://127.0.0.1:$peer_port" || rc=$?
        bench_stop_openresty
        if grep -E '\[(error|alert|crit|emerg)\]' "$tmp/openresty/error.log"; then
            echo "bench-check: the OpenResty peer reported problems (above)" >&2
            rc=1
        fi ;;
    bun)
        ( cd "$BENCH/peer-bun" && [ -d node_modules ] \
            || npm ci --no-audit --no-fund >/dev/null 2>&1 )
        DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/bench" \
        PORT=$peer_port WORKERS=2 PG_POOL=4 DRIZZLE_PREPARE=1 \
            "$BENCH/peer-bun/start.sh" >"$tmp/bun.log" 2>&1 &
        bun_pid=$!
        bench_wait_up "http://127.0.0.1:$peer_port"
        "$BENCH/check.sh" "http://127.0.0.1:$peer_port" || rc=$?
        kill "$bun_pid" 2>/dev/null || true
        wait "$bun_pid" 2>/dev/null || true
        bun_pid= ;;
    *) die "PEERS: unknown peer $peer (openresty, bun)" ;;
    esac
done

exit "$rc"
