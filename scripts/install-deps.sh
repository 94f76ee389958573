#!/usr/bin/env bash
# Installs every system package the project needs, from Debian's archive.
# Idempotent: does nothing (and needs no network) when all are present.
# The Dockerfile runs this same script, so the image and CI agree.
set -euo pipefail

PKGS=(
    # build
    build-essential nginx nginx-dev libnginx-mod-http-ndk libnginx-mod-http-ndk-dev
    libnginx-mod-http-echo
    libhiredis-dev libjansson-dev libcurl4-openssl-dev libssl-dev zlib1g-dev
    libpcre3-dev
    # run and test
    redis-server openssl curl ca-certificates python3
    libtest-base-perl libtext-diff-perl liblist-moreutils-perl libipc-run3-perl
    libtest-longstring-perl libwww-perl libjson-pp-perl libyaml-libyaml-perl
    # benchmarks, browser tests, sanitizers
    wrk chromium clang valgrind gdb
)

missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
         | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

# node and npm may come from Debian or another node package already on the
# machine; only install Debian's when there is none.
if ! command -v node >/dev/null 2>&1; then
    missing+=(nodejs)
fi
if ! command -v npm >/dev/null 2>&1; then
    missing+=(npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages and not root; run as root:" >&2
    echo "  apt-get install -y ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# Debian starts these on install; the project runs its own instances.
for svc in nginx redis-server; do
    if command -v service >/dev/null 2>&1; then
        service "$svc" stop >/dev/null 2>&1 || true
    fi
done
