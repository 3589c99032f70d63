#!/bin/sh
# The rooms' doors, checked on the source tree (usage: check_layout.sh SOURCE_DIR):
# - src/forward.c reaches the device through backend/backend.h and the other processes through
#   dist/dist.h only: no kernel, CPU-backend or thread-pool header;
# - under src/, only the CPU backend's folder includes its headers (kernels, matmul, ...);
# - tools/ include only include/ headers and their own cli.h.
set -u
cd "$1" || exit 2
bad=0
fail() { echo "FAIL: $*"; bad=1; }
incs=$(grep -h '^#include "' src/forward.c src/forward.h | sed 's/#include "\(.*\)".*/\1/')
for h in $incs; do
  case $h in
    forward.h|backend/backend.h|dist/dist.h) ;;
    *) fail "src/forward.c includes $h (only backend/backend.h and dist/dist.h)" ;;
  esac
done
grep -ln '^#include "backend/cpu/' $(find src -name '*.[ch]' ! -path 'src/backend/cpu/*') 2>/dev/null |
  while read -r f; do echo "FAIL: $f includes a CPU-backend header"; done | grep . && bad=1
for f in tools/*.c tools/*.h; do
  grep '^#include "' "$f" | sed 's/#include "\(.*\)".*/\1/' | while read -r h; do
    case $h in llama3.h|llama3_tools.h|cli.h) ;; *) echo "FAIL: $f includes $h" ;; esac
  done
done | grep . && bad=1
[ $bad = 0 ] && echo "layout: forward.c, src/ and tools/ keep to their doors"
exit $bad
