# The benchmark's stack, shared by tools/bench.sh, tools/bench-check.sh and
# tools/soak.sh (sourced, not run).  In the directory $BENCH_TMP:
#
#   pg/          PostgreSQL loaded with the workload's data
#                (../shared/bench/run-pg.sh) and our migrations after 0001
#                (0001 is the workload's schema), database "bench"
#   redis/       Redis (tools/redis.sh)
#   nginx/       nginx prefix (logs/error.log, logs/nginx.pid)
#   nginx.conf   bench/nginx.conf.in rendered by tools/bench-conf.sh
#
# The caller sets ROOT, TOOLS, BENCH, MODULE, NGINX_BIN and BENCH_TMP,
# defines die(), and calls bench_stop_all from its EXIT trap.  nginx gets
# WORKERS, POOL and PIPELINE from the environment (tools/bench-conf.sh).

bench_pg_started=0
bench_redis_started=0
bench_ngx_running=0
bench_pg_port=
bench_redis_port=
bench_ngx_port=

bench_psql() {
    PGOPTIONS='-c client_min_messages=warning' \
        psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$bench_pg_port" \
             -U postgres -d bench "$@"
}

# bench_start_pg PORT: a fresh cluster, the workload's data, our migrations
bench_start_pg() {
    local m
    bench_pg_port=$1
    "$BENCH/run-pg.sh" start "$BENCH_TMP/pg" "$bench_pg_port" >/dev/null
    bench_pg_started=1
    for m in "$ROOT"/migrations/[0-9]*.up.sql; do
        case "$(basename "$m")" in 0001_*) continue ;; esac
        bench_psql -1 -f "$m" >/dev/null
    done
}

bench_start_redis() {
    bench_redis_port=$1
    "$TOOLS/redis.sh" start "$BENCH_TMP/redis" "$bench_redis_port" >/dev/null
    bench_redis_started=1
}

# bench_wait_up URL: until URL/trpc/health answers 2xx (30 s at most)
bench_wait_up() {
    local i
    for i in $(seq 1 150); do
        curl -sf -o /dev/null "$1/trpc/health" && return 0
        sleep 0.2
    done
    die "$1 did not come up"
}

# bench_start_ngx PORT: nginx on PORT against the Postgres and Redis above
bench_start_ngx() {
    bench_ngx_port=$1
    mkdir -p "$BENCH_TMP/nginx/logs"
    MODULE=$MODULE BENCH_DIR=$BENCH "$TOOLS/bench-conf.sh" "$BENCH_TMP/nginx" \
        "$bench_ngx_port" "$bench_pg_port" "$bench_redis_port" \
        >"$BENCH_TMP/nginx.conf"
    "$NGINX_BIN" -p "$BENCH_TMP/nginx" -c "$BENCH_TMP/nginx.conf" \
                 -e "$BENCH_TMP/nginx/logs/error.log"
    bench_ngx_running=1
    bench_wait_up "http://127.0.0.1:$bench_ngx_port"
}

bench_ngx_pid() { cat "$BENCH_TMP/nginx/logs/nginx.pid"; }

# graceful stop; waits for the master to exit (10 s at most)
bench_stop_ngx() {
    local pid i
    pid=$(bench_ngx_pid 2>/dev/null || true)
    "$NGINX_BIN" -p "$BENCH_TMP/nginx" -c "$BENCH_TMP/nginx.conf" -s quit
    bench_ngx_running=0
    for i in $(seq 1 50); do
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.2
    done
}

bench_stop_all() {
    [ "$bench_ngx_running" = 0 ] \
        || "$NGINX_BIN" -p "$BENCH_TMP/nginx" -c "$BENCH_TMP/nginx.conf" \
               -s stop 2>/dev/null || true
    bench_ngx_running=0
    [ "$bench_redis_started" = 0 ] \
        || "$TOOLS/redis.sh" stop "$BENCH_TMP/redis" >/dev/null || true
    bench_redis_started=0
    [ "$bench_pg_started" = 0 ] \
        || "$BENCH/run-pg.sh" stop "$BENCH_TMP/pg" >/dev/null 2>&1 || true
    bench_pg_started=0
}

# the RSS of a process and all its descendants, in kB
bench_tree_rss() {
    local pids=("$1") all=() p kids
    while [ ${#pids[@]} -gt 0 ]; do
        p=${pids[0]}
        pids=("${pids[@]:1}")
        all+=("$p")
        kids=$(pgrep -P "$p" 2>/dev/null || true)
        [ -n "$kids" ] && pids+=($kids)
    done
    for p in "${all[@]}"; do
        awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || true
    done | awk '{s += $1} END {print s + 0}'
}
