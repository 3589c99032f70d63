#!/bin/sh
# The whole test suite, as CI runs it: installs what it needs, builds and runs every test in a
# release build, then again under AddressSanitizer + UndefinedBehaviorSanitizer, then the
# fuzz-smoke harnesses (clang + libFuzzer), then the aarch64 cross build's tests under
# qemu-aarch64. Fixtures are read from ../shared/fixtures.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh --test
JOBS=$(nproc 2>/dev/null || echo 2)

echo "== release build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$JOBS"
ctest --test-dir build --output-on-failure -j"$JOBS" --timeout 900

echo "== ASan + UBSan build"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLLAMA3_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$JOBS"
# valgrind does not run under ASan; everything else does.
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j"$JOBS" --timeout 1800 -LE "valgrind|fuzz-smoke"

if [ -f fuzz/CMakeLists.txt ]; then
  echo "== fuzz-smoke (clang, libFuzzer)"
  CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLLAMA3_FUZZ=ON >/dev/null
  cmake --build build-fuzz -j"$JOBS"
  ctest --test-dir build-fuzz --output-on-failure -j"$JOBS" --timeout 600 -L fuzz-smoke
fi

echo "== aarch64 (cross-built, tests under qemu-aarch64)"
sh scripts/build-aarch64.sh
ctest --test-dir build-aarch64 --output-on-failure -j"$JOBS" --timeout 900 -L aarch64
