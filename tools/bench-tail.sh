#!/usr/bin/env bash
# make bench-tail: where the latency tail of W1 and W5 comes from, and the
# tail of W2 at 1024 connections (issue 20), for ngx_backend and the
# OpenResty peer.  Both servers run side by side on one PostgreSQL and
# Redis (the idle one costs nothing) and take the load in turn, the order
# alternating from round to round, so the machine's drift falls on both.
# wrk runs bench/tail/tail.lua: the shared workload scripts' requests,
# optionally paced, with p99.9 and the maximum.
#
#   1. unpaced, as make bench runs: WORKLOADS at CONNS connections
#   2. paced at equal throughput: both servers at the same rate, PACE % of
#      the slower one's unpaced median in 1, so p99 is compared at equal load
#   3. the load generator pinned: wrk on WRK_CPU, the servers' workers on
#      SERVER_CPU (taskset), unpaced, then paced at PACE % of the slower
#      server's pinned unpaced median; the workers are unpinned after
#   4. BIG_WORKLOAD at BIG_CONNS connections: the kernel's TCP counters
#      (nstat) before and after each run, the listening sockets' backlog
#      and their accept queue and SYN-RECV count sampled every 0.1 s (ss);
#      then ngx_backend again with each backlog= of BACKLOGS
#
# Per run: rps, p50, p99, p99.9 and max (wrk's distribution, with wrk's
# own correction for coordinated omission), errors, the server's worker
# CPU µs per request (/proc, clock ticks) and wrk's own CPU µs per request
# (user + sys).  Tables: medians over ROUNDS (counters: sums), printed and
# written to OUT/tail.md; every run's fields in OUT/runs.txt.
#
# env: SECS (5) ROUNDS (2) CONNS (64) THREADS (2: wrk's) WARMUP (1 s per
#      server and workload, once) WORKLOADS ("w1 w5") PACE (80)
#      WRK_CPU (1) SERVER_CPU (0) BIG_WORKLOAD (w2) BIG_CONNS (1024)
#      BACKLOGS ("128 511": ngx_backend's backlog= in extra runs of 4; the
#      kernel caps it at net.core.somaxconn)
#      EXPERIMENTS ("unpaced paced pinned conns": which of 1-4; paced
#      needs unpaced)
#      SLACK_MS (100: how far a paced wrk thread catches up after a
#      stall, bench/tail/tail.lua)
#      PINNED_WORKERS (WORKERS: the workers of each server in 3, all on
#      SERVER_CPU; 1 takes out workers preempting each other there too)
#      WORKERS (2) NGX_POOL (2) PIPELINE (16) OPENRESTY_POOL (4)
#      OUT (output directory)  BENCH_DIR (../shared/bench)  MODULE
#      NGINX_BIN (ours)  BENCH_OR_NGINX (the OpenResty peer's)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=$ROOT/tools
BENCH=$(cd "${BENCH_DIR:-$ROOT/../shared/bench}" && pwd)
MODULE=${MODULE:-$ROOT/.build/nginx/ngx_http_backend_module.so}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}

SECS=${SECS:-5} ROUNDS=${ROUNDS:-2} CONNS=${CONNS:-64} THREADS=${THREADS:-2}
WARMUP=${WARMUP:-1} WORKLOADS=${WORKLOADS:-"w1 w5"} PACE=${PACE:-80}
WRK_CPU=${WRK_CPU:-1} SERVER_CPU=${SERVER_CPU:-0} SLACK_MS=${SLACK_MS:-100}
BIG_WORKLOAD=${BIG_WORKLOAD:-w2} BIG_CONNS=${BIG_CONNS:-1024}
BACKLOGS=${BACKLOGS-"128 511"}
EXPERIMENTS=${EXPERIMENTS:-"unpaced paced pinned conns"}
WORKERS=${WORKERS:-2} NGX_POOL=${NGX_POOL:-2} PIPELINE=${PIPELINE:-16}
PINNED_WORKERS=${PINNED_WORKERS:-$WORKERS}
OPENRESTY_POOL=${OPENRESTY_POOL:-4}

die() { echo "bench-tail: $*" >&2; exit 1; }

want() { case " $EXPERIMENTS " in *" $1 "*) return 0 ;; esac; return 1; }

for e in $EXPERIMENTS; do
    case $e in unpaced | paced | pinned | conns) ;;
    *) die "EXPERIMENTS: unknown $e (unpaced paced pinned conns)" ;;
    esac
done
if want paced && ! want unpaced; then
    die "EXPERIMENTS: paced takes its rate from unpaced"
fi
[ -f "$MODULE" ] || die "no $MODULE: make build first"
for c in wrk taskset nstat ss bc; do
    command -v "$c" >/dev/null || die "no $c"
done

# the full workload names, as load.sh finds them
script_of() {
    local f
    f=$(ls "$BENCH"/workload/requests/"$1"*.lua 2>/dev/null | head -1)
    [ -n "$f" ] || die "unknown workload $1"
    echo "$f"
}
declare -A wl_script wl_name
for w in $WORKLOADS $BIG_WORKLOAD; do
    wl_script[$w]=$(script_of "$w")
    wl_name[$w]=$(basename "${wl_script[$w]}" .lua)
done

# both CPUs in this process's affinity, and not the same one
allowed=$(taskset -pc $$ | sed 's/.*: //')
if want pinned; then
    [ "$WRK_CPU" != "$SERVER_CPU" ] || die "WRK_CPU and SERVER_CPU are one CPU"
    taskset -c "$WRK_CPU" true 2>/dev/null \
        || die "CPU $WRK_CPU is not usable here ($allowed)"
    taskset -c "$SERVER_CPU" true 2>/dev/null \
        || die "CPU $SERVER_CPU is not usable here ($allowed)"
fi

OUT=${OUT:-$(mktemp -d /tmp/bench-tail.XXXXXX)}
mkdir -p "$OUT"
chmod 755 "$OUT"
tmp=$OUT/run
mkdir -p "$tmp"
chmod 755 "$tmp"
RUNS=$OUT/runs.txt
: >"$RUNS"

BENCH_TMP=$tmp
. "$TOOLS/bench-lib.sh"
bench_openresty_ok || die "no lua-nginx-module for $BENCH_OR_NGINX: make deps"

sampler=
cleanup() {
    if [ -n "$sampler" ]; then
        kill "$sampler" 2>/dev/null || true
        wait "$sampler" 2>/dev/null || true
    fi
    bench_stop_all
}
trap cleanup EXIT

hz=$(getconf CLK_TCK)
t0=$SECONDS
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
phase() { echo "bench-tail: $* (+$((SECONDS - t0)) s)"; }

declare -A port label
port[ngx]=$("$TOOLS/free-port.sh")
port[openresty]=$("$TOOLS/free-port.sh")
label[ngx]=ngx_backend label[openresty]="OpenResty peer"
servers="ngx openresty"

echo "bench-tail: output in $OUT"
"$BENCH/workload/tokens.sh" >/dev/null
export BENCH_TOKENS
BENCH_TOKENS=$("$BENCH/workload/tokens.sh")
bench_start_pg "$("$TOOLS/free-port.sh")"
bench_start_redis "$("$TOOLS/free-port.sh")"
bench_psql -c 'VACUUM ANALYZE'

# start_servers N: both servers with N workers each
start_servers() {
    WORKERS=$1 POOL=$NGX_POOL PIPELINE=$PIPELINE \
        bench_start_ngx "${port[ngx]}"
    WORKERS=$1 bench_start_openresty "${port[openresty]}" \
        "$OPENRESTY_POOL" "$OUT/openresty-$1.log"
}
stop_servers() {
    bench_stop_ngx
    bench_stop_openresty
}
start_servers "$WORKERS"

server_pid() {
    case $1 in
    ngx) bench_ngx_pid ;;
    openresty) echo "$bench_or_pid" ;;
    esac
}

url() { echo "http://127.0.0.1:${port[$1]}"; }

# the servers in round R's order: ngx_backend first in odd rounds
order() {
    if [ $(($1 % 2)) = 1 ]; then echo ngx openresty; else echo openresty ngx; fi
}

TIMEFORMAT='%3U %3S'

# run FIELDS WORKLOAD CONNS RATE PIN SERVER: one wrk run of SECS; appends
# FIELDS and the run's to runs.txt as key=value words (RATE empty:
# unpaced; PIN 1: wrk on WRK_CPU)
run() {
    local fields=$1 wl=$2 c=$3 rate=$4 pin=$5 s=$6
    local pid c0 c1 line t wrk_us cpu_us
    local rps p50_ms p99_ms p999_ms max_ms non2xx sockerr requests
    local pin_cmd=()
    [ "$pin" = 1 ] && pin_cmd=(taskset -c "$WRK_CPU")
    pid=$(server_pid "$s")
    c0=$(bench_children_cpu "$pid")
    { time "${pin_cmd[@]}" env TAIL_SCRIPT="${wl_script[$wl]}" \
          TAIL_RATE="$rate" TAIL_THREADS="$THREADS" TAIL_SLACK_MS="$SLACK_MS" \
          wrk -t"$THREADS" -c"$c" -d"${SECS}s" --timeout 5s \
              -s "$ROOT/bench/tail/tail.lua" "$(url "$s")" \
              >"$tmp/wrk.out" 2>"$tmp/wrk.err"; } 2>"$tmp/wrk.time" \
        || { cat "$tmp/wrk.err" "$tmp/wrk.out" >&2; die "wrk failed"; }
    c1=$(bench_children_cpu "$pid")
    line=$(grep '^RESULT ' "$tmp/wrk.out") \
        || { cat "$tmp/wrk.err" "$tmp/wrk.out" >&2; die "no RESULT from wrk"; }
    eval "${line#RESULT }"
    read -r t < <(awk '{print $1 + $2}' "$tmp/wrk.time")
    if [ "$requests" -gt 0 ]; then
        cpu_us=$(echo "scale=2; ($c1 - $c0) * 1000000 / $hz / $requests" | bc)
        wrk_us=$(echo "scale=2; $t * 1000000 / $requests" | bc)
    else
        cpu_us=0 wrk_us=0
    fi
    echo "$fields server=$s wl=$wl conns=$c target=${rate:-0}" \
         "rps=$rps p50=$p50_ms p99=$p99_ms p999=$p999_ms max=$max_ms" \
         "errors=$((non2xx + sockerr)) cpu_us=$cpu_us wrk_us=$wrk_us" \
        | tee -a "$RUNS"
}

# vals FIELD KEY=VALUE...: FIELD of each run in runs.txt that has all the
# KEY=VALUE words
vals() {
    local f=$1
    shift
    awk -v f="$f" -v want="$*" '
        BEGIN { n = split(want, w, " ") }
        {
            delete kv
            for (i = 1; i <= NF; i++) {
                k = index($i, "=")
                kv[substr($i, 1, k - 1)] = substr($i, k + 1)
            }
            for (j = 1; j <= n; j++) {
                k = index(w[j], "=")
                if (kv[substr(w[j], 1, k - 1)] != substr(w[j], k + 1)) next
            }
            print kv[f]
        }' "$RUNS"
}

# the median of numbers on stdin (of the middle two for an even count)
median() {
    sort -g | awk -v OFMT=%.10g '{a[NR] = $1}
        END {if (NR == 0) print "–"; else
             print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}

med() { vals "$@" | median; }

# medf FIELD KEY=VALUE...: med, rounded for the tables (rps whole, the
# rest to 2 decimals)
medf() {
    local f=$1
    med "$@" | awk -v f="$f" '
        /^[0-9.]+$/ { fmt = (f == "rps") ? "%.0f\n" : "%.2f\n"
                      printf fmt, $1; next }
        { print }'
}
sum() { vals "$@" | awk '{s += $1} END {print s + 0}'; }

# rate_of PERCENT KEY=VALUE...: PERCENT % of the lower of the two servers'
# median rps over the matching runs
rate_of() {
    local pct=$1 lo='' r s
    shift
    for s in $servers; do
        r=$(med rps "$@" "server=$s")
        r=${r%.*}
        if [ -z "$lo" ] || [ "$r" -lt "$lo" ]; then lo=$r; fi
    done
    echo $((lo * pct / 100))
}

# rounds EXP PIN [RATE-PER-WORKLOAD...]: ROUNDS rounds of each workload on
# both servers in turn; rates given as wN=RATE
rounds() {
    local exp=$1 pin=$2 r w s rate
    shift 2
    local -A rates=()
    for a in "$@"; do rates[${a%%=*}]=${a#*=}; done
    for ((r = 1; r <= ROUNDS; r++)); do
        for w in $WORKLOADS; do
            rate=${rates[$w]:-}
            for s in $(order "$r"); do
                run "exp=$exp round=$r" "$w" "$CONNS" "$rate" "$pin" "$s" \
                    >/dev/null
            done
        done
    done
}

# the workers of both servers on CPU LIST (pin_workers LIST)
pin_workers() {
    local s p
    for s in $servers; do
        for p in $(pgrep -P "$(server_pid "$s")"); do
            taskset -pc "$1" "$p" >/dev/null
        done
    done
}

warm() {
    local s w
    for s in $servers; do
        for w in "$@"; do
            run "exp=warmup round=0" "$w" "$CONNS" "" 0 "$s" >/dev/null
        done
    done
}

if [ "$WARMUP" -gt 0 ]; then
    SECS=$WARMUP warm $WORKLOADS $BIG_WORKLOAD
    phase "warm-up"
fi

declare -A paced_rate pinned_rate

# 1. unpaced
if want unpaced; then
    rounds unpaced 0
    phase "1. unpaced"
fi

# 2. paced at PACE % of the slower server's unpaced rate
if want paced; then
    args=()
    for w in $WORKLOADS; do
        paced_rate[$w]=$(rate_of "$PACE" exp=unpaced "wl=$w")
        args+=("$w=${paced_rate[$w]}")
    done
    rounds paced 0 "${args[@]}"
    phase "2. paced (${args[*]})"
fi

# 3. pinned: unpaced, then paced at PACE % of the slower pinned rate
if want pinned; then
    if [ "$PINNED_WORKERS" != "$WORKERS" ]; then
        stop_servers
        start_servers "$PINNED_WORKERS"
        if [ "$WARMUP" -gt 0 ]; then SECS=$WARMUP warm $WORKLOADS; fi
    fi
    pin_workers "$SERVER_CPU"
    rounds pinned-unpaced 1
    args=()
    for w in $WORKLOADS; do
        pinned_rate[$w]=$(rate_of "$PACE" exp=pinned-unpaced "wl=$w")
        args+=("$w=${pinned_rate[$w]}")
    done
    rounds pinned-paced 1 "${args[@]}"
    pin_workers "$allowed"
    if [ "$PINNED_WORKERS" != "$WORKERS" ]; then
        stop_servers
        start_servers "$WORKERS"
        if [ "$WARMUP" -gt 0 ]; then SECS=$WARMUP warm "$BIG_WORKLOAD"; fi
    fi
    phase "3. pinned (${args[*]})"
fi

# 4. BIG_WORKLOAD at BIG_CONNS: the TCP counters of this network namespace
# (shared with whatever else runs on the machine), the backlog and the
# queues of the listening sockets
COUNTERS="TcpExtListenOverflows TcpExtListenDrops TcpExtTCPReqQFullDrop
TcpExtSyncookiesSent TcpExtTCPSynRetrans TcpExtTCPTimeouts TcpRetransSegs"

# the listening sockets on PORT: "N×BACKLOG" (ss's Send-Q)
backlog_of() {
    ss -Hltn "sport = :$1" | awk '{n++; b = $3} END {printf "%d×%d", n, b}'
}

# sample PORT FILE: the largest accept queue (Recv-Q of a listening
# socket) and SYN-RECV count seen, into FILE, every 0.1 s until killed
sample() {
    local q=0 syn=0 a b
    while :; do
        a=$(ss -Hltn "sport = :$1" | awk '$2 > m {m = $2} END {print m + 0}')
        b=$(ss -Htn state syn-recv "sport = :$1" | wc -l)
        [ "$a" -gt "$q" ] && q=$a
        [ "$b" -gt "$syn" ] && syn=$b
        echo "$q $syn" >"$2"
        sleep 0.1
    done
}

nstat_snap() { nstat -saz >"$1"; }

# big FIELDS SERVER: one run at BIG_CONNS with counters and queues
big() {
    local fields=$1 s=$2 line q syn bl c
    bl=$(backlog_of "${port[$s]}")
    echo "0 0" >"$tmp/sample"
    nstat_snap "$tmp/nstat0"
    sample "${port[$s]}" "$tmp/sample" &
    sampler=$!
    line=$(run "$fields backlog=$bl" "$BIG_WORKLOAD" "$BIG_CONNS" "" 0 "$s")
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    sampler=
    nstat_snap "$tmp/nstat1"
    read -r q syn <"$tmp/sample"
    # the run's line again, with the queues and the counters' deltas
    sed -i '$d' "$RUNS"
    line+=" acceptq=$q synrecv=$syn"
    for c in $COUNTERS; do
        line+=" $c=$(awk -v c="$c" 'FNR == NR && $1 == c {a = $2}
                                    FNR != NR && $1 == c {print $2 - a}' \
                         "$tmp/nstat0" "$tmp/nstat1")"
    done
    echo "$line" >>"$RUNS"
}

declare -a big_backlogs=()
if want conns; then
    for ((r = 1; r <= ROUNDS; r++)); do
        for s in $(order "$r"); do big "exp=conns round=$r" "$s"; done
    done
    big_backlogs=(default)
    # ngx_backend again with each backlog= (the rendered configuration's
    # listen line changed, nginx started afresh and warmed up)
    for b in $BACKLOGS; do
        bench_stop_ngx
        sed -i "s/ backlog=[0-9]*;/ backlog=$b;/" "$tmp/nginx.conf"
        grep -q " backlog=$b;" "$tmp/nginx.conf" \
            || die "no backlog= in $tmp/nginx.conf's listen line"
        "$NGINX_BIN" -p "$tmp/nginx" -c "$tmp/nginx.conf" \
                     -e "$tmp/nginx/logs/error.log"
        bench_ngx_running=1
        bench_wait_up "$(url ngx)"
        if [ "$WARMUP" -gt 0 ]; then
            SECS=$WARMUP run "exp=warmup round=0" "$BIG_WORKLOAD" \
                "$CONNS" "" 0 ngx >/dev/null
        fi
        for ((r = 1; r <= ROUNDS; r++)); do
            big "exp=conns-$b round=$r" ngx
        done
        big_backlogs+=("$b")
    done
    phase "4. $BIG_CONNS connections"
fi

# the tables
elapsed=$((SECONDS - t0))
ngx_errors=$(grep -cE '\[(alert|crit|emerg)\]' "$tmp/nginx/logs/error.log" \
                 || true)
or_errors=$(grep -cE '\[(error|alert|crit|emerg)\]' "$tmp/openresty/error.log" \
                || true)

# row EXP WORKLOAD SERVER: the medians' cells
cells() {
    local f
    for f in rps p50 p99 p999 max; do
        printf ' %s |' "$(medf "$f" "exp=$1" "wl=$2" "server=$3")"
    done
    printf ' %s |' "$(sum errors "exp=$1" "wl=$2" "server=$3")"
    printf ' %s | %s |' "$(medf cpu_us "exp=$1" "wl=$2" "server=$3")" \
        "$(medf wrk_us "exp=$1" "wl=$2" "server=$3")"
}

head_cols='rps | p50 ms | p99 ms | p99.9 ms | max ms | errors | server CPU µs/req | wrk CPU µs/req |'
head_rule='---:|---:|---:|---:|---:|---:|---:|---:|'

{
    echo "# make bench-tail: ngx_backend and the OpenResty peer"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'); the run took $((elapsed / 60)) min $((elapsed % 60)) s."
    echo
    echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; kernel $(uname -r)"
    echo "- load average (1, 5, 15 min) before: $load_start; after: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- ngx_backend $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?'):"
    echo "  $WORKERS workers, backend_pg max=$NGX_POOL pipeline=$PIPELINE, bench/nginx.conf.in;"
    echo "  OpenResty peer: $WORKERS workers, PG_POOL=$OPENRESTY_POOL (its run.sh)"
    echo "- run as: SECS=$SECS ROUNDS=$ROUNDS CONNS=$CONNS THREADS=$THREADS WARMUP=$WARMUP"
    echo "  WORKLOADS=\"$WORKLOADS\" PACE=$PACE SLACK_MS=$SLACK_MS WRK_CPU=$WRK_CPU SERVER_CPU=$SERVER_CPU"
    echo "  PINNED_WORKERS=$PINNED_WORKERS BIG_WORKLOAD=$BIG_WORKLOAD BIG_CONNS=$BIG_CONNS BACKLOGS=\"$BACKLOGS\""
    echo "  EXPERIMENTS=\"$EXPERIMENTS\" make bench-tail"
    echo "- medians of $ROUNDS rounds × ${SECS}s, servers alternating; errors"
    echo "  summed; latencies from wrk (its coordinated-omission correction"
    echo "  included), server CPU: its workers' utime + stime per request"
    echo "  ($((1000 / hz)) ms ticks), wrk CPU: wrk's user + sys per request"
    echo "- paced: wrk's delay() holds each request for its slot on a fixed"
    echo "  schedule (bench/tail/tail.lua); rps is the rate reached, below the"
    echo "  target where the server (or wrk) did not keep up"
    echo "- error logs: ngx_backend $ngx_errors lines at [alert] or worse,"
    echo "  the OpenResty peer $or_errors at [error] or worse"
    if want unpaced; then
        echo
        echo "## 1. Unpaced, $CONNS connections (as make bench runs)"
        echo
        echo "| workload | server | $head_cols"
        echo "|---|---|$head_rule"
        for w in $WORKLOADS; do
            for s in $servers; do
                echo "| ${wl_name[$w]} | ${label[$s]} |$(cells unpaced "$w" "$s")"
            done
        done
    fi
    if want paced; then
        echo
        echo "## 2. Paced at equal throughput ($PACE % of the slower server's unpaced rps)"
        echo
        echo "| workload | target rps | server | $head_cols"
        echo "|---|---:|---|$head_rule"
        for w in $WORKLOADS; do
            for s in $servers; do
                echo "| ${wl_name[$w]} | ${paced_rate[$w]} | ${label[$s]} |$(cells paced "$w" "$s")"
            done
        done
    fi
    if want pinned; then
        echo
        echo "## 3. wrk pinned to CPU $WRK_CPU, the servers' workers ($PINNED_WORKERS each) to CPU $SERVER_CPU"
        echo
        echo "Paced at $PACE % of the slower server's pinned unpaced rps."
        echo
        echo "| workload | mode | target rps | server | $head_cols"
        echo "|---|---|---:|---|$head_rule"
        for w in $WORKLOADS; do
            for m in unpaced paced; do
                if [ $m = paced ]; then tr=${pinned_rate[$w]}; else tr=–; fi
                for s in $servers; do
                    echo "| ${wl_name[$w]} | $m | $tr | ${label[$s]} |$(cells "pinned-$m" "$w" "$s")"
                done
            done
        done
    fi
    if want conns; then
        echo
        echo "## 4. ${wl_name[$BIG_WORKLOAD]} at $BIG_CONNS connections"
        echo
        echo "net.core.somaxconn $(cat /proc/sys/net/core/somaxconn),"
        echo "net.ipv4.tcp_max_syn_backlog $(cat /proc/sys/net/ipv4/tcp_max_syn_backlog),"
        echo "tcp_syncookies $(cat /proc/sys/net/ipv4/tcp_syncookies),"
        echo "tcp_abort_on_overflow $(cat /proc/sys/net/ipv4/tcp_abort_on_overflow)."
        echo "backlog: listening sockets × their backlog (ss's Send-Q; reuseport:"
        echo "one per worker); accept queue and SYN-RECV: the largest seen, sampled"
        echo "every 0.1 s (ss); counters: nstat's deltas over the runs, summed (the"
        echo "whole network namespace: other traffic on the machine counts too)."
        echo
        printf '| server | backlog | rps | p50 ms | p99 ms | p99.9 ms | max ms | errors | accept queue | SYN-RECV |'
        for c in $COUNTERS; do printf ' %s |' "${c#TcpExt}"; done
        echo ' server CPU µs/req |'
        printf '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|'
        for c in $COUNTERS; do printf -- '---:|'; done
        echo '---:|'
        for b in "${big_backlogs[@]}"; do
            if [ "$b" = default ]; then e=conns ss=$servers; else e=conns-$b ss=ngx; fi
            for s in $ss; do
                printf '| %s | %s |' "${label[$s]}" \
                    "$(vals backlog "exp=$e" "server=$s" | sort -u | paste -sd/)"
                for f in rps p50 p99 p999 max; do
                    printf ' %s |' "$(medf "$f" "exp=$e" "server=$s")"
                done
                printf ' %s |' "$(sum errors "exp=$e" "server=$s")"
                for f in acceptq synrecv; do
                    printf ' %s |' "$(vals "$f" "exp=$e" "server=$s" | sort -g | tail -1)"
                done
                for c in $COUNTERS; do
                    printf ' %s |' "$(sum "$c" "exp=$e" "server=$s")"
                done
                echo " $(medf cpu_us "exp=$e" "server=$s") |"
            done
        done
    fi
} >"$OUT/tail.md"

echo
cat "$OUT/tail.md"
phase "done: $OUT/tail.md"
