#!/bin/sh
# `llama3 --help` and `llama3 CMD --help` for every command it lists (except those marked as
# not in this build): exit 0, print usage.
cli=$1
"$cli" --help | grep -q "^usage: llama3" || { echo "FAIL: llama3 --help"; exit 1; }
cmds=$("$cli" --help | awk '/^Commands:/{f=1;next} f&&/^  [a-z]/&&!/\(not in this build\)$/{print $1} /^$/{if(f)f=0}')
[ -n "$cmds" ] || { echo "FAIL: no commands listed"; exit 1; }
for c in $cmds; do
  out=$("$cli" "$c" --help) || { echo "FAIL: llama3 $c --help exits non-zero"; exit 1; }
  echo "$out" | grep -qi "usage" || { echo "FAIL: llama3 $c --help prints no usage"; exit 1; }
  echo "ok: llama3 $c --help"
done
