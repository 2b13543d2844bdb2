#!/usr/bin/env bash
# What pooler=transaction costs W3 and W4 (docs/performance.md): the
# workload of make bench against ngx_backend only, in four setups,
# interleaved over ROUNDS rounds so that the machine's drift hits each
# alike; each run is ../shared/bench/load.sh at CONNS connections for SECS.
#
#   direct-piped   backend_pg max=2 pipeline=16 (make bench's setup)
#   direct         backend_pg max=4, straight to Postgres
#   pooler-direct  backend_pg max=4 pooler=transaction, straight to
#                  Postgres: the preamble and the unnamed statements alone
#   pgbouncer      backend_pg max=4 pooler=transaction through PgBouncer
#                  (tools/pgbouncer.sh, pool_mode transaction,
#                  default_pool_size = WORKERS x 4, as many server
#                  connections as the direct setups open)
#
# Prints every run, then the median rps and p99 of each setup and workload.
# env: SECS (10) ROUNDS (3) CONNS (64) WARMUP (3) WORKERS (2) SETUPS (all four)
#      BENCH_DIR (../shared/bench) MODULE NGINX_BIN OUT
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=$ROOT/tools
BENCH=$(cd "${BENCH_DIR:-$ROOT/../shared/bench}" && pwd)
MODULE=${MODULE:-$ROOT/.build/nginx/ngx_http_backend_module.so}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
SECS=${SECS:-10} ROUNDS=${ROUNDS:-3} CONNS=${CONNS:-64} WARMUP=${WARMUP:-3}
WORKERS=${WORKERS:-2}

die() { echo "bench-pooler: $*" >&2; exit 1; }

[ -f "$MODULE" ] || die "no $MODULE: make build first"
command -v wrk >/dev/null || die "no wrk (make deps installs it)"

OUT=${OUT:-$(mktemp -d /tmp/bench-pooler.XXXXXX)}
mkdir -p "$OUT"
chmod 755 "$OUT"
BENCH_TMP=$OUT/run
mkdir -p "$BENCH_TMP"
chmod 755 "$BENCH_TMP"

pg_port=$("$TOOLS/free-port.sh")
redis_port=$("$TOOLS/free-port.sh")
ngx_port=$("$TOOLS/free-port.sh")
bouncer_port=$("$TOOLS/free-port.sh")

. "$TOOLS/bench-lib.sh"

cleanup() {
    bench_stop_all
    "$TOOLS/pgbouncer.sh" stop "$BENCH_TMP/pgbouncer" >/dev/null 2>&1 || true
}
trap cleanup EXIT

bench_start_pg "$pg_port"
bench_start_redis "$redis_port"
POOL_SIZE=$((WORKERS * 4)) "$TOOLS/pgbouncer.sh" start "$BENCH_TMP/pgbouncer" \
    "$bouncer_port" "$pg_port" >/dev/null
"$BENCH/workload/tokens.sh" >/dev/null
bench_psql -c 'VACUUM ANALYZE' >/dev/null

# start SETUP: nginx.conf of make bench, its backend_pg line changed
start() {
    local pg
    case $1 in
    direct-piped)  pg="port=$pg_port dbname=bench user=postgres\" max=2 pipeline=16" ;;
    direct)        pg="port=$pg_port dbname=bench user=postgres\" max=4" ;;
    pooler-direct) pg="port=$pg_port dbname=bench user=postgres\" max=4 pooler=transaction" ;;
    pgbouncer)     pg="port=$bouncer_port dbname=bench user=postgres\" max=4 pooler=transaction" ;;
    esac
    bench_ngx_port=$ngx_port
    bench_pg_port=$pg_port
    mkdir -p "$BENCH_TMP/nginx/logs"
    MODULE=$MODULE BENCH_DIR=$BENCH OBS=off WORKERS=$WORKERS \
        "$TOOLS/bench-conf.sh" "$BENCH_TMP/nginx" "$ngx_port" "$pg_port" \
        "$redis_port" \
    | sed -e "s|port=$pg_port dbname=bench user=postgres\"|$pg|" \
          -e '/^ *max=.*queue=4096/s|max=[0-9]* pipeline=[0-9]* ||' \
        >"$BENCH_TMP/nginx.conf"
    grep -A1 'backend_pg main' "$BENCH_TMP/nginx.conf" >"$OUT/conf-$1.txt"
    "$NGINX_BIN" -p "$BENCH_TMP/nginx" -c "$BENCH_TMP/nginx.conf" \
                 -e "$BENCH_TMP/nginx/logs/error.log"
    bench_ngx_running=1
    bench_wait_up "http://127.0.0.1:$ngx_port"
}

setups=${SETUPS:-"direct-piped direct pooler-direct pgbouncer"}

for round in $(seq 1 "$ROUNDS"); do
    for s in $setups; do
        start "$s"
        for w in w3 w4; do
            [ "$WARMUP" -gt 0 ] && "$BENCH/load.sh" -c "$CONNS" -d "$WARMUP" \
                "http://127.0.0.1:$ngx_port" "$w" >/dev/null
            line=$("$BENCH/load.sh" -c "$CONNS" -d "$SECS" \
                       "http://127.0.0.1:$ngx_port" "$w")
            echo "round $round $s $line" | tee -a "$OUT/runs.txt"
        done
        bench_stop_ngx
        sleep 1
    done
done

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo
echo "medians of $ROUNDS rounds, $CONNS connections, ${SECS}s each, $WORKERS workers"
echo "| setup | W3 rps | W3 p99 ms | W4 rps | W4 p99 ms | non-2xx |"
echo "|---|---:|---:|---:|---:|---:|"
for s in $setups; do
    row="| $s"
    for w in w3 w4; do
        sel=$(awk -v s="$s" -v w="$w" '$3 == s && index($4, w) == 1' "$OUT/runs.txt")
        row+=" | $(awk '{print $5}' <<<"$sel" | median)"
        row+=" | $(awk '{print $11}' <<<"$sel" | median)"
    done
    bad=$(awk -v s="$s" '$3 == s {n += $14} END {print n + 0}' "$OUT/runs.txt")
    echo "$row | $bad |"
done | tee "$OUT/summary.md"
