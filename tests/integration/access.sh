#!/usr/bin/env bash
# Who sees what: root and the --group see every process; another local user
# only their own processes (checked in the cpu, block and mutex views),
# without kernel addresses, over the Unix socket
# and over loopback TCP alike; beyond loopback only TLS with a bearer token.
# Then SIGHUP with a changed config file, the capabilities kept after
# start-up, and go tool pprof showing cprofd's reasons.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
need_root "access control"

U=cproft$$ G=cprofg$$ OTHER=cprofo$$
groupadd "$G" && useradd -M -N -g nogroup -s /usr/sbin/nologin "$U" &&
	useradd -M -N -g nogroup -s /usr/sbin/nologin "$OTHER" || { fail "test users" "cannot add them"; exit 1; }
W=$(mktemp -d /tmp/cprof-acc.XXXXXX)
chmod 755 "$W"
mkdir "$W/out" && chmod 1777 "$W/out"	# what the users' curls write
cp "$B/workloads/split-nofp" "$W/mine"
cp "$B/workloads/split-nofp" "$W/theirs"
cleanup_users() {
	pkill -u "$U" 2>/dev/null; pkill -u "$OTHER" 2>/dev/null
	userdel "$U" 2>/dev/null; userdel "$OTHER" 2>/dev/null; groupdel "$G" 2>/dev/null
	rm -rf "$W"
	[ -n "${DUMMY:-}" ] && ip link del "$DUMMY" 2>/dev/null
	cleanup
}
trap cleanup_users EXIT
as() { local who=$1; shift; setpriv --reuid="$who" --regid=nogroup --init-groups "$@"; }
# in the background, as a user: its pid in $!, the workload's own (setpriv execs it)
spawn_as() { local who=$1; shift; setpriv --reuid="$who" --regid=nogroup --init-groups "$@" & }
# CPU time of all of pid's threads so far, ns
task_cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ n += $1 } END { printf "%.0f\n", n }'; }
# status and body of a GET as a user: STATUS in $st, body in FILE
get_as() {	# USER FILE URL [curl args...]
	local who=$1 out=$2 url=$3; shift 3
	st=$(as "$who" curl -s -o "$out" -w '%{http_code}' "$@" "$url")
}
kernel_addrs() {	# FILE: locations or mappings at kernel addresses
	go tool pprof -raw "$1" 2>/dev/null | grep -ciE '0xffff[0-9a-f]{12}|kernel\.kallsyms'
}

start_daemon --group "$G"
spawn_as "$U" "$W/mine" 300 >/dev/null 2>&1
MINE=$!
spawn_as "$OTHER" "$W/theirs" 300 >/dev/null 2>&1
THEIRS=$!
"$B/workloads/split-nofp" 300 >/dev/null 2>&1 &
ROOTS=$!
sleep 1

# 1. A user's own process, over loopback TCP and the socket.
get_as "$U" "$W/out/own.pb.gz" "$URL/debug/pprof/profile?seconds=2&pid=$MINE"
check "a user gets their own process's profile over loopback TCP (HTTP $st)" test "$st" = 200 "HTTP $st"
check "it holds their process's samples" grep -qx "$MINE" <(q "$W/out/own.pb.gz" pids) "no samples of $MINE"
get_as "$U" "$W/out/ownu.pb.gz" "http://localhost/debug/pprof/profile?seconds=1&pid=$MINE" --unix-socket "$SOCK"
check "and over the Unix socket (HTTP $st)" test "$st" = 200 "HTTP $st"

# 2. Another user's process: 403 with the reason, counted.
get_as "$U" "$W/out/theirs.txt" "$URL/debug/pprof/profile?seconds=1&pid=$THEIRS"
check "another user's process is refused with 403 (HTTP $st)" test "$st" = 403 "HTTP $st"
check "the refusal says why: $(head -c 120 "$W/out/theirs.txt")" grep -q "not yours" "$W/out/theirs.txt" "body: $(cat "$W/out/theirs.txt")"
get_as "$U" "$W/out/rootp.txt" "http://localhost/debug/pprof/profile?seconds=1&pid=$ROOTS" --unix-socket "$SOCK"
check "root's process too, over the socket (HTTP $st)" test "$st" = 403 "HTTP $st"
check "refusals are counted on /metrics" \
	grep -qE '^cprofd_access_denied_total\{reason="other_user"\} [2-9]' <(curl -s "$URL/metrics") "not counted"

# 3. The whole host, as that user: their processes only, no kernel address.
get_as "$U" "$W/out/host.pb.gz" "$URL/debug/pprof/profile?seconds=2"
pids=$(q "$W/out/host.pb.gz" pids | sort -u | tr '\n' ' ')
check "a whole-host profile for a user holds only their processes ($pids)" \
	test "$pids" = "$MINE " "pids: $pids"
n=$(kernel_addrs "$W/out/host.pb.gz")
check "and no kernel address ($n)" test "$n" = 0 "$n locations or mappings at kernel addresses"
n=$(kernel_addrs "$W/out/own.pb.gz")
check "nor does their own process's profile ($n)" test "$n" = 0 "$n kernel addresses"
sym=$(echo "0xffffffff81000000+0x401000" | as "$U" curl -s --data-binary @- "$URL/debug/pprof/symbol?pid=$MINE")
check "symbol lookups of kernel addresses answer nothing for them" \
	bash -c "! grep -qi '^0xffffffff81000000 ' <<<\"\$1\"" _ "$sym" "$sym"

# 3b. The block and mutex views, by the same rules: two users' lock
# workloads, contended at the same time; each user sees only their own.
cp "$B/workloads/locks" "$W/locks"
spawn_as "$U" "$W/locks" mutex 300 >"$W/out/lmine.out" 2>&1
LMINE=$!
spawn_as "$OTHER" "$W/locks" mutex 300 >"$W/out/ltheirs.out" 2>&1
LTHEIRS=$!
wait_for "$W/out/lmine.out" '^ready' && wait_for "$W/out/ltheirs.out" '^ready' ||
	fail "lock workloads" "not ready: $(tail -n 1 "$W/out/lmine.out" "$W/out/ltheirs.out")"
for v in block mutex; do
	as "$U" curl -s -o "$W/out/$v.pb.gz" -w '%{http_code}' "$URL/debug/pprof/$v?seconds=5" \
		>"$W/out/$v.st" &
done
curl -s -o "$TMP/rootblock.pb.gz" "$URL/debug/pprof/block?seconds=5" &
ROOTBLOCK=$!
for _ in $(seq 100); do [ "$(metric cprofd_lock_attached)" = 1 ] && break; sleep 0.1; done
sleep 0.5
kill -USR1 "$LMINE" "$LTHEIRS"
wait_for "$W/out/lmine.out" '^done' && wait_for "$W/out/ltheirs.out" '^done' ||
	fail "lock workloads" "did not finish"
for v in block mutex; do
	for _ in $(seq 100); do [ -s "$W/out/$v.st" ] && break; sleep 0.1; done
	pids=$(q "$W/out/$v.pb.gz" pids | sort -u | tr '\n' ' ')
	check "$v: a whole-host profile for a user holds only their lock workload (HTTP $(cat "$W/out/$v.st"); pids $pids)" \
		test "$pids" = "$LMINE " "pids: $pids"
done
wait "$ROOTBLOCK"
n=$(q "$TMP/rootblock.pb.gz" pids | sort -u | grep -cxE "$LMINE|$LTHEIRS")
check "block: root's whole-host profile holds both users' lock workloads ($n of 2)" test "$n" = 2 "$n"
get_as "$U" "$W/out/lth.txt" "$URL/debug/pprof/mutex?seconds=1&pid=$LTHEIRS"
check "mutex: another user's process is refused with 403 (HTTP $st)" test "$st" = 403 "HTTP $st"
get_as "$U" "$W/out/lown.txt" "http://localhost/debug/pprof/block?seconds=1&pid=$LMINE" --unix-socket "$SOCK"
check "block: their own process over the socket (HTTP $st)" test "$st" = 200 "HTTP $st"
kill "$LMINE" "$LTHEIRS" 2>/dev/null

# 4. Root sees everything, kernel frames included; so does the group.
curl -s -o "$TMP/rooth.pb.gz" "$URL/debug/pprof/profile?seconds=2"
n=$(q "$TMP/rooth.pb.gz" pids | sort -u | grep -cxE "$MINE|$THEIRS|$ROOTS")
check "root sees every user's processes ($n of 3)" test "$n" = 3 "$n"
check "with kernel frames" test "$(kernel_addrs "$TMP/rooth.pb.gz")" -gt 0 "none"
usermod -a -G "$G" "$U"
get_as "$U" "$W/out/grp.pb.gz" "$URL/debug/pprof/profile?seconds=2&pid=$THEIRS"
check "a member of --group $G gets another user's process (HTTP $st)" test "$st" = 200 "HTTP $st"
get_as "$U" "$W/out/grph.pb.gz" "http://localhost/debug/pprof/profile?seconds=2" --unix-socket "$SOCK"
n=$(q "$W/out/grph.pb.gz" pids | sort -u | grep -cxE "$MINE|$THEIRS|$ROOTS")
check "and the whole host over the socket ($n of 3), kernel frames included" \
	test "$n" = 3 -a "$(kernel_addrs "$W/out/grph.pb.gz")" -gt 0 "$n processes"
gpasswd -d "$U" "$G" >/dev/null

# 5. go tool pprof prints cprofd's reason for a bad request.
if command -v go >/dev/null; then
	out=$(HOME=$TMP go tool pprof -raw "$URL/debug/pprof/profile?seconds=abc" 2>&1)
	check "go tool pprof shows cprofd's one-line reason: $(grep -m1 -o 'seconds[^\"]*' <<<"$out")" \
		grep -q "seconds: must be" <<<"$out" "it said: $(tail -n 2 <<<"$out")"
else
	skip "go tool pprof shows the reason" "golang-go not installed"
fi

# 6. Capabilities: every thread keeps the run-time set only.
# DAC_READ_SEARCH 2, KILL 5, SETGID 6, SETUID 7, SETPCAP 8, SYS_PTRACE 19,
# PERFMON 38, BPF 39, CHECKPOINT_RESTORE 40 (daemon/caps.h says why)
want=$(printf '%016x' $(( (1 << 2) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) |
	(1 << 19) | (1 << 38) | (1 << 39) | (1 << 40) )))
bad=$(grep -H -E '^Cap(Eff|Prm|Bnd):' /proc/"$DAEMON_PID"/task/*/status | awk -v w="$want" '$2 != w' | head -3)
nthreads=$(ls /proc/"$DAEMON_PID"/task | wc -l)
check "all $nthreads threads keep only the run-time capabilities ($want)" test -z "$bad" "$bad"
stop_daemon

# 7. Beyond loopback: refused to start without TLS and a token; then served
# over TLS to a client with the token only.
IP=$(ip -4 -o addr show scope global | awk '{ sub("/.*", "", $4); print $4; exit }')
if [ -z "$IP" ]; then
	skip "beyond loopback" "this host has no global IPv4 address"
else
	"$B/cprofd" --listen "$IP:$PORT" --socket none >"$TMP/refuse.log" 2>&1
	rc=$?
	check "--listen $IP without TLS refuses to start: $(head -n 1 "$TMP/refuse.log")" \
		test "$rc" != 0 -a "$(grep -c 'tls-cert' "$TMP/refuse.log")" -ge 1 "exit $rc: $(cat "$TMP/refuse.log")"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/key.pem" -out "$TMP/cert.pem" -days 2 \
		-subj /CN=cprofd -addext "subjectAltName=IP:$IP,IP:127.0.0.1" >/dev/null 2>&1
	head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$TMP/tokens"
	chmod 600 "$TMP/tokens"
	TOKEN=$(cat "$TMP/tokens")
	"$B/cprofd" --listen "$IP:$PORT" --socket none --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem" \
		--token-file "$TMP/tokens" >"$TMP/tls.log" 2>&1 &
	DAEMON_PID=$!
	R="https://$IP:$PORT"
	for _ in $(seq 100); do
		curl -s --cacert "$TMP/cert.pem" -o /dev/null "$R/metrics" && break
		sleep 0.1
	done
	st=$(curl -s --cacert "$TMP/cert.pem" -o "$TMP/nt.txt" -w '%{http_code}' "$R/debug/pprof/profile?seconds=1")
	check "TLS: a client without the token is refused (HTTP $st): $(head -c 100 "$TMP/nt.txt")" test "$st" = 403 "HTTP $st"
	head -c 900000 /dev/zero | tr '\0' '+' >"$TMP/body"
	# (with Expect: 100-continue cprofd answers 403 instead of 100: the body is never sent)
	st=$(curl -s --cacert "$TMP/cert.pem" -H 'Expect: 100-continue' --data-binary @"$TMP/body" \
		-o /dev/null -w '%{http_code}' "$R/debug/pprof/symbol")
	check "TLS: a POST without the token is refused (HTTP $st)" test "$st" = 403 "HTTP $st"
	st=$(curl -s --cacert "$TMP/cert.pem" -H "Authorization: Bearer wrong$TOKEN" -o /dev/null -w '%{http_code}' "$R/metrics")
	check "TLS: a wrong token is refused (HTTP $st)" test "$st" = 403 "HTTP $st"
	st=$(curl -s --cacert "$TMP/cert.pem" -H "Authorization: Bearer $TOKEN" -o "$TMP/tls.pb.gz" -w '%{http_code}' \
		"$R/debug/pprof/profile?seconds=1&pid=$ROOTS")
	check "TLS: a client with the token gets the profile (HTTP $st)" \
		test "$st" = 200 -a "$(q "$TMP/tls.pb.gz" pids | sort -u)" = "$ROOTS" "HTTP $st"
	out=$("$B/cprof-ctl" --url "$R" --cacert "$TMP/cert.pem" --token-file "$TMP/tokens" \
		collect cpu 1s --pid "$ROOTS" -o "$TMP/ctl.pb.gz" 2>&1)
	check "TLS: cprof-ctl --url https://... --token-file --cacert collects" \
		test "$(q "$TMP/ctl.pb.gz" pids 2>/dev/null | sort -u)" = "$ROOTS" "$(head -n 2 <<<"$out")"
	out=$("$B/cprof-ctl" --url "$R" --cacert "$TMP/cert.pem" collect cpu 1s -o "$TMP/ctl2.pb.gz" 2>&1)
	check "TLS: cprof-ctl without the token is told why: $out" grep -q "bearer token" <<<"$out" "$out"
	st=$(curl -s -o /dev/null -w '%{http_code}' "http://$IP:$PORT/metrics")
	check "TLS: plain HTTP gets no answer (curl said $st)" test "$st" != 200 "HTTP $st"
	stop_daemon
fi

# 8. SIGHUP: a changed config is applied; a profile in progress is served.
cat >"$TMP/cprofd.conf" <<EOF
# test config
listen = 127.0.0.1:$PORT
socket = $SOCK
hz = 99
group = $G
EOF
"$B/cprofd" --config "$TMP/cprofd.conf" >"$TMP/cprofd.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 100); do curl -sf -o /dev/null "$URL/metrics" && break; sleep 0.1; done
c0=$(task_cpu_ns "$ROOTS")
curl -s -o "$TMP/before.pb.gz" "$URL/debug/pprof/profile?seconds=4&pid=$ROOTS" &
inflight=$!
get_as "$U" /dev/null "$URL/debug/pprof/profile?seconds=1&pid=$THEIRS"
check "config file: served from it; $U is not in its group yet (HTTP $st)" test "$st" = 403 "HTTP $st"
sed -i -e 's/^hz = 99/hz = 199/' -e "s/^group = .*/group = nogroup/" -e "s/^listen = .*/listen = 127.0.0.1:$((PORT + 1))/" \
	"$TMP/cprofd.conf"
kill -HUP "$DAEMON_PID"
sleep 0.5
check "SIGHUP: the daemon runs on" kill -0 "$DAEMON_PID" "it exited: $(tail -n 2 "$TMP/cprofd.log")"
wait "$inflight"
c1=$(task_cpu_ns "$ROOTS")
n=$(q "$TMP/before.pb.gz" total | awk '{ print $2 }')
want=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.0f", (b - a) * 99 / 1e9 }')
check "SIGHUP: the profile in progress is served whole at its rate ($n samples of 99 Hz; its CPU time says $want)" \
	test "${n:-0}" -ge $((want * 8 / 10)) "$n samples, $want expected"
get_as "$U" "$W/out/after.pb.gz" "$URL/debug/pprof/profile?seconds=2&pid=$THEIRS"
check "SIGHUP: the new group applies ($U is in nogroup: HTTP $st)" test "$st" = 200 "HTTP $st"
if command -v go >/dev/null; then
	period=$(go tool pprof -raw "$W/out/after.pb.gz" 2>/dev/null | awk '/^Period:/ { print $2 }')
	check "SIGHUP: the new rate applies (period $period ns: 199 Hz)" test "$period" = 5025125 "period $period"
fi
check "SIGHUP: a setting that needs a restart is said to: $(grep -m1 'listen changed' "$TMP/cprofd.log")" \
	grep -q "listen changed" "$TMP/cprofd.log" "$(tail -n 3 "$TMP/cprofd.log")"
echo "hz = lots" >>"$TMP/cprofd.conf"
kill -HUP "$DAEMON_PID"
sleep 0.5
check "SIGHUP with a bad config: the error names the line, the settings are kept: $(grep -m1 'cprofd.conf:' "$TMP/cprofd.log")" \
	grep -q "cprofd.conf:6: --hz lots" "$TMP/cprofd.log" "$(tail -n 3 "$TMP/cprofd.log")"
check "and it still serves" curl -sf -o /dev/null "$URL/metrics" "no answer"
check "SIGTERM: exits 0" stop_daemon "non-zero exit"
"$B/cprofd" --config "$TMP/cprofd.conf" >"$TMP/bad.log" 2>&1
check "a bad config at start: exit 2 with the line: $(head -n 1 "$TMP/bad.log")" \
	grep -q "cprofd.conf:6: --hz lots: expected" "$TMP/bad.log" "$(cat "$TMP/bad.log")"
kill "$MINE" "$THEIRS" "$ROOTS" 2>/dev/null
wait 2>/dev/null
