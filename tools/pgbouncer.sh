#!/usr/bin/env bash
# A private PgBouncer on 127.0.0.1 in front of a tools/pg.sh cluster, for
# tests of the deployment behind a transaction pooler (docs/deployment.md).
#
#   tools/pgbouncer.sh start DIR PORT PG_PORT   config in DIR, daemonized
#   tools/pgbouncer.sh stop DIR                 stop it (no error if not running)
#   tools/pgbouncer.sh status DIR               exit 0 when it runs
#
# Every database of the cluster on 127.0.0.1:PG_PORT, as user "postgres",
# auth_type trust (the throwaway cluster trusts loopback too; PgBouncer
# still wants the user in its auth_file), pool_mode transaction, a small
# server pool: POOL_SIZE connections per database and user (default 2).
# The admin console is database "pgbouncer" (SHOW POOLS, SHOW SERVERS).
# Log in DIR/pgbouncer.log.
#
# PgBouncer refuses to run as root: as root it runs as the "postgres"
# system user (the one tools/pg.sh runs the cluster as), and DIR is
# chowned to it; DIR's parents must be traversable by that user.
set -euo pipefail

usage() { echo "usage: tools/pgbouncer.sh start DIR PORT PG_PORT | stop DIR | status DIR" >&2; exit 2; }

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || usage

pid_of() {
    local pid
    pid=$(cat "$dir/pgbouncer.pid" 2>/dev/null || true)
    # only a pgbouncer of ours: the pid file may be stale
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null \
       && grep -q pgbouncer "/proc/$pid/cmdline" 2>/dev/null; then
        echo "$pid"
    fi
}

case "$cmd" in
start)
    port=${3:-}
    pg_port=${4:-}
    [ -n "$port" ] && [ -n "$pg_port" ] || usage
    command -v pgbouncer >/dev/null || { echo "pgbouncer.sh: no pgbouncer: apt-get install pgbouncer" >&2; exit 1; }
    mkdir -p "$dir"
    dir=$(cd -P "$dir" && pwd)
    if [ -n "$(pid_of)" ]; then
        echo "pgbouncer already running (pid $(pid_of), $dir)"
        exit 0
    fi
    rm -f "$dir/pgbouncer.pid"

    cat >"$dir/userlist.txt" <<'USERS'
"postgres" ""
USERS
    cat >"$dir/pgbouncer.ini" <<INI
; tools/pgbouncer.sh
[databases]
* = host=127.0.0.1 port=$pg_port

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = postgres
pool_mode = transaction
default_pool_size = ${POOL_SIZE:-2}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 500
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
log_connections = 1
log_disconnections = 1
INI

    user=()
    if [ "$(id -u)" = 0 ]; then
        chown -R postgres: "$dir"
        if ! runuser -u postgres -- test -w "$dir"; then
            echo "pgbouncer.sh: user postgres cannot reach $dir; use a directory under /tmp" >&2
            exit 1
        fi
        user=(-u postgres)
    fi

    # from /: the caller's directory may not be readable by postgres
    if ! (cd / && pgbouncer -d "${user[@]}" "$dir/pgbouncer.ini") 2>"$dir/start.err"; then
        echo "pgbouncer.sh: pgbouncer did not start:" >&2
        cat "$dir/start.err" "$dir/pgbouncer.log" >&2 2>/dev/null || true
        exit 1
    fi

    for _ in $(seq 1 100); do
        if [ -n "$(pid_of)" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "pgbouncer started: postgres://postgres@127.0.0.1:$port/ ($dir)"
            exit 0
        fi
        sleep 0.1
    done
    echo "pgbouncer.sh: pgbouncer did not listen on port $port; $dir/pgbouncer.log:" >&2
    tail -n 20 "$dir/pgbouncer.log" >&2 || true
    exit 1
    ;;

stop)
    [ -d "$dir" ] || { echo "pgbouncer not running (no $dir)"; exit 0; }
    dir=$(cd -P "$dir" && pwd)
    pid=$(pid_of)
    if [ -z "$pid" ]; then
        echo "pgbouncer not running ($dir)"
        exit 0
    fi
    # SIGTERM: immediate shutdown (SIGINT would wait for clients to leave);
    # SIGKILL after 5 s: a throwaway pooler must not outlive its test
    kill -TERM "$pid"
    for i in $(seq 1 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "pgbouncer stopped ($dir)"
            exit 0
        fi
        [ "$i" = 50 ] && kill -KILL "$pid" 2>/dev/null
        sleep 0.1
    done
    echo "pgbouncer.sh: pid $pid did not stop" >&2
    exit 1
    ;;

status)
    [ -n "$(pid_of)" ]
    ;;

*)
    usage
    ;;
esac
