#!/usr/bin/env bash
# make bench: ngx_backend against the Bun peer (../shared/bench/peer-bun),
# side by side in one run, on one fresh PostgreSQL loaded with the
# workload's data, with this machine's ceilings measured in the same run.
#
#   1. check.sh against both servers (each must pass all its checks)
#   2. per server, alone on the machine: VACUUM ANALYZE, suite.sh (warm-up,
#      REPS runs of SECS per workload, medians), peak RSS sampled meanwhile
#   3. ceilings, in REPS runs alternating with ngx_backend's W1, W3 and W4
#      after its suite: nginx `return 200`, and pgbench -M prepared running
#      W3's and W4's statements (bench/pgbench/*.sql) at the best of 2 4 8
#      16 clients (found before the suites)
#   4. connection sweep of W2 and W3 for both servers (SWEEP)
#   5. one table: bench/results/<date>.md (and OUT/summary.md)
#
# env: SECS (10) REPS (3) CONNS (64) WARMUP (3) SWEEP ("16 64 256 1024")
#      SWEEP_SECS (5) WORKERS (2: nginx workers and Bun processes)
#      POOL (4: Postgres connections per nginx worker and per Bun process,
#      the best for the peer on 2 cores)  PEER_POOL (POOL)
#      NGX_POOL (2) and PIPELINE (16): backend_pg max= and pipeline=, the
#      best for ngx_backend (docs/performance.md)
#      QUICK=1 (smoke: 1 s per workload, 1 run, no warm-up, sweep 16 and
#      1024 for 1 s; no result file)  OUT (output directory)
#      BENCH_DIR (../shared/bench)  MODULE  NGINX_BIN
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=$ROOT/tools
BENCH=$(cd "${BENCH_DIR:-$ROOT/../shared/bench}" && pwd)
MODULE=${MODULE:-$ROOT/.build/nginx/ngx_http_backend_module.so}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}

if [ -n "${QUICK:-}" ]; then
    SECS=1 REPS=1 WARMUP=0 SWEEP=${SWEEP:-"16 1024"} SWEEP_SECS=1
fi
SECS=${SECS:-10} REPS=${REPS:-3} CONNS=${CONNS:-64} WARMUP=${WARMUP:-3}
SWEEP=${SWEEP-"16 64 256 1024"} SWEEP_SECS=${SWEEP_SECS:-5}
WORKERS=${WORKERS:-2}
POOL=${POOL:-4} NGX_POOL=${NGX_POOL:-2} PEER_POOL=${PEER_POOL:-$POOL}
PIPELINE=${PIPELINE:-16}

die() { echo "bench: $*" >&2; exit 1; }

[ -f "$MODULE" ] || die "no $MODULE: make build first"
command -v wrk >/dev/null || die "no wrk (make deps installs it)"
command -v pgbench >/dev/null || die "no pgbench"

OUT=${OUT:-$(mktemp -d /tmp/bench-run.XXXXXX)}
mkdir -p "$OUT"
chmod 755 "$OUT"
tmp=$OUT/run
mkdir -p "$tmp"
chmod 755 "$tmp"

pg_port=$("$TOOLS/free-port.sh")
redis_port=$("$TOOLS/free-port.sh")
ngx_port=$("$TOOLS/free-port.sh")
peer_port=$("$TOOLS/free-port.sh")
ceil_port=$("$TOOLS/free-port.sh")

ceil_running=0 peer_pid=

BENCH_TMP=$tmp
. "$TOOLS/bench-lib.sh"

cleanup() {
    [ "$ceil_running" = 0 ] \
        || "$NGINX_BIN" -p "$tmp/ceiling" -c "$tmp/ceiling.conf" -s stop \
               2>/dev/null || true
    if [ -n "$peer_pid" ]; then
        kill "$peer_pid" 2>/dev/null || true
        wait "$peer_pid" 2>/dev/null || true
    fi
    bench_stop_all
}
trap cleanup EXIT

psql_bench() { bench_psql "$@"; }
tree_rss() { bench_tree_rss "$@"; }

# peak of tree_rss while the command runs: peak_rss FILE PID command...
peak_rss() {
    local file=$1 pid=$2
    shift 2
    ( peak=0
      while :; do
          r=$(tree_rss "$pid")
          [ "$r" -gt "$peak" ] && peak=$r && echo "$peak" >"$file"
          sleep 0.2
      done ) &
    local sampler=$!
    "$@"
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
}

echo "bench: output in $OUT"

# one PostgreSQL for both, the workload's data and our later migrations
bench_start_pg "$pg_port"
bench_start_redis "$redis_port"
"$BENCH/workload/tokens.sh" >/dev/null

start_ngx() {
    WORKERS=$WORKERS POOL=$NGX_POOL PIPELINE=$PIPELINE \
        bench_start_ngx "$ngx_port"
}

stop_ngx() {
    bench_stop_ngx
    sleep 1
}

start_peer() {
    ( cd "$BENCH/peer-bun" && [ -d node_modules ] \
        || npm ci --no-audit --no-fund >/dev/null 2>&1 )
    DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/bench" \
    PORT=$peer_port WORKERS=$WORKERS PG_POOL=$PEER_POOL DRIZZLE_PREPARE=1 \
        "$BENCH/peer-bun/start.sh" >"$OUT/peer.log" 2>&1 &
    peer_pid=$!
    wait_up "http://127.0.0.1:$peer_port"
}

stop_peer() {
    kill "$peer_pid" 2>/dev/null || true
    wait "$peer_pid" 2>/dev/null || true
    peer_pid=
    sleep 1
}

wait_up() { bench_wait_up "$@"; }
ngx_pid() { bench_ngx_pid; }

# 1. conformance, both
start_ngx
"$BENCH/check.sh" "http://127.0.0.1:$ngx_port" >"$OUT/check-ngx.txt" \
    || { tail -3 "$OUT/check-ngx.txt"; die "ngx_backend fails check.sh"; }
stop_ngx
start_peer
"$BENCH/check.sh" "http://127.0.0.1:$peer_port" >"$OUT/check-peer.txt" \
    || { tail -3 "$OUT/check-peer.txt"; die "the peer fails check.sh"; }
stop_peer
echo "check.sh: ngx_backend $(tail -1 "$OUT/check-ngx.txt"); peer $(tail -1 "$OUT/check-peer.txt")"

# 2. the suites, one server at a time
suite() {
    "$BENCH/suite.sh" -c "$CONNS" -d "$SECS" -r "$REPS" -w "$WARMUP" "$@"
}

# sweep URL: one line per connection count and workload, "C <load.sh line>"
sweep() {
    local c w
    for c in $SWEEP; do
        for w in w2 w3; do
            echo "$c $("$BENCH/load.sh" -c "$c" -d "$SWEEP_SECS" "$1" "$w")"
        done
    done
}

# nginx `return 200`, the ceiling of W1, W2 and W5, with as many workers
start_ceiling() {
    mkdir -p "$tmp/ceiling/logs"
    cat >"$tmp/ceiling.conf" <<CONF
worker_processes $WORKERS;
pid $tmp/ceiling/nginx.pid;
error_log $tmp/ceiling/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $tmp/ceiling/body;
    proxy_temp_path $tmp/ceiling/proxy;
    fastcgi_temp_path $tmp/ceiling/fastcgi;
    uwsgi_temp_path $tmp/ceiling/uwsgi;
    scgi_temp_path $tmp/ceiling/scgi;
    keepalive_requests 100000;
    server {
        listen 127.0.0.1:$ceil_port reuseport backlog=4096;
        location / { return 200 "ok\\n"; }
    }
}
CONF
    "$NGINX_BIN" -p "$tmp/ceiling" -c "$tmp/ceiling.conf"
    ceil_running=1
}

stop_ceiling() {
    "$NGINX_BIN" -p "$tmp/ceiling" -c "$tmp/ceiling.conf" -s quit
    ceil_running=0
    sleep 1
}

# pgbench running W3's and W4's statements: the best client count, kept for
# the runs alternating with ngx_backend's below
pgbench_tps() {
    local tps
    tps=$(pgbench -n -M prepared -f "$1" -c "$2" -j 2 -T "$SECS" \
              -h 127.0.0.1 -p "$pg_port" -U postgres bench 2>/dev/null \
          | sed -n 's/^tps = \([0-9.]*\) .*/\1/p')
    echo "${tps%.*}"
}

pgbench_best() {
    local script=$1 best=0 bestc=0 c tps
    for c in 2 4 8 16; do
        tps=$(pgbench_tps "$script" "$c")
        if [ "${tps:-0}" -gt "$best" ]; then best=$tps bestc=$c; fi
    done
    echo "$best $bestc"
}

psql_bench -c 'VACUUM ANALYZE'
read -r _ pg_w3_c < <(pgbench_best "$ROOT/bench/pgbench/w3.sql")
read -r _ pg_w4_c < <(pgbench_best "$ROOT/bench/pgbench/w4.sql")

psql_bench -c 'VACUUM ANALYZE'
start_ngx
peak_rss "$OUT/rss-ngx" "$(ngx_pid)" \
    suite "http://127.0.0.1:$ngx_port" >"$OUT/suite-ngx.txt"
mapfile -t sweep_ngx < <(sweep "http://127.0.0.1:$ngx_port")

# W1, W3 and W4 against their ceilings in alternating runs: the speed of a
# shared VM drifts by 20% within minutes, so a ceiling measured apart from
# the runs it bounds is off by as much as the difference sought
start_ceiling
for i in $(seq 1 "$REPS"); do
    "$BENCH/load.sh" -c "$CONNS" -d "$SECS" "http://127.0.0.1:$ceil_port" plain
    "$BENCH/load.sh" -c "$CONNS" -d "$SECS" "http://127.0.0.1:$ngx_port" w1
    echo "pgbench-w3 $(pgbench_tps "$ROOT/bench/pgbench/w3.sql" "$pg_w3_c")"
    "$BENCH/load.sh" -c "$CONNS" -d "$SECS" "http://127.0.0.1:$ngx_port" w3
    echo "pgbench-w4 $(pgbench_tps "$ROOT/bench/pgbench/w4.sql" "$pg_w4_c")"
    "$BENCH/load.sh" -c "$CONNS" -d "$SECS" "http://127.0.0.1:$ngx_port" w4
done >"$OUT/ceiling.txt"
stop_ceiling
grep -E '\[(alert|crit|emerg)\]' "$tmp/nginx/logs/error.log" \
    && die "nginx reported problems"
stop_ngx

psql_bench -c 'VACUUM ANALYZE'
start_peer
peak_rss "$OUT/rss-peer" "$peer_pid" \
    suite "http://127.0.0.1:$peer_port" >"$OUT/suite-peer.txt"
mapfile -t sweep_peer < <(sweep "http://127.0.0.1:$peer_port")
stop_peer

# 3. the ceilings ran alternating with ngx_backend's W1, W3 and W4, above
# medians of the alternating runs ("plain RPS rps p50 X ms p99 Y ms ...")
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
ngx_ceiling=$(awk '$1 == "plain" {print $2}' "$OUT/ceiling.txt" | median)
ngx_ceiling_p99=$(awk '$1 == "plain" {print $8}' "$OUT/ceiling.txt" | median)
w1_alt=$(awk '$1 == "w1-health" {print $2}' "$OUT/ceiling.txt" | median)
w1_alt_p99=$(awk '$1 == "w1-health" {print $8}' "$OUT/ceiling.txt" | median)
pg_w3=$(awk '$1 == "pgbench-w3" {print $2}' "$OUT/ceiling.txt" | median)
pg_w4=$(awk '$1 == "pgbench-w4" {print $2}' "$OUT/ceiling.txt" | median)
w3_alt=$(awk '$1 == "w3-sessions" {print $2}' "$OUT/ceiling.txt" | median)
w4_alt=$(awk '$1 == "w4-notes" {print $2}' "$OUT/ceiling.txt" | median)

# 4. the table
median_row() { grep "^| $2 " "$1" | head -1; }
field() { awk -F'|' -v f="$2" '{gsub(/ /, "", $f); print $f}' <<<"$1"; }

{
    echo "# make bench: ngx_backend vs the Bun peer, one run"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p')),"
    echo "$(free -h | awk '/^Mem:/ {print $2}') RAM, $(uname -sr); wrk, both servers and PostgreSQL share the cores."
    echo
    echo "- ngx_backend: nginx $("$NGINX_BIN" -v 2>&1 | sed 's|.*/||'), $WORKERS workers, backend_pg max=$NGX_POOL pipeline=$PIPELINE per worker"
    echo "  ($((WORKERS * NGX_POOL)) connections), session zone + Redis (bench/nginx.conf.in)"
    echo "- peer: Bun $("$BENCH/peer-bun/node_modules/.bin/bun" --version 2>/dev/null || echo '?'), $WORKERS processes,"
    echo "  postgres-js pool $PEER_POOL per process ($((WORKERS * PEER_POOL)) connections), Drizzle prepared statements (DRIZZLE_PREPARE=1)"
    echo "- per workload: ${WARMUP}s warm-up, median of $REPS runs of ${SECS}s at $CONNS connections"
    echo "  (suite.sh); VACUUM ANALYZE before each server's suite"
    echo
    echo "| workload | ngx rps | p50 ms | p99 ms | errors | peer rps | p50 ms | p99 ms | errors | ratio | p99 ratio | of ceiling |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for w in w1-health w2-me w3-sessions w4-notes w5-batch; do
        a=$(median_row "$OUT/suite-ngx.txt" "$w")
        b=$(median_row "$OUT/suite-peer.txt" "$w")
        # W1, W3, W4: from the alternating runs; W2, W5: this suite's
        # median against the return-200 ceiling, minutes apart
        case $w in
            w1*) of="$(echo "scale=0; 100 * $w1_alt / ${ngx_ceiling:-1}" | bc)% ¹" ;;
            w3*) of="$(echo "scale=0; 100 * $w3_alt / ${pg_w3:-1}" | bc)% ¹" ;;
            w4*) of="$(echo "scale=0; 100 * $w4_alt / ${pg_w4:-1}" | bc)% ¹" ;;
            *) of="$(echo "scale=0; 100 * $(field "$a" 3) / ${ngx_ceiling:-1}" | bc)% ²" ;;
        esac
        ar=$(field "$a" 3) ap50=$(field "$a" 4) ap99=$(field "$a" 5)
        ae=$(( $(field "$a" 6) + $(field "$a" 7) ))
        br=$(field "$b" 3) bp50=$(field "$b" 4) bp99=$(field "$b" 5)
        be=$(( $(field "$b" 6) + $(field "$b" 7) ))
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s× | %s | %s |\n' \
            "$w" "$ar" "$ap50" "$ap99" "$ae" "$br" "$bp50" "$bp99" "$be" \
            "$(echo "scale=2; $ar / $br" | bc)" \
            "$(printf "%.2f" "$(echo "scale=2; $ap99 / $bp99" | bc)")" \
            "$of"
    done
    echo
    echo "¹ of the ceiling in $REPS runs alternating with this workload's (medians):"
    echo "W1 $w1_alt rps (p99 $w1_alt_p99 ms) against nginx \`return 200\` $ngx_ceiling rps (p99 $ngx_ceiling_p99 ms);"
    echo "W3 $w3_alt rps against pgbench -M prepared running its statement $pg_w3 tps ($pg_w3_c clients);"
    echo "W4 $w4_alt rps against pgbench running its statement $pg_w4 tps ($pg_w4_c clients)"
    echo "(bench/pgbench/; the best of 2, 4, 8 and 16 clients).  ² this suite's median against"
    echo "that \`return 200\` median, measured minutes apart: indicative only, the VM's speed drifts."
    echo
    echo "Peak RSS under load (server and all its processes): ngx_backend"
    echo "$(( $(cat "$OUT/rss-ngx" 2>/dev/null || echo 0) / 1024 )) MB, peer $(( $(cat "$OUT/rss-peer" 2>/dev/null || echo 0) / 1024 )) MB."
    echo
    echo "## Connection sweep (W2, W3; ${SWEEP_SECS}s each)"
    echo
    echo "| connections | workload | ngx rps | ngx p99 ms | ngx errors | peer rps | peer p99 ms | peer errors |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|"
    for i in "${!sweep_ngx[@]}"; do
        # "C  wN-name  RPS rps  p50 X ms  p99 Y ms  non2xx N  sockerr N ..."
        read -r c w r _ _ _ _ _ p99 _ _ n2 _ se _ <<<"${sweep_ngx[$i]}"
        read -r _ _ pr _ _ _ _ _ pp99 _ _ pn2 _ pse _ <<<"${sweep_peer[$i]}"
        echo "| $c | $w | $r | $p99 | $((n2 + se)) | $pr | $pp99 | $((pn2 + pse)) |"
    done
} >"$OUT/summary.md"

cat "$OUT/summary.md"

if [ -z "${QUICK:-}" ]; then
    mkdir -p "$ROOT/bench/results"
    cp "$OUT/summary.md" "$ROOT/bench/results/$(date -u +%Y-%m-%d-%H%M).md"
    echo "bench: bench/results/$(date -u +%Y-%m-%d-%H%M).md"
fi
