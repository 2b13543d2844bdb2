#!/usr/bin/env bash
# make reload: what changed in conf/ (a procedure, a schema, a directive)
# into the nginx that make run serves, without stopping it:
#   1. conf/schemas/*.mjs exported to their JSON Schemas (make schemas),
#   2. .run/nginx.conf rendered again from conf/nginx.dev.conf.in, with
#      the ports make run was started with (.run/run.env),
#   3. nginx -t on it: a configuration that does not load is reported
#      (file and line) and the running nginx keeps the old one,
#   4. the reload signal to make run's master (its pid file is
#      .run/nginx/logs/nginx.pid, which is why a bare "nginx -s reload",
#      looking for /run/nginx.pid, fails), then a wait until the new
#      workers answer (10 s at most).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN=${RUN_DIR:-$ROOT/.run}
TOOLS=$ROOT/tools
NGINX=${NGINX:-/usr/sbin/nginx}
export -n NGINX

die() { echo "reload: $*" >&2; exit 1; }

[ -f "$RUN/run.env" ] || die "no $RUN/run.env: start the backend with make run first"
# shellcheck disable=SC1091
. "$RUN/run.env"

pidfile=$RUN/nginx/logs/nginx.pid
master=$(cat "$pidfile" 2>/dev/null || true)
[ -n "$master" ] && kill -0 "$master" 2>/dev/null \
    || die "make run is not running (no live master in $pidfile)"

node "$ROOT/tools/schemas.mjs" "$ROOT/conf/schemas"

RUN=$RUN MODULE=$MODULE PORT=$PORT METRICS_PORT=$METRICS_PORT \
    PG_PORT=$PG_PORT REDIS_PORT=$REDIS_PORT LEGACY_URL=${LEGACY_URL:-} \
    "$TOOLS/run-conf.sh" \
    >"$RUN/nginx.conf.new"

nginx_cmd=("$NGINX" -p "$RUN/nginx" -e "$RUN/nginx/logs/error.log")
if ! "${nginx_cmd[@]}" -c "$RUN/nginx.conf.new" -t -q 2>"$RUN/nginx-t.log"; then
    cat "$RUN/nginx-t.log" >&2
    rm -f "$RUN/nginx.conf.new"
    die "the new configuration does not load: nginx keeps serving the old one"
fi
mv -f "$RUN/nginx.conf.new" "$RUN/nginx.conf"

old=$(pgrep -P "$master" | sort | tr '\n' ' ')
"${nginx_cmd[@]}" -c "$RUN/nginx.conf" -s reload

# the reload is done when the master has started new workers and they answer
for _ in $(seq 1 100); do
    new=$(pgrep -P "$master" | sort | tr '\n' ' ')
    if [ "$new" != "$old" ] \
       && curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz"; then
        echo "reload: nginx (pid $master) serves the new configuration"
        exit 0
    fi
    sleep 0.1
done

tail -n 5 "$RUN/nginx/logs/error.log" >&2 || true
die "nginx did not start new workers within 10 s ($RUN/nginx/logs/error.log)"
