#!/usr/bin/env bash
# Applies pending migrations (migrations/NNNN_name.up.sql, in order) to
# DATABASE_URL, each in one transaction together with its row in
# schema_migrations, and refuses to do anything when an applied file has
# changed since (its sha256 differs from the one recorded).
#
#   tools/db-push.sh             apply what is pending
#   tools/db-push.sh --up N      apply the next N pending only
#   tools/db-push.sh --down N    revert the last N applied (NNNN_name.down.sql)
#   tools/db-push.sh --status    list applied and pending migrations
#
# A migration whose up file says "-- @irreversible: REASON" in its leading
# comment block has no down: --down refuses to cross it, before reverting
# anything (as it does when a down file is missing), and prints the reason.
# migrations/README.md describes the annotations.
#
# env: DATABASE_URL   default postgres://postgres@127.0.0.1:$PG_PORT/app,
#                     the make run database (PG_PORT default 54329)
#      MIGRATIONS_DIR default migrations/ of this repository
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MIGRATIONS_DIR=${MIGRATIONS_DIR:-$ROOT/migrations}
DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:${PG_PORT:-54329}/app}

usage() {
    echo "usage: tools/db-push.sh [--up N | --down N | --status]" >&2
    exit 2
}

mode=up
down=0
up_max=0    # 0: all pending
case "${1:-}" in
"") ;;
--up)
    up_max=${2:-}
    [[ "$up_max" =~ ^[1-9][0-9]*$ ]] || usage
    ;;
--down)
    mode=down
    down=${2:-}
    [[ "$down" =~ ^[1-9][0-9]*$ ]] || usage
    ;;
--status) mode=status ;;
*) usage ;;
esac

die() { echo "db-push: $*" >&2; exit 1; }

command -v psql >/dev/null || die "psql not found (apt-get install postgresql-client)"

db() {
    PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" \
        psql -X -q -v ON_ERROR_STOP=1 -d "$DATABASE_URL" "$@"
}

# the reason an up file gives for having no down ("-- @irreversible:
# REASON" in the comments it starts with, continued on the comment lines
# that follow it), or nothing; an annotation without a reason still counts
# (make lint asks for the reason)
irreversible() {
    awk 'function out() { on = 0; print (r == "" ? "(no reason given)" : r); exit }
         on && /^[[:space:]]*--[[:space:]]*[^[:space:]@-]/ {
             t = $0
             sub(/^[[:space:]]*--[[:space:]]*/, "", t)
             sub(/[[:space:]]+$/, "", t)
             r = r (r == "" ? "" : " ") t
             next
         }
         on { out() }
         /^[[:space:]]*$/ { next }
         !/^[[:space:]]*--/ { exit }
         match($0, /^[[:space:]]*--[[:space:]]*@irreversible/) {
             r = substr($0, RSTART + RLENGTH)
             sub(/^:?[[:space:]]*/, "", r)
             sub(/[[:space:]]+$/, "", r)
             on = 1
         }
         END { if (on) out() }' "$1"
}

# where we push, without a password if the URL has one
where=$(printf '%s' "$DATABASE_URL" | sed -E 's#(://[^:/@]*):[^@]*@#\1:***@#')

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

db -c "CREATE TABLE IF NOT EXISTS schema_migrations (
         version    text PRIMARY KEY,
         name       text,
         checksum   text NOT NULL,
         applied_at timestamptz DEFAULT now()
       )" || die "cannot reach $where"

# the files: version -> name, file, checksum
declare -A f_name f_file f_sum
versions=()
shopt -s nullglob
for f in "$MIGRATIONS_DIR"/*.up.sql; do
    base=${f##*/}
    stem=${base%.up.sql}
    [[ "$stem" =~ ^([0-9]+)_([A-Za-z0-9_.-]+)$ ]] \
        || die "$base: not NNNN_name.up.sql"
    v=${BASH_REMATCH[1]}
    [ -z "${f_file[$v]:-}" ] || die "two migrations numbered $v: ${f_file[$v]##*/}, $base"
    f_name[$v]=${BASH_REMATCH[2]}
    f_file[$v]=$f
    f_sum[$v]=$(sha256sum "$f" | cut -d' ' -f1)
    versions+=("$v")
done
shopt -u nullglob

# what the database has applied
declare -A a_name a_sum
applied=()
while IFS=$'\t' read -r v n s; do
    [ -n "$v" ] || continue
    a_name[$v]=$n
    a_sum[$v]=$s
    applied+=("$v")
done < <(db -At -F $'\t' -c "SELECT version, coalesce(name, ''), checksum
                               FROM schema_migrations ORDER BY version")

# an applied migration must not have changed since
changed=0
for v in "${applied[@]}"; do
    if [ -z "${f_file[$v]:-}" ]; then
        echo "db-push: warning: applied migration ${v}_${a_name[$v]} has no file in $MIGRATIONS_DIR" >&2
    elif [ "${f_sum[$v]}" != "${a_sum[$v]}" ]; then
        echo "db-push: ${f_file[$v]##*/} was changed after it was applied" \
             "(sha256 now ${f_sum[$v]:0:12}..., applied ${a_sum[$v]:0:12}...)" >&2
        changed=1
    fi
done
if [ "$changed" = 1 ]; then
    die "refusing to go on: restore the applied file(s), and make the change a new migration
         (or, for a migration nobody else has applied, revert it with --down first)"
fi

case "$mode" in
status)
    for v in "${applied[@]}"; do
        echo "applied  ${v}_${a_name[$v]}"
    done
    for v in "${versions[@]}"; do
        [ -n "${a_sum[$v]:-}" ] || echo "pending  ${v}_${f_name[$v]}"
    done
    ;;

up)
    n=0
    for v in "${versions[@]}"; do
        [ -z "${a_sum[$v]:-}" ] || continue
        [ "$up_max" = 0 ] || [ "$n" -lt "$up_max" ] || break
        # the row goes in the same transaction as the migration itself
        # (psql --single-transaction wraps all -f files in one BEGIN/COMMIT)
        cat >"$tmp/record.sql" <<'SQL'
INSERT INTO schema_migrations (version, name, checksum)
VALUES (:'version', :'name', :'checksum');
SQL
        db --single-transaction -v version="$v" -v name="${f_name[$v]}" \
           -v checksum="${f_sum[$v]}" -f "${f_file[$v]}" -f "$tmp/record.sql" \
            || die "${f_file[$v]##*/} failed: nothing of it was applied"
        echo "applied  ${v}_${f_name[$v]}"
        n=$((n + 1))
    done
    if [ "$n" = 0 ]; then
        echo "db-push: $where is up to date (${#applied[@]} applied)"
    else
        echo "db-push: $n migration(s) applied to $where"
    fi
    ;;

down)
    # every migration of the range revertible, or nothing is reverted
    for ((i = ${#applied[@]} - 1, n = 0; i >= 0 && n < down; i--, n++)); do
        v=${applied[$i]}
        file=$MIGRATIONS_DIR/${v}_${a_name[$v]}.down.sql
        why=
        [ -z "${f_file[$v]:-}" ] || why=$(irreversible "${f_file[$v]}")
        [ -z "$why" ] || die "refusing --down $down: ${v}_${a_name[$v]} is irreversible: $why
         (nothing was reverted; undo what must be undone in a new migration)"
        [ -f "$file" ] || die "no ${file##*/}: cannot revert ${v}_${a_name[$v]} (nothing was reverted)"
    done
    n=0
    for ((i = ${#applied[@]} - 1; i >= 0 && n < down; i--)); do
        v=${applied[$i]}
        file=$MIGRATIONS_DIR/${v}_${a_name[$v]}.down.sql
        cat >"$tmp/forget.sql" <<'SQL'
DELETE FROM schema_migrations WHERE version = :'version';
SQL
        db --single-transaction -v version="$v" -f "$file" -f "$tmp/forget.sql" \
            || die "${file##*/} failed: nothing of it was reverted"
        echo "reverted ${v}_${a_name[$v]}"
        n=$((n + 1))
    done
    [ "$n" = "$down" ] || echo "db-push: only $n migration(s) were applied" >&2
    ;;
esac
