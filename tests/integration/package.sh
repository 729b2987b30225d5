#!/usr/bin/env bash
# Deployment: the Debian package built from the working tree, its files,
# conffile, dependencies, systemd unit and man pages; the packaged cprofd
# run with the packaged config file and with the unit's capabilities; and
# make install PREFIX=/usr/local DESTDIR=... installing the same files.
# Everything is built and installed under a scratch directory: a copy of the
# working tree (uncommitted files included, build/ left out), since
# dpkg-buildpackage writes the .deb into the parent of the tree it builds.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
T=package
VERSION=$(cat VERSION)

for cmd in dpkg-buildpackage dh fakeroot systemd-analyze man groff; do
	if ! command -v "$cmd" >/dev/null; then
		skip "$T" "$cmd is not installed (scripts/deps.sh check installs it)"
		exit 0
	fi
done

# check_eq NAME GOT WANT
check_eq() { check "$T: $1" test "$2" = "$3" "got '$2', want '$3'"; }

# copy_tree DIR: the working tree as it is, without build output
copy_tree() {
	mkdir -p "$1"
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git ls-files -z --cached --others --exclude-standard |
			while IFS= read -r -d '' f; do
				if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
			done | tar --null -T - -cf - | tar -xf - -C "$1"
	else
		tar --exclude=./build --exclude=./.git -cf - . | tar -xf - -C "$1"
	fi
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on
free_port() {
	local p
	for p in $(seq $((20000 + $$ % 20000)) $((20100 + $$ % 20000))); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# verify_unit NAME UNIT ROOT: systemd-analyze verify passes on UNIT with
# nothing to say, once its cprofd path points into ROOT (verify needs
# the program and the man pages it names)
verify_unit() {
	local name=$1 unit=$2 root=$3 out
	mkdir -p "$TMP/verify.$name"
	sed -E "s|^ExecStart=(/[^ ]*/cprofd)|ExecStart=$root\\1|" "$unit" >"$TMP/verify.$name/cprofd.service"
	out=$(MANPATH=$(dirname "$(find "$root" -type d -name man8 | head -n 1)") \
		systemd-analyze verify "$TMP/verify.$name/cprofd.service" 2>&1)
	check "$T: $name: systemd-analyze verify passes, no warnings" \
		test $? = 0 -a -z "$out" "$(echo "$out" | head -n 5 | tr '\n' ' ')"
}

# ---- the versions agree --------------------------------------------------
chver=$(dpkg-parsechangelog -l debian/changelog -S Version 2>&1)
check_eq "debian/changelog's version is VERSION's" "${chver%-*}" "$VERSION"

# ---- build the package ---------------------------------------------------
SRC=$TMP/src/cprof-$VERSION
copy_tree "$SRC"
start=$(date +%s)
(cd "$SRC" && DEB_BUILD_OPTIONS="parallel=2 nocheck" dpkg-buildpackage -us -uc -b) \
	>"$TMP/build.log" 2>&1
rc=$?
echo "package build: rc $rc in $(($(date +%s) - start)) s"
DEB=$(ls "$TMP"/src/cprof_"$VERSION"*_*.deb 2>/dev/null | head -n 1)
if [ "$rc" != 0 ] || [ -z "$DEB" ]; then
	why=$(grep -m 3 -E ': (fatal )?error:' "$TMP/build.log")	# the compiler's, first
	[ -n "$why" ] || why=$(grep -E 'error:|\*\*\*' "$TMP/build.log" | tail -n 3)
	fail "$T: dpkg-buildpackage -us -uc -b" "rc $rc: $(tr '\n' ' ' <<<"$why")"
	exit 0
fi
pass "$T: dpkg-buildpackage -us -uc -b builds $(basename "$DEB")"

# ---- what the package holds ----------------------------------------------
dpkg-deb -c "$DEB" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }' | sort >"$TMP/deb.files"
has() { grep -qx "$2" "$TMP/deb.files"; check "$T: the package has $1" test $? = 0 "not in dpkg-deb -c"; }
has "/usr/sbin/cprofd" /usr/sbin/cprofd
has "/usr/bin/cprof-ctl" /usr/bin/cprof-ctl
has "cprofd(8)" /usr/share/man/man8/cprofd.8.gz
has "cprof-ctl(1)" /usr/share/man/man1/cprof-ctl.1.gz
has "/etc/cprofd/cprofd.conf" /etc/cprofd/cprofd.conf
units=$(grep -E '^(/usr)?/lib/systemd/system/cprofd\.service$' "$TMP/deb.files")
check "$T: the package has the unit, once" test "$(echo "$units" | grep -c .)" = 1 \
	"units: $(echo $units)"
check "$T: the config file is a conffile" \
	grep -qx /etc/cprofd/cprofd.conf <(dpkg-deb -I "$DEB" conffiles 2>/dev/null) \
	"conffiles: $(dpkg-deb -I "$DEB" conffiles 2>&1 | tr '\n' ' ')"
check_eq "the package's version is VERSION's" "$(dpkg-deb -f "$DEB" Version)" "$chver"

depends=$(dpkg-deb -f "$DEB" Depends)
missing=
for lib in libbpf1 libdw1 libelf1 libmicrohttpd12 libcurl4 libprotobuf-c1 zlib1g libc6 adduser; do
	grep -qE "(^|, )$lib( |,|$)" <<<"$depends" || missing+=" $lib"
done
check "$T: Depends has the shared libraries and adduser" test -z "$missing" \
	"missing$missing in: $depends"

postinst=$(dpkg-deb -I "$DEB" postinst 2>/dev/null)
group_at=$(grep -n 'addgroup --system' <<<"$postinst" | head -n 1 | cut -d: -f1)
unit_at=$(grep -n 'cprofd.service' <<<"$postinst" | head -n 1 | cut -d: -f1)
check "$T: postinst makes the cprof group, then enables the unit" \
	test -n "$group_at" -a -n "$unit_at" -a "${group_at:-0}" -lt "${unit_at:-0}" \
	"addgroup at line '$group_at', cprofd.service at line '$unit_at'"

# ---- the unit, the man pages and the programs as packaged ----------------
ROOT=$TMP/root
dpkg -x "$DEB" "$ROOT"
UNIT=$ROOT$units
verify_unit "packaged unit" "$UNIT" "$ROOT"
check "$T: the unit starts /usr/sbin/cprofd with the config file" \
	grep -qx 'ExecStart=/usr/sbin/cprofd --config /etc/cprofd/cprofd.conf' "$UNIT" \
	"$(grep ExecStart "$UNIT")"
want_caps="CAP_BPF CAP_CHECKPOINT_RESTORE CAP_DAC_READ_SEARCH CAP_KILL CAP_PERFMON CAP_SETGID CAP_SETPCAP CAP_SETUID CAP_SYSLOG CAP_SYS_NICE CAP_SYS_PTRACE CAP_SYS_RESOURCE"
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$UNIT" | tr ' ' '\n' | sort | xargs)
check_eq "the unit's capability bounding set" "$caps" "$want_caps"
bad=$(grep -E '^(PrivateTmp|ProtectProc|ProcSubset|AmbientCapabilities|RestrictRealtime=(yes|true)|ProtectKernelTunables=(yes|true)|ProtectHome=(yes|true|tmpfs))' "$UNIT")
check "$T: the unit leaves what a profiler reads readable" test -z "$bad" "$bad"

for page in man8/cprofd.8.gz man1/cprof-ctl.1.gz; do
	f=$ROOT/usr/share/man/$page
	name=$(basename "$page" .gz)
	out=$( { MANWIDTH=80 man --warnings=w -l "$f" >"$TMP/$name.txt"; } 2>&1
		zcat "$f" | groff -man -ww -z -Tutf8 2>&1
		if command -v mandoc >/dev/null; then mandoc -T lint -W warning "$f" 2>&1; fi)
	check "$T: $name renders without warnings" test -z "$out" -a -s "$TMP/$name.txt" \
		"$(echo "$out" | head -n 5 | tr '\n' ' ')"
	check "$T: $name shows version $VERSION" grep -q "cprof $VERSION" "$TMP/$name.txt" \
		"footer: $(tail -n 1 "$TMP/$name.txt")"
done

# every option of --help is in the man page, and the ones the config file
# and access control bring
documented() {	# NAME PROGRAM MANPAGE EXTRA-OPTIONS
	local opt missing=
	for opt in $("$2" --help 2>&1 | grep -oE -- '--[a-z][a-z-]*' | sort -u) $4; do
		zcat "$3" | grep -qF -- "$(sed 's/-/\\-/g' <<<"$opt")" || missing+=" $opt"
	done
	check "$T: $1 documents every option" test -z "$missing" "missing:$missing"
}
documented "cprofd(8)" "$ROOT/usr/sbin/cprofd" "$ROOT/usr/share/man/man8/cprofd.8.gz" \
	"--config --group --tls-cert --tls-key --token-file --comm --exe --cgroup --version"
documented "cprof-ctl(1)" "$ROOT/usr/bin/cprof-ctl" "$ROOT/usr/share/man/man1/cprof-ctl.1.gz" \
	"--version"

check_eq "the packaged cprofd --version" "$("$ROOT/usr/sbin/cprofd" --version 2>&1)" "cprofd $VERSION"
check_eq "the packaged cprof-ctl --version" \
	"$("$ROOT/usr/bin/cprof-ctl" --version 2>&1 | head -n 1 | cut -d' ' -f1-2)" "cprof-ctl $VERSION"

# ---- make install PREFIX=/usr/local installs the same files --------------
INST=$TMP/inst
(cd "$SRC" && make install PREFIX=/usr/local DESTDIR="$INST") >"$TMP/install.log" 2>&1
rc=$?
check "$T: make install PREFIX=/usr/local DESTDIR=..." test "$rc" = 0 \
	"rc $rc: $(tail -n 3 "$TMP/install.log" | tr '\n' ' ')"
(cd "$INST" && find . ! -type d | sed 's/^\.//' | sort) >"$TMP/inst.files"
grep -v '^/usr/share/doc/' "$TMP/deb.files" |
	sed -E -e 's/\.gz$//' -e 's|^/lib/|/usr/lib/|' -e 's|^/usr/|/usr/local/|' | sort >"$TMP/want.files"
check "$T: make install puts the package's files under /usr/local" \
	cmp -s "$TMP/want.files" "$TMP/inst.files" \
	"$(diff "$TMP/want.files" "$TMP/inst.files" | grep '^[<>]' | tr '\n' ' ')"
IUNIT=$INST/usr/local/lib/systemd/system/cprofd.service
check "$T: the /usr/local unit starts /usr/local/sbin/cprofd" \
	grep -qx 'ExecStart=/usr/local/sbin/cprofd --config /etc/cprofd/cprofd.conf' "$IUNIT" \
	"$(grep ExecStart "$IUNIT" 2>&1)"
[ -f "$IUNIT" ] && verify_unit "/usr/local unit" "$IUNIT" "$INST"
echo "hz = 49" >>"$INST/etc/cprofd/cprofd.conf"
(cd "$SRC" && make install PREFIX=/usr/local DESTDIR="$INST") >>"$TMP/install.log" 2>&1
check "$T: make install again keeps an existing config file" \
	grep -qx 'hz = 49' "$INST/etc/cprofd/cprofd.conf" "it was replaced"

# ---- the packaged cprofd, run as the unit runs it ------------------------
need_root "$T: packaged cprofd"
B=$ROOT/usr/sbin	# for lib.sh's stop_daemon and cleanup
P=$(free_port) || { fail "$T: packaged cprofd" "no free port"; exit 0; }
U=http://127.0.0.1:$P

# wait_http URL: 0 once it answers 200 (up to 15 s), while DAEMON_PID lives
wait_http() {
	for _ in $(seq 150); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = 200 ] && return 0
		kill -0 "$DAEMON_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# With the packaged config file, a port and a socket of its own
cp "$ROOT/etc/cprofd/cprofd.conf" "$TMP/cprofd.conf"
printf 'listen = 127.0.0.1:%s\nsocket = %s\n' "$P" "$TMP/s.sock" >>"$TMP/cprofd.conf"
"$ROOT/usr/sbin/cprofd" --config "$TMP/cprofd.conf" >"$TMP/config.log" 2>&1 &
DAEMON_PID=$!
wait_http "$U/debug/pprof/"
check "$T: cprofd --config (the packaged file) serves /debug/pprof/" test $? = 0 \
	"$(head -n 2 "$TMP/config.log" | tr '\n' ' ')"
if kill -0 "$DAEMON_PID" 2>/dev/null; then
	"$ROOT/usr/bin/cprof-ctl" --socket "$TMP/s.sock" status >"$TMP/status.out" 2>&1
	check "$T: cprof-ctl status on the config file's socket" test $? = 0 \
		"$(head -n 2 "$TMP/status.out" | tr '\n' ' ')"
	# systemctl reload: kill -HUP
	kill -HUP "$DAEMON_PID"
	sleep 1
	wait_http "$U/debug/pprof/"
	check "$T: after SIGHUP (systemctl reload) cprofd still serves" test $? = 0 \
		"$(tail -n 3 "$TMP/config.log" | tr '\n' ' ')"
	if kill -0 "$DAEMON_PID" 2>/dev/null; then
		stop_daemon
		rc=$?
		check "$T: SIGTERM: cprofd exits 0" test "$rc" = 0 "exit status $rc"
	else
		skip "$T: SIGTERM: cprofd exits 0" "cprofd did not outlive SIGHUP"
	fi
fi
DAEMON_PID=

# With only the unit's capabilities and no new privileges, as systemd
# starts it: a process of another user (python3 as nobody) is sampled and
# named from its binary, which takes reading its maps and its files.
# Debian's python3: one in root's home (pyenv) is not nobody's to run.
PY=/usr/bin/python3
setcaps=-all$(for c in $caps; do c=${c#CAP_}; printf ',+%s' "${c,,}"; done)
setpriv --bounding-set="$setcaps" --no-new-privs \
	"$ROOT/usr/sbin/cprofd" --listen "127.0.0.1:$P" --socket none >"$TMP/caps.log" 2>&1 &
DAEMON_PID=$!
if ! wait_http "$U/metrics"; then
	fail "$T: with the unit's capabilities cprofd starts" "$(tail -n 3 "$TMP/caps.log" | tr '\n' ' ')"
elif [ ! -x "$PY" ] || ! id nobody >/dev/null 2>&1; then
	skip "$T: with the unit's capabilities another user's process is named" "no $PY or no nobody user"
else
	setpriv --reuid=nobody --regid="$(id -gn nobody)" --clear-groups \
		"$PY" -c 'while True: pass' >/dev/null 2>&1 &
	WPID=$!
	sleep 1
	code=$(curl -s -o "$TMP/caps.pb.gz" -w '%{http_code}' "$U/debug/pprof/profile?seconds=3&pid=$WPID")
	kill "$WPID" 2>/dev/null
	"$ROOT/usr/bin/cprof-ctl" top "$TMP/caps.pb.gz" -n 5 >"$TMP/caps.top" 2>&1
	check "$T: with the unit's capabilities another user's process is named" \
		grep -qE ' _?Py[A-Z][A-Za-z_]+$' "$TMP/caps.top" \
		"HTTP $code; top: $(head -n 8 "$TMP/caps.top" | tr '\n' ' ')"
	refused=$(grep -iE 'not permitted|permission denied|cannot|refused' "$TMP/caps.log" | head -n 3)
	check "$T: with the unit's capabilities nothing is refused" test -z "$refused" \
		"$(tr '\n' ' ' <<<"$refused")"
fi
stop_daemon >/dev/null 2>&1
exit 0
