#!/usr/bin/env bash
# The busy-host soak: cprofd system-wide, at its defaults, for BENCH_SOAK_MINUTES
# (default 30) on a host that keeps building and running new programs, while
# a known workload runs and a scraper fetches profile?seconds=14 every 15 s,
# as Parca or Grafana Alloy would.
#
#   known workload  build/workloads/split-nofp (no frame pointers: only the
#                   unwind tables reach main), about a CPU's worth
#   churn           a loop that, every round: writes and compiles a new C
#                   program (a new build id each time) and runs it for a
#                   second; compiles tests/integration/busy/templates.cpp with
#                   clang++ -O1 every third round (libLLVM, libclang-cpp);
#                   runs a burst of short commands (sh, sed, sort, gzip)
#   scraper         curl profile?seconds=14 every 15 s, system-wide
#
# Every minute it records cprofd's RSS, its CPU and its BPF program's run time
# (kernel.bpf_stats_enabled) over the minute, the unwind rows in use and the
# objects loaded, and from the minute's scraped profiles the known workload's
# share of samples whose walk reached its outermost frame, and the samples with
# a frame outside the processes' code. Prints the table and writes it into docs/PERFORMANCE.md
# between the bench:soak markers, with the goals: RSS flat after the first
# minutes and under 100 MB; the known workload's walks >= 99% complete for the
# whole soak; cprofd plus BPF under 1% of a core.
#
# Run as root: `bash tests/bench/soak.sh` after `make check` (it uses the
# test workloads), or `make soak`. Environment: BENCH_SOAK_MINUTES (default
# 30), BENCH_PORT (default 16073), BENCH_DOC (default docs/PERFORMANCE.md;
# "none" to only print), BENCH_KEEP=1 (keep the raw results in /tmp).
set -uo pipefail
cd "$(dirname "$0")/../.."

MINUTES=${BENCH_SOAK_MINUTES:-30}
PORT=${BENCH_PORT:-16073}
DOC=${BENCH_DOC:-docs/PERFORMANCE.md}
HZ=99
SOCK=/tmp/cprofd-bench-soak.sock
URL=http://127.0.0.1:$PORT
OUT=build/bench
PROCCPU=$OUT/proccpu
TMP=$(mktemp -d /tmp/cprof-bench-soak.XXXXXX)
RESULTS=$TMP/results.tsv
FIELDS="minute rss_kb cpu_ns bpf_ns bpf_cnt rows_used rows_total objects waiting evicted
	reach samples outside profiles truncated early_drains drops"
SPLIT=build/workloads/split-nofp
PROFQ=build/tests/profq
CHURN_PID=
SCRAPER_PID=

source tests/bench/lib.sh

cleanup_hook() {
	local p
	[ -n "$CHURN_PID" ] && pkill -TERM -P "$CHURN_PID" 2>/dev/null
	for p in $SCRAPER_PID $CHURN_PID; do
		kill -TERM "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
}

build_check
build_proccpu
[ -x "$SPLIT" ] && [ -x "$PROFQ" ] || die "$SPLIT or $PROFQ missing: run make check first"
command -v gcc >/dev/null || die "gcc missing"
CLANG=$(command -v clang++ || true)
[ -n "$CLANG" ] || echo "bench: clang++ missing: the churn compiles C only" >&2

# ---- the host's churn ----------------------------------------------------

churn() {
	local round=0 dir=$TMP/churn
	mkdir -p "$dir"
	while :; do
		round=$((round + 1))
		# a new program: another constant, another build id
		cat >"$dir/p$round.c" <<-EOF
		#include <stdio.h>
		#include <time.h>
		static volatile unsigned long s;
		__attribute__((noinline)) static void spin$round(void) { for (int i = 0; i < 100000; i++) s += i * $round; }
		int main(void) { time_t e = time(0) + 1; while (time(0) < e) spin$round(); printf("%lu\n", s); return 0; }
		EOF
		gcc -O1 "$dir/p$round.c" -o "$dir/p$round" && "$dir/p$round" >/dev/null
		rm -f "$dir/p$((round - 1))" "$dir/p$((round - 1)).c"
		if [ -n "$CLANG" ] && [ $((round % 3)) = 0 ]; then
			"$CLANG" -O1 -c tests/integration/busy/templates.cpp -o "$dir/t.o"
		fi
		for _ in $(seq 20); do
			sh -c 'seq 2000 | sed s/1/x/ | sort | gzip -c >/dev/null'
		done
		sleep 2
	done
}

scraper() {
	local n=0
	while :; do
		n=$((n + 1))
		curl -s -o "$TMP/scrape.$n.pb.gz" "$URL/debug/pprof/profile?seconds=14"
		sleep 1
	done
}

# over the scraped profiles of the last minute: the known workload's samples
# and those whose walk reached its outermost frame (main for its main thread,
# libc's start_thread for its other), and of all samples those with a frame
# outside the code and those marked truncated:
# "REACH% KNOWN OUTSIDE PROFILES TRUNCATED"
scrape_stats() {
	local f known=0 main=0 out=0 profs=0 tr=0 all k
	for f in "$TMP"/scrape.*.pb.gz; do
		[ -s "$f" ] && "$PROFQ" "$f" total >/dev/null 2>&1 || { rm -f "$f"; continue; }
		profs=$((profs + 1))
		all=$("$PROFQ" "$f" total | awk '{ print $2 }')
		out=$(awk -v a="$out" -v p="$("$PROFQ" "$f" outside)" -v n="$all" 'BEGIN { printf "%.0f", a + p * n / 100 }')
		tr=$(awk -v a="$tr" -v p="$("$PROFQ" "$f" share '[truncated stack]')" -v n="$all" 'BEGIN { printf "%.0f", a + p * n / 100 }')
		k=$(PROFQ_PID=$1 "$PROFQ" "$f" total | awk '{ print $2 }')
		main=$(awk -v a="$main" -v p="$(PROFQ_PID=$1 "$PROFQ" "$f" any main start_thread)" -v n="$k" 'BEGIN { printf "%.0f", a + p * n / 100 }')
		known=$((known + k))
		rm -f "$f"
	done
	awk -v m="$main" -v k="$known" -v o="$out" -v p="$profs" -v t="$tr" \
		'BEGIN { printf "%s %d %d %d %d\n", k ? sprintf("%.2f", 100 * m / k) : "-", k, o, p, t }'
}

metric() { awk -v k="$2" '$1 == k { v = $2 } END { print v == "" ? 0 : v }' "$1"; }

# ---- run -------------------------------------------------------------------

start_cprofd soak || die "${FAILED[soak]}"
prog_id=$(perf_prog_id "$PROF_PID")
"$SPLIT" $((MINUTES * 60 + 120)) >"$TMP/split.out" 2>&1 &
KNOWN=$!
WORK_PID="$KNOWN"
churn >"$TMP/churn.log" 2>&1 &
CHURN_PID=$!
scraper &
SCRAPER_PID=$!
echo "bench: soak of $MINUTES minutes: cprofd $PROF_PID, known workload split-nofp $KNOWN"
printf '%s\n' "$FIELDS" | tr -s ' \t\n' '\t' | sed 's/\t$/\n/' >"$TMP/header"
: >"$RESULTS"
cpu0=$(cpu_ns "$PROF_PID")
read -r bns0 bcnt0 < <(bpf_stats "$prog_id")
for minute in $(seq "$MINUTES"); do
	sleep 60
	curl -s -o "$TMP/m" "$URL/metrics"
	cpu1=$(cpu_ns "$PROF_PID")
	read -r bns1 bcnt1 < <(bpf_stats "$prog_id")
	rss=$(tree_status_kb VmRSS "$PROF_PID")
	read -r reach samples outside profiles truncated < <(scrape_stats "$KNOWN")
	drops=$(awk '$1 ~ /event="(counts_map_full|stacks_map_full|events_lost|seen_map_full)"/ { s += $2 } END { print s + 0 }' "$TMP/m")
	printf '%s\t' "$minute" "$rss" "$((cpu1 - cpu0))" "$((bns1 - bns0))" "$((bcnt1 - bcnt0))" \
		"$(metric "$TMP/m" 'cprofd_unwind_rows{state="used"}')" "$(metric "$TMP/m" 'cprofd_unwind_rows{state="total"}')" \
		"$(metric "$TMP/m" cprofd_unwind_objects)" "$(metric "$TMP/m" cprofd_unwind_objects_waiting)" \
		"$(metric "$TMP/m" 'cprofd_unwind_evictions_total{reason="cold"}')" \
		"$reach" "$samples" "$outside" "$profiles" "$truncated" "$(metric "$TMP/m" cprofd_early_drains_total)" >>"$RESULTS"
	printf '%s\n' "$drops" >>"$RESULTS"
	cpu0=$cpu1 bns0=$bns1 bcnt0=$bcnt1
	alive "$PROF_PID" || die "cprofd exited at minute $minute: $(tail -n 3 "$TMP/cprofd.log")"
	echo "  minute $minute: RSS $((rss / 1024)) MiB, cprofd $(awk -v c="$(tail -n 1 "$RESULTS" | cut -f3)" 'BEGIN { printf "%.2f", c / 6e8 }')% + BPF $(awk -v c="$(tail -n 1 "$RESULTS" | cut -f4)" 'BEGIN { printf "%.2f", c / 6e8 }')% of a core, rows $(metric "$TMP/m" 'cprofd_unwind_rows{state="used"}'), known workload's walks complete in $reach% of $samples samples"
done
curl -s -o "$TMP/m" "$URL/metrics"
cp "$TMP/cprofd.log" "$TMP/cprofd.final.log"

# ---- report ----------------------------------------------------------------

section=$TMP/section.md
{
	echo "<!-- bench:soak begin -->"
	echo "## A busy host for $MINUTES minutes (generated by tests/bench/soak.sh)"
	echo
	machine_lines
	echo "cprofd at its defaults, system-wide (--hz $HZ, --memory 96M); a known workload (split-nofp, no"
	echo "frame pointers, two threads, about a CPU); a churn of new programs (a new C program built and run every"
	echo "round, clang++ -O1 on a template-heavy file every third round, bursts of short shell pipelines);"
	echo "a scraper fetching profile?seconds=14 every 15 s. One row a minute: cprofd's RSS at its end (with its parser processes');"
	echo "cprofd's CPU (with its parser processes') and its BPF program's run time over it, in % of one core; unwind rows in use and"
	echo "objects loaded; of the minute's scraped profiles, the known workload's samples whose walk"
	echo "reached its outermost frame (main, or libc's start_thread for its second thread), and all"
	echo "samples with a frame outside the processes' code, or marked [truncated stack]."
	echo
	echo "| minute | RSS MiB | cprofd % | BPF % | rows used | objects | waiting | cold evictions | walks complete | known samples | outside | truncated | drops |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	awk -F '\t' '{ printf "| %d | %.1f | %.2f | %.2f | %d | %d | %d | %d | %s%% | %d | %d | %d | %d |\n",
		$1, $2 / 1024, $3 / 6e8, $4 / 6e8, $6, $8, $9, $10, $11, $12, $13, $15, $17 }' "$RESULTS"
	echo
	rss_first=$(awk -F '\t' 'NR == 5 { print $2 / 1024 }' "$RESULTS")
	rss_last=$(awk -F '\t' 'END { print $2 / 1024 }' "$RESULTS")
	rss_max=$(awk -F '\t' '$2 > m { m = $2 } END { print m / 1024 }' "$RESULTS")
	# the first minute builds the tables and reads the symbols of every
	# process already running: reported apart
	cpu_first=$(awk -F '\t' 'NR == 1 { printf "%.2f", ($3 + $4) / 6e8 }' "$RESULTS")
	cpu=$(awk -F '\t' 'NR > 1 { s += $3 + $4; n++ } END { printf "%.2f", n ? s / n / 6e8 : 0 }' "$RESULTS")
	cpu_d=$(awk -F '\t' 'NR > 1 { s += $3; n++ } END { printf "%.2f", n ? s / n / 6e8 : 0 }' "$RESULTS")
	cpu_b=$(awk -F '\t' 'NR > 1 { s += $4; n++ } END { printf "%.2f", n ? s / n / 6e8 : 0 }' "$RESULTS")
	cpu_med=$(awk -F '\t' 'NR > 1 { print ($3 + $4) / 6e8 }' "$RESULTS" | med)
	bpf_us=$(awk -F '\t' 'NR > 1 { t += $4; c += $5 } END { printf "%.1f", c ? t / c / 1000 : 0 }' "$RESULTS")
	reach_min=$(awk -F '\t' '$11 != "-" && ($11 < m || m == "") { m = $11 } END { print m }' "$RESULTS")
	reach_min2=$(awk -F '\t' 'NR > 1 && $11 != "-" && ($11 < m || m == "") { m = $11 } END { print m }' "$RESULTS")
	reach_all=$(awk -F '\t' '$11 != "-" { r += $11 * $12; n += $12 } END { printf "%.2f", n ? r / n : 0 }' "$RESULTS")
	outside=$(awk -F '\t' '{ o += $13 } END { print o + 0 }' "$RESULTS")
	echo "Goals: RSS flat after the first minutes and under 100 MB: minute 5 $(fmt "$rss_first" %.1f) MiB, the last"
	echo "$(fmt "$rss_last" %.1f) MiB, the largest $(fmt "$rss_max" %.1f) MiB. The known workload's walks >= 99% complete:"
	echo "$reach_all% of its samples over the soak; the worst minute $reach_min% (the first: its first"
	echo "samples come before its tables), $reach_min2% after it. cprofd plus BPF under 1% of a core: after the"
	echo "first minute $cpu% on average (cprofd $cpu_d%, BPF $cpu_b%, $bpf_us µs a sample), $(fmt "$cpu_med" %.2f)% the median"
	echo "minute; the first minute, which builds the tables of everything running and names it, $cpu_first%."
	echo "Samples with a frame outside the code: $outside in all."
	echo
	echo "At the end, /metrics said:"
	echo
	echo '```'
	grep -E '^cprofd_(unwind_(rows|objects|evictions|reloaded|expired|drops)|truncated|processes(_shed)?|process_table|window_bytes|symcache_(bytes|objects|evictions)|drain|early)' "$TMP/m" | grep -v '^#'
	echo '```'
	echo "<!-- bench:soak end -->"
} >"$section"
cat "$section"
write_doc "$section" soak
