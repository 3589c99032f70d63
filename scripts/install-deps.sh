#!/bin/sh
# Installs the Debian packages llama3c builds and tests with (skips apt when all are present).
#   build:  cmake, pkg-config, gcc, libpcre2-dev (pre-tokenizer regex), libjansson-dev (JSON),
#           libmicrohttpd-dev (HTTP server)
#   tests:  clang (libFuzzer harnesses), valgrind, curl, nodejs + npm (the openai client test)
set -eu
PKGS="cmake make pkg-config gcc libc6-dev libpcre2-dev libjansson-dev libmicrohttpd-dev"
if [ "${1:-}" = "--test" ]; then
  PKGS="$PKGS clang valgrind curl nodejs npm"
fi
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "installing:$missing"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
fi
