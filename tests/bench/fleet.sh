#!/usr/bin/env bash
# The fleet's cost and speed (cprofd --export clickhouse=URL, cprof-ctl
# fleet): the busy host of tests/bench/history.sh for BENCH_MINUTES (default
# 5) with every view --continuous all keeps (all but heap and allocs, for the
# whole host) continuous and exported to a local clickhouse-server
# (Debian's): the bytes sent and stored per host-hour beside the local
# history's, the daemon's export CPU (turning windows into rows, and the
# sending thread). Then a fleet of BENCH_HOSTS (default 10) hosts over
# BENCH_HOURS (default 24), made in ClickHouse from the soak's own cpu rows
# (each host a copy, cycled back in time at the soak's rate), and the time
# cprof-ctl fleet collect cpu takes for the last hour and for all of it
# (wall time of the command; medians of BENCH_RUNS, default 3, after one
# cold run each).
#
# Writes the section "## The fleet" into docs/PERFORMANCE.md between the
# bench:fleet markers. Goal (issue 16): a 1-hour query across 10 hosts
# under 2 s.
# Run as root: `bash tests/bench/fleet.sh` after `make check`.
# Environment: BENCH_MINUTES, BENCH_HOSTS, BENCH_HOURS, BENCH_RUNS,
# BENCH_PORT (default 16078), BENCH_DOC (default docs/PERFORMANCE.md;
# "none" to only print).
set -uo pipefail
cd "$(dirname "$0")/../.."

MINUTES=${BENCH_MINUTES:-5}
HOSTS=${BENCH_HOSTS:-10}
HOURS=${BENCH_HOURS:-24}
RUNS=${BENCH_RUNS:-3}
PORT=${BENCH_PORT:-16078}
DOC=${BENCH_DOC:-docs/PERFORMANCE.md}
HZ=99
WIN=10
SOCK=/tmp/cprofd-bench-fleet.sock
URL=http://127.0.0.1:$PORT
OUT=build/bench
PROCCPU=$OUT/proccpu
TMP=$(mktemp -d /tmp/cprof-bench-fleet.XXXXXX)
RESULTS=$TMP/results.tsv
FIELDS="cfg round seconds"
source tests/bench/lib.sh
source tests/tools/clickhouse.sh

[ "$(id -u)" = 0 ] || die "run as root"
command -v clickhouse-server >/dev/null || die "clickhouse-server is not installed: scripts/deps.sh check"
build_proccpu
for w in split locks leaks; do [ -x "build/workloads/$w" ] || die "build/workloads/$w: run make check first"; done
ch_setup "$TMP/clickhouse"
ch_start || die "clickhouse-server did not start"
cleanup_hook() {
	stop_busy_host
	ch_stop
}
chq "CREATE DATABASE soak"
chq "CREATE DATABASE gen"
metric() { curl -s "$URL/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
# a thread's CPU, ns: utime + stime of /proc/PID/task/TID/stat, by name
thread_ns() {
	local t n=0 hz
	hz=$(getconf CLK_TCK)
	for t in /proc/"$1"/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = "$2" ] || continue
		n=$(awk -v hz="$hz" '{ sub(/^.*\) /, ""); print ($12 + $13) * 1e9 / hz }' "$t/stat")
	done
	echo "${n%.*}"
}

# ---- the soak --------------------------------------------------------------

start_cprofd soak --continuous all --window "$WIN" --store "$TMP/store" \
	--export "clickhouse=${CH}?database=soak" --host-name soak || die "${FAILED[soak]}"
sleep 5
busy_host $((MINUTES * 60 + 30))
c0=$(cpu_ns "$PROF_PID") x0=$(thread_ns "$PROF_PID" cprofd-export) v0=$(metric cprofd_export_convert_seconds_total)
t0=$(now)
sleep $((MINUTES * 60))
t1=$(now)
c1=$(cpu_ns "$PROF_PID") x1=$(thread_ns "$PROF_PID" cprofd-export) v1=$(metric cprofd_export_convert_seconds_total)
stop_busy_host
# what waits is sent before the figures are read
for _ in $(seq 60); do [ "$(metric 'cprofd_export_spool{unit="windows"}')" = 0 ] && break; sleep 1; done
sent=$(metric cprofd_export_sent_bytes_total) rows=$(metric 'cprofd_export_rows_total{table="samples"}')
srows=$(metric 'cprofd_export_rows_total{table="stacks"}') hist=$(metric 'cprofd_history_bytes{form="stored"}')
dropped=$(metric 'cprofd_export_windows_total{result="dropped"}') errors=$(metric cprofd_export_send_errors_total)
stop_cprofd() { kill -TERM "$PROF_PID" 2>/dev/null; wait "$PROF_PID" 2>/dev/null; PROF_PID=; }
stop_cprofd
chq "OPTIMIZE TABLE soak.cprof_samples_v1 FINAL"
chq "OPTIMIZE TABLE soak.cprof_stacks_v1 FINAL"
stored() { chq "SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = '$1' AND table = '$2'"; }
st_samples=$(stored soak cprof_samples_v1) st_stacks=$(stored soak cprof_stacks_v1)
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) / 1e6 }')
hourly() { awk -v b="${1:-0}" -v s="$secs" 'BEGIN { printf "%.1f", b / (s + 5) * 3600 / 1048576 }'; }
pct() { awk -v n="${1:-0}" -v s="$secs" 'BEGIN { printf "%.3f", n / 1e9 / s * 100 }'; }
cpu_pct=$(pct $((c1 - c0)))
conv_pct=$(awk -v a="${v0:-0}" -v b="${v1:-0}" -v s="$secs" 'BEGIN { printf "%.3f", (b - a) / s * 100 }')
send_pct=$(pct $((${x1:-0} - ${x0:-0})))

# ---- a fleet in ClickHouse -------------------------------------------------

span=$(chq "SELECT toUInt32(max(time)) - toUInt32(min(time)) + $WIN FROM soak.cprof_samples_v1 WHERE view = 'cpu'")
last=$(chq "SELECT toUInt32(max(time)) FROM soak.cprof_samples_v1 WHERE view = 'cpu'")
[ "${span:-0}" -gt 0 ] || die "the soak exported no cpu rows"
copies=$(( (HOURS * 3600 + span - 1) / span ))
nowt=$(date +%s)
shift0=$(( nowt / WIN * WIN - WIN - last ))
chq "CREATE TABLE gen.cprof_samples_v1 AS soak.cprof_samples_v1"
chq "CREATE TABLE gen.cprof_stacks_v1 AS soak.cprof_stacks_v1"
chq "INSERT INTO gen.cprof_stacks_v1 SELECT * FROM soak.cprof_stacks_v1"
g0=$(now)
# a few copies a statement: all of a host's at once is more memory than
# ClickHouse's default limit
for h in $(seq "$HOSTS"); do
	for c0 in $(seq 0 12 $((copies - 1))); do
		n=$(( copies - c0 < 12 ? copies - c0 : 12 ))
		err=$(chq "INSERT INTO gen.cprof_samples_v1 SELECT toDateTime(toUInt32(time) + $shift0 - (c + $c0) * $span), duration_ms, 'host-$h', view, type, unit, value, stack, pid, tid, comm, thread, container, cgroup, label_keys, label_values FROM soak.cprof_samples_v1 ARRAY JOIN range($n) AS c WHERE view = 'cpu'")
		[ -z "$err" ] || die "generating host-$h: $err"
	done
done
g1=$(now)
chq "OPTIMIZE TABLE gen.cprof_samples_v1 FINAL"
genrows=$(chq "SELECT count() FROM gen.cprof_samples_v1")
genbytes=$(stored gen cprof_samples_v1)
: >"$RESULTS"
query() {	# NAME SINCE ROUND
	local a b
	a=$(now)
	build/cprof-ctl fleet --clickhouse "${CH}?database=gen" collect cpu --since "$2" -o "$TMP/q.pb.gz" \
		>"$TMP/q.out" 2>&1 || die "fleet collect failed: $(head -c 300 "$TMP/q.out")"
	b=$(now)
	printf '%s\t%s\t%s\n' "$1" "$3" "$(awk -v a="$a" -v b="$b" 'BEGIN { print (b - a) / 1e6 }')" >>"$RESULTS"
}
query "1h cold" 1h 0
query "${HOURS}h cold" "${HOURS}h" 0
for r in $(seq "$RUNS"); do
	query 1h 1h "$r"
	query "${HOURS}h" "${HOURS}h" "$r"
done
go_ok=-
command -v go >/dev/null && { HOME=$TMP go tool pprof -top "$TMP/q.pb.gz" >/dev/null 2>"$TMP/go.err" && [ ! -s "$TMP/go.err" ] && go_ok=yes || go_ok=no; }
q1=$(col 1h seconds | med) qn=$(col "${HOURS}h" seconds | med)
q1c=$(col "1h cold" seconds | med) qnc=$(col "${HOURS}h cold" seconds | med)
ch_stop

# ---- report ----------------------------------------------------------------

section=$TMP/section.md
{
	echo "<!-- bench:fleet begin -->"
	echo "## The fleet: what exporting to ClickHouse costs, and what a fleet query takes (generated by tests/bench/fleet.sh)"
	echo
	machine_lines
	echo "\`cprofd --continuous all --window $WIN --export clickhouse=URL\` (for the whole host, all views but heap and"
	echo "allocs) for $MINUTES minutes on the busy host of the"
	echo "history bench (split, a C compile every second, a contended lock workload and an allocating one"
	echo "every 10 s), ClickHouse $(chq 'SELECT version()' 2>/dev/null || echo 18.16) on the same machine. Then $HOSTS hosts"
	echo "over $HOURS h made from the soak's cpu rows ($genrows rows, $(awk -v b="${genbytes:-0}" 'BEGIN { printf "%.0f", b / 1048576 }') MiB in ClickHouse, generated in"
	echo "$(awk -v a="$g0" -v b="$g1" 'BEGIN { printf "%.0f", (b - a) / 1e6 }') s), and \`cprof-ctl fleet collect cpu\` over the last hour and all of it: one cold"
	echo "run each, then medians of $RUNS."
	echo
	echo "| | figure |"
	echo "|---|---|"
	echo "| sent to ClickHouse per host-hour, MiB (TabSeparated, gzipped, over HTTP) | $(hourly "$sent") |"
	echo "| stored by ClickHouse per host-hour, MiB: samples + stacks | $(hourly "$st_samples") + $(hourly "$st_stacks") |"
	echo "| the local history per host-hour, MiB (the same windows) | $(hourly "$hist") |"
	echo "| rows per host-hour: samples, stacks | $(awk -v r="${rows:-0}" -v s="$secs" 'BEGIN { printf "%.0f", r / (s + 5) * 3600 }'), $(awk -v r="${srows:-0}" -v s="$secs" 'BEGIN { printf "%.0f", r / (s + 5) * 3600 }') |"
	echo "| cprofd's export CPU, % of a core: windows into rows (gzipped, spooled) + sending | $conv_pct + $send_pct |"
	echo "| cprofd CPU in all (the views, history, export), % of a core | $cpu_pct |"
	echo "| windows dropped, failed sends | ${dropped:-?}, ${errors:-?} |"
	echo "| 1-hour fleet query, $HOSTS hosts, s (cold) | $(fmt "$q1" '%.2f') ($(fmt "$q1c" '%.2f')) |"
	echo "| $HOURS-hour fleet query, $HOSTS hosts, s (cold) | $(fmt "$qn" '%.2f') ($(fmt "$qnc" '%.2f')) |"
	echo "| go tool pprof reads the fleet profile without warnings | $go_ok |"
	echo
	echo "- Goal: a 1-hour query across $HOSTS hosts under 2 s: $(fmt "$q1" '%.2f') s: $(awk -v q="${q1:-99}" 'BEGIN { print q < 2 ? "met" : "NOT met" }')."
	echo "- The generated hosts are copies of one: they share its stacks (a real fleet running other"
	echo "  code has more), and ClickHouse runs beside the query on this 2-CPU machine."
	echo "<!-- bench:fleet end -->"
} >"$section"
cat "$section"
write_doc "$section" fleet
