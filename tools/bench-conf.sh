#!/usr/bin/env bash
# The nginx.conf the benchmark runs (make bench, make bench-check), from
# bench/nginx.conf.in, on standard output.
#
# usage: tools/bench-conf.sh PREFIX PORT PG_PORT REDIS_PORT
# env: MODULE, BENCH_DIR (../shared/bench), WORKERS (2), POOL (2: backend_pg
#      max= per worker), PIPELINE (16: backend_pg pipeline=),
#      WEBHOOK_SECRET (the Svix secret's file for /webhooks/clerk; default
#      PREFIX/webhook-secret, made with a random secret when missing),
#      OBS (on: metrics zone, JSON access log to PREFIX/logs/access.log,
#      buffered and sampled as a busy node runs it (every failure, every
#      request over 250 ms, every trace its caller samples, 1% of the
#      rest: docs/performance.md), and /metrics on 127.0.0.1:METRICS_PORT
#      when set; full: the same with every request's line; off: none of
#      them), written to PREFIX/observability.conf
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$(cd "${BENCH_DIR:-$ROOT/../shared/bench}" && pwd)
MODULE=${MODULE:-$ROOT/.build/nginx/ngx_http_backend_module.so}

[ $# -eq 4 ] || { echo "usage: $0 PREFIX PORT PG_PORT REDIS_PORT" >&2; exit 2; }

secret=${WEBHOOK_SECRET:-$1/webhook-secret}
if [ ! -f "$secret" ]; then
    mkdir -p "$(dirname "$secret")"
    (umask 077 && echo "whsec_$(head -c 24 /dev/urandom | base64)" >"$secret")
fi

mkdir -p "$1"
case ${OBS:-on} in
on | full)
    {
        echo "include $ROOT/conf/log-format.conf;"
        if [ "${OBS:-on}" = on ]; then
            echo "backend_log_sample 1% slow=250ms;"
            echo "access_log $1/logs/access.log backend_json buffer=64k" \
                 "flush=1s if=\$backend_log_sample;"
        else
            echo "access_log $1/logs/access.log backend_json buffer=64k" \
                 "flush=1s;"
        fi
        echo "backend_metrics_zone metrics 4m;"
        if [ -n "${METRICS_PORT:-}" ]; then
            echo "server { listen 127.0.0.1:$METRICS_PORT;"
            echo "         location = /metrics { backend_metrics; } }"
        fi
    } >"$1/observability.conf"
    ;;
off) echo "access_log off;" >"$1/observability.conf" ;;
*) echo "OBS must be on, full or off" >&2; exit 2 ;;
esac

sed -e "s|@PREFIX@|$1|g" -e "s|@MODULE@|$MODULE|g" \
    -e "s|@PORT@|$2|g" -e "s|@PG_PORT@|$3|g" -e "s|@REDIS_PORT@|$4|g" \
    -e "s|@CONF_DIR@|$ROOT/conf|g" -e "s|@KEYS@|$BENCH/workload/keys|g" \
    -e "s|@WORKERS@|${WORKERS:-2}|g" -e "s|@POOL@|${POOL:-2}|g" \
    -e "s|@PIPELINE@|${PIPELINE:-16}|g" -e "s|@WEBHOOK_SECRET@|$secret|g" \
    "$ROOT/bench/nginx.conf.in"
