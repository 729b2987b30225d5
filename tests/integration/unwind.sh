#!/usr/bin/env bash
# The .eh_frame unwinder end to end: programs built without frame pointers,
# and Debian's python3 and redis-server as they ship, checked against the
# workloads' own CPU clocks and against perf record --call-graph dwarf.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
need_root "unwinder"

# ev NAME [FILE]: a BPF counter, from FILE (one /metrics fetch) or a new fetch
ev() {
	local k="cprofd_bpf_events_total{source=\"core\",event=\"$1\"}"
	if [ -n "${2:-}" ]; then awk -v k="$k" '$1 == k { print $2 }' "$2"
	else curl -sf "$URL/metrics" | awk -v k="$k" '$1 == k { print $2 }'; fi
}

# outermost NAME: the share of walks that reached the outermost frame
outermost() {
	curl -sf "$URL/metrics" >"$TMP/m"
	local walks done_ pct
	walks=$(ev unwind_walks "$TMP/m"); done_=$(ev unwind_end_outermost "$TMP/m")
	pct=$(awk -v d="$done_" -v w="$walks" 'BEGIN { printf "%.1f", w ? 100 * d / w : 0 }')
	check "$1: $pct% of walks reach the outermost frame ($done_ of $walks)" ge "$pct" 95 \
		"only $pct%; $(grep unwind_ "$TMP/m" | grep -v '^#' | tr '\n' ' ')"
}

# Both profilers sample the same process over the same window at 499 Hz.
# Two independent samplings of a share p differ by
# sigma = sqrt(p(1-p)(1/n1 + 1/n2)) (n1, n2: each one's samples of the
# process): at 6 s (about 1,400 samples each) and p = 0.6, 1.9 points, so a
# fixed 5-point bound failed one CI run in many on redis (63.1 vs 57.9 on
# three nested functions at once). The bound is 5 points or 4 sigma,
# whichever is larger; redis is sampled 12 s so that 4 sigma stays near 5.
HZ=499
SECS=6

# Compare user-space functions with perf's, for the functions perf names
# among its top by children (cumulative) share: cum and self shares within
# TOLERANCE points, for the functions both name. perf's --no-inline is matched
# by counting each of cprofd's locations as its outermost function.
# User space is what the unwinder walks; kernel leaves are
# left out because perf -p samples with a per-task clock, which restarts in
# the scheduler and lands samples there, while cprofd samples per CPU.
# So perf samples per CPU too (-a), and its shares are taken relative to
# the process's own samples: perf's absolute shares over the process's.
# TOLERANCE "report" prints the differences without judging them.
# NAME COMM OURS PERFDATA TOLERANCE
# NOURS and NPERF (globals, optional): each profiler's samples of the
# process, which widen the bound to 4 sigma of the two samplings' difference.
bound() {	# TOL SHARE: the bound for a share in percent
	awk -v t="$1" -v p="$2" -v a="${NOURS:-0}" -v b="${NPERF:-0}" 'BEGIN {
		if (a > 0 && b > 0) { p /= 100; s = 400 * sqrt(p * (1 - p) * (1 / a + 1 / b)); if (s > t) t = s }
		printf "%.1f", t }'
}
compare_perf() {
	local name=$1 comm=$2 ours=$3 data=$4 tol=$5 n=0 unnamed=0 bad="" pcum pself cum flat whole t
	whole=$(perf report -i "$data" ${PERF_TIME:+--time "$PERF_TIME"} --stdio --sort comm -q -g none 2>/dev/null |
		awk -v c="$comm" '$NF == c { sub("%", "", $1); print $1; exit }')
	# comm in the sort key: with --sort symbol alone perf merges a libc
	# function's entries of every process into one, and --comm then keeps
	# or drops the merged whole (redis-benchmark's write() counted as redis's);
	# with --comm, perf prints the comm as a heading, not as a column
	perf report -i "$data" ${PERF_TIME:+--time "$PERF_TIME"} --no-inline --comm "$comm" --stdio --children --sort comm,symbol -q -g none 2>/dev/null |
		awk -v w="${whole:-100}" '$3 == "[.]" && $4 !~ /^0x/ { sub("%", "", $1); sub("%", "", $2)
			printf "%.2f %.2f %s\n", 100 * $1 / w, 100 * $2 / w, $4 }' |
		awk '!seen[$3]++' | head -16 >"$TMP/perf.top"
	# perf report --no-inline: compare the functions code was compiled into
	q "$ours" top 100000 outer >"$TMP/ours.top"
	while read -r pcum pself fn; do
		# perf's unwinding from an 8 KiB stack copy sometimes stops before
		# the entry stub; whether cprofd reaches it is checked by counters
		[ "$fn" = _start ] && continue
		flat=$(awk -v f="$fn" '$3 == f { print $1; exit }' "$TMP/ours.top")
		if [ -z "$flat" ]; then
			unnamed=$((unnamed + 1))
			continue
		fi
		cum=$(awk -v f="$fn" '$3 == f { print $2; exit }' "$TMP/ours.top")
		n=$((n + 1))
		t=$(bound "${tol/report/5}" "$pcum")
		near "$cum" "$pcum" "$t" || bad+=" $fn cum $cum vs perf $pcum (bound $t);"
		t=$(bound "${tol/report/5}" "$pself")
		near "$flat" "$pself" "$t" || bad+=" $fn self $flat vs perf $pself (bound $t);"
		echo "# $name: $fn: cum $cum% (perf $pcum%), self $flat% (perf $pself%)"
	done <"$TMP/perf.top"
	echo "# $name: $unnamed of perf's top functions are not named by cprofd (inlined or debug-info only)"
	if [ "$tol" = report ]; then
		echo "# $name: beyond 5 points:${bad:- none}"
		check "$name: perf's top user-space functions are in cprofd's profile ($n found)" \
			test "$n" -ge 5 "only $n"
		return
	fi
	check "$name: user-space functions agree with perf --call-graph dwarf within $tol points or 4 sigma ($n compared)" \
		test "$n" -ge 5 -a -z "$bad" "${bad:-both named only $n functions}"
}

# 1. The known split, built with -O2 -fomit-frame-pointer.
start_daemon
start_workload "$TMP/split.out" "$B/workloads/split-nofp" 7
sleep 1		# let the daemon build the process's tables
curl -sf -o "$TMP/nofp.pb.gz" "$URL/debug/pprof/profile?seconds=5&pid=$WPID"
wait "$WPID"
read -r _ _ ta _ tb < <(grep cpu_ns "$TMP/split.out")
truth_a=$(awk -v a="$ta" -v b="$tb" 'BEGIN { printf "%.2f", 100 * a / (a + b) }')
share_a=$(q "$TMP/nofp.pb.gz" share work_a)
check "-fomit-frame-pointer: work_a's share ($share_a%) within 5 points of its CPU time ($truth_a%)" \
	near "$share_a" "$truth_a" 5 "profile says $share_a%"
reach=$(q "$TMP/nofp.pb.gz" any main thread_b clock_thread)
check "-fomit-frame-pointer: $reach% of samples reach main or the thread's start routine" \
	ge "$reach" 99 "only $reach%"
depth=$(q "$TMP/nofp.pb.gz" depth recurse)
check "-fomit-frame-pointer: the 40-deep recursion is whole" test "$depth" = 40 "recurse $depth times"
pprof_reads "-fomit-frame-pointer: go tool pprof reads it without warnings" "$TMP/nofp.pb.gz"
walks=$(ev unwind_walks)
check "counters: walks with unwind tables are counted ($walks)" test "${walks:-0}" -gt 0 "none"
stop_daemon

# The same workload by frame pointers only: the test must be able to fail.
start_daemon --frame-pointers
start_workload "$TMP/fp.out" "$B/workloads/split-nofp" 4
curl -sf -o "$TMP/fp.pb.gz" "$URL/debug/pprof/profile?seconds=3&pid=$WPID"
wait "$WPID"
fp_reach=$(q "$TMP/fp.pb.gz" depth recurse)
check "control: frame pointers alone do not recover the recursion (depth $fp_reach)" \
	test "$fp_reach" -lt 40 "frame pointers found all 40 frames: the check above proves nothing"
stop_daemon

# A library loaded with dlopen after the process started (and after its
# tables were built): its frames must unwind too, the samples taken before
# its table exists counted rather than silently truncated.
start_daemon
start_workload "$TMP/dl.out" "$B/workloads/dlopen-nofp" "$B/workloads/libburn.so" 4
# dlopen only once cprofd walks the process with its tables
for _ in $(seq 10); do
	curl -sf -o "$TMP/warm.pb.gz" "$URL/debug/pprof/profile?seconds=1&pid=$WPID"
	[ "$(q "$TMP/warm.pb.gz" reach warm_up main)" = 100.00 ] && break
done
kill -USR1 "$WPID"
for _ in $(seq 30); do grep -q loaded "$TMP/dl.out" && break; sleep 0.1; done
curl -sf -o "$TMP/dl.pb.gz" "$URL/debug/pprof/profile?seconds=3&pid=$WPID"
wait "$WPID"
reach=$(q "$TMP/dl.pb.gz" reach lib_leaf main)
check "dlopen: $reach% of the loaded library's samples reach main" ge "$reach" 95 "only $reach%"
middle=$(q "$TMP/dl.pb.gz" reach lib_leaf lib_middle)
check "dlopen: frames inside the library unwind ($middle% of lib_leaf's samples show lib_middle)" \
	ge "$middle" 95 "only $middle%"
early=$(ev unwind_fp_step_no_mapping)
check "dlopen: the frames met before its table existed are counted ($early)" test "${early:-0}" -gt 0 \
	"no frame-pointer step for an unknown mapping was counted"
stop_daemon

# A binary rebuilt in place while the daemon runs: ext4 gives the new file
# the inode the old one freed, so (dev, inode) alone would serve the old
# file's unwind table and symbols. Each version must be named and walked as
# itself.
cat >"$TMP/v1.c" <<'EOF'
volatile unsigned long sink;
__attribute__((noinline)) void version_one(void) { for (;;) sink++; }
int main(void) { version_one(); }
EOF
cat >"$TMP/v2.c" <<'EOF'
volatile unsigned long sink;
__attribute__((noinline)) void pad_a(void) { sink += 3; }
__attribute__((noinline)) void pad_b(void) { sink += 5; }
__attribute__((noinline)) void version_two(void)
{
	for (;;)
		if (++sink == 7) {
			pad_a();
			pad_b();
		}
}
int main(void) { version_two(); }
EOF
start_daemon
declare -A ino
for v in 1 2; do
	gcc -O2 -fomit-frame-pointer -o "$TMP/rebuilt" "$TMP/v$v.c"
	ino[$v]=$(stat -c %i "$TMP/rebuilt")
	start_workload "$TMP/rebuilt.out" "$TMP/rebuilt"
	for _ in $(seq 10); do	# until its table is built and walks reach main
		curl -sf -o "$TMP/rebuilt$v.pb.gz" "$URL/debug/pprof/profile?seconds=1&pid=$WPID"
		[ "$(q "$TMP/rebuilt$v.pb.gz" any main)" = 100.00 ] && break
	done
	kill "$WPID"; wait "$WPID" 2>/dev/null
done
same=different; [ "${ino[1]}" = "${ino[2]}" ] && same="the same"
echo "# rebuilt: the two versions had $same inode (${ino[1]}, ${ino[2]})"
for v in 1 2; do
	fn=version_one; [ $v = 2 ] && fn=version_two
	share=$(q "$TMP/rebuilt$v.pb.gz" share "$fn")
	reach=$(q "$TMP/rebuilt$v.pb.gz" any main)
	check "rebuilt in place: version $v is named $fn ($share%) and reaches main ($reach%)" \
		test "${share%.*}" -ge 90 -a "${reach%.*}" -ge 99 "$fn $share%, main $reach%"
done
stop_daemon

# CPU time of all of pid's threads so far, ns (schedstat: precise, not ticks).
task_cpu_ns() {
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ n += $1 } END { printf "%.0f\n", n }'
}

# against_perf NAME COMM PID TOLERANCE: cprofd --pid PID and perf -a
# --call-graph dwarf over the same window, then the checks on both.
# TOLERANCE "lossless": judge within 5 points only when both profilers sampled
# 90-110% of the process's CPU time (its schedstat); otherwise report. On
# this VM the cpu-clock timer under-samples a task that runs in short bursts
# between idle (redis under redis-benchmark): perf record -a -F 499 found
# 45% of the CPU time of a loop running 20 µs and sleeping 200 µs, 61% at
# 50/50 µs, 76% at 300/100 µs, and cprofd about the same. What is missed
# differs between the two profilers, so shares then move by more than 5
# points from run to run.
against_perf() {
	local name=$1 comm=$2 pid=$3 tol=$4 secs=${5:-$SECS} perfpid cpu0 cpu1 ours theirs
	# the cpu view alone: a --pid target is otherwise tracked by the heap
	# and futex programs too, and with both, redis's shares drift from
	# perf's by 7-8 points (readQueryFromClient up, beforeSleep down; not
	# understood yet, see the notes of issue 14); UNWIND_VIEWS=all shows it
	start_daemon --pid "$pid" --hz "$HZ" --views "${UNWIND_VIEWS:-cpu}"
	sleep 1
	# perf runs a second either side of cprofd's window, and its samples
	# are taken over that window only (their times in CLOCK_REALTIME, as
	# the profile's): a workload whose mix changes over time (redis) is
	# then compared over the same seconds, however late the window opens
	perf record -q -a -k CLOCK_REALTIME --call-graph dwarf -F "$HZ" -o "$TMP/$comm.data" \
		-- sleep "$((secs + 3))" >/dev/null 2>&1 &
	perfpid=$!
	sleep 1
	cpu0=$(task_cpu_ns "$pid")
	curl -sf -o "$TMP/$comm.pb.gz" "$URL/debug/pprof/profile?seconds=$secs"
	cpu1=$(task_cpu_ns "$pid")
	wait "$perfpid"
	PERF_TIME=$(q "$TMP/$comm.pb.gz" window | awk '{ printf "%.9f,%.9f", $1 / 1e9, ($1 + $2) / 1e9 }')
	outermost "$name"
	read -r ours _ < <(q "$TMP/$comm.pb.gz" total)
	theirs=$(perf script -i "$TMP/$comm.data" --time "$PERF_TIME" -F pid 2>/dev/null | awk -v p="$pid" '$1 == p { n++ } END { print n + 0 }')
	NOURS=$(awk -v s="$ours" -v h="$HZ" 'BEGIN { printf "%.0f", s * h / 1e9 }') NPERF=$theirs
	ours=$(awk -v s="$ours" -v c=$((cpu1 - cpu0)) 'BEGIN { printf "%.0f", (c > 0 ? 100 * s / c : 0) }')
	theirs=$(awk -v n="$theirs" -v h="$HZ" -v c=$((cpu1 - cpu0)) 'BEGIN { printf "%.0f", (c > 0 ? 100 * n * 1e9 / h / c : 0) }')
	echo "# $name: sampled CPU time against its own: cprofd $ours%, perf $theirs%"
	if [ "$tol" = lossless ]; then
		if [ "$ours" -ge 90 ] && [ "$theirs" -ge 90 ] && [ "$ours" -le 110 ] && [ "$theirs" -le 110 ]; then
			tol=5
		else
			echo "# $name: samples were lost (timer interrupts missing): shares reported, not judged"
			tol=report
		fi
	fi
	compare_perf "$name" "$comm" "$TMP/$comm.pb.gz" "$TMP/$comm.data" "$tol"
	NOURS= NPERF= PERF_TIME=
	pprof_reads "$name: go tool pprof reads it without warnings" "$TMP/$comm.pb.gz"
	stop_daemon
}

# Go: walks end where Go's own traceback ends. runtime.systemstack, mcall
# and morestack run their callee on the g0 stack; stepping out of their
# frame there reads whatever lies at the top of g0's stack (on the main
# thread, stale frames that rt0_go left: runtime.newproc, then an address in
# no function) and makes up callers. The main goroutine, locked to the main
# thread, allocates, calls runtime.GC and yields between bursts of CPU, so
# the runtime switches stacks there often. Built stripped (rows from the
# pclntab) and unstripped (with .debug_frame), the two profiles must agree:
# no frame outward of those three names nothing, and every stack that holds
# one ends at one of them or at a stack base (TOPFRAME: goexit, mstart,
# rt0_go). Before the walks ended there, a third of these stacks failed.
go_switch() {
	local name=$1 ldflags=$2 f n bad pct
	(cd "$TMP/go" && HOME=$TMP GOCACHE=$TMP/gocache GOPATH=$TMP/gopath GO111MODULE=off \
		GOFLAGS= go build -ldflags="$ldflags" -o "$name" gosys.go) >"$TMP/go-$name.log" 2>&1 ||
		{ fail "go ($name): build" "$(head -n 3 "$TMP/go-$name.log")"; return; }
	start_workload "$TMP/go-$name.out" "$TMP/go/$name" 5
	sleep 1		# its table is built once it has been sampled
	curl -sf -o "$TMP/go-$name.pb.gz" "$URL/debug/pprof/profile?seconds=3&pid=$WPID"
	wait "$WPID"
	read -r n bad pct < <(q "$TMP/go-$name.pb.gz" unnamed-above runtime.systemstack runtime.mcall runtime.morestack)
	echo "# go ($name): $n stacks hold systemstack, mcall or morestack; $bad ($pct% of their time) have an unnamed caller"
	check "go ($name): no unnamed frame above runtime.systemstack, mcall or morestack ($n stacks)" \
		test "${n:-0}" -ge 20 -a "${bad:-1}" = 0 "$bad of $n stacks, $pct% of their time"
	for f in systemstack mcall morestack; do
		read -r n bad pct < <(q "$TMP/go-$name.pb.gz" ends runtime.$f runtime.systemstack \
			runtime.mcall runtime.morestack runtime.goexit runtime.mstart runtime.rt0_go)
		echo "# go ($name): $n stacks hold runtime.$f; $bad ($pct% of their time) end elsewhere"
		check "go ($name): stacks holding runtime.$f end there or at a stack base ($n stacks)" \
			test "${bad:-1}" = 0 "$bad of $n stacks, $pct% of their time, go on past it"
	done
	pprof_reads "go ($name): go tool pprof reads it without warnings" "$TMP/go-$name.pb.gz"
}
if ! command -v go >/dev/null; then
	skip "go: walks end where Go's traceback ends" "go not installed (apt-get install golang-go)"
else
	mkdir -p "$TMP/go"
	cat >"$TMP/go/gosys.go" <<'EOF'
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

//go:noinline
func burn(n int) uint64 {
	x := uint64(1)
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

var sink uint64
var keep [][]byte

// The main thread's g0 stack is the one with stale frames at its top.
func init() { runtime.LockOSThread() }

//go:noinline
func churn() {
	for i := 0; i < 64; i++ {
		keep = append(keep, make([]byte, 16<<10))
		if len(keep) > 256 {
			keep = keep[:0]
		}
	}
}

func main() {
	secs, _ := strconv.Atoi(os.Args[1])
	fmt.Printf("pid %d\n", os.Getpid())
	end := time.Now().Add(time.Duration(secs) * time.Second)
	for n := 0; time.Now().Before(end); n++ {
		sink += burn(20000)
		churn()
		runtime.Gosched()
		if n%200 == 0 {
			runtime.GC()
		}
	}
}
EOF
	start_daemon --hz "$HZ"
	go_switch gosys-stripped "-s -w"
	go_switch gosys ""
	stop_daemon
fi

# 2. Real Debian programs, as they ship.
if ! command -v perf >/dev/null; then
	skip "python3 and redis-server against perf" "perf not installed (apt-get install linux-perf)"
	exit 0
fi
/usr/bin/python3 -c '
import time
def leaf(n):
    s = 0
    for i in range(n):
        s += i * i
    return s
def middle(n):
    return leaf(n) + leaf(n // 2)
end = time.time() + 60
while time.time() < end:
    middle(20000)
' &
PY=$!
sleep 0.5
against_perf python3 python3 "$PY" 5
kill "$PY" 2>/dev/null; wait "$PY" 2>/dev/null

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
	skip "redis-server against perf" "redis not installed (apt-get install redis-server redis-tools)"
	exit 0
fi
RPORT=16379
redis-server --port "$RPORT" --save "" --appendonly no --daemonize no >/dev/null 2>&1 &
RS=$!
for _ in $(seq 50); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-benchmark -p "$RPORT" -q -n 100000000 -c 20 -t set,get,lpush,lpop >/dev/null 2>&1 &
RB=$!
sleep 0.5
against_perf redis-server redis-server "$RS" lossless 12
kill "$RB" "$RS" 2>/dev/null; wait "$RB" "$RS" 2>/dev/null
