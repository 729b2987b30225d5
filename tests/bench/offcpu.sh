#!/usr/bin/env bash
# What the offcpu view costs a context-switch-heavy workload, side by side
# with its peer, in one run: `perf bench sched pipe` (two processes ping-pong
# a byte through pipes) pinned to CPU 0, so that every round trip is two
# waits and two context switches. Configurations, interleaved round-robin:
#   alone      nothing attached
#   floor      empty programs on the hooks the view uses (tp_btf sched_switch
#              and rseq_update): what the hooks cost by themselves
#   other      cprofd --pid of a sleeping process, an offcpu window open: the
#              pipe's processes are not targets
#   target     cprofd --comm perf, an offcpu window open: they are
#   system     cprofd for every process, an offcpu window open
#   offcputime libbpf-tools' offcputime (bcc's offcputime-bpfcc if absent),
#              every process
# Writes the table into docs/PERFORMANCE.md between the bench:offcpu markers.
# Run as root: `sudo make bench`, or `bash tests/bench/offcpu.sh` after `make`.
# Environment: BENCH_RUNS (runs per configuration, default 5), BENCH_LOOPS
# (round trips per run, default 200000), BENCH_PORT (default 16072),
# BENCH_DOC (default docs/PERFORMANCE.md; "none" to only print).
set -uo pipefail
cd "$(dirname "$0")/../.."

RUNS=${BENCH_RUNS:-5}
LOOPS=${BENCH_LOOPS:-200000}
PORT=${BENCH_PORT:-16072}
DOC=${BENCH_DOC:-docs/PERFORMANCE.md}
SOCK=/tmp/cprofd-bench-offcpu.sock
URL=http://127.0.0.1:$PORT
OUT=build/bench
PROCCPU=$OUT/proccpu
TMP=$(mktemp -d /tmp/cprof-bench.XXXXXX)
RESULTS=$TMP/results.tsv
read -ra CONFIGS <<<"${BENCH_CONFIGS:-alone floor other target system offcputime}"
source tests/bench/lib.sh
SLEEPER=
cleanup_hook() { [ -n "$SLEEPER" ] && kill "$SLEEPER" 2>/dev/null; }

[ "$(id -u)" = 0 ] || die "run as root"
command -v perf >/dev/null || die "perf is missing: apt-get install linux-perf"
for f in build/cprofd build/tests/floor build/tests/floor.bpf.o; do
	[ -e "$f" ] || die "$f is missing: make all build/tests/floor"
done
OFFCPUTIME=$(command -v offcputime || true)
[ -n "$OFFCPUTIME" ] || OFFCPUTIME=$(command -v offcputime-bpfcc || true)

# One run of the ping-pong: µs per round trip.
pingpong() {
	taskset -c 0 perf bench sched pipe -l "$LOOPS" 2>/dev/null |
		awk '/usecs\/op/ { print $1 }'
}

metric() { curl -sf "$URL/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }

# Start cprofd with ARGS and open an offcpu window; PROF_PID, CURL_PID.
start_offcpu() {
	build/cprofd --listen "127.0.0.1:$PORT" --socket "$SOCK" "$@" >"$TMP/cprofd.log" 2>&1 &
	PROF_PID=$!
	for _ in $(seq 100); do curl -sf "$URL/metrics" >/dev/null 2>&1 && break; sleep 0.1; done
	curl -sf -o /dev/null "$URL/debug/pprof/offcpu?seconds=3600" &
	CURL_PID=$!
	for _ in $(seq 100); do [ "$(metric cprofd_sched_attached)" = 1 ] && return 0; sleep 0.1; done
	die "cprofd did not attach its scheduler programs: $(tail -n 2 "$TMP/cprofd.log")"
}

stop_all() {
	local pid
	for pid in $CURL_PID $PROF_PID; do kill -INT "$pid" 2>/dev/null; done
	for pid in $CURL_PID $PROF_PID; do
		for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
	done
	CURL_PID= PROF_PID=
}

# run_config NAME: one measured run; prints "NAME US [RECORDED_PER_TRIP]"
run_config() {
	local name=$1 us rec=
	case $name in
	floor)
		build/tests/floor build/tests/floor.bpf.o >"$TMP/floor.out" 2>&1 &
		PROF_PID=$!
		for _ in $(seq 50); do grep -q attached "$TMP/floor.out" && break; sleep 0.1; done ;;
	other)
		sleep 3600 &
		SLEEPER=$!
		start_offcpu --pid "$SLEEPER" ;;
	target) start_offcpu --comm perf ;;
	system) start_offcpu ;;
	offcputime)
		[ -n "$OFFCPUTIME" ] || { echo "$name -"; return; }
		"${SIGINT_OK[@]}" "$OFFCPUTIME" >"$TMP/offcputime.out" 2>&1 &
		PROF_PID=$!
		# bcc compiles first; libbpf-tools loads at once
		sleep "$(case $OFFCPUTIME in *bpfcc) echo 8 ;; *) echo 2 ;; esac)" ;;
	esac
	local r0=
	[ "$name" = target ] && r0=$(metric 'cprofd_bpf_events_total{source="sched",event="offcpu_recorded"}')
	us=$(pingpong)
	[ "$name" = target ] &&
		rec=$(( $(metric 'cprofd_bpf_events_total{source="sched",event="offcpu_recorded"}') - r0 ))
	stop_all
	[ -n "$SLEEPER" ] && { kill "$SLEEPER" 2>/dev/null; wait "$SLEEPER" 2>/dev/null; SLEEPER=; }
	echo "$name ${us:--} $rec"
}

steal0=$(awk '/^cpu / { print $9 }' /proc/stat)
: >"$RESULTS"
for r in $(seq "$RUNS"); do
	for c in "${CONFIGS[@]}"; do
		line=$(run_config "$c")
		echo "bench: run $r: $line" >&2
		echo "$line" >>"$RESULTS"
	done
done
steal1=$(awk '/^cpu / { print $9 }' /proc/stat)
steal=$(( (steal1 - steal0) / $(getconf CLK_TCK) ))

med() { awk -v c="$1" '$1 == c && $2 != "-" { print $2 }' "$RESULTS" | sort -g |
	awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }'; }
declare -A M
for c in alone floor other target system offcputime; do M[$c]=$(med "$c"); done
rec=$(awk '$1 == "target" && $3 != "" { n++; s += $3 } END { if (n) printf "%.2f", s / n / '"$LOOPS"'; else print "-" }' "$RESULTS")

section=$TMP/section.md
{
	echo "<!-- bench:offcpu begin -->"
	echo "### The offcpu view on a context-switch-heavy workload"
	echo
	machine_lines
	echo "\`taskset -c 0 perf bench sched pipe -l $LOOPS\`: two processes on one CPU, two"
	echo "context switches per round trip. Median of $RUNS interleaved runs each; the host stole"
	echo "$steal CPU-seconds from this VM during the run. \`tests/bench/offcpu.sh\`."
	echo
	echo "| configuration | µs per round trip | added µs per switch (vs alone) | vs floor |"
	echo "|---|---|---|---|"
	for c in "${CONFIGS[@]}"; do
		awk -v c="$c" -v m="${M[$c]}" -v a="${M[alone]}" -v f="${M[floor]}" -v tool="$(basename "${OFFCPUTIME:-none}")" 'BEGIN {
			name = c == "offcputime" ? tool : c
			if (m == "-") { printf "| %s | not run | | |\n", name; exit }
			printf "| %s | %.2f | %+.2f | %+.1f%% |\n", name, m, (m - a) / 2, 100 * (m - f) / f }'
	done
	echo
	# paired: each round's configurations ran back to back, so their
	# ratios within a round cancel the drift between rounds
	awk -v rec="$rec" -v runs="$RUNS" '
		function median(a, n,   i, j, t) {
			for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		$2 != "-" { r[$1, ++n[$1]] = $2 }
		END {
			for (i = 1; i <= n["other"] && i <= n["floor"]; i++) of[++nof] = 100 * (r["other", i] - r["floor", i]) / r["floor", i]
			for (i = 1; i <= n["system"] && i <= n["offcputime"] && i <= n["alone"]; i++)
				if (r["offcputime", i] > r["alone", i])
					so[++nso] = (r["system", i] - r["alone", i]) / (r["offcputime", i] - r["alone", i])
			if (nof)
				printf "- Targeting another process: %+.1f%% of the floor, median of the %d rounds\x27 paired differences (goal: within 3%%).\n", median(of, nof), nof
			if (nso)
				printf "- System-wide: %.2f× what offcputime adds per switch, median of the %d rounds\x27 paired ratios (goal: under 0.5×).\n", median(so, nso), nso
			printf "- Targeting the pipe: %s intervals recorded per round trip (two waits each; the others sampled out below --offcpu-rate).\n", rec
		}' "$RESULTS"
	echo "<!-- bench:offcpu end -->"
} >"$section"
cat "$section"
write_doc "$section" offcpu
