#!/bin/sh
# Installs the Debian packages llama3c builds and tests with (skips apt when all are present).
#   build:  cmake, pkg-config, gcc, libpcre2-dev (pre-tokenizer regex), libjansson-dev (JSON),
#           libmicrohttpd-dev (HTTP server)
#   tests:  clang + libclang-rt-14-dev (libFuzzer harnesses; clang only recommends the runtime), valgrind, curl, jq, nodejs + npm (the openai client test),
#           Open MPI (openmpi-bin, libopenmpi-dev: model parallelism and its tests), iproute2 (the two-host test), strace (which shard each rank opens)
set -eu
PKGS="cmake make pkg-config gcc libc6-dev libpcre2-dev libjansson-dev libmicrohttpd-dev"
if [ "${1:-}" = "--test" ]; then
  PKGS="$PKGS clang libclang-rt-14-dev valgrind curl jq openmpi-bin libopenmpi-dev iproute2 strace"
fi
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# Node may come from another source (e.g. a nodejs package that bundles npm): look for the
# commands rather than for Debian's package names.
if [ "${1:-}" = "--test" ] && ! { command -v node && command -v npm; } >/dev/null 2>&1; then
  missing="$missing nodejs npm"
fi
if [ -n "$missing" ]; then
  echo "installing:$missing"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
fi
