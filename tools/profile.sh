#!/usr/bin/env bash
# Instructions per request (callgrind Ir) of the benchmark's workloads: one
# nginx (master_process off, one worker, the bench configuration) under
# valgrind --tool=callgrind while ../shared/bench/load.sh drives a workload.
# Instruction counts do not depend on the machine's load, so two builds
# compare on a shared machine where timings do not (docs/performance.md,
# "Profile").
#
# Collection starts after a warm-up run of the same workload (tokens
# verified and contexts cached, statements prepared) and stops before
# nginx exits: Ir/req is what a request costs in the steady state, worker
# start and exit excluded.
#
# usage: tools/profile.sh
# env: MODULE (the .so; default this tree's build), VARIANTS ("off":
#      access log and metrics off; "metrics": the metrics zone on; "on":
#      the make bench default, metrics and the JSON access log sampled as
#      a busy node runs it; "full": metrics and every request's line),
#      WORKLOADS (w1 w2 w3 w4 w5), SECS (6: the measured run), WARM (2),
#      OUT (/tmp/profile-$USER: callgrind.out.VARIANT.WORKLOAD, and the
#      inclusive annotation ann.VARIANT.WORKLOAD next to it)
# prints: VARIANT WORKLOAD requests Ir/req
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=$ROOT/tools
BENCH=$(cd "${BENCH_DIR:-$ROOT/../shared/bench}" && pwd)
MODULE=${MODULE:-$ROOT/.build/nginx/ngx_http_backend_module.so}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
OUT=${OUT:-/tmp/profile-$(id -un)}
export WORKERS=1 POOL=2 PIPELINE=16

die() { echo "profile: $*" >&2; exit 1; }
command -v valgrind >/dev/null || die "valgrind is not installed"

mkdir -p "$OUT"
BENCH_TMP=$(mktemp -d "$OUT/run.XXXXXX")
chmod 755 "$OUT" "$BENCH_TMP"
vg_pid=
stop() {
    [ -n "$vg_pid" ] && kill -QUIT "$vg_pid" 2>/dev/null && wait "$vg_pid"
    bench_stop_all
    rm -rf "$BENCH_TMP"
}
. "$TOOLS/bench-lib.sh"
trap stop EXIT

# the workload's key pair and tokens (made once, kept by ../shared/bench)
"$BENCH/workload/tokens.sh" >/dev/null

bench_start_pg "$("$TOOLS/free-port.sh")"
bench_start_redis "$("$TOOLS/free-port.sh")"
port=$("$TOOLS/free-port.sh")
url=http://127.0.0.1:$port
prefix=$BENCH_TMP/nginx
mkdir -p "$prefix/logs"

# workloads outside: every variant's w3 reads the sessions before w4
# rewrites their notes
for wl in ${WORKLOADS:-w1 w2 w3 w4 w5}; do
    for v in ${VARIANTS:-off}; do
        OBS=$(case $v in on | full) echo "$v" ;; *) echo off ;; esac) \
            MODULE=$MODULE \
            BENCH_DIR=$BENCH "$TOOLS/bench-conf.sh" "$prefix" "$port" \
            "$bench_pg_port" "$bench_redis_port" >"$BENCH_TMP/nginx.conf"
        sed -i '1i master_process off; daemon off;' "$BENCH_TMP/nginx.conf"
        [ "$v" = metrics ] \
            && echo "backend_metrics_zone metrics 4m;" >>"$prefix/observability.conf"
        rm -f "$prefix/logs/access.log"

        cg=$OUT/callgrind.out.$v.$wl
        valgrind --tool=callgrind --instr-atstart=no \
                 --callgrind-out-file="$cg" \
                 "$NGINX_BIN" -p "$prefix" -c "$BENCH_TMP/nginx.conf" \
                 -e "$prefix/logs/error.log" 2>"$OUT/valgrind.$v.$wl.log" &
        vg_pid=$!
        bench_wait_up "$url"

        "$BENCH/load.sh" -c 8 -t 1 -d "${WARM:-2}" "$url" "$wl" >/dev/null
        callgrind_control -i on "$vg_pid" >/dev/null 2>&1
        line=$("$BENCH/load.sh" -c 8 -t 1 -d "${SECS:-6}" "$url" "$wl")
        callgrind_control -i off "$vg_pid" >/dev/null 2>&1
        kill -QUIT "$vg_pid"
        wait "$vg_pid" || true
        vg_pid=

        reqs=${line##* }
        case $line in
        *"non2xx 0  sockerr 0 "*) ;;
        *) die "$v $wl: errors during the run: $line" ;;
        esac
        callgrind_annotate --inclusive=yes "$cg" >"$OUT/ann.$v.$wl" 2>/dev/null
        ir=$(awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }' \
                 "$OUT/ann.$v.$wl")
        printf '%-8s %-3s %8s req %8d Ir/req\n' "$v" "$wl" "$reqs" \
               $((ir / reqs))
    done
done
