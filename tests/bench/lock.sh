#!/usr/bin/env bash
# What the block and mutex views cost the locks they watch, side by side with
# the naive design, in one run. The workload is tests/workloads/locks.c,
# started before the tool and set going (SIGUSR1) once the tool is in place:
#   locks uncontended PAIRS   one thread, PAIRS pthread_mutex_lock+unlock
#                             pairs of its own mutex (never a futex call):
#                             ns per pair, wall and CPU, and its fastest batch of a million pairs
#   locks contended SECONDS   four threads, one mutex, a short critical
#                             section (about 200 ns), for SECONDS: lock-unlock
#                             pairs a second
# Configurations, interleaved round-robin (N is the workload's pid):
#   alone              locks uncontended, nothing attached
#   cprofd             the same under cprofd --pid N --views block,mutex (the
#                      futex system call tracepoints)
#   bpftrace           the same under bpftrace -p N with a uprobe and a
#                      uretprobe on libc's pthread_mutex_lock, keeping a
#                      timestamp a thread: the naive design, a trap at every
#                      lock call and another at its return
#   contended-alone    locks contended, nothing attached
#   contended-cprofd   the same under cprofd
#   contended-bpftrace the same under the bpftrace probes
# Goals: uncontended under cprofd below 1.02x alone; contended throughput
# under cprofd within 5% of alone. Before each run the workload's
# pthread_mutex_lock is read (/proc/N/mem) for a breakpoint: one there before
# the tool starts is someone else's probe (system-wide), and the run is done
# again, up to BENCH_TRIES times.
# Writes the section "## Block and mutex views" into docs/PERFORMANCE.md
# between the bench:lock markers (appended if missing).
# Run as root: `bash tests/bench/lock.sh` after `make` (bpftrace:
# scripts/deps.sh bench).
# Environment: BENCH_RUNS (rounds, default 5), BENCH_FAST_RUNS (rounds of
# the uncontended runs alone and under cprofd, each under a second:
# default 15), BENCH_PAIRS (pairs a run,
# default 50000000: at about 7 ns a pair, 10 million made runs of 70 ms,
# which this host's noise moved by 30%), BENCH_SLOW_PAIRS (pairs a run under bpftrace, default
# 1000000: each costs two traps), BENCH_SECONDS (contended runs, default 5),
# BENCH_CONFIGS (default: all the above), BENCH_TRIES (default 5),
# BENCH_PORT (default 16075), BENCH_CPROFD (default build/cprofd; a copy is
# run, taken at the start, so that a rebuild cannot change it between
# rounds), BENCH_DOC (default docs/PERFORMANCE.md; "none" to only print),
# BENCH_KEEP=1 (keep the raw results in /tmp).
set -uo pipefail
cd "$(dirname "$0")/../.."

RUNS=${BENCH_RUNS:-5}
FAST_RUNS=${BENCH_FAST_RUNS:-15}
PAIRS=${BENCH_PAIRS:-50000000}
SLOW_PAIRS=${BENCH_SLOW_PAIRS:-1000000}
SECONDS_RUN=${BENCH_SECONDS:-5}
TRIES=${BENCH_TRIES:-5}
PORT=${BENCH_PORT:-16075}
DOC=${BENCH_DOC:-docs/PERFORMANCE.md}
CPROFD_SRC=${BENCH_CPROFD:-build/cprofd}
SOCK=/tmp/cprofd-bench-lock.sock
URL=http://127.0.0.1:$PORT
HZ=99
OUT=build/bench
PROCCPU=$OUT/proccpu
WORKLOAD=$OUT/locks
TMP=$(mktemp -d /tmp/cprof-bench-lock.XXXXXX)
RESULTS=$TMP/results.tsv
FIELDS="cfg round n wall_ns cpu_ns ops_per_sec switches tool_cpu_ns probed tries best_ns"
read -ra CONFIGS <<<"${BENCH_CONFIGS:-alone cprofd bpftrace contended-alone contended-cprofd contended-bpftrace}"
source tests/bench/lib.sh
PROF_SIG=INT

[ "$(id -u)" = 0 ] || die "run as root"
[ "$(uname -m)" = x86_64 ] || die "x86_64 only: a probe is told by the int3 byte at pthread_mutex_lock"
mkdir -p "$OUT"
gcc -O2 -g -fno-omit-frame-pointer -Wall -Wextra -pthread tests/workloads/locks.c -o "$WORKLOAD" ||
	die "cannot build $WORKLOAD"
build_proccpu
CPROFD=$TMP/cprofd CPROFD_WHEN=
chmod 755 "$TMP"   # cprofd's parsers run as nobody
if [ -x "$CPROFD_SRC" ]; then
	cp "$CPROFD_SRC" "$CPROFD"
	CPROFD_WHEN=$(date -u -r "$CPROFD_SRC" '+%Y-%m-%d %H:%M UTC')
fi
LIBC=$(ldd "$WORKLOAD" | awk '$1 == "libc.so.6" { print $3 }')
[ -f "$LIBC" ] || die "cannot find the workload's libc.so.6"
LIBC_REAL=$(realpath "$LIBC")
BPFTRACE=$(command -v bpftrace || true)
declare -A LABEL=(
	[alone]="nothing attached"
	[cprofd]="cprofd --pid N --views block,mutex"
	[bpftrace]="bpftrace: uprobe and uretprobe on pthread_mutex_lock"
	[contended-alone]="nothing attached"
	[contended-cprofd]="cprofd --pid N --views block,mutex"
	[contended-bpftrace]="bpftrace: uprobe and uretprobe on pthread_mutex_lock")
for c in "${CONFIGS[@]}"; do [ -n "${LABEL[$c]+x}" ] || die "unknown configuration $c"; done

# file offset of SYM in LIBC: its address, moved from its PT_LOAD segment's
# address to the segment's offset in the file
libc_offset() {
	local v _t off va _pa sz
	v=$(nm -D --defined-only "$LIBC" | awk -v s="$1" '{ split($3, n, "@") } n[1] == s { print $1; exit }')
	[ -n "$v" ] || die "no symbol $1 in $LIBC"
	v=$((0x$v))
	while read -r _t off va _pa sz _; do
		if [ $((v >= va && v < va + sz)) = 1 ]; then echo $((v - va + off)); return; fi
	done < <(readelf -lW "$LIBC" | awk '$1 == "LOAD"')
}
LOCK_OFF=$(libc_offset pthread_mutex_lock)
[ -n "$LOCK_OFF" ] || die "cannot place pthread_mutex_lock in $LIBC"
BT_PROG="uprobe:$LIBC:pthread_mutex_lock { @[tid] = nsecs; } uretprobe:$LIBC:pthread_mutex_lock { delete(@[tid]); }"

# ---- the workload ------------------------------------------------------------

LOCK_ADDR=   # pthread_mutex_lock in the running workload

# start_workload MODE ARG: the workload, waiting for SIGUSR1; WORK_PID, LOCK_ADDR
start_workload() {
	local range perms off _dev _ino path lo hi
	"$WORKLOAD" "$1" "$2" >"$TMP/work.out" 2>&1 &
	WORK_PID=$!
	for _ in $(seq 600); do grep -q '^ready' "$TMP/work.out" && break; sleep 0.05; done
	grep -q '^ready' "$TMP/work.out" || die "locks did not start: $(cat "$TMP/work.out")"
	LOCK_ADDR=
	while read -r range perms off _dev _ino path; do
		[ "$path" = "$LIBC_REAL" ] || [ "$path" = "$LIBC" ] || continue
		lo=$((0x${range%-*})) hi=$((0x${range#*-})) off=$((0x$off))
		if [ $((LOCK_OFF >= off && LOCK_OFF < off + hi - lo)) = 1 ]; then
			LOCK_ADDR=$((lo + LOCK_OFF - off))
			break
		fi
	done <"/proc/$WORK_PID/maps"
	[ -n "$LOCK_ADDR" ] || die "cannot find pthread_mutex_lock in the workload's maps"
}

# whether the workload's pthread_mutex_lock holds a breakpoint: yes or no
probed_now() {
	local b
	b=$(dd if="/proc/$WORK_PID/mem" bs=1 count=1 skip="$LOCK_ADDR" status=none 2>/dev/null | od -An -tx1 | tr -d ' \n')
	[ "$b" = cc ] && echo yes || echo no
}

# until the workload prints "done" (it then waits for SIGTERM); 1 if it exits
wait_done() {
	while ! grep -q '^done' "$TMP/work.out"; do
		alive "$WORK_PID" || return 1
		sleep 0.05
	done
}

stop_workload() {
	[ -n "$WORK_PID" ] || return 0
	kill -TERM "$WORK_PID" 2>/dev/null
	for _ in $(seq 50); do alive "$WORK_PID" || break; sleep 0.1; done
	kill -KILL "$WORK_PID" 2>/dev/null
	wait "$WORK_PID" 2>/dev/null
	WORK_PID=
}

# ---- the tools: start_tool CFG starts CFG's tool against WORK_PID and waits
# until it is in place (PROF_PID, PROF_SIG); when it cannot, returns 1 and
# sets FAILED[CFG]. ------------------------------------------------------------

metric() { curl -sf "$URL/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
NO_ATTACHED_METRIC=

# until the tool (with its children: cprofd's parsers) has used under 1 ms of
# CPU in 200 ms, for up to 10 s: what it does at start is not to run beside
# the measured loop
wait_idle() {
	local a b
	a=$(cpu_ns "$PROF_PID")
	for _ in $(seq 50); do
		sleep 0.2
		b=$(cpu_ns "$PROF_PID")
		[ $((b - a)) -lt 1000000 ] && return 0
		a=$b
	done
}

declare -A CMD=()
start_tool() {
	local cfg=$1 log=$TMP/$1.log msg
	PROF_SIG=INT
	case $cfg in
	alone | contended-alone) return 0 ;;
	bpftrace | contended-bpftrace)
		[ -n "$BPFTRACE" ] || { FAILED[$cfg]="could not run: bpftrace not installed (scripts/deps.sh bench)"; return 1; }
		CMD[$cfg]="bpftrace -p N -e '$BT_PROG'"
		"${SIGINT_OK[@]}" "$BPFTRACE" -p "$WORK_PID" -e "$BT_PROG" >"$log" 2>&1 &
		PROF_PID=$!
		for _ in $(seq 300); do
			[ "$(probed_now)" = yes ] && { wait_idle; return 0; }
			alive "$PROF_PID" || break
			sleep 0.1
		done
		msg=$(grep -v -e '^$' -e RLIMIT_MEMLOCK -e '^Attaching' "$log" | tail -n 1)
		FAILED[$cfg]="could not run: no breakpoint on pthread_mutex_lock after 30 s${msg:+: $msg}"
		return 1 ;;
	cprofd | contended-cprofd)
		[ -x "$CPROFD" ] || { FAILED[$cfg]="could not run: $CPROFD_SRC missing"; return 1; }
		if curl -s -o /dev/null "$URL/metrics"; then
			die "something already listens on ${URL#http://}; choose another with BENCH_PORT"
		fi
		local args=(--pid "$WORK_PID" --views block,mutex --listen "127.0.0.1:$PORT" --socket "$SOCK")
		CMD[$cfg]="$CPROFD_SRC ${args[*]/#$WORK_PID/N}"
		"$CPROFD" "${args[@]}" >"$log" 2>&1 &
		PROF_PID=$! PROF_SIG=TERM
		# ready at cprofd_lock_attached 1; a cprofd without that metric,
		# once /metrics answers
		for _ in $(seq 300); do
			curl -sf "$URL/metrics" >"$TMP/metrics" 2>/dev/null && {
				grep -q '^cprofd_lock_attached 1$' "$TMP/metrics" && { wait_idle; return 0; }
				if ! grep -q '^cprofd_lock_attached ' "$TMP/metrics"; then
					NO_ATTACHED_METRIC=1
					wait_idle
					return 0
				fi
			}
			alive "$PROF_PID" || break
			sleep 0.1
		done
		msg=$(grep -v '^$' "$log" | tail -n 1)
		if alive "$PROF_PID"; then
			FAILED[$cfg]="could not run: no cprofd_lock_attached 1 in /metrics after 30 s${msg:+: $msg}"
		else
			FAILED[$cfg]="could not run: exited${msg:+: $msg}"
		fi
		return 1 ;;
	esac
}

stop_tool() {
	[ -n "$PROF_PID" ] || return 0
	kill -"$PROF_SIG" "$PROF_PID" 2>/dev/null
	for _ in $(seq 100); do alive "$PROF_PID" || break; sleep 0.1; done
	kill -KILL "$PROF_PID" 2>/dev/null
	wait "$PROF_PID" 2>/dev/null
	PROF_PID=
}

# ---- one run -----------------------------------------------------------------

# the value the workload printed after KEY
out() { awk -v k="$1" '$1 == k { print $2; exit }' "$TMP/work.out"; }

# measure CFG ROUND: one run of CFG, a line in RESULTS; none if CFG cannot run
measure() {
	local cfg=$1 round=$2 mode=uncontended arg=$PAIRS try probed= n wall cpu ops_s=- sw=- t0 t1 tool=-
	[ -z "${FAILED[$cfg]:-}" ] || return 0
	case $cfg in
	contended-*) mode=contended arg=$SECONDS_RUN ;;
	bpftrace) arg=$SLOW_PAIRS ;;
	esac
	for try in $(seq "$TRIES"); do
		[ "$try" -gt 1 ] && sleep 15
		start_workload "$mode" "$arg"
		if [ "$(probed_now)" = yes ]; then
			echo "  $cfg: someone else probes pthread_mutex_lock (try $try of $TRIES)" >&2
			stop_workload
			probed=foreign
			continue
		fi
		if ! start_tool "$cfg"; then
			echo "  $cfg: ${FAILED[$cfg]}" >&2
			stop_tool
			stop_workload
			return 0
		fi
		probed=$(probed_now)
		[ -n "$PROF_PID" ] && t0=$(cpu_ns "$PROF_PID")
		kill -USR1 "$WORK_PID"
		wait_done || die "locks $mode failed: $(cat "$TMP/work.out")"
		[ -n "$PROF_PID" ] && t1=$(cpu_ns "$PROF_PID") && tool=$((t1 - t0))
		case $cfg in alone | contended-alone) ;; *)
			alive "$PROF_PID" || echo "  warning: $cfg exited during the run" >&2 ;;
		esac
		stop_tool
		stop_workload
		break
	done
	[ "$probed" = foreign ] && { echo "  $cfg: no clean run in $TRIES tries" >&2; return 0; }
	if [ "$mode" = uncontended ]; then
		record_run "$cfg" "$round" 1 "$probed" "$try" "$tool"
		return 0
	fi
	n=$(out ops) wall=$(out elapsed_ns) cpu=- ops_s=$(out ops_per_sec) sw=$(out voluntary_switches)
	printf '%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t-\n' "$cfg" "$round" "$n" "$wall" "$cpu" "$ops_s" "$sw" \
		"$tool" "$probed" "$try" >>"$RESULTS"
	awk -v c="$cfg" -v o="$ops_s" -v s="$sw" -v w="$wall" -v p="$probed" 'BEGIN {
		printf "  %-19s %10.0f ops/s  %8.0f sleeps/s  pthread_mutex_lock probed: %s\n", c, o, s * 1e9 / w, p }' >&2
}

# out_run K KEY: KEY's value in the workload's K-th report (reports end at "done")
out_run() {
	awk -v k="$1" -v key="$2" '$1 == "done" { r++; next } r == k - 1 && $1 == key { print $2; exit }' "$TMP/work.out"
}

# run_again K: set the workload's loop going once more; until its K-th report
run_again() {
	kill -USR1 "$WORK_PID"
	while [ "$(grep -c '^done' "$TMP/work.out")" -lt "$1" ]; do
		alive "$WORK_PID" || die "locks uncontended failed: $(cat "$TMP/work.out")"
		sleep 0.05
	done
}

# record_run CFG ROUND K PROBED TRIES [TOOL_NS]: the K-th report as a line of RESULTS
record_run() {
	local n wall cpu best
	n=$(out_run "$3" pairs) wall=$(out_run "$3" elapsed_ns) cpu=$(out_run "$3" cpu_ns)
	best=$(out_run "$3" best_ns_per_pair)
	printf '%s\t%d\t%s\t%s\t%s\t-\t-\t%s\t%s\t%d\t%s\n' "$1" "$2" "$n" "$wall" "$cpu" "${6:--}" "$4" "$5" \
		"${best:--}" >>"$RESULTS"
	awk -v c="$1" -v n="$n" -v w="$wall" -v u="$cpu" -v b="${best:--}" -v p="$4" 'BEGIN {
		printf "  %-19s %8.2f ns/pair wall %8.2f CPU %8s best  pthread_mutex_lock probed: %s\n", c, w / n, u / n, b, p }' >&2
}

# measure_aba ROUND: the uncontended loop alone, under cprofd, and alone
# again, in one workload process: a process's own speed (where its lock and
# stack fall) moves from one process to the next by as much as the effect
# looked for. Alone: the mean of the two runs around cprofd's; a first run,
# not counted, warms the process up (its first run was the slowest).
measure_aba() {
	local round=$1 try probed= t0 t1 tool=- a1 a3
	for try in $(seq "$TRIES"); do
		[ "$try" -gt 1 ] && sleep 15
		start_workload uncontended "$PAIRS"
		if [ "$(probed_now)" = yes ]; then
			echo "  uncontended: someone else probes pthread_mutex_lock (try $try of $TRIES)" >&2
			stop_workload
			probed=foreign
			continue
		fi
		run_again 1
		run_again 2
		if ! start_tool cprofd; then
			echo "  cprofd: ${FAILED[cprofd]}" >&2
			stop_tool
			stop_workload
			return 0
		fi
		probed=$(probed_now)
		t0=$(cpu_ns "$PROF_PID")
		run_again 3
		t1=$(cpu_ns "$PROF_PID") && tool=$((t1 - t0))
		alive "$PROF_PID" || echo "  warning: cprofd exited during the run" >&2
		stop_tool
		[ "$(probed_now)" = yes ] && { stop_workload; probed=foreign; continue; }
		run_again 4
		break
	done
	[ "$probed" = foreign ] && { stop_workload; echo "  uncontended: no clean run in $TRIES tries" >&2; return 0; }
	record_run cprofd "$round" 3 "$probed" "$try" "$tool"
	# alone: the two runs' mean, field by field
	: >"$TMP/aba"
	for k in pairs elapsed_ns cpu_ns best_ns_per_pair; do
		a1=$(out_run 2 "$k") a3=$(out_run 4 "$k")
		echo "$k $(awk -v a="$a1" -v b="$a3" 'BEGIN { if (a == "" || b == "") print ""; else printf "%.3f", (a + b) / 2 }')"
	done >"$TMP/aba"
	echo done >>"$TMP/aba"
	cp "$TMP/work.out" "$TMP/work.aba"
	cp "$TMP/aba" "$TMP/work.out"
	record_run alone "$round" 1 no "$try"
	stop_workload
}

# ---- main --------------------------------------------------------------------

echo "bench: $RUNS rounds of ${CONFIGS[*]}; $PAIRS pairs a run ($SLOW_PAIRS under bpftrace), contended $SECONDS_RUN s" >&2
"$WORKLOAD" uncontended 1000000 >/dev/null & w=$!   # warm-up
sleep 0.2; kill -USR1 "$w"; sleep 0.5; kill -TERM "$w"; wait "$w"
steal0=$(awk '/^cpu / { print $9 }' /proc/stat)
: >"$RESULTS"
ABA=0
[[ " ${CONFIGS[*]} " == *" alone "* && " ${CONFIGS[*]} " == *" cprofd "* ]] && ABA=1
for r in $(seq "$((RUNS > FAST_RUNS ? RUNS : FAST_RUNS))"); do
	echo "round $r" >&2
	for c in "${CONFIGS[@]}"; do
		case $c in
		alone | cprofd) [ "$r" -le "$FAST_RUNS" ] || continue ;;
		*) [ "$r" -le "$RUNS" ] || continue ;;
		esac
		# both in one process, when both are asked for
		if [ "$ABA" = 1 ] && [ "$c" = alone ]; then
			continue
		elif [ "$ABA" = 1 ] && [ "$c" = cprofd ]; then
			measure_aba "$r"
			continue
		fi
		measure "$c" "$r"
	done
done
steal1=$(awk '/^cpu / { print $9 }' /proc/stat)
steal=$(( (steal1 - steal0) / $(getconf CLK_TCK) ))

# ---- report ------------------------------------------------------------------

# per-run figures of CFG: ns a pair by the wall clock (wall) or the thread's
# CPU clock (cpu), or lock-unlock pairs a second (ops)
fig() {
	case $2 in
	wall) col "$1" 'wall_ns / n' ;;
	cpu) col "$1" 'cpu_ns / n' ;;
	best) COL_WHERE='best_ns != "-"' col "$1" 'best_ns' ;;
	ops) col "$1" 'ops_per_sec' ;;
	sleeps) col "$1" 'switches * 1e9 / wall_ns' ;;
	esac
}
# paired ratios CFG over REF, per round (both ran): "median min max"
paired() {
	local e
	case $3 in wall) e='$4 / $3' ;; cpu) e='$5 / $3' ;; ops) e='$6' ;; best) e='($11 == "-" ? 0 : $11)' ;; esac
	awk -F '\t' -v c="$1" -v r="$2" "{ v[\$1, \$2] = $e }
		END { for (k in v) { split(k, p, SUBSEP); if (p[1] == c && ((r, p[2]) in v) && v[r, p[2]] > 0)
			print v[k] / v[r, p[2]] } }" "$RESULTS" | stats
}
# "X× (rounds LO–HI)", or "not measured"
ratio_text() {
	local m lo hi
	read -r m lo hi <<<"$(paired "$1" "$2" "$3")"
	[ "$m" = - ] && { echo "not measured"; return; }
	awk -v m="$m" -v lo="$lo" -v hi="$hi" 'BEGIN { printf "%.3f× (rounds %.3f–%.3f)", m, lo, hi }'
}
# median of the rounds' differences CFG - REF, ns a pair by the wall clock
pdiff() {
	awk -F '\t' -v c="$1" -v r="$2" '{ v[$1, $2] = $4 / $3 }
		END { for (k in v) { split(k, p, SUBSEP); if (p[1] == c && ((r, p[2]) in v)) print v[k] - v[r, p[2]] } }' "$RESULTS" |
		stats | awk '{ print $1 }'
}
ran() { [ -n "$(col "$1" cfg)" ]; }
# why CFG has no figures
why() { [ -n "${FAILED[$1]:-}" ] && echo "could not run (below)" || echo "no clean run (below)"; }

section=$TMP/section.md
{
	echo "<!-- bench:lock begin -->"
	echo "## Block and mutex views"
	echo
	echo "What tracing futex waits and wakes costs the locks a process takes (generated by"
	echo "\`tests/bench/lock.sh\`). $(machine_lines | head -n 1)"
	machine_lines | tail -n +2
	echo "The workload is \`tests/workloads/locks.c\`, built with -O2; each run starts it, then the tool,"
	echo "and sets it going once the tool is in place. Medians of $RUNS rounds ($FAST_RUNS of the short"
	echo "uncontended runs alone and under cprofd), the configurations"
	echo "interleaved; ratios are the rounds' paired ratios to the run alone of the same round. The"
	echo "host stole $steal CPU-seconds from this VM during the run."
	[ "$ABA" = 1 ] && echo "The uncontended loop alone and under cprofd runs in one workload process a round: alone, under
cprofd, alone again (alone: the mean of its two runs; a first run warms it up, not counted), for a process's speed is its own: where its
lock and stack fall moved the fastest batch by up to 15% from one process to the next."
	echo
	echo "Uncontended: \`locks uncontended $PAIRS\`, one thread taking and releasing a mutex of its own"
	echo "($SLOW_PAIRS pairs under bpftrace, whose traps make each pair slow). Such a lock never enters the"
	echo "kernel nor sleeps, so the scheduler's tracepoints never see it; a uprobe traps at every call."
	echo
	echo "| configuration | attached | ns per pair, wall (min–max) | ns per pair, CPU | ns per pair, fastest batch | × alone, wall | × alone, CPU | × alone, fastest batch |"
	echo "|---|---|---|---|---|---|---|---|"
	for c in alone cprofd bpftrace; do
		[[ " ${CONFIGS[*]} " == *" $c "* ]] || continue
		if ! ran "$c"; then
			echo "| $c | ${LABEL[$c]} | $(why "$c") | | | | | |"
			continue
		fi
		read -r m lo hi <<<"$(fig "$c" wall | stats)"
		rw=$(paired "$c" alone wall | awk '{ print $1 }') rc=$(paired "$c" alone cpu | awk '{ print $1 }')
		rb=$(paired "$c" alone best | awk '{ print $1 }')
		awk -v c="$c" -v l="${LABEL[$c]}" -v m="$m" -v lo="$lo" -v hi="$hi" -v u="$(fig "$c" cpu | med)" \
			-v b="$(fig "$c" best | med)" -v rw="$rw" -v rc="$rc" -v rb="$rb" 'BEGIN {
			printf "| %s | %s | %.2f (%.2f–%.2f) | %.2f | ", c, l, m, lo, hi, u
			if (b == "-") printf "– | "; else printf "%.2f | ", b
			if (rw == "-") printf "– | "; else printf "%.3f | ", rw
			if (rc == "-") printf "– | "; else printf "%.3f | ", rc
			if (rb == "-") printf "– |\n"; else printf "%.3f |\n", rb }'
	done
	echo
	echo "Contended: \`locks contended $SECONDS_RUN\`, four threads on one mutex, about 200 ns of work"
	echo "inside, no pause between; the futex waits that slept are counted as the workload's voluntary"
	echo "context switches."
	echo
	echo "| configuration | attached | lock-unlock pairs a second (min–max) | × alone | sleeps a second |"
	echo "|---|---|---|---|---|"
	for c in contended-alone contended-cprofd contended-bpftrace; do
		[[ " ${CONFIGS[*]} " == *" $c "* ]] || continue
		if ! ran "$c"; then
			echo "| $c | ${LABEL[$c]} | $(why "$c") | | |"
			continue
		fi
		read -r m lo hi <<<"$(fig "$c" ops | stats)"
		r=$(paired "$c" contended-alone ops | awk '{ print $1 }')
		awk -v c="$c" -v l="${LABEL[$c]}" -v m="$m" -v lo="$lo" -v hi="$hi" -v r="$r" \
			-v s="$(fig "$c" sleeps | med)" 'BEGIN {
			printf "| %s | %s | %.0f (%.0f–%.0f) | ", c, l, m, lo, hi
			if (r == "-") printf "– | "; else printf "%.3f | ", r
			printf "%.0f |\n", s }'
	done
	echo
	echo "Commands (N: the workload's pid):"
	echo
	for c in "${CONFIGS[@]}"; do
		[ -n "${CMD[$c]:-}" ] && echo "- ${c}: \`${CMD[$c]}\`"
	done
	echo
	read -r gm _ _ <<<"$(paired cprofd alone cpu)"
	echo "- Goal: uncontended locks under cprofd cost under 1.02× alone, by the thread's CPU clock (a"
	echo "  probe's cost runs on the thread; the wall clock adds whatever else this 2-CPU host runs, cprofd"
	echo "  itself too): $(ratio_text cprofd alone cpu)$(
		awk -v m="$gm" 'BEGIN { if (m == "-") print ""; else if (m < 1.02) print ": met"; else print ": NOT met" }'); by the wall clock $(ratio_text cprofd alone wall);"
	echo "  by each run's fastest batch of a million pairs $(ratio_text cprofd alone best)."
	read -r gm _ _ <<<"$(paired contended-cprofd contended-alone ops)"
	echo "- Goal: contended throughput under cprofd within 5% of alone: $(ratio_text contended-cprofd contended-alone ops)$(
		awk -v m="$gm" 'BEGIN { if (m == "-") print ""; else if (m >= 0.95 && m <= 1.05) print ": met"; else print ": NOT met" }')."
	read -r m lo hi <<<"$(fig contended-alone ops | stats)"
	[ "$m" != - ] && awk -v m="$m" -v lo="$lo" -v hi="$hi" 'BEGIN {
		printf "  The runs alone spread %.0f%% below and %.0f%% above their median: glibc'\''s mutex under this load\n", 100 * (m - lo) / m, 100 * (hi - m) / m
		printf "  moves between waiters that sleep and a storm of futex waits that return at once (EAGAIN: the\n"
		printf "  lock word changed before the kernel read it), each unlock then a futex wake; a run keeps\n"
		printf "  either for seconds. Read the ratio against that spread.\n" }'
	d=$(pdiff bpftrace alone)
	[ "$d" != - ] && echo "- The naive design, bpftrace's uprobe and uretprobe on pthread_mutex_lock, adds $(fmt "$d" %.0f) ns to every"
	[ "$d" != - ] && echo "  lock call, contended or not: $(ratio_text bpftrace alone wall) alone; under contention $(ratio_text contended-bpftrace contended-alone ops)."
	if ran contended-cprofd; then
		echo "- cprofd's own CPU (its process and its parsers; the BPF programs run in the workload's threads)"
		echo "  during a contended run: $(col contended-cprofd 'tool_cpu_ns / wall_ns * 100' | med | awk '{ if ($1 == "-") print "–"; else printf "%.2f", $1 }')% of a CPU, median."
	fi
	n=$(col '*' 'tries > 1' | grep -c 1)
	echo "- Someone else's probes on pthread_mutex_lock (uprobes placed for every process): $n of the runs"
	echo "  were done again because of them."
	p=$(col cprofd probed | sort | uniq -c | sort -rn | awk 'NR == 1 { print $2 }')
	[ "$p" = yes ] && echo "- cprofd left a breakpoint on pthread_mutex_lock (it was to trace system calls only)."
	[ -n "$NO_ATTACHED_METRIC" ] && echo "- This cprofd has no cprofd_lock_attached in /metrics: its runs started once /metrics answered."
	if ran cprofd || ran contended-cprofd; then
		echo "- cprofd, $CPROFD_SRC as built at $CPROFD_WHEN ($(git log -1 --format=%h 2>/dev/null)$([ -n "$(git status --porcelain -- daemon bpf include 2>/dev/null)" ] && echo ' with uncommitted changes'))."
	fi
	for c in "${CONFIGS[@]}"; do
		[ -n "${FAILED[$c]:-}" ] && echo "- $c: ${FAILED[$c]}"
	done
	echo "<!-- bench:lock end -->"
} >"$section"
echo
cat "$section"
write_doc "$section" lock
