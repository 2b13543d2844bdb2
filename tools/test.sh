#!/usr/bin/env bash
# make test: every test suite against a throwaway Postgres and Redis.
#
# Starts a Postgres cluster (fsync off) and a Redis on free loopback ports
# in a fresh /tmp/backend-test.XXXXXX, creates database backend_test and
# applies migrations/ to it, then runs, each as one suite:
#   schemas  conf/schemas/*.json are what Zod exports (make schemas)
#   migrations  tools/migrations.sh roundtrip: every migration's down
#          restores the schema before its up, and the up applies again;
#          then t/migrations/*.test.mjs: the lint's rules, the round
#          trip and db-push's refusals on fixture migrations (databases of
#          their own on the same Postgres)
#   client-types  conf/app-router.ts is what make client-types writes
#   unit   make unit (t/unit/unit.mk), if that file exists
#   fuzz-smoke  make fuzz FUZZ_SECONDS=5: every libFuzzer target of t/fuzz
#          for 5 s (FUZZ_SMOKE_SECONDS); skipped, with a message, without
#          clang's libFuzzer runtime
#   prometheus  promtool check rules + promtool test rules on
#          conf/prometheus/*.rules.yml and their *.rules.test.yml
#   nginx  prove -I t/lib -r t/   (Test::Nginx: t/*.t, t/harness/...)
#   e2e    node --test t/e2e/*.test.mjs, if any
#   bench-check  ../shared/bench/check.sh against the reference app
#          (tools/bench-check.sh), if ../shared/bench is there
#   bench-smoke  make bench QUICK=1 (tools/bench.sh: the three servers, 1 s
#          per workload; checks the harness, not the figures)
# and stops Postgres and Redis and removes the directory at the end, also on
# failure or Ctrl-C.  Last line: "N passed, N failed" (suites); exit 1 if
# any failed.
#
# Environment the suites get:
#   TEST_NGINX_BINARY        /usr/sbin/nginx (with SANITIZE=address: a wrapper
#                            preloading libasan, see below)
#   TEST_NGINX_LOAD_MODULES  absolute path of ngx_http_backend_module.so
#   TEST_NGINX_PG_HOST=127.0.0.1  TEST_NGINX_PG_PORT  TEST_NGINX_PG_DATABASE=backend_test
#   TEST_NGINX_PG_USER=postgres   TEST_NGINX_REDIS_HOST=127.0.0.1  TEST_NGINX_REDIS_PORT
#   TEST_NGINX_RANDOMIZE=1   DATABASE_URL (backend_test)
#   BACKEND_MODULE (= the .so), BACKEND_ROOT (repository root)
#   MIGRATIONS_PG_URL        the cluster's postgres database (tools/migrations.sh)
#
# SANITIZE=address (module built in .build/nginx-asan): Debian's nginx is
# not built with ASan, so TEST_NGINX_BINARY is a wrapper that runs it with
# LD_PRELOAD=$(gcc -print-file-name=libasan.so), ASAN_OPTIONS=detect_leaks=0
# and reports in a log directory; any report there fails the run.
#
# env: MODULE, SANITIZE, MAKE (from the Makefile), PROVE_JOBS (default 1),
#      KEEP_TEST_DIR=1 (keep the temporary directory, servers stopped),
#      SUITES="nginx e2e" (run only these suites; default all; names:
#      schemas client-types migrations unit fuzz-smoke prometheus nginx
#      e2e bench-check bench-smoke),
#      PROVE_FILES="t/010-procedures.t ..." (default: t/, recursively),
#      E2E_FILES="t/e2e/auth.test.mjs ..." (default: t/e2e/*.test.mjs)
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TOOLS=$ROOT/tools
SANITIZE=${SANITIZE:-}
if [ -n "$SANITIZE" ]; then
    MODULE=${MODULE:-$ROOT/.build/nginx-asan/ngx_http_backend_module.so}
else
    MODULE=${MODULE:-$ROOT/.build/nginx/ngx_http_backend_module.so}
fi
MAKE=${MAKE:-make}
NGINX=${NGINX:-/usr/sbin/nginx}
# nginx reads NGINX from its environment as inherited listen sockets
export -n NGINX

passed=0
failed=0
summary=()

tmp=$(mktemp -d /tmp/backend-test.XXXXXX) || exit 1
chmod 0755 "$tmp"    # user postgres must traverse it to its data directory

cleanup() {
    trap - EXIT INT TERM
    "$TOOLS/redis.sh" stop "$tmp/redis" >/dev/null 2>&1 || true
    "$TOOLS/pg.sh" stop "$tmp/pg" >/dev/null 2>&1 || true
    # the servers' logs outlive the directory, for a look after a failure
    mkdir -p "$ROOT/.build/test-logs"
    cp -f "$tmp/pg/postgres.log" "$tmp/redis/redis.log" "$ROOT/.build/test-logs/" 2>/dev/null || true
    if [ "${KEEP_TEST_DIR:-0}" = 1 ]; then
        echo "test: kept $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'echo "test: interrupted" >&2; exit 130' INT
trap 'echo "test: terminated" >&2; exit 143' TERM

report() {
    echo
    for line in "${summary[@]}"; do echo "  $line"; done
    echo "$passed passed, $failed failed"
}

setup_failed() {
    echo "test: setup failed: $*" >&2
    summary+=("FAIL setup ($*)")
    failed=$((failed + 1))
    report
    exit 1
}

want() {
    [ -z "${SUITES:-}" ] || [[ " $SUITES " == *" $1 "* ]]
}

suite() {
    local name=$1 t0 rc
    shift
    want "$name" || return 0
    echo
    echo "=== $name: $*"
    t0=$SECONDS
    "$@"
    rc=$?
    if [ "$rc" = 0 ]; then
        passed=$((passed + 1))
        summary+=("ok    $name ($((SECONDS - t0)) s)")
    else
        failed=$((failed + 1))
        summary+=("FAIL  $name (exit $rc, $((SECONDS - t0)) s)")
    fi
}

[ -f "$MODULE" ] || setup_failed "no $MODULE (make build)"

# servers
PG_PORT=$("$TOOLS/free-port.sh") || setup_failed "no free port"
PG_EPHEMERAL=1 "$TOOLS/pg.sh" start "$tmp/pg" "$PG_PORT" || setup_failed "postgres"
REDIS_PORT=$("$TOOLS/free-port.sh") || setup_failed "no free port"
"$TOOLS/redis.sh" start "$tmp/redis" "$REDIS_PORT" || setup_failed "redis"

PGOPTIONS='-c client_min_messages=warning' \
    psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres \
         -d postgres -c 'CREATE DATABASE backend_test' || setup_failed "createdb"

export DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/backend_test
"$TOOLS/db-push.sh" || setup_failed "migrations"

# nginx, with ASan when the module has it
nginx_bin=$NGINX
if [ "$SANITIZE" = address ]; then
    libasan=$(gcc -print-file-name=libasan.so)
    [ -f "$libasan" ] || setup_failed "no libasan.so (gcc -print-file-name)"
    mkdir -p "$tmp/asan"
    chmod 1777 "$tmp/asan"    # workers may run as another user
    nginx_bin=$tmp/nginx-asan
    cat >"$nginx_bin" <<WRAP
#!/bin/sh
# /usr/sbin/nginx with the ASan runtime first (the module is ASan-built)
LD_PRELOAD="$libasan\${LD_PRELOAD:+:\$LD_PRELOAD}" \\
ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:log_path=$tmp/asan/asan\${ASAN_OPTIONS:+:\$ASAN_OPTIONS}" \\
exec "$NGINX" "\$@"
WRAP
    chmod 0755 "$nginx_bin"
fi

export TEST_NGINX_BINARY=$nginx_bin
export TEST_NGINX_LOAD_MODULES=$MODULE
export TEST_NGINX_PG_HOST=127.0.0.1
export TEST_NGINX_PG_PORT=$PG_PORT
export TEST_NGINX_PG_DATABASE=backend_test
export TEST_NGINX_PG_USER=postgres
export TEST_NGINX_REDIS_HOST=127.0.0.1
export TEST_NGINX_REDIS_PORT=$REDIS_PORT
export TEST_NGINX_RANDOMIZE=1
export BACKEND_MODULE=$MODULE
export BACKEND_ROOT=$ROOT
# tools/migrations.sh makes its scratch databases there
export MIGRATIONS_PG_URL=postgres://postgres@127.0.0.1:$PG_PORT/postgres

echo
echo "test: postgres 127.0.0.1:$PG_PORT/backend_test, redis 127.0.0.1:$REDIS_PORT, module $MODULE"

# suites
suite schemas node tools/schemas.mjs --check conf/schemas
# conf/app-router.ts is what make client-types writes (the migrated
# database describes the statements)
suite client-types node tools/client-types.mjs --check conf/procedures.conf

# every down of migrations/ against its up, then the checks' own tests
migrations_suite() {
    local rc=0
    "$TOOLS/migrations.sh" roundtrip migrations || rc=1
    node --test t/migrations/*.test.mjs || rc=1
    return $rc
}
suite migrations migrations_suite

if [ -f t/unit/unit.mk ]; then
    # under ASan when the build has it, else under valgrind
    suite unit "$MAKE" --no-print-directory unit SANITIZE="$SANITIZE" \
        VALGRIND="$([ -z "$SANITIZE" ] && echo 1)"
fi

# every libFuzzer target of t/fuzz for a few seconds (make fuzz runs
# them longer): a crash, or a check of a target that fails, fails it
if [ -n "$(find t/fuzz -name 'fuzz_*.c' -print -quit 2>/dev/null)" ]; then
    if command -v clang >/dev/null 2>&1 \
       && [ -f "$(clang -print-file-name=libclang_rt.fuzzer-x86_64.a)" ]
    then
        suite fuzz-smoke "$MAKE" --no-print-directory fuzz \
            SANITIZE="$SANITIZE" FUZZ_SECONDS="${FUZZ_SMOKE_SECONDS:-5}"
    elif want fuzz-smoke; then
        echo
        echo "=== fuzz-smoke: skipped: no clang or no libFuzzer runtime" \
             "(libclang-rt-14-dev; make deps installs it)"
        summary+=("skip  fuzz-smoke (no clang libFuzzer runtime)")
    fi
fi

# the alert rules: valid, and each alert's unit tests (Debian's
# prometheus package ships promtool)
prometheus_rules() {
    local rc=0 tests
    command -v promtool >/dev/null 2>&1 || {
        echo "no promtool (Debian package prometheus; make deps installs it)" >&2
        return 1
    }
    promtool check rules conf/prometheus/*.rules.yml || rc=1
    # rule_files are relative to the test file
    tests=$(find conf/prometheus -name '*.rules.test.yml' | sort)
    if [ -z "$tests" ]; then
        echo "no conf/prometheus/*.rules.test.yml" >&2
        return 1
    fi
    # shellcheck disable=SC2086
    promtool test rules $tests || rc=1
    return $rc
}

if [ -n "$(find conf/prometheus -name '*.rules.yml' -print -quit 2>/dev/null)" ]; then
    suite prometheus prometheus_rules
fi

if [ -n "$(find t -name '*.t' -print -quit 2>/dev/null)" ]; then
    # shellcheck disable=SC2086
    suite nginx prove -I t/lib -j "${PROVE_JOBS:-1}" -r ${PROVE_FILES:-t/}
fi

shopt -s nullglob
e2e=(t/e2e/*.test.mjs)
shopt -u nullglob
# shellcheck disable=SC2206
[ -z "${E2E_FILES:-}" ] || e2e=($E2E_FILES)
if [ "${#e2e[@]}" -gt 0 ]; then
    suite e2e node --test "${e2e[@]}"
fi

# the workload's conformance checks, as make bench-check runs them, for
# the reference app only (bench-smoke runs them against the peers too)
if [ -x "$ROOT/../shared/bench/check.sh" ]; then
    suite bench-check env NGINX_BIN="$TEST_NGINX_BINARY" MODULE="$MODULE" \
        PEERS= "$TOOLS/bench-check.sh"
fi

# make bench's harness, 1 s per workload, so that it cannot rot (the
# figures of a smoke mean nothing: benchmarks are not timed tests)
if [ -x "$ROOT/../shared/bench/suite.sh" ]; then
    suite bench-smoke env QUICK=1 NGINX_BIN="$TEST_NGINX_BINARY" \
        MODULE="$MODULE" OUT="$tmp/bench" "$TOOLS/bench.sh"
fi

if [ "$SANITIZE" = address ]; then
    reports=("$tmp"/asan/asan*)
    if [ -e "${reports[0]}" ]; then
        echo
        echo "=== AddressSanitizer reports:"
        cat "${reports[@]}"
        failed=$((failed + 1))
        summary+=("FAIL  asan (${#reports[@]} report file(s))")
    else
        summary+=("      asan: no reports")
    fi
fi

[ $((passed + failed)) -gt 0 ] || summary+=("(no test suites found)")

report
[ "$failed" = 0 ]
