#!/usr/bin/env bash
# make bench-obs: what observability costs (issue 13).  nginx worker CPU
# per request on W1-W5 with the metrics zone and the JSON access log on,
# against off, in one run on one Postgres and Redis: REPS rounds, each
# starting nginx once per mode in alternating order and running every
# workload, so drift of the machine falls on both modes alike.  CPU is the
# workers' utime+stime from /proc (far steadier than throughput on a
# shared 2-core machine) over the requests wrk made.  Then the scrape:
# worker CPU per scrape of the full registry (wrk on /metrics for 5 s,
# one connection, no other load), and the
# time a scrape takes while W1 runs.  Each measured run starts with a new
# access log file (removed, nginx -s reopen), as log rotation leaves it.
#
# env: SECS (10) REPS (3) CONNS (64) WORKERS (2) POOL (2) PIPELINE (16)
#      WORKLOADS ("w1 w2 w3 w4 w5") OUT (output directory)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=$ROOT/tools
BENCH=$(cd "${BENCH_DIR:-$ROOT/../shared/bench}" && pwd)
MODULE=${MODULE:-$ROOT/.build/nginx/ngx_http_backend_module.so}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
SECS=${SECS:-10} REPS=${REPS:-3} CONNS=${CONNS:-64}
WORKLOADS=${WORKLOADS:-"w1 w2 w3 w4 w5"}
export WORKERS=${WORKERS:-2} POOL=${POOL:-2} PIPELINE=${PIPELINE:-16}

die() { echo "bench-obs: $*" >&2; exit 1; }

[ -f "$MODULE" ] || die "no $MODULE: make build first"
command -v wrk >/dev/null || die "no wrk (make deps installs it)"

OUT=${OUT:-$(mktemp -d /tmp/bench-obs.XXXXXX)}
mkdir -p "$OUT"
chmod 755 "$OUT"
BENCH_TMP=$OUT/run
mkdir -p "$BENCH_TMP"
chmod 755 "$BENCH_TMP"

. "$TOOLS/bench-lib.sh"
trap bench_stop_all EXIT

hz=$(getconf CLK_TCK)

# the workers' CPU so far, in clock ticks
workers_cpu() {
    local master=$1 p t=0
    for p in $(pgrep -P "$master"); do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    echo "$t"
}

# the workload's key pair and tokens (made once, kept by ../shared/bench)
"$BENCH/workload/tokens.sh" >/dev/null

bench_start_pg "$("$TOOLS/free-port.sh")"
bench_start_redis "$("$TOOLS/free-port.sh")"
port=$("$TOOLS/free-port.sh")
export METRICS_PORT
METRICS_PORT=$("$TOOLS/free-port.sh")

results=$OUT/cpu.tsv
: >"$results"

for ((round = 1; round <= REPS; round++)); do
    if [ $((round % 2)) = 1 ]; then modes="off on"; else modes="on off"; fi
    for mode in $modes; do
        OBS=$mode bench_start_ngx "$port"
        master=$(bench_ngx_pid)
        for wl in $WORKLOADS; do
            "$BENCH/load.sh" -c "$CONNS" -d 2 "http://127.0.0.1:$port" "$wl" \
                >/dev/null
            # a fresh log file for each measured run, as rotation would
            # leave it: gigabytes written within minutes would otherwise
            # have the later runs pay the kernel's page cache reclaim
            rm -f "$BENCH_TMP/nginx/logs/access.log"
            "$NGINX_BIN" -p "$BENCH_TMP/nginx" -c "$BENCH_TMP/nginx.conf" \
                -s reopen 2>/dev/null
            sleep 0.5
            c0=$(workers_cpu "$master")
            line=$("$BENCH/load.sh" -c "$CONNS" -d "$SECS" \
                       "http://127.0.0.1:$port" "$wl")
            c1=$(workers_cpu "$master")
            reqs=$(awk '{print $NF}' <<<"$line")
            us=$(echo "scale=2; ($c1 - $c0) * 1000000 / $hz / $reqs" | bc)
            printf '%s\t%s\t%s\t%s\n' "$round" "$mode" "$wl" "$us" \
                | tee -a "$results"
        done
        if [ "$mode" = on ] && [ "$round" = 1 ]; then
            # a scrape of the registry the workloads filled
            murl=http://127.0.0.1:$METRICS_PORT/metrics
            curl -s "$murl" >"$OUT/scrape.txt"
            c0=$(workers_cpu "$master")
            scrapes=$(wrk -t1 -c1 -d5s "$murl" \
                          | awk '/requests in/ {print $1}')
            c1=$(workers_cpu "$master")
            echo "scrape_cpu_us $(echo "scale=1; ($c1 - $c0) * 1000000 / $hz / $scrapes" | bc) ($scrapes scrapes)" \
                | tee "$OUT/scrape.tsv"
            "$BENCH/load.sh" -c "$CONNS" -d 6 "http://127.0.0.1:$port" w1 \
                >/dev/null &
            load=$!
            sleep 1
            for i in $(seq 1 40); do
                curl -s -o /dev/null -w '%{time_total}\n' "$murl"
                sleep 0.1
            done | sort -g | awk '{a[NR]=$1} END {
                printf "scrape_under_load_ms p50 %.2f max %.2f\n",
                       a[int(NR/2)+1]*1000, a[NR]*1000 }' \
                | tee -a "$OUT/scrape.tsv"
            wait "$load"
            echo "scrape_bytes $(wc -c <"$OUT/scrape.txt") series $(grep -vc '^#' "$OUT/scrape.txt")" \
                | tee -a "$OUT/scrape.tsv"
        fi
        bench_stop_ngx
    done
done

echo
echo "worker CPU per request (us), median of $REPS rounds, $CONNS connections, ${SECS}s"
printf '| workload | off | on | on/off |\n|---|---:|---:|---:|\n'
for wl in $WORKLOADS; do
    off=$(awk -v w="$wl" '$2 == "off" && $3 == w {print $4}' "$results" \
              | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    on=$(awk -v w="$wl" '$2 == "on" && $3 == w {print $4}' "$results" \
             | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    printf '| %s | %s | %s | %.3f |\n' "$wl" "$off" "$on" \
        "$(echo "scale=4; $on / $off" | bc)"
done
cat "$OUT/scrape.tsv"
