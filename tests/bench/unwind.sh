#!/usr/bin/env bash
# The cost of walking user stacks, side by side, in one run: cprofd at 99 Hz
# system-wide walking with its unwind tables (built from .eh_frame, the
# default), cprofd --frame-pointers, and `perf record --call-graph dwarf -F 99
# -a` (which copies 8 KiB of user stack per sample and unwinds later), each
# over one window of about 10 s while a workload runs, as Debian ships it:
#   python  /usr/bin/python3 running tests/bench/pydeep.py (a recursion 30
#           deep doing arithmetic), one process per CPU;
#   redis   redis-server under redis-benchmark (set and get, looping).
# For each workload the configurations are interleaved round-robin (tables,
# fp, perf, tables, ...) so that machine drift hits all alike; the workload is
# started before each configuration's profiler and stopped after it.
#
# Per run it records the profiler's CPU over the window, to start and to
# stop, and its peak RSS; for cprofd the BPF program's run time per sample
# (kernel.bpf_stats_enabled) and its unwind counters and table gauges from
# /metrics, plus the user frames per sample of the workload in the profile
# fetched over the window; for perf the size of perf.data. Prints a table
# and writes it into docs/PERFORMANCE.md between the bench:unwind markers.
#
# Run as root: `sudo make bench` (after tests/bench/run.sh), or
# `bash tests/bench/unwind.sh` after `make`. Environment: BENCH_RUNS (runs
# per configuration and workload, default 5), BENCH_SECONDS (window, default
# 10), BENCH_WORKLOADS (default "python redis"), BENCH_HZ (default 99),
# BENCH_PY_DEPTH (default 30), BENCH_PY_PROCS (default: the number of CPUs),
# BENCH_PORT (cprofd's port, default 16072), BENCH_REDIS_PORT (default
# 16379), BENCH_DOC (default docs/PERFORMANCE.md; "none" to only print),
# BENCH_KEEP=1 (keep the raw results in /tmp).
set -uo pipefail
cd "$(dirname "$0")/../.."

RUNS=${BENCH_RUNS:-5}
SECS=${BENCH_SECONDS:-10}
WORKLOADS=(${BENCH_WORKLOADS:-python redis})
HZ=${BENCH_HZ:-99}
DEPTH=${BENCH_PY_DEPTH:-30}
PY_PROCS=${BENCH_PY_PROCS:-$(nproc)}
PORT=${BENCH_PORT:-16072}
REDIS_PORT=${BENCH_REDIS_PORT:-16379}
DOC=${BENCH_DOC:-docs/PERFORMANCE.md}
CONFIGS=(tables fp perf)
SETTLE=1         # seconds of a warm-up profile before the window: tables built, symbols read
SOCK=/tmp/cprofd-bench-unwind.sock
URL=http://127.0.0.1:$PORT
OUT=build/bench
PROCCPU=$OUT/proccpu
PYTHON=/usr/bin/python3
TMP=$(mktemp -d /tmp/cprof-bench-unwind.XXXXXX)
RESULTS=$TMP/results.tsv

# shared helpers: measurement, profilers, statistics, the doc
source tests/bench/lib.sh

# fields of results.tsv, one line per run; counters are deltas over the
# window, gauges their value at its end; "-" where it does not apply
FIELDS="wl cfg round window_us prof_cpu_ns start_cpu_ns stop_cpu_ns hwm_kb bpf_ns bpf_cnt
	samples walks outermost no_tables end_fp end_read end_bad end_depth fp_steps walk_ns
	rows_used rows_total objects procs build_s build_win_s map_slots procs_mapped kmem_bytes
	perf_bytes perf_samples wl_cpu_ns wl_ops other_cpu_ns frames kframes maps_rss_kb others fetch"

# ---- build and checks --------------------------------------------------------

build() {
	build_check
	build_proccpu
	local wl
	for wl in "${WORKLOADS[@]}"; do
		case $wl in
		python) [ -x "$PYTHON" ] || die "$PYTHON missing (apt-get install python3)" ;;
		redis) command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null &&
			command -v redis-cli >/dev/null || die "redis-server or redis-tools missing: scripts/deps.sh bench" ;;
		*) die "unknown workload $wl (BENCH_WORKLOADS: python redis)" ;;
		esac
	done
	command -v go >/dev/null || echo "bench: go missing: no frames per sample (scripts/deps.sh bench)" >&2
}

# ---- workloads: start_W starts workload W (sets WORK_PID, the list of its
# processes); stop_workload stops it. wl_comms W: their names in profiles. ---

wl_comms() {
	case $1 in
	python) echo python3 ;;
	redis) echo redis-server redis-benchmark ;;
	esac
}

start_python() {
	local i
	for i in $(seq "$PY_PROCS"); do
		"$PYTHON" tests/bench/pydeep.py "$DEPTH" >/dev/null 2>"$TMP/python.err" &
		WORK_PID+=" $!"
	done
	sleep 0.3
}

stop_workload() {
	stop_pids $WORK_PID
	WORK_PID=
}

# the workload's CPU so far (all its processes), ns
workload_cpu_ns() {
	local pid sum=0
	for pid in $WORK_PID; do sum=$((sum + $(cpu_ns "$pid"))); done
	echo "$sum"
}

# redis: commands processed so far; python: -
workload_ops() {
	[ "$1" = redis ] || { echo -; return; }
	redis_cli info stats | awk -F: '$1 == "total_commands_processed" { print $2 + 0; f = 1 } END { if (!f) print 0 }'
}

# CPU time of the whole machine so far (not idle, not iowait), ns
busy_ns() {
	awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" { printf "%.0f\n", ($2 + $3 + $4 + $7 + $8 + $9) * 1e9 / hz; exit }' /proc/stat
}

workload_label() {
	case $1 in
	python) echo "python3: pydeep.py, $DEPTH deep, ×$PY_PROCS" ;;
	redis) echo "redis-server + redis-benchmark" ;;
	esac
}

# ---- cprofd's metrics and maps --------------------------------------------

# metric FILE NAME: the value of a metric line ("name{labels}") in a saved
# /metrics, 0 if absent
metric() { awk -v k="$2" '$1 == k { v = $2 } END { print v == "" ? 0 : v }' "$1"; }
event() { metric "$1" "cprofd_bpf_events_total{source=\"core\",event=\"$2\"}"; }
# the walk steps made by frame pointer (no mapping, no table, no row, a rule
# not supported), all reasons
fp_steps() { awk '$1 ~ /event="unwind_fp_step_/ { s += $2 } END { printf "%.0f\n", s }' "$1"; }

# id of the map called NAME among BPF program PROG's maps
prog_map_id() {
	local m
	for m in $(bpftool prog show id "$1" 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "map_ids") print $(i + 1) }' | tr ',' ' '); do
		bpftool map show id "$m" 2>/dev/null | awk -v n="$2" 'NR == 1 { for (i = 1; i < NF; i++) if ($i == "name" && $(i + 1) == n) f = 1 } END { exit !f }' &&
			{ echo "$m"; return; }
	done
}

# "SLOTS PROCS": the mapping slots published (sum of nr_maps) and the
# processes holding any, from cprofd's unwind_procs map
map_slots() {
	local id
	id=$(prog_map_id "$1" unwind_procs)
	[ -n "$id" ] || { echo "- -"; return; }
	bpftool map dump id "$id" -j 2>/dev/null | grep -o '"nr_maps":[0-9]*' |
		awk -F: '{ s += $2; if ($2 > 0) p++ } END { print s + 0, p + 0 }'
}

# kernel memory of the unwind tables' maps, bytes: the program's (index,
# table headers, mapping slots, processes, row cache; array maps are
# allocated whole when created) and every table's own (cprof_rows, one per
# object loaded)
tables_kmem() {
	local id sum=0 b m
	for m in unwind_index unwind_table_h unwind_maps unwind_procs unwind_row_ca; do
		id=$(prog_map_id "$1" "$m")
		[ -n "$id" ] || continue
		b=$(bpftool map show id "$id" 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "memlock") print $(i + 1) + 0 }')
		sum=$((sum + ${b:-0}))
	done
	b=$(bpftool map show 2>/dev/null | awk '/ name cprof_rows / { for (i = 1; i < NF; i++) if ($i == "memlock") s += $(i + 1) } END { print s + 0 }')
	echo "$((sum + b))"
}

# the resident part of PID's mappings of BPF maps (none but while a table is
# written), KiB
maps_rss_kb() {
	awk '/^[0-9a-f]+-[0-9a-f]+ / { m = ($6 == "anon_inode:bpf-map") } m && $1 == "Rss:" { s += $2 }
		END { print s + 0 }' "/proc/$1/smaps" 2>/dev/null || echo -
}

# frames FILE COMMS: "USER KERNEL", the mean user and kernel (at 0xffff...)
# frames per sample of the processes named COMMS in pprof file FILE
frames() {
	command -v go >/dev/null || { echo "- -"; return; }
	go tool pprof -raw "$1" 2>/dev/null | awk -v comms=" $2 " '
		/^Samples:/ { sec = "s"; next }
		/^Locations/ { sec = "l"; next }
		/^Mappings/ { sec = "m"; next }
		sec == "s" && $1 ~ /^[0-9]+$/ && $2 ~ /:$/ {
			n++; cnt[n] = $1; locs[n] = ""
			for (i = 3; i <= NF; i++) locs[n] = locs[n] " " $i
			next }
		sec == "s" && index($0, "comm:[") {
			r = substr($0, index($0, "comm:[") + 6); comm[n] = substr(r, 1, index(r, "]") - 1); next }
		sec == "l" && $1 ~ /^[0-9]+:$/ && $2 ~ /^0x/ {
			kern[$1 + 0] = (length($2) == 18 && substr($2, 1, 6) == "0xffff") }
		END {
			for (k = 1; k <= n; k++) {
				if (!index(comms, " " comm[k] " ")) continue
				m = split(locs[k], l, " "); u = 0
				for (i = 1; i <= m; i++) if (!kern[l[i] + 0]) u++
				tot += cnt[k] * u; kt += cnt[k] * (m - u); c += cnt[k]
			}
			if (c) printf "%.1f %.1f\n", tot / c, kt / c; else print "- -"
		}'
}

# ---- the measurement: one run of workload WL under configuration CFG ---------

measure() {
	local wl=$1 cfg=$2 round=$3
	local prog_id= bpf0="0 0" bpf1="0 0" cpu0=0 start_cpu=0 t0 t1 hwm=0 others fetch=- fr=-
	local wcpu0 wcpu1 ops0 ops1 busy0 busy1 wl_ops=- slots="- -" kmem=- pbytes=- psamples=- kfr=- mrss=-
	local m0=$TMP/metrics0 m1=$TMP/metrics1 pid
	CPU1_NS=0 STOP_CPU_NS=0

	"start_$wl"	# start_python here, start_redis in lib.sh
	sleep 0.5	# let it get going
	case $cfg in
	tables) start_cprofd tables ;;
	fp) start_cprofd fp --frame-pointers ;;
	perf) start_perf perf --call-graph dwarf ;;
	esac || {
		cleanup_failed_start
		stop_workload
		echo "  $cfg: ${FAILED[$cfg]}"
		return 0
	}
	if [ "$cfg" != perf ]; then
		prog_id=$(perf_prog_id "$PROF_PID")
		# a first, short profile opens the objects' symbols and DWARF (the
		# symbols bench measures that); the window measures walking
		curl -s -o /dev/null "$URL/debug/pprof/profile?seconds=$SETTLE"
	fi
	others=$(other_profilers)

	# snapshot, one window (for cprofd: one profile covering it), snapshot
	: >"$m0"; : >"$m1"
	[ "$cfg" != perf ] && curl -s -o "$m0" "$URL/metrics"
	[ -n "$prog_id" ] && bpf0=$(bpf_stats "$prog_id")
	ops0=$(workload_ops "$wl")
	# the CPU clocks last, close to the window's start (and first at its end)
	busy0=$(busy_ns)
	wcpu0=$(workload_cpu_ns)
	cpu0=$(cpu_ns "$PROF_PID")
	start_cpu=$cpu0
	t0=$(now)
	if [ "$cfg" = perf ]; then
		sleep "$SECS" &
	else
		rm -f "$TMP/profile.pb.gz"
		curl -s -o "$TMP/profile.pb.gz" -w '%{http_code} %{size_download}\n' --max-time $((SECS + 30)) \
			"$URL/debug/pprof/profile?seconds=$SECS" >"$TMP/fetch" 2>&1 &
	fi
	CURL_PID=$!
	wait "$CURL_PID"
	CURL_PID=
	t1=$(now)
	CPU1_NS=$(cpu_ns "$PROF_PID")
	wcpu1=$(workload_cpu_ns)
	busy1=$(busy_ns)
	ops1=$(workload_ops "$wl")
	[ -n "$prog_id" ] && bpf1=$(bpf_stats "$prog_id")
	hwm=$(peak_rss_kb "$PROF_PID")
	[ "$cfg" != perf ] && mrss=$(maps_rss_kb "$PROF_PID")
	for pid in $WORK_PID; do alive "$pid" || echo "  warning: a $wl process ($pid) exited during the window" >&2; done
	alive "$PROF_PID" || echo "  warning: $cfg exited during the window" >&2
	if [ -n "$prog_id" ]; then
		curl -s -o "$m1" "$URL/metrics"
		slots=$(map_slots "$prog_id")
		kmem=$(tables_kmem "$prog_id")
	fi
	stop_profiler
	[ "$cfg" != perf ] && sysctl -qw kernel.bpf_stats_enabled="$BPF_STATS_ORIG"
	if [ "$cfg" = perf ]; then
		pbytes=$(stat -c %s "$TMP/perf.data" 2>/dev/null || echo -)
		psamples=$(sed -n 's/.*perf record: Captured and wrote .*(\([0-9]*\) samples).*/\1/p' "$TMP/perf.log" | tail -n 1)
		rm -f "$TMP/perf.data"
	fi
	stop_workload
	if [ "$cfg" != perf ]; then
		fetch=$(awk '{ printf "%s:%s", $1, $2 }' "$TMP/fetch")
		read -r fr kfr <<<"$(frames "$TMP/profile.pb.gz" "$(wl_comms "$wl")")"
	fi
	[ "$ops0" != - ] && wl_ops=$((ops1 - ops0))

	read -r bt0 bc0 <<<"$bpf0"
	read -r bt1 bc1 <<<"$bpf1"
	local d=() e
	for e in samples unwind_walks unwind_end_outermost unwind_no_tables_yet unwind_end_frame_pointer \
		unwind_end_bad_read unwind_end_bad_frame unwind_end_depth_limit; do
		if [ -n "$prog_id" ]; then d+=("$(awk -v a="$(event "$m0" "$e")" -v b="$(event "$m1" "$e")" 'BEGIN { print b - a }')")
		else d+=(-); fi
	done
	local fps=- wns=- rows=- rtot=- objs=- procs=- bs=- bws=-
	if [ "$cfg" = tables ]; then
		fps=$(( $(fp_steps "$m1") - $(fp_steps "$m0") ))
		wns=$(awk -v a="$(metric "$m0" cprofd_unwind_walk_seconds_total)" \
			-v b="$(metric "$m1" cprofd_unwind_walk_seconds_total)" 'BEGIN { printf "%.0f", (b - a) * 1e9 }')
		rows=$(metric "$m1" 'cprofd_unwind_rows{state="used"}')
		rtot=$(metric "$m1" 'cprofd_unwind_rows{state="total"}')
		objs=$(metric "$m1" cprofd_unwind_objects)
		procs=$(metric "$m1" cprofd_unwind_processes)
		bs=$(metric "$m1" cprofd_unwind_build_seconds_total)
		bws=$(awk -v a="$(metric "$m0" cprofd_unwind_build_seconds_total)" -v b="$bs" 'BEGIN { printf "%.6f", b - a }')
	else
		slots="- -" kmem=-
	fi
	read -r nslots nprocs <<<"$slots"
	local wcpu=$((wcpu1 - wcpu0)) pcpu=$((CPU1_NS - cpu0))
	local other=$(( busy1 - busy0 - wcpu - pcpu ))
	printf '%s\t' "$wl" "$cfg" "$round" $((t1 - t0)) "$pcpu" "$start_cpu" "$STOP_CPU_NS" "$hwm" \
		$((bt1 - bt0)) $((bc1 - bc0)) "${d[@]}" "$fps" "$wns" "$rows" "$rtot" "$objs" "$procs" "$bs" "$bws" \
		"$nslots" "$nprocs" "$kmem" "$pbytes" "${psamples:--}" "$wcpu" "$wl_ops" "$other" "$fr" "$kfr" "$mrss" \
		"${others:--}" >>"$RESULTS"
	printf '%s\n' "$fetch" >>"$RESULTS"

	awk -v c="$cfg" -v p="$pcpu" -v w=$((t1 - t0)) -v h="$hwm" -v bn=$((bt1 - bt0)) -v bc=$((bc1 - bc0)) \
	    -v wa="${d[1]}" -v ou="${d[2]}" -v fr="$fr" -v pb="$pbytes" -v wc="$wcpu" -v o="$other" '
		BEGIN { printf "  %-6s profiler %.3f%% of a core, peak RSS %.1f MiB", c, p / (w * 1e3) * 100, h / 1024
			if (bc > 0) printf ", BPF %.1f µs/sample", bn / bc / 1e3
			if (wa > 0) printf ", %.0f%% of walks to the outermost frame", ou / wa * 100
			if (fr != "-") printf ", %s user frames/sample", fr
			if (pb != "-") printf ", perf.data %.1f MiB", pb / 1048576
			printf "; workload %.0f%%, other %.0f%% of a core\n", wc / (w * 1e3) * 100, o / (w * 1e3) * 100 }'
	[ -n "$others" ] && echo "    (other profilers running: $others)"
	return 0
}

# ---- report ----------------------------------------------------------------

# mmm WL CFG EXPR FORMAT: "median (min–max)" of EXPR over WL's runs of CFG
mmm() {
	COL_WHERE="wl == \"$1\"" col "$2" "$3" | stats |
		awk -v f="$4" '$1 == "-" { print "–"; next } { printf f " (" f "–" f ")\n", $1, $2, $3 }'
}
# m WL CFG EXPR: the median of EXPR over WL's runs of CFG ("-" if none)
m() { COL_WHERE="wl == \"$1\"" col "$2" "$3" | med; }
nruns() { COL_WHERE="wl == \"$1\"" col "$2" 1 | wc -l; }

config_label() {
	case $1 in
	tables) echo "cprofd, unwind tables" ;;
	fp) echo "cprofd --frame-pointers" ;;
	perf) echo "perf record --call-graph dwarf" ;;
	esac
}

pct='/ (window_us * 1e3) * 100'
# BPF time per sample of a process: the idle CPU's samples (filtered out at
# once) left out of the count
per_proc='samples > 0 ? bpf_ns / samples / 1e3 : ""'

report() {
	local section=$TMP/section.md wl cfg label
	{
		echo "<!-- bench:unwind begin -->"
		echo "## Unwinding user stacks at $HZ Hz: cost (generated by tests/bench/unwind.sh)"
		echo
		machine_lines
		echo "Each configuration profiled the whole machine for one window of $SECS s while a workload ran"
		echo "(started before the profiler, stopped after it); $RUNS runs per configuration and workload,"
		echo "interleaved round-robin. Figures are medians (min–max) over the runs."
		echo
		echo "| workload | configuration | BPF time per sample, µs | profiler CPU in the window, % of one core | profiler CPU to start / to stop, ms | profiler peak RSS, MiB (of which BPF maps) | output | workload CPU, % of one core |"
		echo "|---|---|---|---|---|---|---|---|"
		for wl in "${WORKLOADS[@]}"; do
			for cfg in "${CONFIGS[@]}"; do
				label=$(config_label "$cfg")
				if [ "$(nruns "$wl" "$cfg")" = 0 ]; then
					echo "| $wl | $label | ${FAILED[$cfg]:-not run} | | | | | |"
					continue
				fi
				local bpf=– out wlc mr=
				[ "$cfg" != perf ] && mr="; BPF maps $(fmt "$(m "$wl" "$cfg" 'maps_rss_kb != "-" ? maps_rss_kb / 1024 : ""')" %.1f)"
				[ "$cfg" != perf ] && bpf=$(mmm "$wl" "$cfg" 'bpf_cnt > 0 ? bpf_ns / bpf_cnt / 1e3 : ""' %.1f)
				if [ "$cfg" = perf ]; then
					out="perf.data $(mmm "$wl" "$cfg" 'perf_bytes / 1048576' %.1f) MiB, $(fmt "$(m "$wl" "$cfg" perf_samples)" %.0f) samples"
				else
					out="profile $(fmt "$(m "$wl" "$cfg" 'split(fetch, f, ":") == 2 && f[1] == 200 ? f[2] / 1024 : ""')" %.0f) KiB"
				fi
				wlc=$(fmt "$(m "$wl" "$cfg" "wl_cpu_ns $pct")" %.0f)
				[ "$wl" = redis ] && wlc+=", $(fmt "$(m "$wl" "$cfg" 'wl_ops / (window_us / 1e6) / 1000')" %.1f)k commands/s"
				echo "| $wl | $label | $bpf | $(mmm "$wl" "$cfg" "prof_cpu_ns $pct" %.3f) |" \
					"$(fmt "$(m "$wl" "$cfg" 'start_cpu_ns / 1e6')" %.0f) / $(fmt "$(m "$wl" "$cfg" 'stop_cpu_ns / 1e6')" %.0f) |" \
					"$(mmm "$wl" "$cfg" 'hwm_kb / 1024' %.1f)$mr | $out | $wlc |"
			done
		done
		echo
		echo "The walks (cprofd, from its /metrics over the window, and the profile it served):"
		echo
		echo "| workload | configuration | user frames per workload sample | kernel frames per workload sample | BPF runs per second | BPF time per process sample, µs | walk time per walk, µs | walks with tables, % of samples | walks reaching the outermost frame, % | steps by frame pointer per walk | no tables yet, % of samples |"
		echo "|---|---|---|---|---|---|---|---|---|---|---|"
		for wl in "${WORKLOADS[@]}"; do
			for cfg in tables fp; do
				[ "$(nruns "$wl" "$cfg")" = 0 ] && continue
				if [ "$cfg" = fp ]; then
					echo "| $wl | $(config_label "$cfg") | $(mmm "$wl" "$cfg" 'frames != "-" ? frames : ""' %.1f) |" \
						"$(mmm "$wl" "$cfg" 'kframes != "-" ? kframes : ""' %.1f) |" \
						"$(mmm "$wl" "$cfg" 'bpf_cnt / (window_us / 1e6)' %.0f) |" \
						"$(mmm "$wl" "$cfg" "$per_proc" %.1f) | – | – | – | – | – |"
					continue
				fi
				echo "| $wl | $(config_label "$cfg") | $(mmm "$wl" "$cfg" 'frames != "-" ? frames : ""' %.1f) |" \
					"$(mmm "$wl" "$cfg" 'kframes != "-" ? kframes : ""' %.1f) |" \
					"$(mmm "$wl" "$cfg" 'bpf_cnt / (window_us / 1e6)' %.0f) |" \
					"$(mmm "$wl" "$cfg" "$per_proc" %.1f) |" \
					"$(mmm "$wl" "$cfg" 'walks > 0 ? walk_ns / walks / 1e3 : ""' %.1f) |" \
					"$(mmm "$wl" "$cfg" 'samples > 0 ? walks / samples * 100 : ""' %.1f) |" \
					"$(mmm "$wl" "$cfg" 'walks > 0 ? outermost / walks * 100 : ""' %.1f) |" \
					"$(mmm "$wl" "$cfg" 'walks > 0 ? fp_steps / walks : ""' %.2f) |" \
					"$(mmm "$wl" "$cfg" 'samples > 0 ? no_tables / samples * 100 : ""' %.2f) |"
			done
		done
		echo
		echo "The tables (cprofd, at the end of each window; build time counted since cprofd started):"
		echo
		echo "| workload | rows used (× 16 B) | objects | processes | mapping slots (× 32 B) | table build time, ms: total / in the window | cprofd CPU to start, ms |"
		echo "|---|---|---|---|---|---|---|"
		for wl in "${WORKLOADS[@]}"; do
			[ "$(nruns "$wl" tables)" = 0 ] && continue
			echo "| $wl | $(fmt "$(m "$wl" tables rows_used)" %.0f) ($(fmt "$(m "$wl" tables 'rows_used * 16 / 1048576')" %.1f) MiB) |" \
				"$(fmt "$(m "$wl" tables objects)" %.0f) | $(fmt "$(m "$wl" tables procs)" %.0f) |" \
				"$(fmt "$(m "$wl" tables 'map_slots != "-" ? map_slots : ""')" %.0f) ($(fmt "$(m "$wl" tables 'map_slots != "-" ? map_slots * 32 / 1024 : ""')" %.1f) KiB) |" \
				"$(mmm "$wl" tables 'build_s * 1e3' %.0f) / $(fmt "$(m "$wl" tables 'build_win_s * 1e3')" %.1f) |" \
				"$(fmt "$(m "$wl" tables 'start_cpu_ns / 1e6')" %.0f) |"
		done
		echo
		notes
		echo "<!-- bench:unwind end -->"
	} >"$section"
	echo
	cat "$section"
	write_doc "$section" unwind
}

notes() {
	local wl
	echo "Commands (port, socket and paths as the script sets them):"
	echo
	echo "- cprofd, unwind tables: \`build/cprofd --listen 127.0.0.1:$PORT --socket $SOCK --hz $HZ\`;"
	echo "  once it answers, a first \`curl $URL/debug/pprof/profile?seconds=$SETTLE\` warms it up (tables built,"
	echo "  symbols and DWARF read: their cost is in the symbols bench), then"
	echo "  \`curl $URL/debug/pprof/profile?seconds=$SECS\` is the window."
	echo "- cprofd --frame-pointers: the same with \`--frame-pointers\` (the kernel's walk, \`bpf_get_stack\`)."
	echo "- perf: \`perf record -F $HZ -a --call-graph dwarf -o /tmp/…/perf.data\` (8 KiB of user stack per"
	echo "  sample; no \`perf report\`); the window starts 1 s after it, and SIGINT ends it."
	echo "- python: \`$PYTHON tests/bench/pydeep.py $DEPTH\`, $PY_PROCS processes (one per CPU; Debian's $($PYTHON --version 2>&1))."
	echo "- redis: \`redis-server --port $REDIS_PORT --bind 127.0.0.1 --save '' --appendonly no\` and"
	echo "  \`redis-benchmark -p $REDIS_PORT -q -l -t set,get\` (Debian's $(redis-server --version 2>/dev/null | awk '{ print $3 }' | tr -d 'v='))."
	echo
	echo "Notes:"
	echo
	echo "- BPF time per sample is the change of \`cpu_sample\`'s run_time_ns / run_cnt over the window"
	echo "  (\`kernel.bpf_stats_enabled=1\` during cprofd's runs only). It is the whole program: the pid filter"
	echo "  (an idle CPU's samples stop there), the key, the kernel stack, the maps and the user stack walk."
	echo "  It runs in the timer interrupt and is charged to the interrupted task, not to cprofd. cprofd's own"
	echo "  CPU is its user-space work over the window: reading maps of new processes, building their tables,"
	echo "  draining, symbolizing and serving the profile, with its symbol caches warm (after a ${SETTLE} s"
	echo "  profile). Its CPU to start includes the tables it builds for the processes already running."
	echo "- A walk by tables reads the return address (and a saved rbp where one was pushed) at every"
	echo "  frame, and looks its mapping and row up (see \"Where a walk's time goes\" in this file). The"
	echo "  whole program's time also holds the first user read, the key, the kernel stack and the maps"
	echo "  (see \"Where cprofd's BPF time per sample goes\"). The frame-pointer walk reads two"
	echo "  words per frame, but it stops at the first frame without a frame pointer. Debian builds"
	echo "  python3.11 and redis without frame pointers, so their frame-pointer walks end after a frame or"
	echo "  two, and wrongly. The difference between the two is therefore mostly the cost of the frames only"
	echo "  the tables reach. It is not the cost of the same walk done two ways."
	echo "- Frames per sample are counted over the workload's samples in the profile cprofd served. The"
	echo "  workload's processes are picked by name ($(for wl in "${WORKLOADS[@]}"; do printf '%s: %s; ' "$wl" "$(wl_comms "$wl")"; done | sed 's/; $//'))."
	echo "  Kernel frames are those at 0xffff…. CPython 3.11 runs a Python-to-Python call inside the same"
	echo "  C frame of its interpreter loop. So a $DEPTH-deep Python recursion is only a few native frames,"
	echo "  and the walker never sees the Python stack."
	echo "- BPF runs per second: $(nproc) CPUs × $HZ Hz, idle time included, when no tick is lost. In the redis"
	echo "  runs, an idle CPU's ticks are often lost: some windows have almost no idle samples, and others"
	echo "  have their share. The per-sample average then moves with the share of cheap idle samples;"
	echo "  the per process sample figure leaves them out. perf loses the same ticks: compare its sample"
	echo "  counts for the two workloads, and a \`perf record -e cpu-clock -a\` run alongside cprofd by hand"
	echo "  lost them in the same seconds. So it is the VM's or the kernel's timer, not cprofd."
	echo "- Tables built in the window are for processes sampled often enough during it for the first"
	echo "  time. cprofd profiles itself too, and in some windows it is one of them: by hand, its own"
	echo "  objects took about 40 ms to build, which is most of the spread of its CPU in the window."
	echo "- Table memory: rows used × 16 bytes, in one array map per object, shared by every process"
	echo "  mapping it, made on demand up to --unwind-memory. Each process with tables also takes one"
	echo "  mapping slot (32 bytes) per executable mapping, at most 256. The index (sized for the row"
	echo "  budget), the mapping slots (128 Ki) and the row cache are array maps, allocated whole when"
	echo "  cprofd starts. With the tables: $(fmt "$(m "${WORKLOADS[0]}" tables 'kmem_bytes != "-" ? kmem_bytes / 1048576 : ""')" %.1f) MiB of kernel memory (memlock). None of it is in"
	echo "  cprofd's RSS: it writes them with system calls, not through a mapping."
	echo "- perf's CPU in the window is the copying of its ring buffers (with dwarf, 8 KiB per sample) to"
	echo "  perf.data. At exit it reads the whole file again for build-ids: that is its CPU to stop."
	goal_check
	noise
}

# paired WL EXPR: EXPR for tables minus EXPR for fp, per round of WL
paired() {
	local assign= i=1 f
	for f in $FIELDS; do assign+="$f = \$$i; "; i=$((i + 1)); done
	awk -F '\t' -v w="$1" "{ $assign } wl == w && cfg == \"tables\" { t[round] = ($2) }
		wl == w && cfg == \"fp\" { f[round] = ($2) }
		END { for (r in t) if (r in f && t[r] != \"\" && f[r] != \"\") print t[r] - f[r] }" "$RESULTS"
}

goal_check() {
	local wl t wk f d tp fp dp ft ff cpu bpfpct
	echo "- Goal check: at $HZ Hz system-wide, the daemon costs under 1% of one core (its own CPU plus its"
	echo "  BPF time), and a walk costs under 10 µs. A walk's cost is the walker's own time, timed in BPF"
	echo "  around the walk (\`cprofd_unwind_walk_seconds_total\` / walks). The whole program's time per"
	echo "  sample with tables is given too; its difference from the time with frame pointers is the extra"
	echo "  cost of table walking (per round, then the median, min to max):"
	for wl in "${WORKLOADS[@]}"; do
		[ "$(nruns "$wl" tables)" = 0 ] && continue
		t=$(m "$wl" tables 'bpf_cnt > 0 ? bpf_ns / bpf_cnt / 1e3 : ""')
		wk=$(m "$wl" tables 'walks > 0 ? walk_ns / walks / 1e3 : ""')
		f=$(m "$wl" fp 'bpf_cnt > 0 ? bpf_ns / bpf_cnt / 1e3 : ""')
		d=$(paired "$wl" 'bpf_cnt > 0 ? bpf_ns / bpf_cnt / 1e3 : ""' | stats)
		tp=$(m "$wl" tables "$per_proc")
		fp=$(m "$wl" fp "$per_proc")
		dp=$(paired "$wl" "$per_proc" | stats)
		ft=$(m "$wl" tables 'frames != "-" ? frames : ""')
		ff=$(m "$wl" fp 'frames != "-" ? frames : ""')
		cpu=$(m "$wl" tables "prof_cpu_ns $pct")
		bpfpct=$(m "$wl" tables "bpf_ns $pct")
		awk -v wl="$wl" -v t="$t" -v f="$f" -v d="$d" -v tp="$tp" -v fp="$fp" -v dp="$dp" \
		    -v ft="$ft" -v ff="$ff" -v c="$cpu" -v b="$bpfpct" -v wk="$wk" 'BEGIN {
			printf "  - %s: daemon %.3f%% + BPF %.3f%% = %.3f%% of one core: %s.\n", \
				wl, c, b, c + b, c + b < 1 ? "met" : "NOT met"
			printf "    Walk: %.1f µs per walk (%s user frames per sample): %s.\n", wk, ft, \
				wk != "" && wk < 10 ? "met" : "NOT met"
			printf "    Whole BPF program with tables %.1f µs per sample, %.1f per process sample.\n", t, tp
			if (f == "-" || f == "") { printf "    (frame pointers did not run)\n"; exit }
			split(d, p, " "); split(dp, q, " ")
			printf "    With frame pointers %.1f µs, %.1f per process sample (%s user frames). Extra cost of table\n", \
				f, fp, ff
			printf "    walking: %+.1f µs (%+.1f to %+.1f) per sample, %+.1f µs (%+.1f to %+.1f) per process sample", \
				p[1], p[2], p[3], q[1], q[2], q[3]
			if (ft != "-" && ff != "-" && ft - ff >= 1)
				printf ";\n    %.2f µs per frame walked beyond the frame-pointer walk (per process sample)", q[1] / (ft - ff)
			printf ".\n" }'
	done
}

noise() {
	local contended busy
	contended=$(col "*" 'others != "-"' | grep -c 1)
	if [ "$contended" -gt 0 ]; then
		echo "- Noise: other profilers were running during $contended of the runs:"
		echo "  $(col "*" 'others != "-" ? others : ""' | grep -v '^$' | tr ' ' '\n' | sed 's/(.*//' | sort | uniq -c |
			awk '{ printf "%s%s in %d", (NR > 1 ? ", " : ""), $2, $1 }') (counted per process seen)."
	fi
	busy=$(col "*" "other_cpu_ns $pct > 10" | grep -c 1)
	echo "- Other CPU load in the windows: the machine's busy time (/proc/stat, 10 ms ticks) minus the"
	echo "  workload's and the profiler's. Median $(fmt "$(col "*" "other_cpu_ns $pct" | med)" %.1f)% of one core; above 10% in $busy of the runs."
}

# ---- main ------------------------------------------------------------------

main() {
	local wl round cfg
	build
	[ -n "$(other_profilers)" ] && echo "bench: warning: other profilers are running: $(other_profilers)"
	echo "bench: $RUNS runs of $SECS s per configuration (${CONFIGS[*]}) for each workload (${WORKLOADS[*]})"
	: >"$RESULTS"
	for wl in "${WORKLOADS[@]}"; do
		for round in $(seq "$RUNS"); do
			echo "$wl: round $round/$RUNS"
			for cfg in "${CONFIGS[@]}"; do
				measure "$wl" "$cfg" "$round"
			done
		done
	done
	report
}

main
