#!/usr/bin/env bash
# The offcpu and wall views end to end, against threads that wait in known
# ways and measure their own waits (tests/workloads/waits.c): the truth.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
need_root "offcpu view"

start_daemon

# truth KEY: what the workload printed for KEY
truth() { awk -v k="$1" '$1 == k { print $2 }' "$TMP/waits.out"; }
# sum FILE TYPE FILTER...: nanoseconds (or events) in seconds (or as is)
secs() { q "$@" | awk '{ printf "%.3f\n", $1 / 1e9 }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) print "nan"; else printf "%.1f\n", 100 * a / b }'; }

# 1. Known waits, while nothing else asks for the scheduler programs.
check "sched: the scheduler programs run only while a window needs them" \
	grep -q '^cprofd_sched_attached 0' <(curl -sf "$URL/metrics") "attached before any window"
start_workload "$TMP/waits.out" "$B/workloads/waits" offcpu 700
curl -sf -o "$TMP/off.pb.gz" "$URL/debug/pprof/offcpu?seconds=4&pid=$WPID"
wait "$WPID"
F=$TMP/off.pb.gz

s=$(secs "$F" sum offcpu thread=sleeper); t=$(awk -v n="$(truth sleeper_ns)" 'BEGIN { printf "%.3f", n / 1e9 }')
check "offcpu: the sleeper's 10 x 100 ms ($s s) within 10% of 1 s" near "$s" 1 0.1 "profile says $s s"
check "offcpu: the sleeper's time ($s s) within 5% of what it measured ($t s)" \
	near "$s" "$t" "$(awk -v t="$t" 'BEGIN { print t * 0.05 }')" "profile $s s, thread $t s"
n=$(q "$F" sum events thread=sleeper state=sleeping)
check "offcpu: the sleeper's ten sleeps are ten events ($n)" test "$n" = 10 "$n events"
a=$(secs "$F" sum offcpu thread=sleeper state=sleeping func=sleep_in_nanosleep)
b=$(secs "$F" sum offcpu thread=sleeper syscall=clock_nanosleep)
c=$(secs "$F" sum offcpu thread=sleeper syscall=nanosleep)
check "offcpu: the sleeps are state sleeping, under sleep_in_nanosleep ($a of $s s)" near "$a" "$s" 0.01 "$a s"
check "offcpu: the sleeps are in clock_nanosleep or nanosleep ($b + $c of $s s)" \
	near "$(awk -v b="$b" -v c="$c" 'BEGIN { print b + c }')" "$s" 0.001 "clock_nanosleep $b s, nanosleep $c s"

# one_waits PREFIX FILE: the pipe reader's and the condition variable's
# single waits (200 and 300 ms), each where and as long as it measured
one_waits() {
	local s t
	s=$(secs "$2" sum offcpu thread=piper func=wait_in_read syscall=read state=sleeping)
	t=$(awk -v n="$(truth piper_ns)" 'BEGIN { printf "%.3f", n / 1e9 }')
	check "$1: the pipe reader waits in read under wait_in_read ($s s; it measured $t s, written after 200 ms)" \
		near "$s" "$t" "$(awk -v t="$t" 'BEGIN { print t * 0.1 }')" "profile $s s"
	s=$(secs "$2" sum offcpu thread=condvar func=wait_on_condvar syscall=futex state=sleeping)
	t=$(awk -v n="$(truth condvar_ns)" 'BEGIN { printf "%.3f", n / 1e9 }')
	check "$1: the condition variable's waiter waits in futex under wait_on_condvar ($s s; it measured $t s)" \
		near "$s" "$t" "$(awk -v t="$t" 'BEGIN { print t * 0.1 }')" "profile $s s"
}
one_waits offcpu "$F"

s=$(secs "$F" sum offcpu thread=victim state=preempted)
all=$(secs "$F" sum offcpu thread=victim)
t=$(awk -v n="$(truth victim_run_delay_ns)" 'BEGIN { printf "%.3f", n / 1e9 }')
check "offcpu: the thread kept off CPU 0 by two busy ones is preempted ($s of $all s, 95% at least)" \
	ge "$(pct "$s" "$all")" 95 "$s of $all s"
check "offcpu: its preempted time ($s s) within 15% of the kernel's run_delay ($t s)" \
	near "$s" "$t" "$(awk -v t="$t" 'BEGIN { print t * 0.15 }')" "profile $s s"
r=$(q "$F" sum offcpu thread=victim func=victim_work)
check "offcpu: its stacks hold victim_work, where it was preempted ($(pct "$r" "$(q "$F" sum offcpu thread=victim)")%)" \
	ge "$(pct "$r" "$(q "$F" sum offcpu thread=victim)")" 95 "victim_work in too few"

w=$(secs "$F" sum offcpu thread=compute state=sleeping)
u=$(secs "$F" sum offcpu thread=compute state=uninterruptible)
p=$(secs "$F" sum offcpu thread=compute)
check "offcpu: the thread that only computes never waits (sleeping $w s, uninterruptible $u s)" \
	test "$w $u" = "0.000 0.000" "it shows waits"
check "offcpu: ...and is off CPU at most 5% of its second (preempted $p s)" ge 0.05 "$p" "$p s"
check "offcpu: every sample has pid, tid, comm and thread labels" \
	test "$(q "$F" labels)" = 0 "some samples lack labels"
check "offcpu: only the workload's process (pid=)" test "$(q "$F" pids | sort -u)" = "$WPID" \
	"pids: $(q "$F" pids | sort -u | tr '\n' ' ')"
pprof_reads "offcpu: go tool pprof reads the profile without warnings" "$F"
check "sched: detached once the window closed" \
	grep -q '^cprofd_sched_attached 0' <(curl -sf "$URL/metrics") "still attached"

check "offcpu: user stacks read as threads go back to user code (rseq_update), said at start" \
	grep -q "user stacks read as threads go back to user code (rseq_update" "$TMP/cprofd.log" \
	"$(grep -o 'user stacks read [^)]*' "$TMP/cprofd.log")"
lost=$(curl -sf "$URL/metrics" | awk '$1 == "cprofd_bpf_events_total{source=\"sched\",event=\"offcpu_user_stack_lost\"}" { print $2 }')
check "offcpu: hardly a user stack lost (${lost:-0})" ge 3 "${lost:-0}" "${lost:-0} lost"

# pingpong_checks PREFIX FILE [PCT]: each side's time off CPU within PCT%
# (default 10) of its own (elapsed less CPU), its waits as many as its
# context switches, and its sleeps (in read) under pingpong_wait;
# preempted in write (the other side woke) it is under pingpong itself
pingpong_checks() {
	local side s t e n r pct=${3:-10}
	for side in ping pong; do
		s=$(secs "$2" sum offcpu thread=$side)
		t=$(awk -v n="$(truth ${side}_off_ns)" 'BEGIN { printf "%.3f", n / 1e9 }')
		check "$1: $side's time off CPU ($s s) within $pct% of its own (elapsed less CPU: $t s)" \
			near "$s" "$t" "$(awk -v t="$t" -v p="$pct" 'BEGIN { print t * p / 100 + 0.005 }')" "profile $s s"
		e=$(q "$2" sum events thread=$side)
		n=$(awk -v k="${side}_switches" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' "$TMP/waits.out")
		check "$1: $side's waits ($e events) within $pct% of its context switches ($n)" \
			near "$e" "$n" "$(awk -v n="$n" -v p="$pct" 'BEGIN { print n * p / 100 }')" "profile $e, rusage $n"
		r=$(pct "$(q "$2" sum offcpu thread=$side state=sleeping func=pingpong_wait)" \
			"$(q "$2" sum offcpu thread=$side state=sleeping)")
		check "$1: $side's sleeps are under pingpong_wait ($r%)" ge "$r" 90 "$r%"
	done
}

# 1b. Threads not registered with rseq (Go, musl, glibc before 2.35, or
#     told not to): they go back to user code unseen, so their stacks are
#     read as they leave, drawn with the probability their last wait
#     predicts and weighted by its inverse. The same truths hold.
start_workload "$TMP/waits.out" env GLIBC_TUNABLES=glibc.pthread.rseq=0 "$B/workloads/waits" offcpu 700
curl -sf -o "$TMP/norseq.pb.gz" "$URL/debug/pprof/offcpu?seconds=4&pid=$WPID"
wait "$WPID"
F=$TMP/norseq.pb.gz
check "no rseq: the workload's threads are not registered" \
	test "$(awk '$1 == "rseq_registered" { print $2 }' "$TMP/waits.out")" = 0 "$(grep rseq "$TMP/waits.out")"
s=$(secs "$F" sum offcpu thread=sleeper func=sleep_in_nanosleep)
check "no rseq: the sleeper's 10 x 100 ms ($s s) under sleep_in_nanosleep" near "$s" 1 0.1 "$s s"
l=$(secs "$F" sum offcpu thread=sleeper leaf=__schedule)
check "no rseq: its kernel stacks, read as it left, start at __schedule, not in the tracepoint's machinery ($l of $s s)" \
	test "$l" = "$s" "$l of $s s; leaves: $(q "$F" top | head -n 3 | tr '\n' ' ')"
one_waits "no rseq" "$F"
start_workload "$TMP/waits.out" env GLIBC_TUNABLES=glibc.pthread.rseq=0 "$B/workloads/waits" pingpong 500
curl -sf -o "$TMP/norseq-pp.pb.gz" "$URL/debug/pprof/offcpu?seconds=3&pid=$WPID"
wait "$WPID"
pingpong_checks "no rseq" "$TMP/norseq-pp.pb.gz"
drawn=$(curl -sf "$URL/metrics" | awk '$1 == "cprofd_bpf_events_total{source=\"sched\",event=\"offcpu_eager_drawn\"}" { print $2 }')
check "no rseq: past the budget of readings as they leave, most were drawn (${drawn:-0})" \
	ge "${drawn:-0}" 10000 "${drawn:-0} drawn"

# 2. Wall: CPU samples and off-CPU time together, per thread.
start_workload "$TMP/waits.out" "$B/workloads/waits" wall 500
curl -sf -o "$TMP/wall.pb.gz" "$URL/debug/pprof/wall?seconds=6&pid=$WPID"
wait "$WPID"
F=$TMP/wall.pb.gz
# computing: running, or preempted by others meanwhile
all=$(q "$F" sum wall thread=walker)
share=$(pct "$((all - $(q "$F" sum wall thread=walker state=sleeping)))" "$all")
check "wall: the thread that computes 1 s and sleeps 1 s computes $share% of its time (50 +- 10)" \
	near "$share" 50 10 "$share%"
s=$(secs "$F" sum wall thread=walker state=sleeping func=walker_sleep)
check "wall: its second asleep is under walker_sleep ($s s)" near "$s" 1 0.1 "$s s"
s=$(secs "$F" sum wall thread=cycler)
check "wall: a thread that lives 4 s adds up to 4 s ($s s, +- 10%)" near "$s" 4 0.4 "$s s"
all=$(q "$F" sum wall thread=cycler)
share=$(pct "$((all - $(q "$F" sum wall thread=cycler state=sleeping)))" "$all")
check "wall: it computes 20 ms of every 50 ($share%, 40 +- 10)" near "$share" 40 10 "$share%"
pprof_reads "wall: go tool pprof reads the profile without warnings" "$F"

# 3. Waits of a few microseconds, by the hundred thousand: sampled below
#    the rate, each drawn one standing for rate / length events. Past
#    --offcpu-reads (50 a second) a CPU raises its rate above --offcpu-rate
#    (50 us): the totals stay unbiased, as precise as some hundred draws.
#    (4b checks them at 10% with no bound.)
start_workload "$TMP/waits.out" "$B/workloads/waits" pingpong 500
curl -sf -o "$TMP/pp.pb.gz" "$URL/debug/pprof/offcpu?seconds=3&pid=$WPID"
wait "$WPID"
pingpong_checks bounded "$TMP/pp.pb.gz" 25
rate=$(curl -sf "$URL/metrics" | awk '$1 == "cprofd_offcpu_rate_seconds" { print $2 * 1e6 }')
check "bounded: to read about 50 waits a second, a CPU raised its rate from 50 us (to ${rate:-?} us)" \
	ge "${rate:-0}" 200 "${rate:-?} us"

# 4. The command line.
"$B/cprof-ctl" --url "$URL" collect offcpu 1s -o "$TMP/ctl.pb.gz" >"$TMP/ctl.out" 2>&1
check "cprof-ctl collect offcpu writes a profile" test -s "$TMP/ctl.pb.gz" "$(tail -n 2 "$TMP/ctl.out")"
check "cprof-ctl collect offcpu: its type is offcpu" grep -q "offcpu" "$TMP/ctl.out" "$(head -n 3 "$TMP/ctl.out")"
"$B/cprof-ctl" --url "$URL" collect wall 1s -o "$TMP/ctlw.pb.gz" >"$TMP/ctlw.out" 2>&1
check "cprof-ctl collect wall writes a profile" test -s "$TMP/ctlw.pb.gz" "$(tail -n 2 "$TMP/ctlw.out")"
"$B/cprof-ctl" --url "$URL" status >"$TMP/status.out" 2>&1
check "cprof-ctl status lists the running views" grep -q "views running: cpu, heap, allocs, offcpu, wall" "$TMP/status.out" \
	"$(grep views "$TMP/status.out")"
check "cprof-ctl status shows the offcpu counters" grep -q "offcpu_recorded" "$TMP/status.out" "not shown"
stop_daemon

# 4b. --offcpu-reads 0: no bound on the reads; the ping-pong's waits are
#     drawn at --offcpu-rate alone, and the totals are within 10%.
start_daemon --offcpu-reads 0
start_workload "$TMP/waits.out" "$B/workloads/waits" pingpong 500
curl -sf -o "$TMP/pp0.pb.gz" "$URL/debug/pprof/offcpu?seconds=3&pid=$WPID"
wait "$WPID"
pingpong_checks sampled "$TMP/pp0.pb.gz"
m=$(curl -sf "$URL/metrics")
out=$(awk '$1 == "cprofd_bpf_events_total{source=\"sched\",event=\"offcpu_sampled_out\"}" { print $2 }' <<<"$m")
check "sampled: most short waits were not drawn ($out)" ge "${out:-0}" 100000 "$out"
rate=$(awk '$1 == "cprofd_offcpu_rate_seconds" { print $2 * 1e6 }' <<<"$m")
check "sampled: the rate stays at --offcpu-rate (${rate:-?} us)" test "${rate:-?}" = 50 "${rate:-?} us"
stop_daemon

# 5. --offcpu-min: shorter intervals are counted, not recorded.
start_daemon --offcpu-min 150000
start_workload "$TMP/waits.out" "$B/workloads/waits" offcpu 500
curl -sf -o "$TMP/min.pb.gz" "$URL/debug/pprof/offcpu?seconds=3&pid=$WPID"
wait "$WPID"
s=$(q "$TMP/min.pb.gz" sum events thread=sleeper)
c=$(secs "$TMP/min.pb.gz" sum offcpu thread=condvar)
short=$(curl -sf "$URL/metrics" | awk '$1 == "cprofd_bpf_events_total{source=\"sched\",event=\"offcpu_short\"}" { print $2 }')
check "--offcpu-min 150000: the 100 ms sleeps are not recorded ($s events)" test "$s" = 0 "$s events"
check "--offcpu-min 150000: they are counted ($short short intervals)" ge "${short:-0}" 10 "$short"
check "--offcpu-min 150000: the 300 ms wait is recorded ($c s)" near "$c" 0.3 0.05 "$c s"
stop_daemon

# sleeper_and_piper NAME: the known waits under the daemon running, in a
# profile of their own; the sleeper's and the pipe reader's checked
sleeper_and_piper() {
	local f=$TMP/$1.pb.gz s t
	start_workload "$TMP/waits.out" "$B/workloads/waits" offcpu 700
	curl -sf -o "$f" "$URL/debug/pprof/offcpu?seconds=4&pid=$WPID"
	wait "$WPID"
	s=$(secs "$f" sum offcpu thread=sleeper func=sleep_in_nanosleep)
	check "$1: the sleeper's 10 x 100 ms ($s s) under sleep_in_nanosleep" near "$s" 1 0.1 "$s s"
	s=$(secs "$f" sum offcpu thread=piper func=wait_in_read syscall=read)
	t=$(awk -v n="$(truth piper_ns)" 'BEGIN { printf "%.3f", n / 1e9 }')
	check "$1: the pipe reader's wait in read ($s s; it measured $t s)" \
		near "$s" "$t" "$(awk -v t="$t" 'BEGIN { print t * 0.1 }')" "profile $s s"
}

# 6. The raw_tp flavour, for kernels without the tracepoints' BTF: the same
#    waits, without kernel stacks (bpf_get_task_stack needs a BTF pointer).
CPROF_TEST_SCHED_RAW_TP=1 start_daemon
check "raw_tp: said at start" grep -q "scheduler programs (raw_tp" "$TMP/cprofd.log" "$(grep -i sched "$TMP/cprofd.log")"
sleeper_and_piper raw_tp
stop_daemon

# 6b. Kernels without rseq_update: user stacks read at system calls' exits.
CPROF_TEST_OFFCPU_SYS_EXIT=1 start_daemon
check "sys_exit: said at start" grep -q "user stacks read at system calls' exits" "$TMP/cprofd.log" \
	"$(grep -o 'user stacks read [^)]*' "$TMP/cprofd.log")"
sleeper_and_piper sys_exit
stop_daemon

# 7. --views cpu: the others are off, and say so.
start_daemon --views cpu
code=$(curl -s -o "$TMP/off.txt" -w '%{http_code}' "$URL/debug/pprof/offcpu?seconds=1")
check "--views cpu: offcpu answers 404" test "$code" = 404 "HTTP $code"
check "--views cpu: ...saying the view is off" grep -q "the offcpu view is off" "$TMP/off.txt" "$(cat "$TMP/off.txt")"
check "--views cpu: /metrics says offcpu is not running" \
	grep -q '^cprofd_view_running{view="offcpu"} 0' <(curl -sf "$URL/metrics") "not so"
check "--views cpu: no scheduler program is loaded" \
	test -z "$(curl -sf "$URL/metrics" | grep 'program="offcpu_switch"')" "offcpu_switch is loaded"
curl -sf -o "$TMP/cpu.pb.gz" "$URL/debug/pprof/profile?seconds=1"
check "--views cpu: the cpu view still serves" test -s "$TMP/cpu.pb.gz" "empty"
stop_daemon
