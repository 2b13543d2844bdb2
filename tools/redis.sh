#!/usr/bin/env bash
# A private Redis on 127.0.0.1, for make run and make test.
#
#   tools/redis.sh start DIR PORT   daemonized redis-server, files in DIR
#   tools/redis.sh stop DIR [PORT]  stop the server whose pid is in DIR/redis.pid
#   tools/redis.sh status DIR       exit 0 when that server runs
#
# No persistence unless REDIS_PERSIST=1 (make run: snapshot DIR/dump.rdb
# every 60 s after a change and at shutdown).
set -euo pipefail

usage() { echo "usage: tools/redis.sh start DIR PORT | stop DIR | status DIR" >&2; exit 2; }

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || usage

pid_of() {
    local pid
    pid=$(cat "$dir/redis.pid" 2>/dev/null || true)
    # only a redis-server of ours: the pid file may be stale
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null \
       && grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null; then
        echo "$pid"
    fi
}

case "$cmd" in
start)
    port=${3:-}
    [ -n "$port" ] || usage
    mkdir -p "$dir"
    dir=$(cd -P "$dir" && pwd)
    if [ -n "$(pid_of)" ]; then
        echo "redis already running (pid $(pid_of), $dir)"
        exit 0
    fi
    rm -f "$dir/redis.pid"
    if [ "${REDIS_PERSIST:-0}" = 1 ]; then
        persist=(--save "60 1" --appendonly no --dbfilename dump.rdb)
    else
        persist=(--save "" --appendonly no)
    fi
    redis-server --port "$port" --bind 127.0.0.1 --daemonize yes \
        --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
        "${persist[@]}"
    for _ in $(seq 1 100); do
        if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
            echo "redis started: redis://127.0.0.1:$port ($dir)"
            exit 0
        fi
        sleep 0.1
    done
    echo "redis.sh: redis did not answer on port $port; $dir/redis.log:" >&2
    tail -n 20 "$dir/redis.log" >&2 || true
    exit 1
    ;;

stop)
    [ -d "$dir" ] || { echo "redis not running (no $dir)"; exit 0; }
    dir=$(cd -P "$dir" && pwd)
    pid=$(pid_of)
    if [ -z "$pid" ]; then
        echo "redis not running ($dir)"
        exit 0
    fi
    kill -TERM "$pid"    # redis saves (when persistent) and exits on TERM
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || { echo "redis stopped ($dir)"; exit 0; }
        sleep 0.1
    done
    echo "redis.sh: redis (pid $pid) still running after 10 s, killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
    ;;

status)
    [ -d "$dir" ] || exit 1
    dir=$(cd -P "$dir" && pwd)
    pid=$(pid_of)
    if [ -n "$pid" ]; then echo "redis running (pid $pid)"; else echo "redis not running"; exit 1; fi
    ;;

*)
    usage
    ;;
esac
