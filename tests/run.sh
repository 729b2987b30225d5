#!/usr/bin/env bash
# Runs every test: unit tests (build/tests/test_*) and integration scripts
# (tests/integration/*.sh). Each prints "PASS: name", "FAIL: name: why" or
# "SKIP: name: reason" lines; this counts them and ends with
# "N passed, N failed, N skipped". Exit status 1 when anything failed.
set -u
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0

run() {
	local name=$1; shift
	local out rc
	out=$(mktemp)
	echo "== $name"
	"$@" >"$out" 2>&1
	rc=$?
	grep -E '^(FAIL|SKIP)' "$out"
	cat "$out" >>"$log"
	# a crash or an error that printed no FAIL line still fails the run
	if [ "$rc" != 0 ] && ! grep -q '^FAIL' "$out"; then
		tail -n 5 "$out"
		echo "FAIL: $name: exited with status $rc" | tee -a "$log"
	fi
	rm -f "$out"
}

for t in build/tests/test_*; do
	[ -x "$t" ] && run "$(basename "$t")" "$t"
done
for t in tests/integration/*.sh; do
	[ "$(basename "$t")" = lib.sh ] && continue	# shared helpers, not a test
	run "$(basename "$t" .sh)" bash "$t"
done

pass=$(grep -c '^PASS' "$log")
fail=$(grep -c '^FAIL' "$log")
skip=$(grep -c '^SKIP' "$log")
[ "$fail" -gt 0 ] && status=1
echo
echo "$pass passed, $fail failed, $skip skipped"
exit $status
