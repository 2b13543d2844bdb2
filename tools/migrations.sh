#!/usr/bin/env bash
# Checks of the migrations (migrations/README.md has the rules and the
# annotations), each in a scratch database of its own, dropped at the end:
#
#   tools/migrations.sh lint [DIR]       make lint: the rules, on the catalog
#   tools/migrations.sh roundtrip [DIR]  make test (suite migrations): every
#                                        down undoes its up exactly
#
# lint applies DIR's migrations (default migrations/) one at a time with
# tools/db-push.sh --up 1 and reads the catalog after each:
#   - a table whose primary key became a foreign key to another table's
#     primary key (a 1:1 extension) needs "-- @one-to-one TABLE: REASON"
#     in that migration;
#   - a table or a column that existed before the migration and is gone
#     after it (whatever dropped it: DROP TABLE, DROP COLUMN, a CASCADE)
#     needs "-- @drop TABLE: REASON" or "-- @drop TABLE.COLUMN: REASON";
#   - after the last one, every foreign key is covered by a btree index
#     that is not partial and whose leading key columns are the foreign
#     key's columns (in any order); no annotation lifts this one;
#   - the files: each up has a down, or says "-- @irreversible: REASON" in
#     its leading comments and has none; every annotation has a reason;
#     an unknown "-- @word" is a mistake.
# Every finding is a line "FILE: rule: message"; exit 1 if there is any.
#
# roundtrip applies them one at a time, keeping the normalised
# "pg_dump --schema-only" (comments, blank lines and pg_dump's \restrict
# fence removed) after each, S0 .. Sn; then from the newest to the oldest:
# down, the schema must be S(i-1); up, it must be Si again; down.  An
# irreversible migration must be refused by db-push --down with the schema
# unchanged; the older ones are then checked from a fresh database with
# the migrations before it applied.  Last, up to the newest again: Sn.
#
# env: MIGRATIONS_PG_URL  a Postgres where databases may be created and
#                         dropped (postgres://postgres@127.0.0.1:PORT/postgres);
#                         without it a throwaway cluster is started with
#                         tools/pg.sh under /tmp and stopped at the end
#      PGBIN              Postgres binaries, as tools/pg.sh
set -uo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=$ROOT/tools

usage() { echo "usage: tools/migrations.sh lint|roundtrip [DIR]" >&2; exit 2; }

mode=${1:-}
case "$mode" in lint|roundtrip) ;; *) usage ;; esac
DIR=${2:-$ROOT/migrations}
[ -d "$DIR" ] || { echo "migrations: no directory $DIR" >&2; exit 2; }
DIR=$(cd "$DIR" && pwd)
# names relative to the repository where they are in it
show=${DIR#"$ROOT"/}

if [ -z "${PGBIN:-}" ]; then
    PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
fi
[ -x "${PGBIN:-}/pg_dump" ] || { echo "migrations: no pg_dump (apt-get install postgresql)" >&2; exit 1; }

t0=$SECONDS
tmp=$(mktemp -d /tmp/backend-migrations.XXXXXX) || exit 1
chmod 0755 "$tmp"    # user postgres must traverse it (tools/pg.sh)
own_pg=
dbs=()

cleanup() {
    local d
    trap - EXIT INT TERM
    for d in "${dbs[@]}"; do
        admin -c "DROP DATABASE IF EXISTS \"$d\" WITH (FORCE)" >/dev/null 2>&1
    done
    [ -z "$own_pg" ] || "$TOOLS/pg.sh" stop "$tmp/pg" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() { echo "migrations: $*" >&2; exit 1; }

if [ -z "${MIGRATIONS_PG_URL:-}" ]; then
    port=$("$TOOLS/free-port.sh") || die "no free port"
    PG_EPHEMERAL=1 PGBIN=$PGBIN "$TOOLS/pg.sh" start "$tmp/pg" "$port" >/dev/null \
        || die "scratch postgres did not start"
    own_pg=1
    MIGRATIONS_PG_URL=postgres://postgres@127.0.0.1:$port/postgres
fi
base_url=${MIGRATIONS_PG_URL%/*}

admin() {
    PGOPTIONS='-c client_min_messages=warning' \
        psql -X -q -v ON_ERROR_STOP=1 -d "$MIGRATIONS_PG_URL" "$@"
}

# a new empty database; its URL in $url
new_db() {
    local name=mig_${mode}_$$_${#dbs[@]}
    admin -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" \
        -c "CREATE DATABASE \"$name\"" || die "cannot create a database on $MIGRATIONS_PG_URL"
    dbs+=("$name")
    url=$base_url/$name
}

drop_db() {
    admin -c "DROP DATABASE IF EXISTS \"${url##*/}\" WITH (FORCE)"
}

q() {
    PGOPTIONS='-c client_min_messages=warning' \
        psql -X -q -At -F $'\t' -v ON_ERROR_STOP=1 -d "$url" "$@"
}

push() {
    DATABASE_URL=$url MIGRATIONS_DIR=$DIR "$TOOLS/db-push.sh" "$@"
}

# the files: stems in order, as db-push reads them
stems=()
shopt -s nullglob
for f in "$DIR"/*.up.sql; do
    b=${f##*/}
    stems+=("${b%.up.sql}")
done
shopt -u nullglob
[ "${#stems[@]}" -gt 0 ] || die "no *.up.sql in $show"

# "kind US name US reason US line US header" (US: the unit separator,
# \x1f: a tab would let read merge empty fields) for each "-- @kind ..."
# line of a file; header 1 when it is in the comments the file starts with
annotations() {
    awk '
        function out() {
            printf "%s\037%s\037%s\037%d\037%d\n", kind, name, reason, at, hdr
            on = 0
        }
        # the reason goes on over the comment lines that follow, up to an
        # empty one, another annotation, or SQL
        on && /^[[:space:]]*--[[:space:]]*[^[:space:]@-]/ {
            t = $0
            sub(/^[[:space:]]*--[[:space:]]*/, "", t)
            sub(/[[:space:]]+$/, "", t)
            reason = reason (reason == "" ? "" : " ") t
            next
        }
        on { out() }
        BEGIN { header = 1 }
        header && !/^[[:space:]]*(--.*)?$/ { header = 0 }
        match($0, /^[[:space:]]*--[[:space:]]*@[A-Za-z_-]+/) {
            kind = substr($0, RSTART, RLENGTH)
            sub(/^[[:space:]]*--[[:space:]]*@/, "", kind)
            kind = tolower(kind)
            rest = substr($0, RSTART + RLENGTH)
            name = ""
            if (kind != "irreversible") {
                sub(/^[[:space:]]+/, "", rest)
                if (match(rest, /^[^:[:space:]]+/)) {
                    name = tolower(substr(rest, 1, RLENGTH))
                    sub(/^public\./, "", name)
                    rest = substr(rest, RLENGTH + 1)
                }
            }
            reason = rest
            sub(/^[[:space:]]*:?[[:space:]]*/, "", reason)
            sub(/[[:space:]]+$/, "", reason)
            at = NR
            hdr = header
            on = 1
        }
        END { if (on) out() }' "$1"
}

# the normalised schema (schema_migrations is db-push's, not the schema's)
dump() {
    "$PGBIN/pg_dump" --schema-only --exclude-table=public.schema_migrations \
        -d "$url" >"$tmp/dump.raw" || die "pg_dump failed"
    sed -E '/^--/d; /^\\(un)?restrict /d; /^[[:space:]]*$/d' "$tmp/dump.raw" >"$1"
}


# lint

findings=0

finding() {
    echo "$1: $2" >&2
    findings=$((findings + 1))
}

# user tables (not db-push's)
SQL_TABLES="
SELECT c.oid, c.oid::regclass
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p')
   AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
   AND NOT (n.nspname = 'public' AND c.relname = 'schema_migrations')
 ORDER BY 1"

SQL_COLUMNS="
SELECT a.attrelid || ':' || a.attnum,
       lower(a.attrelid::regclass::text) || '.' || lower(quote_ident(a.attname))
  FROM pg_attribute a
  JOIN ($SQL_TABLES) t(oid, name) ON t.oid = a.attrelid
 WHERE a.attnum > 0 AND NOT a.attisdropped
 ORDER BY 1"

# tables whose primary key is, as a set of columns, a foreign key to the
# primary key of another table
SQL_ONE_TO_ONE="
SELECT DISTINCT f.conrelid, lower(f.conrelid::regclass::text), f.confrelid::regclass
  FROM pg_constraint f
  JOIN pg_constraint p ON p.conrelid = f.conrelid AND p.contype = 'p'
  JOIN pg_constraint rp ON rp.conrelid = f.confrelid AND rp.contype = 'p'
 WHERE f.contype = 'f' AND f.confrelid <> f.conrelid
   AND (SELECT array_agg(k ORDER BY k) FROM unnest(f.conkey) k)
       = (SELECT array_agg(k ORDER BY k) FROM unnest(p.conkey) k)
   AND (SELECT array_agg(k ORDER BY k) FROM unnest(f.confkey) k)
       = (SELECT array_agg(k ORDER BY k) FROM unnest(rp.conkey) k)
 ORDER BY 1"

SQL_FKS="SELECT f.oid FROM pg_constraint f WHERE f.contype = 'f' ORDER BY 1"

# foreign keys (not the copies on partitions) no index serves: a btree,
# not partial, whose first key columns are the foreign key's
SQL_UNCOVERED="
SELECT f.oid, f.conrelid::regclass, f.conname,
       (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.i)
          FROM unnest(f.conkey) WITH ORDINALITY k(n, i)
          JOIN pg_attribute a ON a.attrelid = f.conrelid AND a.attnum = k.n),
       f.confrelid::regclass
  FROM pg_constraint f
 WHERE f.contype = 'f' AND f.conparentid = 0
   AND NOT EXISTS (
     SELECT 1
       FROM pg_index i
       JOIN pg_class ic ON ic.oid = i.indexrelid
       JOIN pg_am am ON am.oid = ic.relam
      WHERE i.indrelid = f.conrelid AND i.indpred IS NULL
        AND am.amname = 'btree'
        AND i.indnkeyatts >= cardinality(f.conkey)
        AND (SELECT array_agg(k ORDER BY k)
               FROM unnest((string_to_array(i.indkey::text, ' ')::int2[])
                           [1:cardinality(f.conkey)]) k)
            = (SELECT array_agg(k ORDER BY k) FROM unnest(f.conkey) k))
 ORDER BY 2, 3"

snapshot() {
    q -c "$SQL_TABLES" >"$tmp/$1.tables" \
        && q -c "$SQL_COLUMNS" >"$tmp/$1.columns" \
        && q -c "$SQL_ONE_TO_ONE" >"$tmp/$1.one" \
        && q -c "$SQL_FKS" >"$tmp/$1.fks" \
        || die "cannot read the catalog"
}

# the rows of file $2 whose first field (tab-separated) is not one of
# file $1's (which may be empty: hence FILENAME, not NR == FNR)
new_rows() {
    awk -F '\t' 'FILENAME == ARGV[1] { seen[$1] = 1; next } !($1 in seen)' "$1" "$2"
}

# the up file's annotation of a kind for a name
annotated() {
    awk -F '\037' -v k="$2" -v n="$3" '$1 == k && $2 == n { f = 1 } END { exit !f }' "$1"
}

lint_files() {
    local s up down ann kind name reason line header
    shopt -s nullglob
    for down in "$DIR"/*.down.sql; do
        s=${down##*/}
        [ -f "$DIR/${s%.down.sql}.up.sql" ] \
            || finding "$show/$s" "files: a down without its up (${s%.down.sql}.up.sql)"
    done
    shopt -u nullglob
    for s in "${stems[@]}"; do
        up=$DIR/$s.up.sql
        down=$DIR/$s.down.sql
        ann=$tmp/$s.ann
        annotations "$up" >"$ann"
        local irr=0
        while IFS=$'\x1f' read -r kind name reason line header; do
            case "$kind" in
            irreversible)
                irr=1
                [ "$header" = 1 ] || finding "$show/$s.up.sql:$line" \
                    "irreversible: \"-- @irreversible\" must be in the comments the file starts with (db-push reads only those)"
                [ -n "$reason" ] || finding "$show/$s.up.sql:$line" \
                    "irreversible: no reason (\"-- @irreversible: why it cannot be undone\")"
                ;;
            one-to-one|drop)
                [ -n "$name" ] || finding "$show/$s.up.sql:$line" \
                    "$kind: no table named (\"-- @$kind TABLE: reason\")"
                [ -n "$reason" ] || finding "$show/$s.up.sql:$line" \
                    "$kind: no reason for $name (\"-- @$kind $name: reason\")"
                ;;
            *)
                finding "$show/$s.up.sql:$line" \
                    "annotation: unknown \"@$kind\" (@irreversible, @one-to-one, @drop)"
                ;;
            esac
        done <"$ann"
        if [ "$irr" = 1 ] && [ -f "$down" ]; then
            finding "$show/$s.down.sql" \
                "irreversible: $s.up.sql says it is irreversible, yet has a down (db-push never runs it: remove one or the other)"
        elif [ "$irr" = 0 ] && [ ! -f "$down" ]; then
            finding "$show/$s.up.sql" \
                "files: no $s.down.sql (write it, or say \"-- @irreversible: REASON\" at the top)"
        fi
    done
}

lint() {
    local s i prev cur oid name col ref cols con reason kind
    lint_files

    new_db
    push --status >/dev/null || die "db-push --status failed"
    snapshot s0
    prev=s0
    declare -A fk_by=()
    i=0
    for s in "${stems[@]}"; do
        i=$((i + 1))
        cur=s$i
        if ! push --up 1 >"$tmp/push.out" 2>&1; then
            finding "$show/$s.up.sql" "apply: it does not apply:"
            sed 's/^/    /' "$tmp/push.out" >&2
            return
        fi
        snapshot "$cur"

        # dropped tables and columns
        while IFS=$'\t' read -r oid name; do
            annotated "$tmp/$s.ann" drop "$name" \
                || finding "$show/$s.up.sql" \
                   "drop: table $name is dropped without \"-- @drop $name: REASON\" (its data is lost)"
        done < <(new_rows "$tmp/$cur.tables" "$tmp/$prev.tables")
        while IFS=$'\t' read -r oid col; do
            # the column of a dropped table was reported with its table
            grep -q "^${oid%%:*}"$'\t' "$tmp/$cur.tables" || continue
            annotated "$tmp/$s.ann" drop "$col" \
                || finding "$show/$s.up.sql" \
                   "drop: column $col is dropped without \"-- @drop $col: REASON\" (its data is lost)"
        done < <(new_rows "$tmp/$cur.columns" "$tmp/$prev.columns")

        # tables that became 1:1 extensions of another
        while IFS=$'\t' read -r oid name ref; do
            annotated "$tmp/$s.ann" one-to-one "$name" \
                || finding "$show/$s.up.sql" \
                   "one-to-one: $name has its primary key as a foreign key to the primary key of $ref (a 1:1 extension): put its columns on $ref, or write \"-- @one-to-one $name: REASON\""
        done < <(new_rows "$tmp/$prev.one" "$tmp/$cur.one")

        while read -r oid; do
            fk_by[$oid]=$s
        done < <(new_rows "$tmp/$prev.fks" "$tmp/$cur.fks")

        # annotations that match nothing: a typo in a name, most likely
        while IFS=$'\x1f' read -r kind name reason line header; do
            case "$kind" in
            drop)
                cut -f2 "$tmp/$prev.tables" "$tmp/$prev.columns" \
                    | grep -qxF -- "$name" \
                    && ! cut -f2 "$tmp/$cur.tables" "$tmp/$cur.columns" \
                         | grep -qxF -- "$name" \
                    || echo "$show/$s.up.sql: warning: \"@drop $name\" matches no table or column this migration drops" >&2
                ;;
            one-to-one)
                cut -f2 "$tmp/$cur.one" | grep -qxF -- "$name" \
                    || echo "$show/$s.up.sql: warning: \"@one-to-one $name\" matches no 1:1 table" >&2
                ;;
            esac
        done <"$tmp/$s.ann"
        prev=$cur
    done

    # the schema the migrations end in: every foreign key indexed
    while IFS=$'\t' read -r oid name con cols ref; do
        finding "$show/${fk_by[$oid]:-?}.up.sql" \
            "fk-index: foreign key $con of $name ($cols) to $ref has no index: CREATE INDEX ON $name ($cols) (in a new migration if this one is applied somewhere)"
    done < <(q -c "$SQL_UNCOVERED")
}


# roundtrip

failures=0

compare() {
    # $1 what, $2 expected dump, $3 actual dump
    if cmp -s "$2" "$3"; then
        return 0
    fi
    echo "roundtrip: $1" >&2
    diff -u --label expected --label actual "$2" "$3" | head -n 60 | sed 's/^/    /' >&2
    failures=$((failures + 1))
    return 1
}

roundtrip() {
    local n=${#stems[@]} i s why
    new_db
    push --status >/dev/null || die "db-push --status failed"
    dump "$tmp/S0"
    for ((i = 1; i <= n; i++)); do
        push --up 1 >/dev/null || die "${stems[i - 1]}.up.sql does not apply"
        dump "$tmp/S$i"
    done

    for ((i = n; i >= 1; i--)); do
        s=${stems[i - 1]}
        # "-" and the reason when irreversible (as db-push reads it: in
        # the leading comments)
        why=$(annotations "$DIR/$s.up.sql" \
              | awk -F '\037' '$1 == "irreversible" && $5 == 1 { print "-" $3; exit }')
        if [ -n "$why" ]; then
            why=${why#-}
            # db-push must refuse, and change nothing
            if push --down 1 >"$tmp/push.out" 2>&1; then
                echo "roundtrip: $s is irreversible, yet db-push --down 1 did it" >&2
                failures=$((failures + 1))
                return
            fi
            grep -q "irreversible" "$tmp/push.out" || {
                echo "roundtrip: $s: db-push --down 1 failed without naming the reason:" >&2
                sed 's/^/    /' "$tmp/push.out" >&2
                failures=$((failures + 1))
            }
            dump "$tmp/D"
            compare "$s: a refused down changed the schema" "$tmp/S$i" "$tmp/D" || return
            echo "ok    $s: irreversible (${why:-no reason}), down refused"
            # the older ones from a fresh database
            drop_db >/dev/null
            new_db
            if [ "$i" -gt 1 ]; then
                push --up $((i - 1)) >/dev/null || die "up to ${stems[i - 2]} failed"
            else
                push --status >/dev/null || die "db-push --status failed"
            fi
            dump "$tmp/D"
            compare "up to before $s from a fresh database" "$tmp/S$((i - 1))" "$tmp/D" || return
            continue
        fi
        if ! push --down 1 >"$tmp/push.out" 2>&1; then
            echo "roundtrip: $s.down.sql failed:" >&2
            sed 's/^/    /' "$tmp/push.out" >&2
            failures=$((failures + 1))
            return
        fi
        dump "$tmp/D"
        compare "$s.down.sql does not restore the schema before $s.up.sql" \
            "$tmp/S$((i - 1))" "$tmp/D" || return
        if ! push --up 1 >"$tmp/push.out" 2>&1; then
            echo "roundtrip: $s.up.sql does not apply again after its down:" >&2
            sed 's/^/    /' "$tmp/push.out" >&2
            failures=$((failures + 1))
            return
        fi
        dump "$tmp/D"
        compare "$s.up.sql after its down does not give the schema it gave first" \
            "$tmp/S$i" "$tmp/D" || return
        push --down 1 >/dev/null || die "$s.down.sql failed the second time"
        echo "ok    $s: down restores the schema before it, up again the one after it"
    done

    # and up again to the newest
    push >/dev/null || die "db-push (all) failed after the downs"
    dump "$tmp/D"
    compare "up again to ${stems[n - 1]}: not the full schema" "$tmp/S$n" "$tmp/D" || return
    echo "ok    up again to ${stems[n - 1]}: the full schema"
}

case "$mode" in
lint)
    lint
    if [ "$findings" -gt 0 ]; then
        echo "migrations lint: $show: $findings finding(s) ($((SECONDS - t0)) s)" >&2
        exit 1
    fi
    echo "migrations lint: $show: ${#stems[@]} migration(s) ok ($((SECONDS - t0)) s)"
    ;;
roundtrip)
    roundtrip
    if [ "$failures" -gt 0 ]; then
        echo "migrations roundtrip: $show: failed ($((SECONDS - t0)) s)" >&2
        exit 1
    fi
    echo "migrations roundtrip: $show: ${#stems[@]} migration(s) ok ($((SECONDS - t0)) s)"
    ;;
esac
