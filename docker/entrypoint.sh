#!/usr/bin/env bash
# The container's entry point (docker/Dockerfile), /usr/local/bin/ngx_backend:
#
#   serve             render the configuration, then nginx in the
#                     foreground (the default command)
#   check             render it and test it (nginx -t)
#   render            render it and print it
#   reload            render it again (changed keys or secrets, new
#                     settings need a new container), nginx -s reload
#   migrate [ARG...]  apply pending migrations to DATABASE_URL
#                     (tools/db-push.sh ARG...: --up N, --down N,
#                     --status)
#   healthcheck       GET /healthz on PORT answers 200 (the HEALTHCHECK)
#   anything else     run as given (bash, psql, nginx -V, ...)
#
# The configuration is docker/nginx.conf.template with its ${NGX_*} names
# replaced (envsubst with exactly that list), each made from these
# variables, checked first so that a bad value fails here, naming the
# variable, instead of somewhere in nginx.conf:
#
#   DATABASE_URL               required: libpq URI or key=value string,
#                              e.g. postgresql://app@postgres:5432/app
#   DATABASE_PASSWORD_FILE     a file holding the password (becomes
#                              PGPASSWORD; or set PGPASSWORD itself)
#   DATABASE_POOL              backend_pg parameters (docs/directives.md),
#                              default "max=4 queue=512 queue_timeout=5s
#                              connect_timeout=3s query_timeout=10s"
#   CLERK_ISSUER               required: the Clerk instance's issuer URL
#   CLERK_JWKS_URL             Clerk's JWKS (https://.../.well-known/jwks.json),
#                              fetched without blocking, refreshed hourly
#   CLERK_JWKS_FILE            files holding a saved JWKS, and/or
#   CLERK_JWT_KEY_FILE         files holding Clerk's PEM public key:
#                              at least one of these three
#   CLERK_AUTHORIZED_PARTIES   origins tokens may be issued for (azp)
#   CLERK_WEBHOOK_SECRET_FILE  files holding whsec_ secrets: serves
#                              POST /webhooks/clerk (none: no endpoint)
#   CORS_ORIGINS               frontend origins allowed to call /trpc/
#                              with credentials
#   REDIS_ADDR                 host:port of Redis (none: no Redis tier)
#   REDIS_PASSWORD_FILE        a file holding Redis's password
#   REDIS_REQUIRED             on: Redis down makes /readyz fail (off)
#   READINESS_MIGRATION        the migration version /readyz requires
#                              (default: the highest one in the image)
#   PORT (8080), METRICS_PORT (9145), WORKER_PROCESSES (auto),
#   WORKER_CONNECTIONS (1024), SESSION_ZONE_SIZE (16m),
#   LOG_LEVEL (notice), ACCESS_LOG (on: JSON lines on stdout; off)
#   LOG_SAMPLE                 the access log lines kept: 100%, or a
#                              share and a threshold ("1% slow=250ms")
#   NGX_BACKEND_RUN_DIR        rendered nginx.conf, pid, temp files
#                              (/tmp/ngx_backend)
#
# Lists (the *_FILE of keys and secrets, origins) are separated by spaces.
set -euo pipefail

APP=/opt/ngx_backend
TEMPLATE=$APP/docker/nginx.conf.template
RUN_DIR=${NGX_BACKEND_RUN_DIR:-/tmp/ngx_backend}
CONF=$RUN_DIR/nginx.conf
WORKER_USER=ngx_backend

die() { echo "ngx_backend: $*" >&2; exit 1; }

# value checks: a word of nginx.conf that needs no quoting
word_re='^[A-Za-z0-9_.:/@%+=,~-]+$'
url_re='^https?://[A-Za-z0-9_.:/@%+=,~?&-]+$'

want_re() {     # NAME VALUE REGEX WHAT
    [[ "$2" =~ $3 ]] || die "$1=\"$2\": not $4"
}

want_files() {  # NAME: each path of the list is a readable file
    local p
    for p in ${!1:-}; do
        want_re "$1" "$p" "$word_re" "a path (letters, digits, ._/-)"
        [ -f "$p" ] && [ -r "$p" ] || die "$1: no readable file $p"
    done
}

# the password for libpq (nginx's workers, psql) from a mounted file
password_from_file() {
    if [ -n "${DATABASE_PASSWORD_FILE:-}" ]; then
        [ -r "$DATABASE_PASSWORD_FILE" ] \
            || die "DATABASE_PASSWORD_FILE: no readable file $DATABASE_PASSWORD_FILE"
        PGPASSWORD=$(head -n 1 "$DATABASE_PASSWORD_FILE")
        export PGPASSWORD
    fi
}

render() {
    local v p lines

    [ -n "${DATABASE_URL:-}" ] || die "DATABASE_URL is not set"
    [[ "$DATABASE_URL" != *$'\n'* ]] || die "DATABASE_URL has a line break"
    [ -n "${CLERK_ISSUER:-}" ] || die "CLERK_ISSUER is not set"
    want_re CLERK_ISSUER "$CLERK_ISSUER" "$url_re" "an http(s) URL"
    if [ -z "${CLERK_JWKS_URL:-}${CLERK_JWKS_FILE:-}${CLERK_JWT_KEY_FILE:-}" ]
    then
        die "no keys for Clerk's tokens: set CLERK_JWKS_URL," \
            "CLERK_JWKS_FILE or CLERK_JWT_KEY_FILE"
    fi
    password_from_file

    # inside "..." of nginx.conf: \ and " escaped
    v=${DATABASE_URL//\\/\\\\}
    export NGX_DATABASE_URL=${v//\"/\\\"}
    v="max=4 queue=512 queue_timeout=5s connect_timeout=3s query_timeout=10s"
    export NGX_DATABASE_POOL=${DATABASE_POOL:-$v}
    for v in $NGX_DATABASE_POOL; do
        want_re DATABASE_POOL "$v" '^[a-z_]+=[0-9a-z]+$' "name=value words"
    done

    export NGX_CLERK_ISSUER=$CLERK_ISSUER

    lines=
    if [ -n "${CLERK_JWKS_URL:-}" ]; then
        want_re CLERK_JWKS_URL "$CLERK_JWKS_URL" "$url_re" "an http(s) URL"
        lines+="    backend_auth_jwks_url  /.backend/jwks refresh=1h;"$'\n'
        NGX_JWKS_LOCATION="
        # Clerk's JWKS for backend_auth_jwks_url: a subrequest, proxied
        # (the host is resolved when nginx starts)
        location = /.backend/jwks {
            internal;
            proxy_pass                     $CLERK_JWKS_URL;
            proxy_ssl_server_name          on;
            proxy_ssl_verify               on;
            proxy_ssl_trusted_certificate  /etc/ssl/certs/ca-certificates.crt;
            subrequest_output_buffer_size  64k;
        }"
    else
        NGX_JWKS_LOCATION=
    fi
    export NGX_JWKS_LOCATION
    want_files CLERK_JWKS_FILE
    for p in ${CLERK_JWKS_FILE:-}; do
        lines+="    backend_auth_jwks  $p;"$'\n'
    done
    want_files CLERK_JWT_KEY_FILE
    for p in ${CLERK_JWT_KEY_FILE:-}; do
        lines+="    backend_auth_key  $p;"$'\n'
    done
    export NGX_AUTH_KEYS=$lines

    NGX_AUTHORIZED_PARTIES=
    if [ -n "${CLERK_AUTHORIZED_PARTIES:-}" ]; then
        for v in $CLERK_AUTHORIZED_PARTIES; do
            want_re CLERK_AUTHORIZED_PARTIES "$v" "$url_re" "http(s) origins"
        done
        NGX_AUTHORIZED_PARTIES="    backend_auth_authorized_parties  $(
            echo $CLERK_AUTHORIZED_PARTIES);"
    fi
    export NGX_AUTHORIZED_PARTIES

    NGX_CORS=
    if [ -n "${CORS_ORIGINS:-}" ]; then
        for v in $CORS_ORIGINS; do
            want_re CORS_ORIGINS "$v" "$url_re" "http(s) origins"
        done
        NGX_CORS="
            backend_cors_origins      $(echo $CORS_ORIGINS);
            backend_cors_credentials  on;"
    fi
    export NGX_CORS

    NGX_WEBHOOK_LOCATION=
    if [ -n "${CLERK_WEBHOOK_SECRET_FILE:-}" ]; then
        want_files CLERK_WEBHOOK_SECRET_FILE
        NGX_WEBHOOK_LOCATION="
        # Clerk (Svix) webhooks
        location = /webhooks/clerk {
            include                 $APP/conf/webhooks.conf;
            backend_webhook_secret  $(echo $CLERK_WEBHOOK_SECRET_FILE);
        }"
    fi
    export NGX_WEBHOOK_LOCATION

    NGX_REDIS=
    if [ -n "${REDIS_ADDR:-}" ]; then
        want_re REDIS_ADDR "$REDIS_ADDR" '^[A-Za-z0-9_.-]+:[0-9]+$' "host:port"
        NGX_REDIS="    backend_session_redis  $REDIS_ADDR timeout=100ms"
        if [ -n "${REDIS_PASSWORD_FILE:-}" ]; then
            want_files REDIS_PASSWORD_FILE
            NGX_REDIS+=" password=$REDIS_PASSWORD_FILE"
        fi
        NGX_REDIS+=";"
    fi
    export NGX_REDIS
    case "${REDIS_REQUIRED:-off}" in
    on) export NGX_READINESS_REDIS=required ;;
    off) export NGX_READINESS_REDIS=optional ;;
    *) die "REDIS_REQUIRED=\"$REDIS_REQUIRED\": not on or off" ;;
    esac

    if [ -z "${READINESS_MIGRATION:-}" ]; then
        READINESS_MIGRATION=0
        for p in "$APP"/migrations/[0-9]*.up.sql; do
            v=${p##*/}
            v=$((10#${v%%_*}))
            [ "$v" -le "$READINESS_MIGRATION" ] || READINESS_MIGRATION=$v
        done
    fi
    want_re READINESS_MIGRATION "$READINESS_MIGRATION" '^[0-9]+$' "a number"
    export NGX_READINESS_MIGRATION=$READINESS_MIGRATION

    export NGX_PORT=${PORT:-8080}
    export NGX_METRICS_PORT=${METRICS_PORT:-9145}
    export NGX_WORKER_PROCESSES=${WORKER_PROCESSES:-auto}
    export NGX_WORKER_CONNECTIONS=${WORKER_CONNECTIONS:-1024}
    export NGX_SESSION_ZONE_SIZE=${SESSION_ZONE_SIZE:-16m}
    export NGX_LOG_LEVEL=${LOG_LEVEL:-notice}
    want_re PORT "$NGX_PORT" '^[0-9]+$' "a port number"
    want_re METRICS_PORT "$NGX_METRICS_PORT" '^[0-9]+$' "a port number"
    want_re WORKER_PROCESSES "$NGX_WORKER_PROCESSES" '^(auto|[0-9]+)$' \
        "auto or a number"
    want_re WORKER_CONNECTIONS "$NGX_WORKER_CONNECTIONS" '^[0-9]+$' "a number"
    want_re SESSION_ZONE_SIZE "$NGX_SESSION_ZONE_SIZE" '^[0-9]+[km]?$' "a size"
    want_re LOG_LEVEL "$NGX_LOG_LEVEL" \
        '^(debug|info|notice|warn|error|crit|alert|emerg)$' "a log level"
    export NGX_LOG_SAMPLE=${LOG_SAMPLE:-100%}
    want_re LOG_SAMPLE "$NGX_LOG_SAMPLE" \
        '^[0-9]{1,3}(\.[0-9]{1,2})?%( slow=[0-9]+(ms|s))?$' \
        'a share and an optional threshold, such as "1% slow=250ms"'
    case "${ACCESS_LOG:-on}" in
    on) export NGX_ACCESS_LOG="/dev/stdout  backend_json" \
        NGX_ACCESS_LOG+="  if=\$backend_log_sample" ;;
    off) export NGX_ACCESS_LOG=off ;;
    *) die "ACCESS_LOG=\"$ACCESS_LOG\": not on or off" ;;
    esac

    # the master reads the configuration and the secrets; as root it hands
    # the workers to an unprivileged user
    if [ "$(id -u)" = 0 ]; then
        export NGX_USER="user  $WORKER_USER;"
    else
        export NGX_USER="# not root: the workers run as uid $(id -u)"
    fi
    export NGX_RUN_DIR=$RUN_DIR

    mkdir -p "$RUN_DIR"
    (
        umask 077
        names=$(grep -o '\${NGX_[A-Z_]*}' "$TEMPLATE" | sort -u | tr '\n' ' ')
        envsubst "$names" <"$TEMPLATE" >"$CONF.new"
    )
    mv -f "$CONF.new" "$CONF"
}

# glibc gives the top of the heap back to the kernel once 128 KB of it is
# free, and an nginx worker's heap swings by more than that between
# requests: each swing faults its pages in again (0.7 page faults a call
# through an adapter, 15% of its worker CPU).  At 1 MB it stays; workers
# inherit the setting from the master (docs/performance.md, What to set)
case ":${GLIBC_TUNABLES:-}:" in
*:glibc.malloc.trim_threshold=*) ;;
*) export GLIBC_TUNABLES="${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.malloc.trim_threshold=1048576" ;;
esac

nginx_cmd=(nginx -c "$CONF" -e stderr)

cmd=${1:-serve}
[ "$#" = 0 ] || shift

case "$cmd" in
serve)
    render
    # nginx opens the access log's /dev/stdout by name, which a pipe
    # another user made (the runtime's, when run with --user) refuses:
    # then a pipe of this user's in between
    if [ "$(id -u)" != 0 ] && ! { : >/dev/stdout; } 2>/dev/null; then
        exec > >(exec cat)
    fi
    exec "${nginx_cmd[@]}" "$@"
    ;;
check)
    render
    exec "${nginx_cmd[@]}" -t "$@"
    ;;
render)
    render
    cat "$CONF"
    ;;
reload)
    render
    exec "${nginx_cmd[@]}" -s reload
    ;;
migrate)
    [ -n "${DATABASE_URL:-}" ] || die "DATABASE_URL is not set"
    password_from_file
    if [ "$(id -u)" = 0 ]; then
        exec setpriv --reuid="$WORKER_USER" --regid="$WORKER_USER" \
            --clear-groups "$APP/tools/db-push.sh" "$@"
    fi
    exec "$APP/tools/db-push.sh" "$@"
    ;;
healthcheck)
    # bash's /dev/tcp: no HTTP client in the image for this alone
    exec timeout 3 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n" >&3
        read -r proto status rest <&3
        [ "$status" = 200 ]' healthcheck "${PORT:-8080}"
    ;;
*)
    exec "$cmd" "$@"
    ;;
esac
