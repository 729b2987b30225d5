#!/usr/bin/env bash
# Symbols users can read: file, line and inlined frames from DWARF (checked
# against addr2line -i), libc from Debian's libc6-dbg, stripped binaries named
# through .gnu_debuglink, a debuginfod server on loopback and MiniDebugInfo,
# C++ and Rust names demangled, a stripped Go binary, a JIT's perf map, a
# deleted binary, a process in a chroot and a container cgroup, and
# /debug/pprof/symbol; one name per function (malloc, not __libc_malloc) and
# the vDSO's frames named from its own symbols. Needs root; builds its
# programs in a temporary dir.
cd "$(dirname "$0")/../.."
source tests/integration/lib.sh
need_root symbols
SRC=$PWD/tests/integration/symbols
W=$TMP/w
mkdir -p "$W"
SECS=3

# ---- programs ----------------------------------------------------------------

gcc -O2 -g -o "$W/inline" "$SRC/inline.c" || { fail "build inline" "gcc failed"; exit 1; }
gcc -O2 -g -o "$W/libcwork" "$SRC/libcwork.c" || { fail "build libcwork" "gcc failed"; exit 1; }
gcc -O2 -g -o "$W/namework" "$SRC/namework.c" || { fail "build namework" "gcc failed"; exit 1; }
gcc -O2 -o "$W/jit" "$SRC/jit.c" || { fail "build jit" "gcc failed"; exit 1; }

# A stripped copy that names its debug file with .gnu_debuglink (beside it).
mkdir -p "$W/dl"
objcopy --only-keep-debug "$W/inline" "$W/dl/inline.debug"
strip --strip-all -o "$W/dl/inline" "$W/inline"
objcopy --add-gnu-debuglink="$W/dl/inline.debug" "$W/dl/inline"

# A build with another build id, stripped with no link: only debuginfod has it.
mkdir -p "$W/srv" "$W/dfd"
gcc -O2 -g -DVARIANT=2 -o "$W/srv/inline-dfd" "$SRC/inline.c"
strip --strip-all -o "$W/dfd/inline-dfd" "$W/srv/inline-dfd"

# MiniDebugInfo, the way Fedora makes it: the function symbols that .dynsym
# lacks, in an xz-compressed ELF in .gnu_debugdata of a stripped binary.
make_minidebuginfo() {
	local bin=$1 out=$2 d=$W/mdi
	mkdir -p "$d"
	nm -D "$bin" --format=posix --defined-only | awk '{ print $1 }' | sort >"$d/dynsyms"
	nm "$bin" --format=posix --defined-only | awk '$2 ~ /^[Tt]$/ { print $1 }' | sort >"$d/funcsyms"
	comm -13 "$d/dynsyms" "$d/funcsyms" >"$d/keep"
	objcopy --only-keep-debug "$bin" "$d/full.debug"
	objcopy -S --remove-section .gdb_index --remove-section .comment \
		--keep-symbols="$d/keep" "$d/full.debug" "$d/mini"
	xz -f "$d/mini"
	strip --strip-all -o "$out" "$bin"
	objcopy --add-section .gnu_debugdata="$d/mini.xz" "$out"
}
gcc -O2 -g -DVARIANT=3 -o "$W/inline-mdi-full" "$SRC/inline.c"
make_minidebuginfo "$W/inline-mdi-full" "$W/inline-mdi"

# ---- the daemon, with a debuginfod server on loopback --------------------------

DFD_PORT=$((PORT + 7))
DFD_PID=
if command -v debuginfod >/dev/null; then
	debuginfod -F "$W/srv" -p "$DFD_PORT" -d "$TMP/dfd.sqlite" -t 1 >"$TMP/debuginfod.log" 2>&1 &
	DFD_PID=$!
fi
stop_dfd() { [ -n "$DFD_PID" ] && kill "$DFD_PID" 2>/dev/null; wait "$DFD_PID" 2>/dev/null; DFD_PID=; }
trap 'stop_dfd; cleanup' EXIT
DEBUGINFOD_URLS=${DFD_PID:+http://127.0.0.1:$DFD_PORT} DEBUGINFOD_CACHE_PATH=$TMP/dfd-cache \
	start_daemon --hz 199

# profile_of NAME OUT CMD...: run CMD (which prints "pid N") for SECS + 2 s,
# and take a SECS-second profile of it into OUT. WPID is its pid.
profile_of() {
	local name=$1 out=$2; shift 2
	start_workload "$TMP/$name.out" "$@"
	for _ in $(seq 50); do grep -q '^pid ' "$TMP/$name.out" && break; sleep 0.1; done
	WPID=$(awk '/^pid / { print $2; exit }' "$TMP/$name.out")
	sleep 1		# its unwind tables are built once it has been sampled a few times
	curl -sf -o "$out" "$URL/debug/pprof/profile?seconds=$SECS&pid=$WPID" ||
		{ fail "$name profile" "curl failed"; return 1; }
}

# ---- file, line and inlined frames, against addr2line -i ------------------------

# gnu_frames: addr2line -a -i -f output (or llvm-symbolizer's in GNU style) to
# one line per address, "vaddr|fn@file:line|...", innermost first, file base names.
gnu_frames() {
	awk 'function flush() { if (addr != "") print addr line; line = "" }
		/^0x/ { flush(); addr = $1; sub(/^0x0*/, "", addr); if (addr == "") addr = "0"; next }
		{ fn = $0; getline; loc = $1; file = loc; sub(/:[^:]*$/, "", file); sub(/.*\//, "", file)
		  ln = loc; sub(/.*:/, "", ln); if (ln == "?") ln = 0; if (file == "??") file = ""
		  # "??" for the function: nothing names it, and we leave it unnamed too
		  # __GI_x is glibc'"'"'s internal alias of x: binutils may pick it
		  sub(/^__GI_/, "", fn)
		  if (fn != "??") line = line "|" fn "@" file ":" ln }
		END { flush() }' | sort
}

# alias_map BIN: "name canonical" lines for the function symbols of BIN that
# share an address with others (canonical: the first name there), names
# found at more than one address left out. Where DWARF calls a function by
# one of its other symbols' names (glibc's __libc_malloc for malloc), we
# report the symbol table's choice and addr2line DWARF's: the same function.
alias_map() {
	nm --defined-only "$1" 2>/dev/null | awk '$2 ~ /^[TtWwi]$/ { n = $3; sub(/@.*/, "", n)
			if ((n in at) && at[n] != $1) bad[n] = 1; at[n] = $1 }
		END { for (n in at) if (!(n in bad)) print at[n], n }' | sort |
		awk '$1 != a { a = $1; first = $2 } { print $2, first }'
}

# canon_names MAP: the "vaddr|fn@file:line|..." lines on stdin with each
# function replaced by its canonical alias.
canon_names() {
	awk -v map="$1" 'BEGIN { while ((getline l < map) > 0) { split(l, f, " "); c[f[1]] = f[2] } }
		{ n = split($0, fr, "|"); out = fr[1]
		  for (i = 2; i <= n; i++) { at = index(fr[i], "@"); fn = substr(fr[i], 1, at - 1)
			if (fn in c) fn = c[fn]; out = out "|" fn substr(fr[i], at) }
		  print out }'
}

# compare_addr2line NAME PROFILE MAPSUB BIN: every location of the mapping must
# have the frames addr2line -i gives for it: functions, files (base names) and
# lines, innermost first; a function's aliases count as its name. Where they differ, llvm-symbolizer is asked as a
# second referee (binutils 2.40 names the wrong file for some of libc's
# inlined code, where llvm-symbolizer and eu-addr2line agree with us).
compare_addr2line() {
	local name=$1 prof=$2 sub=$3 bin=$4
	q "$prof" locations "$sub" >"$TMP/$name.locs"
	# our frames, one line per location: "vaddr|fn@file:line|fn@file:line..."
	local addr start off rest
	alias_map "$bin" >"$TMP/$name.aliases"
	while read -r addr start off rest; do
		printf '%x' $((0x$addr - 0x$start + 0x$off))
		awk '{ for (i = 1; i <= NF; i++) { split($i, f, "|"); file = f[3]; sub(/.*\//, "", file)
			printf "|%s@%s:%s", f[2], file, f[4] } }' <<<"$rest"
		printf '\n'
	done <"$TMP/$name.locs" | canon_names "$TMP/$name.aliases" | sort >"$TMP/$name.ours"
	cut -d'|' -f1 "$TMP/$name.ours" | sed 's/^/0x/' | addr2line -a -i -f -e "$bin" | gnu_frames |
		canon_names "$TMP/$name.aliases" | sort >"$TMP/$name.theirs"
	comm -23 "$TMP/$name.ours" "$TMP/$name.theirs" >"$TMP/$name.diff"
	: >"$TMP/$name.llvm"
	if [ -s "$TMP/$name.diff" ] && command -v llvm-symbolizer >/dev/null; then
		cut -d'|' -f1 "$TMP/$name.diff" | sed 's/^/0x/' |
			llvm-symbolizer --obj="$bin" --output-style=GNU -a -f -i | gnu_frames |
			canon_names "$TMP/$name.aliases" | sort >"$TMP/$name.llvm"
	fi
	local total same second bad deep
	total=$(wc -l <"$TMP/$name.ours")
	same=$(comm -12 "$TMP/$name.ours" "$TMP/$name.theirs" | wc -l)
	second=$(comm -12 "$TMP/$name.diff" "$TMP/$name.llvm" | wc -l)
	bad=$(comm -23 "$TMP/$name.diff" "$TMP/$name.llvm")
	deep=$(awk -F'|' 'NF > 3' "$TMP/$name.ours" | wc -l)
	echo "# $name: $total locations, $same as addr2line -i, $second others as llvm-symbolizer; $deep with 2 or more inlined frames"
	if [ "$total" = 0 ]; then
		fail "$name" "no locations to compare"
	elif [ -n "$bad" ]; then
		fail "$name" "$(wc -l <<<"$bad") of $total locations differ from addr2line -i and llvm-symbolizer, e.g. ours: $(head -n 1 <<<"$bad") addr2line: $(grep "^$(head -n 1 <<<"$bad" | cut -d'|' -f1)|" "$TMP/$name.theirs")"
	else
		pass "$name"
	fi
}

if profile_of inline "$TMP/inline.pb.gz" "$W/inline" 20; then
	compare_addr2line "inline: every location's frames, files and lines match addr2line -i" \
		"$TMP/inline.pb.gz" /inline "$W/inline"
	check "inline: inlined functions are frames of their own (inner_mix, middle_step)" \
		ge "$(q "$TMP/inline.pb.gz" reach inner_mix middle_step)" 99 \
		"inner_mix under middle_step in $(q "$TMP/inline.pb.gz" reach inner_mix middle_step)% of its samples"
	check "inline: inner_mix inside outer in 99% of its samples" \
		ge "$(q "$TMP/inline.pb.gz" reach inner_mix outer)" 99 "$(q "$TMP/inline.pb.gz" reach inner_mix outer)%"
	check "inline: the mapping says it has functions, files, lines and inlined frames" \
		test "$(q "$TMP/inline.pb.gz" flags /inline)" = "1 1 1 1" "flags: $(q "$TMP/inline.pb.gz" flags /inline)"
	pprof_reads "inline: go tool pprof reads it" "$TMP/inline.pb.gz"
	if command -v go >/dev/null; then
		go tool pprof -lines -top "$TMP/inline.pb.gz" 2>/dev/null >"$TMP/inline.lines"
		check "inline: go tool pprof -lines shows inline.h lines" \
			grep -q 'inner_mix .*inline.h:[0-9]' "$TMP/inline.lines" "$(head -c 300 "$TMP/inline.lines")"
	fi
	kill "$WPID" 2>/dev/null
fi

# ---- libc from libc6-dbg, by build id --------------------------------------------

LIBC=$(ldd "$W/libcwork" | awk '$1 ~ /^libc\.so/ { print $3 }')
LIBC_ID=$(readelf -n "$LIBC" 2>/dev/null | awk '/Build ID/ { print $3 }')
LIBC_DEBUG=/usr/lib/debug/.build-id/${LIBC_ID:0:2}/${LIBC_ID:2}.debug
if [ ! -f "$LIBC_DEBUG" ]; then
	skip "libc: frames from libc6-dbg" "no $LIBC_DEBUG (apt-get install libc6-dbg)"
elif profile_of libc "$TMP/libc.pb.gz" "$W/libcwork" 20; then
	check "libc: its mapping has files, lines and inlined frames (from the build-id path)" \
		test "$(q "$TMP/libc.pb.gz" flags libc.so)" = "1 1 1 1" "flags: $(q "$TMP/libc.pb.gz" flags libc.so)"
	compare_addr2line "libc: every libc location matches addr2line -i on libc6-dbg's file" \
		"$TMP/libc.pb.gz" libc.so "$LIBC_DEBUG"
	check "libc: the compare function's samples reach main through libc's sort" \
		ge "$(q "$TMP/libc.pb.gz" reach cmp main)" 95 \
		"$(q "$TMP/libc.pb.gz" reach cmp main)%; top: $(q "$TMP/libc.pb.gz" top 6 | tr '\n' ';')"
	kill "$WPID" 2>/dev/null
fi

# ---- one name per function: glibc's aliases, the vDSO ------------------------------

# namework calls clock_gettime, which the vDSO answers, and malloc/free.
if profile_of names "$TMP/names.pb.gz" "$W/namework" 20; then
	q "$TMP/names.pb.gz" top 30 | awk '{ $1 = $2 = ""; sub(/^  /, ""); print }' >"$TMP/names.top"
	echo "# names: top $(q "$TMP/names.pb.gz" top 8 | tr '\n' ';')"
	check "vdso: the [vdso] mapping says it has functions (and no file to read)" \
		test "$(q "$TMP/names.pb.gz" flags '[vdso]')" = "1 0 0 0" "flags: $(q "$TMP/names.pb.gz" flags '[vdso]')"
	# x86-64's vDSO calls it __vdso_clock_gettime, arm64's __kernel_clock_gettime
	vdso_fn=$(grep -xE '__vdso_clock_gettime|__kernel_clock_gettime' "$TMP/names.top" | head -n 1)
	check "vdso: clock_gettime's vDSO code is named by the vDSO's symbol (__vdso_clock_gettime)" \
		ge "$(q "$TMP/names.pb.gz" share "${vdso_fn:-__vdso_clock_gettime}")" 5 \
		"${vdso_fn:-__vdso_clock_gettime} in $(q "$TMP/names.pb.gz" share "${vdso_fn:-__vdso_clock_gettime}")%; top: $(head -n 8 "$TMP/names.top" | tr '\n' ';')"
	q "$TMP/names.pb.gz" locations '[vdso]' >"$TMP/names.vdso"
	check "vdso: every [vdso] location is named" \
		test "$(grep -c '|' "$TMP/names.vdso")" = "$(wc -l <"$TMP/names.vdso")" \
		"$(grep -vc '|' "$TMP/names.vdso") of $(wc -l <"$TMP/names.vdso") unnamed"
	# namework spends about 3.5% of its time under malloc (3.35-3.86% in
	# three runs, some 20 of 600 samples): 3% was inside its sampling
	# noise (one make check run: 1.68%); the names are what is checked
	check "libc: malloc is named malloc" \
		ge "$(q "$TMP/names.pb.gz" share malloc)" 1 "malloc in $(q "$TMP/names.pb.gz" share malloc)%; top: $(head -n 8 "$TMP/names.top" | tr '\n' ';')"
	check "libc: free is named free" \
		ge "$(q "$TMP/names.pb.gz" share free)" 1 "free in $(q "$TMP/names.pb.gz" share free)%"
	internal=$(grep -E '^(__GI_|__libc_(malloc|free)|__malloc$|__free$|cfree$)' "$TMP/names.top" | tr '\n' ' ')
	check "libc: no internal alias (__GI___libc_malloc, __libc_malloc, cfree) among its names" \
		test -z "$internal" "found: $internal"
	pprof_reads "names: go tool pprof reads it without a warning ([vdso] included)" "$TMP/names.pb.gz"
	kill "$WPID" 2>/dev/null
fi

# ---- stripped: .gnu_debuglink, debuginfod, MiniDebugInfo ---------------------------

if profile_of debuglink "$TMP/dl.pb.gz" "$W/dl/inline" 20; then
	check "debuglink: a stripped binary is named from the file its .gnu_debuglink names" \
		ge "$(q "$TMP/dl.pb.gz" share outer)" 90 "outer in $(q "$TMP/dl.pb.gz" share outer)%"
	compare_addr2line "debuglink: its frames and lines match addr2line -i on the debug file" \
		"$TMP/dl.pb.gz" /inline "$W/dl/inline.debug"
	kill "$WPID" 2>/dev/null
fi

if [ -z "$DFD_PID" ]; then
	skip "debuginfod: a stripped binary named from a server on loopback" "debuginfod not installed (apt-get install debuginfod)"
else
	start_workload "$TMP/dfd.out" "$W/dfd/inline-dfd" 40
	sleep 0.5
	WPID=$(awk '/^pid / { print $2; exit }' "$TMP/dfd.out")
	named=0 tries=0
	# The first profile may come before the server has scanned its directory
	# or before the fetch (off the request path) has finished.
	while [ $tries -lt 10 ]; do
		tries=$((tries + 1))
		curl -sf -o "$TMP/dfd.pb.gz" "$URL/debug/pprof/profile?seconds=2&pid=$WPID" || break
		if ge "$(q "$TMP/dfd.pb.gz" share outer)" 90; then named=1; break; fi
	done
	echo "# debuginfod: named after $tries profiles of 2 s; $(curl -s "$URL/metrics" | grep '^cprofd_debuginfo' | tr '\n' ' ')"
	check "debuginfod: a stripped binary is named from a debuginfod server on loopback" \
		test $named = 1 "outer in $(q "$TMP/dfd.pb.gz" share outer)% after $tries profiles"
	check "debuginfod: with its lines too" \
		test "$(q "$TMP/dfd.pb.gz" flags /inline-dfd)" = "1 1 1 1" "flags: $(q "$TMP/dfd.pb.gz" flags /inline-dfd)"
	check "debuginfod: the file came through the client's cache" \
		test -n "$(find "$TMP/dfd-cache" -name debuginfo 2>/dev/null)" "nothing in $TMP/dfd-cache"
	kill "$WPID" 2>/dev/null
fi

if profile_of minidebuginfo "$TMP/mdi.pb.gz" "$W/inline-mdi" 20; then
	check "minidebuginfo: a stripped binary is named from its .gnu_debugdata" \
		ge "$(q "$TMP/mdi.pb.gz" share outer)" 90 "outer in $(q "$TMP/mdi.pb.gz" share outer)%"
	check "minidebuginfo: functions but no lines claimed" \
		test "$(q "$TMP/mdi.pb.gz" flags /inline-mdi)" = "1 0 0 0" "flags: $(q "$TMP/mdi.pb.gz" flags /inline-mdi)"
	kill "$WPID" 2>/dev/null
fi

# ---- demangling: C++, Rust -----------------------------------------------------

if ! command -v g++ >/dev/null; then
	skip "c++: demangled names" "g++ not installed"
else
	g++ -O2 -o "$W/templates" "$SRC/templates.cpp"
	if profile_of cxx "$TMP/cxx.pb.gz" "$W/templates" 20; then
		q "$TMP/cxx.pb.gz" top 50 | awk '{ $1 = $2 = ""; sub(/^  /, ""); print }' >"$TMP/cxx.names"
		check "c++: a class template's method is demangled" \
			grep -qxF 'cprof_demo::Accumulator<double>::add_squares(double const*, int)' "$TMP/cxx.names" \
			"names: $(grep -i accum "$TMP/cxx.names" | head -n 3 | tr '\n' ';')"
		sys=$(q "$TMP/cxx.pb.gz" sysname 'cprof_demo::Accumulator<double>::add_squares(double const*, int)')
		check "c++: the mangled name is kept in system_name, and c++filt agrees" \
			test "$(c++filt "$sys")" = 'cprof_demo::Accumulator<double>::add_squares(double const*, int)' "system_name: $sys"
		check "c++: a function template is demangled" \
			grep -q '^double cprof_demo::churn<double>(int)$' "$TMP/cxx.names" "names: $(grep churn "$TMP/cxx.names" | tr '\n' ';')"
		kill "$WPID" 2>/dev/null
	fi
fi

RUSTC=$(command -v rustc || ls /root/.cargo/bin/rustc 2>/dev/null)
if [ -z "$RUSTC" ]; then
	skip "rust: demangled names" "rustc not found"
else
	for mangling in legacy v0; do
		flags=-O
		[ $mangling = v0 ] && flags="-O -C symbol-mangling-version=v0"
		# v0 needs a nightly rustc on older releases: skip when refused
		if ! "$RUSTC" $flags -o "$W/spin-$mangling" "$SRC/spin.rs" >"$TMP/rustc.log" 2>&1; then
			skip "rust ($mangling): demangled names" "rustc refused: $(head -n 1 "$TMP/rustc.log")"
			continue
		fi
		if profile_of "rust-$mangling" "$TMP/rust-$mangling.pb.gz" "$W/spin-$mangling" 20; then
			q "$TMP/rust-$mangling.pb.gz" top 50 | awk '{ $1 = $2 = ""; sub(/^  /, ""); print }' >"$TMP/rust.names"
			# v0 writes an inherent method's type as <spin::Point>
			check "rust ($mangling): a method is demangled, without its hash" \
				grep -qxE 'spin::Point::norm_loop|<spin::Point>::norm_loop' "$TMP/rust.names" \
				"names: $(grep -i norm "$TMP/rust.names" | tr '\n' ';')"
			kill "$WPID" 2>/dev/null
		fi
	done
fi

# ---- Go, stripped ----------------------------------------------------------------

if ! command -v go >/dev/null; then
	skip "go: a stripped binary named from .gopclntab" "go not installed (apt-get install golang-go)"
else
	(cd "$W" && cp "$SRC/spin.go" . && HOME=$TMP GOCACHE=$TMP/gocache GOPATH=$TMP/gopath GO111MODULE=off \
		go build -ldflags='-s -w' -o spin-go spin.go) >"$TMP/go.log" 2>&1
	if [ ! -x "$W/spin-go" ]; then
		fail "go: build" "$(head -n 3 "$TMP/go.log")"
	elif profile_of go "$TMP/go.pb.gz" "$W/spin-go" 20; then
		check "go: the binary has no symbol table" \
			test -z "$(readelf -S "$W/spin-go" | grep -w symtab)" "it has one"
		check "go: a stripped binary's functions are named from .gopclntab" \
			ge "$(q "$TMP/go.pb.gz" share main.cprofGoBurn)" 80 "main.cprofGoBurn in $(q "$TMP/go.pb.gz" share main.cprofGoBurn)%"
		# cprofGoBurn has no frame of its own: a frame-pointer walk
		# from it skips main.main; the pclntab's rows keep it
		check "go: its samples keep the caller of a frameless leaf (main.main)" \
			ge "$(q "$TMP/go.pb.gz" reach main.cprofGoBurn main.main)" 90 \
			"$(q "$TMP/go.pb.gz" reach main.cprofGoBurn main.main)%; top: $(q "$TMP/go.pb.gz" top 6 | tr '\n' ';')"
		check "go: its samples reach runtime.main" \
			ge "$(q "$TMP/go.pb.gz" reach main.cprofGoBurn runtime.main)" 90 \
			"$(q "$TMP/go.pb.gz" reach main.cprofGoBurn runtime.main)%"
		kill "$WPID" 2>/dev/null
	fi
fi

# ---- JIT perf map --------------------------------------------------------------

if profile_of jit "$TMP/jit.pb.gz" "$W/jit" 20; then
	check "jit: code in anonymous memory is named from /tmp/perf-PID.map" \
		ge "$(q "$TMP/jit.pb.gz" share jit_countdown_loop)" 80 "jit_countdown_loop in $(q "$TMP/jit.pb.gz" share jit_countdown_loop)%"
	kill "$WPID" 2>/dev/null
fi

# ---- deleted, chroot, container ---------------------------------------------------

cp "$W/inline" "$W/inline-deleted"
if profile_of deleted "$TMP/del.pb.gz" bash -c "\"$W/inline-deleted\" 20 & sleep 0.3; rm -f \"$W/inline-deleted\"; wait"; then
	check "deleted: a binary deleted after it started is still named, with lines" \
		ge "$(q "$TMP/del.pb.gz" share inner_mix)" 90 "inner_mix in $(q "$TMP/del.pb.gz" share inner_mix)%"
	kill "$WPID" 2>/dev/null
fi

# A static, stripped binary in a chroot whose debug file is beside it, in the
# chroot: neither exists at those paths on the host.
ROOT=$TMP/chroot
mkdir -p "$ROOT/opt/app"
if gcc -O2 -g -static -o "$ROOT/opt/app/inline-static" "$SRC/inline.c" 2>/dev/null; then
	objcopy --only-keep-debug "$ROOT/opt/app/inline-static" "$ROOT/opt/app/inline-static.debug"
	strip --strip-all "$ROOT/opt/app/inline-static"
	(cd "$ROOT/opt/app" && objcopy --add-gnu-debuglink=inline-static.debug inline-static)
	CID=$(printf '%064x' $$ | tr 0 a) CG=
	# cgroup v2 at the top, v2 beside v1 (hybrid), or v1's pids hierarchy
	for base in /sys/fs/cgroup /sys/fs/cgroup/unified /sys/fs/cgroup/pids; do
		[ -f "$base/cgroup.procs" ] && mkdir -p "$base/cprof-test-$$/docker-$CID.scope" 2>/dev/null &&
			{ CG=$base/cprof-test-$$; break; }
	done
	if [ -n "$CG" ]; then
		RUN="echo \$\$ > $CG/docker-$CID.scope/cgroup.procs; exec chroot $ROOT /opt/app/inline-static 20"
	else
		CG= RUN="exec chroot $ROOT /opt/app/inline-static 20"
	fi
	if profile_of chroot "$TMP/chroot.pb.gz" sh -c "$RUN"; then
		check "chroot: a stripped binary and its debug link are found through /proc/PID/root" \
			test "$(q "$TMP/chroot.pb.gz" flags /inline-static)" = "1 1 1 1" \
			"flags: $(q "$TMP/chroot.pb.gz" flags /inline-static), outer in $(q "$TMP/chroot.pb.gz" share outer)%"
		if [ -n "$CG" ]; then
			check "container: samples carry the container id from the cgroup path" \
				test "$(q "$TMP/chroot.pb.gz" label container | sort -u)" = "${CID:0:12}" \
				"container labels: $(q "$TMP/chroot.pb.gz" label container | sort -u | tr '\n' ' ')"
		else
			skip "container: the container label" "cannot make a cgroup under /sys/fs/cgroup"
		fi
		check "container: processes outside containers have no container label" \
			test -z "$(q "$TMP/inline.pb.gz" label container)" "$(q "$TMP/inline.pb.gz" label container | head -n 1)"
		kill "$WPID" 2>/dev/null
	fi
	wait "$WPID" 2>/dev/null
	[ -n "$CG" ] && rmdir "$CG/docker-$CID.scope" "$CG" 2>/dev/null
else
	skip "chroot: a binary reached through /proc/PID/root" "no static libc (apt-get install libc6-dev)"
fi

# ---- /debug/pprof/symbol ------------------------------------------------------------

start_workload "$TMP/sym.out" "$W/inline" 20
sleep 0.3
WPID=$(awk '/^pid / { print $2; exit }' "$TMP/sym.out")
BASE=$(awk '$6 ~ /\/inline$/ && $2 ~ /x/ { split($1, a, "-"); print a[1], $3; exit }' "/proc/$WPID/maps")
OUTER=$(nm "$W/inline" | awk '$3 == "outer" { print $1 }')
read -r start off <<<"$BASE"
ADDR=$(printf '0x%x' $((0x$start + 0x$OUTER - 0x$off + 4)))
KADDR=0x$(awk '$3 == "schedule" { print $1; exit }' /proc/kallsyms)
check "symbol: GET says symbols are available" \
	test "$(curl -s "$URL/debug/pprof/symbol")" = "num_symbols: 1" "$(curl -s "$URL/debug/pprof/symbol")"
# the innermost function at that address, as Go answers for inlined code
WANT=$(addr2line -f -i -e "$W/inline" "$(printf '0x%x' $((0x$OUTER + 4)))" | head -n 1)
ANSWER=$(curl -s --data-binary "$ADDR+$KADDR+0x10" "$URL/debug/pprof/symbol?pid=$WPID")
check "symbol: a POST of addresses names a user function ($WANT) and a kernel one" \
	test "$(echo "$ANSWER" | grep -v num_symbols | tr '\n' ' ')" = "$ADDR $WANT $KADDR schedule " "answer: $ANSWER"
check "symbol: a bad address gets 400" \
	test "$(curl -s -o /dev/null -w '%{http_code}' --data-binary 'zzz' "$URL/debug/pprof/symbol")" = 400 "not 400"
kill "$WPID" 2>/dev/null

# every profile above, with its demangled, Go, JIT and inlined names, read by
# an independent reader
for f in "$TMP"/*.pb.gz; do
	[ "$f" = "$TMP/inline.pb.gz" ] || [ "$f" = "$TMP/names.pb.gz" ] && continue	# read above
	pprof_reads "$(basename "$f" .pb.gz): go tool pprof reads it" "$f"
done

echo "# $(curl -s "$URL/metrics" | grep -E '^cprofd_(symbolize|symcache|debuginfo|profile_build)' | tr '\n' ' ')"
