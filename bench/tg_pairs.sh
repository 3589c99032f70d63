#!/usr/bin/env bash
# Generation speed of llama3c against llama.cpp in interleaved pairs: this VM's memory
# bandwidth changes from one minute to the next (bench/bandwidth at 2 threads: 42-78 GB/s
# median within an hour), so one table row per engine can land in different phases. Each
# round runs llama.cpp's tgN then llama3c's on the same file, back to back, and prints both
# and their ratio; bench/bandwidth's 2-thread median before and after tells the phase.
#
# usage: bench/tg_pairs.sh --llama-bench PATH [--llama3 PATH] [--models DIR] [--types "T ..."]
#                          [--rounds R] [-n N] [-t T]
#   --models DIR   the synthetic files compare_llamacpp.sh made (default: /tmp/llama3c-bench-models;
#                  names llama3.2-1b-TYPE.gguf)
#   defaults: --types "q4_0 q4_k_m q8_0", --rounds 3, -n 64, -t 2 (each engine -r 3 per round)
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
llama3="$here/build/llama3"
llama_bench=""
models=/tmp/llama3c-bench-models
types="q4_0 q4_k_m q8_0"
rounds=3
N=64
T=2
while [ $# -gt 0 ]; do
  case "$1" in
    --llama-bench) llama_bench="$2"; shift 2 ;;
    --llama3) llama3="$2"; shift 2 ;;
    --models) models="$2"; shift 2 ;;
    --types) types="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    -n) N="$2"; shift 2 ;;
    -t) T="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "tg_pairs.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -x "$llama_bench" ] || { echo "tg_pairs.sh: --llama-bench PATH (llama.cpp's llama-bench) is required" >&2; exit 2; }
[ -x "$llama3" ] || { echo "tg_pairs.sh: $llama3 not found (build first, or --llama3 PATH)" >&2; exit 2; }
bw="$(dirname "$llama3")/bench/bandwidth"

# tokens/s: the second-to-last column of the tgN row of a llama-bench-style table
ts() { grep "tg$N" | awk -F'|' '{print $(NF-1)}' | awk '{print $1}'; }
phase() { [ -x "$bw" ] && "$bw" --threads "$T" 2>/dev/null | awk '/^bandwidth/ {print $4}' || true; }

echo "# tg$N, $T threads: llama.cpp / llama3c t/s per round; $(phase) before"
for ty in $types; do
  f="$models/llama3.2-1b-$ty.gguf"
  [ -f "$f" ] || { echo "tg_pairs.sh: $f not found (run compare_llamacpp.sh once to make it)" >&2; exit 1; }
  for r in $(seq "$rounds"); do
    a=$("$llama_bench" -m "$f" -p 0 -n "$N" -t "$T" -r 3 2>/dev/null | ts)
    b=$("$llama3" bench -m "$f" -p 0 -n "$N" -t "$T" -r 3 2>/dev/null | ts)
    echo "$ty round $r: $a / $b = $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", b / a }')x"
  done
done
echo "# $(phase) after"
