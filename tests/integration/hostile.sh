#!/usr/bin/env bash
# Issue 10's attacks, run as a user who is not root (nobody) against a live
# cprofd: crafted DWARF, call-frame information and symbol names; a binary
# replaced after its process exited by a FIFO or by a symlink to a root-only
# binary; a perf map bind-mounted over with a root-only file in the user's own
# mount namespace; a copy of root's binary with the same build id and other
# names. The daemon keeps answering, stays within its memory budget, counts
# what it refused, and no profile shows what the user may not read or names
# root's frames with the user's names. Then the parser processes: as nobody,
# within their limit, and one that hangs costs one file and one timeout.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
need_root "hostile files"
if ! command -v setpriv >/dev/null; then
	skip "hostile files" "setpriv (util-linux) not found"
	exit 0
fi

U=$TMP/u			# the user's own directory
mkdir -p "$U" && chown 65534:65534 "$U" && chmod 0755 "$TMP"
AS_USER=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
as_user() { "${AS_USER[@]}" "$@"; }
metric() { curl -sf --max-time 10 "$URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
hostile() { metric "cprofd_hostile_input_total{kind=\"$1\"}"; }
# the profile of a user's process: PROG SECONDS OUT, run as the user
user_profile() {
	local prog=$1 secs=$2 out=$3 pid
	"${AS_USER[@]}" "$prog" "$secs" >"$TMP/${out##*/}.out" 2>&1 &
	pid=$!		# setpriv execs the program: its pid
	sleep 1
	# the window ends a second before the process does: a JIT's perf map
	# goes with it
	curl -sf --max-time $((secs + 20)) -o "$out" "$URL/debug/pprof/profile?seconds=$((secs - 2))&pid=$pid"
	local rc=$?
	wait "$pid"
	return $rc
}
responsive() {	# every endpoint answers within 10 s
	curl -sf --max-time 10 -o /dev/null "$URL/metrics" &&
		curl -sf --max-time 10 -o /dev/null "$URL/debug/pprof/" &&
		curl -sf --max-time 15 -o /dev/null "$URL/debug/pprof/profile?seconds=1"
}

start_daemon --parser-timeout 5

# 1. DWARF sibling links that loop
"$B/tests/craft" sibling-loop "$B/workloads/split" "$U/loops" >/dev/null && chown 65534 "$U/loops"
before=$(hostile dwarf)
user_profile "$U/loops" 4 "$TMP/loops.pb.gz"
check "sibling loops: the profile is served" test -s "$TMP/loops.pb.gz" "no profile"
check "sibling loops: counted (cprofd_hostile_input_total{kind=\"dwarf\"} $before -> $(hostile dwarf))" \
	test "$(hostile dwarf)" -gt "${before:-0}" "not counted"
check "sibling loops: the daemon answers every endpoint" responsive "it does not"

# 2. a register number of 268,000,000 in .eh_frame
"$B/tests/craft" cfa-register "$B/workloads/split-nofp" "$U/cfareg" >/dev/null && chown 65534 "$U/cfareg"
before=$(hostile cfi)
user_profile "$U/cfareg" 4 "$TMP/cfareg.pb.gz"
check "huge CFA register: the profile is served" test -s "$TMP/cfareg.pb.gz" "no profile"
check "huge CFA register: counted ($before -> $(hostile cfi))" \
	test "$(hostile cfi)" -gt "${before:-0}" "not counted"

# 3. a Rust name whose demangling runs away
cat >"$TMP/rustname.c" <<'C'
#include <stdlib.h>
#include <time.h>
volatile unsigned long sink;
__attribute__((noinline)) void burn(void) __asm__("_RYDGLORRYDGLOR_");
void burn(void) { for (int i = 0; i < 100000; i++) sink += i; }
int main(int argc, char **argv) { time_t end = time(NULL) + atoi(argv[1]); while (time(NULL) < end) burn(); return 0; }
C
gcc -O1 -g -o "$U/rustname" "$TMP/rustname.c" && chown 65534 "$U/rustname"
before=$(hostile demangle)
user_profile "$U/rustname" 4 "$TMP/rustname.pb.gz"
check "runaway Rust name: the profile is served, the name left as it is" \
	test "$(q "$TMP/rustname.pb.gz" share _RYDGLORRYDGLOR_ | cut -d. -f1)" -gt 50 \
	"_RYDGLORRYDGLOR_ in $(q "$TMP/rustname.pb.gz" share _RYDGLORRYDGLOR_)%"
check "runaway Rust name: counted ($before -> $(hostile demangle))" \
	test "$(hostile demangle)" -gt "${before:-0}" "not counted"

# 4. after its process exits, the binary's path holds a FIFO, or a symlink to
#    a root-only binary: the profile (built after the exit) still comes, and
#    names nothing of the root-only binary
mkdir -p "$TMP/root" && chmod 0700 "$TMP/root"
sed 's/burn/root_only_secret_fn/g; s/_RYDGLORRYDGLOR_/root_only_secret_fn/' "$TMP/rustname.c" >"$TMP/root/s.c"
gcc -O1 -g -o "$TMP/root/secret" "$TMP/root/s.c"
for how in fifo symlink; do
	cp "$B/workloads/split" "$U/victim-$how" && chown 65534 "$U/victim-$how"
	curl -sf --max-time 40 -o "$TMP/after-$how.pb.gz" "$URL/debug/pprof/profile?seconds=5" &
	cpid=$!
	sleep 0.5
	as_user "$U/victim-$how" 2 >/dev/null 2>&1
	rm -f "$U/victim-$how"
	if [ "$how" = fifo ]; then
		as_user mkfifo "$U/victim-$how"
	else
		ln -s "$TMP/root/secret" "$U/victim-$how"
	fi
	t0=$(date +%s)
	wait "$cpid"
	rc=$?
	check "exited, path now a $how: the profile comes ($(( $(date +%s) - t0 )) s after the exit)" \
		test "$rc" = 0 "curl exit $rc"
	check "exited, path now a $how: nothing of the root-only binary in it" \
		test "$(q "$TMP/after-$how.pb.gz" share root_only_secret_fn)" = 0.00 \
		"root_only_secret_fn in $(q "$TMP/after-$how.pb.gz" share root_only_secret_fn)%"
done
check "after the FIFO and the symlink: the daemon answers every endpoint" responsive "it does not"

# 5. a perf map bind-mounted over with a root-only file, in the user's own
#    mount namespace (unshare -Urm)
gcc -O2 -o "$U/jit" tests/integration/symbols/jit.c && chown 65534 "$U/jit"
printf '0 7fffffffffff SECRET_ROOT_ONLY_NAME\n' >"$TMP/secret.map" && chmod 0600 "$TMP/secret.map"
if as_user unshare -Urm true 2>/dev/null; then
	as_user unshare -Urm sh -c '
		"$1" 6 >"$2" 2>&1 &
		for i in $(seq 50); do [ -f /tmp/perf-$!.map ] && break; sleep 0.1; done
		mount --bind "$3" /tmp/perf-$!.map && echo mounted >>"$2"
		wait' sh "$U/jit" "$U/jitns.out" "$TMP/secret.map" &
	ns=$!
	for _ in $(seq 50); do grep -q mounted "$U/jitns.out" 2>/dev/null && break; sleep 0.1; done
	jpid=$(awk '/^pid / { print $2 }' "$U/jitns.out")
	if grep -q mounted "$U/jitns.out" && [ -n "$jpid" ]; then
		curl -sf --max-time 30 -o "$TMP/jitns.pb.gz" "$URL/debug/pprof/profile?seconds=3"
		check "perf map bind-mounted over with a root-only file: not read" \
			test "$(q "$TMP/jitns.pb.gz" share SECRET_ROOT_ONLY_NAME)" = 0.00 \
			"SECRET_ROOT_ONLY_NAME in $(q "$TMP/jitns.pb.gz" share SECRET_ROOT_ONLY_NAME)%"
	else
		skip "perf map bind mount" "could not bind-mount in a user namespace: $(tail -1 "$U/jitns.out")"
	fi
	wait "$ns"
else
	skip "perf map bind mount" "unprivileged user namespaces are off"
fi

# 6. a user's map naming a root process's JIT frames; the user's own JIT
#    still named from its own map
gcc -O2 -o "$TMP/jit" tests/integration/symbols/jit.c
start_workload "$TMP/rootjit.out" "$TMP/jit" 5
rpid=$WPID
for _ in $(seq 50); do [ -f "/tmp/perf-$rpid.map" ] && break; sleep 0.1; done
# replace root's own map with one the user owns (as if the user wrote it first)
printf '0 7fffffffffff ATTACKER_NAMED_ROOT_FRAME\n' >"/tmp/perf-$rpid.map.u"
chown 65534 "/tmp/perf-$rpid.map.u" && mv -f "/tmp/perf-$rpid.map.u" "/tmp/perf-$rpid.map"
curl -sf --max-time 30 -o "$TMP/rootjit.pb.gz" "$URL/debug/pprof/profile?seconds=3&pid=$rpid"
check "a map another user owns does not name root's frames" \
	test "$(q "$TMP/rootjit.pb.gz" share ATTACKER_NAMED_ROOT_FRAME)" = 0.00 \
	"ATTACKER_NAMED_ROOT_FRAME in $(q "$TMP/rootjit.pb.gz" share ATTACKER_NAMED_ROOT_FRAME)%"
wait "$rpid"
user_profile "$U/jit" 4 "$TMP/userjit.pb.gz"
check "the user's own JIT map names its frames" \
	ge "$(q "$TMP/userjit.pb.gz" share jit_countdown_loop)" 50 \
	"jit_countdown_loop in $(q "$TMP/userjit.pb.gz" share jit_countdown_loop)%; top: $(q "$TMP/userjit.pb.gz" top | head -3 | tr '\n' ';')"

# 7. the user's copy of root's binary, with root's build id and other names,
#    runs first; root's profile of its own keeps the true names. A build of
#    its own, so no other copy with its build id was seen before.
{ cat tests/workloads/split.c; echo 'const char hostile_variant[] __attribute__((used)) = "7";'; } >"$TMP/split7.c"
gcc -O2 -g -pthread -o "$TMP/split7" "$TMP/split7.c"
cp "$TMP/split7" "$U/evil" && perl -pi -e 's/work_a/PWNED_/g' "$U/evil" && chown 65534 "$U/evil"
check "build id: the altered copy keeps root's build id" \
	test "$(readelf -n "$U/evil" | awk '/Build ID/ { print $3 }')" = \
	"$(readelf -n "$TMP/split7" | awk '/Build ID/ { print $3 }')" "it does not"
user_profile "$U/evil" 3 "$TMP/evil.pb.gz"
check "build id: the user's copy shows the user's names" \
	ge "$(q "$TMP/evil.pb.gz" share PWNED_)" 30 \
	"PWNED_ in $(q "$TMP/evil.pb.gz" share PWNED_)%; top: $(q "$TMP/evil.pb.gz" top | head -3 | tr '\n' ';')"
start_workload "$TMP/rootsplit.out" "$TMP/split7" 4
sleep 1
curl -sf --max-time 30 -o "$TMP/rootsplit.pb.gz" "$URL/debug/pprof/profile?seconds=2&pid=$WPID"
wait "$WPID"
check "build id: root's profile of its own binary keeps its true names" \
	test "$(q "$TMP/rootsplit.pb.gz" share PWNED_)" = 0.00 \
	"PWNED_ in $(q "$TMP/rootsplit.pb.gz" share PWNED_)% of root's profile"
check "build id: root's profile names work_a" ge "$(q "$TMP/rootsplit.pb.gz" share work_a)" 30 \
	"work_a in $(q "$TMP/rootsplit.pb.gz" share work_a)%"

# The parsers: every file above was parsed in processes of their own, as
# nobody, within their memory limit.
parsers_ok() {
	local role pid
	for role in symbols tables; do
		pid=$(pgrep -P "$DAEMON_PID" -x "cprofd-$role") || { echo "no $role parser"; return 1; }
		grep -q "^Uid:.*65534" "/proc/$pid/status" || { echo "$role parser not nobody"; return 1; }
		grep -q "^Max data size *536870912 " "/proc/$pid/limits" ||
			{ echo "$role parser: $(grep 'Max data' "/proc/$pid/limits")"; return 1; }
		[ "$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")" -lt $((512 * 1024)) ] ||
			{ echo "$role parser over 512 MiB"; return 1; }
	done
}
why=$(parsers_ok)
check "parsers: two processes, as nobody, each within --parser-memory" test -z "$why" "$why"

# A parser that hangs (stopped here, standing in for a bug no input is known
# to reach) costs one object its names, for one --parser-timeout, and is
# restarted; the daemon answers meanwhile.
spid=$(pgrep -P "$DAEMON_PID" -x cprofd-symbols)
fails=$(metric 'cprofd_parser_failures_total{role="symbols",reason="timeout"}')
# the hung request is about another program than the next one: whichever of
# its objects is blamed (syscalls, libc, ld.so), split's work_a is not
"$B/workloads/syscalls" 6 >"$TMP/hang.out" 2>&1 &
hpid=$!
"$B/workloads/split" 12 >"$TMP/next.out" 2>&1 &
npid=$!
kill -STOP "$spid"
t0=$(date +%s)
curl -sf --max-time 30 -o "$TMP/hang.pb.gz" "$URL/debug/pprof/profile?seconds=2&pid=$hpid" &
cpid=$!
sleep 3
check "hung parser: the daemon answers every endpoint meanwhile" \
	curl -sf --max-time 3 -o /dev/null "$URL/metrics" "/metrics did not answer"
wait "$cpid"
check "hung parser: the profile comes after the timeout ($(( $(date +%s) - t0 )) s)" \
	test -s "$TMP/hang.pb.gz" "no profile"
check "hung parser: killed and counted" test "$(metric 'cprofd_parser_failures_total{role="symbols",reason="timeout"}')" \
	-gt "${fails:-0}" "not counted"
check "hung parser: its object remembered as bad" test "$(metric 'cprofd_parser_bad_objects{role="symbols"}')" \
	-ge 1 "none"
! kill -0 "$spid" 2>/dev/null
check "hung parser: gone" test $? = 0 "pid $spid still there"
curl -sf --max-time 20 -o "$TMP/after.pb.gz" "$URL/debug/pprof/profile?seconds=2&pid=$npid"
check "hung parser: a fresh one names the next profile" \
	ge "$(q "$TMP/after.pb.gz" share work_a)" 30 "work_a in $(q "$TMP/after.pb.gz" share work_a)%"
wait "$hpid" "$npid"

# the budget held through all of it
rss=$(metric process_resident_memory_bytes)
check "memory: RSS $((${rss%.*} / 1048576)) MiB, within the 96 MiB budget" \
	test "${rss%.*}" -lt $((96 * 1048576)) "RSS ${rss} bytes"
check "the daemon answers every endpoint at the end" responsive "it does not"
stop_daemon
