#!/usr/bin/env bash
# make bench-legacy: what the fall-through to a legacy tRPC server and the
# shadow comparison cost (issue 16), with ../shared/bench/peer-bun (the Bun
# + Hono + tRPC stack) as the legacy server, in one run:
#
#  1. fall-through: user.me (not declared here) straight to the peer and
#     through nginx's backend_rpc_legacy, at a fixed offered load below
#     saturation (CONNS connections, each a request every PACE_MS):
#     p50 and p99 of both, and what nginx adds; then unpaced, nginx's
#     worker CPU per fall-through call (utime+stime from /proc).
#  2. shadow: health answered by nginx, without and with
#     "backend_rpc_shadow health rate=1", at the same fixed load: the
#     client's p50 and p99 with the shadow on against off; then unpaced,
#     the shadow calls matched and dropped by max= (SHADOW_MAX).
#
# Rounds alternate the order of the two sides; medians are reported.
# env: SECS (8) REPS (3) CONNS (16) PACE_MS (10) WORKERS (2) SHADOW_MAX (32)
#      OUT (output directory)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=$ROOT/tools
BENCH=$(cd "${BENCH_DIR:-$ROOT/../shared/bench}" && pwd)
MODULE=${MODULE:-$ROOT/.build/nginx/ngx_http_backend_module.so}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
SECS=${SECS:-8} REPS=${REPS:-3} CONNS=${CONNS:-16} PACE_MS=${PACE_MS:-10}
WORKERS=${WORKERS:-2} SHADOW_MAX=${SHADOW_MAX:-32}

die() { echo "bench-legacy: $*" >&2; exit 1; }

[ -f "$MODULE" ] || die "no $MODULE: make build first"
command -v wrk >/dev/null || die "no wrk (make deps installs it)"

OUT=${OUT:-$(mktemp -d /tmp/bench-legacy.XXXXXX)}
mkdir -p "$OUT"
chmod 755 "$OUT"
BENCH_TMP=$OUT/run
mkdir -p "$BENCH_TMP/nginx/logs"
chmod 755 "$BENCH_TMP"

. "$TOOLS/bench-lib.sh"

peer_pid=
stop_all() {
    [ -z "$peer_pid" ] || { kill "$peer_pid" 2>/dev/null || true; wait "$peer_pid" 2>/dev/null || true; }
    "$NGINX_BIN" -p "$BENCH_TMP/nginx" -c "$BENCH_TMP/nginx.conf" -s stop 2>/dev/null || true
    bench_stop_all
}
trap stop_all EXIT

hz=$(getconf CLK_TCK)
workers_cpu() {
    local p t=0
    for p in $(pgrep -P "$(cat "$BENCH_TMP/nginx/logs/nginx.pid")"); do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    echo "$t"
}

export BENCH_DIR=$BENCH
BENCH_TOKENS=$("$BENCH/workload/tokens.sh")
export BENCH_TOKENS

bench_start_pg "$("$TOOLS/free-port.sh")"
peer_port=$("$TOOLS/free-port.sh")
port=$("$TOOLS/free-port.sh")

( cd "$BENCH/peer-bun" && [ -d node_modules ] || npm ci --no-audit --no-fund >/dev/null 2>&1 )
DATABASE_URL="postgres://postgres@127.0.0.1:$bench_pg_port/bench" \
PORT=$peer_port WORKERS=$WORKERS PG_POOL=4 \
    "$BENCH/peer-bun/start.sh" >"$OUT/peer.log" 2>&1 &
peer_pid=$!
bench_wait_up "http://127.0.0.1:$peer_port"

sed -e "s|@PREFIX@|$BENCH_TMP/nginx|g" -e "s|@MODULE@|$MODULE|g" \
    -e "s|@PORT@|$port|g" -e "s|@PG_PORT@|$bench_pg_port|g" \
    -e "s|@PEER_PORT@|$peer_port|g" -e "s|@WORKERS@|$WORKERS|g" \
    -e "s|@SHADOW_MAX@|$SHADOW_MAX|g" \
    "$ROOT/bench/legacy/nginx.conf.in" >"$BENCH_TMP/nginx.conf"
"$NGINX_BIN" -p "$BENCH_TMP/nginx" -c "$BENCH_TMP/nginx.conf" \
    -e "$BENCH_TMP/nginx/logs/error.log"
bench_wait_up "http://127.0.0.1:$port"

# run URL PATH TOKENS PACE: one wrk run, its RESULT line's fields
run() {
    REQ_PATH=$2 REQ_TOKENS=$3 PACE_MS=$4 \
        wrk -t2 -c"$CONNS" -d"${SECS}s" --timeout 5s \
            -s "$ROOT/bench/legacy/paced.lua" "$1" | grep '^RESULT ' \
        | sed 's/^RESULT //'
}
field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k {print $2}'; }

peer=http://127.0.0.1:$peer_port
ngx=http://127.0.0.1:$port
res=$OUT/results.tsv
: >"$res"

# warm both sides (token verification, context caches, keepalive pools)
run "$peer" /trpc/user.me 1 0 >/dev/null
run "$ngx" /trpc/user.me 1 0 >/dev/null
run "$ngx" /trpc-shadow/health 0 0 >/dev/null

for ((round = 1; round <= REPS; round++)); do
    if [ $((round % 2)) = 1 ]; then a=direct b=legacy; else a=legacy b=direct; fi
    for side in $a $b; do
        case $side in
        direct) r=$(run "$peer" /trpc/user.me 1 "$PACE_MS") ;;
        legacy) r=$(run "$ngx" /trpc/user.me 1 "$PACE_MS") ;;
        esac
        printf 'fall\t%s\t%s\t%s\t%s\n' "$side" "$(field "$r" p50_ms)" \
            "$(field "$r" p99_ms)" "$(field "$r" non2xx)" | tee -a "$res"
    done
    c0=$(workers_cpu)
    r=$(run "$ngx" /trpc/user.me 1 0)
    c1=$(workers_cpu)
    n=$(field "$r" requests)
    printf 'cpu\tlegacy\t%s\t%s\t%s\n' \
        "$(echo "scale=2; ($c1 - $c0) * 1000000 / $hz / $n" | bc)" \
        "$(field "$r" rps)" "$(field "$r" non2xx)" | tee -a "$res"

    if [ $((round % 2)) = 1 ]; then a=off b=on; else a=on b=off; fi
    for side in $a $b; do
        case $side in
        off) r=$(run "$ngx" /trpc/health 0 "$PACE_MS") ;;
        on) r=$(run "$ngx" /trpc-shadow/health 0 "$PACE_MS") ;;
        esac
        printf 'shadow\t%s\t%s\t%s\t%s\n' "$side" "$(field "$r" p50_ms)" \
            "$(field "$r" p99_ms)" "$(field "$r" non2xx)" | tee -a "$res"
    done
done

# unpaced, the shadow's cap at work
curl -s "$ngx/metrics" | grep '^backend_shadow_calls_total' >"$OUT/shadow-before.txt" || true
r=$(run "$ngx" /trpc-shadow/health 0 0)
curl -s "$ngx/metrics" | grep '^backend_shadow_calls_total' >"$OUT/shadow-after.txt" || true

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
col() { awk -v k="$1" -v s="$2" -v c="$3" '$1 == k && $2 == s {print $c}' "$res" | median; }

echo
echo "fall-through (user.me, the peer's), $CONNS connections, a request every ${PACE_MS} ms each, ${SECS}s, median of $REPS"
printf '| path | p50 ms | p99 ms |\n|---|---:|---:|\n'
printf '| client -> peer | %s | %s |\n' "$(col fall direct 3)" "$(col fall direct 4)"
printf '| client -> nginx -> peer | %s | %s |\n' "$(col fall legacy 3)" "$(col fall legacy 4)"
printf 'added at p50: %.2f ms\n' "$(echo "$(col fall legacy 3) - $(col fall direct 3)" | bc)"
printf 'nginx worker CPU per fall-through call, unpaced: %s us (%s rps)\n' \
    "$(col cpu legacy 3)" "$(col cpu legacy 4)"
echo
echo "shadow (health answered by nginx; on: every call also to the peer), same load"
printf '| shadow | p50 ms | p99 ms |\n|---|---:|---:|\n'
printf '| off | %s | %s |\n' "$(col shadow off 3)" "$(col shadow off 4)"
printf '| on | %s | %s |\n' "$(col shadow on 3)" "$(col shadow on 4)"
echo "unpaced, $CONNS connections: $(field "$r" rps) rps; backend_shadow_calls_total during that run:"
join -a2 <(sed 's/ /\t/' "$OUT/shadow-before.txt" | sort) \
         <(sed 's/ /\t/' "$OUT/shadow-after.txt" | sort) 2>/dev/null \
    | awk '{ if (NF == 3) d = $3 - $2; else d = $2; print "  " $1 " " d }'
