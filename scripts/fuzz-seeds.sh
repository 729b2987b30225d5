#!/usr/bin/env bash
# Seed corpora for the fuzz harnesses, made from small programs compiled every
# way the tests use, and the reproducers of issue 10's hostile files.
# Usage: scripts/fuzz-seeds.sh OUTDIR (writes OUTDIR/elf, text, perfmap, ipc, debugfile)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: fuzz-seeds.sh OUTDIR}
B=build
mkdir -p "$OUT/elf" "$OUT/text" "$OUT/perfmap"
OUT=$(cd "$OUT" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/cxx.cc" <<'CXX'
#include <map>
#include <string>
namespace geo { template <typename T> struct P { T x; T norm() const { return x * x; } }; }
static std::map<std::string, int> m;
__attribute__((noinline)) int work(int n) { geo::P<double> p{double(n)}; m["k"] += n; return int(p.norm()); }
int main(int argc, char **) { return work(argc) & 1; }
CXX
src=tests/workloads/split.c
n=0
build() {	# NAME COMPILER ARGS...
	local name=$1; shift
	if "$@" -o "$OUT/elf/$name" 2>/dev/null; then n=$((n + 1)); fi
}
build c-dwarf5 gcc -g -O2 -pthread "$src"
build c-dwarf4 gcc -gdwarf-4 -O2 -pthread "$src"
build c-nofp gcc -g -O2 -fomit-frame-pointer -pthread "$src"
build c-zdebug gcc -g -O2 -gz -pthread "$src"
build c-debug-frame gcc -g -O1 -fno-asynchronous-unwind-tables -pthread "$src"
build c-clang clang -g -O2 -pthread "$src"
build cxx g++ -g -O2 "$tmp/cxx.cc"
build cxx-o0 g++ -g -O0 "$tmp/cxx.cc"
if [ -f "$OUT/elf/c-dwarf5" ]; then
	strip -o "$OUT/elf/c-stripped" "$OUT/elf/c-dwarf5" && n=$((n + 1))
	objcopy --only-keep-debug "$OUT/elf/c-dwarf5" "$OUT/elf/c-debugfile" && n=$((n + 1))
fi
if command -v go >/dev/null; then
	mkdir -p "$tmp/go" && printf 'package main\nfunc main() { println(fib(20)) }\nfunc fib(n int) int { if n < 2 { return n }; return fib(n-1) + fib(n-2) }\n' >"$tmp/go/main.go"
	(cd "$tmp/go" && GOFLAGS=-mod=mod GOCACHE="$tmp/gocache" go build -o "$OUT/elf/go" main.go 2>/dev/null) && n=$((n + 1))
	(cd "$tmp/go" && GOCACHE="$tmp/gocache" go build -ldflags='-s -w' -o "$OUT/elf/go-stripped" main.go 2>/dev/null) && n=$((n + 1))
fi
# the reproducers: DWARF sibling links that loop, a register number that
# made libdw allocate gigabytes
if [ -x "$B/tests/craft" ] && [ -f "$OUT/elf/c-dwarf5" ]; then
	"$B/tests/craft" sibling-loop "$OUT/elf/c-dwarf5" "$OUT/elf/repro-sibling-loop" >/dev/null && n=$((n + 1))
	"$B/tests/craft" cfa-register "$OUT/elf/c-nofp" "$OUT/elf/repro-cfa-register" >/dev/null && n=$((n + 1))
fi

# text: the first byte picks the parser (odd: demangle, even: /proc maps)
t=0
text() { printf "$1"'%s' "$2" >"$OUT/text/$3"; t=$((t + 1)); }
text '\001' '_RYDGLORRYDGLOR_' repro-rust-runaway
# a binder of 2^60 lifetimes, looped over with its text skipped (make fuzz, 2026-12-03)
text '\001' '_RNvC1r3f33YDGRDYDGRDRR_' repro-rust-binder
text '\001' '_ZN3foo3barEv' cxx-simple
text '\001' '_ZNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEE9_M_appendEPKcm' cxx-std
text '\001' '_ZN4demo5Point4norm17h0123456789abcdefE' rust-legacy
text '\001' '_RNvCs1234_7mycrate3foo' rust-v0
text '\001' '_Z3fooi.isra.0' cxx-clone
i=0
for s in $(nm -D --defined-only /usr/lib/x86_64-linux-gnu/libstdc++.so.6 2>/dev/null | awk '$3 ~ /^_Z/ { print $3 }' | head -40); do
	text '\001' "$s" "cxx-$((i++))"
done
printf '\002' >"$OUT/text/maps-self"; cat /proc/self/maps >>"$OUT/text/maps-self"; t=$((t + 1))
printf '\002%s\n' '7f0000000000-7f0000001000 r-xp 00001000 fd:01 123 /usr/lib/x (deleted)' \
	'ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]' >"$OUT/text/maps-odd"; t=$((t + 1))
# perf maps: the first byte picks the bounds (see fuzz_perfmap.c)
printf '\000%s\n' '7f0000001000 40 jitted_a' '7f0000001020 40 jitted_b overlapping' \
	'bad line' '7f0000002000 0 zero_size' >"$OUT/perfmap/lines"
printf '\301%s\n' '1000 10 a' '1008 10 b' '1004 4 c' >"$OUT/perfmap/bounded"
# ipc: the first byte picks the reader (see fuzz_ipc.c); numbers are
# little-endian, strings a u32 length then the bytes and a NUL (ipc.h)
mkdir -p "$OUT/ipc"
u32() { printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)))"; }
u64() { u32 $(($1 & 0xffffffff)); u32 $(($1 >> 32)); }
str() { u32 ${#1}; printf '%s\0' "$1"; }
{ printf '\000\002'; str 0123abcd; u32 3; u32 2
  u32 2; str 'inlined(int)'; str _Z7inlinedi; str /src/a.c; u32 7; str outer; u32 4294967295; str /src/a.c; u32 12
  u32 0; } >"$OUT/ipc/frames"
{ printf '\001'; u64 3; u64 2; u64 0; u64 0; u64 1; u32 0
  for pc in 16 32 48; do u32 $pc; printf '\001\001'; printf '\x10\0\xf0\xff\0\0\0\0\0\0'; done; } >"$OUT/ipc/table"
printf '\002%s' 'seconds=5&hz=99&pid=1&pid=2&debug=1' >"$OUT/ipc/params"
printf '\002%s' 'seconds=99999999999999999999&hz=-1&pid=0x10&debug' >"$OUT/ipc/params-bad"
{ printf '\003'; u64 2049; u64 1234; u64 0; u32 2; str /usr/bin/x; str /proc/1/root; u32 2; u64 4096; u64 8192; } \
	>"$OUT/ipc/request"
{ printf '\004'; str 93ac61ec5a8eb1396f9fbd350e3169a558528a40; u32 2; u64 0; u64 0; u64 4096; u64 4096; u64 4096; u64 65536; } \
	>"$OUT/ipc/identity"
# debugfile: a u32 length, a stripped object whose .gnu_debuglink names
# fuzz.debug, then a debug file (see fuzz_debugfile.c): its own, another
# program's (build id and CRC wrong) and the sibling-loop reproducer (its
# build id right, its CRC wrong)
mkdir -p "$OUT/debugfile"
d=0
pair() {	# OBJECT_SOURCE DEBUG_FILE NAME [FLAGS: 2147483648, found by its link only]
	cp "$2" "$tmp/fuzz.debug" &&
		objcopy --strip-all --add-gnu-debuglink="$tmp/fuzz.debug" "$1" "$tmp/linked" &&
		{ u32 $(($(stat -c %s "$tmp/linked") | ${4:-0})); cat "$tmp/linked" "$2"; } >"$OUT/debugfile/$3" &&
		d=$((d + 1))
}
for p in c-dwarf5 c-dwarf4 cxx; do
	[ -f "$OUT/elf/$p" ] && objcopy --only-keep-debug "$OUT/elf/$p" "$tmp/$p.debug" &&
		pair "$OUT/elf/$p" "$tmp/$p.debug" "$p"
done
[ -f "$tmp/c-dwarf5.debug" ] && pair "$OUT/elf/c-dwarf5" "$tmp/c-dwarf5.debug" by-link 2147483648
[ -f "$tmp/c-dwarf4.debug" ] && [ -f "$OUT/elf/c-dwarf5" ] &&
	pair "$OUT/elf/c-dwarf5" "$tmp/c-dwarf4.debug" mismatched
[ -f "$OUT/elf/repro-sibling-loop" ] &&
	pair "$OUT/elf/c-dwarf5" "$OUT/elf/repro-sibling-loop" sibling-loop
echo "fuzz seeds: $n ELF files, $t texts, 2 perf maps, $(ls "$OUT/ipc" | wc -l) ipc messages, $d debug-file pairs in $OUT"
