#!/usr/bin/env bash
# make bench-adapter: what an adapter costs (issue 15): throughput of a
# procedure whose answer is an external API's (backend_adapter, call),
# against a bare proxy_pass to the same API from the same nginx, in one
# run, rounds alternating; and nginx's worker CPU per call of each.  The
# API is a second nginx of one worker on loopback.
#
#   tRPC:  GET /trpc/api.item?input={"id":7}  -> adapter -> API
#   bare:  GET /bare/v1/items/7               -> proxy_pass -> API
#
# env: SECS (8) REPS (3) CONNS (32) WORKERS (2) OUT
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=$ROOT/tools
BENCH=$(cd "${BENCH_DIR:-$ROOT/../shared/bench}" && pwd)
MODULE=${MODULE:-$ROOT/.build/nginx/ngx_http_backend_module.so}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
SECS=${SECS:-8} REPS=${REPS:-3} CONNS=${CONNS:-32} WORKERS=${WORKERS:-2}

die() { echo "bench-adapter: $*" >&2; exit 1; }
[ -f "$MODULE" ] || die "no $MODULE: make build first"
command -v wrk >/dev/null || die "no wrk (make deps installs it)"

OUT=${OUT:-$(mktemp -d /tmp/bench-adapter.XXXXXX)}
mkdir -p "$OUT/run/nginx/logs" "$OUT/run/api/logs"
chmod 755 "$OUT" "$OUT/run"
BENCH_TMP=$OUT/run

. "$TOOLS/bench-lib.sh"

stop_all() {
    "$NGINX_BIN" -p "$BENCH_TMP/nginx" -c "$BENCH_TMP/nginx.conf" -s stop 2>/dev/null || true
    "$NGINX_BIN" -p "$BENCH_TMP/api" -c "$BENCH_TMP/api.conf" -s stop 2>/dev/null || true
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

bench_start_pg "$("$TOOLS/free-port.sh")"
port=$("$TOOLS/free-port.sh")
api_port=$("$TOOLS/free-port.sh")

render() {
    sed -e "s|@PREFIX@|$2|g" -e "s|@MODULE@|$MODULE|g" \
        -e "s|@PORT@|$port|g" -e "s|@API_PORT@|$api_port|g" \
        -e "s|@PG_PORT@|$bench_pg_port|g" -e "s|@WORKERS@|$WORKERS|g" "$1"
}
render "$ROOT/bench/adapter/api.conf.in" "$BENCH_TMP/api" >"$BENCH_TMP/api.conf"
render "$ROOT/bench/adapter/nginx.conf.in" "$BENCH_TMP/nginx" >"$BENCH_TMP/nginx.conf"
"$NGINX_BIN" -p "$BENCH_TMP/api" -c "$BENCH_TMP/api.conf" -e "$BENCH_TMP/api/logs/error.log"
"$NGINX_BIN" -p "$BENCH_TMP/nginx" -c "$BENCH_TMP/nginx.conf" -e "$BENCH_TMP/nginx/logs/error.log"

trpc="http://127.0.0.1:$port/trpc/api.item?input=%7B%22id%22%3A7%7D"
bare="http://127.0.0.1:$port/bare/v1/items/7"
for i in $(seq 1 50); do curl -sf -o /dev/null "$trpc" && break; sleep 0.2; done
curl -sf "$trpc" >"$OUT/trpc.json" || die "the adapter's procedure does not answer: $(curl -s "$trpc")"
curl -sf "$bare" >"$OUT/bare.json" || die "the bare proxy does not answer"
echo "tRPC: $(cat "$OUT/trpc.json")"
echo "bare: $(cat "$OUT/bare.json")"

run() { wrk -t2 -c"$CONNS" -d"${1}s" "$2" | awk '/^Requests\/sec/ {print $2} /requests in/ {n=$1} /Non-2xx/ {e=$NF} END {print n+0, e+0}'; }

res=$OUT/results.tsv
: >"$res"
run 2 "$trpc" >/dev/null
run 2 "$bare" >/dev/null
for ((round = 1; round <= REPS; round++)); do
    if [ $((round % 2)) = 1 ]; then order="bare trpc"; else order="trpc bare"; fi
    for side in $order; do
        url=$bare; [ "$side" = trpc ] && url=$trpc
        c0=$(workers_cpu)
        read -r rps n bad < <(run "$SECS" "$url" | paste -sd' ')
        c1=$(workers_cpu)
        printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$side" "$rps" \
            "$(echo "scale=2; ($c1 - $c0) * 1000000 / $hz / $n" | bc)" "$bad" \
            | tee -a "$res"
    done
done

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
col() { awk -v s="$1" -v c="$2" '$2 == s {print $c}' "$res" | median; }
echo
echo "$CONNS connections, ${SECS}s, median of $REPS rounds, $WORKERS workers"
printf '| path | rps | worker CPU us/call |\n|---|---:|---:|\n'
printf '| bare proxy_pass | %s | %s |\n' "$(col bare 3)" "$(col bare 4)"
printf '| procedure through the adapter | %s | %s |\n' "$(col trpc 3)" "$(col trpc 4)"
printf 'adapter / bare throughput: %.3f\n' "$(echo "scale=4; $(col trpc 3) / $(col bare 3)" | bc)"
