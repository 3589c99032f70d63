#!/bin/sh
# Cross-builds llama3c for 64-bit ARM Linux into build-aarch64/ (build-aarch64/llama3, static),
# installing what it needs from Debian first: gcc-aarch64-linux-gnu, the arm64 -dev packages of
# PCRE2 and Jansson (multiarch), and qemu-user to run the tests:
#   sh scripts/build-aarch64.sh && ctest --test-dir build-aarch64 -L aarch64
# The HTTP server is left out unless libmicrohttpd-dev:arm64 is installed.
set -eu
cd "$(dirname "$0")/.."
PKGS="gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user libpcre2-dev:arm64 libjansson-dev:arm64 cmake make pkg-config"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "installing:$missing"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  dpkg --print-foreign-architectures | grep -qx arm64 || $SUDO dpkg --add-architecture arm64
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
fi
# Static programs: Debian 12's qemu-user (7.2) hangs in pthread_create of dynamically linked
# aarch64 programs (glibc 2.36), while static ones run their threads.
cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DCMAKE_BUILD_TYPE=Release \
  -DLLAMA3_STATIC=ON >/dev/null
cmake --build build-aarch64 -j"$(nproc 2>/dev/null || echo 2)"
echo "built build-aarch64/llama3 ($(file -b build-aarch64/llama3 | cut -d, -f1-2)); tests: ctest --test-dir build-aarch64 -L aarch64"
