# Shared by the benchmark scripts (tests/bench/run.sh, tests/bench/unwind.sh):
# process and BPF measurement helpers, starting and stopping profilers, the
# results table and statistics, and the generated sections of the doc.
# Source it from the repository's root, after setting:
#   TMP (scratch directory, removed on exit), OUT (build/bench), PROCCPU,
#   RESULTS and FIELDS (the results table: tab-separated, one run a line, and
#   its field names), HZ, URL and SOCK (cprofd's), DOC; optionally CPROFD
#   (the cprofd binary start_cprofd runs, default build/cprofd).
# It installs the EXIT/INT/TERM/HUP traps. A script may define cleanup_hook,
# run by cleanup before it stops the profiler.

PROF_PID=        # the running profiler, if any
PROF_SIG=TERM    # how to stop it
CURL_PID=
WORK_PID=        # the workload's processes (a list)
BPF_STATS_ORIG=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null || echo 0)
declare -A FAILED   # configuration -> "could not run: reason"

die() { echo "bench: $*" >&2; exit 1; }

cleanup() {
	local pid
	for pid in $WORK_PID $CURL_PID; do kill -KILL "$pid"; wait "$pid"; done 2>/dev/null
	declare -F cleanup_hook >/dev/null && cleanup_hook
	if [ -n "$PROF_PID" ]; then
		kill -"$PROF_SIG" "$PROF_PID" 2>/dev/null
		# give it a few seconds to detach, then force
		for _ in $(seq 50); do kill -0 "$PROF_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$PROF_PID" 2>/dev/null
	fi
	wait 2>/dev/null
	sysctl -qw kernel.bpf_stats_enabled="$BPF_STATS_ORIG" 2>/dev/null
	[ -n "${BENCH_KEEP:-}" ] && echo "bench: kept $TMP" >&2 || rm -rf "$TMP"
	rm -f "$SOCK"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT TERM HUP

# busy_host SECONDS: the history and fleet benches' busy host, in the
# background: build/workloads/split (about a CPU), a C compile every second,
# and every 10 s build/workloads/locks mutex (four threads contending) and
# build/workloads/leaks grow for 3 s. Adds its processes to WORK_PID; the
# compile loop's pid in CHURN (stop_busy_host ends it).
busy_host() {
	build/workloads/split "$1" >/dev/null 2>&1 &
	WORK_PID="$WORK_PID $!"
	(
		n=0
		while :; do
			gcc -O1 -c tests/workloads/locks.c -o "$TMP/x.o" 2>/dev/null
			if [ $((n++ % 10)) = 0 ]; then
				build/workloads/locks mutex 200 >"$TMP/l.out" 2>&1 &
				l=$!
				for _ in $(seq 30); do grep -q ready "$TMP/l.out" && break; sleep 0.1; done
				kill -USR1 $l 2>/dev/null
				build/workloads/leaks grow >"$TMP/g.out" 2>&1 &
				g=$!
				for _ in $(seq 30); do grep -q ready "$TMP/g.out" && break; sleep 0.1; done
				kill -USR1 $g 2>/dev/null
				sleep 3
				kill $l $g 2>/dev/null; wait $l $g 2>/dev/null
			fi
			sleep 1
		done
	) >/dev/null 2>&1 &
	CHURN=$!
	WORK_PID="$WORK_PID $CHURN"
}
stop_busy_host() {
	[ -n "${CHURN:-}" ] && { pkill -P "$CHURN" 2>/dev/null; kill "$CHURN" 2>/dev/null; }
	kill $WORK_PID 2>/dev/null
	WORK_PID= CHURN=
}

now() { echo "${EPOCHREALTIME/./}"; }             # microseconds
# a process's CPU so far, with its living children's (cprofd's parser
# processes; children it has reaped are in its own count)
cpu_ns() {
	local p t=0
	for p in "$1" $(pgrep -P "$1"); do
		t=$((t + $("$PROCCPU" "$p" 2>/dev/null || echo 0)))
	done
	echo "$t"
}
# a /proc/PID/status field in KiB (VmRSS, VmHWM) of PID and its living
# children (cprofd's parser processes), summed
tree_status_kb() {
	local p t=0
	for p in "$2" $(pgrep -P "$2"); do
		t=$((t + $(awk -v f="$1:" '$1 == f { v = $2 } END { print v + 0 }' "/proc/$p/status" 2>/dev/null || echo 0)))
	done
	echo "$t"
}
peak_rss_kb() { tree_status_kb VmHWM "$1"; }
alive() { kill -0 "$1" 2>/dev/null; }
# Prefix for commands we stop with SIGINT: a non-interactive shell starts
# background commands with SIGINT ignored, and Python (profile-bpfcc) then
# never sees it. env execs the command, so $! is the command's pid (a shell
# function would put a subshell in between).
SIGINT_OK=(env --default-signal=INT)

# Sets REAPED_US: the CPU (user + sys) of the children this shell has reaped
# so far, in microseconds, from the second line of bash's `times`. `times`
# must run in this shell: in a $(...) subshell it would count none.
reaped_us() {
	times >"$TMP/times"
	REAPED_US=$(awk 'NR == 2 { n = 0; for (i = 1; i <= 2; i++) { split($i, p, /[ms]/); n += p[1] * 60 + p[2] }
		printf "%d\n", n * 1e6 }' "$TMP/times")
}

# stop_pids PID...: TERM them, give each up to 5 s, then KILL, and reap.
stop_pids() {
	local pid
	for pid in "$@"; do kill -TERM "$pid" 2>/dev/null; done
	for pid in "$@"; do
		for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
}

redis_cli() { redis-cli -p "$REDIS_PORT" "$@" 2>/dev/null | tr -d '\r'; }

# start_redis: redis-server on REDIS_PORT (private, no persistence) with
# redis-benchmark looping set and get against it; both pids added to WORK_PID.
start_redis() {
	local pid
	[ "$(redis_cli ping)" = PONG ] && die "a redis already answers on port $REDIS_PORT; choose another with BENCH_REDIS_PORT"
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$TMP" \
		>"$TMP/redis.log" 2>&1 &
	pid=$!
	WORK_PID+=" $pid"
	for _ in $(seq 50); do
		[ "$(redis_cli ping)" = PONG ] && break
		alive "$pid" || die "redis-server did not start: $(tail -n 1 "$TMP/redis.log")"
		sleep 0.1
	done
	[ "$(redis_cli ping)" = PONG ] || die "redis-server does not answer on port $REDIS_PORT"
	redis-benchmark -p "$REDIS_PORT" -q -l -t set,get >/dev/null 2>"$TMP/redis-benchmark.err" &
	WORK_PID+=" $!"
}

# Other profilers running, not ours, for the noise report: processes named
# like ours, and perf_event BPF programs beyond our own (bcc's or cprofd's).
other_profilers() {
	local p out= progs ours=0
	for p in $(pgrep -x 'cprofd|perf|profile-bpfcc' 2>/dev/null); do
		[ "$p" = "${PROF_PID:-}" ] || out+="$(cat /proc/$p/comm 2>/dev/null)($p) "
	done
	if [ -z "$out" ]; then
		[ -n "${PROF_PID:-}" ] && [ -n "$(perf_prog_id "$PROF_PID")" ] && ours=1
		progs=$(bpftool prog show 2>/dev/null | grep -c ': perf_event ')
		[ "$progs" -gt "$ours" ] && out="bpf-perf_event-program($((progs - ours)))"
	fi
	echo "${out% }"
}

# the checks and the helper every benchmark needs
build_check() {
	[ "$(id -u)" = 0 ] || die "run as root (BPF and system-wide perf events): sudo make bench"
	[ -x build/cprofd ] || die "build/cprofd missing: run make first"
	command -v bpftool >/dev/null || die "bpftool missing: scripts/deps.sh bench"
	mkdir -p "$OUT"
}
build_proccpu() {
	gcc -O2 -Wall -Wextra tests/bench/proccpu.c -o "$PROCCPU" || die "cannot build proccpu"
}

# ---- profilers: start_X starts X and waits until it is ready (sets PROF_PID
# and PROF_SIG, the signal that stops it); when X cannot run it returns 1 and
# sets FAILED[X]. stop_profiler stops whichever runs. ------------------------

# start_cprofd [NAME [OPTION...]]: cprofd at $HZ, every process, with OPTIONs;
# NAME (default cprofd) is the configuration, for FAILED
start_cprofd() {
	local name=${1:-cprofd}
	[ $# -gt 0 ] && shift
	if curl -s -o /dev/null "$URL/metrics"; then
		die "something already listens on ${URL#http://}; choose another with BENCH_PORT"
	fi
	sysctl -qw kernel.bpf_stats_enabled=1
	"${CPROFD:-build/cprofd}" --listen "${URL#http://}" --socket "$SOCK" --hz "$HZ" "$@" >"$TMP/cprofd.log" 2>&1 &
	PROF_PID=$! PROF_SIG=TERM
	for _ in $(seq 100); do
		curl -sf -o /dev/null "$URL/metrics" && return 0
		alive "$PROF_PID" || break
		sleep 0.1
	done
	FAILED[$name]="could not run: $(tail -n 1 "$TMP/cprofd.log")"
	return 1
}

# start_perf [NAME [OPTION...]]: perf record -F $HZ -a OPTION... (default -g),
# to $TMP/perf.data
start_perf() {
	local name=${1:-perf}
	[ $# -gt 0 ] && shift
	[ $# -gt 0 ] || set -- -g
	command -v perf >/dev/null || { FAILED[$name]="could not run: perf not installed (apt-get install linux-perf)"; return 1; }
	"${SIGINT_OK[@]}" perf record -F "$HZ" -a "$@" -o "$TMP/perf.data" >"$TMP/perf.log" 2>&1 &
	PROF_PID=$! PROF_SIG=INT
	sleep 1
	alive "$PROF_PID" && return 0
	FAILED[$name]="could not run: $(grep -v '^$' "$TMP/perf.log" | head -n 1)"
	return 1
}

# stop the running profiler (killed if still there after 60 s); sets
# STOP_CPU_NS: its CPU from the last snapshot (CPU1_NS) to its exit, from its
# rusage when this shell reaps it
stop_profiler() {
	local before i
	reaped_us
	before=$REAPED_US
	kill -"$PROF_SIG" "$PROF_PID" 2>/dev/null
	for i in $(seq 600); do alive "$PROF_PID" || break; sleep 0.1; done
	if alive "$PROF_PID"; then
		echo "  warning: pid $PROF_PID still running 60 s after SIG$PROF_SIG: killed" >&2
		kill -KILL "$PROF_PID" 2>/dev/null
	fi
	wait "$PROF_PID" 2>/dev/null
	reaped_us
	STOP_CPU_NS=$(( (REAPED_US - before) * 1000 - CPU1_NS ))
	[ "$STOP_CPU_NS" -ge 0 ] || STOP_CPU_NS=0
	PROF_PID=
}

# a profiler that failed to start: reap it if it is still there
cleanup_failed_start() {
	if [ -n "$PROF_PID" ]; then
		kill -"$PROF_SIG" "$PROF_PID" 2>/dev/null
		sleep 0.5
		kill -KILL "$PROF_PID" 2>/dev/null
		wait "$PROF_PID" 2>/dev/null
	fi
	PROF_PID=
	sysctl -qw kernel.bpf_stats_enabled="$BPF_STATS_ORIG"
}

# id of the perf_event BPF program PID holds an fd to (bcc's, cprofd's)
perf_prog_id() {
	grep -ls '^prog_type:[[:space:]]*7$' /proc/"$1"/fdinfo/* 2>/dev/null | head -n 1 |
		xargs -r awk '/^prog_id:/ { print $2 }'
}

# run_time_ns and run_cnt of BPF program ID (kernel.bpf_stats_enabled=1)
bpf_stats() {
	bpftool prog show id "$1" 2>/dev/null |
		awk '{ for (i = 1; i < NF; i++) { if ($i == "run_time_ns") t = $(i + 1); if ($i == "run_cnt") c = $(i + 1) } }
		     END { print (t ? t : 0), (c ? c : 0) }'
}

# ---- report ----------------------------------------------------------------

# stats: numbers on stdin, one a line -> "median min max" ("- - -" if none)
stats() {
	sort -g | awk 'NF { v[++n] = $1 } END {
		if (!n) { print "- - -"; exit }
		m = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		print m, v[1], v[n] }'
}

# col CFG EXPR: an awk expression over the fields of results.tsv, by their
# names in FIELDS, for each run of CFG ("*": every run): col perf 'hwm_kb / 1024'.
# COL_WHERE, if set, is an awk condition the runs must also meet.
col() {
	local assign= i=1 f
	for f in $FIELDS; do assign+="$f = \$$i; "; i=$((i + 1)); done
	awk -F '\t' -v want="$1" "{ $assign } (want == \"*\" || cfg == want) && (${COL_WHERE:-1}) { print ($2) }" "$RESULTS"
}

med() { stats | awk '{ print $1 }'; }
fmt() { awk -v v="$1" -v f="$2" 'BEGIN { if (v == "-" || v == "") print "–"; else printf f, v }'; }

# the machine, for a section's first lines
machine_lines() {
	echo "Run $(date -u '+%Y-%m-%d %H:%M UTC'): $(nproc) CPUs ($(awk -F ': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)),"
	echo "kernel $(uname -r), Debian $(cat /etc/debian_version 2>/dev/null || echo '?'), $(free -m | awk '/^Mem:/ { print $2 }') MiB RAM."
}

# write_doc SECTION TAG: put file SECTION in $DOC between the bench:TAG
# markers (which SECTION holds), or append it. A missing doc starts with
# doc_header's output (if the script defines it).
write_doc() {
	local section=$1 tag=$2
	[ "$DOC" = none ] && return 0
	if [ ! -f "$DOC" ]; then
		mkdir -p "$(dirname "$DOC")"
		if declare -F doc_header >/dev/null; then doc_header >"$DOC"; else printf '# Performance\n\n' >"$DOC"; fi
	fi
	if grep -q "<!-- bench:$tag begin -->" "$DOC" && grep -q "<!-- bench:$tag end -->" "$DOC"; then
		awk -v sec="$section" -v b="<!-- bench:$tag begin -->" -v e="<!-- bench:$tag end -->" '
			index($0, b) { while ((getline l < sec) > 0) print l; skip = 1; next }
			index($0, e) { skip = 0; next }
			!skip' "$DOC" >"$TMP/doc" && cat "$TMP/doc" >"$DOC"
	else
		# after a blank line
		case $(tail -c 2 "$DOC" | od -An -tx1 | tr -d ' \n') in
		'' | 0a0a) ;;
		*0a) echo >>"$DOC" ;;
		*) printf '\n\n' >>"$DOC" ;;
		esac
		cat "$section" >>"$DOC"
	fi
	echo
	echo "bench: wrote $DOC"
}
