#!/usr/bin/env bash
# A private PostgreSQL cluster on 127.0.0.1, for make run and make test.
#
#   tools/pg.sh start DIR PORT   initdb DIR/data if needed, start on PORT
#   tools/pg.sh stop DIR         fast shutdown (no error if not running)
#   tools/pg.sh status DIR       pg_ctl status (exit 0 = running)
#
# Cluster in DIR/data, server log in DIR/postgres.log, unix socket in
# DIR/data (so nothing is written to /var/run/postgresql).  Superuser
# "postgres", trust authentication, loopback only: connect with
#   psql -h 127.0.0.1 -p PORT -U postgres
#
# env: PG_EPHEMERAL=1  fsync, synchronous_commit and full_page_writes off
#                      (throwaway test clusters only: a crash loses data)
#      PGBIN           server binaries (default: newest /usr/lib/postgresql/*/bin)
#
# initdb and postgres refuse to run as root, so as root the server binaries
# run as the "postgres" system user (created by the postgresql package) and
# DIR is chowned to it.  That user must be able to traverse every parent of
# DIR: a checkout under /root is not reachable (/root is 0700).  The callers
# choose such places (tools/test.sh: /tmp; tools/run.sh: .run/pg, or a
# directory under /var/lib/postgresql linked from there).
set -euo pipefail

usage() { echo "usage: tools/pg.sh start DIR PORT | stop DIR | status DIR" >&2; exit 2; }

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || usage

if [ -z "${PGBIN:-}" ]; then
    PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$PGBIN" ] || { echo "pg.sh: no /usr/lib/postgresql/*/bin: apt-get install postgresql" >&2; exit 1; }
fi

as_pg() {
    # from /: the caller's directory may not be readable by postgres
    if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

running() {
    [ -f "$data/PG_VERSION" ] && as_pg "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1
}

case "$cmd" in
start)
    port=${3:-}
    [ -n "$port" ] || usage
    mkdir -p "$dir"
    dir=$(cd -P "$dir" && pwd)
    data=$dir/data
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$dir"
        chmod 0750 "$dir"
        if ! runuser -u postgres -- test -w "$dir"; then
            echo "pg.sh: user postgres cannot reach $dir (a parent directory is not" >&2
            echo "       traversable by others); use a directory under /tmp or chmod o+x the parents" >&2
            exit 1
        fi
    fi

    if running; then
        cur=$(sed -n 4p "$data/postmaster.pid" 2>/dev/null || true)
        if [ -n "$cur" ] && [ "$cur" != "$port" ]; then
            echo "pg.sh: cluster in $data already runs on port $cur, not $port" >&2
            exit 1
        fi
        echo "postgres already running: postgres://postgres@127.0.0.1:$port/"
        exit 0
    fi

    if [ ! -f "$data/PG_VERSION" ]; then
        rm -rf "$data"
        as_pg "$PGBIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 \
            --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
            cat "$dir/initdb.log" >&2
            exit 1
        }
        cat >>"$data/postgresql.conf" <<CONF

# tools/pg.sh
listen_addresses = '127.0.0.1'
unix_socket_directories = '$data'
max_connections = 200
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
CONF
    fi

    opts="-p $port"
    if [ "${PG_EPHEMERAL:-0}" = 1 ]; then
        opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    fi

    if ! as_pg "$PGBIN/pg_ctl" -D "$data" -l "$dir/postgres.log" -o "$opts" \
            -w -t 60 start >/dev/null; then
        echo "pg.sh: postgres did not start; $dir/postgres.log:" >&2
        tail -n 20 "$dir/postgres.log" >&2 || true
        exit 1
    fi
    echo "postgres started: postgres://postgres@127.0.0.1:$port/ (data $data)"
    ;;

stop)
    [ -d "$dir" ] || { echo "postgres not running (no $dir)"; exit 0; }
    dir=$(cd -P "$dir" && pwd)
    data=$dir/data
    if running; then
        as_pg "$PGBIN/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
        echo "postgres stopped ($data)"
    else
        echo "postgres not running ($data)"
    fi
    ;;

status)
    [ -d "$dir" ] || { echo "no cluster in $dir"; exit 4; }
    dir=$(cd -P "$dir" && pwd)
    data=$dir/data
    [ -f "$data/PG_VERSION" ] || { echo "no cluster in $data"; exit 4; }
    as_pg "$PGBIN/pg_ctl" -D "$data" status
    ;;

*)
    usage
    ;;
esac
