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
BENCH_TMP=$tmp
. "$TOOLS/bench-lib.sh"

cleanup() {
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

exit "$rc"
