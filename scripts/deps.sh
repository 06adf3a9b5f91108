#!/usr/bin/env bash
# Install what ngx_ds needs to build, run and test, from Debian's
# packages. Idempotent: only missing packages are installed.
#   scripts/deps.sh [build|run|test|bench|fuzz|deb]   (default: test)
set -euo pipefail

build=(make gcc nginx-dev nginx-core libjansson-dev libmaxminddb-dev
       libhiredis-dev libssl-dev libpcre2-dev zlib1g-dev)
run=("${build[@]}" redis-server python3 perl libmaxmind-db-writer-perl
     mmdb-bin curl)
test=("${run[@]}" libcmocka-dev python3-pytest python3-requests
      python3-jsonschema git prometheus python3-yaml)
bench=("${test[@]}" wrk procps libnginx-mod-http-geoip2 libnginx-mod-http-lua
       lua-nginx-redis lua-cjson)
fuzz=("${test[@]}" clang libclang-rt-14-dev valgrind)
# make deb: debian/control's Build-Depends and the packaging tools
deb=("${build[@]}" build-essential dpkg-dev debhelper lintian python3
     libcmocka-dev)

what=${1:-test}
case $what in
    build) want=("${build[@]}") ;;
    run)   want=("${run[@]}") ;;
    test)  want=("${test[@]}") ;;
    bench) want=("${bench[@]}") ;;
    fuzz)  want=("${fuzz[@]}") ;;
    deb)   want=("${deb[@]}") ;;
    *) echo "usage: $0 [build|run|test|bench|fuzz|deb]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
         grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
sudo=
if [ "$(id -u)" -ne 0 ]; then
    sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the packaged services; the project runs its own copies
# on loopback, so stop the system ones to free their ports.
for svc in nginx redis-server; do
    if command -v systemctl >/dev/null && systemctl is-active -q "$svc" 2>/dev/null; then
        $sudo systemctl stop "$svc" || true
    fi
done
