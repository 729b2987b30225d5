#!/usr/bin/env bash
# What the heap view costs each allocator call, side by side with the floor
# and its peer, in one run: tests/bench/mallocbench.c makes PAIRS malloc+free
# pairs on one thread once the probes are in place, and times them.
# Configurations, interleaved round-robin (N is the workload's pid; every
# probe is in process N only):
#   alone         nothing attached
#   bt-malloc     bpftrace -p N, an empty uprobe on malloc
#   floor-malloc  the same probe by tests/bench/uprobefloor.c (which attaches
#                 as bpftrace does): the check that the two agree
#   bt-pair       bpftrace -p N, empty uprobes on malloc and on free, whose
#                 first instruction (test) the kernel single-steps
#   entry         uprobefloor: empty entry probes on malloc and on free+3 (the
#                 jump after free's test, where cprofd probes free): the floor
#                 of the goal
#   entry-return  uprobefloor: the same, and an empty return probe on malloc
#   session       uprobefloor: uprobe sessions (the kernel's, 6.13) on malloc
#                 and free+3, as cprofd attaches, the program returning 1 at
#                 entry (no return probe): cprofd's mechanism, empty
#   session-return  the same, the program on malloc returning 0 (it runs at
#                 entry and at return)
#   cprofd        cprofd --pid N --views heap, at the default --heap-rate
#   cprofd-rate1  the same with --heap-rate 1 (every allocation sampled)
#   memleak       bcc's memleak-bpfcc -p N (libbpf-tools has no memleak in
#                 Debian 12), at its defaults: every allocation
# (bpftrace 0.17, Debian 12's, refuses a probe at free+3: see uprobefloor.c.)
# Each run reports which of the workload's entry points held a breakpoint (it
# reads its own code); a run that shows probes its configuration does not
# place (someone else's, system-wide) is done again, up to BENCH_TRIES times.
# Writes the table into docs/PERFORMANCE.md between the bench:heap markers.
# Run as root: `sudo make bench`, or `bash tests/bench/heap.sh` after `make`.
# Environment: BENCH_RUNS (runs per configuration, default 5), BENCH_PAIRS
# (pairs per run, default 2000000), BENCH_SLOW_PAIRS (pairs per run of the
# configurations that single-step free, bt-pair and memleak; default 500000),
# BENCH_CONFIGS (default: all the above), BENCH_TRIES (default 5),
# BENCH_PORT (default 16073), BENCH_CPROFD (default build/cprofd; a copy is
# run, taken at the start, so that a rebuild cannot change it between rounds),
# BENCH_DOC (default docs/PERFORMANCE.md; "none" to only print),
# BENCH_KEEP=1 (keep the raw results in /tmp).
set -uo pipefail
cd "$(dirname "$0")/../.."

RUNS=${BENCH_RUNS:-5}
PAIRS=${BENCH_PAIRS:-2000000}
SLOW_PAIRS=${BENCH_SLOW_PAIRS:-500000}
TRIES=${BENCH_TRIES:-5}
PORT=${BENCH_PORT:-16073}
DOC=${BENCH_DOC:-docs/PERFORMANCE.md}
CPROFD_SRC=${BENCH_CPROFD:-build/cprofd}
SOCK=/tmp/cprofd-bench-heap.sock
URL=http://127.0.0.1:$PORT
HZ=99
OUT=build/bench
PROCCPU=$OUT/proccpu
WORKLOAD=$OUT/mallocbench
FLOOR=$OUT/uprobefloor
TMP=$(mktemp -d /tmp/cprof-bench-heap.XXXXXX)
RESULTS=$TMP/results.tsv
FIELDS="cfg round pairs wall_ns cpu_ns probed foreign tries calls frees sampled call_s"
read -ra CONFIGS <<<"${BENCH_CONFIGS:-alone bt-malloc floor-malloc bt-pair entry entry-return session session-return cprofd cprofd-rate1 memleak}"
source tests/bench/lib.sh
PROF_SIG=INT

[ "$(id -u)" = 0 ] || die "run as root"
[ "$(uname -m)" = x86_64 ] || die "x86_64 only: the workload looks for int3 bytes at its entry points"
mkdir -p "$OUT"
gcc -O2 -g -fno-omit-frame-pointer -Wall -Wextra tests/bench/mallocbench.c -o "$WORKLOAD" ||
	die "cannot build $WORKLOAD"
gcc -O2 -Wall -Wextra tests/bench/uprobefloor.c -o "$FLOOR" -lbpf || die "cannot build $FLOOR"
build_proccpu
CPROFD=$TMP/cprofd CPROFD_WHEN=
chmod 755 "$TMP"   # cprofd's parsers run as nobody
if [ -x "$CPROFD_SRC" ]; then
	cp "$CPROFD_SRC" "$CPROFD"
	CPROFD_WHEN=$(date -u -r "$CPROFD_SRC" '+%Y-%m-%d %H:%M UTC')
fi
LIBC=$(ldd "$WORKLOAD" | awk '$1 == "libc.so.6" { print $3 }')
[ -f "$LIBC" ] || die "cannot find the workload's libc.so.6"
BPFTRACE=$(command -v bpftrace || true)
MEMLEAK=$(command -v memleak-bpfcc || true)

# file offset of SYM[+N] in LIBC, for the uprobe PMU: its address, moved from
# its PT_LOAD segment's address to the segment's offset in the file
libc_offset() {
	local sym=${1%%+*} add=0 v _t off va _pa sz
	[ "$sym" != "$1" ] && add=${1#*+}
	v=$(nm -D --defined-only "$LIBC" | awk -v s="$sym" '{ split($3, n, "@") } n[1] == s { print $1; exit }')
	[ -n "$v" ] || die "no symbol $sym in $LIBC"
	v=$((0x$v + add))
	while read -r _t off va _pa sz _; do
		if [ $((v >= va && v < va + sz)) = 1 ]; then printf '0x%x\n' $((v - va + off)); return; fi
	done < <(readelf -lW "$LIBC" | awk '$1 == "LOAD"')
}
MALLOC_OFF=$(libc_offset malloc)
FREE3_OFF=$(libc_offset free+3)
[ -n "$MALLOC_OFF" ] && [ -n "$FREE3_OFF" ] || die "cannot place probes in $LIBC"

# Probes of each configuration, as the workload names its entry points: NEED
# must all hold a breakpoint before it starts; any beyond ALLOW are someone
# else's.
declare -A NEED=(
	[alone]="" [bt-malloc]="malloc" [floor-malloc]="malloc" [bt-pair]="malloc free"
	[entry]="malloc free+3" [entry-return]="malloc free+3" [session]="malloc free+3"
	[session-return]="malloc free+3" [cprofd]="malloc free+3" [cprofd-rate1]="malloc free+3"
	[memleak]="malloc free calloc realloc")
declare -A ALLOW=(
	[alone]="" [bt-malloc]="malloc" [floor-malloc]="malloc" [bt-pair]="malloc free"
	[entry]="malloc free+3" [entry-return]="malloc free+3" [session]="malloc free+3"
	[session-return]="malloc free+3" [cprofd]="malloc free+3 calloc realloc"
	[cprofd-rate1]="malloc free+3 calloc realloc" [memleak]="malloc free calloc realloc")
declare -A LABEL=(
	[alone]="nothing attached"
	[bt-malloc]="bpftrace: an empty uprobe on malloc"
	[floor-malloc]="uprobefloor: the same probe"
	[bt-pair]="bpftrace: empty uprobes on malloc and on free (its first instruction: single-stepped)"
	[entry]="uprobefloor: empty entry probes on malloc and on free+3 (perf-event uprobes, as bpftrace's)"
	[entry-return]="uprobefloor: the same and an empty return probe on malloc"
	[session]="uprobefloor: uprobe sessions on malloc and on free+3, as cprofd's, the program returning 1 (no return)"
	[session-return]="uprobefloor: the same, the program returning 0 on malloc (entry and return)"
	[cprofd]="cprofd --views heap, the default --heap-rate (512K)"
	[cprofd-rate1]="cprofd --views heap --heap-rate 1 (every allocation: entry, return, a stack)"
	[memleak]="bcc's memleak-bpfcc at its defaults (every allocation: entry and return on malloc, calloc, realloc and others, entry on free)")
for c in "${CONFIGS[@]}"; do [ -n "${LABEL[$c]+x}" ] || die "unknown configuration $c"; done

# ---- the workload ------------------------------------------------------------

declare -A SITE=()   # entry point -> its address in the running workload

# start_workload PAIRS: the workload, waiting for SIGUSR1; WORK_PID, SITE
start_workload() {
	local w
	"$WORKLOAD" "$1" >"$TMP/work.out" 2>&1 &
	WORK_PID=$!
	for _ in $(seq 600); do grep -q '^ready' "$TMP/work.out" && break; sleep 0.05; done
	grep -q '^ready' "$TMP/work.out" || die "mallocbench did not start: $(cat "$TMP/work.out")"
	SITE=()
	for w in $(head -n 1 "$TMP/work.out" | cut -d ' ' -f 3-); do SITE[${w%%=*}]=${w#*=}; done
}

# the workload's entry points that hold a breakpoint now: "malloc,free+3", or none
probed_now() {
	local s b out=
	for s in malloc free free+3 calloc realloc; do
		[ "${SITE[$s]:-(nil)}" = "(nil)" ] && continue
		b=$(dd if="/proc/$WORK_PID/mem" bs=1 count=1 skip=$((SITE[$s])) status=none 2>/dev/null | od -An -tx1 | tr -d ' \n')
		[ "$b" = cc ] && out+=${out:+,}$s
	done
	echo "${out:-none}"
}

# beyond LIST (space-separated) in PROBED (comma-separated): those sites, or nothing
beyond() {
	local p out=
	for p in ${2//,/ }; do
		[ "$p" = none ] && continue
		[[ " $1 " == *" $p "* ]] || out+=${out:+,}$p
	done
	echo "$out"
}

# wait_sites CFG SECONDS: until the sites CFG needs hold breakpoints; 1 if not
# in time or if its tool exited
wait_sites() {
	local need=${NEED[$1]} now missing i
	for i in $(seq $(($2 * 10))); do
		now=$(probed_now)
		missing=$(for s in $need; do [[ ",$now," == *",$s,"* ]] || echo "$s"; done)
		[ -z "$missing" ] && return 0
		[ -n "$PROF_PID" ] && ! alive "$PROF_PID" && return 1
		sleep 0.1
	done
	return 1
}

# until the tool (with its children: cprofd's parsers) has used under 1 ms of
# CPU in 200 ms, for up to 10 s: what it does at start (compiling, reading
# symbols, building tables) is not to run beside the measured loop
wait_idle() {
	local a b
	a=$(cpu_ns "$PROF_PID")
	for _ in $(seq 50); do
		sleep 0.2
		b=$(cpu_ns "$PROF_PID")
		[ $((b - a)) -lt 1000000 ] && return 0
		a=$b
	done
}

# ---- the tools: start_tool CFG starts CFG's tool against WORK_PID and waits
# until its probes are in place (PROF_PID, PROF_SIG); when it cannot, returns
# 1 and sets FAILED[CFG]. ------------------------------------------------------

metric() { curl -sf "$URL/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
ev() { metric "cprofd_bpf_events_total{source=\"alloc\",event=\"$1\"}"; }

# bcc compiles against kernel headers; this kernel has neither
# /lib/modules/RELEASE/build nor CONFIG_IKHEADERS. Its probes are uprobes on
# user code, whose programs use no kernel structure: Debian's headers for
# another kernel serve (linux-headers-amd64), merged from their two packages
# into one tree as bcc wants it. Sets BCC_SRC (what BCC_KERNEL_SOURCE gets).
BCC_SRC= BCC_DESC=
bcc_headers() {
	local arch common
	[ -e "/lib/modules/$(uname -r)/build" ] || [ -e /sys/kernel/kheaders.tar.xz ] && return 0
	[ -n "$BCC_SRC" ] && return 0
	if [ -n "${BCC_KERNEL_SOURCE:-}" ]; then
		BCC_SRC=$BCC_KERNEL_SOURCE BCC_DESC="\$BCC_KERNEL_SOURCE, $BCC_KERNEL_SOURCE"
		return 0
	fi
	arch=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n 1)
	common=${arch%-amd64}-common
	[ -d "$arch" ] && [ -d "$common" ] || return 1
	mkdir "$TMP/kheaders" && cp -rs "$common/." "$TMP/kheaders/" && cp -rsf "$arch/." "$TMP/kheaders/" || return 1
	BCC_SRC=$TMP/kheaders
	BCC_DESC="a tree merging Debian's headers for another kernel, $(basename "$arch") and $(basename "$common") (linux-headers-amd64), as this kernel has none"
}

# memleak-bpfcc through a shim: Debian 12's python3-bpfcc (0.26) declares
# libbcc's bpf_attach_uprobe with 6 arguments where the library takes 7, so
# the last one, ref_ctr_offset, is whatever the register held (6, here). The
# kernel then refuses every other probe on those functions while memleak runs
# ("ref_ctr_offset mismatch", EINVAL): cprofd's, bpftrace's, anyone's. The shim
# passes 0; what each call costs is unchanged.
MEMLEAK_SHIM='import ctypes, runpy, sys
from bcc import libbcc
f = libbcc.lib.bpf_attach_uprobe
if len(f.argtypes) == 6:
    f.argtypes = list(f.argtypes) + [ctypes.c_uint32]
    libbcc.lib.bpf_attach_uprobe = lambda *a: f(*a, 0)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")'

start_tool() {
	local cfg=$1 n=$WORK_PID log=$TMP/$1.log wait=30 msg
	local bt='uprobe:'"$LIBC"
	PROF_SIG=INT
	case $cfg in
	alone) return 0 ;;
	bt-malloc | bt-pair)
		[ -n "$BPFTRACE" ] || { FAILED[$cfg]="could not run: bpftrace not installed (apt-get install bpftrace)"; return 1; }
		local prog="$bt:malloc {}"
		[ "$cfg" = bt-pair ] && prog+=" $bt:free {}"
		CMD[$cfg]="bpftrace -p N -e '$prog'"
		"${SIGINT_OK[@]}" "$BPFTRACE" -p "$n" -e "$prog" >"$log" 2>&1 &
		PROF_PID=$! ;;
	floor-malloc | entry | entry-return | session | session-return)
		local sites
		case $cfg in
		floor-malloc) sites=("$LIBC:$MALLOC_OFF:entry") ;;
		entry) sites=("$LIBC:$MALLOC_OFF:entry" "$LIBC:$FREE3_OFF:entry") ;;
		entry-return) sites=("$LIBC:$MALLOC_OFF:entry" "$LIBC:$MALLOC_OFF:return" "$LIBC:$FREE3_OFF:entry") ;;
		session) sites=("$LIBC:$MALLOC_OFF:session" "$LIBC:$FREE3_OFF:session") ;;
		session-return) sites=("$LIBC:$MALLOC_OFF:session+return" "$LIBC:$FREE3_OFF:session") ;;
		esac
		CMD[$cfg]="$FLOOR N ${sites[*]}"
		"$FLOOR" "$n" "${sites[@]}" >"$log" 2>&1 &
		PROF_PID=$! PROF_SIG=TERM ;;
	cprofd | cprofd-rate1)
		[ -x "$CPROFD" ] || { FAILED[$cfg]="could not run: $CPROFD_SRC missing"; return 1; }
		if curl -s -o /dev/null "$URL/metrics"; then
			die "something already listens on ${URL#http://}; choose another with BENCH_PORT"
		fi
		local args=(--pid "$n" --views heap --listen "127.0.0.1:$PORT" --socket "$SOCK")
		[ "$cfg" = cprofd-rate1 ] && args+=(--heap-rate 1)
		CMD[$cfg]="$CPROFD_SRC ${args[*]/#$n/N}"
		"$CPROFD" "${args[@]}" >"$log" 2>&1 &
		PROF_PID=$! PROF_SIG=TERM
		for _ in $(seq 300); do
			[ "$(metric cprofd_heap_attached)" = 1 ] && break
			alive "$PROF_PID" || break
			sleep 0.1
		done
		if [ "$(metric cprofd_heap_attached)" != 1 ]; then
			FAILED[$cfg]="could not run: no cprofd_heap_attached 1 in /metrics: $(grep -v '^$' "$log" | tail -n 1)"
			return 1
		fi ;;
	memleak)
		[ -n "$MEMLEAK" ] || { FAILED[$cfg]="could not run: memleak-bpfcc not installed (apt-get install bpfcc-tools)"; return 1; }
		bcc_headers || { FAILED[$cfg]="could not run: bcc finds no kernel headers (no /lib/modules/$(uname -r)/build, no CONFIG_IKHEADERS, no Debian linux-headers-amd64 to use instead)"; return 1; }
		CMD[$cfg]="memleak-bpfcc -p N"
		[ -n "$BCC_SRC" ] && CMD[$cfg]="BCC_KERNEL_SOURCE=DIR ${CMD[$cfg]} (DIR: see below)"
		env ${BCC_SRC:+BCC_KERNEL_SOURCE="$BCC_SRC"} "${SIGINT_OK[@]}" /usr/bin/python3 -c "$MEMLEAK_SHIM" \
			"$MEMLEAK" -p "$n" >"$log" 2>&1 &
		PROF_PID=$!
		wait=180 ;;   # it compiles its program first
	esac
	wait_sites "$cfg" "$wait" && { wait_idle; return 0; }
	msg=$(grep -v -e '^$' -e RLIMIT_MEMLOCK -e '^Attaching' "$log" | tail -n 1)
	if alive "$PROF_PID"; then
		FAILED[$cfg]="could not run: its probes not in place after $wait s (${NEED[$cfg]// /, } expected, $(probed_now) seen)${msg:+: $msg}"
	else
		FAILED[$cfg]="could not run: exited${msg:+: $msg}"
	fi
	return 1
}
declare -A CMD=()

stop_tool() {
	[ -n "$PROF_PID" ] || return 0
	kill -"$PROF_SIG" "$PROF_PID" 2>/dev/null
	for _ in $(seq 100); do alive "$PROF_PID" || break; sleep 0.1; done
	kill -KILL "$PROF_PID" 2>/dev/null
	wait "$PROF_PID" 2>/dev/null
	PROF_PID=
}
stop_workload() {
	[ -n "$WORK_PID" ] || return 0
	kill -KILL "$WORK_PID" 2>/dev/null
	wait "$WORK_PID" 2>/dev/null
	WORK_PID=
}

# ---- one run -----------------------------------------------------------------

# measure CFG ROUND: one run of CFG, a line in RESULTS; none if CFG cannot run
measure() {
	local cfg=$1 round=$2 pairs=$PAIRS try before foreign= probed wall cpu
	local c0= c1= f0= f1= s0= s1= calls=- frees=- sampled=- call_s=-
	[ -z "${FAILED[$cfg]:-}" ] || return 0
	case $cfg in bt-pair | memleak) pairs=$SLOW_PAIRS ;; esac
	for try in $(seq "$TRIES"); do
		[ "$try" -gt 1 ] && sleep 15
		start_workload "$pairs"
		# someone else's probes, there before ours
		before=$(beyond "" "$(probed_now)")
		if [ -n "$before" ]; then
			echo "  $cfg: someone else probes $before (try $try of $TRIES)" >&2
			foreign=$before
			stop_workload
			continue
		fi
		if ! start_tool "$cfg"; then
			echo "  $cfg: ${FAILED[$cfg]}" >&2
			stop_tool
			stop_workload
			return 0
		fi
		if [ "${cfg%-rate1}" = cprofd ]; then
			c0=$(ev heap_alloc_calls) f0=$(ev heap_free_calls) s0=$(ev heap_sampled)
		fi
		kill -USR1 "$WORK_PID"
		wait "$WORK_PID" || die "mallocbench failed: $(cat "$TMP/work.out")"
		WORK_PID=
		if [ "${cfg%-rate1}" = cprofd ]; then
			c1=$(ev heap_alloc_calls) f1=$(ev heap_free_calls) s1=$(ev heap_sampled)
			[ -n "$c0" ] && [ -n "$c1" ] && calls=$((c1 - c0))
			[ -n "$f0" ] && [ -n "$f1" ] && frees=$((f1 - f0))
			[ -n "$s0" ] && [ -n "$s1" ] && sampled=$((s1 - s0))
			call_s=$(metric cprofd_heap_call_seconds)
			: "${call_s:=-}"
			echo "$(metric cprofd_heap_sessions) $(metric cprofd_heap_single_stepped_probes)" >"$TMP/cprofd.meta"
		fi
		alive "${PROF_PID:-0}" || [ "$cfg" = alone ] || echo "  warning: $cfg exited during the run" >&2
		stop_tool
		read -r wall cpu probed <<<"$(awk '$1 == "pairs" { print $4, $6, $12 }' "$TMP/work.out")"
		foreign=$(beyond "${ALLOW[$cfg]}" "$probed")
		[ -z "$foreign" ] && break
		echo "  $cfg: someone else's probes on $foreign during the run (try $try of $TRIES)" >&2
	done
	[ -n "${wall:-}" ] || { echo "  $cfg: no clean run in $TRIES tries" >&2; return 0; }
	printf '%s\t%d\t%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n' "$cfg" "$round" "$pairs" "$wall" "$cpu" \
		"$probed" "${foreign:--}" "$try" "$calls" "$frees" "$sampled" "$call_s" >>"$RESULTS"
	awk -v c="$cfg" -v p="$pairs" -v w="$wall" -v u="$cpu" -v pr="$probed" -v f="${foreign:-}" 'BEGIN {
		printf "  %-13s %8.1f ns/pair CPU %8.1f wall  probed %s%s\n", c, u / p, w / p, pr, f != "" ? "  (FOREIGN: " f ")" : "" }' >&2
}

# ---- main --------------------------------------------------------------------

echo "bench: $RUNS rounds of ${CONFIGS[*]}; $PAIRS pairs a run ($SLOW_PAIRS for bt-pair and memleak)" >&2
"$WORKLOAD" 100000 >/dev/null & w=$!; sleep 0.2; kill -USR1 "$w"; wait "$w"   # warm-up
steal0=$(awk '/^cpu / { print $9 }' /proc/stat)
: >"$RESULTS"
for r in $(seq "$RUNS"); do
	echo "round $r/$RUNS" >&2
	for c in "${CONFIGS[@]}"; do measure "$c" "$r"; done
done
steal1=$(awk '/^cpu / { print $9 }' /proc/stat)

# What the BPF programs themselves take, by the kernel's statistics
# (kernel.bpf_stats_enabled=1, which times every run and so is on only for
# one more run of each of these configurations, not in the table): lines of
# "CFG PROGRAM NS_PER_RUN RUNS_PER_PAIR" in $TMP/progs
prog_stats() {
	local id
	for id in $(grep -h '^prog_id:' /proc/"$1"/fdinfo/* 2>/dev/null | awk '{ print $2 }' | sort -un); do
		bpftool prog show id "$id" 2>/dev/null | awk -v id="$id" 'NR == 1 {
			for (i = 1; i < NF; i++) { if ($i == "name") n = $(i + 1); if ($i == "run_time_ns") t = $(i + 1); if ($i == "run_cnt") c = $(i + 1) }
			print id, n ? n : "?", t + 0, c + 0 }'
	done
}
: >"$TMP/progs"
for c in session session-return cprofd cprofd-rate1; do
	[[ " ${CONFIGS[*]} " == *" $c "* ]] && [ -z "${FAILED[$c]:-}" ] || continue
	start_workload "$PAIRS"
	sysctl -qw kernel.bpf_stats_enabled=1
	if start_tool "$c"; then
		prog_stats "$PROF_PID" >"$TMP/progs0"
		kill -USR1 "$WORK_PID"; wait "$WORK_PID"; WORK_PID=
		prog_stats "$PROF_PID" >"$TMP/progs1"
		awk -v c="$c" -v p="$PAIRS" 'NR == FNR { t[$1] = $3; n[$1] = $4; next }
			$4 > n[$1] { printf "%s %s %.1f %.3f %d\n", c, $2, ($3 - t[$1]) / ($4 - n[$1]), ($4 - n[$1]) / p, $4 - n[$1] }' \
			"$TMP/progs0" "$TMP/progs1" >>"$TMP/progs"
	fi
	stop_tool
	stop_workload
	sysctl -qw kernel.bpf_stats_enabled="$BPF_STATS_ORIG"
done
steal=$(( (steal1 - steal0) / $(getconf CLK_TCK) ))

# ---- report ------------------------------------------------------------------

CLEAN='foreign == "-"'
# per-pair figures of CFG's clean runs: cpu or wall
per_pair() { COL_WHERE=$CLEAN col "$1" "$2_ns / pairs"; }
declare -A MC MW
for c in "${CONFIGS[@]}"; do
	MC[$c]=$(per_pair "$c" cpu | med)
	MW[$c]=$(per_pair "$c" wall | med)
done
: "${MC[alone]:=-}" "${MW[alone]:=-}"

# paired ratio of added costs, CFG over REF, per round (both clean, alone too):
# "median min max" of (cfg - alone) / (ref - alone), by the CPU clock
paired() {
	awk -F '\t' -v c="$1" -v r="$2" '$7 == "-" { v[$1, $2] = $5 / $3 }
		END { for (k in v) { split(k, p, SUBSEP); if (p[1] != c) continue; i = p[2]
			if (((c, i) in v) && ((r, i) in v) && (("alone", i) in v) && v[r, i] > v["alone", i])
				print (v[c, i] - v["alone", i]) / (v[r, i] - v["alone", i]) } }' "$RESULTS" | stats
}
# ratio of the medians' added costs, or -
ratio() {
	awk -v a="${MC[$1]:--}" -v b="${MC[$2]:--}" -v z="${MC[alone]}" 'BEGIN {
		if (a == "-" || b == "-" || z == "-" || b - z <= 0) print "-"; else printf "%.2f\n", (a - z) / (b - z) }'
}
# "X× (paired ratios min–max; ratio of medians Y×)", or "not measured"
ratio_text() {
	local m lo hi rm
	read -r m lo hi <<<"$(paired "$1" "$2")"
	rm=$(ratio "$1" "$2")
	[ "$m" = - ] && { echo "not measured"; return; }
	awk -v m="$m" -v lo="$lo" -v hi="$hi" -v rm="$rm" 'BEGIN {
		printf "%.2f× (rounds %.2f–%.2f; ratio of the medians %s×)", m, lo, hi, rm }'
}
# median of the rounds' differences CFG - REF, ns per pair by the CPU clock
pdiff() {
	awk -F '\t' -v c="$1" -v r="$2" '$7 == "-" { v[$1, $2] = $5 / $3 }
		END { for (k in v) { split(k, p, SUBSEP); if (p[1] == c && ((r, p[2]) in v)) print v[k] - v[r, p[2]] } }' "$RESULTS" |
		stats | awk '{ print $1 }'
}
# the sites most of CFG's runs showed probed
sites_of() { col "$1" probed | sort | uniq -c | sort -rn | awk 'NR == 1 { gsub(",", ", ", $2); print $2 }'; }
dflt_rate=524288

section=$TMP/section.md
{
	echo "<!-- bench:heap begin -->"
	echo "### The heap view: what an allocator call costs under its probes"
	echo
	machine_lines
	echo "\`$WORKLOAD PAIRS\` (tests/bench/mallocbench.c): one thread, after the probes are in place,"
	echo "PAIRS pairs of malloc(s) and free() of the block, s cycling through 16, 64, 256, 1024 and"
	echo "4096 bytes (mean 1091.2: glibc serves the first four from its per-thread cache); ns per pair"
	echo "by the thread's CPU clock (the probes' traps and programs run on the thread, in the kernel),"
	echo "and by the wall clock. PAIRS = $PAIRS, $SLOW_PAIRS for the two configurations that"
	echo "single-step free. Medians of $RUNS rounds, the configurations interleaved; the host stole"
	echo "$steal CPU-seconds from this VM during the run. Every probe is in the workload's process"
	echo "only (N, its pid). \`tests/bench/heap.sh\`."
	echo
	echo "| configuration | attached | probed (the workload's view) | ns per pair, CPU (min–max) | added ns per pair, CPU | ns per pair, wall | added, wall |"
	echo "|---|---|---|---|---|---|---|"
	for c in "${CONFIGS[@]}"; do
		if [ -z "${MC[$c]}" ] || [ "${MC[$c]}" = - ]; then
			if [ -n "${FAILED[$c]:-}" ]; then echo "| $c | ${LABEL[$c]} | could not run (below) | | | | |"
			else echo "| $c | ${LABEL[$c]} | no clean run (below) | | | | |"; fi
			continue
		fi
		read -r _ lo hi <<<"$(per_pair "$c" cpu | stats)"
		awk -v c="$c" -v l="${LABEL[$c]}" -v s="$(sites_of "$c")" -v m="${MC[$c]}" -v lo="$lo" -v hi="$hi" \
			-v w="${MW[$c]}" -v a="${MC[alone]}" -v aw="${MW[alone]}" 'BEGIN {
			b = c ~ /^(entry|entry-return|cprofd|cprofd-rate1)$/ ? "**" : ""
			printf "| %s%s%s | %s | %s | %.1f (%.1f–%.1f) | ", b, c, b, l, s, m, lo, hi
			if (a == "-") printf "– | "; else printf "%+.1f | ", m - a
			printf "%.1f | ", w
			if (aw == "-") printf "– |\n"; else printf "%+.1f |\n", w - aw }'
	done
	echo
	echo "Commands (N: the workload's pid; the workload reads its own code to tell which entry points"
	echo "hold a uprobe's int3, which the \"probed\" column shows, most runs' answer):"
	echo
	for c in "${CONFIGS[@]}"; do
		[ -n "${CMD[$c]:-}" ] && echo "- ${c}: \`${CMD[$c]}\`"
	done
	echo
	# the goal and the comparisons, on paired rounds
	echo "- Goal: at the default rate, unsampled calls cost no more than 1.2× a bare entry probe. cprofd"
	echo "  (default rate) against the entry line, added ns per pair over added ns per pair, both"
	echo "  probing malloc and free+3, a pair being one call of each (about 0.2% of the mallocs are"
	echo "  sampled, which adds a few ns a pair):"
	read -r gm _ _ <<<"$(paired cprofd entry)"
	echo "  $(ratio_text cprofd entry)$(awk -v m="$gm" 'BEGIN { if (m == "-") print ""; else if (m <= 1.2) printf ": met, %.0f%% under the bound", (1.2 - m) / 1.2 * 100; else printf ": NOT met, %.0f%% over the bound", (m - 1.2) / 1.2 * 100 }')."
	awk -v lo="$(per_pair entry cpu | stats | awk '{ print $2 }')" -v hi="$(per_pair entry cpu | stats | awk '{ print $3 }')" 'BEGIN {
		if (lo != "-") printf "  The trap a probe costs moves by up to %.1f× between runs seconds apart on this VM (the entry\n  line: %.0f–%.0f ns a pair), whatever runs beside it: single rounds\x27 ratios spread as much.\n", hi / lo, lo, hi }'
	if [ -s "$TMP/progs" ]; then
		awk -v e="$(pdiff entry alone)" '$1 == "cprofd" && $2 == "heap_session" { c = $3 } $1 == "session" && $2 == "floor_cancel" { f = $3 }
			END { if (c && f && e != "-")
				printf "  From the BPF statistics below, which do not move so: cprofd\x27s program takes %.0f ns a call more\n  than an empty session program; on the entry line\x27s %.0f ns a pair that is %.2f×.\n", c - f, e, (e + 2 * (c - f)) / e }' "$TMP/progs"
	fi
	echo "- The same against the session line (the kernel's uprobe sessions, which cprofd uses, with an"
	echo "  empty program), which tells what cprofd's program adds to its mechanism:"
	echo "  $(ratio_text cprofd session)."
	echo "- At rate 1 (every allocation sampled: entry, return and a stack), cprofd against the"
	echo "  entry+return line: $(ratio_text cprofd-rate1 entry-return); against the session+return line:"
	echo "  $(ratio_text cprofd-rate1 session-return)."
	echo "- memleak against cprofd at the default rate: $(ratio_text memleak cprofd);"
	echo "  against cprofd at rate 1 (both recording every allocation): $(ratio_text memleak cprofd-rate1)."
	# differences, as medians of the rounds' paired differences
	d_bt=$(pdiff bt-malloc alone) d_fm=$(pdiff floor-malloc alone) d_free=$(pdiff bt-pair bt-malloc)
	d_free3=$(pdiff entry floor-malloc) d_ret=$(pdiff entry-return entry) d_sret=$(pdiff session-return session)
	d_ses=$(pdiff session entry)
	[ "$d_bt" != - ] && [ "$d_fm" != - ] &&
		echo "- The same empty probe on malloc by bpftrace and by uprobefloor: $(fmt "$d_bt" %+.0f) and $(fmt "$d_fm" %+.0f) ns a call."
	[ "$d_free" != - ] && [ "$d_free3" != - ] &&
		echo "- An entry probe on free costs $(fmt "$d_free" %.0f) ns a call on its first instruction (single-stepped; bt-pair less
  bt-malloc), $(fmt "$d_free3" %.0f) ns at free+3 (entry less floor-malloc)."
	[ "$d_ret" != - ] && echo "- A return probe on malloc adds $(fmt "$d_ret" %.0f) ns a call (entry-return less entry)$(
		[ "$d_sret" != - ] && printf ';\n  %s' "a session's return $(fmt "$d_sret" %.0f) ns (session-return less session)")."
	[ "$d_ses" != - ] && echo "- Sessions against perf-event probes: $(fmt "$d_ses" %+.0f) ns a pair (session less entry)."
	echo "  (Differences: medians of the rounds' paired differences, CPU clock.)"
	# cprofd's own figures, from /metrics
	if [ "$(COL_WHERE=$CLEAN col cprofd calls | grep -vc -- -)" -gt 0 ]; then
		awk -F '\t' -v rate="$dflt_rate" -v ma="${MC[cprofd]:--}" -v a="${MC[alone]}" '
			$1 == "cprofd" && $7 == "-" && $9 != "-" { c += $9; f += $10; s += $11; p += $3; cs[++n] = $12 }
			END {
				# a call of size b is drawn with probability 1 - exp(-b / rate)
				split("16 64 256 1024 4096", sz, " ")
				for (i = 1; i <= 5; i++) e += (1 - exp(-sz[i] / rate)) / 5
				printf "- Sampled at the default rate: %d of %d allocation calls (%.3f%%), the Poisson draw\n", s, c, 100 * s / c
				printf "  by bytes predicting %.3f%% for these sizes; cprofd counted %.3f allocation and %.3f free\n", 100 * e, c / p, f / p
				printf "  calls per pair (heap_alloc_calls, heap_free_calls in /metrics).\n"
				if (cs[1] != "-" && cs[1] != "" && ma != "-" && a != "-")
					printf "- cprofd_heap_call_seconds, cprofd'\''s own estimate at start: %.0f ns per call; measured here: %.0f\n  (added per pair, over two calls).\n", cs[1] * 1e9, (ma - a) / 2
			}' "$RESULTS"
	fi
	# at rate 1
	if [ "$(COL_WHERE=$CLEAN col cprofd-rate1 calls | grep -vc -- -)" -gt 0 ]; then
		awk -F '\t' '$1 == "cprofd-rate1" && $7 == "-" && $9 != "-" { c += $9; s += $11 }
			END { printf "- At rate 1: %d of %d allocation calls sampled.\n", s, c }' "$RESULTS"
	fi
	n=$(col '*' 'tries > 1' | grep -c 1)
	x=$(col '*' 'foreign != "-"' | grep -c 1)
	echo "- Someone else's probes on the workload's allocator (uprobes placed for every process):"
	echo "  $n of the runs were done again because of them; $x kept them after $TRIES tries (left out)."
	if [ -s "$TMP/progs" ]; then
		echo "- The BPF programs' own time, from the kernel's statistics in one more run of each (not in"
		echo "  the table: kernel.bpf_stats_enabled=1 times every run, which adds to each), ns a run:"
		awk '{ l[$1] = l[$1] (l[$1] ? ", " : "") sprintf($4 >= 0.01 ? "%s %.0f (%.2f runs a pair)" : "%s %.0f (%.0f runs in all)", $2, $3, $4 >= 0.01 ? $4 : $5) }
			END { for (c in l) print "  " c ": " l[c] "." }' "$TMP/progs" | sort
	fi
	if [ -s "$TMP/cprofd.meta" ]; then
		read -r ses ss <"$TMP/cprofd.meta"
		echo "- cprofd, $CPROFD_SRC as built at $CPROFD_WHEN ($(git log -1 --format=%h 2>/dev/null)$([ -n "$(git status --porcelain -- daemon bpf include 2>/dev/null)" ] && echo ' with uncommitted changes')),"
		echo "  said (/metrics): uprobe sessions ${ses:-?} (cprofd_heap_sessions), ${ss:-?} probes on"
		echo "  instructions the kernel single-steps (cprofd_heap_single_stepped_probes)."
	fi
	for c in "${CONFIGS[@]}"; do
		[ -n "${FAILED[$c]:-}" ] && echo "- $c: ${FAILED[$c]}"
	done
	if [ -n "$BCC_SRC" ] && [[ " ${CONFIGS[*]} " == *" memleak "* ]]; then
		echo "- memleak: DIR, what bcc compiled its program against, was"
		echo "  $BCC_DESC; its programs read user registers only. It ran through a shim that gives"
		echo "  libbcc's bpf_attach_uprobe the ref_ctr_offset (0) that Debian's python3-bpfcc 0.26 leaves out"
		echo "  (otherwise the kernel refuses anyone else's probe on those functions while memleak runs)."
	fi
	echo "<!-- bench:heap end -->"
} >"$section"
echo
cat "$section"
write_doc "$section" heap
