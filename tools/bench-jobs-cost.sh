#!/usr/bin/env bash
# make bench-jobs-cost: what a draining queue costs the request path
# (issue 14): nginx worker CPU per request on W1-W5 with a queue declared
# and idle, against the same queue draining RATE items a second (enqueued
# by a psql session of its own while each workload runs; the workers claim
# and run them, a trivial handler), in one run, rounds alternating.  The
# CPU is the workers' utime+stime from /proc, so it includes what the
# workers spend on the items: that is the cost asked about.
#
# env: SECS (8) REPS (3) CONNS (64) RATE (1000) WORKERS (2) POOL (2)
#      PIPELINE (16) WORKLOADS ("w1 w2 w3 w4 w5") OUT
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=$ROOT/tools
BENCH=$(cd "${BENCH_DIR:-$ROOT/../shared/bench}" && pwd)
MODULE=${MODULE:-$ROOT/.build/nginx/ngx_http_backend_module.so}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
SECS=${SECS:-8} REPS=${REPS:-3} CONNS=${CONNS:-64} RATE=${RATE:-1000}
WORKLOADS=${WORKLOADS:-"w1 w2 w3 w4 w5"}
export WORKERS=${WORKERS:-2} POOL=${POOL:-2} PIPELINE=${PIPELINE:-16}

die() { echo "bench-jobs-cost: $*" >&2; exit 1; }
[ -f "$MODULE" ] || die "no $MODULE: make build first"

OUT=${OUT:-$(mktemp -d /tmp/bench-jobs-cost.XXXXXX)}
mkdir -p "$OUT"
chmod 755 "$OUT"
BENCH_TMP=$OUT/run
mkdir -p "$BENCH_TMP/nginx/logs"
chmod 755 "$BENCH_TMP"

. "$TOOLS/bench-lib.sh"
feeder=
stop_all() {
    [ -z "$feeder" ] || kill "$feeder" 2>/dev/null || true
    bench_stop_all
}
trap stop_all EXIT

hz=$(getconf CLK_TCK)
workers_cpu() {
    local p t=0
    for p in $(pgrep -P "$1"); do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    echo "$t"
}

"$BENCH/workload/tokens.sh" >/dev/null
bench_start_pg "$("$TOOLS/free-port.sh")"
bench_start_redis "$("$TOOLS/free-port.sh")"
port=$("$TOOLS/free-port.sh")

# the bench's nginx, observability off, one queue declared
OBS=off MODULE=$MODULE BENCH_DIR=$BENCH "$TOOLS/bench-conf.sh" \
    "$BENCH_TMP/nginx" "$port" "$bench_pg_port" "$bench_redis_port" \
    >"$BENCH_TMP/nginx.conf"
cat >>"$BENCH_TMP/nginx/observability.conf" <<'CONF'
backend_jobs_poll    200ms;
backend_jobs_limit   3;
backend_jobs_listen  main;
backend_queue bench {
    sql          "select $1::bigint";
    params       item.id;
    concurrency  1;
    batch        32;
}
CONF
"$NGINX_BIN" -p "$BENCH_TMP/nginx" -c "$BENCH_TMP/nginx.conf" \
    -e "$BENCH_TMP/nginx/logs/error.log"
bench_ngx_running=1
bench_wait_up "http://127.0.0.1:$port"
master=$(bench_ngx_pid)

# RATE items a second, a tenth every 100 ms, from one session
feed() {
    local n=$((RATE / 10))
    # psql itself in the background, so that $! is the process to stop
    PGOPTIONS='-c client_min_messages=warning' \
        psql -X -q -h 127.0.0.1 -p "$bench_pg_port" -U postgres -d bench \
            -f <(echo "select count(app.enqueue('bench', '{}'::jsonb, null)) from generate_series(1, $n) \\watch 0.1") \
            >/dev/null 2>&1 &
    feeder=$!
}
done_items() { bench_psql -At -c "select count(*) from app.queue_items where queue = 'bench' and status = 'done'"; }

res=$OUT/cpu.tsv
: >"$res"
for ((round = 1; round <= REPS; round++)); do
    if [ $((round % 2)) = 1 ]; then modes="idle drain"; else modes="drain idle"; fi
    for mode in $modes; do
        for wl in $WORKLOADS; do
            "$BENCH/load.sh" -c "$CONNS" -d 2 "http://127.0.0.1:$port" "$wl" >/dev/null
            [ "$mode" = drain ] && feed
            d0=$(done_items)
            c0=$(workers_cpu "$master")
            line=$("$BENCH/load.sh" -c "$CONNS" -d "$SECS" "http://127.0.0.1:$port" "$wl")
            c1=$(workers_cpu "$master")
            if [ "$mode" = drain ]; then kill "$feeder" 2>/dev/null || true; wait "$feeder" 2>/dev/null || true; feeder=; fi
            d1=$(done_items)
            reqs=$(awk '{print $NF}' <<<"$line")
            printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$mode" "$wl" \
                "$(echo "scale=2; ($c1 - $c0) * 1000000 / $hz / $reqs" | bc)" \
                "$((d1 - d0))" | tee -a "$res"
            # the backlog drained before the next run
            for i in $(seq 1 100); do
                [ "$(bench_psql -At -c "select count(*) from app.queue_items where queue = 'bench' and status <> 'done'")" = 0 ] && break
                sleep 0.2
            done
        done
    done
done

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "worker CPU per request (us), median of $REPS rounds, $CONNS connections, ${SECS}s; drain: $RATE items/s enqueued"
printf '| workload | idle | draining | ratio | items done in the run |\n|---|---:|---:|---:|---:|\n'
for wl in $WORKLOADS; do
    a=$(awk -v w="$wl" '$2 == "idle" && $3 == w {print $4}' "$res" | median)
    b=$(awk -v w="$wl" '$2 == "drain" && $3 == w {print $4}' "$res" | median)
    n=$(awk -v w="$wl" '$2 == "drain" && $3 == w {print $5}' "$res" | median)
    printf '| %s | %s | %s | %.3f | %s |\n' "$wl" "$a" "$b" "$(echo "scale=4; $b / $a" | bc)" "$n"
done
