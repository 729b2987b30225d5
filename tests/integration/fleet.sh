#!/usr/bin/env bash
# The fleet: cprofd --export clickhouse=URL, and cprof-ctl fleet. Debian's
# clickhouse-server, started here on free ports in a scratch directory; two
# cprofd with different host names export to it; the fleet profile must add
# up to the two hosts' own histories, function by function. ClickHouse is
# stopped for 30 s in the middle and nothing may be missing after; a tiny
# spool counts its drops; a Distributed table over two local shards answers
# the fleet query as the single table does.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
need_root "the fleet export"
if ! command -v clickhouse-server >/dev/null; then
	fail "fleet" "clickhouse-server is not installed (scripts/deps.sh check installs it)"
	exit 0
fi

WIN=2
. tests/tools/clickhouse.sh
ch_setup "$TMP/clickhouse"
trap 'ch_stop; for p in ${DPIDS[*]:-}; do kill $p 2>/dev/null; done; cleanup' EXIT

# Two cprofd, "alpha" and "beta", on ports PORT+1 and PORT+2: dstart N NAME ARGS...
declare -A DPIDS
dstart() {
	local n=$1 name=$2 port=$((PORT + $1)); shift 2
	"$B/cprofd" --listen "127.0.0.1:$port" --socket none --host-name "$name" \
		--continuous cpu --window "$WIN" --store "$TMP/store-$name" "$@" >"$TMP/cprofd-$name.log" 2>&1 &
	DPIDS[$n]=$!
	for _ in $(seq 100); do
		curl -sf "http://127.0.0.1:$port/metrics" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "FAIL: start cprofd $name: $(tail -n 3 "$TMP/cprofd-$name.log")"
	exit 1
}
dstop() { kill -TERM "${DPIDS[$1]}" 2>/dev/null; wait "${DPIDS[$1]}" 2>/dev/null; unset "DPIDS[$1]"; }
dmetric() { curl -sf "http://127.0.0.1:$((PORT + $1))/metrics" | awk -v k="$2" '$1 == k { print $2 }'; }
# aligned: the last window boundary at or before Unix time T
aligned() { echo $(($1 / WIN * WIN)); }

ch_start || { fail "fleet" "clickhouse-server did not start"; exit 0; }
chq "CREATE DATABASE fleet"
FLEET="${CH}?database=fleet"

# 1. Two hosts export; ClickHouse goes away for 30 s in the middle.
start_workload "$TMP/ph.out" "$B/workloads/phases" 40 80
PH=$WPID
dstart 1 alpha --comm phases --export "clickhouse=$FLEET"
dstart 2 beta --comm phases --export "clickhouse=$FLEET"
sleep $((3 * WIN + 1))
T0=$(aligned "$(date +%s)")
sleep $((3 * WIN))
ch_stop
sleep 30
ch_start || { fail "fleet" "clickhouse-server did not start again"; exit 0; }
for _ in $(seq 60); do
	a=$(dmetric 1 'cprofd_export_spool{unit="windows"}') b=$(dmetric 2 'cprofd_export_spool{unit="windows"}')
	[ "$a" = 0 ] && [ "$b" = 0 ] && break
	sleep 1
done
T1=$(aligned "$(date +%s)")
sleep $((WIN + 1))
for _ in $(seq 30); do
	a=$(dmetric 1 'cprofd_export_spool{unit="windows"}') b=$(dmetric 2 'cprofd_export_spool{unit="windows"}')
	[ "$a" = 0 ] && [ "$b" = 0 ] && break
	sleep 1
done
for n in 1 2; do
	e=$(dmetric $n cprofd_export_send_errors_total) d=$(dmetric $n 'cprofd_export_windows_total{result="dropped"}')
	check "fleet: host $n kept trying while ClickHouse was down ($e failed attempts), dropped nothing ($d)" \
		test "${e:-0}" -gt 0 -a "${d:-x}" = 0 "errors ${e:-?}, dropped ${d:-?}"
done
check "fleet: cprofd said once that ClickHouse did not answer, and when it did again" \
	bash -c 'grep -q "cannot send to" "$1" && grep -q "answers again" "$1"' _ "$TMP/cprofd-alpha.log" \
	"$(grep export "$TMP/cprofd-alpha.log" | head -3)"
for n in 1 2; do
	name=$([ $n = 1 ] && echo alpha || echo beta)
	curl -s -o "$TMP/own-$name.pb.gz" "http://127.0.0.1:$((PORT + n))/debug/pprof/profile?start=$T0&end=$T1"
done
"$B/cprof-ctl" fleet --clickhouse "$FLEET" collect cpu --from "$T0" --to "$T1" -o "$TMP/fleet.pb.gz" \
	>"$TMP/fleet.out" 2>&1
check "fleet: cprof-ctl fleet collect writes the fleet's profile" test -s "$TMP/fleet.pb.gz" \
	"$(head -c 300 "$TMP/fleet.out")"
pprof_reads "fleet: go tool pprof reads the fleet profile without a warning" "$TMP/fleet.pb.gz"
# windows in the range: each host's own, and ClickHouse's
own=$(( ($T1 - $T0) / WIN ))
for name in alpha beta; do
	got=$(chq "SELECT uniqExact(time) FROM fleet.cprof_samples_v1 WHERE host = '$name' AND view = 'cpu' AND time >= toDateTime($T0) AND time < toDateTime($T1)")
	check "fleet: every window of $name in the range is in ClickHouse ($got of $own)" test "$got" = "$own" "$got"
done
for fn in phase_a phase_b; do
	a=$(q "$TMP/own-alpha.pb.gz" sum samples func=$fn) b=$(q "$TMP/own-beta.pb.gz" sum samples func=$fn)
	f=$(q "$TMP/fleet.pb.gz" sum samples func=$fn)
	check "fleet: $fn: the fleet's $f samples are alpha's $a and beta's $b (within 1%)" \
		awk -v f="${f:-0}" -v s="$((${a:-0} + ${b:-0}))" 'BEGIN { d = f - s; if (d < 0) d = -d; exit !(s > 0 && d <= s / 100) }' \
		"fleet ${f:-?}, hosts ${a:-?} + ${b:-?}"
done
ta=$(q "$TMP/own-alpha.pb.gz" total) tb=$(q "$TMP/own-beta.pb.gz" total) tf=$(q "$TMP/fleet.pb.gz" total)
check "fleet: the fleet's total is the hosts' ($tf; $ta + $tb)" \
	test "${tf%% *}" = "$(( ${ta%% *} + ${tb%% *} ))" "fleet $tf, alpha $ta, beta $tb"
check "fleet: by default one sample a stack and process, no host label" \
	test "$(q "$TMP/fleet.pb.gz" sum samples host=alpha)" = 0 "$(q "$TMP/fleet.pb.gz" labels)"
"$B/cprof-ctl" fleet --clickhouse "$FLEET" collect cpu --from "$T0" --to "$T1" --per-host \
	-o "$TMP/perhost.pb.gz" >/dev/null 2>&1
a=$(q "$TMP/perhost.pb.gz" sum samples host=alpha) b=$(q "$TMP/perhost.pb.gz" sum samples host=beta)
check "fleet: --per-host: each host's samples apart, labelled (alpha $a, beta $b; $ta, $tb)" \
	test "${a:-0}" = "${ta##* }" -a "${b:-0}" = "${tb##* }" "$a $b"
"$B/cprof-ctl" fleet --clickhouse "$FLEET" top cpu --from "$T0" --to "$T1" >"$TMP/top.out" 2>&1
check "fleet: cprof-ctl fleet top lists both hosts" \
	bash -c 'grep -q " alpha" "$1" && grep -q " beta" "$1"' _ "$TMP/top.out" "$(cat "$TMP/top.out")"
"$B/cprof-ctl" fleet --clickhouse "$FLEET" collect cpu --from "$T0" --to "$T1" --host beta \
	-o "$TMP/beta.pb.gz" >/dev/null 2>&1
f=$(q "$TMP/beta.pb.gz" sum samples) b=$(q "$TMP/own-beta.pb.gz" sum samples)
check "fleet: --host beta is beta's own history ($f samples; $b)" test "${f:-x}" = "${b:-y}" "$f vs $b"
# a -diff_base pair across the fleet: phase_a's time before phase_b's
bs=$(awk '$1 == "b_start" { print int($2 / 1e9) }' "$TMP/ph.out")
mid=$(( (bs / WIN + 1) * WIN ))
"$B/cprof-ctl" fleet --clickhouse "$FLEET" diff cpu "$T0..$((mid - WIN))" "$mid..$T1" -o "$TMP/fd" \
	>"$TMP/fd.out" 2>&1
if command -v go >/dev/null && [ -s "$TMP/fd-after.pb.gz" ]; then
	go tool pprof -top -diff_base "$TMP/fd-before.pb.gz" "$TMP/fd-after.pb.gz" >"$TMP/fdiff.txt" 2>"$TMP/fdiff.err"
	a=$(awk '$NF == "phase_a" { print $1 }' "$TMP/fdiff.txt") b=$(awk '$NF == "phase_b" { print $1 }' "$TMP/fdiff.txt")
	check "fleet: cprof-ctl fleet diff: -diff_base of its pair has phase_a gone ($a) and phase_b come ($b)" \
		test "${a:0:1}" = - -a -n "$b" -a "${b:0:1}" != - "$(head -5 "$TMP/fdiff.txt"); $(head -c 300 "$TMP/fd.out")"
	check "fleet: ...and -diff_base warns of nothing" test ! -s "$TMP/fdiff.err" "$(head -c 200 "$TMP/fdiff.err")"
else
	fail "fleet: cprof-ctl fleet diff" "$(head -c 300 "$TMP/fd.out")"
fi
dstop 2

# 2. A Distributed table over two shards (one server, two databases)
# answers the fleet query as the single table does.
chq "CREATE DATABASE shard1"; chq "CREATE DATABASE shard2"; chq "CREATE DATABASE dist"
for t in cprof_samples_v1 cprof_stacks_v1; do
	for s in shard1 shard2; do chq "CREATE TABLE $s.$t AS fleet.$t"; done
done
chq "CREATE TABLE dist.cprof_samples_v1 AS fleet.cprof_samples_v1 ENGINE = Distributed(two_shards, '', cprof_samples_v1, rand())"
chq "CREATE TABLE dist.cprof_stacks_v1 AS fleet.cprof_stacks_v1 ENGINE = Distributed(two_shards, '', cprof_stacks_v1, hash)"
# the same rows through the Distributed tables, synchronously
for t in cprof_stacks_v1 cprof_samples_v1; do
	curl -s --data-binary "INSERT INTO dist.$t SELECT * FROM fleet.$t" "${CH}?insert_distributed_sync=1"
done
s1=$(chq "SELECT count() FROM shard1.cprof_samples_v1") s2=$(chq "SELECT count() FROM shard2.cprof_samples_v1")
check "fleet: the Distributed table spreads the rows over both shards ($s1, $s2)" \
	test "${s1:-0}" -gt 0 -a "${s2:-0}" -gt 0 "$s1 $s2"
"$B/cprof-ctl" fleet --clickhouse "${CH}?database=dist" collect cpu --from "$T0" --to "$T1" \
	-o "$TMP/dist.pb.gz" >"$TMP/dist.out" 2>&1
for fn in phase_a phase_b; do
	d=$(q "$TMP/dist.pb.gz" sum samples func=$fn) f=$(q "$TMP/fleet.pb.gz" sum samples func=$fn)
	check "fleet: over the Distributed table $fn has the single table's samples ($d; $f)" \
		test "${d:-x}" = "${f:-y}" "$(head -c 200 "$TMP/dist.out")"
done
pprof_reads "fleet: go tool pprof reads the Distributed table's profile without a warning" "$TMP/dist.pb.gz"
# and cprofd sends through them unchanged: beta again, into dist
dstart 2 beta --comm phases --export "clickhouse=${CH}?database=dist"
for _ in $(seq 30); do
	[ "$(dmetric 2 'cprofd_export_windows_total{result="sent"}')" -ge 2 ] 2>/dev/null && break
	sleep 1
done
check "fleet: cprofd exports into the Distributed tables as into a single one ($(dmetric 2 'cprofd_export_windows_total{result="sent"}') sent)" \
	test "$(dmetric 2 'cprofd_export_windows_total{result="sent"}')" -ge 2 "$(grep export "$TMP/cprofd-beta.log" | tail -2)"
dstop 2
dstop 1

# 3. A spool too small for what waits: the windows beyond are dropped,
# counted and said.
ch_stop
kill "$PH" 2>/dev/null
wait "$PH" 2>/dev/null || true
start_workload "$TMP/ph2.out" "$B/workloads/phases" 20 20
PH=$WPID
dstart 3 gamma --comm phases --export "clickhouse=$FLEET" --export-spool 4K
for _ in $(seq 60); do
	d=$(dmetric 3 'cprofd_export_windows_total{result="dropped"}')
	[ "${d:-0}" -gt 0 ] && break
	sleep 1
done
check "fleet: a spool at its limit drops windows and counts them ($d)" test "${d:-0}" -gt 0 \
	"$(curl -s "http://127.0.0.1:$((PORT + 3))/metrics" | grep export_)"
check "fleet: ...and says so once" test "$(grep -c 'spool .* is full' "$TMP/cprofd-gamma.log")" = 1 \
	"$(grep export "$TMP/cprofd-gamma.log")"
dstop 3
kill "$PH" 2>/dev/null
wait "$PH" 2>/dev/null || true
