#!/usr/bin/env bash
# The cost of symbolizing, side by side, in one run: cprofd at 99 Hz
# system-wide builds a profile of a busy host, first with its symbol caches
# empty (cold) and then again right after (warm), and perf symbolizes the
# same kind of recording with `perf report`. The busy host runs, as Debian
# ships them:
#   python    /usr/bin/python3 running tests/bench/pydeep.py (a recursion 30
#             deep doing arithmetic);
#   redis     redis-server under redis-benchmark (set and get, looping);
#   postgres  PostgreSQL 15, a fresh cluster, under pgbench (TPC-B-like,
#             2 clients) after `pgbench -i -s 5`.
#
# Each round starts the host afresh, then a fresh cprofd (a private copy of
# build/cprofd, taken when the script starts), and fetches two profiles of the
# whole machine, one window after the other: cold, then warm. From /metrics
# before and after each window it takes the time cprofd spent building the
# profile (symbolizing, building and gzipping it), the distinct addresses it
# resolved, and the symbol cache; from the profile the samples; from
# /proc/PID/status cprofd's RSS and peak RSS after each window; cprofd's CPU
# (proccpu) to start, in each window and its build, and to stop. Then it
# stops cprofd, records one window with `perf record -F 99 -a -g` and times
# `perf report --stdio --no-children --sort comm,dso,sym` on it (wall, CPU and
# peak RSS from /usr/bin/time), the host still busy. Prints a table and writes
# it into docs/PERFORMANCE.md between the bench:symbols markers.
#
# Run as root: `bash tests/bench/symbols.sh` after `make` (with the bench
# packages: scripts/deps.sh bench, plus postgresql-15 and time). Environment:
# BENCH_RUNS (rounds, default 3), BENCH_SECONDS or BENCH_SECS (window, default
# 30), BENCH_HZ (default 99), BENCH_PY_DEPTH (default 30), BENCH_PY_PROCS
# (python processes, default 1), BENCH_PG_SCALE (pgbench -s, default 5),
# BENCH_PG_CLIENTS (pgbench -c and -j, default 2), BENCH_PORT (cprofd's
# port, default 16074), BENCH_REDIS_PORT (default 16380), BENCH_PG_PORT
# (default 16432), BENCH_CPROFD (the daemon to measure, default build/cprofd:
# another build, to compare), BENCH_DOC (default docs/PERFORMANCE.md; "none" to only
# print), BENCH_KEEP=1 (keep the raw results in /tmp).
set -uo pipefail
cd "$(dirname "$0")/../.."

RUNS=${BENCH_RUNS:-3}
SECS=${BENCH_SECONDS:-${BENCH_SECS:-30}}
HZ=${BENCH_HZ:-99}
DEPTH=${BENCH_PY_DEPTH:-30}
PY_PROCS=${BENCH_PY_PROCS:-1}
PG_SCALE=${BENCH_PG_SCALE:-5}
PG_CLIENTS=${BENCH_PG_CLIENTS:-2}
PORT=${BENCH_PORT:-16074}
REDIS_PORT=${BENCH_REDIS_PORT:-16380}
PG_PORT=${BENCH_PG_PORT:-16432}
DOC=${BENCH_DOC:-docs/PERFORMANCE.md}
SETTLE=1         # seconds between cprofd ready and its first window
SOCK=/tmp/cprofd-bench-sym.sock
URL=http://127.0.0.1:$PORT
OUT=build/bench
PYTHON=/usr/bin/python3
PG_BIN=/usr/lib/postgresql/15/bin
GOAL_BUILD_MS=100
GOAL_RSS_MIB=100
TMP=$(mktemp -d /tmp/cprof-bench-sym.XXXXXX)
RESULTS=$TMP/results.tsv
# private copies: the tree's build/ may be rebuilt while this runs
CPROFD=$TMP/cprofd
PROFQ=$TMP/profq
PROCCPU=$TMP/proccpu
# debug files from the disk only, for cprofd and perf alike: no debuginfod
unset DEBUGINFOD_URLS

# shared helpers: measurement, profilers, statistics, the doc
source tests/bench/lib.sh

PG_DATA=         # the running cluster, if any
PG_SOCKDIR=

# fields of results.tsv, one line per window (cfg: cold, warm or perf);
# counters are deltas over the window, gauges their value at its end; "-"
# where it does not apply. objs: per object, "named/addresses" in the profile.
FIELDS="cfg round window_us resp_us build_s profiles frames inlined no_symbol unmapped jit
	samples bytes sc_objects sc_bytes sc_hits sc_misses sc_evict dbg_local cpu_ns tail_cpu_ns
	start_cpu_ns stop_cpu_ns rss_kb hwm_kb maps_kb busy_ns redis_ops pg_tps perf_bytes perf_samples
	rep_s rep_user rep_sys rep_kb rep_named objs others fetch"
# the objects counted apart in the profile (the files the processes map, as
# /proc/PID/maps names them; set by build) and their labels
OBJECTS=()
OBJ_LABELS=(python3 redis-server postgres libc.so.6 kernel)

# ---- build and checks --------------------------------------------------------

build() {
	build_check
	[ -x build/tests/profq ] || die "build/tests/profq missing: run make first"
	cp "${BENCH_CPROFD:-build/cprofd}" "$CPROFD" && cp build/tests/profq "$PROFQ" ||
		die "cannot copy ${BENCH_CPROFD:-build/cprofd} and build/tests/profq"
	build_proccpu
	[ -x "$PYTHON" ] || die "$PYTHON missing (apt-get install python3)"
	command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null &&
		command -v redis-cli >/dev/null || die "redis-server or redis-tools missing: scripts/deps.sh bench"
	[ -x "$PG_BIN/postgres" ] && [ -x "$PG_BIN/pgbench" ] && [ -x "$PG_BIN/initdb" ] ||
		die "PostgreSQL 15 missing in $PG_BIN (apt-get install postgresql-15)"
	id postgres >/dev/null 2>&1 || die "no user postgres (apt-get install postgresql-15)"
	[ -x /usr/bin/time ] || die "/usr/bin/time missing (apt-get install time)"
	command -v readelf >/dev/null || die "readelf missing (apt-get install binutils)"
	# postgres runs its cluster under $TMP
	chmod 711 "$TMP"
	OBJECTS=("$(readlink -f "$PYTHON")" "$(readlink -f "$(command -v redis-server)")"
		"$(readlink -f "$PG_BIN/postgres")" "$(readlink -f "$(ldd "$PYTHON" | awk '$1 == "libc.so.6" { print $3 }')")"
		'[kernel.kallsyms]')
}

# ---- the busy host: python, redis, postgres (WORK_PID: the processes we
# started; postgres's server is a daemon, stopped with pg_ctl) ---------------

start_python() {
	local i
	for i in $(seq "$PY_PROCS"); do
		"$PYTHON" tests/bench/pydeep.py "$DEPTH" >/dev/null 2>"$TMP/python.err" &
		WORK_PID+=" $!"
	done
}



as_postgres() { runuser -u postgres -- "$@"; }

pg_ctl() { as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" "$@"; }

# a fresh cluster in $TMP/pg (unix socket only, fsync off), pgbench's tables,
# and pgbench running until stopped
start_postgres() {
	local dir=$TMP/pg
	rm -rf "$dir"
	mkdir -p "$dir/sock" && chown -R postgres: "$dir" || die "cannot make $dir"
	as_postgres "$PG_BIN/initdb" -D "$dir/data" -A trust -U postgres -N -E UTF8 >"$TMP/initdb.log" 2>&1 ||
		die "initdb failed: $(tail -n 1 "$TMP/initdb.log")"
	PG_DATA=$dir/data PG_SOCKDIR=$dir/sock
	pg_ctl -l "$dir/log" -w -o "-p $PG_PORT -k $PG_SOCKDIR -c listen_addresses='' -c fsync=off" \
		start >"$TMP/pg_ctl.log" 2>&1 || die "postgres did not start: $(tail -n 2 "$dir/log")"
	as_postgres "$PG_BIN/pgbench" -h "$PG_SOCKDIR" -p "$PG_PORT" -i -s "$PG_SCALE" -q postgres \
		>"$TMP/pgbench-init.log" 2>&1 || die "pgbench -i failed: $(tail -n 1 "$TMP/pgbench-init.log")"
	# runuser passes SIGTERM on to pgbench; -P: tps every 5 s, to its log
	as_postgres "$PG_BIN/pgbench" -h "$PG_SOCKDIR" -p "$PG_PORT" -c "$PG_CLIENTS" -j "$PG_CLIENTS" \
		-T 86400 -P 5 postgres >"$TMP/pgbench.log" 2>&1 &
	WORK_PID+=" $!"
}

stop_postgres() {
	[ -n "$PG_DATA" ] || return 0
	[ -f "$PG_DATA/postmaster.pid" ] && pg_ctl -m "${1:-fast}" -w stop >>"$TMP/pg_ctl.log" 2>&1
	rm -rf "$(dirname "$PG_DATA")"
	PG_DATA=
}

start_host() {
	start_python
	start_redis
	start_postgres
	sleep 1
}

stop_host() {
	stop_pids $WORK_PID
	WORK_PID=
	stop_postgres fast
}

# lib.sh's cleanup: the workload's processes are killed first, then this
cleanup_hook() { stop_postgres immediate; }

# redis commands processed so far
redis_ops() {
	redis_cli info stats | awk -F: '$1 == "total_commands_processed" { print $2 + 0; f = 1 } END { if (!f) print 0 }'
}

# pgbench's median tps over the progress lines from line FROM on
pg_tps() {
	tail -n +"$1" "$TMP/pgbench.log" | awk '/^progress:/ { for (i = 1; i < NF; i++) if ($(i + 1) == "tps,") print $i }' |
		med
}

# CPU time of the whole machine so far (not idle, not iowait), ns
busy_ns() {
	awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" { printf "%.0f\n", ($2 + $3 + $4 + $7 + $8 + $9) * 1e9 / hz; exit }' /proc/stat
}

# ---- cprofd's metrics --------------------------------------------------------

# metric FILE NAME: the value of a metric line ("name{labels}") in a saved
# /metrics, 0 if absent
metric() { awk -v k="$2" '$1 == k { v = $2 } END { print v == "" ? 0 : v }' "$1"; }
# delta A B NAME: NAME in B minus NAME in A (%.6f for seconds, else integer)
delta() {
	awk -v a="$(metric "$1" "$3")" -v b="$(metric "$2" "$3")" \
		'BEGIN { d = b - a; if (d == int(d)) printf "%d\n", d; else printf "%.6f\n", d }'
}
sym() { echo "cprofd_symbolize_total{result=\"$1\"}"; }

# the resident part of PID's mappings of BPF maps (cprofd maps its unwind
# tables into its memory), KiB
maps_rss_kb() {
	awk '/^[0-9a-f]+-[0-9a-f]+ / { m = ($6 == "anon_inode:bpf-map") } m && $1 == "Rss:" { s += $2 }
		END { print s + 0 }' "/proc/$1/smaps" 2>/dev/null || echo -
}
rss_kb() { tree_status_kb VmRSS "$1"; }

# "NAMED LOCATIONS" of the locations profq prints (named: its innermost
# line has a function name, not "??")
count_named() {
	awk '{ n++; i = index($0, " |"); f = substr($0, i + 2); f = substr(f, 1, index(f, "|") - 1)
		if (i && f != "" && f != "??") k++ } END { print k + 0, n + 0 }'
}

# per object of OBJECTS, then all the rest: "named/locations", comma
# separated, over the profile FILE's locations in mappings
objects_named() {
	local f=$1 o all
	all=$("$PROFQ" "$f" locations "" 2>/dev/null | count_named)
	for o in "${OBJECTS[@]}"; do
		"$PROFQ" "$f" locations "$o" 2>/dev/null | count_named
	done | awk -v all="$all" '{ printf "%s/%s,", $1, $2; k += $1; n += $2 }
		END { split(all, a, " "); printf "%d/%d\n", a[1] - k, a[2] - n }'
}

# set_field CFG ROUND NAME VALUE: in results.tsv
set_field() {
	local i
	i=$(awk -v n="$3" '{ for (i = 1; i <= NF; i++) if ($i == n) print i }' <<<"$(echo $FIELDS)")
	awk -F '\t' -v OFS='\t' -v c="$1" -v r="$2" -v i="$i" -v v="$4" '$1 == c && $2 == r { $i = v } 1' \
		"$RESULTS" >"$TMP/r" && cat "$TMP/r" >"$RESULTS"
}

# ---- one round -------------------------------------------------------------

# window_cprofd CFG ROUND: one profile of the whole machine over $SECS s, and
# the metrics around it; appends CFG's line to results.tsv
window_cprofd() {
	local cfg=$1 round=$2 m0=$TMP/metrics.$1.0 m1=$TMP/metrics.$1.1 prof=$TMP/$1.pb.gz
	local t0 t1 cpu0 cpu1 cpu_end busy0 busy1 ops0 ops1 pgl fetch code size samples=- objs=- others
	local rss hwm mkb start_cpu=- wait_us pid
	others=$(other_profilers)
	pgl=$(($(wc -l <"$TMP/pgbench.log") + 1))
	curl -s -o "$m0" "$URL/metrics"
	ops0=$(redis_ops)
	busy0=$(busy_ns)
	cpu0=$(cpu_ns "$PROF_PID")
	[ "$cfg" = cold ] && start_cpu=$cpu0
	t0=$(now)
	rm -f "$prof"
	curl -s -o "$prof" -w '%{http_code} %{size_download}\n' --max-time $((SECS + 120)) \
		"$URL/debug/pprof/profile?seconds=$SECS" >"$TMP/fetch" 2>&1 &
	CURL_PID=$!
	# cprofd's CPU from just before the window's end (50 ms) to the response:
	# the build, and the last drain
	wait_us=$((t0 + SECS * 1000000 - 50000 - $(now)))
	[ "$wait_us" -gt 0 ] && sleep "$(awk -v u="$wait_us" 'BEGIN { printf "%.3f", u / 1e6 }')"
	cpu_end=$(cpu_ns "$PROF_PID")
	wait "$CURL_PID"
	CURL_PID=
	t1=$(now)
	cpu1=$(cpu_ns "$PROF_PID")
	busy1=$(busy_ns)
	ops1=$(redis_ops)
	curl -s -o "$m1" "$URL/metrics"
	rss=$(rss_kb "$PROF_PID")
	hwm=$(peak_rss_kb "$PROF_PID")
	mkb=$(maps_rss_kb "$PROF_PID")
	CPU1_NS=$cpu1
	alive "$PROF_PID" || echo "  warning: cprofd exited during the $cfg window" >&2
	for pid in $WORK_PID; do alive "$pid" || echo "  warning: a workload process ($pid) exited during the window" >&2; done
	read -r code size <"$TMP/fetch"
	fetch="${code:-0}:${size:-0}"
	if [ "$code" = 200 ]; then
		samples=$("$PROFQ" "$prof" total 2>/dev/null | awk '{ print $2 }')
		objs=$(objects_named "$prof")
	else
		echo "  warning: the $cfg profile: HTTP ${code:-none}" >&2
	fi
	[ "$(delta "$m0" "$m1" cprofd_profiles_built_total)" = 1 ] ||
		echo "  warning: $(delta "$m0" "$m1" cprofd_profiles_built_total) profiles built in the $cfg window (1 expected)" >&2
	printf '%s\t' "$cfg" "$round" $((t1 - t0)) $((t1 - t0 - SECS * 1000000)) \
		"$(delta "$m0" "$m1" cprofd_profile_build_seconds_total)" "$(delta "$m0" "$m1" cprofd_profiles_built_total)" \
		"$(delta "$m0" "$m1" "$(sym frames)")" "$(delta "$m0" "$m1" "$(sym inlined_frames)")" \
		"$(delta "$m0" "$m1" "$(sym no_symbol)")" "$(delta "$m0" "$m1" "$(sym unmapped)")" \
		"$(delta "$m0" "$m1" "$(sym jit)")" "${samples:--}" "${size:-0}" \
		"$(metric "$m1" cprofd_symcache_objects)" "$(metric "$m1" cprofd_symcache_bytes)" \
		"$(delta "$m0" "$m1" 'cprofd_symcache_lookups_total{result="hit"}')" \
		"$(delta "$m0" "$m1" 'cprofd_symcache_lookups_total{result="miss"}')" \
		"$(delta "$m0" "$m1" cprofd_symcache_evictions_total)" \
		"$(delta "$m0" "$m1" 'cprofd_debuginfo_total{result="found_local"}')" \
		$((cpu1 - cpu0)) $((cpu1 - cpu_end)) "$start_cpu" - "$rss" "$hwm" "$mkb" $((busy1 - busy0)) $((ops1 - ops0)) \
		"$(pg_tps "$pgl")" - - - - - - - "$objs" "${others:--}" >>"$RESULTS"
	printf '%s\n' "$fetch" >>"$RESULTS"
	COL_WHERE="round == $round" col "$cfg" \
		'sprintf("  %-5s build %.1f ms, %d addresses (%.1f µs each, %.1f%% named), %s samples, profile %.0f KiB; symcache %d objects, %.1f MiB%s",
			cfg, build_s * 1e3, frames, frames ? build_s * 1e6 / frames : 0,
			frames ? (frames - no_symbol - unmapped) / frames * 100 : 0, samples, bytes / 1024,
			sc_objects, sc_bytes / 1048576,
			rss_kb != "-" ? sprintf("; cprofd RSS %.1f MiB, peak %.1f", rss_kb / 1024, hwm_kb / 1024) : "")'
	[ -n "$others" ] && echo "    (other profilers running: $others)"
}

# window_perf ROUND: perf record -g over $SECS s, then perf report timed on it
window_perf() {
	local round=$1 t0 t1 busy0 busy1 ops0 ops1 pgl pbytes psamples rep named others
	local home=$TMP/perf-home
	# perf's build-id cache goes to $HOME/.debug: keep it in $TMP
	mkdir -p "$home"
	CPU1_NS=0
	pgl=$(($(wc -l <"$TMP/pgbench.log") + 1))
	ops0=$(redis_ops)
	busy0=$(busy_ns)
	t0=$(now)
	HOME=$home start_perf perf -g || {
		cleanup_failed_start
		echo "  perf: ${FAILED[perf]}"
		return 0
	}
	others=$(other_profilers)
	# $SECS s from its start (start_perf waits 1 s to see it running)
	sleep "$(awk -v u=$((t0 + SECS * 1000000 - $(now))) 'BEGIN { printf "%.3f", (u > 0 ? u / 1e6 : 0) }')"
	t1=$(now)
	busy1=$(busy_ns)
	ops1=$(redis_ops)
	CPU1_NS=$(cpu_ns "$PROF_PID")
	stop_profiler
	pbytes=$(stat -c %s "$TMP/perf.data" 2>/dev/null || echo -)
	psamples=$(sed -n 's/.*perf record: Captured and wrote .*(\([0-9]*\) samples).*/\1/p' "$TMP/perf.log" | tail -n 1)
	# perf's symbolization, the host still busy
	HOME=$home /usr/bin/time -f '%e %U %S %M' -o "$TMP/perf-report.time" \
		perf report -i "$TMP/perf.data" --stdio --no-children --sort comm,dso,sym \
		>"$TMP/perf-report.txt" 2>"$TMP/perf-report.err"
	rep=$(tail -n 1 "$TMP/perf-report.time")
	[ "$(wc -w <<<"$rep")" = 4 ] || { echo "  warning: perf report failed: $(tail -n 1 "$TMP/perf-report.err")" >&2; rep="- - - -"; }
	# the samples (by their own symbol, no children) whose symbol perf named
	named=$(awk '/^ +[0-9.]+%/ { p = $1 + 0; t += p; if ($0 !~ /\] 0x[0-9a-f]+ *$/) n += p }
		END { if (t) printf "%.1f\n", n / t * 100; else print "-" }' "$TMP/perf-report.txt")
	printf '%s\t' perf "$round" $((t1 - t0)) - - - - - - - - "${psamples:--}" - - - - - - - \
		- - - - - - - $((busy1 - busy0)) $((ops1 - ops0)) "$(pg_tps "$pgl")" "$pbytes" "${psamples:--}" \
		$rep "$named" - "${others:--}" >>"$RESULTS"
	printf '%s\n' - >>"$RESULTS"
	rm -f "$TMP/perf.data" "$TMP/perf.data.old"
	rm -rf "$home"
	COL_WHERE="round == $round" col perf \
		'sprintf("  perf  report %.2f s, CPU %.2f s, peak RSS %.1f MiB, %s samples (perf.data %.1f MiB), %s%% of samples named",
			rep_s, rep_user + rep_sys, rep_kb / 1024, perf_samples, perf_bytes / 1048576, rep_named)'
	[ -n "$others" ] && echo "    (other profilers running: $others)"
}

round() {
	local round=$1
	start_host
	CPU1_NS=0
	if start_cprofd cprofd; then
		sleep "$SETTLE"
		window_cprofd cold "$round"
		window_cprofd warm "$round"
		stop_profiler
		sysctl -qw kernel.bpf_stats_enabled="$BPF_STATS_ORIG"
		set_field warm "$round" stop_cpu_ns "$STOP_CPU_NS"
	else
		cleanup_failed_start
		echo "  cprofd: ${FAILED[cprofd]}"
	fi
	window_perf "$round"
	stop_host
}

# ---- report ----------------------------------------------------------------

# mmm CFG EXPR FORMAT: "median (min–max)" of EXPR over CFG's rounds
mmm() {
	col "$1" "$2" | stats |
		awk -v f="$3" '$1 == "-" { print "–"; next } { printf f " (" f "–" f ")\n", $1, $2, $3 }'
}
# m CFG EXPR: the median of EXPR over CFG's rounds ("-" if none)
m() { col "$1" "$2" | med; }
nruns() { col "$1" 1 | wc -l; }

pct='/ (window_us * 1e3) * 100'
named='frames ? (frames - no_symbol - unmapped) / frames * 100 : ""'
per_addr='frames ? build_s * 1e6 / frames : ""'

# object_col CFG I: the median named % and locations of the I-th object
object_col() {
	local e="split(objs, o, \",\") >= $2 && split(o[$2], v, \"/\") == 2"
	echo "$(fmt "$(m "$1" "$e && v[2] ? v[1] / v[2] * 100 : \"\"")" %.1f)% of $(fmt "$(m "$1" "$e ? v[2] : \"\"")" %.0f)"
}

# what symbols and debug info the host's main objects carry
debug_info() {
	local f bid secs what dbg
	local i cmd=("$PYTHON" "$(command -v redis-server)" "$PG_BIN/postgres" libc.so.6)
	for i in 0 1 2 3; do
		f=${OBJECTS[$i]}
		bid=$(readelf -n "$f" 2>/dev/null | awk '/Build ID:/ { print $3; exit }')
		secs=$(readelf -SW "$f" 2>/dev/null)
		what=
		grep -q ' \.symtab ' <<<"$secs" && what+="a symbol table (.symtab)" || what+="dynamic symbols only (.dynsym)"
		grep -q ' \.debug_info ' <<<"$secs" && what+=", DWARF"
		dbg=/usr/lib/debug/.build-id/${bid:0:2}/${bid:2}.debug
		if [ -n "$bid" ] && [ -f "$dbg" ]; then
			what+="; debug file $dbg"
			readelf -SW "$dbg" 2>/dev/null | grep -q ' \.debug_info ' && what+=" (DWARF"
			readelf -SW "$dbg" 2>/dev/null | grep -q ' \.symtab ' && what+=", .symtab"
			what+=", from $(dpkg -S "$dbg" 2>/dev/null | cut -d: -f1 | head -n 1 || echo '?'))"
		else
			what+="; no debug file"
		fi
		[ "$i" -lt 3 ] && [ "${cmd[$i]}" != "$f" ] && f+="\` (\`${cmd[$i]}\` links to it)" || f+="\`"
		echo "  - ${OBJ_LABELS[$i]}, \`$f: $what."
	done
	echo "  - kernel: symbols from /proc/kallsyms, for both."
}

report() {
	local section=$TMP/section.md cfg
	{
		echo "<!-- bench:symbols begin -->"
		echo "## Symbolizing a profile of a busy host: cost (generated by tests/bench/symbols.sh)"
		echo
		machine_lines
		echo "The host ran python3, redis-server and PostgreSQL under load (below). Each of $RUNS rounds"
		echo "started them and a fresh cprofd ($HZ Hz, every process), fetched a $SECS s profile of the whole"
		echo "machine with cprofd's symbol caches empty (cold), then a second one right after (warm); then"
		echo "stopped cprofd, recorded $SECS s with \`perf record -F $HZ -a -g\` and timed \`perf report\` on it."
		echo "Figures are medians (min–max) over the rounds."
		echo
		echo "| profile | build time, ms | build CPU, ms | addresses resolved | build time per address, µs | build CPU per address, µs | addresses named, % | inlined frames per address | samples | profile, KiB | symbol cache: objects, MiB | cprofd RSS / peak RSS after it, MiB |"
		echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
		for cfg in cold warm; do
			[ "$(nruns "$cfg")" = 0 ] && { echo "| cprofd, $cfg | ${FAILED[cprofd]:-not run} | | | | | | | | | | |"; continue; }
			echo "| cprofd, $cfg | $(mmm "$cfg" 'build_s * 1e3' %.1f) | $(mmm "$cfg" 'tail_cpu_ns / 1e6' %.1f) | $(mmm "$cfg" frames %.0f) |" \
				"$(mmm "$cfg" "$per_addr" %.1f) | $(mmm "$cfg" 'frames ? tail_cpu_ns / 1e3 / frames : ""' %.1f) | $(mmm "$cfg" "$named" %.1f) |" \
				"$(fmt "$(m "$cfg" 'frames ? inlined / frames : ""')" %.2f) | $(mmm "$cfg" 'samples != "-" ? samples : ""' %.0f) |" \
				"$(fmt "$(m "$cfg" 'bytes / 1024')" %.0f) |" \
				"$(fmt "$(m "$cfg" sc_objects)" %.0f), $(fmt "$(m "$cfg" 'sc_bytes / 1048576')" %.1f) |" \
				"$(mmm "$cfg" 'rss_kb / 1024' %.1f) / $(mmm "$cfg" 'hwm_kb / 1024' %.1f) |"
		done
		echo
		echo "Side by side with perf (cprofd: one profile build; perf: one \`perf report\` run):"
		echo
		echo "| symbolizer | wall time, s | CPU, s | peak RSS, MiB | samples |"
		echo "|---|---|---|---|---|"
		for cfg in cold warm; do
			[ "$(nruns "$cfg")" = 0 ] && continue
			echo "| cprofd, $cfg profile build | $(mmm "$cfg" build_s %.3f) | $(mmm "$cfg" 'tail_cpu_ns / 1e9' %.3f) |" \
				"$(mmm "$cfg" 'hwm_kb / 1024' %.1f) | $(mmm "$cfg" 'samples != "-" ? samples : ""' %.0f) |"
		done
		if [ "$(m perf 'rep_s != "-" ? rep_s : ""')" != - ]; then
			echo "| perf report --stdio --no-children --sort comm,dso,sym | $(mmm perf 'rep_s != "-" ? rep_s : ""' %.2f) |" \
				"$(mmm perf 'rep_s != "-" ? rep_user + rep_sys : ""' %.2f) |" \
				"$(mmm perf 'rep_s != "-" ? rep_kb / 1024 : ""' %.1f) | $(mmm perf 'perf_samples != "-" ? perf_samples : ""' %.0f) |"
		else
			echo "| perf report | ${FAILED[perf]:-failed: see the output of the script} | | | |"
		fi
		echo
		echo "Addresses in the profile by object: named, % of the object's pprof locations (of how many):"
		echo
		{ printf '| profile |'; printf ' %s |' "${OBJ_LABELS[@]}" others; echo; }
		echo "|---|---|---|---|---|---|---|"
		for cfg in cold warm; do
			[ "$(nruns "$cfg")" = 0 ] && continue
			echo "| cprofd, $cfg | $(object_col "$cfg" 1) | $(object_col "$cfg" 2) | $(object_col "$cfg" 3) |" \
				"$(object_col "$cfg" 4) | $(object_col "$cfg" 5) | $(object_col "$cfg" 6) |"
		done
		echo
		notes
		echo "<!-- bench:symbols end -->"
	} >"$section"
	echo
	cat "$section"
	write_doc "$section" symbols
}

notes() {
	local wb rss
	echo "Commands (ports, sockets and paths as the script sets them):"
	echo
	echo "- cprofd: a copy of \`build/cprofd\` run as \`cprofd --listen 127.0.0.1:$PORT --socket $SOCK --hz $HZ\`;"
	echo "  $SETTLE s after /metrics answers, \`curl $URL/debug/pprof/profile?seconds=$SECS\` (cold), then the"
	echo "  same again (warm), /metrics read before and after each."
	echo "- perf: \`perf record -F $HZ -a -g -o /tmp/…/perf.data\` for $SECS s from its start (SIGINT ends it), after cprofd has"
	echo "  stopped, then \`perf report -i /tmp/…/perf.data --stdio --no-children --sort comm,dso,sym\` under"
	echo "  \`/usr/bin/time\`, output to a file. Both with HOME in /tmp, so perf's build-id cache (~/.debug) starts empty."
	echo "- python: \`$PYTHON tests/bench/pydeep.py $DEPTH\`, $PY_PROCS $( [ "$PY_PROCS" = 1 ] && echo process || echo processes) ($($PYTHON --version 2>&1))."
	echo "- redis: \`redis-server --port $REDIS_PORT --bind 127.0.0.1 --save '' --appendonly no\` and"
	echo "  \`redis-benchmark -p $REDIS_PORT -q -l -t set,get\` ($(redis-server --version 2>/dev/null | awk '{ print $3 }' | tr -d 'v=')):"
	echo "  $(fmt "$(m '*' 'redis_ops / (window_us / 1e6) / 1000')" %.1f)k commands/s (median over the windows)."
	echo "- postgres: PostgreSQL $("$PG_BIN/postgres" --version | awk '{ print $3 }'), a fresh cluster per round (\`initdb -N\`), run as user postgres"
	echo "  with \`-p $PG_PORT -c listen_addresses='' -c fsync=off\` and a socket in /tmp; \`pgbench -i -s $PG_SCALE\`, then"
	echo "  \`pgbench -c $PG_CLIENTS -j $PG_CLIENTS -T … -P 5\` throughout: $(fmt "$(m '*' 'pg_tps != "-" ? pg_tps : ""')" %.0f) tps (median of its 5 s reports)."
	echo "- The machine was busy $(fmt "$(m '*' "busy_ns $pct / $(nproc)")" %.0f)% of its $(nproc) CPUs in the windows (median; /proc/stat)."
	echo
	echo "Notes:"
	echo
	echo "- Build time is the change of \`cprofd_profile_build_seconds_total\` over the window (one profile built"
	echo "  in each, \`cprofd_profiles_built_total\`). It is all of turning the window into the profile: symbolizing,"
	echo "  building the pprof and gzipping it, and trimming the symbol cache; it does not include sampling,"
	echo "  draining or sending. The response came $(fmt "$(m cold 'resp_us / 1e3')" %.0f) ms (cold) and $(fmt "$(m warm 'resp_us / 1e3')" %.0f) ms (warm) after the"
	echo "  window's end (medians), which is the build plus the last drain and the transfer."
	echo "- Addresses resolved: \`cprofd_symbolize_total{result=\"frames\"}\` over the window: the distinct"
	echo "  addresses (per process, kernel ones once) the profile holds, each resolved once per profile, also"
	echo "  when warm: the warm build resolves them again, from objects already open and parsed."
	echo "  Time per address is build time / addresses: an upper bound on symbolizing, since it includes the rest."
	echo "- Named: addresses less \`no_symbol\` and \`unmapped\`, over addresses. Kernel addresses count as named"
	echo "  (cprofd does not count kernel misses). The table by object counts the profile's pprof locations"
	echo "  (with \`profq … locations\`) that have a function name; \"others\" are the remaining locations in"
	echo "  mappings (other libraries, cprofd, perf, bash, …). Inlined frames: \`inlined_frames\` per address."
	echo "- Symbol cache: \`cprofd_symcache_objects\` and \`cprofd_symcache_bytes\` after the window, as cprofd"
	echo "  counts them. The cache starts empty with the daemon (cold); looked-up objects: $(fmt "$(m cold sc_misses)" %.0f) misses and"
	echo "  $(fmt "$(m cold sc_hits)" %.0f) hits cold, $(fmt "$(m warm sc_misses)" %.0f) misses and $(fmt "$(m warm sc_hits)" %.0f) hits warm; evictions $(fmt "$(m cold sc_evict)" %.0f) / $(fmt "$(m warm sc_evict)" %.0f);"
	echo "  debug files found on disk $(fmt "$(m cold dbg_local)" %.0f) / $(fmt "$(m warm dbg_local)" %.0f) (medians)."
	echo "  Cold is cold for cprofd only: the files are in the page cache (they are mapped by running processes,"
	echo "  and the debug files were read by earlier rounds). Kernel symbols are read when cprofd starts, not"
	echo "  in a build."
	echo "- cprofd's RSS and peak RSS: VmRSS and VmHWM from /proc/PID/status right after each profile, the daemon's"
	echo "  plus its parser processes' (which hold the symbol cache; the sum of their peaks for the peak). They"
	echo "  are the whole daemon's, not the build's alone, and include its mapping of its BPF maps (the unwind"
	echo "  tables, allocated whole at start): $(fmt "$(m warm 'maps_kb != "-" ? maps_kb / 1024 : ""')" %.1f) MiB of the RSS after the warm profile (/proc/PID/smaps)."
	echo "- Build CPU: cprofd's CPU, with its parser processes' (all threads, the kernel's precise per-process clock, by proccpu) from 50 ms before the"
	echo "  window's end to the response, so it also holds the last drain and up to 50 ms of sampling work."
	echo "  cprofd runs at the same priority as the workload and competes with it for the $(nproc) CPUs: the build"
	echo "  took $(fmt "$(m cold 'tail_cpu_ns ? build_s * 1e9 / tail_cpu_ns : ""')" %.1f) (cold) and $(fmt "$(m warm 'tail_cpu_ns ? build_s * 1e9 / tail_cpu_ns : ""')" %.1f) (warm) times as long in wall time as in CPU (medians of the"
	echo "  ratio), the rest waiting for a CPU. cprofd's CPU over the run"
	echo "  (medians): $(fmt "$(m cold 'start_cpu_ns / 1e6')" %.0f) ms to start (until /metrics answered; unwind tables for the running"
	echo "  processes), $(fmt "$(m cold "cpu_ns $pct")" %.2f)% of one core over the cold window and its build, $(fmt "$(m warm "cpu_ns $pct")" %.2f)% over the"
	echo "  warm one, $(fmt "$(m warm 'stop_cpu_ns != "-" ? stop_cpu_ns / 1e6 : ""')" %.0f) ms to stop."
	echo "- perf report: wall time (\`%e\`), user + sys CPU and peak RSS (\`%M\`) from \`/usr/bin/time\`. It reads"
	echo "  perf.data, resolves every frame of every sample to a symbol (no source lines: the sort keys do not"
	echo "  ask for them), and prints the call graphs; $(fmt "$(m perf 'rep_named != "-" ? rep_named : ""')" %.1f)% of its samples had a named own symbol."
	echo "  perf.data: $(fmt "$(m perf 'perf_bytes != "-" ? perf_bytes / 1048576 : ""')" %.1f) MiB. \`perf record -g\` walks by frame pointers, which Debian's python3, redis"
	echo "  and postgres do not keep, so its stacks are shorter than cprofd's (which walks with .eh_frame)"
	echo "  and hold fewer distinct addresses. The two are not the same work: cprofd resolves each distinct"
	echo "  address once per profile; perf resolves per sample, with its own per-object caches."
	echo "- Debug information on this machine (the same files for cprofd and perf; DEBUGINFOD_URLS unset, so"
	echo "  nothing was fetched):"
	debug_info
	echo "- Goal check (warm build of a $SECS s profile of this machine under $GOAL_BUILD_MS ms; cprofd's resident"
	echo "  memory under $GOAL_RSS_MIB MiB with these programs profiled; medians, worst round in brackets):"
	wb=$(col warm 'build_s * 1e3' | stats)
	rss=$(col warm 'rss_kb / 1024' | stats)
	awk -v w="$wb" -v r="$rss" -v gb="$GOAL_BUILD_MS" -v gr="$GOAL_RSS_MIB" 'BEGIN {
		split(w, a, " "); split(r, b, " ")
		if (a[1] == "-") print "  - warm build: not measured."
		else printf "  - warm build %.1f ms (%.1f) < %d ms: %s.\n", a[1], a[3], gb, (a[1] < gb ? (a[3] < gb ? "met" : "met in the median, not in every round") : "NOT met")
		if (b[1] == "-") print "  - cprofd RSS: not measured."
		else printf "  - cprofd RSS %.1f MiB (%.1f) < %d MiB: %s.\n", b[1], b[3], gr, (b[1] < gr ? (b[3] < gr ? "met" : "met in the median, not in every round") : "NOT met") }'
	noise
}

noise() {
	local contended
	contended=$(col "*" 'others != "-"' | grep -c 1)
	echo "- This machine is a shared VM: other people's work may run in the windows, and every figure above"
	echo "  is a wall time or a CPU time on a busy host."
	if [ "$contended" -gt 0 ]; then
		echo "  Other profilers were running during $contended of the windows:"
		echo "  $(col "*" 'others != "-" ? others : ""' | grep -v '^$' | tr ' ' '\n' | sed 's/(.*//' | sort | uniq -c |
			awk '{ printf "%s%s in %d", (NR > 1 ? ", " : ""), $2, $1 }') (counted per process seen)."
	fi
}

# ---- main ------------------------------------------------------------------

main() {
	local round
	build
	[ -n "$(other_profilers)" ] && echo "bench: warning: other profilers are running: $(other_profilers)"
	echo "bench: $RUNS rounds: cprofd cold and warm profiles, then perf record and report, $SECS s windows"
	: >"$RESULTS"
	for round in $(seq "$RUNS"); do
		echo "round $round/$RUNS"
		round "$round"
	done
	report
}

main
