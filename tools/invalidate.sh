#!/usr/bin/env bash
# make invalidate: drop the cached auth contexts of a Clerk user (or of a
# session) on every node, from outside nginx: after a change made in SQL
# (a role set by hand, another service writing users), which the module
# cannot see.  It does what an `invalidate` of a procedure does, in Redis:
#   INCR <prefix>gen:<id>                 (contexts in Redis are stale)
#   PUBLISH <prefix>invalidate u:<id>     (every node drops its zone's)
# Without it, such a change reaches cached contexts after at most 2 x the
# session zone's ttl (docs/directives.md, backend_session_zone).
#
# usage: tools/invalidate.sh user CLERK_USER_ID | session SESSION_ID
# env: REDIS_HOST (127.0.0.1), REDIS_PORT (63799, make run's),
#      REDIS_PREFIX (ngx_backend:, backend_session_redis prefix=),
#      REDISCLI_AUTH (a password, if Redis has one)
set -euo pipefail

case "${1:-}" in
user) kind=u ;;
session) kind=s ;;
*) echo "usage: $0 user CLERK_USER_ID | session SESSION_ID" >&2; exit 2 ;;
esac
id=${2:?usage: $0 user CLERK_USER_ID | session SESSION_ID}

host=${REDIS_HOST:-127.0.0.1}
port=${REDIS_PORT:-63799}
prefix=${REDIS_PREFIX:-ngx_backend:}

cli() { redis-cli --no-raw -h "$host" -p "$port" "$@"; }

gen=$(cli INCR "${prefix}gen:$id")
case $gen in
"(integer) "*) ;;
*) echo "invalidate: INCR ${prefix}gen:$id answered: $gen" >&2; exit 1 ;;
esac

subs=$(cli PUBLISH "${prefix}invalidate" "$kind:$id")
echo "invalidate: $1 $id: generation ${gen#(integer) }, published to ${subs#(integer) } subscriber(s)"
