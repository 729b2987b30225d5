#!/usr/bin/env bash
# The fuzz harnesses over their seed corpora and the regression inputs (the
# reproducers of issue 10 among them), under AddressSanitizer and UBSan: every
# input runs once, within 10 s and 2 GiB (a parser that blows up fails here).
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh

SEEDS=$B/fuzz/seeds
if ! scripts/fuzz-seeds.sh "$SEEDS" >"$TMP/seeds.out" 2>&1; then
	check "fuzz: seed corpora made" false "$(tail -1 "$TMP/seeds.out")"
	exit 0
fi
for f in "$B"/fuzz/fuzz_*; do
	[ -x "$f" ] || continue
	name=${f##*/fuzz_}
	corpus=$SEEDS/$name
	[ -d "$corpus" ] || { skip "fuzz $name: replay" "no corpus at $corpus"; continue; }
	n=$(find "$corpus" -type f | wc -l)
	"$f" -runs=0 -timeout=10 -rss_limit_mb=2048 "$corpus" >"$TMP/$name.log" 2>&1
	rc=$?
	check "fuzz $name: $n inputs replay clean" test "$rc" = 0 \
		"exit $rc: $(grep -m1 -E 'ERROR|SUMMARY|check failed' "$TMP/$name.log")"
done
