#!/usr/bin/env bash
# make bench-obs: what observability costs (issue 13).  nginx worker CPU
# per request on W1-W5 with the metrics zone and the JSON access log on
# (sampled as a busy node runs it: tools/bench-conf.sh), with every
# request's line (full), and with neither (off), on one Postgres and
# Redis.  One nginx per mode, all started at once on ports of their own,
# so that a workload's modes run seconds apart, in an order that rotates
# from round to round: the machine's drift, minutes long, falls on the
# modes alike, and each round gives a ratio of neighbouring runs.  CPU is
# the workers' utime+stime from /proc (far steadier than throughput on a
# shared 2-core machine) over the requests wrk made.  Then the scrape:
# worker CPU per scrape of the full registry (wrk on /metrics for 5 s,
# one connection, no other load), and the time a scrape takes while W1
# runs.  Each measured run starts with a new access log file (removed,
# nginx -s reopen), as log rotation leaves it.
#
# env: SECS (10) REPS (5) CONNS (64) WORKERS (2) POOL (2) PIPELINE (16)
#      WORKLOADS ("w1 w2 w3 w4 w5") MODES ("off on full": off first)
#      OUT (output directory)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=$ROOT/tools
BENCH=$(cd "${BENCH_DIR:-$ROOT/../shared/bench}" && pwd)
MODULE=${MODULE:-$ROOT/.build/nginx/ngx_http_backend_module.so}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
SECS=${SECS:-10} REPS=${REPS:-5} CONNS=${CONNS:-64}
WORKLOADS=${WORKLOADS:-"w1 w2 w3 w4 w5"}
MODES=${MODES:-"off on full"}
export WORKERS=${WORKERS:-2} POOL=${POOL:-2} PIPELINE=${PIPELINE:-16}

die() { echo "bench-obs: $*" >&2; exit 1; }

[ -f "$MODULE" ] || die "no $MODULE: make build first"
command -v wrk >/dev/null || die "no wrk (make deps installs it)"
[ "${MODES%% *}" = off ] || die "MODES must start with off"

OUT=${OUT:-$(mktemp -d /tmp/bench-obs.XXXXXX)}
mkdir -p "$OUT"
chmod 755 "$OUT"
BENCH_TMP=$OUT/run
mkdir -p "$BENCH_TMP"
chmod 755 "$BENCH_TMP"

. "$TOOLS/bench-lib.sh"

declare -A port master
metrics_port=$("$TOOLS/free-port.sh")

# MODE: its nginx, in $BENCH_TMP/MODE
start_mode() {
    local m=$1 dir=$BENCH_TMP/$1
    mkdir -p "$dir/nginx/logs"
    port[$m]=$("$TOOLS/free-port.sh")
    OBS=$m METRICS_PORT=$([ "$m" = on ] && echo "$metrics_port" || true) \
        MODULE=$MODULE BENCH_DIR=$BENCH "$TOOLS/bench-conf.sh" \
        "$dir/nginx" "${port[$m]}" "$bench_pg_port" "$bench_redis_port" \
        >"$dir/nginx.conf"
    "$NGINX_BIN" -p "$dir/nginx" -c "$dir/nginx.conf" \
                 -e "$dir/nginx/logs/error.log"
    bench_wait_up "http://127.0.0.1:${port[$m]}"
    master[$m]=$(cat "$dir/nginx/logs/nginx.pid")
}

stop_modes() {
    local m
    for m in $MODES; do
        [ -f "$BENCH_TMP/$m/nginx/logs/nginx.pid" ] || continue
        "$NGINX_BIN" -p "$BENCH_TMP/$m/nginx" -c "$BENCH_TMP/$m/nginx.conf" \
            -s stop 2>/dev/null || true
    done
}

trap 'stop_modes; bench_stop_all' EXIT

hz=$(getconf CLK_TCK)

# the workers' CPU so far, in clock ticks
workers_cpu() {
    local p t=0
    for p in $(pgrep -P "$1"); do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    echo "$t"
}

# the workload's key pair and tokens (made once, kept by ../shared/bench)
"$BENCH/workload/tokens.sh" >/dev/null

bench_start_pg "$("$TOOLS/free-port.sh")"
bench_start_redis "$("$TOOLS/free-port.sh")"

for mode in $MODES; do
    start_mode "$mode"
done

results=$OUT/cpu.tsv
: >"$results"

for ((round = 1; round <= REPS; round++)); do
    # rotate the order, so that no mode always runs first or last
    set -- $MODES
    for ((i = 1; i < round; i++)); do set -- "${@:2}" "$1"; done
    for wl in $WORKLOADS; do
        for mode in "$@"; do
            url=http://127.0.0.1:${port[$mode]}
            dir=$BENCH_TMP/$mode
            "$BENCH/load.sh" -c "$CONNS" -d 2 "$url" "$wl" >/dev/null
            # a fresh log file for each measured run, as rotation would
            # leave it: gigabytes written within minutes would otherwise
            # have the later runs pay the kernel's page cache reclaim
            rm -f "$dir/nginx/logs/access.log"
            "$NGINX_BIN" -p "$dir/nginx" -c "$dir/nginx.conf" -s reopen \
                2>/dev/null
            sleep 0.5
            c0=$(workers_cpu "${master[$mode]}")
            line=$("$BENCH/load.sh" -c "$CONNS" -d "$SECS" "$url" "$wl")
            c1=$(workers_cpu "${master[$mode]}")
            reqs=$(awk '{print $NF}' <<<"$line")
            us=$(echo "scale=3; ($c1 - $c0) * 1000000 / $hz / $reqs" | bc)
            lines=0
            if [ "$mode" != off ]; then
                sleep 1.2   # flush=1s
                lines=$(wc -l <"$dir/nginx/logs/access.log" 2>/dev/null \
                            || echo 0)
            fi
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$mode" "$wl" \
                "$us" "$reqs" "$lines" | tee -a "$results"
        done
    done
done

if [ -n "${master[on]:-}" ]; then
    # a scrape of the registry the workloads filled
    murl=http://127.0.0.1:$metrics_port/metrics
    curl -s "$murl" >"$OUT/scrape.txt"
    c0=$(workers_cpu "${master[on]}")
    scrapes=$(wrk -t1 -c1 -d5s "$murl" | awk '/requests in/ {print $1}')
    c1=$(workers_cpu "${master[on]}")
    echo "scrape_cpu_us $(echo "scale=1; ($c1 - $c0) * 1000000 / $hz / $scrapes" | bc) ($scrapes scrapes)" \
        | tee "$OUT/scrape.tsv"
    "$BENCH/load.sh" -c "$CONNS" -d 6 "http://127.0.0.1:${port[on]}" w1 \
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

# a mode's median over the rounds: CPU us per request, lines per request,
# or its ratio to off in the same round (the runs seconds apart)
median() {
    awk -v w="$1" -v m="$2" -v f="$3" '
        $3 != w { next }
        $2 == "off" { off[$1] = $4 }
        $2 == m { v[$1] = (f == "lines" ? $6 / $5 : $4) }
        END {
            for (r in v) print (f == "ratio" ? v[r] / off[r] : v[r])
        }' "$results" \
        | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

echo
echo "worker CPU per request (us), median of $REPS rounds, $CONNS connections, ${SECS}s;"
echo "MODE/off: the median of the rounds' ratios"
printf '| workload |'
for mode in $MODES; do printf ' %s |' "$mode"; done
for mode in $MODES; do
    [ "$mode" = off ] || printf ' %s/off | %s lines/req |' "$mode" "$mode"
done
printf '\n|---|'
for mode in $MODES; do printf -- '---:|'; done
for mode in $MODES; do [ "$mode" = off ] || printf -- '---:|---:|'; done
printf '\n'
for wl in $WORKLOADS; do
    printf '| %s |' "$wl"
    for mode in $MODES; do printf ' %.2f |' "$(median "$wl" "$mode" cpu)"; done
    for mode in $MODES; do
        [ "$mode" = off ] && continue
        printf ' %.3f | %.4f |' "$(median "$wl" "$mode" ratio)" \
            "$(median "$wl" "$mode" lines)"
    done
    printf '\n'
done
[ ! -f "$OUT/scrape.tsv" ] || cat "$OUT/scrape.tsv"
