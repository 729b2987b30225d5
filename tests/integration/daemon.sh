#!/usr/bin/env bash
# cprofd's contract around the profile: start-up failures, bad requests,
# clients that leave, --pid, and cprof-ctl against the real daemon.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
need_root "daemon"

progs() { bpftool prog show 2>/dev/null | grep -c cpu_sample; }

# Start-up failures: one line, non-zero, nothing left attached.
before=$(progs)
if id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null; then
	out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$B/cprofd" --listen none --socket none 2>&1)
	rc=$?
	check "not root: refused with one clear line" test "$rc" != 0 -a "$(echo "$out" | wc -l)" = 1 \
		"rc=$rc: $out"
	check "not root: says to run as root" grep -q "must run as root" <<<"$out" "said: $out"
else
	skip "not root" "no nobody user or setpriv"
fi
python3 -c "import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', $PORT)); s.listen(); time.sleep(5)" &
blocker=$!
sleep 0.5
out=$("$B/cprofd" --listen "127.0.0.1:$PORT" --socket none 2>&1)
rc=$?
kill "$blocker" 2>/dev/null; wait "$blocker" 2>/dev/null
check "port in use: refused with one line naming the address" \
	test "$rc" != 0 -a "$(echo "$out" | wc -l)" = 1 "rc=$rc: $out"
check "port in use: says the address is in use" grep -q "127.0.0.1:$PORT: Address already in use" <<<"$out" "said: $out"
check "port in use: no BPF program left loaded" test "$(progs)" = "$before" "programs loaded: $(progs)"
out=$("$B/cprofd" --pid 999999 --listen none --socket none 2>&1)
check "--pid of no process: one clear line" grep -qx "cprofd: cannot profile pid 999999: no such process" \
	<<<"$out" "said: $out"
out=$("$B/cprofd" --hz 5000 2>&1)
check "--hz out of range: refused" grep -q "expected a rate from 1 to 1000" <<<"$out" "said: $out"

start_daemon

# Bad requests get 4xx with a one-line reason; the daemon stays up.
status() { curl -s -o "$TMP/body" -w '%{http_code}' "$URL$1"; }
for case in "seconds=abc 400" "seconds=0 400" "seconds=-3 400" "seconds=3601 400" "hz=5000 400" \
	    "hz=0 400" "pid=abc 400" "pid=999999 404" "pid=0 400"; do
	set -- $case
	code=$(status "/debug/pprof/profile?$1")
	check "bad request $1: $2 with a one-line reason" test "$code" = "$2" -a "$(wc -l <"$TMP/body")" = 1 \
		"got $code: $(head -c 200 "$TMP/body")"
done
code=$(status /debug/pprof/nonesuch)
check "unknown path: 404" test "$code" = 404 "got $code"
code=$(status /debug/pprof/)
check "index page: 200 with a link to profile" test "$code" = 200 -a -n "$(grep -o 'href="profile' "$TMP/body")" \
	"got $code"

# A client that hangs up ends its window; the daemon goes on.
curl -s -m 1 -o /dev/null "$URL/debug/pprof/profile?seconds=30" 
sleep 0.5
hangups=$(curl -sf "$URL/metrics" | awk '/^cprofd_http_hangups_total/ { print $2 }')
check "hang-up: the window was ended" test "$hangups" = 1 "hangups counted: $hangups"
code=$(status "/debug/pprof/profile?seconds=1")
check "hang-up: the next request is served" test "$code" = 200 "got $code"

# A client that sends its request and closes its sending side (a half-close)
# still gets its profile: a departed client is told apart by the reset its
# end answers the interim "102 Processing" with.
python3 - "$PORT" >"$TMP/halfclose.out" 2>&1 <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /debug/pprof/profile?seconds=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    data += b
# skip interim (1xx) responses: the final one follows them
while data.startswith(b"HTTP/1.1 1"):
    data = data[data.find(b"\r\n\r\n") + 4:]
status = data.split(b"\r\n", 1)[0].decode(errors="replace")
print(status, len(data), b"\x1f\x8b" in data)
PY
read -r _ hc_code _ hc_gzip < <(awk '{ print $1, $2, $3, $NF }' "$TMP/halfclose.out")
check "half-close: the profile is still served ($(head -c 80 "$TMP/halfclose.out"))" \
	test "$hc_code" = 200 -a "$hc_gzip" = True "got: $(head -c 200 "$TMP/halfclose.out")"

# cprof-ctl against the daemon, over the Unix socket.
start_workload "$TMP/w.out" "$B/workloads/split" 4
(cd "$TMP" && "$B/cprof-ctl" --socket "$SOCK" collect cpu 2s --pid "$WPID") >"$TMP/collect.out" 2>&1
rc=$?
wait "$WPID"
file=$(ls "$TMP"/cpu-*.pb.gz 2>/dev/null | head -1)
check "cprof-ctl collect: exit 0 and a cpu-<time>.pb.gz file" test "$rc" = 0 -a -n "$file" \
	"rc=$rc: $(head -c 300 "$TMP/collect.out")"
check "cprof-ctl collect: prints a top table naming work_a" grep -q work_a "$TMP/collect.out" \
	"$(head -c 300 "$TMP/collect.out")"
if [ -n "$file" ]; then
	"$B/cprof-ctl" top "$file" -n 5 >"$TMP/top.txt" 2>&1
	check "cprof-ctl top: reads the file" grep -q work_a "$TMP/top.txt" "$(head -c 300 "$TMP/top.txt")"
fi
"$B/cprof-ctl" --url "$URL" status >"$TMP/status.txt" 2>&1
check "cprof-ctl status: shows the cpu view and the drop counters" \
	grep -q 'counts_map_full' "$TMP/status.txt" "$(head -c 300 "$TMP/status.txt")"
check "SIGTERM: exit 0" stop_daemon "non-zero exit"
check "SIGTERM: the socket file is removed" test ! -e "$SOCK" "$SOCK remains"
out=$("$B/cprof-ctl" --socket "$SOCK" status 2>&1)
rc=$?
check "cprof-ctl with no daemon: one line, exit 1" test "$rc" = 1 -a "$(echo "$out" | wc -l)" = 1 "rc=$rc: $out"

# --pid: only that process, with no pid= in the request.
# Both outlive a slow start (CI under load took over 5 s) and are killed.
start_workload "$TMP/t.out" "$B/workloads/split" 60
T=$WPID
start_workload "$TMP/o.out" "$B/workloads/syscalls" 60
O=$WPID
start_daemon --pid "$T"
curl -sf -o "$TMP/only.pb.gz" "$URL/debug/pprof/profile?seconds=2"
pids=$(q "$TMP/only.pb.gz" pids | sort -u | tr '\n' ' ')
check "--pid: only the target is sampled" test "$pids" = "$T " "pids: $pids"
code=$(status "/debug/pprof/profile?seconds=1&pid=$WPID")
check "--pid: asking for another process is a 400" test "$code" = 400 "got $code"
stop_daemon
kill "$T" "$O" 2>/dev/null
wait
