#!/usr/bin/env bash
# make soak: the reference app under mixed load for SOAK_SECONDS while its
# Postgres is restarted twice and its Redis once, with signed webhooks
# delivered throughout; then assertions, each figure printed, and a table
# in .build/soak/<date>.md.  Not part of make test.
#
# The stack is the benchmark's (tools/bench-lib.sh: the workload's data and
# our migrations, Redis, nginx with bench/nginx.conf.in and conf/
# procedures.conf, WORKERS 2, POOL 2, PIPELINE 16).
#
# Load: the five workloads of ../shared/bench (W1-W5) all at once for the
# whole run, one wrk each with the workload's own Lua script wrapped by
# tools/soak.lua (which counts answers per second and status), SOAK_CONNS
# connections split between them.  Webhooks: tools/soak-webhooks.mjs (the
# real svix package signs; every non-2xx retried; some duplicates on
# purpose).
#
# Faults, at fixed fractions of the run (each down SOAK_DOWN seconds; a
# window runs from the stop command to the return of the start command,
# which waits until the server accepts connections):
#   25%  Postgres restarted (tools/pg.sh stop, start: same data, same port)
#   50%  Redis restarted (tools/redis.sh stop, start)
#   70%  Postgres restarted again
#
# Assertions (exit 1 when any fails):
#   - no worker crash: no "exited on signal" / "worker process N exited" in
#     the error log, worker PIDs at the end those after the warm-up; no
#     [alert], [crit], [emerg] (nor an AddressSanitizer report)
#   - 5xx (load and webhooks) only inside an outage window or its
#     SOAK_GRACE seconds after (the pool's reconnect backoff is capped at
#     5 s, plus 2 s to connect on a loaded machine), counted per window
#   - every webhook stored exactly once: the ids the sender got a 2xx for
#     are the rows of webhook_events, each applied with attempts = 1; no id
#     left unacknowledged after the drain; no id answered "applied" twice
#   - workers' RSS (sum of VmRSS) at the end of the load within 10% of
#     the RSS after the warm-up
#   - Postgres connections of the app (database bench, after the load and
#     the webhooks' drain, polled SOAK_SETTLE s) = WORKERS x POOL
#
# env: SOAK_SECONDS (600, at least 60)  SOAK_CONNS (64)
#      SOAK_WARMUP (SOAK_SECONDS / 10, at least 10)  SOAK_DOWN (5)
#      SOAK_GRACE (7)  SOAK_SETTLE (15)
#      SOAK_WEBHOOK_RATE (4 new messages per second)  WORKERS (2)  POOL (2)
#      PIPELINE (16)  KEEP=1 (keep the run's directory)  BENCH_DIR  MODULE
#      NGINX_BIN
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=$ROOT/tools
BENCH=$(cd "${BENCH_DIR:-$ROOT/../shared/bench}" && pwd)
MODULE=${MODULE:-$ROOT/.build/nginx/ngx_http_backend_module.so}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}

S=${SOAK_SECONDS:-600}
CONNS=${SOAK_CONNS:-64}
WARMUP=${SOAK_WARMUP:-$(( S / 10 < 10 ? 10 : S / 10 ))}
DOWN=${SOAK_DOWN:-5}
GRACE=${SOAK_GRACE:-7}
SETTLE=${SOAK_SETTLE:-15}
RATE=${SOAK_WEBHOOK_RATE:-4}
export WORKERS=${WORKERS:-2} POOL=${POOL:-2} PIPELINE=${PIPELINE:-16}

die() { echo "soak: $*" >&2; exit 1; }

[ -f "$MODULE" ] || die "no $MODULE: make build first"
command -v wrk >/dev/null || die "no wrk (make deps installs it)"
[ -d "$ROOT/node_modules/svix" ] || die "no node_modules/svix (make deps)"
[ "$S" -ge 60 ] || die "SOAK_SECONDS must be 60 or more"

tmp=$(mktemp -d /tmp/soak-run.XXXXXX)
chmod 755 "$tmp"
BENCH_TMP=$tmp
. "$TOOLS/bench-lib.sh"

bg_pids=()
cleanup() {
    local p
    for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    bench_stop_all
    if [ -n "${KEEP:-}" ] || [ "${failed:-1}" != 0 ]; then
        echo "soak: run directory kept: $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT

now() { echo "$EPOCHREALTIME"; }
sleep_until() {   # epoch seconds, fractional
    local d
    d=$(awk -v t="$1" -v n="$EPOCHREALTIME" 'BEGIN { d = t - n; print (d > 0) ? d : 0 }')
    sleep "$d"
}
at() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a - b }'; }

worker_pids() { pgrep -P "$(bench_ngx_pid)" | sort -n | tr '\n' ' ' | sed 's/ $//'; }

# rss_sample: "total_kB pid:VmRSS/RssAnon/RssShmem ..." of the workers
rss_sample() {
    local p total=0 rss anon shm line=
    for p in $(worker_pids); do
        rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status")
        anon=$(awk '/^RssAnon:/ {print $2}' "/proc/$p/status")
        shm=$(awk '/^RssShmem:/ {print $2}' "/proc/$p/status")
        total=$((total + rss))
        line+=" $p:$rss/$anon/$shm"
    done
    echo "$total$line"
}

pg_port=$("$TOOLS/free-port.sh")
redis_port=$("$TOOLS/free-port.sh")
port=$("$TOOLS/free-port.sh")
url=http://127.0.0.1:$port

echo "soak: ${S}s, $CONNS connections (W1-W5 at once), warm-up ${WARMUP}s," \
     "outages ${DOWN}s, grace ${GRACE}s; run directory $tmp"

bench_start_pg "$pg_port"
bench_start_redis "$redis_port"
BENCH_TOKENS=$("$BENCH/workload/tokens.sh")
export BENCH_TOKENS
bench_start_ngx "$port"
errlog=$tmp/nginx/logs/error.log

# the load: five wrk, one per workload, the connections split between them
workloads=(w1-health w2-me w3-sessions w4-notes w5-batch)
t0=$(now)
for i in "${!workloads[@]}"; do
    w=${workloads[$i]}
    c=$(( CONNS / 5 + (i < CONNS % 5 ? 1 : 0) ))
    SOAK_SCRIPT=$BENCH/workload/requests/$w.lua \
        wrk -t1 -c"$c" -d"${S}s" --timeout 5s -s "$TOOLS/soak.lua" "$url" \
        >"$tmp/wrk-$w.out" 2>&1 &
    bg_pids+=($!)
done
mkdir -p "$tmp/webhooks"
SOAK_WEBHOOK_SECONDS=$S SOAK_WEBHOOK_RATE=$RATE SOAK_WEBHOOK_DRAIN=60 \
SOAK_WEBHOOK_PREFIX=soak \
    node "$TOOLS/soak-webhooks.mjs" "$url" "$tmp/nginx/webhook-secret" \
        "$tmp/webhooks" >"$tmp/webhooks.log" 2>&1 &
sender=$!
bg_pids+=("$sender")

# after the warm-up: the workers and their RSS
sleep_until "$(awk -v t="$t0" -v w="$WARMUP" 'BEGIN { printf "%.6f", t + w }')"
pids_warm=$(worker_pids)
rss_warm=$(rss_sample)
echo "after warm-up (t+$(at "$(now)" "$t0") s): workers $pids_warm; RSS kB (pid:VmRSS/RssAnon/RssShmem) $rss_warm"

# the outages; windows: "name start end" (epoch seconds)
windows=()
outage() {
    local name=$1 what=$2 frac=$3 s e
    sleep_until "$(awk -v t="$t0" -v S="$S" -v f="$frac" 'BEGIN { printf "%.6f", t + S * f }')"
    s=$(now)
    case $what in
        pg) "$TOOLS/pg.sh" stop "$tmp/pg" >/dev/null ;;
        redis) "$TOOLS/redis.sh" stop "$tmp/redis" >/dev/null ;;
    esac
    sleep "$DOWN"
    case $what in
        pg) "$TOOLS/pg.sh" start "$tmp/pg" "$pg_port" >/dev/null ;;
        redis) "$TOOLS/redis.sh" start "$tmp/redis" "$redis_port" >/dev/null ;;
    esac
    e=$(now)
    windows+=("$name $s $e")
    echo "$name: t+$(at "$s" "$t0") s to t+$(at "$e" "$t0") s ($(at "$e" "$s") s)"
}
outage pg-restart-1 pg 0.25
outage redis-restart redis 0.50
outage pg-restart-2 pg 0.70

# the end of the load: RSS while it still runs
sleep_until "$(awk -v t="$t0" -v S="$S" 'BEGIN { printf "%.6f", t + S - 3 }')"
rss_end=$(rss_sample)
echo "end of load (t+$(at "$(now)" "$t0") s): RSS kB $rss_end"

for p in "${bg_pids[@]}"; do
    [ "$p" = "$sender" ] || wait "$p" || true
done
echo "load done (t+$(at "$(now)" "$t0") s); webhooks draining"
wait "$sender" || die "the webhook sender failed: $(tail -5 "$tmp/webhooks.log")"
bg_pids=()
echo "webhooks done (t+$(at "$(now)" "$t0") s)"

# settle: the app's connections, polled
expect_conns=$((WORKERS * POOL))
conns_sql="select count(*) from pg_stat_activity
           where datname = 'bench' and backend_type = 'client backend'
             and pid <> pg_backend_pid()"
pg_conns=
for _ in $(seq 1 $((SETTLE * 5))); do
    pg_conns=$(bench_psql -t -A -c "$conns_sql")
    [ "$pg_conns" = "$expect_conns" ] && break
    sleep 0.2
done
pids_end=$(worker_pids)
rss_settled=$(rss_sample)

# --- the figures

failed=0
rows=()
row() {   # check, figure, limit, PASS|FAIL|-
    rows+=("| $1 | $2 | $3 | $4 |")
    printf '%-5s %s: %s (limit: %s)\n' "$4" "$1" "$2" "$3"
    [ "$4" != FAIL ] || failed=1
}
verdict() { if [ "$1" = 1 ]; then echo PASS; else echo FAIL; fi; }

# worker crashes, log levels
exits=$(grep -cE 'exited on signal|worker process [0-9]+ exited' "$errlog" || true)
row "worker exits in the error log" "$exits" 0 "$(verdict $((exits == 0)))"
row "worker PIDs, after warm-up -> end" "$pids_warm -> $pids_end" "unchanged" \
    "$(verdict "$([ "$pids_warm" = "$pids_end" ] && echo 1 || echo 0)")"
bad=$(grep -cE '\[(alert|crit|emerg)\]|AddressSanitizer' "$errlog" || true)
row "[alert]/[crit]/[emerg] lines" "$bad" 0 "$(verdict $((bad == 0)))"
errs=$(grep -c '\[error\]' "$errlog" || true)
row "[error] lines (not asserted: outages log them)" "$errs" "-" "-"

# the answers: per second and status, from the five wrk and the sender
cat "$tmp"/wrk-*.out | awk '$1 == "SOAK" {print $2, $3, $4}' >"$tmp/answers.txt"
awk '{printf "%d %s 1\n", $1 / 1000, $2}' "$tmp/webhooks/non2xx.txt" \
    >"$tmp/webhook-answers.txt"

# classify FILE: per window and outside, "5xx other_non2xx last5xx_after_end"
classify() {
    awk -v grace="$GRACE" -v w="${windows[*]}" '
        BEGIN {
            n = split(w, a, " ")
            for (i = 1; i <= n; i += 3) {
                k = (i + 2) / 3
                name[k] = a[i]; s[k] = int(a[i + 1]); e[k] = int(a[i + 2])
                eend[a[i]] = a[i + 2]
            }
            nw = k
        }
        {
            sec = $1; st = $2; cnt = $3
            if (st >= 200 && st < 300) next
            where = "outside"
            for (k = 1; k <= nw; k++)
                if (sec >= s[k] && sec <= e[k] + grace) where = name[k]
            by[where, st] += cnt
            if (!((where, st) in seen)) {
                seen[where, st] = 1
                codes[where] = codes[where] (codes[where] == "" ? "" : ",") st
            }
            if (st >= 500) {
                five[where] += cnt
                d = sec - eend[where]
                if (where != "outside" && (!(where in last) || d > last[where]))
                    last[where] = d
            } else {
                other[where] += cnt
            }
        }
        function statuses(w,    n, c, i, out) {
            n = split(codes[w], c, ",")
            out = ""
            for (i = 1; i <= n; i++)
                out = out (i > 1 ? "," : "") c[i] ":" by[w, c[i]]
            return (out == "") ? "none" : out
        }
        END {
            for (k = 1; k <= nw; k++)
                printf "%s %d %d %s %s\n", name[k], five[name[k]],
                       other[name[k]],
                       (name[k] in last) ? sprintf("%.0f", last[name[k]]) : "-",
                       statuses(name[k])
            printf "outside %d %d - %s\n", five["outside"], other["outside"],
                   statuses("outside")
        }' "$1"
}
classify "$tmp/answers.txt" >"$tmp/class-load.txt"
classify "$tmp/webhook-answers.txt" >"$tmp/class-webhooks.txt"

for wdef in "${windows[@]}"; do
    read -r name s e <<<"$wdef"
    read -r _ l5 _ llast lst < <(grep "^$name " "$tmp/class-load.txt")
    read -r _ w5 _ _ wst < <(grep "^$name " "$tmp/class-webhooks.txt")
    row "5xx in $name (t+$(at "$s" "$t0")-$(at "$e" "$t0") s, +${GRACE} s)" \
        "load $l5, webhooks $w5; last 5xx ${llast} s after the window's end; non-2xx by status: load $lst, webhooks $wst" \
        "counted" "-"
done
read -r _ o5 oo _ ost < <(grep "^outside " "$tmp/class-load.txt")
read -r _ ow5 owo _ owst < <(grep "^outside " "$tmp/class-webhooks.txt")
row "5xx outside the windows" "load $o5, webhooks $ow5" 0 \
    "$(verdict $((o5 + ow5 == 0)))"
row "other non-2xx outside the windows (not asserted)" \
    "load $oo, webhooks $owo (by status: load $ost, webhooks $owst)" "-" "-"

# the load itself
load_rows=()
total_req=0
for w in "${workloads[@]}"; do
    line=$(grep '^RESULT ' "$tmp/wrk-$w.out" || true)
    [ -n "$line" ] || { cat "$tmp/wrk-$w.out" >&2; die "wrk $w did not finish"; }
    eval "${line#RESULT }"   # rps= p50_ms= p99_ms= non2xx= sockerr= requests=
    total_req=$((total_req + requests))
    load_rows+=("| $w | $requests | $rps | $p50_ms | $p99_ms | $non2xx | $sockerr |")
    echo "load $w: $requests requests, $rps rps, p50 $p50_ms ms, p99 $p99_ms ms, non-2xx $non2xx, socket errors $sockerr"
done

# webhooks: the sender's view, then the table's
declare -A wh
while read -r k v; do wh[$k]=$v; done <"$tmp/webhooks/summary.txt"
echo "webhooks: ${wh[messages]} messages, ${wh[deliveries]} deliveries" \
     "(${wh[dup_sent]} duplicates on purpose), ${wh[attempts]} attempts," \
     "${wh[non2xx]} non-2xx answers; acknowledged ${wh[acked]}," \
     "unacknowledged ${wh[unacked]}; answers applied ${wh[answer_applied]}," \
     "duplicate ${wh[answer_duplicate]}"
read -r db_rows db_missing db_extra db_not_once db_dup < <(bench_psql -t -A -F ' ' <<SQL
create temp table acked (id text primary key);
\copy acked from '$tmp/webhooks/acked.txt'
select (select count(*) from webhook_events where svix_id like 'soak\_msg\_%'),
       (select count(*) from acked a
         where not exists (select 1 from webhook_events e
                            where e.svix_id = a.id)),
       (select count(*) from webhook_events e
         where svix_id like 'soak\_msg\_%'
           and not exists (select 1 from acked a where a.id = e.svix_id)),
       (select count(*) from webhook_events
         where svix_id like 'soak\_msg\_%'
           and (status <> 'applied' or attempts <> 1)),
       (select count(*) from (select svix_id from webhook_events
                               group by svix_id having count(*) > 1) d);
SQL
)
row "webhooks acknowledged / sent" "${wh[acked]} / ${wh[messages]} (unacknowledged ${wh[unacked]})" \
    "all" "$(verdict $(( wh[acked] == wh[messages] && wh[unacked] == 0 )))"
row "webhook_events rows / acknowledged ids" \
    "$db_rows / ${wh[acked]} (acked not stored $db_missing, stored not acked $db_extra, ids with 2+ rows $db_dup)" \
    "equal, 0, 0, 0" \
    "$(verdict $(( db_rows == wh[acked] && db_missing == 0 && db_extra == 0 && db_dup == 0 )))"
row "webhooks applied once" \
    "rows not applied with attempts 1: $db_not_once; ids answered applied twice: ${wh[applied_twice]}; duplicate answers ${wh[answer_duplicate]} for ${wh[dup_sent]} duplicates sent" \
    "0, 0" "$(verdict $(( db_not_once == 0 && wh[applied_twice] == 0 )))"

# RSS
read -r rw _ <<<"$rss_warm"
read -r re _ <<<"$rss_end"
read -r rs _ <<<"$rss_settled"
pct=$(awk -v a="$rw" -v b="$re" 'BEGIN { printf "%+.1f", 100 * (b - a) / a }')
ok=$(awk -v a="$rw" -v b="$re" 'BEGIN { d = (b - a) / a; print (d <= 0.10 && d >= -0.10) ? 1 : 0 }')
row "workers' RSS, after warm-up -> end of load" \
    "$rw kB -> $re kB ($pct%); after settling $rs kB" "within 10%" "$(verdict "$ok")"
row "Postgres connections of the app after the load" "$pg_conns" \
    "$expect_conns ($WORKERS workers x max=$POOL)" \
    "$(verdict "$([ "$pg_conns" = "$expect_conns" ] && echo 1 || echo 0)")"

# --- the table

stamp=$(date -u +%Y-%m-%d-%H%M)
mkdir -p "$ROOT/.build/soak"
report=$ROOT/.build/soak/$stamp.md
{
    echo "# make soak, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "$(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p')), load average before the run's end: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "${S} s of W1-W5 at once ($CONNS connections, one wrk per workload), $total_req requests;"
    echo "nginx $WORKERS workers, backend_pg max=$POOL pipeline=$PIPELINE; webhooks $RATE new messages/s."
    echo "Postgres restarted twice, Redis once (down ${DOWN} s each); grace ${GRACE} s after each window; warm-up ${WARMUP} s."
    echo
    echo "| check | figure | limit | result |"
    echo "|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
    echo "| workload | requests | rps | p50 ms | p99 ms | non-2xx | socket errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${load_rows[@]}"
    echo
    echo "RSS samples (pid:VmRSS/RssAnon/RssShmem kB): after warm-up $rss_warm; end of load $rss_end; settled $rss_settled."
    echo
    if [ "$failed" = 0 ]; then echo "All assertions passed."; else echo "**Some assertions failed.**"; fi
} >"$report"

echo
cat "$report"
echo
echo "soak: $report"
exit "$failed"
