#!/usr/bin/env bash
# The block and mutex views end to end, against threads that wait for locks
# in known ways and measure their own waits (tests/workloads/locks.c, and
# locks.cc for C++'s std::mutex and std::shared_mutex): the truth.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
need_root "block and mutex views"

# truth OUT KEY: the value the workload printed after KEY (first match)
truth() { awk -v k="$2" '$1 == k { print $2; exit }' "$1"; }
# path OUT NAME FIELD: a path line's field ("hold_long calls N waited_ns N")
path() { awk -v f="$2" -v k="$3" '$1 == f { for (i = 2; i < NF; i++) if ($i == k) print $(i + 1) }' "$1"; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b ? 100 * a / b : 0 }'; }
# within A B PCT: A is within PCT% of B
within() { awk -v a="$1" -v b="$2" -v p="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0 && 100 * d <= p * b) }'; }
hexdec() { printf '%d' "$1"; }

# wait_attached: until the futex programs run and the target's unwind
# tables, built as they attach, are in: a wait walked without them loses
# the callers of glibc's frameless functions
wait_attached() {
	local n
	for _ in $(seq 100); do
		if [ "$(metric cprofd_lock_attached)" = 1 ]; then
			n=$(metric cprofd_unwind_processes)
			[ "${n:-0}" -ge 1 ] && return 0
		fi
		sleep 0.1
	done
	return 1
}

# run_locks OUT BINARY MODE ARG: start it, wait until it is ready; pid in WPID
run_locks() {
	start_workload "$1" "$2" "$3" "$4"
	wait_for "$1" '^ready' || { echo "FAIL: $2 $3 did not start: $(head -c 200 "$1")"; exit 1; }
}

# go_signal OUT: start the work, wait for its end, and for one drain
go_signal() {
	kill -USR1 "$WPID"
	wait_for "$1" '^done' || echo "FAIL: $(basename "$1") did not finish: $(tail -c 200 "$1")"
	sleep 1.2
}

# fetch VIEW FILE [QUERY]
fetch() { curl -sf -o "$2" "$URL/debug/pprof/$1${3:+?$3}"; }

# the totals of one case: block and mutex, against the threads' own waits
totals() {
	local name=$1 out=$2 blk=$3 mtx=$4 want got
	want=$(truth "$out" waited_ns)
	got=$(q "$blk" sum delay)
	check "$name: block's delay is what the threads waited, within 10% ($got ns, threads $want ns)" \
		within "$got" "$want" 10 "block $got ns, threads $want ns"
	got=$(q "$mtx" sum delay)
	check "$name: mutex's delay is the same total, within 10% ($got ns, threads $want ns)" \
		within "$got" "$want" 10 "mutex $got ns, threads $want ns"
}

# 1. A mutex held 1 ms by one path, 10 us by another, four threads,
#    tracked from the start (--pid).
run_locks "$TMP/mutex.out" "$B/workloads/locks" mutex 500
start_daemon --pid "$WPID"
check "mutex: the futex programs are attached for the --pid target" wait_attached \
	"cprofd_lock_attached $(metric cprofd_lock_attached)"
go_signal "$TMP/mutex.out"
fetch block "$TMP/block1.pb.gz"
fetch mutex "$TMP/mutex1.pb.gz"
fetch mutex "$TMP/mutex1.txt" debug=1
fetch block "$TMP/block1.txt" debug=1
totals "mutex" "$TMP/mutex.out" "$TMP/block1.pb.gz" "$TMP/mutex1.pb.gz"
all=$(q "$TMP/mutex1.pb.gz" sum delay)
long=$(q "$TMP/mutex1.pb.gz" sum delay func=hold_long)
check "mutex: the 1 ms path is blamed for nearly all the delay ($(pct "$long" "$all")%, at least 80%)" \
	ge "$(pct "$long" "$all")" 80 "hold_long $long of $all ns"
short=$(q "$TMP/mutex1.pb.gz" sum delay func=hold_short)
check "mutex: the blame lies on the releasers' paths (hold_long + hold_short $(pct $((long + short)) "$all")%)" \
	ge "$(pct $((long + short)) "$all")" 95 "$long + $short of $all ns"
check "mutex: the releases are pthread_mutex_unlock's" \
	ge "$(pct "$(q "$TMP/mutex1.pb.gz" sum delay func=__pthread_mutex_unlock_usercnt)" "$all")" 90 \
	"$(q "$TMP/mutex1.pb.gz" top 5 | tr '\n' ';')"
ball=$(q "$TMP/block1.pb.gz" sum delay)
bw=$(( $(q "$TMP/block1.pb.gz" sum delay func=hold_long) + $(q "$TMP/block1.pb.gz" sum delay func=hold_short) ))
check "block: the waits are on the waiters' stacks, in pthread_mutex_lock ($(pct "$bw" "$ball")% under hold_long or hold_short)" \
	ge "$(pct "$bw" "$ball")" 95 "$bw of $ball ns"
check "block: pthread_mutex_lock is in the waiters' stacks" \
	ge "$(pct "$(q "$TMP/block1.pb.gz" sum delay func=pthread_mutex_lock)" "$ball")" 90 \
	"$(q "$TMP/block1.pb.gz" top 5 | tr '\n' ';')"
addr=$(hexdec "$(truth "$TMP/mutex.out" lock_addr)")
for v in block1 mutex1; do
	got=$(q "$TMP/$v.pb.gz" sum delay lock="$addr")
	tot=$(q "$TMP/$v.pb.gz" sum delay)
	check "$v: the lock label is the mutex's address ($(pct "$got" "$tot")% of the delay)" \
		test "$got" = "$tot" "$got of $tot ns with lock=$addr; $(q "$TMP/$v.pb.gz" label lock | head -3 | tr '\n' ' ')"
done
calls=$(q "$TMP/block1.pb.gz" sum contentions)
cont=$(( $(path "$TMP/mutex.out" hold_long contended) + $(path "$TMP/mutex.out" hold_short contended) ))
check "block: contentions count the waits, at least one per contended lock call ($calls, $cont calls contended)" \
	test "$calls" -ge "$((cont * 9 / 10))" "$calls contentions, $cont contended calls"
pprof_reads "mutex: go tool pprof reads the block profile without warnings" "$TMP/block1.pb.gz"
pprof_reads "mutex: go tool pprof reads the mutex profile without warnings" "$TMP/mutex1.pb.gz"
check "mutex: debug=1 is Go's contention text" grep -q '^--- contention:' "$TMP/mutex1.txt" \
	"$(head -c 200 "$TMP/mutex1.txt")"
check "mutex: its records name the 1 ms path" grep -q 'hold_long' "$TMP/mutex1.txt" "$(head -c 300 "$TMP/mutex1.txt")"
check "block: debug=1 has a record per stack, delay then count" \
	grep -qE '^[0-9]+ [0-9]+ @ 0x' "$TMP/block1.txt" "$(sed -n 1,4p "$TMP/block1.txt")"
# cumulative: nothing happened since, so a delta of 2 s is empty
fetch mutex "$TMP/delta.pb.gz" seconds=2
check "mutex: seconds=2 after the work is an empty delta" test "$(q "$TMP/delta.pb.gz" sum delay)" = 0 \
	"delay $(q "$TMP/delta.pb.gz" sum delay)"
kill "$WPID"; wait "$WPID" 2>/dev/null
# what was tracked outlives the target: its totals are still served
code=$(curl -s -o "$TMP/after.pb.gz" -w '%{http_code}' "$URL/debug/pprof/mutex")
check "mutex: after the target exits, its totals are still served (HTTP $code)" \
	test "$code" = 200 -a "$(q "$TMP/after.pb.gz" sum delay)" = "$(q "$TMP/mutex1.pb.gz" sum delay)" \
	"HTTP $code, delay $(q "$TMP/after.pb.gz" sum delay 2>/dev/null) against $(q "$TMP/mutex1.pb.gz" sum delay)"
stop_daemon

# 2. A condition variable: a thread waits 300 ms for a signal; another
#    sleeps 100 ms (not a synchronization wait).
run_locks "$TMP/cond.out" "$B/workloads/locks" cond 300
start_daemon --pid "$WPID"
wait_attached
go_signal "$TMP/cond.out"
fetch block "$TMP/block2.pb.gz"
fetch mutex "$TMP/mutex2.pb.gz"
want=$(truth "$TMP/cond.out" cond_waited_ns)
got=$(q "$TMP/block2.pb.gz" sum delay func=cond_waiter)
check "cond: the waiter is in block with its 300 ms, within 10% ($got ns, measured $want ns)" \
	within "$got" "$want" 10 "block $got ns, measured $want ns"
check "cond: pthread_cond_wait is in its stack" \
	test "$(q "$TMP/block2.pb.gz" sum delay func=pthread_cond_wait)" = "$got" "$(q "$TMP/block2.pb.gz" top 5 | tr '\n' ';')"
check "cond: a thread that sleeps 100 ms is not in block" \
	test "$(q "$TMP/block2.pb.gz" sum delay func=plain_sleeper)" = 0 "plain_sleeper $(q "$TMP/block2.pb.gz" sum delay func=plain_sleeper) ns"
check "cond: a signal is not a lock's release: not in mutex" \
	test "$(q "$TMP/mutex2.pb.gz" sum delay func=cond_signaller)" = 0 "$(q "$TMP/mutex2.pb.gz" top 5 | tr '\n' ';')"
check "cond: the wake left out of mutex is counted" ge "$(metric cprofd_mutex_wakes_left_out_total)" 1 \
	"cprofd_mutex_wakes_left_out_total $(metric cprofd_mutex_wakes_left_out_total)"
pprof_reads "cond: go tool pprof reads the block profile without warnings" "$TMP/block2.pb.gz"
kill "$WPID"; wait "$WPID" 2>/dev/null
stop_daemon

# 3. An rwlock: a writer holds it 1 ms, readers wait for it.
run_locks "$TMP/rw.out" "$B/workloads/locks" rwlock 500
start_daemon --pid "$WPID"
wait_attached
go_signal "$TMP/rw.out"
fetch block "$TMP/block3.pb.gz"
fetch mutex "$TMP/mutex3.pb.gz"
totals "rwlock" "$TMP/rw.out" "$TMP/block3.pb.gz" "$TMP/mutex3.pb.gz"
all=$(q "$TMP/mutex3.pb.gz" sum delay)
w=$(q "$TMP/mutex3.pb.gz" sum delay func=rw_writer)
check "rwlock: the writer's releases are blamed ($(pct "$w" "$all")%, at least 80%)" \
	ge "$(pct "$w" "$all")" 80 "rw_writer $w of $all ns"
check "rwlock: the readers wait in pthread_rwlock_rdlock" \
	ge "$(pct "$(q "$TMP/block3.pb.gz" sum delay func=pthread_rwlock_rdlock)" "$(q "$TMP/block3.pb.gz" sum delay)")" 80 \
	"$(q "$TMP/block3.pb.gz" top 5 | tr '\n' ';')"
kill "$WPID"; wait "$WPID" 2>/dev/null
stop_daemon

# 4. C++: std::mutex and std::shared_mutex go through pthread's.
for mode in mutex shared; do
	case $mode in
	mutex) long='Worker::cxx_hold_long()' ;;
	shared) long='Worker::cxx_shared_writer()' ;;
	esac
	run_locks "$TMP/cxx-$mode.out" "$B/workloads/locks-cxx" "$mode" 400
	start_daemon --pid "$WPID"
	wait_attached
	go_signal "$TMP/cxx-$mode.out"
	fetch block "$TMP/block4.pb.gz"
	fetch mutex "$TMP/mutex4.pb.gz"
	totals "c++ $mode" "$TMP/cxx-$mode.out" "$TMP/block4.pb.gz" "$TMP/mutex4.pb.gz"
	all=$(q "$TMP/mutex4.pb.gz" sum delay)
	got=$(q "$TMP/mutex4.pb.gz" sum delay func="$long")
	check "c++ $mode: the 1 ms path ($long) is blamed ($(pct "$got" "$all")%, at least 80%)" \
		ge "$(pct "$got" "$all")" 80 "$got of $all ns; $(q "$TMP/mutex4.pb.gz" top 6 | tr '\n' ';')"
	pprof_reads "c++ $mode: go tool pprof reads the mutex profile without warnings" "$TMP/mutex4.pb.gz"
	kill "$WPID"; wait "$WPID" 2>/dev/null
	stop_daemon
done

# 5. Locks never contended: nothing in either view.
run_locks "$TMP/unc.out" "$B/workloads/locks" uncontended 2000000
start_daemon --pid "$WPID"
wait_attached
go_signal "$TMP/unc.out"
fetch block "$TMP/block5.pb.gz"
fetch mutex "$TMP/mutex5.pb.gz"
for v in block5 mutex5; do
	check "uncontended: the ${v%5} profile is empty" test "$(q "$TMP/$v.pb.gz" sum contentions)" = 0 \
		"$(q "$TMP/$v.pb.gz" top 5 | tr '\n' ';')"
done
pprof_reads "uncontended: go tool pprof reads the empty block profile without warnings" "$TMP/block5.pb.gz"
kill "$WPID"; wait "$WPID" 2>/dev/null
stop_daemon

# 6. Targets by name without tracking: totals need --continuous, a window
#    works; with --continuous block,mutex, totals work; the raw_tp flavour.
start_daemon --comm locks
code=$(curl -s -o "$TMP/400.txt" -w '%{http_code}' "$URL/debug/pprof/block")
check "untracked: block without seconds is a 400 that says how" \
	grep -q -- "--continuous block" "$TMP/400.txt" "HTTP $code: $(head -c 200 "$TMP/400.txt")"
run_locks "$TMP/win.out" "$B/workloads/locks" mutex 300
curl -sf -o "$TMP/win.pb.gz" "$URL/debug/pprof/mutex?seconds=4" &
cpid=$!
wait_attached
go_signal "$TMP/win.out"
wait "$cpid"
totals "untracked, seconds=4" "$TMP/win.out" "$TMP/win.pb.gz" "$TMP/win.pb.gz"
kill "$WPID"; wait "$WPID" 2>/dev/null
stop_daemon

export CPROF_TEST_SCHED_RAW_TP=1
run_locks "$TMP/raw.out" "$B/workloads/locks" mutex 300
start_daemon --comm locks --continuous block,mutex --store "$TMP/store"
wait_attached
check "raw_tp: the futex programs load as raw_tp" grep -q "raw_tp sched_switch and sched_waking" "$TMP/cprofd.log" \
	"$(grep -i futex "$TMP/cprofd.log" | head -2)"
go_signal "$TMP/raw.out"
fetch block "$TMP/block6.pb.gz"
fetch mutex "$TMP/mutex6.pb.gz"
totals "--continuous, raw_tp" "$TMP/raw.out" "$TMP/block6.pb.gz" "$TMP/mutex6.pb.gz"
"$B/cprof-ctl" --url "$URL" collect block 1s -o "$TMP/ctl.pb.gz" >"$TMP/ctl.txt" 2>&1
check "cprof-ctl collect block 1s writes a profile" test -s "$TMP/ctl.pb.gz" "$(tail -n 2 "$TMP/ctl.txt")"
pprof_reads "cprof-ctl's block profile reads without warnings" "$TMP/ctl.pb.gz"
kill "$WPID"; wait "$WPID" 2>/dev/null
unset CPROF_TEST_SCHED_RAW_TP
stop_daemon
