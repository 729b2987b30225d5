#!/usr/bin/env bash
# Fleet scrapers against cprofd, with the configurations of docs/SCRAPE.md:
#  1. Debian's prometheus scrapes /metrics with the job from that page, and
#     its query API gives back what /metrics says;
#  2. Grafana Alloy's pyroscope.scrape and Parca's scraper are not packaged
#     in Debian: curl sends the requests they would send for the blocks on
#     that page (paths, seconds=, headers, timeouts, as read from their
#     source, URLs below), and the answers are checked as they would be;
#  3. Prometheus again, over HTTPS with a bearer token, and curl with and
#     without the token (when cprofd has --tls-cert).
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
need_root "scrape"

DOC=docs/SCRAPE.md
PROM_PID=
PROM_DIR=
trap 'stop_prometheus; cleanup' EXIT

# doc_block NAME: the fenced block that follows "<!-- scrape.sh: NAME -->"
doc_block() {
	awk -v m="<!-- scrape.sh: $1 -->" '
		$0 == m { armed = 1; next }
		armed && /^```/ { if (inside) exit; inside = 1; next }
		inside { print }' "$DOC"
}

# wait_until SECONDS COMMAND...: true as soon as COMMAND is
wait_until() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.5
	done
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A value from cprofd's own /metrics: metric NAME [CURL-OPTIONS...]; the URL
# is $BASE (plain or https)
metric() {
	local name=$1
	shift
	curl -sf --max-time 5 "$@" "$BASE/metrics" | awk -v n="$name" '$1 == n { print $2; exit }'
}

# A scratch directory for one Prometheus: its config, the files the config
# names, its storage and its log.
new_prometheus_dir() { PROM_DIR=$(mktemp -d /tmp/cprof-prometheus.XXXXXX); }

# Start Prometheus on $PROM_DIR/prometheus.yml, as the user Debian's
# package runs it as when there is one; true once it is ready.
start_prometheus() {
	local as=()
	PROM_USER=root
	if id prometheus >/dev/null 2>&1 && command -v setpriv >/dev/null; then
		chown -R prometheus: "$PROM_DIR"
		as=(setpriv --reuid=prometheus --regid="$(id -g prometheus)" --init-groups)
		PROM_USER=prometheus
	fi
	PROM_PORT=$(free_port)
	PROM=http://127.0.0.1:$PROM_PORT
	"${as[@]}" prometheus --config.file="$PROM_DIR/prometheus.yml" --storage.tsdb.path="$PROM_DIR/data" \
		--web.listen-address="127.0.0.1:$PROM_PORT" >"$PROM_DIR/log" 2>&1 &
	PROM_PID=$!
	wait_until 30 curl -sf -o /dev/null "$PROM/-/ready"
}

stop_prometheus() {
	if [ -n "$PROM_PID" ]; then
		kill -TERM "$PROM_PID" 2>/dev/null
		wait "$PROM_PID" 2>/dev/null
	fi
	PROM_PID=
	[ -n "$PROM_DIR" ] && rm -rf "$PROM_DIR"
	PROM_DIR=
}

prom_log() { tail -n 3 "$PROM_DIR/log" 2>/dev/null | tr '\n' ' ' | head -c 400; }

# promq QUERY: the value of the first sample Prometheus's query API returns
promq() {
	curl -sG --max-time 5 --data-urlencode "query=$1" "$PROM/api/v1/query" | python3 -c '
import json, sys
try:
    r = json.load(sys.stdin)["data"]["result"]
    print(r[0]["value"][1] if r else "")
except Exception:
    pass'
}

# prom_target JOB: "HEALTH|LASTERROR" of the job's active target
prom_target() {
	curl -s --max-time 5 "$PROM/api/v1/targets?state=active" | python3 -c '
import json, sys
try:
    for t in json.load(sys.stdin)["data"]["activeTargets"]:
        if t["labels"].get("job") == sys.argv[1]:
            print(t["health"] + "|" + t["lastError"])
            break
except Exception:
    pass' "$1"
}

# Prometheus has scraped JOB at least once, and the counter NAME it holds
# equals what cprofd says now (CURL-OPTIONS for the direct read)
prom_caught_up() {
	local job=$1 name=$2
	shift 2
	[ "$(promq "up{job=\"$job\"}")" = 1 ] &&
		[ "$(promq "$name{job=\"$job\"}")" = "$(metric "$name" "$@")" ]
}

# go tool pprof -raw printed Go's CPU sample types and nothing on stderr
pprof_raw_clean() {
	grep -qx 'samples/count cpu/nanoseconds\[dflt\]' "$TMP/raw.out" && [ ! -s "$TMP/raw.err" ]
}

# the start of a file that may be binary, printable
text_of() { head -c 200 "$1" | tr -c '[:print:]' ' '; }

# PROM is at least 1 and at most DIRECT
consistent() { [ -n "$1" ] && [ -n "$2" ] && ge "$1" 1 && ge "$2" "$1"; }

# the profile FILE has samples of pid PID in work_a
holds_workload() {
	q "$1" pids | grep -qx "$2" && [ "$(q "$1" share work_a)" != 0.00 ]
}

# valid_pprof NAME FILE SECONDS: a gzipped pprof profile with samples,
# Go's CPU sample and period types, covering SECONDS, as pprof reads it
valid_pprof() {
	local name=$1 file=$2 secs=$3 magic gz=ok samples dur
	magic=$(head -c 2 "$file" | od -An -tx1 | tr -d ' \n')
	gzip -t "$file" 2>/dev/null || gz=bad
	check "$name: gzip" test "$magic" = 1f8b -a "$gz" = ok \
		"starts with '$magic', gzip -t: $gz: $(head -c 120 "$file" | tr -c '[:print:]' ' ')"
	[ "$gz" = ok ] || return
	read -r _ samples < <(q "$file" total 2>/dev/null)
	check "$name: a pprof profile with samples ($samples)" ge "${samples:-0}" 1 \
		"profq read $(q "$file" total 2>&1 | head -c 200)"
	read -r _ dur < <(q "$file" window 2>/dev/null)
	dur=$(awk -v d="${dur:-0}" 'BEGIN { printf "%.2f", d / 1e9 }')
	check "$name: covers seconds=$secs (${dur}s)" near "$dur" "$secs" 0.5 "duration ${dur}s"
	if command -v go >/dev/null; then
		go tool pprof -symbolize=none -raw "$file" >"$TMP/raw.out" 2>"$TMP/raw.err"
		check "$name: go tool pprof reads it as Go's CPU profile, no warning" \
			pprof_raw_clean "$(head -c 200 "$TMP/raw.err" "$TMP/raw.out" | tr '\n' ' ')"
		check "$name: period type cpu nanoseconds, as Go's" grep -qx 'PeriodType: cpu nanoseconds' \
			"$TMP/raw.out" "$(head -n 2 "$TMP/raw.out" | tr '\n' ' ')"
	else
		skip "$name: go tool pprof reads it" "go not installed (apt-get install golang-go)"
	fi
}

start_daemon
BASE=$URL

# A profile first: cprofd_profiles_built_total then stays at 1, a counter
# Prometheus must give back exactly.
curl -sf -o /dev/null "$URL/debug/pprof/profile?seconds=1"

# /metrics in the text format Prometheus parses. promtool lints too;
# missing HELP text is the only lint allowed here.
curl -sf "$URL/metrics" >"$TMP/metrics"
if command -v promtool >/dev/null; then
	promtool check metrics <"$TMP/metrics" >"$TMP/promtool.out" 2>&1
	rc=$?
	check "/metrics: promtool parses it (rc $rc)" test "$rc" != 1 "$(head -c 300 "$TMP/promtool.out")"
	others=$(grep -v 'no help text$' "$TMP/promtool.out" | head -n 5)
	check "/metrics: promtool finds nothing wrong but missing HELP lines" test -z "$others" "$others"
fi

# 1. Prometheus, the real thing, with the loopback job of docs/SCRAPE.md
#    scraping every second.
if ! command -v prometheus >/dev/null; then
	skip "prometheus" "not installed (apt-get update && apt-get install -y prometheus)"
else
	new_prometheus_dir
	doc_block prometheus-loopback | sed -e "s/127\.0\.0\.1:6070/127.0.0.1:$PORT/" \
		-e 's/scrape_interval: 15s/scrape_interval: 1s/' >"$PROM_DIR/prometheus.yml"
	check "prometheus: the loopback job from $DOC targets this cprofd every 1s" \
		test "$(grep -cE "targets: \[\"127.0.0.1:$PORT\"\]|scrape_interval: 1s\$" "$PROM_DIR/prometheus.yml")" = 2 \
		"generated: $(tr '\n' ' ' <"$PROM_DIR/prometheus.yml")"
	if ! start_prometheus; then
		fail "prometheus: starts" "$(prom_log)"
	else
		pass "prometheus: runs as user $PROM_USER"
		wait_until 30 prom_caught_up cprofd cprofd_profiles_built_total
		check "prometheus: up{job=\"cprofd\"} is 1" test "$(promq 'up{job="cprofd"}')" = 1 \
			"up=$(promq 'up{job="cprofd"}'); target: $(prom_target cprofd)"
		pv=$(promq 'cprofd_profiles_built_total{job="cprofd"}')
		dv=$(metric cprofd_profiles_built_total)
		check "prometheus: cprofd_profiles_built_total from the query API ($pv) equals /metrics ($dv)" \
			test -n "$pv" -a "$pv" = "$dv" "query API: '$pv', /metrics: '$dv'"
		pv=$(promq 'process_start_time_seconds{job="cprofd"}')
		dv=$(metric process_start_time_seconds)
		check "prometheus: process_start_time_seconds from the query API equals /metrics ($dv)" \
			test -n "$pv" -a "$pv" = "$dv" "query API: '$pv', /metrics: '$dv'"
		# a counter every scrape moves: what Prometheus holds is at most what
		# cprofd says a moment later
		pv=$(promq 'cprofd_http_requests_total{job="cprofd"}')
		dv=$(metric cprofd_http_requests_total)
		check "prometheus: cprofd_http_requests_total from the query API ($pv) is consistent with /metrics ($dv)" \
			consistent "$pv" "$dv" "query API: '$pv', /metrics: '$dv'"
		pv=$(promq 'scrape_samples_scraped{job="cprofd"}')
		dv=$(curl -sf "$URL/metrics" | grep -vc '^#')
		check "prometheus: every sample line of /metrics was taken ($pv of $dv)" test -n "$pv" -a "$pv" = "$dv" \
			"scrape_samples_scraped '$pv', sample lines '$dv'"
		t=$(prom_target cprofd)
		check "prometheus: /api/v1/targets says health up with no lastError" test "$t" = "up|" "target: '$t'"
	fi
	stop_prometheus
fi

# 2. Alloy's pyroscope.scrape and Parca's scraper, request for request.
#
# Grafana Alloy, https://github.com/grafana/alloy/tree/main/internal/component/pyroscope/scrape
# (scrape.go, target.go, scrape_loop.go) and internal/useragent/useragent.go:
#  - defaults: scrape_interval 15s, scrape_timeout 10s; profiles memory
#    (/debug/pprof/allocs), block, goroutine, mutex (/debug/pprof/NAME) and
#    process_cpu (/debug/pprof/profile, delta) enabled; fgprof and the
#    godeltaprof ones off;
#  - a delta profile gets seconds = scrape_interval - 1 (unless
#    delta_profiling_duration is set), and its timeout is scrape_timeout +
#    scrape_interval - 1s; the others get scrape_timeout;
#  - GET with User-Agent "Alloy/VERSION (GOOS; DEPLOYMODE)" and no Accept
#    header; the prometheus/common HTTP client it uses has
#    DisableCompression set, so no Accept-Encoding either
#    (https://github.com/prometheus/common/blob/main/config/http_config.go);
#  - success is a 2xx with a non-empty body that parses as pprof.
# Docs: https://grafana.com/docs/alloy/latest/reference/components/pyroscope/pyroscope.scrape/
#
# Parca, https://github.com/parca-dev/parca: pkg/config/config.go,
# pkg/scrape/target.go, pkg/scrape/scrape.go, and the scrape_configs
# example in parca.yaml:
#  - defaults: scrape_interval 10s, scrape_timeout 0 meaning interval + 3s;
#    the same five profiles and paths, process_cpu delta;
#  - pprof_config entries are merged with those defaults: a profile left
#    out is scraped; an entry without enabled is enabled, without path gets
#    the default path, and without delta is not delta;
#  - a delta profile gets seconds = scrape_interval; every request has
#    scrape_timeout;
#  - GET with User-Agent "conprof/VERSION", same prometheus/common client;
#  - success is 200 and a body that parses as pprof.

declare -A DEFAULT_PATH=([memory]=/debug/pprof/allocs [block]=/debug/pprof/block
	[goroutine]=/debug/pprof/goroutine [mutex]=/debug/pprof/mutex
	[process_cpu]=/debug/pprof/profile)

# "NAME ENABLED PATH DELTA" for each profile block of an Alloy config
alloy_profiles() {
	awk '
		/profile\.[a-z_]+ *\{/ {
			match($0, /profile\.[a-z_]+/)
			name = substr($0, RSTART + 8, RLENGTH - 8); en = "-"; path = "-"; delta = "-"; next
		}
		name != "" && $1 == "enabled" { en = $3 }
		name != "" && $1 == "path" { path = $3; gsub(/"/, "", path) }
		name != "" && $1 == "delta" { delta = $3 }
		name != "" && /^ *\}/ { print name, en, path, delta; name = "" }'
}

# the same for the pprof_config of a Parca job
parca_profiles() {
	awk '
		function flush() { if (name != "") print name, en, path, delta; name = "" }
		/^ *pprof_config: *$/ { match($0, /^ */); base = RLENGTH; inp = 1; next }
		inp && NF {
			match($0, /^ */)
			if (RLENGTH <= base) { flush(); inp = 0; next }
			if (RLENGTH == base + 2) {
				flush(); name = $1; sub(/:$/, "", name); en = "-"; path = "-"; delta = "-"; next
			}
			if ($1 == "enabled:") en = $2
			if ($1 == "path:") path = $2
			if ($1 == "delta:") delta = $2
		}
		END { flush() }'
}

# duration string to seconds ("15s", "1m")
secs_of() {
	case $1 in
	*ms) echo 0 ;;
	*s) echo "${1%s}" ;;
	*m) echo $((${1%m} * 60)) ;;
	*) echo "" ;;
	esac
}

# scrape_like WHO PROFILE PATH SECONDS TIMEOUT UA: what the scraper sends,
# in the background; the answer in $TMP/WHO-PROFILE.{body,headers,out}
scrape_like() {
	local who=$1 prof=$2 path=$3 secs=$4 timeout=$5 ua=$6 url
	url="$BASE$path"
	[ "$secs" != - ] && url="$url?seconds=$secs"
	echo "$url $timeout" >"$TMP/$who-$prof.req"
	(curl -s -H 'Accept:' -A "$ua" --max-time "$timeout" -D "$TMP/$who-$prof.headers" \
		-o "$TMP/$who-$prof.body" -w '%{http_code} %{time_total} %{content_type}\n' "$url" \
		>"$TMP/$who-$prof.out"; echo "rc $?" >>"$TMP/$who-$prof.out") &
	SCRAPES+=($!)
}

# plan WHO BLOCK: what that scraper makes of that block of the page, one
# "PROFILE ENABLED PATH SECONDS TIMEOUT" line for each profile it knows by
# default, enabled or not (the disabled ones are asked too, to show what a
# scraper left at its defaults would meet); SECONDS "-" when it adds none.
plan() {
	local who=$1 block=$2 interval timeout conf name en path delta secs t
	declare -A EN PATH_OF DELTA
	conf=$(doc_block "$block")
	if [ "$who" = alloy ]; then
		interval=$(secs_of "$(awk -F'"' '$1 ~ /^ *scrape_interval *= *$/ { print $2 }' <<<"$conf")")
		timeout=$(secs_of "$(awk -F'"' '$1 ~ /^ *scrape_timeout *= *$/ { print $2 }' <<<"$conf")")
		interval=${interval:-15}
		timeout=${timeout:-10}
	else
		interval=$(secs_of "$(awk '$1 == "scrape_interval:" { print $2 }' <<<"$conf")")
		timeout=$(secs_of "$(awk '$1 == "scrape_timeout:" { print $2 }' <<<"$conf")")
		interval=${interval:-10}
		[ -z "$timeout" ] || [ "$timeout" = 0 ] && timeout=$((interval + 3))
	fi
	for name in "${!DEFAULT_PATH[@]}"; do
		EN[$name]=true
		PATH_OF[$name]=${DEFAULT_PATH[$name]}
		DELTA[$name]=false
	done
	DELTA[process_cpu]=true
	while read -r name en path delta; do
		[ -n "$name" ] || continue
		[ "$en" != - ] && EN[$name]=$en
		[ "$en" = - ] && [ "$who" = parca ] && EN[$name]=true
		[ "$path" != - ] && PATH_OF[$name]=$path
		[ -z "${PATH_OF[$name]}" ] && PATH_OF[$name]=/debug/pprof/$name
		if [ "$delta" != - ]; then
			DELTA[$name]=$delta
		elif [ "$who" = parca ]; then
			DELTA[$name]=false
		fi
	done < <(if [ "$who" = alloy ]; then alloy_profiles; else parca_profiles; fi <<<"$conf")
	for name in "${!EN[@]}"; do
		secs=-
		t=$timeout
		if [ "${DELTA[$name]}" = true ]; then
			if [ "$who" = alloy ]; then
				secs=$((interval - 1))
				t=$((timeout + interval - 1))
			else
				secs=$interval
			fi
		fi
		echo "$name ${EN[$name]} ${PATH_OF[$name]} $secs $t"
	done | sort
}

for who in alloy parca; do
	plan "$who" "$who-loopback" >"$TMP/$who.plan"
	check "$who: $DOC's block enables process_cpu and nothing cprofd does not serve" \
		test "$(awk '$2 == "true" { print $1 }' "$TMP/$who.plan" | tr '\n' ' ')" = "process_cpu " \
		"enabled: $(awk '$2 == "true" { print $1 }' "$TMP/$who.plan" | tr '\n' ' ')"
	# the remote block is the same but for scheme, token, CA and target
	plan "$who" "$who-remote" >"$TMP/$who-remote.plan"
	check "$who: the remote block scrapes what the loopback one does" cmp -s "$TMP/$who.plan" "$TMP/$who-remote.plan" \
		"$(diff "$TMP/$who.plan" "$TMP/$who-remote.plan" | tr '\n' ' ')"
	check "$who: the remote block has https, a CA and a token file" \
		test "$(doc_block "$who-remote" | grep -cE 'scheme *[:=] *"?https|ca_file|credentials_file')" = 3 \
		"$(doc_block "$who-remote" | grep -E 'scheme|ca_file|credentials_file' | tr '\n' ' ')"
done

# The workload runs through every window, which run at the same time, as the
# two scrapers' would.
longest=$(awk '$4 != "-" && $4 > m { m = $4 } END { print m + 0 }' "$TMP/alloy.plan" "$TMP/parca.plan")
start_workload "$TMP/w.out" "$B/workloads/split" $((longest + 3))
sleep 0.5
SCRAPES=()
declare -A UA=([alloy]="Alloy/v1.8.0 (linux; binary)" [parca]="conprof/v0.23.0")
for who in alloy parca; do
	while read -r prof en path secs timeout; do
		scrape_like "$who" "$prof" "$path" "$secs" "$timeout" "${UA[$who]}"
	done <"$TMP/$who.plan"
done
wait "${SCRAPES[@]}"
kill "$WPID" 2>/dev/null
wait "$WPID" 2>/dev/null
for who in alloy parca; do
	while read -r prof en path secs timeout; do
		f=$TMP/$who-$prof
		read -r code took ctype <"$f.out"
		rc=$(awk '$1 == "rc" { print $2 }' "$f.out")
		req=$(cat "$f.req")
		name="$who $prof ($(cut -d' ' -f1 <<<"$req" | sed "s|$BASE||"), ${timeout}s timeout)"
		if [ "$en" = true ]; then
			check "$name: 200 within the scraper's timeout (${took}s)" \
				test "$rc" = 0 -a "$code" = 200 "curl rc $rc, status $code after ${took}s: $(text_of "$f.body")"
			[ "$code" = 200 ] || continue
			check "$name: answered after the window, not before (${took}s)" ge "$took" "$secs" "${took}s"
			check "$name: Content-Type application/octet-stream, as Go serves it" \
				test "$ctype" = application/octet-stream "Content-Type: $ctype"
			valid_pprof "$name" "$f.body" "$secs"
			check "$name: holds the workload, named" \
				holds_workload "$f.body" "$WPID" \
				"pids: $(q "$f.body" pids | sort -u | head -5 | tr '\n' ' '), work_a $(q "$f.body" share work_a)%"
		else
			# what a scraper left at its defaults would meet: a clear 4xx at once
			check "$name: not served yet: a 4xx at once (${took}s) with a one-line reason" \
				test "$rc" = 0 -a "${code:0:1}" = 4 -a "$(wc -l <"$f.body")" = 1 -a \
				"$(awk -v t="$took" 'BEGIN { print (t < 2) }')" = 1 \
				"curl rc $rc, status $code after ${took}s: $(text_of "$f.body")"
		fi
	done <"$TMP/$who.plan"
done
check "SIGTERM after the scrapes: exit 0" stop_daemon "non-zero exit"

# 3. TLS and a bearer token: the remote Prometheus job of docs/SCRAPE.md.
#    cprofd listens on this host's outside address, as it would for another
#    host's scraper: on loopback it knows the client's user and needs no
#    token (root sees everything), so the token would not be put to the test.
if ! "$B/cprofd" --help 2>&1 | grep -q -- --tls-cert; then
	skip "https + bearer token (Prometheus job, wrong token, curl with and without it)" \
		"cprofd has no --tls-cert yet"
	exit 0
fi
IP=$(ip -4 -o addr show scope global 2>/dev/null | awk '{ sub("/.*", "", $4); print $4; exit }')
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=cprof scrape test CA" \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
	-keyout "$TMP/ca.key" -out "$TMP/ca.pem" >"$TMP/openssl.log" 2>&1 &&
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$TMP/server.key" \
	-out "$TMP/server.csr" >>"$TMP/openssl.log" 2>&1 &&
openssl x509 -req -in "$TMP/server.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" -CAcreateserial \
	-days 2 -out "$TMP/server.pem" -extfile <(printf '%s\n' "subjectAltName=IP:${IP:-127.0.0.1},IP:127.0.0.1,DNS:localhost" \
	'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' \
	'extendedKeyUsage=serverAuth') >>"$TMP/openssl.log" 2>&1
rc=$?
check "tls: openssl makes a CA and a certificate for ${IP:-127.0.0.1}" test "$rc" = 0 "$(tail -n 3 "$TMP/openssl.log")"
[ "$rc" = 0 ] || exit 0
# one token a line; the scraper has the second
TOKEN=scrape-$RANDOM$RANDOM$RANDOM
printf '# the scrapers\nother-%s\n%s\n' "$RANDOM$RANDOM" "$TOKEN" >"$TMP/tokens"
printf '%s\n' "$TOKEN" >"$TMP/token"
printf 'not-%s\n' "$TOKEN" >"$TMP/wrong-token"
chmod 600 "$TMP/tokens" "$TMP/token" "$TMP/wrong-token"
AUTH=(--cacert "$TMP/ca.pem" -H "Authorization: Bearer $TOKEN")

"$B/cprofd" --listen "${IP:-127.0.0.1}:$PORT" --socket "$SOCK" --tls-cert "$TMP/server.pem" \
	--tls-key "$TMP/server.key" --token-file "$TMP/tokens" >"$TMP/cprofd.log" 2>&1 &
DAEMON_PID=$!
BASE=https://${IP:-127.0.0.1}:$PORT
if ! wait_until 10 curl -sf -o /dev/null "${AUTH[@]}" "$BASE/metrics"; then
	fail "tls: cprofd serves https with --tls-cert, --tls-key and --token-file" "$(tail -n 3 "$TMP/cprofd.log")"
	exit 0
fi
pass "tls: cprofd serves https with --tls-cert, --tls-key and --token-file"

status() { curl -s -o "$TMP/body" -w '%{http_code}' --max-time 10 "$@"; }
if [ -n "$IP" ]; then
	code=$(status --cacert "$TMP/ca.pem" "$BASE/debug/pprof/profile?seconds=1")
	check "tls: a request from $IP with no token gets 401 or 403 with a one-line reason" \
		test \( "$code" = 401 -o "$code" = 403 \) -a "$(wc -l <"$TMP/body")" = 1 \
		"got $code: $(head -c 200 "$TMP/body")"
else
	skip "tls: a request with no token is refused" \
		"this host has no global IPv4 address, and on loopback root needs no token"
fi
code=$(status --cacert "$TMP/ca.pem" -H "Authorization: Bearer not-$TOKEN" "$BASE/debug/pprof/profile?seconds=1")
check "tls: a request with a wrong token gets 401 or 403 with a one-line reason" \
	test \( "$code" = 401 -o "$code" = 403 \) -a "$(wc -l <"$TMP/body")" = 1 \
	"got $code: $(head -c 200 "$TMP/body")"
code=$(status "http://${IP:-127.0.0.1}:$PORT/metrics")
check "tls: plain http on the TLS port gets no answer served" test "$code" != 200 "got $code"
start_workload "$TMP/w.out" "$B/workloads/split" 3
code=$(status "${AUTH[@]}" "$BASE/debug/pprof/profile?seconds=2")
wait "$WPID"
mv "$TMP/body" "$TMP/tls.pb.gz"
check "tls: with the token (second line of the file), the profile: 200" test "$code" = 200 \
	"got $code: $(text_of "$TMP/tls.pb.gz")"
if [ "$code" = 200 ]; then
	valid_pprof "tls: the profile" "$TMP/tls.pb.gz" 2
	check "tls: the profile holds the workload, named" holds_workload "$TMP/tls.pb.gz" "$WPID" \
		"pids: $(q "$TMP/tls.pb.gz" pids | sort -u | head -5 | tr '\n' ' ')"
fi

if ! command -v prometheus >/dev/null; then
	skip "tls: prometheus" "not installed (apt-get update && apt-get install -y prometheus)"
	exit 0
fi
new_prometheus_dir
cp "$TMP/ca.pem" "$TMP/token" "$TMP/wrong-token" "$PROM_DIR/"
remote() {	# the remote job, for this cprofd, with token file $1 and job name $2
	doc_block prometheus-remote | sed -e "s|targets: \[.*\]|targets: [\"${IP:-127.0.0.1}:$PORT\"]|" \
		-e 's/scrape_interval: 15s/scrape_interval: 1s/' -e "s|ca_file: .*|ca_file: $PROM_DIR/ca.pem|" \
		-e "s|credentials_file: .*|credentials_file: $PROM_DIR/$1|" -e "s|job_name: cprofd|job_name: $2|"
}
remote token cprofd >"$PROM_DIR/prometheus.yml"
check "tls: prometheus: the remote job from $DOC, with https, the CA and the token file" \
	test "$(grep -cE "scheme: https|ca_file: $PROM_DIR/ca.pem|credentials_file: $PROM_DIR/token\$|\"${IP:-127.0.0.1}:$PORT\"|interval: 1s" \
	"$PROM_DIR/prometheus.yml")" = 5 "generated: $(tr '\n' ' ' <"$PROM_DIR/prometheus.yml")"
# and a second job, with a token cprofd does not know
remote wrong-token cprofd-wrong-token | sed 1d >>"$PROM_DIR/prometheus.yml"
if ! start_prometheus; then
	fail "tls: prometheus: starts" "$(prom_log)"
	exit 0
fi
wait_until 30 prom_caught_up cprofd cprofd_profiles_built_total "${AUTH[@]}"
pv=$(promq 'cprofd_profiles_built_total{job="cprofd"}')
dv=$(metric cprofd_profiles_built_total "${AUTH[@]}")
check "tls: prometheus: up, and cprofd_profiles_built_total from the query API ($pv) equals /metrics ($dv)" \
	test "$(promq 'up{job="cprofd"}')" = 1 -a -n "$pv" -a "$pv" = "$dv" \
	"up=$(promq 'up{job="cprofd"}'), query API '$pv', /metrics '$dv', target: $(prom_target cprofd)"
t=$(prom_target cprofd)
check "tls: prometheus: /api/v1/targets says health up with no lastError" test "$t" = "up|" "target: '$t'"
wrong_token_seen() { [ -n "$(prom_target cprofd-wrong-token | cut -d'|' -f2)" ]; }
wait_until 10 wrong_token_seen
t=$(prom_target cprofd-wrong-token)
check "tls: prometheus: the wrong token leaves its target down with 401 or 403 in lastError (${t#*|})" \
	grep -qE '^down\|.*(401|403)' <<<"$t" "target: '$t'"
check "tls: prometheus: up{job=\"cprofd-wrong-token\"} is 0" test "$(promq 'up{job="cprofd-wrong-token"}')" = 0 \
	"up=$(promq 'up{job="cprofd-wrong-token"}')"
stop_prometheus
check "tls: SIGTERM: exit 0" stop_daemon "non-zero exit"
