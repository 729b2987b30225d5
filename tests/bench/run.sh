#!/usr/bin/env bash
# CPU profiling overhead, side by side, in one run: a fixed-work CPU-bound
# workload (tests/bench/cpuburn.c, 2 threads) alone, under cprofd at 99 Hz
# system-wide, under `perf record -F 99 -a -g` and under bcc's
# `profile-bpfcc -F 99`. Configurations are interleaved round-robin
# (alone, cprofd, perf, bcc, alone, ...) so that machine drift hits all alike.
#
# Per run it records the workload's wall time and own CPU, and the profiler's
# CPU while the workload ran, its CPU to start and to stop, and its peak RSS;
# for cprofd also the BPF program's run time per sample. Prints a table and
# writes it into docs/PERFORMANCE.md between the bench:cpu markers.
#
# Run as root: `sudo make bench`, or `bash tests/bench/run.sh` after `make`.
# Environment: BENCH_RUNS (runs per configuration, default 5),
# BENCH_ROUNDS (cpuburn rounds per thread, default 300000: about 10 s here),
# BENCH_HZ (sampling rate of all three profilers, default 99), BENCH_PORT
# (cprofd's port, default 16071), BENCH_DOC (default docs/PERFORMANCE.md;
# "none" to only print), BENCH_KEEP=1 (keep the raw results in /tmp).
set -uo pipefail
cd "$(dirname "$0")/../.."

RUNS=${BENCH_RUNS:-5}
ROUNDS=${BENCH_ROUNDS:-300000}
PORT=${BENCH_PORT:-16071}
DOC=${BENCH_DOC:-docs/PERFORMANCE.md}
HZ=${BENCH_HZ:-99}
CONFIGS=(alone cprofd perf bcc)
SOCK=/tmp/cprofd-bench.sock
URL=http://127.0.0.1:$PORT
OUT=build/bench
BURN=$OUT/cpuburn
PROCCPU=$OUT/proccpu
TMP=$(mktemp -d /tmp/cprof-bench.XXXXXX)
RESULTS=$TMP/results.tsv

# shared helpers: measurement, profilers, statistics, the doc
source tests/bench/lib.sh
LAST_ALONE_WALL=

# ---- build -----------------------------------------------------------------

build() {
	build_check
	gcc -O2 -g -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -fno-optimize-sibling-calls \
		-pthread -Wall -Wextra tests/bench/cpuburn.c -o "$BURN" || die "cannot build cpuburn"
	build_proccpu
}

# ---- profilers: start_X starts X and waits until it is ready (sets PROF_PID
# and PROF_SIG, the signal that stops it); when X cannot run it returns 1 and
# sets FAILED[X]. stop_profiler stops whichever runs. start_cprofd,
# start_perf and stop_profiler are in lib.sh. --------------------------------

start_bcc() {
	local tool
	tool=$(command -v profile-bpfcc) ||
		{ FAILED[bcc]="could not run: profile-bpfcc not installed (apt-get install bpfcc-tools)"; return 1; }
	"${SIGINT_OK[@]}" "$tool" -F "$HZ" >"$TMP/bcc.out" 2>"$TMP/bcc.err" &
	PROF_PID=$! PROF_SIG=INT
	# BCC compiles its BPF C with clang at start: ready once it holds a
	# perf_event program (then one more second for attaching to every CPU)
	for _ in $(seq 600); do
		if [ -n "$(perf_prog_id "$PROF_PID")" ]; then sleep 1; return 0; fi
		alive "$PROF_PID" || break
		sleep 0.1
	done
	# one line: BCC's exception ("Failed to compile BPF module <text>") and
	# its first message ("Unable to find kernel headers. ...", on stdout)
	local msg exc why=
	msg=$(cat "$TMP/bcc.out" "$TMP/bcc.err" | grep -v -e '^Sampling at' -e 'modprobe: not found' |
		grep -i -m 1 -E 'unable|cannot|error|fail|not found' | sed 's/\. .*//')
	exc=$(grep '^[A-Za-z]*Exception: ' "$TMP/bcc.err" | tail -n 1 | sed 's/^[A-Za-z]*Exception: //')
	if grep -q -i 'kernel headers' "$TMP/bcc.out" "$TMP/bcc.err" &&
		[ ! -e "/lib/modules/$(uname -r)/build" ] && [ ! -e /sys/kernel/kheaders.tar.xz ]; then
		why=" (no /lib/modules/$(uname -r)/build, and the kernel has no CONFIG_IKHEADERS)"
	fi
	if alive "$PROF_PID"; then
		FAILED[bcc]="could not run: not ready after 60 s"
	else
		FAILED[bcc]="could not run: ${exc:-exited}${msg:+: $msg}$why"
	fi
	return 1
}

# ---- the measurement: one run of the workload under configuration CFG ------

# fields of results.tsv, one line per run
FIELDS="cfg round wall_s user_s sys_s prof_cpu_ns window_us start_cpu_ns stop_cpu_ns hwm_kb bpf_ns bpf_cnt others fetch build_ms"

measure() {
	local cfg=$1 round=$2
	local prog_id= bpf0="0 0" bpf1="0 0" cpu0=0 t0 t1 tw0 tw1 out user sys hwm=0
	local fetch=- start_cpu=0 others wall build0=0 build1=0
	CPU1_NS=0 STOP_CPU_NS=0

	if [ "$cfg" != alone ]; then
		[ -z "${FAILED[$cfg]:-}" ] || return 0
		if ! "start_$cfg"; then
			cleanup_failed_start
			echo "  $cfg: ${FAILED[$cfg]}"
			return 0
		fi
		[ "$cfg" = cprofd ] && prog_id=$(perf_prog_id "$PROF_PID")
	fi
	others=$(other_profilers)

	# snapshot, run the workload (and for cprofd one profile covering it), snapshot
	if [ -n "$PROF_PID" ]; then
		cpu0=$(cpu_ns "$PROF_PID")
		start_cpu=$cpu0
		[ -n "$prog_id" ] && bpf0=$(bpf_stats "$prog_id")
		[ "$cfg" = cprofd ] && build0=$(table_build_ms)
	fi
	t0=$(now)
	[ "$cfg" = cprofd ] && fetch_start
	tw0=$(now)
	"$BURN" "$ROUNDS" 2 >"$TMP/burn.out" &
	WORK_PID=$!
	wait "$WORK_PID" || die "cpuburn failed: $(cat "$TMP/burn.out")"
	tw1=$(now)
	WORK_PID=
	if [ -n "$CURL_PID" ]; then wait "$CURL_PID"; CURL_PID=; fi
	t1=$(now)
	if [ -n "$PROF_PID" ]; then
		CPU1_NS=$(cpu_ns "$PROF_PID")
		[ -n "$prog_id" ] && bpf1=$(bpf_stats "$prog_id")
		[ "$cfg" = cprofd ] && build1=$(table_build_ms)
		hwm=$(peak_rss_kb "$PROF_PID")
		alive "$PROF_PID" || echo "  warning: $cfg exited during the run" >&2
		stop_profiler
		[ "$cfg" = cprofd ] && sysctl -qw kernel.bpf_stats_enabled="$BPF_STATS_ORIG"
		rm -f "$TMP/perf.data"
	fi
	[ "$cfg" = cprofd ] && fetch=$(fetch_result)

	read -r out user sys <<<"$(awk '{ print $2, $4, $6 }' "$TMP/burn.out")"
	if [ -z "${CHECKSUM:-}" ]; then CHECKSUM=$out
	elif [ "$out" != "$CHECKSUM" ]; then die "cpuburn checksum changed: $out vs $CHECKSUM"; fi
	wall=$(awk -v a="$tw0" -v b="$tw1" 'BEGIN { printf "%.3f", (b - a) / 1e6 }')
	[ "$cfg" = alone ] && LAST_ALONE_WALL=$wall
	read -r bt0 bc0 <<<"$bpf0"
	read -r bt1 bc1 <<<"$bpf1"
	printf '%s\t%d\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n' \
		"$cfg" "$round" "$wall" "$user" "$sys" $((CPU1_NS - cpu0)) $((t1 - t0)) \
		"$start_cpu" "$STOP_CPU_NS" "$hwm" $((bt1 - bt0)) $((bc1 - bc0)) \
		"${others:--}" "$fetch" "$(awk -v a="$build0" -v b="$build1" 'BEGIN { printf "%.1f", b - a }')" >>"$RESULTS"
	awk -v c="$cfg" -v w="$wall" -v u="$user" -v s="$sys" -v p=$((CPU1_NS - cpu0)) -v d=$((t1 - t0)) -v h="$hwm" \
		'BEGIN { printf "  %-7s wall %6.2f s  user+sys %6.2f s", c, w, u + s
			 if (c != "alone") printf "  profiler %.3f%% of a core, peak RSS %.1f MiB", p / (d * 1e3) * 100, h / 1024
			 printf "\n" }'
	[ -n "$others" ] && echo "    (other profilers running: $others)"
	return 0
}

# cprofd: the time it has spent building unwind tables, ms
table_build_ms() {
	curl -sf "$URL/metrics" | awk '$1 == "cprofd_unwind_build_seconds_total" { v = $2 * 1000 } END { print v + 0 }'
}

# cprofd: fetch one CPU profile covering the workload run, in the background
# (seconds: the last alone run's wall time, rounded up)
fetch_start() {
	local secs
	secs=$(awk -v w="${LAST_ALONE_WALL:-10}" 'BEGIN { s = int(w); if (s < w) s++; print (s < 1 ? 1 : s) }')
	rm -f "$TMP/profile.pb.gz"
	curl -s -o "$TMP/profile.pb.gz" -w '%{http_code} %{size_download}\n' --max-time $((secs + 30)) \
		"$URL/debug/pprof/profile?seconds=$secs" >"$TMP/fetch" 2>&1 &
	CURL_PID=$!
}

# after it: "STATUS:BYTES:symbolized" when the workload's functions are in
# it by name, else "...:no-workload-symbols"
fetch_result() {
	local r
	r=$(awk '{ printf "%s:%s", $1, $2 }' "$TMP/fetch")
	if build/cprof-ctl top "$TMP/profile.pb.gz" -n 20 2>/dev/null | grep -q hash_chain; then
		echo "$r:symbolized"
	else
		echo "$r:no-workload-symbols"
	fi
}

# ---- report ----------------------------------------------------------------

# paired ratios: each run's wall / the wall of the 'alone' run of its round
paired() {
	awk -F '\t' -v cfg="$1" '$1 == "alone" { a[$2] = $3 } $1 == cfg && a[$2] { print $3 / a[$2] }' "$RESULTS"
}

report() {
	local cfg a_med n wall w_med w_min w_max ratio pratio cpu cpu_all rss ucpu start stop label why
	local section=$TMP/section.md
	read -r a_med _ _ <<<"$(col alone 'wall_s' | stats)"
	{
		echo "<!-- bench:cpu begin -->"
		echo "## CPU profiling at $HZ Hz: overhead (generated by tests/bench/run.sh)"
		echo
		machine_lines
		echo "Workload: \`cpuburn $ROUNDS 2\` (2 threads, fixed work); $RUNS runs per configuration,"
		echo "interleaved round-robin. Figures are medians (min–max) over the runs."
		echo
		echo "| configuration | workload wall, s | slowdown, ratio of medians | slowdown, paired ratios | workload user+sys, s | profiler CPU during the run, % of one core | profiler CPU to start / to stop, ms | profiler CPU during + to stop, % of one core | profiler peak RSS, MiB |"
		echo "|---|---|---|---|---|---|---|---|---|"
		for cfg in "${CONFIGS[@]}"; do
			label=$(config_label "$cfg")
			n=$(col "$cfg" 'wall_s' | wc -l)
			if [ "$n" = 0 ]; then
				if [ -n "${FAILED[$cfg]:-}" ]; then why="could not run (see below)"; else why="not run"; fi
				echo "| $label | $why | | | | | | | |"
				continue
			fi
			read -r w_med w_min w_max <<<"$(col "$cfg" 'wall_s' | stats)"
			wall="$(fmt "$w_med" %.2f) ($(fmt "$w_min" %.2f)–$(fmt "$w_max" %.2f))"
			ratio=$(awk -v a="$w_med" -v b="$a_med" 'BEGIN { printf "%.3f", a / b }')
			pratio=$(paired "$cfg" | stats | awk '{ printf "%.3f (%.3f–%.3f)", $1, $2, $3 }')
			ucpu=$(col "$cfg" 'user_s + sys_s' | med)
			ucpu="$(fmt "$ucpu" %.2f) (sys $(fmt "$(col "$cfg" 'sys_s' | med)" %.2f))"
			if [ "$cfg" = alone ]; then
				echo "| $label | $wall | 1 | 1 | $ucpu | – | – | – | – |"
				continue
			fi
			cpu=$(col "$cfg" 'prof_cpu_ns / (window_us * 1000) * 100' | stats |
				awk '{ printf "%.3f (%.3f–%.3f)", $1, $2, $3 }')
			cpu_all=$(fmt "$(col "$cfg" '(prof_cpu_ns + stop_cpu_ns) / (window_us * 1000) * 100' | med)" %.3f)
			rss=$(fmt "$(col "$cfg" 'hwm_kb / 1024' | med)" %.1f)
			start=$(fmt "$(col "$cfg" 'start_cpu_ns / 1e6' | med)" %.0f)
			stop=$(fmt "$(col "$cfg" 'stop_cpu_ns / 1e6' | med)" %.0f)
			echo "| $label | $wall | $ratio | $pratio | $ucpu | $cpu | $start / $stop | $cpu_all | $rss |"
		done
		echo
		notes
		echo "<!-- bench:cpu end -->"
	} >"$section"
	echo
	cat "$section"
	write_doc "$section" cpu
}

config_label() {
	case $1 in
	alone) echo "alone" ;;
	cprofd) echo "cprofd --hz $HZ" ;;
	perf) echo "perf record -F $HZ -a -g" ;;
	bcc) echo "profile-bpfcc -F $HZ" ;;
	esac
}

notes() {
	local ns persec share fetched total sizes contended
	echo "Notes:"
	echo
	echo "- Profiler CPU is the profiler process's own CPU time (all its threads, precise clock"
	echo "  rather than /proc/PID/stat's 10 ms ticks, plus reaped children) from just before the"
	echo "  workload starts until it ends (for cprofd, until the profile below is served), over that"
	echo "  interval. The BPF or perf-event work done at each sample runs in the timer interrupt, in"
	echo "  the interrupted task's time: it shows as the workload's slowdown (and, on a kernel without"
	echo "  IRQ time accounting like this one, in its user or sys time), not here."
	if [ "$(col cprofd 'bpf_cnt' | wc -l)" -gt 0 ]; then
		ns=$(col cprofd 'bpf_cnt > 0 ? bpf_ns / bpf_cnt : ""' | med)
		persec=$(col cprofd 'bpf_cnt / (window_us / 1e6)' | med)
		share=$(awk -v n="$ns" -v s="$persec" 'BEGIN { if (n == "-") print "–"; else printf "%.4f", n * s / 1e9 * 100 }')
		echo "- cprofd's BPF program \`cpu_sample\`: $(fmt "$ns" %.0f) ns per sample (median over runs, from"
		echo "  \`kernel.bpf_stats_enabled=1\`, on during cprofd's runs only), $(fmt "$persec" %.0f) samples/s"
		echo "  ($(nproc) CPUs × $HZ Hz), i.e. $share% of one core spent in the kernel on sampling."
		total=$(col cprofd 'fetch' | wc -l)
		fetched=$(col cprofd 'fetch' | grep -c '^200:.*:symbolized$')
		sizes=$(col cprofd 'fetch' | awk -F: '$1 == 200 { print $2 / 1024 }' | med)
		echo "- During each cprofd run one \`/debug/pprof/profile?seconds=N\` (N = the last 'alone' wall time,"
		echo "  rounded up) was fetched, started with the workload, so cprofd's CPU includes draining,"
		echo "  symbolizing and serving: $fetched of $total fetched with status 200 and showing the workload's"
		echo "  functions by name (checked with cprof-ctl top), median $(fmt "$sizes" %.1f) KiB."
		echo "- Of cprofd's CPU during the run, building unwind tables took $(fmt "$(col cprofd 'build_ms' | med)" %.0f) ms"
		echo "  ($(fmt "$(col cprofd 'build_ms / (window_us / 1000) * 100' | med)" %.3f)% of one core; median, from its /metrics): the tables"
		echo "  of the processes first sampled in the run, cprofd itself among them (busy with starting up,"
		echo "  it is sampled enough to have its ~40 libraries' tables built). Built once per object and kept"
		echo "  while processes map it, they are a start-up cost, not a steady one: see the soak below."
	fi
	echo "- perf writes to a file under /tmp (deleted after each run). It only copies its ring buffers"
	echo "  to the file as they fill, so its CPU during the run is near zero; its processing (the"
	echo "  build-id pass over the samples) happens at exit, in the \"to stop\" column. cprofd aggregates,"
	echo "  symbolizes and serves while it runs. profile-bpfcc symbolizes and prints its stacks at exit."
	for cfg in "${CONFIGS[@]}"; do
		[ -n "${FAILED[$cfg]:-}" ] && echo "- $(config_label "$cfg"): ${FAILED[$cfg]}"
	done
	# goal check: CPU <= 0.5% of a core, slowdown within noise, both below perf
	local during='prof_cpu_ns / (window_us * 1000) * 100'
	local withstop='(prof_cpu_ns + stop_cpu_ns) / (window_us * 1000) * 100'
	[ "$(col cprofd wall_s | wc -l)" -gt 0 ] || return 0
	awk -v sp="$(col alone wall_s | stats | awk '{ print ($3 - $2) / $1 }')" \
	    -v c="$(col cprofd "$during" | med)" -v ca="$(col cprofd "$withstop" | med)" \
	    -v cr="$(paired cprofd | med)" \
	    -v p="$(col perf "$during" | med)" -v pa="$(col perf "$withstop" | med)" \
	    -v pr="$(paired perf | med)" 'BEGIN {
		printf "- Goal check (cprofd at or below 0.5%% of one core; its slowdown within noise, taken as a\n"
		printf "  median paired slowdown no larger than the spread, max−min, of the alone runs; both lower than perf):\n"
		printf "  - CPU: %.3f%% of one core during the run, %.3f%% counting the stop: %s.\n", \
			c, ca, c <= 0.5 ? "met" : "NOT met"
		printf "  - Slowdown: %+.1f%% against a spread of %.1f%%: %s.\n", \
			(cr - 1) * 100, sp * 100, cr - 1 <= sp ? "within noise" : "above noise"
		if (p == "-" || p == "") { printf "  - perf did not run.\n"; exit }
		d = cr - pr; if (d < 0) d = -d
		printf "  - Against perf: slowdown %+.1f%% vs %+.1f%% (%s%s); CPU during the run %.3f%% vs %.3f%% (%s);\n", \
			(cr - 1) * 100, (pr - 1) * 100, cr < pr ? "lower" : "not lower", \
			d <= sp ? ", a difference within noise" : "", c, p, c < p ? "lower" : "not lower"
		printf "    CPU during the run and to stop %.3f%% vs %.3f%% (%s).\n", ca, pa, ca < pa ? "lower" : "not lower" }'
	contended=$(col "*" 'others != "-"' | grep -c 1)
	if [ "$contended" -gt 0 ]; then
		echo "- Noise: other profilers were running during $contended of the runs:"
		echo "  $(col "*" 'others != "-" ? others : ""' | grep -v '^$' | tr ' ' '\n' | sed 's/(.*//' | sort | uniq -c |
			awk '{ printf "%s%s in %d", (NR > 1 ? ", " : ""), $2, $1 }') (counted per process seen)."
	fi
}

# the doc's beginning, when there is no doc yet
doc_header() {
	cat <<'EOF'
# Performance

What cprof costs the processes it profiles, and itself, measured rather than
estimated. The section below is generated by `tests/bench/run.sh`:

- a CPU-bound workload that does a fixed amount of work on 2 threads
  (`tests/bench/cpuburn.c`), run alone, under `cprofd` sampling every process
  at 99 Hz, under `perf record -F 99 -a -g`, and under bcc's `profile-bpfcc -F 99`,
  interleaved round-robin so that drift hits every configuration alike;
- the workload's slowdown against the runs alone, and each profiler's own CPU
  time (as a share of one core) and peak memory (VmHWM), plus the run time per
  sample of cprofd's BPF program.

Reproduce, as root, from a clone: `sudo make bench` (it installs `linux-perf`
and `bpfcc-tools` if missing, builds, and rewrites the section below).
`BENCH_RUNS=N` changes the number of runs per configuration (default 5).

The figures are medians from one run on one machine. Our machines are shared
virtual machines and noisy: compare configurations within one run, and read
small differences against the spread of the runs alone.

EOF
}

# ---- main ------------------------------------------------------------------

main() {
	build
	[ -n "$(other_profilers)" ] && echo "bench: warning: other profilers are running: $(other_profilers)"
	echo "bench: $RUNS runs of cpuburn $ROUNDS 2 per configuration: ${CONFIGS[*]}"
	"$BURN" $((ROUNDS / 20)) 2 >/dev/null   # warm-up, discarded
	: >"$RESULTS"
	for round in $(seq "$RUNS"); do
		echo "round $round/$RUNS"
		for cfg in "${CONFIGS[@]}"; do
			measure "$cfg" "$round"
		done
	done
	report
}

main
