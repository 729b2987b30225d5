#!/usr/bin/env bash
# Targets by name: --comm, --exe and --cgroup profile the processes that
# match, those that start after cprofd too, and nothing else; a child of a
# matched process is profiled, an exec that no longer matches is not; the
# same filters as request parameters (comm=, exe=, cgroup=) restrict a
# whole-host profile.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
need_root "targets"

S=$$	# names unique to this run: comm is at most 15 bytes
W=$B/workloads/split-nofp

# pids_of FILE: the distinct pids of a profile, sorted, on one line
pids_of() { q "$1" pids | sort -un | tr '\n' ' '; }
# has PID PIDS: PID is among PIDS
has() { [[ " $2 " == *" $1 "* ]]; }
not_has() { ! has "$@"; }
# only PIDS ALLOWED...: every pid in PIDS is one of ALLOWED
only() {
	local p
	for p in $1; do
		[[ " ${*:2} " == *" $p "* ]] || return 1
	done
}
counter() {
	curl -sf "$URL/metrics" | awk -v e="$1" '$1 ~ "event=\"" e "\"" { print $2 }'
}
status() { curl -s -o "$TMP/body" -w '%{http_code}' "$URL$1"; }

# Bad values: one line, exit 2, before anything is loaded.
out=$("$B/cprofd" --comm abcdefghijklmnopq --listen none --socket none 2>&1)
rc=$?
check "--comm of 17 bytes: refused with one line naming the 15 the kernel keeps" \
	test "$rc" = 2 -a "$(echo "$out" | wc -l)" = 1 -a -n "$(grep -F '"abcdefghijklmno"' <<<"$out")" \
	"rc=$rc: $out"
out=$("$B/cprofd" --exe relative/path --listen none --socket none 2>&1)
rc=$?
check "--exe relative: refused with one line" test "$rc" = 2 -a "$(echo "$out" | wc -l)" = 1 "rc=$rc: $out"
out=$("$B/cprofd" --cgroup "cprof-no-such-cgroup-$S" --listen none --socket none 2>&1)
rc=$?
check "--cgroup of no cgroup: refused with one line" \
	test "$rc" = 2 -a "$(echo "$out" | wc -l)" = 1 -a -n "$(grep -F 'no such cgroup' <<<"$out")" "rc=$rc: $out"

# 1. --comm: a workload that starts after cprofd, a child it forks (which
#    does not exec: only the fork makes it a target), and a matched process
#    that execs something else (which leaves). Another busy process is out.
cp "$W" "$TMP/ctc$S"
cp "$W" "$TMP/ctp$S"
cp /bin/bash "$TMP/ctb$S"
cp /bin/bash "$TMP/cte$S"
# those started before cprofd outlive its start (which may take seconds on
# a busy host) and are killed when done with
start_workload "$TMP/other.out" "$B/workloads/split" 30
OTHER=$WPID
# one already running: found by the scan of /proc at start
start_workload "$TMP/p.out" "$TMP/ctp$S" 30
P=$WPID
sleep 0.2
start_daemon --comm "ctc$S" --comm "ctb$S" --comm "cte$S" --comm "ctp$S"
start_workload "$TMP/t.out" "$TMP/ctc$S" 6
T=$WPID
# the shell forks a subshell that only burns CPU: same name, never exec'd
start_workload "$TMP/fork.out" "$TMP/ctb$S" -c \
	'( echo $BASHPID >"'"$TMP"'/child.pid"; end=$((SECONDS + 6)); while [ $SECONDS -lt $end ]; do :; done ); wait'
F=$WPID
# a matched shell that becomes another program
start_workload "$TMP/exec.out" "$TMP/cte$S" -c "exec '$B/workloads/split' 6"
E=$WPID
sleep 0.5
curl -sf -o "$TMP/comm.pb.gz" "$URL/debug/pprof/profile?seconds=2"
C=$(cat "$TMP/child.pid" 2>/dev/null)
pids=$(pids_of "$TMP/comm.pb.gz")
check "--comm: the workload that started later is sampled" has "$T" "$pids" "pids: $pids (want $T)"
check "--comm: the one running before cprofd started is sampled" has "$P" "$pids" "pids: $pids (want $P)"
check "--comm: the forked child of a matched process is sampled" test -n "$C" -a "$C" != "$F" \
	-a -n "$(has "$C" "$pids" && echo y)" "pids: $pids (child ${C:-unknown}, parent $F)"
check "--comm: nothing else is sampled" only "$pids" "$T" "$P" "$F" "$C" \
	"pids: $pids; targets $T, $P, $F, $C; other busy $OTHER, exec'd away $E"
check "--comm: a target that exec'd a program of another name is not" not_has "$E" "$pids" "pids: $pids"
check "--comm: BPF counted the match at exec and the child at fork" \
	test "$(counter targets_matched_at_exec)" -ge 3 -a "$(counter targets_inherited_at_fork)" -ge 1 \
	"matched_at_exec $(counter targets_matched_at_exec), inherited_at_fork $(counter targets_inherited_at_fork)"
check "--comm: the exec away was counted" test "$(counter targets_left_at_exec)" -ge 1 \
	"left_at_exec $(counter targets_left_at_exec)"
pprof_reads "--comm: go tool pprof reads the profile" "$TMP/comm.pb.gz"
scanned=$(curl -sf "$URL/metrics" | awk '/^cprofd_targets_matched_total\{how="scan"\}/ { print $2 }')
check "--comm: the scan's match is counted" test "${scanned:-0}" -ge 1 "scan matched: ${scanned:-missing}"
code=$(status "/debug/pprof/profile?seconds=1&pid=$OTHER")
check "--comm: pid= of a process it does not profile is a 400 naming the targets" \
	test "$code" = 400 -a -n "$(grep -F "comm ctc$S" "$TMP/body")" "got $code: $(head -c 200 "$TMP/body")"
stop_daemon
kill "$OTHER" "$P" 2>/dev/null
wait

# 2. --exe, given through a symlink: the file it resolves to is matched.
cp "$W" "$TMP/cte2$S"
ln -s "$TMP/cte2$S" "$TMP/link$S"
start_workload "$TMP/other.out" "$B/workloads/split" 30
OTHER=$WPID
start_daemon --exe "$TMP/link$S"
start_workload "$TMP/t.out" "$TMP/cte2$S" 6
T=$WPID
sleep 0.5
curl -sf -o "$TMP/exe.pb.gz" "$URL/debug/pprof/profile?seconds=2"
pids=$(pids_of "$TMP/exe.pb.gz")
check "--exe: the workload that started later is sampled" has "$T" "$pids" "pids: $pids (want $T)"
check "--exe: nothing else is sampled" only "$pids" "$T" "pids: $pids (other busy: $OTHER)"
check "--exe: cprofd was asked to check the exec" test "$(counter targets_checks_asked)" -ge 1 \
	"checks asked: $(counter targets_checks_asked)"
stop_daemon
kill "$OTHER" 2>/dev/null
wait

# 3. A reload (SIGHUP) of a --config that names another process: the new
#    one is found running, the old one is no longer sampled.
cp "$W" "$TMP/cra$S"
cp "$W" "$TMP/crb$S"
start_workload "$TMP/ra.out" "$TMP/cra$S" 30
RA=$WPID
start_workload "$TMP/rb.out" "$TMP/crb$S" 30
RB=$WPID
echo "comm = cra$S" >"$TMP/cprofd.conf"
start_daemon --config "$TMP/cprofd.conf"
curl -sf -o "$TMP/before.pb.gz" "$URL/debug/pprof/profile?seconds=1"
echo "comm = crb$S" >"$TMP/cprofd.conf"
kill -HUP "$DAEMON_PID"
sleep 0.5
curl -sf -o "$TMP/after.pb.gz" "$URL/debug/pprof/profile?seconds=2"
check "reload: before it, the process the config named" test "$(pids_of "$TMP/before.pb.gz")" = "$RA " \
	"pids: $(pids_of "$TMP/before.pb.gz") (want $RA)"
check "reload: after it, only the one it names now" test "$(pids_of "$TMP/after.pb.gz")" = "$RB " \
	"pids: $(pids_of "$TMP/after.pb.gz") (want $RB; log: $(grep SIGHUP "$TMP/cprofd.log" | tail -1))"
stop_daemon
kill "$RA" "$RB" 2>/dev/null
wait

# 4. --cgroup: a scratch cgroup v2 directory. A shell moves itself in and
#    execs the workload; a busy process that started outside is moved in
#    later; a workload is started right in it, as systemd starts services
#    (no move, no parent in it: matched at exec, in BPF); one outside
#    stays out.
MNT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
CG=cprof-test-$S
# whatever happens, nothing is left in it, and it goes
cg_cleanup() {
	[ -d "$MNT/$CG" ] || return 0
	xargs -r kill -KILL <"$MNT/$CG/cgroup.procs" 2>/dev/null
	for _ in $(seq 50); do
		rmdir "$MNT/$CG" 2>/dev/null && return 0
		sleep 0.1
	done
}
if [ -z "$MNT" ] || ! mkdir "$MNT/$CG" 2>/dev/null; then
	skip "--cgroup" "no cgroup v2 hierarchy to make a cgroup in (${MNT:-not mounted})"
else
	trap 'cleanup; cg_cleanup' EXIT
	start_workload "$TMP/out.out" "$B/workloads/split" 30
	OUT=$WPID
	start_workload "$TMP/moved.out" "$B/workloads/split" 30
	MOVED=$WPID
	start_daemon --cgroup "$CG"
	start_workload "$TMP/in.out" bash -c "echo \$\$ >'$MNT/$CG/cgroup.procs' && exec '$W' 6"
	IN=$WPID
	echo "$MOVED" >"$MNT/$CG/cgroup.procs"
	start_workload "$TMP/spawned.out" "$B/tests/cgspawn" "$MNT/$CG" "$TMP/spawned.pid" "$W" 6
	sleep 0.5
	SPAWNED=$(cat "$TMP/spawned.pid" 2>/dev/null)
	curl -sf -o "$TMP/cg.pb.gz" "$URL/debug/pprof/profile?seconds=2"
	pids=$(pids_of "$TMP/cg.pb.gz")
	check "--cgroup: a process that started in it later is sampled" has "$IN" "$pids" "pids: $pids (want $IN)"
	check "--cgroup: a process moved into it is sampled" has "$MOVED" "$pids" "pids: $pids (want $MOVED)"
	if [[ "$SPAWNED" =~ ^[0-9]+$ ]]; then
		check "--cgroup: a process started right in it is sampled, matched at exec in BPF" \
			test -n "$(has "$SPAWNED" "$pids" && echo y)" -a "$(counter targets_matched_at_exec)" -ge 1 \
			"pids: $pids (want $SPAWNED), matched_at_exec $(counter targets_matched_at_exec)"
	else
		skip "--cgroup: a process started right in it" "cgspawn: $(head -c 200 "$TMP/spawned.out")"
		SPAWNED=
	fi
	check "--cgroup: nothing outside it is sampled" only "$pids" "$IN" "$MOVED" "$SPAWNED" \
		"pids: $pids (outside: $OUT)"
	check "--cgroup: the moves were checked by cprofd" test "$(counter targets_checks_asked)" -ge 1 \
		"checks_asked $(counter targets_checks_asked)"

	# 5. Request parameters on a whole-host daemon.
	stop_daemon
	kill "$OUT" "$MOVED" 2>/dev/null
	wait
	start_daemon
	cp "$W" "$TMP/ctq$S"
	start_workload "$TMP/q.out" "$TMP/ctq$S" 8
	QA=$WPID
	start_workload "$TMP/qin.out" bash -c "echo \$\$ >'$MNT/$CG/cgroup.procs' && exec '$W' 8"
	QB=$WPID
	start_workload "$TMP/qout.out" "$B/workloads/split" 8
	QC=$WPID
	sleep 0.5
	# five clients at once, over the same two seconds
	reqs=()
	for r in "all " "rc comm=ctq$S" "re exe=$TMP/ctq$S" "rg cgroup=$MNT/$CG" "ru comm=ctq$S&cgroup=$CG"; do
		curl -sf -o "$TMP/${r%% *}.pb.gz" "$URL/debug/pprof/profile?seconds=2&${r#* }" &
		reqs+=($!)
	done
	wait "${reqs[@]}"
	all=$(pids_of "$TMP/all.pb.gz")
	check "request: the whole-host profile has all three" \
		test -n "$(has "$QA" "$all" && has "$QB" "$all" && has "$QC" "$all" && echo y)" "pids: $all"
	check "request comm=: only that process" test "$(pids_of "$TMP/rc.pb.gz")" = "$QA " \
		"pids: $(pids_of "$TMP/rc.pb.gz") (want $QA)"
	check "request exe=: only that process" test "$(pids_of "$TMP/re.pb.gz")" = "$QA " \
		"pids: $(pids_of "$TMP/re.pb.gz") (want $QA)"
	check "request cgroup=: only the process in it" test "$(pids_of "$TMP/rg.pb.gz")" = "$QB " \
		"pids: $(pids_of "$TMP/rg.pb.gz") (want $QB)"
	want=$(printf '%s\n' "$QA" "$QB" | sort -n | tr '\n' ' ')
	check "request comm= and cgroup=: either" test "$(pids_of "$TMP/ru.pb.gz")" = "$want" \
		"pids: $(pids_of "$TMP/ru.pb.gz") (want $want)"
	code=$(status "/debug/pprof/profile?seconds=1&cgroup=cprof-no-such-cgroup-$S")
	check "request cgroup= of no cgroup: 404 with a one-line reason" \
		test "$code" = 404 -a "$(wc -l <"$TMP/body")" = 1 "got $code: $(head -c 200 "$TMP/body")"
	for case in "comm=abcdefghijklmnop" "cgroup=a/../b" "exe=relative"; do
		code=$(status "/debug/pprof/profile?seconds=1&$case")
		check "request $case: 400 with a one-line reason" test "$code" = 400 -a "$(wc -l <"$TMP/body")" = 1 \
			"got $code: $(head -c 200 "$TMP/body")"
	done
	stop_daemon
	kill "$QA" "$QB" "$QC" "$OUT" "$MOVED" "$IN" $SPAWNED 2>/dev/null
	wait
	cg_cleanup
	check "--cgroup: the scratch cgroup is removed" test ! -d "$MNT/$CG" "$MNT/$CG remains"
fi
