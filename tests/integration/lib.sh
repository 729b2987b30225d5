# Shared by the integration tests: a private cprofd, checks that print
# PASS/FAIL lines, and go tool pprof as an independent reader.
B=$(realpath -m "${B:-build}")	# absolute: some tests change directory
PORT=${CPROF_TEST_PORT:-16070}
SOCK=/tmp/cprofd-test.$$.sock
URL=http://127.0.0.1:$PORT
TMP=$(mktemp -d /tmp/cprof-test.XXXXXX)
DAEMON_PID=
trap 'cleanup' EXIT

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; }
skip() { echo "SKIP: $1: $2"; }

# check NAME CONDITION-COMMAND... WHY
check() {
	local name=$1 why=${*: -1}
	if "${@:2:$#-2}"; then pass "$name"; else fail "$name" "$why"; fi
}

# near A B TOLERANCE: |A - B| <= TOLERANCE, decimals allowed; never true of
# a value that is missing or nan
near() {
	case " $1 $2 $3 " in *nan*|*"  "*) return 1 ;; esac
	awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'
}
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

need_root() {
	if [ "$(id -u)" != 0 ]; then
		skip "$1" "needs root (BPF and perf events)"
		exit 0
	fi
}

start_daemon() {
	"$B/cprofd" --listen "127.0.0.1:$PORT" --socket "$SOCK" "$@" >"$TMP/cprofd.log" 2>&1 &
	DAEMON_PID=$!
	for _ in $(seq 100); do
		curl -sf "$URL/metrics" >/dev/null 2>&1 && return 0
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "FAIL: start cprofd: $(tail -n 3 "$TMP/cprofd.log")"
	exit 1
}

stop_daemon() {
	[ -n "$DAEMON_PID" ] || return 0
	kill -TERM "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID"
	local rc=$?
	DAEMON_PID=
	return $rc
}

cleanup() {
	stop_daemon >/dev/null 2>&1
	jobs -p | xargs -r kill 2>/dev/null
	rm -rf "$TMP" "$SOCK"
}

# Start a workload in the background; its pid in $WPID, its output in FILE.
start_workload() {
	local out=$1; shift
	"$@" >"$out" 2>&1 &
	WPID=$!
}

# The workload's CPU time over a profile's window, s: its own readings of
# the process's CPU clock ("cpu REALTIME_NS CPU_NS", every 50 ms),
# interpolated at the window's start and end. FILE PROFILE
cpu_over_window() {
	read -r start dur < <(q "$2" window)
	awk -v a="$start" -v b="$((start + dur))" '
		function at(t,   i) {
			for (i = 2; i <= n; i++)
				if (T[i] >= t)
					return C[i - 1] + (C[i] - C[i - 1]) * (t - T[i - 1]) / (T[i] - T[i - 1])
			return -1e18
		}
		$1 == "cpu" { n++; T[n] = $2; C[n] = $3 }
		END { if (n < 2 || T[1] > a) print "nan"; else printf "%.3f\n", (at(b) - at(a)) / 1e9 }' "$1"
}

# pprof_reads NAME FILE: go tool pprof reads it with nothing on stderr.
pprof_reads() {
	local name=$1 file=$2
	if ! command -v go >/dev/null; then
		skip "$name" "go tool pprof not installed (apt-get install golang-go)"
		return
	fi
	if ! go tool pprof -top "$file" >"$TMP/top.out" 2>"$TMP/top.err"; then
		fail "$name" "go tool pprof failed: $(head -c 300 "$TMP/top.err")"
	elif [ -s "$TMP/top.err" ]; then
		fail "$name" "go tool pprof warned: $(head -c 300 "$TMP/top.err" | tr '\n' ' ')"
	else
		pass "$name"
	fi
}

q() { "$B/tests/profq" "$@"; }

# metric NAME: the value of an unlabelled series on the daemon's /metrics
metric() { curl -sf "$URL/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }

# wait_for FILE PATTERN: up to 20 s for a line of the workload
wait_for() {
	for _ in $(seq 200); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
