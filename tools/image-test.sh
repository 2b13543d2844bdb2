#!/usr/bin/env bash
# make image-test: the image of make image, smoke-tested without a Docker
# engine.  The image's config: entry point, command, HEALTHCHECK (which the
# OCI format would drop), STOPSIGNAL.  A working container of it (buildah
# from) runs each command with
# buildah run --isolation chroot --network host, so it reaches a throwaway
# Postgres and Redis and a JWKS server on the host's loopback, and the host
# reaches its nginx:
#
#   - the entry point refuses a missing or bad setting, naming it, and
#     nginx -t names nginx.conf and the line of a value it refuses;
#   - "check": nginx -t on the shipped template rendered with every
#     option (key files, JWKS URL, webhook secrets, Redis, CORS, azp);
#   - "migrate": the migrations applied, then nothing pending;
#   - "serve": /healthz and /readyz (every check ok) answer, timed from
#     the start of the container; the image's HEALTHCHECK command passes;
#     the workers run as uid 10001; a Svix-signed Clerk webhook creates a
#     user and a token signed with the key of the JWKS URL reads it back
#     (user.me); nothing secret is in the rendered nginx.conf; "reload"
#     reconfigures it; SIGQUIT (the image's STOPSIGNAL) stops it cleanly;
#   - "serve" as --user 10001: all of nginx as that user, the access log
#     still on stdout.
#
# Ends with "image-test: N passed, N failed"; exit 1 if any failed.
# env: IMAGE (localhost/ngx_backend:dev)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=$ROOT/tools
IMAGE=${IMAGE:-localhost/ngx_backend:dev}
ISSUER=https://clerk.image.test
ORIGIN=http://localhost:3000

die() { echo "image-test: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "buildah --isolation chroot needs root"
buildah inspect --type image "$IMAGE" >/dev/null 2>&1 \
    || die "no image $IMAGE: make image first"

t_start=$SECONDS
tmp=$(mktemp -d /tmp/ngx-image-test.XXXXXX)
chmod 0755 "$tmp"       # tools/pg.sh: user postgres must reach it
rundir=/tmp/ngx_backend.$(basename "$tmp")
ctr=
serve_pid=
jwks_pid=

master_pid() {
    pgrep -f "^nginx: master process nginx -c $rundir/nginx.conf" || true
}

cleanup() {
    local pid
    pid=$(master_pid)
    [ -z "$pid" ] || kill -QUIT $pid 2>/dev/null || true
    if [ -n "$serve_pid" ]; then
        for _ in $(seq 1 100); do
            kill -0 "$serve_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$serve_pid" 2>/dev/null || true
    fi
    [ -z "$jwks_pid" ] || kill "$jwks_pid" 2>/dev/null || true
    [ -z "$ctr" ] || buildah rm "$ctr" >/dev/null 2>&1 || true
    "$TOOLS/redis.sh" stop "$tmp/redis" >/dev/null 2>&1 || true
    "$TOOLS/pg.sh" stop "$tmp/pg" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

passed=0
failed=0
ok() { echo "ok     $1"; passed=$((passed + 1)); }
fail() { echo "FAIL   $1"; shift; printf '       %s\n' "$@"; failed=$((failed + 1)); }

# expect NAME WANT_RC PATTERN CMD...: CMD's exit status is WANT_RC and its
# output (stdout and stderr) matches the extended regex PATTERN
expect() {
    local name=$1 want=$2 pattern=$3 out rc=0
    shift 3
    out=$("$@" 2>&1) || rc=$?
    if [ "$rc" = "$want" ] && grep -Eq -- "$pattern" <<<"$out"; then
        ok "$name"
    else
        fail "$name" "exit $rc (want $want), output:" "$(tail -n 5 <<<"$out")"
    fi
}

b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }


# the image's configuration: what a Docker engine would run (the OCI
# format would have dropped the HEALTHCHECK)
expect "image config: entrypoint, serve, HEALTHCHECK, SIGQUIT, ports" 0 \
    '^\{\[CMD /usr/local/bin/ngx_backend healthcheck\] .*\| \[/usr/local/bin/ngx_backend\] \| \[serve\] \| SIGQUIT \| map\[8080/tcp:\{\} 9145/tcp:\{\}\]$' \
    buildah inspect --type image --format \
    '{{.Docker.Config.Healthcheck}} | {{.Docker.Config.Entrypoint}} | {{.Docker.Config.Cmd}} | {{.Docker.Config.StopSignal}} | {{.Docker.Config.ExposedPorts}}' \
    "$IMAGE"


# the services the container uses, on the host's loopback

# Postgres: the database app owned by a role backend that must give its
# password (scram), which the container has from a mounted file only (not
# a role named app: with search_path's "$user" first, the schema app of
# the migrations would take the tables of its owner's unqualified names)
db_password="pw-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
pg_port=$("$TOOLS/free-port.sh")
PG_EPHEMERAL=1 "$TOOLS/pg.sh" start "$tmp/pg" "$pg_port" >/dev/null
psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres \
    -c "CREATE ROLE backend LOGIN PASSWORD '$db_password'" \
    -c 'CREATE DATABASE app OWNER backend'
hba=$tmp/pg/data/pg_hba.conf
{ echo 'host all backend 127.0.0.1/32 scram-sha-256'; cat "$hba"; } >"$hba.new"
cat "$hba.new" >"$hba" && rm -f "$hba.new"
psql -X -q -At -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres \
    -c 'SELECT pg_reload_conf()' >/dev/null
redis_port=$("$TOOLS/free-port.sh")
"$TOOLS/redis.sh" start "$tmp/redis" "$redis_port" >/dev/null

# Clerk's side: a key pair, its JWKS served over HTTP (what Clerk's
# /.well-known/jwks.json is), a webhook signing secret; the container
# gets the public parts and the secret as mounted files
mkdir -p "$tmp/secrets" "$tmp/www"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$tmp/private.pem" 2>/dev/null
openssl pkey -in "$tmp/private.pem" -pubout -out "$tmp/secrets/clerk.pem"
n=$(openssl rsa -pubin -in "$tmp/secrets/clerk.pem" -noout -modulus \
    | sed 's/^Modulus=//' | perl -ne 'chomp; print pack("H*", $_)' | b64url)
printf '{"keys":[{"kty":"RSA","use":"sig","alg":"RS256","kid":"image-test","n":"%s","e":"AQAB"}]}\n' \
    "$n" >"$tmp/www/jwks.json"
cp "$tmp/www/jwks.json" "$tmp/secrets/jwks.json"
webhook_secret="whsec_$(head -c 24 /dev/urandom | base64 -w0)"
printf '%s\n' "$webhook_secret" >"$tmp/secrets/webhook-secret"
printf '%s\n' "$db_password" >"$tmp/secrets/db-password"
chmod -R a+rX "$tmp/secrets"

jwks_port=$("$TOOLS/free-port.sh")
python3 -m http.server --bind 127.0.0.1 --directory "$tmp/www" "$jwks_port" \
    >"$tmp/jwks-server.log" 2>&1 &
jwks_pid=$!

ctr=$(buildah from --pull=never "$IMAGE")

DB_URL="postgresql://backend@127.0.0.1:$pg_port/app"
base_env=(-e "NGX_BACKEND_RUN_DIR=$rundir"
          -e "DATABASE_URL=$DB_URL"
          -e "DATABASE_PASSWORD_FILE=/secrets/db-password"
          -e "CLERK_ISSUER=$ISSUER")

# in_ctr [-e NAME=VALUE | --user UID ...] -- ARG...: the entry point in
# the container, its output and exit status; both pass through a mounted
# directory (as $tmp/out/$IN_CTR_LOG.log, a name of its own by default),
# as buildah run itself (chroot) was seen to drop a quick command's output
mkdir -p "$tmp/out"
chmod 1777 "$tmp/out"   # written by the --user run too
in_ctr() {
    local envs=() out rc
    while [ "$1" != -- ]; do envs+=("$1" "$2"); shift 2; done
    shift
    out=${IN_CTR_LOG:-$(mktemp -u run.XXXXXXXX)}
    buildah run --isolation chroot --network host \
        -v "$tmp/secrets:/secrets:ro" -v "$tmp/out:/out" "${envs[@]}" \
        "$ctr" -- /bin/bash -c \
        '"$@" >"/out/$0.log" 2>&1; echo $? >"/out/$0.rc"' \
        "$out" /usr/local/bin/ngx_backend "$@" >/dev/null 2>&1 || true
    cat "$tmp/out/$out.log" 2>/dev/null || true
    rc=$(cat "$tmp/out/$out.rc" 2>/dev/null || echo 125)
    return "$rc"
}


# the entry point's checks, and nginx -t's

expect "no DATABASE_URL: refused, named" 1 'DATABASE_URL is not set' \
    in_ctr -e CLERK_ISSUER=$ISSUER -e CLERK_JWT_KEY_FILE=/secrets/clerk.pem \
    -- check
expect "no Clerk keys: refused, named" 1 'no keys for Clerk' \
    in_ctr "${base_env[@]}" -- check
expect "a key file that is not there: refused, named" 1 \
    'CLERK_JWT_KEY_FILE: no readable file /secrets/nope.pem' \
    in_ctr "${base_env[@]}" -e CLERK_JWT_KEY_FILE=/secrets/nope.pem -- check
expect "a value nginx.conf cannot hold: refused, named" 1 \
    'CORS_ORIGINS=.*not http\(s\) origins' \
    in_ctr "${base_env[@]}" -e CLERK_JWT_KEY_FILE=/secrets/clerk.pem \
    -e 'CORS_ORIGINS=http://a;b' -- check
expect "nginx -t names nginx.conf and the line of a refused value" 1 \
    "sslmode.*in $rundir/nginx.conf:[0-9]+" \
    in_ctr "${base_env[@]}" -e CLERK_JWT_KEY_FILE=/secrets/clerk.pem \
    -e "DATABASE_URL=$DB_URL?sslmode=prefer" -- check

# (https: proxy_ssl_trusted_certificate must load the image's CA bundle)
full_env=("${base_env[@]}"
          -e "CLERK_JWKS_URL=https://127.0.0.1:$jwks_port/jwks.json"
          -e "CLERK_JWKS_FILE=/secrets/jwks.json"
          -e "CLERK_JWT_KEY_FILE=/secrets/clerk.pem"
          -e "CLERK_AUTHORIZED_PARTIES=$ORIGIN"
          -e "CLERK_WEBHOOK_SECRET_FILE=/secrets/webhook-secret"
          -e "CORS_ORIGINS=$ORIGIN"
          -e "REDIS_ADDR=127.0.0.1:$redis_port"
          -e "REDIS_REQUIRED=on")
expect "check: nginx -t on the template with every option" 0 \
    'test is successful' in_ctr "${full_env[@]}" -- check


# the migration runner

expect "migrate without the password file: refused by Postgres" 1 \
    'password' in_ctr -e "DATABASE_URL=$DB_URL" -- migrate
expect "migrate: the migrations applied" 0 \
    'migration\(s\) applied' in_ctr "${base_env[@]}" -- migrate
expect "migrate again: nothing to do" 0 'is up to date' \
    in_ctr "${base_env[@]}" -- migrate
out=$(in_ctr "${base_env[@]}" -- migrate --status 2>&1) || true
if grep -q '^applied' <<<"$out" && ! grep -q '^pending' <<<"$out"; then
    ok "migrate --status: all applied"
else
    fail "migrate --status: all applied" "$out"
fi


# serve: the keys from the JWKS URL only, so /readyz's jwks check and the
# token below prove that fetch

port=$("$TOOLS/free-port.sh")
metrics_port=$("$TOOLS/free-port.sh")
serve_env=("${base_env[@]}"
           -e "CLERK_JWKS_URL=http://127.0.0.1:$jwks_port/jwks.json"
           -e "CLERK_AUTHORIZED_PARTIES=$ORIGIN"
           -e "CLERK_WEBHOOK_SECRET_FILE=/secrets/webhook-secret"
           -e "REDIS_ADDR=127.0.0.1:$redis_port"
           -e "PORT=$port" -e "METRICS_PORT=$metrics_port"
           -e "WORKER_PROCESSES=2")

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

t0=$(date +%s%N)
serve_log=$tmp/out/serve.log
IN_CTR_LOG=serve in_ctr "${serve_env[@]}" -- serve >/dev/null 2>&1 &
serve_pid=$!

# poll_status URL WANT SECONDS: the URL answers WANT within SECONDS
poll_status() {
    local end=$((SECONDS + $3)) code
    while [ "$SECONDS" -lt "$end" ]; do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" || true)
        [ "$code" = "$2" ] && return 0
        kill -0 "$serve_pid" 2>/dev/null || return 1
        sleep 0.02
    done
    return 1
}

if poll_status "http://127.0.0.1:$port/healthz" 200 30; then
    healthz_ms=$(ms "$t0")
    ok "serve: /healthz 200, $healthz_ms ms after the container started"
else
    fail "serve: /healthz 200 within 30 s" "$(tail -n 20 "$serve_log")"
    echo "image-test: nginx did not start, stopping here"
    exit 1
fi
if poll_status "http://127.0.0.1:$port/readyz" 200 30; then
    ready_ms=$(ms "$t0")
    ok "serve: /readyz 200, $ready_ms ms after the container started"
else
    fail "serve: /readyz 200 within 30 s" \
        "$(curl -s "http://127.0.0.1:$port/readyz")"
fi
expect "serve: every readiness check ok (postgres, migrations, jwks URL, redis)" 0 \
    '"postgres":"ok","migrations":"ok","jwks":"ok","redis":"ok"' \
    curl -s "http://127.0.0.1:$port/readyz"
expect "HEALTHCHECK command passes" 0 '' \
    in_ctr -e "PORT=$port" -- healthcheck
expect "HEALTHCHECK command fails on a port nobody serves" 1 '' \
    in_ctr -e "PORT=$("$TOOLS/free-port.sh")" -- healthcheck
expect "tRPC: health" 0 '^\{"result":\{"data":\{"ok":true\}\}\}$' \
    curl -s "http://127.0.0.1:$port/trpc/health"
expect "metrics on their own port" 0 '^backend_build_info' \
    curl -s "http://127.0.0.1:$metrics_port/metrics"

master=$(master_pid)
workers=$(pgrep -P "${master:-0}" -d ' ' || true)
uids=$(for w in $workers; do ps -o uid= -p "$w"; done | tr -d ' ' | sort -u)
if [ -n "$master" ] && [ -n "$workers" ] && [ "$uids" = 10001 ]; then
    ok "workers run as uid 10001 (ngx_backend), master $master"
else
    fail "workers run as uid 10001" "master '$master' workers '$workers' uids '$uids'"
fi

# a Clerk webhook signed as Svix signs (HMAC-SHA256 of id.timestamp.body
# under the secret's base64 key) creates a user...
clerk_user="user_img$$"
svix_id="msg_img$$"
ts=$(date +%s)
body=$(printf '{"type":"user.created","data":{"id":"%s","email_addresses":[{"id":"e1","email_address":"%s@image.test"}],"primary_email_address_id":"e1","public_metadata":{},"updated_at":%s000}}' \
       "$clerk_user" "$clerk_user" "$ts")
key_hex=$(printf '%s' "${webhook_secret#whsec_}" | base64 -d | od -An -tx1 | tr -d ' \n')
sig=$(printf '%s' "$svix_id.$ts.$body" \
      | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key_hex" -binary | base64 -w0)
expect "webhook: a signed user.created is applied" 0 '"status":"applied"' \
    curl -s -H 'content-type: application/json' -H "svix-id: $svix_id" \
    -H "svix-timestamp: $ts" -H "svix-signature: v1,$sig" \
    --data-binary "$body" "http://127.0.0.1:$port/webhooks/clerk"
expect "webhook: a bad signature is refused" 0 '^401$' \
    curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' \
    -H "svix-id: ${svix_id}x" -H "svix-timestamp: $ts" \
    -H "svix-signature: v1,$(printf 'x%.0s' $(seq 1 43))=" \
    --data-binary "$body" "http://127.0.0.1:$port/webhooks/clerk"

# ... whom a session token signed with the JWKS URL's key reads back
now=$(date +%s)
header=$(printf '{"alg":"RS256","kid":"image-test","typ":"JWT"}' | b64url)
claims=$(printf '{"sub":"%s","sid":"sess_img%s","iss":"%s","azp":"%s","iat":%s,"nbf":%s,"exp":%s,"v":2}' \
         "$clerk_user" "$$" "$ISSUER" "$ORIGIN" "$now" "$((now - 10))" "$((now + 600))" \
         | b64url)
jwt_sig=$(printf '%s' "$header.$claims" \
          | openssl dgst -sha256 -sign "$tmp/private.pem" -binary | b64url)
expect "tRPC: user.me with a token verified by the JWKS URL's key" 0 \
    "\"email\":\"$clerk_user@image.test\"" \
    curl -s -H "Authorization: Bearer $header.$claims.$jwt_sig" \
    "http://127.0.0.1:$port/trpc/user.me"

# the configuration names the secret files; it holds no secret
conf=$(in_ctr -- cat "$rundir/nginx.conf" 2>&1 || true)
if grep -q 'backend_webhook_secret  /secrets/webhook-secret;' <<<"$conf" \
   && ! grep -qF -- "${webhook_secret#whsec_}" <<<"$conf" \
   && ! grep -qF -- "$db_password" <<<"$conf"; then
    ok "rendered nginx.conf names the secret files, holds no secret"
else
    fail "rendered nginx.conf holds no secret" "$(head -n 5 <<<"$conf")"
fi

# reload (rotated keys or secrets): the configuration rendered again and
# loaded by the running master
expect "reload: rendered again, nginx -s reload" 0 '' \
    in_ctr "${serve_env[@]}" -- reload
end=$((SECONDS + 30))
until grep -q 'reconfiguring' "$serve_log" || [ "$SECONDS" -ge "$end" ]; do
    sleep 0.1
done
if grep -q 'reconfiguring' "$serve_log" \
   && poll_status "http://127.0.0.1:$port/readyz" 200 30; then
    ok "reload: the master reconfigured, ready again"
else
    fail "reload: the master reconfigured, ready again" \
        "$(tail -n 5 "$serve_log")"
fi

# SIGQUIT, the image's STOPSIGNAL: graceful, the container's command ends 0
stopped=
if [ -n "$master" ]; then
    kill -QUIT "$master"
    for _ in $(seq 1 100); do
        kill -0 "$serve_pid" 2>/dev/null || { stopped=1; break; }
        sleep 0.1
    done
fi
rc=0
[ -z "$stopped" ] || wait "$serve_pid" || rc=$?
serve_pid=
if [ -n "$stopped" ] && [ "$rc" = 0 ] && grep -q '\[notice\].*: exit$' "$serve_log"; then
    ok "SIGQUIT: nginx exits cleanly within 10 s"
else
    fail "SIGQUIT: nginx exits cleanly within 10 s" "rc $rc" \
        "$(tail -n 5 "$serve_log")"
fi
if grep -E '\[(error|crit|alert|emerg)\]' "$serve_log" >/dev/null; then
    fail "no error in nginx's log" \
        "$(grep -E '\[(error|crit|alert|emerg)\]' "$serve_log" | head -n 5)"
else
    ok "no error in nginx's log"
fi

# --user 10001 (as Kubernetes' runAsNonRoot would): master and workers
# as that user, the JSON access log still on the container's stdout
port2=$("$TOOLS/free-port.sh")
serve2_log=$tmp/out/serve-user.log
IN_CTR_LOG=serve-user in_ctr --user 10001 "${base_env[@]}" -e CLERK_JWT_KEY_FILE=/secrets/clerk.pem \
    -e "PORT=$port2" -e "METRICS_PORT=$("$TOOLS/free-port.sh")" \
    -e NGX_BACKEND_RUN_DIR="$rundir.user" -- serve >/dev/null 2>&1 &
serve_pid=$!
rundir=$rundir.user     # for master_pid and cleanup
if poll_status "http://127.0.0.1:$port2/trpc/health" 200 30; then
    master=$(master_pid)
    if [ "$(ps -o uid= -p "${master:-0}" | tr -d ' ')" = 10001 ] \
       && grep -q '"path":"/trpc/health"' "$serve2_log"; then
        ok "--user 10001: serves, master as 10001, access log on stdout"
    else
        fail "--user 10001: master as 10001, access log on stdout" \
            "master '$master'" "$(tail -n 5 "$serve2_log")"
    fi
    kill -QUIT "$master" 2>/dev/null || true
else
    fail "--user 10001: serves within 30 s" "$(tail -n 5 "$serve2_log")"
fi

size=$(buildah images --format '{{.Size}}' "$IMAGE" | head -n 1)
echo "image-test: $IMAGE is $size; /healthz after ${healthz_ms:-?} ms," \
     "/readyz after ${ready_ms:-?} ms; $((SECONDS - t_start)) s in all"
echo "image-test: $passed passed, $failed failed"
[ "$failed" = 0 ]
