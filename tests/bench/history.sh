#!/usr/bin/env bash
# The history's cost (cprofd --continuous all): a busy host for
# BENCH_MINUTES (default 5) with every view continuous, windows of 10 s:
# cprofd's CPU (with its parser processes'), its BPF programs' run time, the
# time it spends building windows, and the bytes it stores, per view; then a
# history of BENCH_HOURS (default 24) made by histgen (tests/bench/histgen.c)
# from the soak's own cpu windows, cycled at the soak's rate, and the time a
# query for the last hour and for all of it takes (curl's total, medians of
# BENCH_RUNS, default 3, after one cold query each).
#
#   the busy host   build/workloads/split (about a CPU), a C compile every
#                   second, and every 10 s build/workloads/locks mutex (four
#                   threads contending) and build/workloads/leaks grow for 3 s
#                   (allocating)
#
# --continuous all leaves heap and allocs out for the whole host; a second
# soak of BENCH_HEAP_MINUTES (default 2) names them too
# (--continuous all,heap,allocs). Then what the host pays beyond cprofd's own
# CPU: a compile's time alone, under each (BENCH_RUNS rounds).
#
# Writes the section "## The history" into docs/PERFORMANCE.md between the
# bench:history markers. Goals (issue 15): cprofd plus BPF under 1% of a core
# with every view continuous; a 1-hour query under 1 s.
# Run as root: `bash tests/bench/history.sh` after `make check`.
# Environment: BENCH_MINUTES, BENCH_HEAP_MINUTES, BENCH_HOURS, BENCH_RUNS, BENCH_PORT (default
# 16077), BENCH_DOC (default docs/PERFORMANCE.md; "none" to only print).
set -uo pipefail
cd "$(dirname "$0")/../.."

MINUTES=${BENCH_MINUTES:-5}
HEAP_MINUTES=${BENCH_HEAP_MINUTES:-2}
HOURS=${BENCH_HOURS:-24}
RUNS=${BENCH_RUNS:-3}
PORT=${BENCH_PORT:-16077}
DOC=${BENCH_DOC:-docs/PERFORMANCE.md}
HZ=99
WIN=10
SOCK=/tmp/cprofd-bench-history.sock
URL=http://127.0.0.1:$PORT
OUT=build/bench
PROCCPU=$OUT/proccpu
TMP=$(mktemp -d /tmp/cprof-bench-history.XXXXXX)
RESULTS=$TMP/results.tsv
FIELDS="cfg round seconds"
source tests/bench/lib.sh

[ "$(id -u)" = 0 ] || die "run as root"
build_proccpu
gcc -O2 -Wall -Wextra -Idaemon/history tests/bench/histgen.c build/libcprof.a \
	-lprotobuf-c -lzstd -lz -lpthread -lm -o "$OUT/histgen" || die "cannot build histgen"
for w in split locks leaks; do [ -x "build/workloads/$w" ] || die "build/workloads/$w: run make check first"; done

# every BPF program cprofd holds: their run time so far, ns
bpf_ns() {
	local id t=0
	for id in $(awk '/^prog_id:/ { print $2 }' /proc/"$1"/fdinfo/* 2>/dev/null | sort -u); do
		t=$((t + $(bpf_stats "$id" | awk '{ print $1 }')))
	done
	echo "$t"
}
# each of them: "name run_time_ns run_cnt", a line each
bpf_progs() {
	local id
	for id in $(awk '/^prog_id:/ { print $2 }' /proc/"$1"/fdinfo/* 2>/dev/null | sort -u); do
		bpftool prog show id "$id" 2>/dev/null | awk '
			NR == 1 { for (i = 1; i < NF; i++) if ($i == "name") n = $(i + 1) }
			{ for (i = 1; i < NF; i++) { if ($i == "run_time_ns") t = $(i + 1); if ($i == "run_cnt") c = $(i + 1) } }
			END { print n, (t ? t : 0), (c ? c : 0) }'
	done
}
metric() { curl -s "$URL/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
stop_cprofd() { kill -TERM "$PROF_PID" 2>/dev/null; wait "$PROF_PID" 2>/dev/null; PROF_PID=; }

# ---- the soaks ------------------------------------------------------------

# soak NAME MINUTES OPTION...: cprofd OPTION... on the busy host for MINUTES;
# sets NAME's figures (cpu_pct bpf_pct build_pct secs ..., prefixed NAME_)
# and leaves its history in $TMP/NAME, its programs' times in $TMP/NAME.progs*
soak() {
	local name=$1 minutes=$2 c0 c1 b0 b1 h0 h1 t0 t1 secs
	shift 2
	start_cprofd "$name" "$@" --window "$WIN" --store "$TMP/$name" || die "${FAILED[$name]}"
	sleep 5
	busy_host $((minutes * 60 + 30))
	cleanup_hook() { stop_busy_host; }
	c0=$(cpu_ns "$PROF_PID") b0=$(bpf_ns "$PROF_PID") h0=$(metric cprofd_history_build_seconds_total)
	bpf_progs "$PROF_PID" >"$TMP/$name.progs0"
	t0=$(now)
	# the windows' memory every 10 s: on a host where processes come and
	# go it must level off, not grow until the limit refuses cuts
	: >"$TMP/$name.winmem"
	for _ in $(seq $((minutes * 6))); do
		sleep 10
		metric 'cprofd_window_bytes{state="used"}' >>"$TMP/$name.winmem"
	done
	t1=$(now)
	c1=$(cpu_ns "$PROF_PID") b1=$(bpf_ns "$PROF_PID") h1=$(metric cprofd_history_build_seconds_total)
	bpf_progs "$PROF_PID" >"$TMP/$name.progs1"
	curl -s "$URL/debug/history" >"$TMP/$name.list"
	printf -v "${name}_stored" '%s' "$(metric 'cprofd_history_bytes{form="stored"}')"
	printf -v "${name}_raw" '%s' "$(metric 'cprofd_history_bytes{form="raw"}')"
	printf -v "${name}_rss" '%s' "$(tree_status_kb VmRSS "$PROF_PID")"
	printf -v "${name}_cut_err" '%s' "$(metric 'cprofd_history_errors_total{reason="cut"}')"
	printf -v "${name}_retired" '%s' "$(metric cprofd_track_records_retired_total)"
	printf -v "${name}_limit" '%s' "$(metric 'cprofd_window_bytes{state="limit"}')"
	stop_busy_host
	stop_cprofd
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) / 1e6 }')
	printf -v "${name}_secs" '%s' "$secs"
	printf -v "${name}_cpu_pct" '%s' "$(awk -v n=$((c1 - c0)) -v s="$secs" 'BEGIN { printf "%.2f", n / 1e9 / s * 100 }')"
	printf -v "${name}_bpf_pct" '%s' "$(awk -v n=$((b1 - b0)) -v s="$secs" 'BEGIN { printf "%.2f", n / 1e9 / s * 100 }')"
	printf -v "${name}_build_pct" '%s' "$(awk -v a="${h0:-0}" -v b="${h1:-0}" -v s="$secs" 'BEGIN { printf "%.2f", (b - a) / s * 100 }')"
}
# MiB: after the first minute, the largest, at the end
mib() { awk '{ printf "%.1f", $1 / 1048576 }'; }

soak soak "$MINUTES" --continuous all
win_1m=$(sed -n 6p "$TMP/soak.winmem" | mib) win_max=$(sort -n "$TMP/soak.winmem" | tail -1 | mib)
win_end=$(tail -1 "$TMP/soak.winmem" | mib)
secs=$soak_secs stored=$soak_stored raw=$soak_raw rss=$soak_rss cut_err=$soak_cut_err
retired=$soak_retired limit=$soak_limit cpu_pct=$soak_cpu_pct bpf_pct=$soak_bpf_pct build_pct=$soak_build_pct
per_hour=$(awk -v b="$stored" -v s="$secs" 'BEGIN { printf "%.1f", b / (s + 5) * 3600 / 1048576 }')
# the same with the allocator's views kept for the whole host too
soak heap "$HEAP_MINUTES" --continuous all,heap,allocs

# ---- what the host pays: a compile's time ----------------------------------

# compile_ms: the median of 5 compiles of tests/workloads/locks.c, ms
compile_ms() {
	local i t0
	for i in 1 2 3 4 5; do
		t0=$(now)
		gcc -O1 -c tests/workloads/locks.c -o "$TMP/c.o"
		echo $(( ($(now) - t0) / 1000 ))
	done | med
}
: >"$TMP/compile.tsv"
for r in $(seq "$RUNS"); do
	for cfg in alone all heap; do
		case $cfg in
		all) start_cprofd c-all --continuous all --window "$WIN" --store "$TMP/c-$r" || die "${FAILED[c-all]}" ;;
		heap) start_cprofd c-heap --continuous all,heap,allocs --window "$WIN" --store "$TMP/c-$r" ||
			die "${FAILED[c-heap]}"
			for _ in $(seq 100); do [ "$(metric cprofd_heap_objects)" -ge 1 ] 2>/dev/null && break; sleep 0.2; done ;;
		esac
		[ "$cfg" = alone ] || sleep 3
		printf '%s\t%s\t%s\n' "$cfg" "$r" "$(compile_ms)" >>"$TMP/compile.tsv"
		[ "$cfg" = alone ] || stop_cprofd
	done
done
compile_med() { awk -v c="$1" '$1 == c { print $3 }' "$TMP/compile.tsv" | med; }
# paired ratios to alone, per round: "median min max"
compile_ratio() {
	awk -v c="$1" '{ v[$1, $2] = $3 } END { for (k in v) { split(k, p, SUBSEP); if (p[1] == c && v["alone", p[2]] > 0) print v[k] / v["alone", p[2]] } }' \
		"$TMP/compile.tsv" | stats
}

# ---- queries over a long history -------------------------------------------

"$OUT/histgen" "$TMP/soak" "$TMP/long" cpu "$HOURS" "$WIN" >"$TMP/gen.out" || die "histgen failed"
read -r _ nwin _ nbytes <"$TMP/gen.out"
sync
echo 3 >/proc/sys/vm/drop_caches
start_cprofd query --continuous cpu --window "$WIN" --store "$TMP/long" --retention 100G,30d ||
	die "${FAILED[query]}"
: >"$RESULTS"
query() {	# NAME RANGE ROUND
	local s
	s=$(curl -s -o "$TMP/q.pb.gz" -w '%{time_total}' "$URL/debug/pprof/profile?start=-$2")
	printf '%s\t%s\t%s\n' "$1" "$3" "$s" >>"$RESULTS"
}
query "1h cold" 1h 0
query "${HOURS}h cold" "${HOURS}h" 0
for r in $(seq "$RUNS"); do
	query 1h 1h "$r"
	query "${HOURS}h" "${HOURS}h" "$r"
done
go_ok=-
command -v go >/dev/null && { HOME=$TMP go tool pprof -top "$TMP/q.pb.gz" >/dev/null 2>"$TMP/go.err" && [ ! -s "$TMP/go.err" ] && go_ok=yes || go_ok=no; }
stop_cprofd

q1=$(col 1h seconds | med) qn=$(col "${HOURS}h" seconds | med)
q1c=$(col "1h cold" seconds | med) qnc=$(col "${HOURS}h cold" seconds | med)

# ---- report ----------------------------------------------------------------

# progs_table NAME: the BPF programs' run time over soak NAME, a row each, dearest first
progs_table() {
	local secs_var=${1}_secs
	echo "| program | % of a core | runs | ns a run |"
	echo "|---|---|---|---|"
	awk -v s="${!secs_var}" 'NR == FNR { t[$1] = $2; c[$1] = $3; next }
		{ d = $2 - t[$1]; n = $3 - c[$1]; if (d > 0) printf "| %s | %.2f | %d | %.0f |\n", $1, d / 1e9 / s * 100, n, n ? d / n : 0 }' \
		"$TMP/$1.progs0" "$TMP/$1.progs1" | sort -t '|' -k3 -gr
}

section=$TMP/section.md
{
	echo "<!-- bench:history begin -->"
	echo "## The history: what keeping every view costs, and what a query takes (generated by tests/bench/history.sh)"
	echo
	machine_lines
	echo "\`cprofd --continuous all --window $WIN\` (every view kept, system-wide: all but heap and allocs, which"
	echo "\`all\` leaves out for the whole host; see the second soak) for $MINUTES minutes on a busy host:"
	echo "split (about a CPU), a C compile every second, and every 10 s a contended lock workload and"
	echo "an allocating one. Then a history of $HOURS h of cpu windows made from the soak's own ones (histgen,"
	echo "cycled at the soak's rate: $nwin windows, $((nbytes / 1048576)) MiB), queried by a fresh cprofd after"
	echo "the page cache was dropped: one cold query each, then medians of $RUNS."
	echo
	echo "| | figure |"
	echo "|---|---|"
	echo "| cprofd CPU (with its parser processes), % of a core | $cpu_pct |"
	echo "| of which building the windows (cprofd_history_build_seconds_total) | $build_pct |"
	echo "| BPF programs' run time, % of a core | $bpf_pct |"
	echo "| stored per host-hour, MiB (every view) | $per_hour |"
	echo "| stored / uncompressed | $(awk -v a="$stored" -v b="$raw" 'BEGIN { printf "%.1f%%", b ? 100 * a / b : 0 }') |"
	echo "| cprofd RSS at the end, MiB | $(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }') |"
	echo "| windows' memory after 1 min / largest / at the end, MiB (limit $(echo "${limit:-0}" | mib)) | $win_1m / $win_max / $win_end |"
	echo "| history cuts refused at the limit (cprofd_history_errors_total{reason="cut"}) | ${cut_err:-?} |"
	echo "| exited processes' records retired from the totals | ${retired:-?} |"
	echo "| 1-hour query, s (cold) | $(fmt "$q1" '%.2f') ($(fmt "$q1c" '%.2f')) |"
	echo "| $HOURS-hour query, s (cold) | $(fmt "$qn" '%.2f') ($(fmt "$qnc" '%.2f')) |"
	echo "| go tool pprof reads the merged profile without warnings | $go_ok |"
	echo
	echo "Bytes kept per view over the soak (\`/debug/history\`):"
	echo
	echo "| view | windows | bytes |"
	echo "|---|---|---|"
	awk '!/^#/ && NF >= 5 { printf "| %s | %s | %s |\n", $1, $4, $5 }' "$TMP/soak.list" | sort -t '|' -k4 -nr
	echo
	echo "The BPF programs' run time over the soak, by program (\`bpftool prog show\`; the time a"
	echo "uprobe's trap costs the probed process is not in it):"
	echo
	progs_table soak
	echo
	echo "The same busy host for $HEAP_MINUTES minutes under \`cprofd --continuous all,heap,allocs\` (the allocator's"
	echo "views named, kept for the whole host too): cprofd $heap_cpu_pct% of a core (building windows"
	echo "$heap_build_pct%), BPF $heap_bpf_pct%; by program:"
	echo
	progs_table heap | head -n 6
	echo
	echo "What the host pays beyond cprofd's own time: a compile (\`gcc -O1 -c tests/workloads/locks.c\`,"
	echo "median of 5 a round, $RUNS rounds, otherwise quiet host) alone and under each; the allocator's"
	echo "probes trap at every malloc and free of the compiler, a cost the BPF figures above leave out:"
	echo
	echo "| configuration | ms a compile | × alone (rounds) |"
	echo "|---|---|---|"
	for c in alone all heap; do
		read -r m lo hi <<<"$(compile_ratio "$c")"
		case $c in alone) l="nothing attached" ;; all) l="\`--continuous all\`" ;; heap) l="\`--continuous all,heap,allocs\`" ;; esac
		awk -v l="$l" -v ms="$(compile_med "$c")" -v m="$m" -v lo="$lo" -v hi="$hi" 'BEGIN {
			printf "| %s | %.0f | %.2f (%.2f–%.2f) |\n", l, ms, m, lo, hi }'
	done
	echo
	echo "- Goal: cprofd plus BPF under 1% of a core with every view continuous (\`--continuous all\`): $(awk -v a="$cpu_pct" -v b="$bpf_pct" 'BEGIN { printf "%.2f%%: %s", a + b, a + b < 1 ? "met" : "NOT met" }'); with heap and allocs named too: $(awk -v a="$heap_cpu_pct" -v b="$heap_bpf_pct" 'BEGIN { printf "%.2f%%: %s", a + b, a + b < 1 ? "met" : "NOT met" }')."
	echo "- Goal: a 1-hour query under 1 s: $(fmt "$q1" '%.2f') s: $(awk -v q="${q1:-99}" 'BEGIN { print q < 1 ? "met" : "NOT met" }')."
	echo "<!-- bench:history end -->"
} >"$section"
cat "$section"
write_doc "$section" history
