#!/usr/bin/env bash
# The local history (--continuous, --store): windows kept while their
# processes live and served for start= and end=, checked against workloads
# that know what they did when (tests/workloads/phases.c: phase_a, then
# phase_b; tests/workloads/locks.c: its threads' own waits); a kill -9 and
# a torn record; retention at its size limit.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
need_root "the history"

STORE=$TMP/store
WIN=2
# secs NS: Unix seconds with their fraction, as start= and end= take them
secs() { awk -v n="$1" 'BEGIN { printf "%.3f", n / 1e9 }'; }
truth() { awk -v k="$2" '$1 == k { print $2; exit }' "$1"; }
within() { awk -v a="$1" -v b="$2" -v p="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0 && 100 * d <= p * b) }'; }
# hist FILE QUERY: the history's profile of a view path with QUERY; HTTP status in $st
hist() { st=$(curl -s -o "$1" -D "$1.headers" -w '%{http_code}' "$URL/debug/pprof/$2"); }
# kept VIEW: windows the history keeps of VIEW
kept() { curl -s "$URL/debug/history" | awk -v v="$1" '$1 == v { print $4 }'; }

# roll-ups every 4 s, not every hour: the queries below span several, so
# they read roll-ups and windows both
export CPROF_TEST_ROLLUP_SECONDS=4
start_daemon --continuous cpu,block,mutex --window "$WIN" --store "$STORE"

# 1. A workload that changes behaviour at a known time: 10 s of phase_a,
# then 10 s of phase_b, then it exits. Each half, less a window at each
# edge (a window is in a range when its middle is), is one function.
start_workload "$TMP/ph.out" "$B/workloads/phases-nofp" 10 10
PH=$WPID
for _ in $(seq 300); do grep -q '^done' "$TMP/ph.out" && break; sleep 0.1; done
wait "$PH"
sleep $((WIN + 1))	# the window that holds its end is cut and kept
a=$(truth "$TMP/ph.out" a_start) b=$(truth "$TMP/ph.out" b_start) e=$(truth "$TMP/ph.out" b_end)
lo=$(secs $((a + WIN * 1000000000))) mid1=$(secs $((b - WIN * 1000000000)))
mid2=$(secs $((b + WIN * 1000000000))) hi=$(secs $((e - WIN * 1000000000)))
hist "$TMP/a.pb.gz" "profile?start=$lo&end=$mid1&pid=$PH"
n=$(PROFQ_PID=$PH q "$TMP/a.pb.gz" share phase_a)
check "history: the first half is phase_a's (${n:-?}%, at least 90%; HTTP $st)" ge "${n:-0}" 90 "phase_a ${n:-?}%"
hist "$TMP/b.pb.gz" "profile?start=$mid2&end=$hi&pid=$PH"
n=$(PROFQ_PID=$PH q "$TMP/b.pb.gz" share phase_b)
check "history: the second half is phase_b's (${n:-?}%, at least 90%; HTTP $st)" ge "${n:-0}" 90 "phase_b ${n:-?}%"
hist "$TMP/ab.pb.gz" "profile?start=$(secs "$a")&end=$(secs "$e")&pid=$PH"
na=$(PROFQ_PID=$PH q "$TMP/ab.pb.gz" share phase_a) nb=$(PROFQ_PID=$PH q "$TMP/ab.pb.gz" share phase_b)
check "history: the whole range holds both in proportion (phase_a ${na:-?}%, phase_b ${nb:-?}%: each 40 to 60%)" \
	awk -v a="${na:-0}" -v b="${nb:-0}" 'BEGIN { exit !(a >= 40 && a <= 60 && b >= 40 && b <= 60) }' \
	"phase_a ${na:-?}%, phase_b ${nb:-?}%"
n=$(metric 'cprofd_history_rollups_total{result="kept"}')
check "history: periods are rolled up as they close ($n kept; /debug/history lists cpu_1h; the queries above span them)" \
	test "${n:-0}" -ge 2 -a "$(kept cpu_1h)" -ge 2 "$(metric 'cprofd_history_rollups_total{result="failed"}') failed"
check "history: the process exited, and is still named (phase_a, phase_b in its stacks)" \
	awk -v a="${na:-0}" -v b="${nb:-0}" 'BEGIN { exit !(a > 0 && b > 0) }' "phase_a ${na:-?}%, phase_b ${nb:-?}%"
read -r t d < <(q "$TMP/ab.pb.gz" window)
check "history: the merged profile spans the range (from $(secs "${t:-0}") for $(secs "${d:-0}") s)" \
	awk -v t="${t:-0}" -v d="${d:-0}" -v a="$a" -v e="$e" -v w="$WIN" \
	'BEGIN { exit !(t <= a + w * 1e9 && t + d >= e - w * 1e9 && d <= (e - a) + 3 * w * 1e9) }' "time $t duration $d"
if command -v go >/dev/null; then
	HOME=$TMP go tool pprof -top "$TMP/ab.pb.gz" >/dev/null 2>"$TMP/go.err"
	check "history: go tool pprof reads the merged profile without warnings" test ! -s "$TMP/go.err" \
		"$(head -c 200 "$TMP/go.err")"
else
	skip "history: go tool pprof reads the merged profile" "golang-go not installed"
fi
# cprof-ctl: what is kept, a range, and the pair -diff_base takes
"$B/cprof-ctl" --url "$URL" history >"$TMP/hl.out" 2>&1
check "cprof-ctl history lists the cpu view: $(grep -m1 '^cpu' "$TMP/hl.out")" grep -q '^cpu ' "$TMP/hl.out" \
	"$(head -c 300 "$TMP/hl.out")"
"$B/cprof-ctl" --url "$URL" collect cpu --from "$lo" --to "$mid1" --pid "$PH" -o "$TMP/ctl.pb.gz" >"$TMP/ctl.out" 2>&1
n=$(PROFQ_PID=$PH q "$TMP/ctl.pb.gz" share phase_a)
check "cprof-ctl collect cpu --from --to: the first half (${n:-?}% phase_a)" ge "${n:-0}" 90 "$(tail -n 2 "$TMP/ctl.out")"
"$B/cprof-ctl" --url "$URL" diff cpu "$lo..$mid1" "$mid2..$hi" --pid "$PH" -o "$TMP/d" >"$TMP/diff.out" 2>&1
if command -v go >/dev/null; then
	top=$(HOME=$TMP go tool pprof -top -diff_base "$TMP/d-before.pb.gz" "$TMP/d-after.pb.gz" 2>/dev/null |
		awk '/flat%/ { getline; print $NF; exit }')
	check "cprof-ctl diff: -diff_base of its pair puts a changed function on top ($top)" \
		grep -qxE 'phase_a|phase_b' <<<"$top" "top: $top; $(tail -n 3 "$TMP/diff.out")"
else
	skip "cprof-ctl diff: -diff_base of its pair" "golang-go not installed"
fi
hist "$TMP/t.txt" "profile?start=$lo&end=$mid1&pid=$PH&debug=1"
check "history: debug=1 is text (HTTP $st)" grep -q phase_a "$TMP/t.txt" "$(head -c 200 "$TMP/t.txt")"

# 2. A cumulative view: the windows of a range add up to what happened in
# it. locks mutex: four threads on one mutex, which time their own waits.
start_workload "$TMP/locks.out" "$B/workloads/locks" mutex 300
LK=$WPID
wait_for "$TMP/locks.out" '^ready' || fail "locks" "did not start"
sleep $((WIN + 1))	# the futex programs attached, a window past
t0=$(date +%s.%N)
kill -USR1 "$LK"
wait_for "$TMP/locks.out" '^done' || fail "locks" "did not finish"
sleep $((WIN + 1))
t1=$(date +%s.%N)
want=$(truth "$TMP/locks.out" waited_ns)
hist "$TMP/blk.pb.gz" "block?start=$(awk -v t="$t0" 'BEGIN { printf "%.3f", t - 2 * '$WIN' }')&end=$t1&pid=$LK"
got=$(q "$TMP/blk.pb.gz" sum delay)
check "history: block over the range is what the threads waited, within 10% ($got ns, threads $want ns; HTTP $st)" \
	within "${got:-0}" "${want:-0}" 10 "block $got ns, threads $want ns"
hist "$TMP/mtx.pb.gz" "mutex?start=-60s&pid=$LK"
got=$(q "$TMP/mtx.pb.gz" sum delay)
check "history: so is mutex, with a relative start ($got ns; HTTP $st)" \
	within "${got:-0}" "${want:-0}" 10 "mutex $got ns, threads $want ns"
kill "$LK" 2>/dev/null

# 3. Bad ranges and what is not kept.
hist "$TMP/bad.txt" "profile?start=abc"
check "history: a bad start= is a 400 that says why (HTTP $st): $(head -c 100 "$TMP/bad.txt")" \
	test "$st" = 400 "HTTP $st"
hist "$TMP/bad2.txt" "profile?start=-1m&end=-2m"
check "history: start= after end= is a 400 (HTTP $st)" test "$st" = 400 "HTTP $st"
hist "$TMP/heap.txt" "heap?start=-1m"
check "history: a view not kept is a 404 that says how (HTTP $st): $(head -c 100 "$TMP/heap.txt")" \
	grep -q -- "--continuous heap" "$TMP/heap.txt" "HTTP $st: $(cat "$TMP/heap.txt")"
setpriv --reuid=nobody --regid=nogroup --clear-groups curl -s -w '%{http_code}' \
	"$URL/debug/pprof/profile?start=-1m" >"$TMP/nobody.txt"
check "history: another user is refused with a 403 that says why: $(head -c 90 "$TMP/nobody.txt")" \
	bash -c 'grep -q "root and the members" "$1" && [ "$(tail -c 3 "$1")" = 403 ]' _ "$TMP/nobody.txt" \
	"$(cat "$TMP/nobody.txt")"
hist "$TMP/early.pb.gz" "profile?start=-1h"
check "history: a range that begins before the history is served, and says so (HTTP $st)" \
	grep -qi "x-cprof-note:.*starts at" "$TMP/early.pb.gz.headers" "$(grep -i x-cprof "$TMP/early.pb.gz.headers")"

# 4. kill -9 mid-window, a record torn as a crash would leave it, and a
# restart: every window kept before is served, the torn one is not.
before=$(kept cpu)
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
DAEMON_PID=
last=$(ls "$STORE"/cpu/*.seg | sort | tail -n 1)
size=$(stat -c %s "$last")
printf 'CPRW' >>"$last"	# the start of a record that never got written
start_daemon --continuous cpu,block,mutex --window "$WIN" --store "$STORE"
after=$(kept cpu)
check "history: after kill -9 and a restart, every window kept before is served ($after of $before)" \
	test "${after:-0}" -ge "${before:-1}" "$after of $before"
check "history: the torn record is found and counted" \
	test "$(metric cprofd_history_torn_records_total)" = 1 "$(metric cprofd_history_torn_records_total)"
check "history: and cut away ($(stat -c %s "$last") bytes, was $size)" \
	test "$(stat -c %s "$last")" -le "$size" "$(stat -c %s "$last") bytes"
hist "$TMP/a2.pb.gz" "profile?start=$lo&end=$mid1&pid=$PH"
n=$(PROFQ_PID=$PH q "$TMP/a2.pb.gz" share phase_a)
check "history: after the restart the first half is still phase_a's (${n:-?}%)" ge "${n:-0}" 90 "phase_a ${n:-?}%"
stop_daemon

# 5. Retention: a store at its size limit drops its oldest windows first,
# and says so on /metrics.
start_daemon --continuous cpu --window 1 --store "$TMP/small" --retention 64K,1d
start_workload "$TMP/split.out" "$B/workloads/split" 150
for _ in $(seq 150); do
	[ "$(metric cprofd_history_dropped_windows_total)" -gt 0 ] 2>/dev/null && break
	sleep 1
done
dropped=$(metric cprofd_history_dropped_windows_total)
check "history: at its size limit the oldest windows are dropped, and counted ($dropped)" \
	test "${dropped:-0}" -gt 0 "none dropped: $(du -sb "$TMP/small" | cut -f1) bytes kept"
bytes=$(metric 'cprofd_history_bytes{form="stored"}')
check "history: what is kept stays near the limit ($bytes bytes, limit 64K and two segments of 64K)" \
	test "${bytes:-999999999}" -le $((64 * 1024 + 65536 * 2)) "$bytes bytes"
echo "history: stored $(metric 'cprofd_history_bytes{form="stored"}') bytes for $(metric 'cprofd_history_bytes{form="raw"}') raw"
stop_daemon

# 5b. --continuous all for the whole host leaves heap and allocs out: their
# probes would trap at every malloc and free of every process. It says so;
# named, they are kept, with a warning.
start_daemon --continuous all --window 1 --store "$TMP/all"
check "history: --continuous all for the whole host says it leaves heap and allocs out" \
	grep -q -- "--continuous all leaves heap and allocs out for the whole host" "$TMP/cprofd.log" \
	"$(grep -i -- continuous "$TMP/cprofd.log")"
sleep 2.5
check "history: ...probes no allocator" test "$(metric cprofd_heap_attached)" = 0 \
	"cprofd_heap_attached $(metric cprofd_heap_attached)"
hist "$TMP/allheap.txt" "heap?start=-1m"
check "history: ...keeps no heap windows (HTTP $st)" test "$st" = 404 "HTTP $st: $(head -c 100 "$TMP/allheap.txt")"
check "history: ...and keeps the others (cpu: $(kept cpu) windows)" test "$(kept cpu)" -ge 1 "$(kept cpu) windows"
stop_daemon
start_daemon --continuous all,heap,allocs --window 1 --store "$TMP/all2"
check "history: --continuous all,heap,allocs keeps them, with a warning" \
	grep -q "warning: heap and allocs kept on for the whole host" "$TMP/cprofd.log" \
	"$(grep -i -- continuous "$TMP/cprofd.log")"
for _ in $(seq 100); do [ "$(metric cprofd_heap_attached)" = 1 ] && break; sleep 0.1; done
check "history: ...and probes the allocator" test "$(metric cprofd_heap_attached)" = 1 \
	"cprofd_heap_attached $(metric cprofd_heap_attached)"
stop_daemon

# 6. heap and allocs: one profile with two defaults, kept once (as heap's
# windows) and served for both.
start_workload "$TMP/grow.out" "$B/workloads/leaks" grow
GR=$WPID
wait_for "$TMP/grow.out" '^ready' || fail "leaks grow" "did not start"
start_daemon --pid "$GR" --continuous heap,allocs --window 1 --store "$TMP/heap"
for _ in $(seq 100); do [ "$(metric cprofd_heap_attached)" = 1 ] && break; sleep 0.1; done
kill -USR1 "$GR"
sleep 4
hist "$TMP/allocs.pb.gz" "allocs?start=-10s"
hist "$TMP/heaph.pb.gz" "heap?start=-10s"
if command -v go >/dev/null; then
	check "history: allocs is served from the heap's windows, alloc_space its default (HTTP $st)" \
		bash -c 'HOME=$2 go tool pprof -raw "$1" 2>/dev/null | grep -q "alloc_space/bytes\[dflt\]"' _ \
		"$TMP/allocs.pb.gz" "$TMP" "$(HOME=$TMP go tool pprof -raw "$TMP/allocs.pb.gz" 2>&1 | grep -m1 dflt)"
	check "history: and heap with inuse_space" \
		bash -c 'HOME=$2 go tool pprof -raw "$1" 2>/dev/null | grep -q "inuse_space/bytes\[dflt\]"' _ \
		"$TMP/heaph.pb.gz" "$TMP" "$(HOME=$TMP go tool pprof -raw "$TMP/heaph.pb.gz" 2>&1 | grep -m1 dflt)"
else
	skip "history: allocs and heap default types" "golang-go not installed"
fi
# grow_leak allocates 10 MB/s, steady 25.6 MB/s (100,000 x 256 B)
n=$(q "$TMP/allocs.pb.gz" share grow_leak) m=$(q "$TMP/allocs.pb.gz" share steady)
check "history: allocs holds both allocators in proportion (grow_leak ${n:-?}%, steady ${m:-?}% of alloc_space; 28/72 by their rates)" \
	awk -v a="${n:-0}" -v b="${m:-0}" 'BEGIN { exit !(a >= 15 && a <= 45 && b >= 55 && b <= 85) }' "grow_leak ${n:-?}%, steady ${m:-?}%"
check "history: heap and allocs are kept once: /debug/history lists heap, not allocs" \
	bash -c 'l=$(curl -s "$1/debug/history"); grep -q "^heap " <<<"$l" && ! grep -q "^allocs " <<<"$l"' _ "$URL" \
	"$(curl -s "$URL/debug/history")"
kill "$GR" 2>/dev/null
stop_daemon

# 7. Processes that come and go: some 30 s after one exits its records
# leave the totals since tracking began (so they stay bounded on a host of
# short-lived processes), and the history still has every allocation.
# ltruth OUT FUNC FIELD: what tests/workloads/leaks.c printed
ltruth() { awk -v f="$2" -v k="$3" '$1 == f { for (i = 2; i < NF; i++) if ($i == k) print $(i + 1) }' "$1"; }
start_daemon --comm leaks --continuous heap --heap-rate 1 --window "$WIN" --store "$TMP/retire"
T0=$(date +%s)
start_workload "$TMP/r.out" "$B/workloads/leaks" exit
RP=$WPID
wait_for "$TMP/r.out" '^ready' || fail "leaks exit" "did not start"
for _ in $(seq 100); do
	[ "$(metric cprofd_heap_processes)" = 1 ] && [ "$(metric cprofd_unwind_processes)" -ge 1 ] && break
	sleep 0.1
done
kill -USR1 "$RP"
wait_for "$TMP/r.out" '^done' || fail "leaks exit" "did not finish"
wait "$RP" 2>/dev/null
sleep 2
curl -sf -o "$TMP/r0.pb.gz" "$URL/debug/pprof/allocs"
a=$(q "$TMP/r0.pb.gz" sum alloc_objects pid="$RP" func=leak_big)
check "history: a process that just exited is in the totals ($a of leak_big's $(ltruth "$TMP/r.out" leak_big alloc_objects))" \
	test "$a" = "$(ltruth "$TMP/r.out" leak_big alloc_objects)" "$a"
for _ in $(seq 70); do
	[ "${n:=0}" -gt 0 ] 2>/dev/null && break
	n=$(metric cprofd_track_records_retired_total)
	sleep 1
done
check "history: its records leave the totals once it has been gone a while ($n retired)" \
	test "${n:-0}" -gt 0 "$(curl -s "$URL/metrics" | grep -E 'retire|processes_exited')"
curl -sf -D "$TMP/r1.headers" -o "$TMP/r1.pb.gz" "$URL/debug/pprof/allocs"
a=$(q "$TMP/r1.pb.gz" sum alloc_objects func=leak_big)
check "history: ...the totals no longer hold it (${a:-0} of leak_big's allocations)" test "${a:-0}" = 0 "$a"
check "history: ...and say so, and where it is kept" \
	grep -qi 'X-Cprof-Note:.*let go: the history keeps them' "$TMP/r1.headers" "$(grep -i note "$TMP/r1.headers")"
hist "$TMP/r2.pb.gz" "allocs?start=$T0&pid=$RP"
for fn in leak_big churn; do
	a=$(q "$TMP/r2.pb.gz" sum alloc_objects func=$fn) b=$(q "$TMP/r2.pb.gz" sum alloc_space func=$fn)
	check "history: the history has every allocation of $fn still ($a of $(ltruth "$TMP/r.out" $fn alloc_objects), $b bytes)" \
		test "$a" = "$(ltruth "$TMP/r.out" $fn alloc_objects)" -a "$b" = "$(ltruth "$TMP/r.out" $fn alloc_bytes)" "HTTP $st: $a, $b bytes"
done
hist "$TMP/r3.pb.gz" "heap?start=$T0&pid=$RP"
u=$(q "$TMP/r3.pb.gz" sum inuse_space)
check "history: ...and over the range it left nothing in use (${u:-?} bytes)" test "${u:-x}" = 0 "HTTP $st: $u"
stop_daemon
