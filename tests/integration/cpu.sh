#!/usr/bin/env bash
# The CPU view end to end, against workloads with a known answer.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
need_root "cpu view"

start_daemon

# 1. The known split: the workload's own thread CPU clocks are the truth.
start_workload "$TMP/split.out" "$B/workloads/split" 7
sleep 0.5
steal0=$(awk '/^cpu / { print $9 }' /proc/stat)
curl -sf -o "$TMP/split.pb.gz" "$URL/debug/pprof/profile?seconds=5&pid=$WPID"
steal1=$(awk '/^cpu / { print $9 }' /proc/stat)
wait "$WPID"
read -r _ _ ta _ tb < <(grep cpu_ns "$TMP/split.out")
truth_a=$(awk -v a="$ta" -v b="$tb" 'BEGIN { printf "%.2f", 100 * a / (a + b) }')
share_a=$(q "$TMP/split.pb.gz" share work_a)
share_b=$(q "$TMP/split.pb.gz" share work_b)
check "split: work_a's share ($share_a%) within 5 points of its CPU time ($truth_a%)" \
	near "$share_a" "$truth_a" 5 "profile says $share_a%, thread clocks say $truth_a%"
check "split: work_b's share ($share_b%) within 5 points of its CPU time" \
	near "$share_b" "$(awk -v t="$truth_a" 'BEGIN { print 100 - t }')" 5 "profile says $share_b%"
# Time the hypervisor gave to others (steal, /proc/stat) counts in the
# cpu-clock that samples, but not in the threads' own clocks: a run with
# steal showed 5.8 s sampled for 3.4 s of thread CPU time. Past 2% of the
# window's CPU the totals are reported, not judged.
steal=$(awk -v a="$steal0" -v b="$steal1" -v hz="$(getconf CLK_TCK)" -v n="$(nproc)" \
	'BEGIN { printf "%.1f", 100 * (b - a) / hz / (5 * n) }')
echo "# split: the host stole $steal% of this VM's CPU during the window"
if ge "$steal" 2; then
	skip "split: the 70/30 design holds" "the host stole $steal% of the CPU (work_a $share_a%)"
else
	check "split: the 70/30 design holds (work_a $share_a%)" near "$share_a" 70 5 "work_a is $share_a%"
fi
reach=$(q "$TMP/split.pb.gz" reach work_a main)
check "split: stacks reach main from work_a ($reach%)" ge "$reach" 99 "only $reach% of work_a's samples reach main"
depth=$(q "$TMP/split.pb.gz" depth recurse)
check "split: the 40-deep recursion is whole" test "$depth" = 40 "recurse appears $depth times, not 40"
check "split: every sample has pid, tid, comm and thread labels" \
	test "$(q "$TMP/split.pb.gz" labels)" = 0 "some samples lack labels"
total=$(q "$TMP/split.pb.gz" total | awk '{ print $1 / 1e9 }')
truth_total=$(cpu_over_window "$TMP/split.out" "$TMP/split.pb.gz")
if ge "$steal" 2; then
	skip "split: CPU seconds sampled within 10% of the workload's" "the host stole $steal% of the CPU: sampled $total s, threads' clocks $truth_total s"
else
	check "split: CPU seconds sampled ($total s) within 10% of what the workload used in the window ($truth_total s)" \
		near "$total" "$truth_total" "$(awk -v t="$truth_total" 'BEGIN { print t * 0.10 }')" "sampled $total s"
fi
pprof_reads "split: go tool pprof reads the profile without warnings" "$TMP/split.pb.gz"
check "split: the profile names the workload as its main binary" \
	grep -q '^File: split' "$TMP/top.out" "go tool pprof says: $(head -1 "$TMP/top.out")"

# 2. pid= keeps other processes out; a process that exits inside the window
#    is still named (its maps were read while it lived).
start_workload "$TMP/a.out" "$B/workloads/split" 2
A=$WPID
start_workload "$TMP/b.out" "$B/workloads/syscalls" 4
S=$WPID
curl -sf -o "$TMP/pid.pb.gz" "$URL/debug/pprof/profile?seconds=4&pid=$A"
wait "$A" "$S"
pids=$(q "$TMP/pid.pb.gz" pids | sort -u | tr '\n' ' ')
check "pid=: only the asked process is in the profile" test "$pids" = "$A " "pids in profile: $pids"
# Named: nearly every sample is in work_a or work_b, in about the shares its
# thread clocks give. 2 s at 99 Hz is some 280 samples (3 points of noise),
# and work_b runs in 3 ms bursts, which the cpu-clock under-samples on this
# VM (see the README): one run of six here, with two other bursty processes
# left running on the machine, put work_a 11 points high.
share=$(q "$TMP/pid.pb.gz" share work_a)
named=$(awk -v a="$share" -v b="$(q "$TMP/pid.pb.gz" share work_b)" 'BEGIN { printf "%.2f", a + b }')
read -r _ _ ta _ tb < <(grep cpu_ns "$TMP/a.out")
truth_a=$(awk -v a="$ta" -v b="$tb" 'BEGIN { printf "%.2f", 100 * a / (a + b) }')
check "exited mid-window: its frames are still named (work_a and work_b $named%)" ge "$named" 95 \
	"work_a and work_b have $named% of a process that exited before the window ended"
check "exited mid-window: work_a's share ($share%) within 15 points of its CPU time ($truth_a%)" \
	near "$share" "$truth_a" 15 "work_a has $share%, its thread clock says $truth_a%"

# 3. Kernel frames for a syscall-heavy workload.
start_workload "$TMP/s.out" "$B/workloads/syscalls" 4
curl -sf -o "$TMP/sys.pb.gz" "$URL/debug/pprof/profile?seconds=3&pid=$WPID"
wait "$WPID"
kshare=$(q "$TMP/sys.pb.gz" kernel)
check "syscalls: kernel frames in $kshare% of samples" ge "$kshare" 50 "only $kshare%"
wshare=$(q "$TMP/sys.pb.gz" share ksys_write)
# how much of a write() is ksys_write, rather than the kernel's entry code,
# varies with the machine: 19-24% on 2026-12-02's VM (do_syscall_64 itself
# had 43%), over 30% before
check "syscalls: ksys_write named in the kernel part ($wshare%)" ge "$wshare" 12 "ksys_write has $wshare%"
# Debian's libc has no frame pointers: a frame-pointer walk from inside
# write() would skip write_loop() itself; the .eh_frame unwinder keeps it.
joined=$(q "$TMP/sys.pb.gz" reach ksys_write main)
check "syscalls: kernel stacks join user stacks that reach main ($joined%)" ge "$joined" 90 \
	"only $joined% of ksys_write's samples reach main"
loop=$(q "$TMP/sys.pb.gz" reach ksys_write write_loop)
check "syscalls: the caller of libc's write() is kept ($loop% of ksys_write's samples)" ge "$loop" 90 \
	"only $loop%: a walk through libc lost its caller"
pprof_reads "syscalls: go tool pprof reads it without warnings" "$TMP/sys.pb.gz"

# 4. Two clients at once, at two rates: both right.
start_workload "$TMP/c.out" "$B/workloads/split" 5
curl -sf -o "$TMP/c1.pb.gz" "$URL/debug/pprof/profile?seconds=3&pid=$WPID" &
c1=$!
curl -sf -o "$TMP/c2.pb.gz" "$URL/debug/pprof/profile?seconds=3&pid=$WPID&hz=199" &
c2=$!
wait "$c1" "$c2" "$WPID"
s1=$(q "$TMP/c1.pb.gz" share work_a)
s2=$(q "$TMP/c2.pb.gz" share work_a)
# the truth is the workload's own thread clocks (a loaded machine moves the
# split away from its 70/30 design: 63% in one run while others compiled)
read -r _ _ ta _ tb < <(grep cpu_ns "$TMP/c.out")
truth_c=$(awk -v a="$ta" -v b="$tb" 'BEGIN { printf "%.2f", 100 * a / (a + b) }')
check "concurrent: first client's work_a share $s1% (its CPU time $truth_c%)" near "$s1" "$truth_c" 6 "got $s1%"
check "concurrent: second client's (hz=199) work_a share $s2% (its CPU time $truth_c%)" near "$s2" "$truth_c" 6 "got $s2%"
n1=$(q "$TMP/c1.pb.gz" total | awk '{ print $2 }')
n2=$(q "$TMP/c2.pb.gz" total | awk '{ print $2 }')
check "concurrent: hz=199 took about twice the samples of 99 Hz ($n2 vs $n1)" \
	near "$(awk -v a="$n2" -v b="$n1" 'BEGIN { print b ? a / b : 0 }')" 2.01 0.35 "ratio off"
if command -v go >/dev/null; then
	period=$(go tool pprof -raw "$TMP/c2.pb.gz" 2>/dev/null | awk '/^Period:/ { print $2 }')
	check "concurrent: hz=199 profile's period is 1e9/199 ns" test "$period" = 5025125 "period $period"
fi

# 5. debug=1 is text that names the functions.
start_workload "$TMP/d.out" "$B/workloads/split" 2
curl -sf -o "$TMP/debug.txt" "$URL/debug/pprof/profile?seconds=1&pid=$WPID&debug=1"
wait "$WPID"
check "debug=1: a text profile naming work_a" grep -q work_a "$TMP/debug.txt" "no work_a in text"

# 6. System-wide: the workload shows among everything else.
start_workload "$TMP/w.out" "$B/workloads/split" 3
curl -sf -o "$TMP/all.pb.gz" "$URL/debug/pprof/profile?seconds=2"
wait "$WPID"
npids=$(q "$TMP/all.pb.gz" pids | sort -u | wc -l)
check "system-wide: the workload is in a profile without pid=" \
	grep -qx "$WPID" <(q "$TMP/all.pb.gz" pids) "pid $WPID missing ($npids processes seen)"
pprof_reads "system-wide: go tool pprof reads it without warnings" "$TMP/all.pb.gz"

# 7. Counters are exported and no drop went unseen.
curl -sf "$URL/metrics" >"$TMP/metrics"
check "metrics: samples counted" grep -qE '^cprofd_bpf_events_total\{source="cpu",event="samples"\} [1-9]' \
	"$TMP/metrics" "no sample counter"
check "metrics: map-full drops are exported" grep -q 'event="counts_map_full"' "$TMP/metrics" "missing"

check "SIGTERM: cprofd exits 0" stop_daemon "non-zero exit"
left=$(bpftool prog show 2>/dev/null | grep -c cpu_sample)
check "SIGTERM: no BPF program left loaded" test "$left" = 0 "$left cpu_sample programs remain"
