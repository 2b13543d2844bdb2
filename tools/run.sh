#!/usr/bin/env bash
# make run: the backend on this machine, with its own Postgres and Redis.
#
#   .run/pg      Postgres cluster (127.0.0.1:$PG_PORT, default 54329), database
#                "app", migrated (tools/db-push.sh) and seeded (tools/seed.sql)
#   .run/redis   Redis (127.0.0.1:$REDIS_PORT, default 63799), snapshots on
#   .run/nginx   nginx prefix: logs/error.log, logs/access.log
#   .run/nginx.conf   rendered from conf/nginx.dev.conf.in
#
# Everything under .run/ is kept between runs.  nginx runs in the
# foreground (port $PORT, default 8080); Ctrl-C or TERM stops it, and the
# Postgres and Redis this script started (not ones that were running).
#
# env: MODULE (default .build/nginx/ngx_http_backend_module.so), PORT,
#      METRICS_PORT (default 9145, loopback: /metrics),
#      PG_PORT, REDIS_PORT, NGINX (default /usr/sbin/nginx),
#      LEGACY_URL (a legacy tRPC server for the procedures not declared
#      here, and the shadow comparison: docs/migrating.md)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN=$ROOT/.run
TOOLS=$ROOT/tools
MODULE=${MODULE:-$ROOT/.build/nginx/ngx_http_backend_module.so}
NGINX=${NGINX:-/usr/sbin/nginx}
# nginx reads NGINX from its environment as inherited listen sockets
export -n NGINX
PORT=${PORT:-8080}
METRICS_PORT=${METRICS_PORT:-9145}
PG_PORT=${PG_PORT:-54329}
REDIS_PORT=${REDIS_PORT:-63799}

die() { echo "run: $*" >&2; exit 1; }

[ -f "$MODULE" ] || die "no $MODULE: make build first"
[ -f "$ROOT/conf/procedures.conf" ] || {
    # the procedures come from the lead's conf/procedures.conf; an empty
    # placeholder keeps the include valid until it exists
    echo "# procedures of the application (backend_procedure blocks)" \
        >"$ROOT/conf/procedures.conf"
}

mkdir -p "$RUN" "$RUN/nginx/logs" "$RUN/redis"

# an nginx left over by an earlier run that did not get to clean up
pidfile=$RUN/nginx/logs/nginx.pid
old=$(cat "$pidfile" 2>/dev/null || true)
if [ -n "$old" ] && kill -0 "$old" 2>/dev/null \
   && tr '\0' ' ' <"/proc/$old/cmdline" 2>/dev/null | grep -q -- "$RUN/nginx.conf"; then
    echo "run: stopping the nginx of an earlier run (pid $old)"
    kill -TERM "$old" || true
    for _ in $(seq 1 50); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
fi

port_free() {
    "$TOOLS/free-port.sh" "$2" \
        || die "port $2 is in use by another program: $1=<port> make run"
}
port_free PORT "$PORT"
port_free METRICS_PORT "$METRICS_PORT"

# Postgres runs as user "postgres" when we are root, and that user must be
# able to traverse every parent of its data directory.  A checkout under
# /work or /home usually is; one under /root (0700) is not, and chmod'ing
# /root would be worse than the problem.  So: .run/pg itself when postgres
# can reach .run, else a directory under postgres' home
# (/var/lib/postgresql/ngx-backend/<hash of this checkout's path>) with
# .run/pg a symlink to it.  Decided once; an existing .run/pg is kept.
if [ ! -e "$RUN/pg" ] && [ ! -L "$RUN/pg" ]; then
    if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$RUN"; then
        home=$(getent passwd postgres | cut -d: -f6)
        alt=${home:-/var/lib/postgresql}/ngx-backend/$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)
        mkdir -p "$alt"
        chown postgres: "$(dirname "$alt")" "$alt"
        ln -s "$alt" "$RUN/pg"
        echo "run: .run/pg -> $alt (user postgres cannot reach $RUN)"
    else
        mkdir -p "$RUN/pg"
    fi
fi

started_pg=0
started_redis=0
nginx_pid=

cleanup() {
    trap - EXIT INT TERM
    echo
    if [ -n "$nginx_pid" ] && kill -0 "$nginx_pid" 2>/dev/null; then
        kill -TERM "$nginx_pid" 2>/dev/null || true
        wait "$nginx_pid" 2>/dev/null || true
        echo "nginx stopped"
    fi
    [ "$started_redis" = 0 ] || "$TOOLS/redis.sh" stop "$RUN/redis" || true
    [ "$started_pg" = 0 ] || "$TOOLS/pg.sh" stop "$RUN/pg" || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Postgres and Redis: start them unless already running (then leave them)
if "$TOOLS/pg.sh" status "$RUN/pg" >/dev/null 2>&1; then
    echo "postgres already running ($RUN/pg): left running at exit"
    "$TOOLS/pg.sh" start "$RUN/pg" "$PG_PORT" >/dev/null   # checks the port
else
    port_free PG_PORT "$PG_PORT"
    "$TOOLS/pg.sh" start "$RUN/pg" "$PG_PORT"
    started_pg=1
fi

if "$TOOLS/redis.sh" status "$RUN/redis" >/dev/null 2>&1; then
    echo "redis already running ($RUN/redis): left running at exit"
else
    port_free REDIS_PORT "$REDIS_PORT"
    REDIS_PERSIST=1 "$TOOLS/redis.sh" start "$RUN/redis" "$REDIS_PORT"
    started_redis=1
fi

psql_pg() {
    PGOPTIONS='-c client_min_messages=warning' \
        psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"
}

created=0
if [ -z "$(psql_pg -d postgres -At -c "SELECT 1 FROM pg_database WHERE datname = 'app'")" ]; then
    psql_pg -d postgres -c 'CREATE DATABASE app'
    echo "database app created"
    created=1
fi

export DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/app
"$TOOLS/db-push.sh"

# the demo data goes into a new database only: what was changed by hand
# (a role, a session) stays from one run to the next
if [ "$created" = 1 ]; then
    psql_pg -d app -f "$TOOLS/seed.sql"
    echo "demo data: $(psql_pg -d app -At -c "SELECT count(*) || ' users, ' || (SELECT count(*) FROM mentorado_sessions) || ' sessions' FROM users")"
else
    echo "database app kept as it was (demo data not loaded again: make seed does it)"
fi

# the dev key pair that the dev config trusts and "make token" signs with
node "$TOOLS/dev-keys.mjs" "$RUN/keys"

# what make reload needs to render the same configuration again
cat >"$RUN/run.env" <<ENV
MODULE='$MODULE'
PORT='$PORT'
METRICS_PORT='$METRICS_PORT'
PG_PORT='$PG_PORT'
REDIS_PORT='$REDIS_PORT'
LEGACY_URL='${LEGACY_URL:-}'
ENV

# .run/nginx.conf from conf/nginx.dev.conf.in
RUN=$RUN MODULE=$MODULE PORT=$PORT METRICS_PORT=$METRICS_PORT PG_PORT=$PG_PORT \
    REDIS_PORT=$REDIS_PORT "$TOOLS/run-conf.sh" >"$RUN/nginx.conf.new"
mv -f "$RUN/nginx.conf.new" "$RUN/nginx.conf"

# glibc gives the top of the heap back to the kernel once 128 KB of it is
# free, and an nginx worker's heap swings by more than that between
# requests: each swing faults its pages in again (0.7 page faults a call
# through an adapter, 15% of its worker CPU).  At 1 MB it stays; workers
# inherit the setting from the master (docs/performance.md, What to set)
case ":${GLIBC_TUNABLES:-}:" in
*:glibc.malloc.trim_threshold=*) ;;
*) export GLIBC_TUNABLES="${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.malloc.trim_threshold=1048576" ;;
esac

nginx_cmd=("$NGINX" -p "$RUN/nginx" -c "$RUN/nginx.conf" -e "$RUN/nginx/logs/error.log")
if ! "${nginx_cmd[@]}" -t -q 2>"$RUN/nginx-t.log"; then
    cat "$RUN/nginx-t.log" >&2
    tail -n 5 "$RUN/nginx/logs/error.log" >&2 2>/dev/null || true
    die "the nginx configuration does not load ($RUN/nginx.conf)"
fi

base=127.0.0.1:$PORT
cat <<MSG

ngx_backend on http://$base/trpc/   (Ctrl-C stops nginx, Postgres and Redis)

  curl -s $base/trpc/health
  curl -s '$base/trpc/health,admin.userCount?batch=1&input=%7B%7D'
  curl -s -H 'trpc-accept: application/jsonl' '$base/trpc/health,health?batch=1&input=%7B%7D'
  curl -s '$base/trpc/nope'

  signed in (user 3, a mentorado; 100 is an admin, 1 a plain user):
  T=\$(make -s token ID=3)
  curl -s -H "Authorization: Bearer \$T" $base/trpc/user.me
  curl -s -H "Authorization: Bearer \$T" '$base/trpc/mentorado.sessions.list?input=%7B%22limit%22%3A5%7D'

  psql postgres://postgres@127.0.0.1:$PG_PORT/app
  redis-cli -p $REDIS_PORT
  curl -s $base/healthz; curl -s $base/readyz      (liveness, readiness)
  curl -s 127.0.0.1:$METRICS_PORT/metrics        (Prometheus, loopback only)

  logs: $RUN/nginx/logs/error.log, access.log (JSON, one line a request)

  changed conf/ (a procedure, a schema)?  make reload   (in another shell)

MSG

"${nginx_cmd[@]}" -g 'daemon off;' &
nginx_pid=$!
wait "$nginx_pid" || {
    rc=$?
    nginx_pid=
    echo "run: nginx exited ($rc); $RUN/nginx/logs/error.log:" >&2
    tail -n 10 "$RUN/nginx/logs/error.log" >&2 || true
    exit "$rc"
}
