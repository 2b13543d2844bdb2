#!/usr/bin/env bash
# make bench's charts (SVG, gnuplot) from the data tools/bench.sh leaves in
# its output directory:
#   PREFIX-workloads.svg  throughput and p99 per workload, a bar per server
#   PREFIX-sweep.svg      W2's and W3's throughput and p99 against
#                         connections (log scales), a line per server
#
# usage: tools/bench-charts.sh DIR PREFIX SERVER...
#   SERVER: ngx, openresty, bun (bars and lines in this order)
#   DIR/medians-SERVER.tsv  per workload: name rps p50 p99 errors cpu_us
#   DIR/sweep.txt           per run: server connections workload rps p99
#                           errors
# env: TITLE, SWEEP_TITLE (the charts' subtitles), CONNS (64: the
#      workloads' connections, for the title)
set -euo pipefail

[ $# -ge 3 ] || { echo "usage: $0 DIR PREFIX SERVER..." >&2; exit 2; }
dir=$1 prefix=$2
shift 2
servers=("$@")

command -v gnuplot >/dev/null \
    || { echo "bench-charts: no gnuplot (make deps installs it)" >&2; exit 1; }

declare -A name=([ngx]=ngx_backend [openresty]="OpenResty peer"
                 [bun]="Bun peer")
declare -A color=([ngx]="#1f5fa8" [openresty]="#3a9a3a" [bun]="#e39a1c")
for s in "${servers[@]}"; do
    [ -n "${name[$s]:-}" ] || { echo "bench-charts: unknown server $s" >&2; exit 2; }
    [ -f "$dir/medians-$s.tsv" ] \
        || { echo "bench-charts: no $dir/medians-$s.tsv" >&2; exit 1; }
done

work=$(mktemp -d /tmp/bench-charts.XXXXXX)
trap 'rm -rf "$work"' EXIT

# per workload: one row, a column per server, on standard output; COLUMN
# of medians-*.tsv (2 rps, 4 p99)
bars() {
    local col=$1 s files=()
    for s in "${servers[@]}"; do
        cut -f"$col" "$dir/medians-$s.tsv" >"$work/col-$col-$s"
        files+=("$work/col-$col-$s")
    done
    printf 'workload'
    for s in "${servers[@]}"; do printf '\t"%s"' "${name[$s]}"; done
    echo
    paste <(cut -f1 "$dir/medians-${servers[0]}.tsv" | sed \
                -e 's/^w2-me$/w2-user.me/; s/^w3-sessions$/w3-sessions.list/' \
                -e 's/^w4-notes$/w4-notes.create/' \
                -e 's/^w\([0-9]\)-\(.*\)/"W\1 \2"/') "${files[@]}"
}

n=${#servers[@]}
bars 2 >"$work/rps.dat"
bars 4 >"$work/p99.dat"

colors=""
for s in "${servers[@]}"; do colors+="'${color[$s]}' "; done

# a bar's centre in a clustered histogram: the group's x plus the bar's
# offset (boxes of 1 / (n + gap) with gap 1)
cat >"$work/workloads.gp" <<GP
set terminal svg size 960,760 dynamic noenhanced font "sans,12" background "white"
set output "$prefix-workloads.svg"
n = $n
array colors[n] = [$(echo "$colors" | sed "s/' '/', '/g; s/ *$//")]
xoff(i) = (i - 2 - (n - 1) / 2.0) / (n + 1.0)
krps(v) = v >= 10000 ? sprintf("%.0fk", v / 1000) : sprintf("%.1fk", v / 1000)
set datafile separator "\t"
set key autotitle columnheader
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.9 border -1
set key below horizontal
set grid ytics
set yrange [0:*]
set offsets 0, 0, graph 0.08, 0
set multiplot layout 2,1 title "make bench: ${TITLE:-one run}"
set title "throughput, ${CONNS:-64} connections (higher is better)"
set ylabel "requests/s"
set format y "%.0s%c"
plot for [i=2:n+1] "$work/rps.dat" using i:xtic(1) title columnheader(i) lc rgb colors[i-1], \\
     for [i=2:n+1] "$work/rps.dat" using (\$0 + xoff(i)):i:(krps(column(i))) \\
         with labels offset 0,0.7 font ",9" notitle
set title "p99 latency, ${CONNS:-64} connections (lower is better)"
set ylabel "ms"
set format y "%g"
plot for [i=2:n+1] "$work/p99.dat" using i:xtic(1) title columnheader(i) lc rgb colors[i-1], \\
     for [i=2:n+1] "$work/p99.dat" using (\$0 + xoff(i)):i:(sprintf("%.1f", column(i))) \\
         with labels offset 0,0.7 font ",9" notitle
unset multiplot
GP

# the sweep: per server and workload, "connections rps p99" by connections
conns=$(awk '{print $2}' "$dir/sweep.txt" | sort -n -u | paste -sd, -)
cmin=${conns%%,*} cmax=${conns##*,}
for s in "${servers[@]}"; do
    for w in w2-me w3-sessions; do
        awk -v s="$s" -v w="$w" '$1 == s && $3 == w {print $2, $4, $5}' \
            "$dir/sweep.txt" | sort -n >"$work/sweep-$s-$w.dat"
    done
done

# plot WORKLOAD COLUMN: a line per server
sweep_plot() {
    local sep="plot " s
    for s in "${servers[@]}"; do
        printf '%s"%s" using 1:%s with linespoints lw 2 pt 7 lc rgb "%s" title "%s"' \
            "$sep" "$work/sweep-$s-$1.dat" "$2" "${color[$s]}" "${name[$s]}"
        sep=", "
    done
    echo
}

cat >"$work/sweep.gp" <<GP
set terminal svg size 960,760 dynamic noenhanced font "sans,12" background "white"
set output "$prefix-sweep.svg"
set logscale x 2
set xtics ($conns)
set xrange [$cmin / 1.3 : $cmax * 1.3]
set xlabel "connections"
set grid xtics ytics mytics
set key below horizontal reverse Left width 2 samplen 2
set multiplot layout 2,2 title "make bench, connection sweep: ${SWEEP_TITLE:-one run}"
set yrange [0:*]
set format y "%.0s%c"
set ylabel "requests/s"
set title "W2 user.me: throughput"
$(sweep_plot w2-me 2)
set title "W3 sessions.list: throughput"
$(sweep_plot w3-sessions 2)
set logscale y
set yrange [*:*]
set format y "%g"
set ylabel "p99 ms (log)"
set title "W2 user.me: p99"
$(sweep_plot w2-me 3)
set title "W3 sessions.list: p99"
$(sweep_plot w3-sessions 3)
unset multiplot
GP

gnuplot "$work/workloads.gp"
gnuplot "$work/sweep.gp"
