#!/usr/bin/env bash
# What cprofd costs a host that starts processes all the time: 3000
# fork+exec+exit of /bin/true, median of 5 runs, with no cprofd, with a
# whole-host cprofd, with --comm targets (BPF exec/fork/exit programs do
# the matching) and with --exe targets (one event to the daemon per exec).
# Prints the figures; BENCH_RUNS changes the count of runs.
set -u
cd "$(dirname "$0")/../.." || exit 1
B=${B:-build}
PORT=${CPROF_BENCH_PORT:-17370}
RUNS=${BENCH_RUNS:-5}
once() { local s e; s=$(date +%s%N); for _ in $(seq 3000); do /bin/true; done; e=$(date +%s%N); echo $(( (e - s) / 1000 )); }
median() { for _ in $(seq "$RUNS"); do once; done | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
with() {	# LABEL cprofd-args...
	local label=$1 pid; shift
	if [ "$label" = none ]; then
		echo "$label $(median)"
		return
	fi
	"$B/cprofd" --listen "127.0.0.1:$PORT" --socket none "$@" >/dev/null 2>&1 &
	pid=$!
	sleep 3
	echo "$label $(median)"
	kill "$pid"; wait "$pid"
}
steal0=$(awk '/^cpu / { print $9 }' /proc/stat)
{ with none; with whole-host; with comm --comm nosuchprog; with exe --exe /usr/bin/nosuchprog; } |
	awk -v runs="$RUNS" 'NR == 1 { base = $2 }
		{ printf "| %s | %.0f | %+.1f%% |\n", $1, $2 / 3000, 100 * ($2 - base) / base }' |
	{ echo "| cprofd | µs per fork+exec+exit (median of $RUNS × 3000) | vs none |"; echo "|---|---|---|"; cat; }
steal1=$(awk '/^cpu / { print $9 }' /proc/stat)
echo "host steal during the run: $(( (steal1 - steal0) / $(getconf CLK_TCK) )) CPU-seconds"
