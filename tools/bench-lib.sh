# The benchmark's stack, shared by tools/bench.sh, tools/bench-check.sh and
# tools/soak.sh (sourced, not run).  In the directory $BENCH_TMP:
#
#   pg/          PostgreSQL loaded with the workload's data
#                (../shared/bench/run-pg.sh) and our migrations after 0001
#                (0001 is the workload's schema), database "bench"
#   redis/       Redis (tools/redis.sh)
#   nginx/       nginx prefix (logs/error.log, logs/nginx.pid)
#   nginx.conf   bench/nginx.conf.in rendered by tools/bench-conf.sh
#   openresty/   the OpenResty peer's RUN_DIR (its nginx.conf, error.log,
#                pid), so that nothing is written under ../shared
#
# The caller sets ROOT, TOOLS, BENCH, MODULE, NGINX_BIN and BENCH_TMP,
# defines die(), and calls bench_stop_all from its EXIT trap.  nginx gets
# WORKERS, POOL and PIPELINE from the environment (tools/bench-conf.sh).

# glibc gives the top of the heap back to the kernel once 128 KB of it is
# free, and an nginx worker's heap swings by more than that between
# requests: each swing faults its pages in again (0.7 page faults a call
# through an adapter, 15% of its worker CPU).  At 1 MB it stays, as in
# make run and the image (docs/performance.md, What to set); every server
# the benchmarks start inherits it, the peers' nginx too
case ":${GLIBC_TUNABLES:-}:" in
*:glibc.malloc.trim_threshold=*) ;;
*) export GLIBC_TUNABLES="${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.malloc.trim_threshold=1048576" ;;
esac

bench_pg_started=0
bench_redis_started=0
bench_ngx_running=0
bench_pg_port=
bench_redis_port=
bench_ngx_port=
bench_or_pid=

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

# the OpenResty peer's nginx: /usr/sbin/nginx, also when NGINX_BIN is a
# wrapper for our module (make test SANITIZE=address)
BENCH_OR_NGINX=${BENCH_OR_NGINX:-/usr/sbin/nginx}

# whether the OpenResty peer can run here: Debian's lua-nginx-module (make
# deps installs it and the Lua libraries it needs)
bench_openresty_ok() {
    [ -x "$BENCH/peer-openresty/run.sh" ] \
        && [ -f "$("$BENCH_OR_NGINX" -V 2>&1 | tr ' ' '\n' \
                    | sed -n 's/^--modules-path=//p')/ngx_http_lua_module.so" ]
}

# bench_start_openresty PORT POOL LOG: the OpenResty peer (its run.sh, in
# the foreground: bench_or_pid is its nginx master) with WORKERS workers and
# POOL Postgres connections per worker, against the Postgres above; its
# settings pinned here, not taken from the caller's environment
bench_start_openresty() {
    mkdir -p "$BENCH_TMP/openresty"
    env -u CLERK_JWT_KEY -u CLERK_JWT_KEY_FILE -u CLERK_ISSUER \
        -u NGINX_MODULES \
        HOST=127.0.0.1 PORT="$1" WORKERS="${WORKERS:-2}" PG_POOL="$2" \
        DATABASE_URL="postgres://postgres@127.0.0.1:$bench_pg_port/bench" \
        CLERK_AUTHORIZED_PARTIES=http://localhost:3000 \
        TOKEN_CACHE=10000 SESSION_TTL=60 PG_TIMEOUT_MS=10000 \
        RUN_DIR="$BENCH_TMP/openresty" NGINX_BIN="$BENCH_OR_NGINX" \
        "$BENCH/peer-openresty/run.sh" >"$3" 2>&1 &
    bench_or_pid=$!
    bench_wait_up "http://127.0.0.1:$1"
}

# SIGTERM to its master (run.sh's interface); waits for it (10 s at most)
bench_stop_openresty() {
    local i
    [ -n "$bench_or_pid" ] || return 0
    kill "$bench_or_pid" 2>/dev/null || true
    for i in $(seq 1 50); do
        kill -0 "$bench_or_pid" 2>/dev/null || break
        sleep 0.2
    done
    wait "$bench_or_pid" 2>/dev/null || true
    bench_or_pid=
}

bench_stop_all() {
    bench_stop_openresty
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

# the CPU time (utime + stime, clock ticks: getconf CLK_TCK) of PID's
# children so far: nginx's workers, the Bun peer's server processes
bench_children_cpu() {
    local p t=0 stat
    for p in $(pgrep -P "$1" 2>/dev/null || true); do
        # after the ") " that ends the command name: state is field 1,
        # utime field 12, stime field 13 (proc(5): 3, 14 and 15)
        stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        stat=${stat##*) }
        t=$((t + $(awk '{print $12 + $13}' <<<"$stat")))
    done
    echo "$t"
}
