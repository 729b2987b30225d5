#!/usr/bin/env bash
# cprof-ctl without cprofd: argument errors, an unreachable daemon, files that
# are not profiles, and (when python3 is here) collect (live and from the
# history), diff, history, top and status against a fake cprofd on a Unix
# socket and on TCP. One "PASS: name" or "FAIL: name: why" line per case;
# always exits 0, tests/run.sh counts.
set -u
cd "$(dirname "$0")/../.." || exit 0
CTL=${CPROF_CTL:-$PWD/build/cprof-ctl}
T=$(mktemp -d /tmp/cprof-cli.XXXXXX)
SERVER_PID=
cleanup() {
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

pass() { echo "PASS: cli: $1"; }
fail() { echo "FAIL: cli: $1: $2"; }

if [ ! -x "$CTL" ]; then
	fail build "$CTL is missing; run make build/cprof-ctl"
	exit 0
fi

# run ARGS...: cprof-ctl in $T/cwd, leaving $rc, $out and $err.
mkdir -p "$T/cwd"
run() {
	(cd "$T/cwd" && "$CTL" "$@" >"$T/stdout" 2>"$T/stderr")
	rc=$?
	out=$(cat "$T/stdout")
	err=$(cat "$T/stderr")
}

# expect NAME RC STDERR-REGEX ARGS...: exit code and a one-line stderr.
expect() {
	local name=$1 want_rc=$2 want_err=$3
	shift 3
	run "$@"
	if [ "$rc" != "$want_rc" ]; then
		fail "$name" "exit $rc, want $want_rc (stderr: $err)"
	elif [ "$(wc -l <"$T/stderr")" != 1 ]; then
		fail "$name" "stderr is not one line: $err"
	elif ! grep -Eq -- "$want_err" "$T/stderr"; then
		fail "$name" "stderr \"$err\" does not match /$want_err/"
	else
		pass "$name"
	fi
}

# ---- no daemon needed -------------------------------------------------------

expect "unreachable socket" 1 \
	'^cprof-ctl: cannot reach cprofd at /nonexistent: no such file or directory; is it running\? \(sudo cprofd\)$' \
	collect cpu 1s --socket /nonexistent
expect "unreachable socket, status" 1 '^cprof-ctl: cannot reach cprofd at /nonexistent: ' \
	--socket /nonexistent status
expect "unreachable url" 1 '^cprof-ctl: cannot reach cprofd at http://127\.0\.0\.1:1: connection refused; is it running\?' \
	status --url http://127.0.0.1:1

bad_dur='^cprof-ctl: bad duration "[^"]*": must be whole seconds from 1s to 3600s'
for d in 0s 0 500ms 1.5s 1h1s 3601 10x 1s1m "" s 99999999999999999999s; do
	expect "duration \"$d\" refused" 2 "$bad_dur" collect cpu "$d"
done
expect "negative duration" 2 '^cprof-ctl: unknown option -5$' collect cpu -5s
expect "negative duration after --" 2 "$bad_dur" collect cpu -- -5s
expect "top of a text file" 1 '^cprof-ctl: /etc/passwd: not a pprof profile$' top /etc/passwd
: >"$T/empty"
expect "top of an empty file" 1 "^cprof-ctl: $T/empty: not a pprof profile$" top "$T/empty"
expect "top of a missing file" 1 '^cprof-ctl: cannot read /nonexistent\.pb\.gz: no such file or directory$' \
	top /nonexistent.pb.gz

expect "no command" 2 '^cprof-ctl: no command given' --socket /x
expect "unknown command" 2 '^cprof-ctl: unknown command "frobnicate"' frobnicate
expect "unknown view" 2 '^cprof-ctl: unknown view "gpu"' collect gpu 10s
expect "collect without duration" 2 '^cprof-ctl: collect needs a VIEW and a DURATION' collect cpu
expect "extra argument" 2 '^cprof-ctl: collect: unexpected argument "zzz"' collect cpu 1s zzz
expect "unknown option" 2 '^cprof-ctl: unknown option --frob$' status --frob
expect "option without value" 2 '^cprof-ctl: option --pid needs a value$' collect cpu 1s --pid
expect "bad --pid" 2 '^cprof-ctl: --pid must be a process id' collect cpu 1s --pid 0
expect "--pid above pid_max" 2 '^cprof-ctl: --pid must be a process id' collect cpu 1s --pid 4194305
expect "bad --hz" 2 '^cprof-ctl: --hz must be a whole number from 1 to 1000, not "0"' collect cpu 1s --hz 0
expect "--hz on heap" 2 '^cprof-ctl: --hz sets the rate of CPU samples .the cpu and wall views., not heap$' collect heap 1s --hz 99
expect "status takes no --pid" 2 '^cprof-ctl: status does not take --pid$' status --pid 1
expect "top takes no -o" 2 '^cprof-ctl: top does not take -o$' top x -o y
# the history: collect --since/--from, diff, history
expect "unreachable socket, history" 1 \
	'^cprof-ctl: cannot reach cprofd at /nonexistent: no such file or directory; is it running\? \(sudo cprofd\)$' \
	--socket /nonexistent history
expect "unreachable socket, collect --since" 1 '^cprof-ctl: cannot reach cprofd at /nonexistent: ' \
	collect cpu --since 1h --socket /nonexistent
expect "unreachable socket, diff" 1 '^cprof-ctl: -2h\.\.-1h: cannot reach cprofd at /nonexistent: ' \
	diff cpu -2h..-1h -1h..now --socket /nonexistent
if ls "$T/cwd" | grep -q 'diff'; then fail "no diff files without cprofd" "$(ls "$T/cwd")"; else pass "no diff files without cprofd"; fi
expect "collect with a DURATION and --since" 2 \
	'^cprof-ctl: collect takes a DURATION \(profile from now on\) or --since \(read the history\), not both: drop "10s" or --since$' \
	collect cpu 10s --since 1h
expect "collect with a DURATION and --from" 2 '^cprof-ctl: collect takes a DURATION .* or --from .*, not both' \
	collect cpu --from -1h 10s
expect "--since with --from" 2 '^cprof-ctl: --since and --from exclude each other' collect cpu --since 1h --from -2h
expect "--since with --to" 2 '^cprof-ctl: --since and --to exclude each other' collect cpu --since 1h --to now
expect "--to without --from" 2 '^cprof-ctl: --to needs --from' collect cpu --to -1h
expect "empty --from" 2 '^cprof-ctl: --from needs a time' collect cpu --from ""
expect "--hz with --since" 2 '^cprof-ctl: --hz does not apply to the history' collect cpu --since 1h --hz 99
bad_since='^cprof-ctl: bad --since "[^"]*": must be a time back from now like 90s, 30m, 1h30m or 2d'
for d in 5x 90 0s 0h0m 1.5h 500ms 1m1h 1h1h 2w "" h - --1h 1h- 1h\ 30m; do
	expect "--since \"$d\" refused" 2 "$bad_since" collect cpu --since "$d"
done
for d in 36526d 876601h 99999999999999999999s; do
	expect "--since \"$d\" refused" 2 "^cprof-ctl: bad --since \"$d\": reaches back more than 36525d \\(100 years\\)$" \
		collect cpu --since "$d"
done
expect "--since twice, the second bad" 2 "$bad_since" collect cpu --since 1h --since 5x
expect "collect --since, no VIEW" 2 '^cprof-ctl: collect needs a VIEW' collect --since 1h
expect "status takes no --since" 2 '^cprof-ctl: status does not take --since$' status --since 1h
expect "top takes no --from" 2 '^cprof-ctl: top does not take --from$' top x --from -1h
bad_range='^cprof-ctl: bad range "[^"]*": must be FROM..TO with a time on each side'
for r in -2h-1h -2h ..now -1h.. .. now -2h..-1h..now 2026-12-03T17:00:00Z; do
	expect "diff: range \"$r\" refused" 2 "$bad_range" diff cpu "$r" -1h..now
	expect "diff: second range \"$r\" refused" 2 "$bad_range" diff cpu -2h..-1h "$r"
done
expect "diff without ranges" 2 '^cprof-ctl: diff needs a VIEW and two ranges' diff cpu -2h..-1h
expect "diff of an unknown view" 2 '^cprof-ctl: unknown view "gpu"' diff gpu -2h..-1h -1h..now
expect "diff: extra argument" 2 '^cprof-ctl: diff: unexpected argument "x"' diff cpu -2h..-1h -1h..now x
expect "diff takes no --hz" 2 '^cprof-ctl: diff does not take --hz$' diff cpu -2h..-1h -1h..now --hz 99
expect "history: extra argument" 2 '^cprof-ctl: history: unexpected argument "cpu"$' history cpu
expect "history takes no --pid" 2 '^cprof-ctl: history does not take --pid$' history --pid 1

expect "--socket with --url" 2 '^cprof-ctl: --socket and --url exclude each other' \
	--socket /x --url http://127.0.0.1:6070 status
expect "bad --url" 2 '^cprof-ctl: --url must look like http://HOST:PORT' --url 127.0.0.1:6070 status

run --help
if [ "$rc" = 0 ] && grep -q '^usage: cprof-ctl' "$T/stdout"; then pass "--help"; else fail "--help" "exit $rc: $out"; fi

# ---- against a fake cprofd --------------------------------------------------

if ! command -v python3 >/dev/null; then
	echo "SKIP: cli: fake cprofd: python3 is not installed"
	exit 0
fi

# A small valid profile, protobuf encoded by hand: two sample records (3 + 1
# samples, so collect reports 4) of type
# samples/count and cpu/nanoseconds over one function "main".
cat >"$T/fake.py" <<'EOF'
import gzip, http.server, os, socketserver, sys

def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])

def field(num, payload):
    if isinstance(payload, int):
        return varint(num << 3) + varint(payload)
    return varint(num << 3 | 2) + varint(len(payload)) + payload

def packed(nums):
    return b"".join(varint(n) for n in nums)

def profile(note=None):
    strings = ["", "samples", "count", "cpu", "nanoseconds", "main", "main.c"]
    p = field(1, field(1, 1) + field(2, 2))                 # samples/count
    p += field(1, field(1, 3) + field(2, 4))                # cpu/nanoseconds
    p += field(2, field(1, packed([1])) + field(2, packed([3, 30000000])))
    p += field(2, field(1, packed([1])) + field(2, packed([1, 10000000])))
    p += field(4, field(1, 1) + field(3, 0x1000) + field(4, field(1, 1) + field(2, 7)))
    p += field(5, field(1, 1) + field(2, 5) + field(3, 5) + field(4, 6))
    p += b"".join(field(6, s.encode()) for s in strings)
    p += field(11, field(1, 3) + field(2, 4)) + field(12, 10000000)
    p += field(14, 3)
    if note:                                                # comment: the X-Cprof-Note
        p += field(6, note.encode()) + field(13, len(strings))
    return p

METRICS = b"""# HELP cprofd_view_running Whether the view is collecting.
# TYPE cprofd_view_running gauge
cprofd_view_running{view="cpu"} 1
cprofd_view_running{view="heap"} 0
cprofd_view_running{view="offcpu"} 1

# HELP cprofd_samples_total Samples taken.
cprofd_samples_total{view="cpu"} 12345
cprofd_drops_total{view="cpu",reason="stacks map full"} 7
cprofd_uptime_seconds 42.5 1700000000000
"""

HISTORY = b"""# view from to windows bytes
cpu 2026-12-03T17:00:00Z 2026-12-03T17:10:00Z 60 123456
offcpu 2026-12-03T16:00:00Z 2026-12-03T17:10:00Z 420 987
# window 10 s; kept 124443 bytes (5242880 uncompressed); dropped by --retention: 3 windows
"""
EARLY = "the cpu history starts at 2026-12-03T17:00:00Z: the range asked begins 1800 s before it"

LOG = os.environ["FAKE_LOG"]

class Handler(http.server.BaseHTTPRequestHandler):
    def reply(self, code, body, note=None):
        self.send_response(code)
        if note:
            self.send_header("X-Cprof-Note", note)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with open(LOG, "a") as f:
            f.write(self.path + "\n")
        path, _, query = self.path.partition("?")
        params = query.split("&")
        if "pid=13" in params:
            self.reply(400, b"pid: no process 13\n")
        elif "start=-9h" in params:
            self.reply(404, b"the history keeps no cpu window between 2026-12-03T08:00:00Z and 2026-12-03T09:00:00Z\n")
        elif "start=-30d" in params:
            self.reply(200, gzip.compress(profile(EARLY), mtime=0), EARLY)
        elif path == "/debug/history":
            if isinstance(self.server, UnixServer):
                self.reply(200, HISTORY)
            else:
                self.reply(404, b"no history is kept: start cprofd with --continuous VIEW,... or all\n")
        elif path == "/debug/pprof/profile":
            self.reply(200, gzip.compress(profile(), mtime=0))
        elif path == "/debug/pprof/offcpu":
            self.reply(200, profile())
        elif path == "/debug/pprof/heap":
            self.reply(200, b"this is not a profile\n")
        elif path == "/debug/pprof/mutex":
            self.reply(500, b"")
        elif path == "/metrics":
            self.reply(200, METRICS)
        else:
            self.reply(404, b"404 page not found\n")

    def address_string(self):
        return "client"

    def log_message(self, *args):
        pass

class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    def get_request(self):
        conn, _ = super().get_request()
        return conn, ("client", 0)

if sys.argv[1] == "write":
    open(sys.argv[2], "wb").write(gzip.compress(profile(), mtime=0))
    open(sys.argv[3], "wb").write(profile())
    sys.exit(0)
unix = UnixServer(sys.argv[1], Handler)
tcp = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(tcp.server_address[1]))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
import threading
threading.Thread(target=tcp.serve_forever, daemon=True).start()
unix.serve_forever()
EOF

export FAKE_LOG=$T/requests.log
: >"$FAKE_LOG"
SOCK=$T/cprofd.sock
python3 "$T/fake.py" "$SOCK" "$T/port" 2>"$T/server.err" &
SERVER_PID=$!
for _ in $(seq 50); do
	[ -S "$SOCK" ] && [ -s "$T/port" ] && break
	sleep 0.1
done
if ! [ -S "$SOCK" ] || ! [ -s "$T/port" ]; then
	fail "fake cprofd" "did not start: $(cat "$T/server.err")"
	exit 0
fi
URL=http://127.0.0.1:$(cat "$T/port")
python3 "$T/fake.py" write "$T/want.pb.gz" "$T/want.pb"

last_request() { tail -n 1 "$FAKE_LOG"; }

run --socket "$SOCK" collect cpu 1m30s --pid 7 --pid 7 --pid 8 --hz 99 -o "$T/out.pb.gz"
req=$(last_request)
if [ "$rc" != 0 ]; then
	fail "collect over the socket" "exit $rc: $err"
elif [ "$req" != "/debug/pprof/profile?seconds=90&hz=99&pid=7&pid=8" ]; then
	fail "collect over the socket" "asked $req"
elif ! cmp -s "$T/out.pb.gz" "$T/want.pb.gz"; then
	fail "collect over the socket" "the file differs from what cprofd sent"
elif ! head -n 1 "$T/stdout" | grep -Eq "^wrote $T/out\.pb\.gz \([0-9]+ bytes, 4 samples\)$"; then
	fail "collect over the socket" "stdout: $out"
elif [ -n "$(ls -A "$T" | grep '^\.out')" ]; then
	fail "collect over the socket" "a temporary file was left"
else
	pass "collect over the socket"
fi

for v in heap allocs block mutex offcpu; do
	run --url "$URL" collect "$v" 2m
	want="/debug/pprof/$v?seconds=120"
	req=$(last_request)
	if [ "$req" = "$want" ]; then pass "collect $v asks $want"; else fail "collect $v asks $want" "asked $req"; fi
done

run --url "$URL/" collect offcpu 5
if [ "$rc" = 0 ] && ls "$T/cwd" | grep -Eq '^offcpu-[0-9]{8}-[0-9]{6}\.pb\.gz$'; then
	pass "collect over TCP, default file name"
else
	fail "collect over TCP, default file name" "exit $rc, files: $(ls "$T/cwd"), stderr: $err"
fi

rm -f "$T/refused.pb.gz"
expect "collect refused by cprofd" 1 '^cprof-ctl: cprofd refused the request: pid: no process 13$' \
	--socket "$SOCK" collect cpu 1s --pid 13 -o "$T/refused.pb.gz"
if [ -e "$T/refused.pb.gz" ] || ls -A "$T" | grep -q '^\.refused'; then
	fail "no file after a refusal" "$(ls -A "$T")"
else
	pass "no file after a refusal"
fi
expect "collect: server error without a body" 1 '^cprof-ctl: cprofd failed to serve the request: HTTP 500$' \
	--url "$URL" collect mutex 1s -o "$T/mutex.pb.gz"
expect "collect: not a profile" 1 '^cprof-ctl: cprofd sent 22 bytes that are not a pprof profile; nothing written$' \
	--url "$URL" collect heap 1s -o "$T/heap.pb.gz"
if [ -e "$T/heap.pb.gz" ]; then fail "no file when not a profile" "heap.pb.gz written"; else pass "no file when not a profile"; fi
expect "collect into a missing directory" 1 "^cprof-ctl: cannot write $T/nodir/x\.pb\.gz: no such file or directory$" \
	--socket "$SOCK" collect cpu 1s -o "$T/nodir/x.pb.gz"

run --socket "$SOCK" status
if [ "$rc" != 0 ]; then
	fail "status" "exit $rc: $err"
elif ! grep -qx 'views running: cpu, offcpu' "$T/stdout" || ! grep -qx 'views stopped: heap' "$T/stdout"; then
	fail "status: views" "$out"
elif grep -q -e '^#' -e 'cprofd_view_running' "$T/stdout"; then
	fail "status: table" "comments or view lines in the table: $out"
elif ! grep -Eq '^  cprofd_drops_total\{view="cpu",reason="stacks map full"\} +7$' "$T/stdout" ||
     ! grep -Eq '^  cprofd_uptime_seconds +42\.5$' "$T/stdout"; then
	fail "status: table" "$out"
else
	pass "status"
fi

# ---- the history, from a fake cprofd -----------------------------------------

run --socket "$SOCK" collect cpu --since 1h30m --pid 7 -o "$T/since.pb.gz"
req=$(last_request)
if [ "$rc" != 0 ]; then
	fail "collect --since" "exit $rc: $err"
elif [ "$req" != "/debug/pprof/profile?start=-1h30m&pid=7" ]; then
	fail "collect --since" "asked $req"
elif ! cmp -s "$T/since.pb.gz" "$T/want.pb.gz"; then
	fail "collect --since" "the file differs from what cprofd sent"
elif ! head -n 1 "$T/stdout" | grep -Eq "^wrote $T/since\.pb\.gz \([0-9]+ bytes, 4 samples\)$" ||
     [ "$(wc -l <"$T/stdout")" -lt 3 ]; then
	fail "collect --since" "stdout: $out"
elif [ -n "$err" ]; then
	fail "collect --since" "stderr: $err"
else
	pass "collect --since"
fi

run --url "$URL" collect offcpu --since=-2d
req=$(last_request)
if [ "$rc" = 0 ] && [ "$req" = "/debug/pprof/offcpu?start=-2d" ] &&
   ls "$T/cwd" | grep -Eq '^offcpu-[0-9]{8}-[0-9]{6}(-[0-9]+)?\.pb\.gz$'; then
	pass "collect --since -2d, default file name"
else
	fail "collect --since -2d, default file name" "exit $rc, asked $req, files: $(ls "$T/cwd"), stderr: $err"
fi

run --socket "$SOCK" collect heap --from 2026-12-03T17:00:00+01:00 --to "17 00" -o "$T/from.pb.gz"
req=$(last_request)
if [ "$req" = "/debug/pprof/heap?start=2026-12-03T17:00:00%2B01:00&end=17%2000" ]; then
	pass "collect --from --to: times sent as given, escaped"
else
	fail "collect --from --to: times sent as given, escaped" "asked $req"
fi
run --socket "$SOCK" collect cpu --from -1h -o "$T/from.pb.gz"
req=$(last_request)
if [ "$rc" = 0 ] && [ "$req" = "/debug/pprof/profile?start=-1h" ]; then
	pass "collect --from without --to"
else
	fail "collect --from without --to" "exit $rc, asked $req: $err"
fi

run --socket "$SOCK" collect cpu --since 30d -o "$T/early.pb.gz"
if [ "$rc" = 0 ] &&
   [ "$err" = "cprof-ctl: note: the cpu history starts at 2026-12-03T17:00:00Z: the range asked begins 1800 s before it" ]; then
	pass "collect --since: the range partly outside is noted"
else
	fail "collect --since: the range partly outside is noted" "exit $rc, stderr: $err"
fi

expect "collect --since refused by cprofd" 1 '^cprof-ctl: cprofd refused the request: the history keeps no cpu window between ' \
	--socket "$SOCK" collect cpu --since 9h -o "$T/nine.pb.gz"
if [ -e "$T/nine.pb.gz" ]; then fail "no file after a refused --since" "nine.pb.gz written"; else pass "no file after a refused --since"; fi

run --socket "$SOCK" history
if [ "$rc" != 0 ]; then
	fail "history" "exit $rc: $err"
elif [ "$(last_request)" != "/debug/history" ]; then
	fail "history" "asked $(last_request)"
elif ! grep -Eq '^VIEW +FROM +TO +WINDOWS +SIZE$' "$T/stdout" ||
     ! grep -Eq '^cpu +2026-12-03T17:00:00Z +2026-12-03T17:10:00Z +60 +120\.6 KiB$' "$T/stdout" ||
     ! grep -Eq '^offcpu +2026-12-03T16:00:00Z +2026-12-03T17:10:00Z +420 +987 B$' "$T/stdout" ||
     ! grep -qx 'window 10 s; kept 121.5 KiB (5.0 MiB uncompressed); dropped by --retention: 3 windows' "$T/stdout" ||
     grep -q '^#' "$T/stdout"; then
	fail "history" "stdout: $out"
else
	pass "history"
fi
expect "history: none kept" 1 \
	'^cprof-ctl: cprofd refused the request: no history is kept: start cprofd with --continuous VIEW,\.\.\. or all$' \
	--url "$URL" history

run --socket "$SOCK" diff cpu -2h..-1h -1h..now --pid 7 -o "$T/d"
reqs=$(tail -n 2 "$FAKE_LOG" | tr '\n' ' ')
if [ "$rc" != 0 ]; then
	fail "diff" "exit $rc: $err"
elif [ "$reqs" != "/debug/pprof/profile?start=-2h&end=-1h&pid=7 /debug/pprof/profile?start=-1h&end=now&pid=7 " ]; then
	fail "diff" "asked $reqs"
elif ! cmp -s "$T/d-before.pb.gz" "$T/want.pb.gz" || ! cmp -s "$T/d-after.pb.gz" "$T/want.pb.gz"; then
	fail "diff" "the files differ from what cprofd sent: $(ls "$T")"
elif ! grep -qx "compare them with: go tool pprof -diff_base $T/d-before.pb.gz $T/d-after.pb.gz" "$T/stdout" ||
     ! grep -qx 'before (-2h..-1h):' "$T/stdout" || ! grep -qx 'after (-1h..now):' "$T/stdout"; then
	fail "diff" "stdout: $out"
else
	pass "diff"
fi

run --url "$URL" diff cpu 2026-12-03T17:00:00Z..2026-12-03T17:05:00Z -30d..now
if [ "$rc" = 0 ] && [ "$(ls "$T/cwd" | grep -Ec '^cpu-diff-[0-9]{8}-[0-9]{6}(-[0-9]+)?-(before|after)\.pb\.gz$')" = 2 ] &&
   [ "$err" = "cprof-ctl: note on after (-30d..now): the cpu history starts at 2026-12-03T17:00:00Z: the range asked begins 1800 s before it" ]; then
	pass "diff: default names, a note"
else
	fail "diff: default names, a note" "exit $rc, files: $(ls "$T/cwd"), stderr: $err"
fi

expect "diff: a range refused" 1 '^cprof-ctl: -9h\.\.-8h: cprofd refused the request: the history keeps no cpu window' \
	--socket "$SOCK" diff cpu -10h..-9h -9h..-8h -o "$T/refused"
if ls "$T" | grep -q '^refused'; then fail "no diff files after a refusal" "$(ls "$T")"; else pass "no diff files after a refusal"; fi

for f in want.pb.gz want.pb; do
	run top "$T/$f" -n 5
	if [ "$rc" = 0 ] && [ -n "$out" ]; then pass "top $f"; else fail "top $f" "exit $rc: $err"; fi
done
run top "$T/want.pb.gz" --sample-index samples
if [ "$rc" = 0 ]; then pass "top --sample-index samples"; else fail "top --sample-index samples" "exit $rc: $err"; fi
run top "$T/want.pb.gz" --sample-index 1
if [ "$rc" = 0 ]; then pass "top --sample-index 1"; else fail "top --sample-index 1" "exit $rc: $err"; fi
expect "top --sample-index unknown" 1 '^cprof-ctl: .*want\.pb\.gz has no sample type "bytes"; it has: samples, cpu$' \
	top "$T/want.pb.gz" --sample-index bytes
exit 0
