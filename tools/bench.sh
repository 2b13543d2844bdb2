#!/usr/bin/env bash
# make bench: ngx_backend against two peers of ../shared/bench, side by
# side in one run, on one fresh PostgreSQL loaded with the workload's data,
# with this machine's ceilings measured in the same run:
#   the OpenResty peer (peer-openresty: Debian's nginx + lua-nginx-module,
#   started with its run.sh, its RUN_DIR in OUT) and the Bun peer (peer-bun)
#
#   1. check.sh against the three servers (each must pass all its checks)
#   2. per server, alone on the machine: VACUUM ANALYZE, then per workload
#      a warm-up and REPS runs of SECS (as suite.sh runs them: medians),
#      the CPU time (utime + stime from /proc) of the server's workers over
#      each measured run, peak RSS sampled meanwhile
#   3. ceilings, in REPS runs alternating with ngx_backend's W1, W3 and W4
#      after its suite: nginx `return 200`, and pgbench -M prepared running
#      W3's and W4's statements (bench/pgbench/*.sql) at the best of
#      PGBENCH_CLIENTS (found before the suites)
#   4. connection sweep of W2 and W3 for each server (SWEEP)
#   5. the tables and the charts (tools/bench-charts.sh, gnuplot):
#      bench/results/<stamp>.md, <stamp>-workloads.svg, <stamp>-sweep.svg
#      (and the same in OUT: summary.md, the charts, the raw data)
#
# env: SECS (10) REPS (3) CONNS (64) WARMUP (3) SWEEP ("16 64 256 1024")
#      SWEEP_SECS (5) WORKERS (2: nginx workers of ngx_backend and of the
#      OpenResty peer, Bun processes)
#      POOL (4: Postgres connections per worker or process of the peers,
#      the best for the Bun peer on 2 cores)  BUN_POOL (PEER_POOL, POOL)
#      OPENRESTY_POOL (POOL: its PG_POOL)
#      NGX_POOL (2) and PIPELINE (16): backend_pg max= and pipeline=, the
#      best for ngx_backend (docs/performance.md)
#      PEERS ("openresty bun": the peers measured, in this order)
#      PGBENCH_CLIENTS ("2 4 8 16")
#      QUICK=1 (smoke: 1 s per workload, 1 run, no warm-up, pgbench at 4
#      clients only, sweep 16 and 1024 for 1 s, no pause after a server
#      stops; no result file; the OpenResty peer only where its Lua module
#      is installed)
#      OUT (output directory)  BENCH_DIR (../shared/bench)  MODULE
#      NGINX_BIN (ours)  BENCH_OR_NGINX (the OpenResty peer's: /usr/sbin/nginx)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=$ROOT/tools
BENCH=$(cd "${BENCH_DIR:-$ROOT/../shared/bench}" && pwd)
MODULE=${MODULE:-$ROOT/.build/nginx/ngx_http_backend_module.so}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}

if [ -n "${QUICK:-}" ]; then
    SECS=1 REPS=1 WARMUP=0 SWEEP=${SWEEP:-"16 1024"} SWEEP_SECS=1
    PGBENCH_CLIENTS=${PGBENCH_CLIENTS:-4} SETTLE=0
fi
SECS=${SECS:-10} REPS=${REPS:-3} CONNS=${CONNS:-64} WARMUP=${WARMUP:-3}
SWEEP=${SWEEP-"16 64 256 1024"} SWEEP_SECS=${SWEEP_SECS:-5}
WORKERS=${WORKERS:-2}
POOL=${POOL:-4} NGX_POOL=${NGX_POOL:-2} PIPELINE=${PIPELINE:-16}
BUN_POOL=${BUN_POOL:-${PEER_POOL:-$POOL}} OPENRESTY_POOL=${OPENRESTY_POOL:-$POOL}
PEERS=${PEERS-"openresty bun"}
PGBENCH_CLIENTS=${PGBENCH_CLIENTS:-"2 4 8 16"}
WORKLOADS="w1-health w2-me w3-sessions w4-notes w5-batch"
# seconds of quiet after a server stops, before the next runs
SETTLE=${SETTLE:-1}

die() { echo "bench: $*" >&2; exit 1; }

[ -f "$MODULE" ] || die "no $MODULE: make build first"
command -v wrk >/dev/null || die "no wrk (make deps installs it)"
command -v pgbench >/dev/null || die "no pgbench"
command -v gnuplot >/dev/null || die "no gnuplot (make deps installs it)"

OUT=${OUT:-$(mktemp -d /tmp/bench-run.XXXXXX)}
mkdir -p "$OUT"
chmod 755 "$OUT"
tmp=$OUT/run
mkdir -p "$tmp"
chmod 755 "$tmp"

BENCH_TMP=$tmp
. "$TOOLS/bench-lib.sh"

servers="ngx"
for p in $PEERS; do
    case $p in
    openresty)
        if ! bench_openresty_ok; then
            # the smoke runs wherever make test does; the measurement
            # needs every server
            [ -n "${QUICK:-}" ] \
                || die "no lua-nginx-module for $BENCH_OR_NGINX: make deps"
            echo "bench: the OpenResty peer left out (no lua-nginx-module)"
            continue
        fi ;;
    bun) ;;
    *) die "PEERS: unknown peer $p (openresty, bun)" ;;
    esac
    servers+=" $p"
done

declare -A port label
for s in $servers; do port[$s]=$("$TOOLS/free-port.sh"); done
pg_port=$("$TOOLS/free-port.sh")
redis_port=$("$TOOLS/free-port.sh")
ceil_port=$("$TOOLS/free-port.sh")
label[ngx]=ngx_backend label[openresty]="OpenResty peer" label[bun]="Bun peer"

hz=$(getconf CLK_TCK)
ceil_running=0 bun_pid=
t0=$SECONDS
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

cleanup() {
    [ "$ceil_running" = 0 ] \
        || "$NGINX_BIN" -p "$tmp/ceiling" -c "$tmp/ceiling.conf" -s stop \
               2>/dev/null || true
    if [ -n "$bun_pid" ]; then
        kill "$bun_pid" 2>/dev/null || true
        wait "$bun_pid" 2>/dev/null || true
    fi
    bench_stop_all
}
trap cleanup EXIT

psql_bench() { bench_psql "$@"; }
tree_rss() { bench_tree_rss "$@"; }
phase() { echo "bench: $* (+$((SECONDS - t0)) s)"; }

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

echo "bench: output in $OUT; servers: $servers"

# one PostgreSQL for all, the workload's data and our later migrations
bench_start_pg "$pg_port"
bench_start_redis "$redis_port"
"$BENCH/workload/tokens.sh" >/dev/null

start_bun() {
    ( cd "$BENCH/peer-bun" && [ -d node_modules ] \
        || npm ci --no-audit --no-fund >/dev/null 2>&1 )
    DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/bench" \
    PORT=${port[bun]} WORKERS=$WORKERS PG_POOL=$BUN_POOL DRIZZLE_PREPARE=1 \
        "$BENCH/peer-bun/start.sh" >"$OUT/bun.log" 2>&1 &
    bun_pid=$!
    bench_wait_up "http://127.0.0.1:${port[bun]}"
}

start_server() {
    case $1 in
    ngx)
        WORKERS=$WORKERS POOL=$NGX_POOL PIPELINE=$PIPELINE \
            bench_start_ngx "${port[ngx]}" ;;
    openresty)
        WORKERS=$WORKERS bench_start_openresty "${port[openresty]}" \
            "$OPENRESTY_POOL" "$OUT/openresty.log" ;;
    bun) start_bun ;;
    esac
}

# the master whose children are the workers (Bun: the cluster's parent)
server_pid() {
    case $1 in
    ngx) bench_ngx_pid ;;
    openresty) echo "$bench_or_pid" ;;
    bun) echo "$bun_pid" ;;
    esac
}

# nginx's serious complaints about ours (also in the ceiling's runs) end
# the run; the OpenResty peer's error log (at notice: Lua errors are
# [error]) is counted in the result instead, as its errors are in the table
check_log() {
    local log=$tmp/nginx/logs/error.log
    [ "$1" = ngx ] || return 0
    if grep -E '\[(alert|crit|emerg)\]' "$log" >"$OUT/errors-ngx.txt"; then
        head -5 "$OUT/errors-ngx.txt"
        die "ngx_backend: its error log has problems ($log)"
    fi
    rm -f "$OUT/errors-ngx.txt"
}

stop_server() {
    case $1 in
    ngx) bench_stop_ngx ;;
    openresty) bench_stop_openresty ;;
    bun)
        kill "$bun_pid" 2>/dev/null || true
        wait "$bun_pid" 2>/dev/null || true
        bun_pid= ;;
    esac
    check_log "$1"
    sleep "$SETTLE"
}

url() { echo "http://127.0.0.1:${port[$1]}"; }

# 1. conformance, each server
for s in $servers; do
    start_server "$s"
    "$BENCH/check.sh" "$(url "$s")" >"$OUT/check-$s.txt" \
        || { tail -3 "$OUT/check-$s.txt"; die "${label[$s]} fails check.sh"; }
    stop_server "$s"
done
phase "check.sh: $(for s in $servers; do
    echo -n "${label[$s]} $(tail -1 "$OUT/check-$s.txt"); "; done)"

# 2. measure ID: per workload a WARMUP s warm-up (not recorded), then REPS
# runs of SECS at CONNS, as ../shared/bench/suite.sh runs them, each line
# load.sh's with "cpu_us N": the CPU time the server's workers took over
# the run per request wrk made (a figure the VM's drift moves far less
# than the rate: the clock ticks of /proc/PID/stat, 10 ms each)
measure() {
    local s=$1 url pid wl i line c0 c1 reqs
    url=$(url "$s")
    pid=$(server_pid "$s")
    for wl in $WORKLOADS; do
        [ "$WARMUP" -gt 0 ] \
            && "$BENCH/load.sh" -c "$CONNS" -d "$WARMUP" "$url" "$wl" >/dev/null
        for ((i = 1; i <= REPS; i++)); do
            c0=$(bench_children_cpu "$pid")
            line=$("$BENCH/load.sh" -c "$CONNS" -d "$SECS" "$url" "$wl")
            c1=$(bench_children_cpu "$pid")
            reqs=${line##* }
            if [ "${reqs:-0}" -gt 0 ]; then
                echo "$line  cpu_us $(echo "scale=2; ($c1 - $c0) * 1000000 / $hz / $reqs" | bc)"
            else
                echo "$line  cpu_us 0"
            fi
        done
    done
}

# the median of numbers on stdin (of the middle two for an even count)
median() {
    sort -g | awk '{a[NR] = $1}
        END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}

# medians ID: per workload "name rps p50 p99 errors cpu_us", the median of
# each column over the runs, errors (non-2xx and socket errors) summed
medians() {
    local wl f
    for wl in $WORKLOADS; do
        printf '%s' "$wl"
        for f in 2 5 8; do
            printf '\t%s' "$(awk -v w="$wl" -v f="$f" '$1 == w {print $f}' \
                                 "$OUT/runs-$1.txt" | median)"
        done
        printf '\t%s' "$(awk -v w="$wl" '$1 == w {s += $11 + $13} END {print s + 0}' \
                             "$OUT/runs-$1.txt")"
        printf '\t%s\n' "$(awk -v w="$wl" '$1 == w {print $17}' \
                               "$OUT/runs-$1.txt" | median)"
    done
}

# sweep ID: "ID C workload rps p99 errors" per connection count and workload
sweep() {
    local c w line
    for c in $SWEEP; do
        for w in w2 w3; do
            line=$("$BENCH/load.sh" -c "$c" -d "$SWEEP_SECS" "$(url "$1")" "$w")
            # "wN-name RPS rps p50 X ms p99 Y ms non2xx N sockerr N ..."
            awk -v s="$1" -v c="$c" '{print s, c, $1, $2, $8, $11 + $13}' \
                <<<"$line"
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
    sleep "$SETTLE"
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
    for c in $PGBENCH_CLIENTS; do
        tps=$(pgbench_tps "$script" "$c")
        if [ "${tps:-0}" -gt "$best" ]; then best=$tps bestc=$c; fi
    done
    echo "$best $bestc"
}

psql_bench -c 'VACUUM ANALYZE'
read -r _ pg_w3_c < <(pgbench_best "$ROOT/bench/pgbench/w3.sql")
read -r _ pg_w4_c < <(pgbench_best "$ROOT/bench/pgbench/w4.sql")
phase "pgbench clients: W3 $pg_w3_c, W4 $pg_w4_c"

: >"$OUT/sweep.txt"
for s in $servers; do
    psql_bench -c 'VACUUM ANALYZE'
    start_server "$s"
    peak_rss "$OUT/rss-$s" "$(server_pid "$s")" measure "$s" \
        >"$OUT/runs-$s.txt"
    medians "$s" >"$OUT/medians-$s.tsv"
    sweep "$s" >>"$OUT/sweep.txt"
    phase "${label[$s]}: suite and sweep"

    if [ "$s" = ngx ]; then
        # W1, W3 and W4 against their ceilings in alternating runs: the
        # speed of a shared VM drifts by 20% within minutes, so a ceiling
        # measured apart from the runs it bounds is off by as much as the
        # difference sought
        start_ceiling
        u=$(url ngx)
        for i in $(seq 1 "$REPS"); do
            "$BENCH/load.sh" -c "$CONNS" -d "$SECS" "http://127.0.0.1:$ceil_port" plain
            "$BENCH/load.sh" -c "$CONNS" -d "$SECS" "$u" w1
            echo "pgbench-w3 $(pgbench_tps "$ROOT/bench/pgbench/w3.sql" "$pg_w3_c")"
            "$BENCH/load.sh" -c "$CONNS" -d "$SECS" "$u" w3
            echo "pgbench-w4 $(pgbench_tps "$ROOT/bench/pgbench/w4.sql" "$pg_w4_c")"
            "$BENCH/load.sh" -c "$CONNS" -d "$SECS" "$u" w4
        done >"$OUT/ceiling.txt"
        stop_ceiling
        phase "ceilings"
    fi
    stop_server "$s"
done

# 3. the ceilings ran alternating with ngx_backend's W1, W3 and W4, above
# medians of the alternating runs ("plain RPS rps p50 X ms p99 Y ms ...")
ngx_ceiling=$(awk '$1 == "plain" {print $2}' "$OUT/ceiling.txt" | median)
ngx_ceiling_p99=$(awk '$1 == "plain" {print $8}' "$OUT/ceiling.txt" | median)
w1_alt=$(awk '$1 == "w1-health" {print $2}' "$OUT/ceiling.txt" | median)
w1_alt_p99=$(awk '$1 == "w1-health" {print $8}' "$OUT/ceiling.txt" | median)
pg_w3=$(awk '$1 == "pgbench-w3" {print $2}' "$OUT/ceiling.txt" | median)
pg_w4=$(awk '$1 == "pgbench-w4" {print $2}' "$OUT/ceiling.txt" | median)
w3_alt=$(awk '$1 == "w3-sessions" {print $2}' "$OUT/ceiling.txt" | median)
w4_alt=$(awk '$1 == "w4-notes" {print $2}' "$OUT/ceiling.txt" | median)

# 4. the tables and the charts
STAMP=$(date -u +%Y-%m-%d-%H%M)
TITLE="$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, median of $REPS × ${SECS}s" \
    SWEEP_TITLE="$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, ${SWEEP_SECS}s each" \
    CONNS=$CONNS "$TOOLS/bench-charts.sh" "$OUT" "$OUT/$STAMP" $servers

# get ID WORKLOAD COLUMN: from medians-ID.tsv (2 rps, 3 p50, 4 p99,
# 5 errors, 6 cpu_us)
get() { awk -v w="$2" -v f="$3" '$1 == w {print $f}' "$OUT/medians-$1.tsv"; }

# ratio A B [DIGITS]: A / B, or "–" without a B
ratio() {
    if [ -z "$2" ] || [ "$(echo "$2 == 0" | bc)" = 1 ]; then
        echo "–"
    else
        printf "%.${3:-2}f" "$(echo "scale=4; $1 / $2" | bc)"
    fi
}

pct() { echo "$(echo "scale=0; 100 * $1 / ${2:-1}" | bc)%"; }

pkg() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo '?'; }

peers=${servers#ngx}
elapsed=$((SECONDS - t0))

{
    printf '# make bench: ngx_backend'
    for s in $peers; do printf ', %s' "${label[$s]}"; done
    echo "; one run"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'); the run took $((elapsed / 60)) min $((elapsed % 60)) s."
    echo
    echo "## Machine"
    echo
    echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
    echo "  ($(lscpu | sed -n 's/^Thread(s) per core: *//p') thread(s) per core); RAM $(free -h | awk '/^Mem:/ {print $2}')"
    echo "- kernel $(uname -sr), Debian $(cat /etc/debian_version 2>/dev/null || echo '?')"
    echo "- load average (1, 5, 15 min) before the run: $load_start; after: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- nginx $("$NGINX_BIN" -v 2>&1 | sed 's|.*/||'), PostgreSQL $(psql_bench -At -c 'SHOW server_version' | cut -d' ' -f1), wrk $(pkg wrk)"
    echo "  (2 threads), Redis $(pkg redis-server)"
    echo "- wrk, the servers and PostgreSQL share the cores: every figure is"
    echo "  \"this whole box saturated\"; compare within one run"
    echo
    echo "## Servers"
    echo
    echo "- ngx_backend ($(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')): $WORKERS workers, backend_pg max=$NGX_POOL pipeline=$PIPELINE per worker"
    echo "  ($((WORKERS * NGX_POOL)) Postgres connections), token cache and session context in a"
    echo "  shared zone (32m, ttl 60 s) + Redis, metrics and the JSON access log on, sampled"
    echo "  (backend_log_sample 1% slow=250ms; bench/nginx.conf.in, tools/bench-conf.sh)"
    for s in $peers; do
        case $s in
        openresty)
            echo "- OpenResty peer: nginx + lua-nginx-module $(pkg libnginx-mod-http-lua), LuaJIT $(pkg libluajit2-5.1-2),"
            echo "  lua-resty-core $(pkg lua-resty-core), pgmoon (vendored); $WORKERS workers, PG_POOL=$OPENRESTY_POOL per worker"
            echo "  ($((WORKERS * OPENRESTY_POOL)) Postgres connections, unnamed statements), verified-token cache"
            echo "  10,000 per worker, session context in a shared dict (32m, ttl 60 s),"
            echo "  access log off (../shared/bench/peer-openresty, run.sh)" ;;
        bun)
            echo "- Bun peer: Bun $("$BENCH/peer-bun/node_modules/.bin/bun" --version 2>/dev/null || echo '?'), $WORKERS processes, postgres-js pool"
            echo "  $BUN_POOL per process ($((WORKERS * BUN_POOL)) Postgres connections), Drizzle prepared statements"
            echo "  (DRIZZLE_PREPARE=1), RS256 verified on every request, session context cached"
            echo "  per process for 60 s (../shared/bench/peer-bun)" ;;
        esac
    done
    echo "- run as: SECS=$SECS REPS=$REPS CONNS=$CONNS WARMUP=$WARMUP SWEEP=\"$SWEEP\" SWEEP_SECS=$SWEEP_SECS"
    echo "  WORKERS=$WORKERS NGX_POOL=$NGX_POOL PIPELINE=$PIPELINE OPENRESTY_POOL=$OPENRESTY_POOL BUN_POOL=$BUN_POOL"
    echo "  PGBENCH_CLIENTS=\"$PGBENCH_CLIENTS\" PEERS=\"${peers# }\" make bench"
    echo "- per workload: ${WARMUP}s warm-up, median of $REPS runs of ${SECS}s at $CONNS"
    echo "  connections (as suite.sh runs them); VACUUM ANALYZE before each server's"
    echo "  runs; errors: non-2xx responses and socket errors, summed over the runs"
    echo "- CPU µs/req: the utime + stime of the server's workers (nginx's"
    echo "  workers, the Bun processes; /proc/PID/stat, clock ticks of"
    echo "  $((1000 / hz)) ms) over each measured run, per request wrk made; median"
    echo
    echo "## Workloads ($CONNS connections)"
    echo
    echo "![throughput and p99 per workload]($STAMP-workloads.svg)"
    echo
    printf '| workload |'
    for s in $servers; do printf ' %s rps | p50 ms | p99 ms | errors | CPU µs/req |' "${label[$s]%% *}"; done
    echo
    printf '|---|'
    for s in $servers; do printf -- '---:|---:|---:|---:|---:|'; done
    echo
    for w in $WORKLOADS; do
        printf '| %s |' "$w"
        for s in $servers; do
            printf ' %s | %s | %s | %s | %s |' "$(get "$s" "$w" 2)" \
                "$(get "$s" "$w" 3)" "$(get "$s" "$w" 4)" \
                "$(get "$s" "$w" 5)" "$(get "$s" "$w" 6)"
        done
        echo
    done
    echo
    echo "ngx_backend against each peer (rps: × the peer's; p99 and CPU per"
    echo "request: the fraction of the peer's), and against its ceilings:"
    echo
    printf '| workload |'
    for s in $peers; do printf ' rps ÷ %s |' "${label[$s]%% *}"; done
    for s in $peers; do printf ' p99 ÷ %s |' "${label[$s]%% *}"; done
    for s in $peers; do printf ' CPU ÷ %s |' "${label[$s]%% *}"; done
    echo ' of ceiling |'
    printf '|---|'
    for s in $peers $peers $peers; do printf -- '---:|'; done
    echo '---:|'
    for w in $WORKLOADS; do
        r=$(get ngx "$w" 2)
        # W1, W3, W4: from the alternating runs; W2, W5: this suite's
        # median against the return-200 ceiling, minutes apart
        case $w in
            w1*) of="$(pct "$w1_alt" "$ngx_ceiling") ¹" ;;
            w3*) of="$(pct "$w3_alt" "$pg_w3") ¹" ;;
            w4*) of="$(pct "$w4_alt" "$pg_w4") ¹" ;;
            *) of="$(pct "$r" "$ngx_ceiling") ²" ;;
        esac
        printf '| %s |' "$w"
        for s in $peers; do printf ' %s× |' "$(ratio "$r" "$(get "$s" "$w" 2)")"; done
        for s in $peers; do
            printf ' %s |' "$(ratio "$(get ngx "$w" 4)" "$(get "$s" "$w" 4)")"
        done
        for s in $peers; do
            printf ' %s |' "$(ratio "$(get ngx "$w" 6)" "$(get "$s" "$w" 6)")"
        done
        echo " $of |"
    done
    echo
    echo "¹ of the ceiling in $REPS runs alternating with this workload's (medians):"
    echo "W1 $w1_alt rps (p99 $w1_alt_p99 ms) against nginx \`return 200\` $ngx_ceiling rps (p99 $ngx_ceiling_p99 ms);"
    echo "W3 $w3_alt rps against pgbench -M prepared running its statement $pg_w3 tps ($pg_w3_c clients);"
    echo "W4 $w4_alt rps against pgbench running its statement $pg_w4 tps ($pg_w4_c clients)"
    echo "(bench/pgbench/; the best of $(echo "$PGBENCH_CLIENTS" | sed 's/ /, /g') clients).  ² this suite's median against"
    echo "that \`return 200\` median, measured minutes apart: indicative only, the VM's speed drifts."
    echo
    printf 'Peak RSS under load (server and all its processes):'
    sep=' '
    for s in $servers; do
        printf '%s%s %s MB' "$sep" "${label[$s]}" \
            "$(( $(cat "$OUT/rss-$s" 2>/dev/null || echo 0) / 1024 ))"
        sep=', '
    done
    echo "."
    case " $servers " in
    *" openresty "*)
        echo
        echo "The OpenResty peer's error log: $(grep -cE '\[(error|alert|crit|emerg)\]' \
            "$tmp/openresty/error.log" || true) lines at [error] or worse." ;;
    esac
    echo
    echo "## Connection sweep (W2, W3; ${SWEEP_SECS}s each)"
    echo
    echo "![throughput and p99 against connections]($STAMP-sweep.svg)"
    echo
    printf '| connections | workload |'
    for s in $servers; do printf ' %s rps | p99 ms | errors |' "${label[$s]%% *}"; done
    echo
    printf '|---:|---|'
    for s in $servers; do printf -- '---:|---:|---:|'; done
    echo
    for c in $SWEEP; do
        for w in w2-me w3-sessions; do
            printf '| %s | %s |' "$c" "$w"
            for s in $servers; do
                awk -v s="$s" -v c="$c" -v w="$w" \
                    '$1 == s && $2 == c && $3 == w {
                         printf " %s | %s | %s |", $4, $5, $6 }' \
                    "$OUT/sweep.txt"
            done
            echo
        done
    done
} >"$OUT/summary.md"

cat "$OUT/summary.md"

if [ -z "${QUICK:-}" ]; then
    mkdir -p "$ROOT/bench/results"
    cp "$OUT/summary.md" "$ROOT/bench/results/$STAMP.md"
    cp "$OUT/$STAMP-workloads.svg" "$OUT/$STAMP-sweep.svg" "$ROOT/bench/results/"
    echo "bench: bench/results/$STAMP.md, $STAMP-workloads.svg, $STAMP-sweep.svg"
fi
phase "done"
