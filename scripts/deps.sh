#!/usr/bin/env bash
# Install what building and testing cprof needs, from Debian's archive, only
# when something is missing. Usage: scripts/deps.sh [build|check|bench]
set -euo pipefail
want=(make gcc clang llvm pkg-config libbpf-dev bpftool libelf-dev libdw-dev
      zlib1g-dev libprotobuf-c-dev protobuf-c-compiler libmicrohttpd-dev
      libcurl4-openssl-dev libdebuginfod-dev libiberty-dev liblzma-dev libcapstone-dev libzstd-dev)
case "${1:-build}" in
  check) want+=(golang-go curl binutils linux-perf redis-server redis-tools g++ xz-utils
                libc6-dbg debuginfod libclang-rt-14-dev libjemalloc-dev libgoogle-perftools-dev
                # packaging: the .deb, its unit and man pages; TLS and scraping
                debhelper dpkg-dev fakeroot systemd man-db groff-base mandoc
                openssl prometheus
                # the fleet store the export is tested against
                clickhouse-server) ;;
  bench) want+=(golang-go curl binutils linux-perf bpfcc-tools libbpf-tools bpftrace redis-server redis-tools
                linux-headers-amd64	# memleak-bpfcc (bcc) compiles against them
                libc6-dbg postgresql-15 time clickhouse-server) ;;
esac
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "deps: missing packages: ${missing[*]}; run as root to install them" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
